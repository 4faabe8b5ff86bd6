"""Single-machine estimators (scikit-learn, xgboost, lightgbm, any estimator by import path or object):
the data on the driver, k-fold CV per trial in a Python worker, the winner refit on the driver."""
from __future__ import annotations

from hyperspark.job import data as D
from hyperspark.job import metrics as M
from hyperspark.job import usercode as U
from hyperspark.job.context import Problem, Refit, Run, Splits
from hyperspark.job.protocol import greater_is_better
from hyperspark.job.executors.trial import dumps_model, predict_scores
from hyperspark.job import families
from hyperspark.job.models import build_single_machine, get_model
from hyperspark.job.results import save_model
from hyperspark.job.strategies.base import TrialStrategy, check_metric, refit_threads


class EstimatorStrategy(TrialStrategy):
    kind = "trials"

    def prestart_task(self) -> str:
        # only picks which class to import; a regression-only family has no classifier
        if not U.is_user_code(self.spec.target) and self.spec.model_def.classifier is None:
            return "regression"
        return super().prestart_task()

    def load(self, spark, frame=None) -> Problem:
        prep = self.load_driver_frame(spark, frame)
        metric = check_metric(self.spec, prep, self.spec.model_def)
        return Problem(prep, metric, greater_is_better(metric))

    def split(self, run: Run) -> Splits:
        s, prep = self.spec, run.problem.prep
        X_tr, X_te, y_tr, y_te = D.split_numpy(prep.X, prep.y, prep.task, s.test_fraction, s.seed)
        folds = D.cv_folds(y_tr, prep.task, s.cv_folds, s.seed)
        return Splits(len(y_tr), len(y_te), X_tr, y_tr, X_te, y_te, folds)

    def payload(self, run: Run) -> tuple:
        sp = run.splits
        return sp.X_tr, sp.y_tr, sp.folds

    def refit(self, run: Run, params: dict) -> Refit:
        prep, sp = run.problem.prep, run.splits
        key, params = families.pick(params, self.spec.model, self.spec.model_choice)  # a choice: the winner's
        est = build_single_machine(get_model(key), prep.task, params, refit_threads(), self.spec.seed)
        est.fit(sp.X_tr, sp.y_tr)
        y_score = None
        if prep.task == "classification":
            try:
                y_score = predict_scores(est, sp.X_te, prep.n_classes)
            except AttributeError:  # no predict_proba / decision_function: threshold metrics only
                y_score = None
        test_metrics = M.all_scores(prep.task, sp.y_te, est.predict(sp.X_te), y_score, prep.n_classes)
        blob = dumps_model(est)
        save_model(run.store, lambda tmp: run.store.fs.write_bytes(run.store.rel(f"{tmp}/model.joblib"), blob))
        return Refit(test_metrics, "joblib", est)

    def sample(self, run: Run):
        return run.splits.X_te[:5]
