"""User objectives (``objective: module:function`` or a function passed to ``hyperspark.tune``): no folds
and no refit. The objective gets the train split (or the data set's URI with ``dataset.load: none``) and
does its own validation; the best params and score come from the search."""
from __future__ import annotations

from typing import ClassVar

from hyperspark.job import data as D
from hyperspark.job.context import Problem, Refit, Run, Splits
from hyperspark.job.executors.trial import ObjectiveData
from hyperspark.job.protocol import DataInfo
from hyperspark.job.strategies.base import TrialStrategy


class ObjectiveStrategy(TrialStrategy):
    kind = "objective"
    context_kind: ClassVar[str] = "objective"

    def load(self, spark, frame=None) -> Problem:
        s = self.spec
        metric, gib = s.metric or "score", bool(s.greater_is_better)
        for o in s.objectives or []:  # several objectives: the score's own direction, when given
            if o.metric == metric and o.direction is not None:
                gib = o.direction == "maximize"
        if s.dataset.load == "none":  # the objective reads its own data from the URI
            return Problem(None, metric, gib)
        return Problem(self.load_driver_frame(spark, frame), metric, gib)

    def split(self, run: Run) -> Splits:
        prep, s = run.problem.prep, self.spec
        if prep is None:
            return Splits(0, 0)
        X_tr, X_te, y_tr, y_te = D.split_numpy(prep.X, prep.y, prep.task, s.test_fraction, s.seed)
        return Splits(len(y_tr), len(y_te), X_tr, y_tr, X_te, y_te)

    def payload(self, run: Run) -> tuple:
        """The objective's ``data``: the train split with its names, or the URI itself; no y, no folds."""
        prep, sp = run.problem.prep, run.splits
        if prep is None:
            return self.spec.dataset.uri, None, None
        data = ObjectiveData(sp.X_tr, sp.y_tr, list(prep.features), prep.label, prep.task, list(prep.classes))
        return data, None, None

    def refit(self, run: Run, params: dict) -> Refit:
        return Refit()  # nothing to refit: the objective trains what it trains

    def data_info(self, run: Run) -> DataInfo:
        if run.problem.prep is None:  # dataset.load: none: the objective read it
            return DataInfo(uri=self.spec.dataset.uri, input="uri")
        return super().data_info(run)
