"""The progress line with constraints and several objectives (issue 21): an infeasible trial is never the
best so far (counted as ``infeasible`` instead); with several objectives the line carries the Pareto front's
size so far, never one best, and a resumed run's rows count the same way. No Spark, no terminal."""
from __future__ import annotations

import io

from hyperspark.job.pareto import Objectives, front, parse_constraint
from hyperspark.job.progress import PREFIX, Progress
from hyperspark.job.protocol import ProgressEvent, TrialResult
from hyperspark.ops.render import progress_text

SIZE = parse_constraint("model_bytes <= 100")


def row(i: int, auc: float, ms: float, size: float = 50.0, decision: str | None = "complete") -> TrialResult:
    r = TrialResult(trial_id=f"t{i}", number=i, params={"i": i}, status="ok", mean=auc, decision=decision,
                    metrics={"predict_ms": ms, "model_bytes": size})
    r.feasible = SIZE.met(size)
    return r


def events(out: io.StringIO) -> list[ProgressEvent]:
    return [ProgressEvent.model_validate_json(line[len(PREFIX):]) for line in out.getvalue().splitlines()]


def test_an_infeasible_trial_is_never_the_best_so_far():
    obj = Objectives(("roc_auc",), (True,), "roc_auc", (SIZE,))
    out = io.StringIO()
    p = Progress(total=3, metric="roc_auc", out=out, live=False, objectives=obj)
    p.update(row(0, 0.80, 1.0))
    p.update(row(1, 0.99, 1.0, size=500))  # the highest score, but it breaks the constraint
    p.update(row(2, 0.85, 1.0))
    e = events(out)
    assert [x.best for x in e] == [0.80, 0.80, 0.85] and e[-1].best_params == {"i": 2}
    assert [x.infeasible for x in e] == [0, 1, 1] and all(x.front is None for x in e)
    assert "best 0.85" in progress_text(e[-1]) and "infeasible 1" in progress_text(e[-1])


def test_several_objectives_show_the_front_size_not_one_best():
    obj = Objectives(("roc_auc", "predict_ms"), (True, False), "roc_auc", (SIZE,))
    rows = [row(0, 0.90, 5.0), row(1, 0.95, 9.0), row(2, 0.93, 1.0),  # 2 dominates 0
            row(3, 0.99, 0.5, size=500),  # dominates everything, but infeasible: never on the front
            row(4, 0.97, 8.0, decision="promote"),  # not final (a lower rung): not on the front
            row(5, 0.95, 9.0)]  # equal to 1: both stay, as pareto.front keeps them
    out = io.StringIO()
    p = Progress(total=6, metric="roc_auc", out=out, live=False, objectives=obj)
    for r in rows:
        p.update(r)
    e = events(out)
    assert [x.front for x in e] == [1, 2, 2, 2, 2, 3] and all(x.best is None for x in e)
    assert e[-1].infeasible == 1
    final = [r for r in rows if r.decision == "complete"]
    assert e[-1].front == len(front(final, obj))  # the same rule as the summary's front
    text = progress_text(e[-1])
    assert "front 3" in text and "best" not in text


def test_a_resumed_run_seeds_the_front_and_skips_infeasible_rows():
    obj = Objectives(("roc_auc", "predict_ms"), (True, False), "roc_auc", (SIZE,))
    out = io.StringIO()
    p = Progress(total=4, metric="roc_auc", already_done=2, out=out, live=False, objectives=obj)
    for r in (row(0, 0.90, 5.0), row(1, 0.99, 0.1, size=500)):
        p.seed(r)
    p.update(row(2, 0.95, 6.0))
    e = events(out)
    assert (e[0].done, e[0].front, e[0].infeasible, e[0].best) == (3, 2, 1, None)


def test_one_objective_that_is_a_cost_is_the_best_by_its_own_value():
    obj = Objectives(("predict_ms",), (False,), "roc_auc", (SIZE,))
    out = io.StringIO()
    p = Progress(total=3, metric="roc_auc", out=out, live=False, objectives=obj)
    for r in (row(0, 0.9, 4.0), row(1, 0.8, 1.0, size=500), row(2, 0.7, 2.0)):
        p.update(r)
    e = events(out)
    assert [x.best for x in e] == [4.0, 4.0, 2.0] and e[-1].metric == "predict_ms"
