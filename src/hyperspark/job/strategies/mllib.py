"""Spark MLlib models: the data stays distributed, folds cached on the executors, each fit spread over
the cluster and ``parallelism`` fits at once (``executors/mllib.py``)."""
from __future__ import annotations

from hyperspark.errors import JobInputError
from hyperspark.job import data as D
from hyperspark.job import mllib as ML
from hyperspark.job.context import Problem, Refit, Run, Splits
from hyperspark.job.executors.base import Executor
from hyperspark.job.executors.mllib import MLlibExecutor
from hyperspark.job.protocol import CostInfo, TrialResult, greater_is_better
from hyperspark.job.results import save_model
from hyperspark.job.strategies.base import Strategy, check_metric


class MLlibStrategy(Strategy):
    kind = "mllib"
    needs_spark = True

    def load(self, spark, frame=None) -> Problem:
        ds = self.spec.dataset
        df = spark.createDataFrame(frame) if frame is not None else D.load(spark, ds.uri, ds.resolved_format)
        prep = D.prepare(df, ds.label, ds.features, self.spec.task, ds.nan_policy)
        metric = check_metric(self.spec, prep, self.spec.model_def)
        if metric == "roc_auc" and prep.n_classes != 2:
            raise JobInputError("metric roc_auc with MLlib models needs a binary label; use f1 or accuracy")
        return Problem(prep, metric, greater_is_better(metric))

    def split(self, run: Run) -> Splits:
        s, prep = self.spec, run.problem.prep
        assembled = ML.assemble(prep.df, prep.features, prep.label)
        train, test = ML.split(assembled, s.test_fraction, s.seed)
        train, test = train.cache(), test.cache()
        train_rows, test_rows = train.count(), test.count()
        if train_rows < s.cv_folds or test_rows == 0:
            raise JobInputError(f"dataset: {prep.rows} rows are too few for test_fraction={s.test_fraction} "
                                f"and cv_folds={s.cv_folds}")
        folds = ML.make_folds(train, s.cv_folds, s.seed, max(run.cluster.slots, 1))
        return Splits(train_rows, test_rows, folds=folds, train=train, test=test)

    def executor(self, run: Run) -> Executor:
        s, c = self.spec, run.cluster
        run.timings["warmup"] = 0.0  # nothing to warm: the fits run in the JVM
        par = c.parallelism if s.parallelism != "auto" else max(2, c.slots)
        return MLlibExecutor(run.spark, self.context(run), run.splits.folds, par)

    def context(self, run: Run) -> ML.MLlibContext:
        prep, s = run.problem.prep, self.spec
        return ML.MLlibContext(s.model, prep.task, run.problem.metric, prep.n_classes, s.seed, prep.label,
                               self.resource)

    def refit(self, run: Run, params: dict) -> Refit:
        prep, sp = run.problem.prep, run.splits
        for tr, va in sp.folds:
            tr.unpersist()
            va.unpersist()
        model, test_metrics = ML.refit_and_score(self.context(run), params, sp.train, sp.test)
        for df in (sp.train, sp.test, prep.cached):  # nothing cached is left in a session the caller keeps
            if df is not None:
                df.unpersist()
        save_model(run.store, lambda tmp: model.write().overwrite().save(run.store.fs.uri(run.store.rel(f"{tmp}/spark"))))
        return Refit(test_metrics, "mllib", model)

    def sample(self, run: Run):
        prep = run.problem.prep
        return prep.df.select(*prep.features).limit(5).toPandas()

    def cost(self, run: Run, ran: list[TrialResult]) -> CostInfo:
        # concurrent MLlib fits share every slot: their summed fit times say nothing about idle cores
        return CostInfo(note="not measured for MLlib (fits share all slots)")
