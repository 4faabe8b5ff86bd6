"""hyperspark.job.progress: one HYPERSPARK_PROGRESS line per finished (trial, rung), typed as
ProgressEvent; the best score counts final results only (no Spark, no terminal)."""
from __future__ import annotations

import io

from hyperspark.job.progress import PREFIX, Progress
from hyperspark.job.protocol import ProgressEvent, TrialResult


def trial(i: int, mean: float | None, rung: int = 0, decision: str | None = "complete", status: str = "ok"):
    return TrialResult(trial_id=f"t{i}", params={"i": i}, status=status, rung=rung, mean=mean, decision=decision,
                       budget=3 if rung else None, executor_id="1")


def events(out: io.StringIO) -> list[ProgressEvent]:
    lines = out.getvalue().splitlines()
    assert all(line.startswith(PREFIX) for line in lines)
    return [ProgressEvent.model_validate_json(line[len(PREFIX):]) for line in lines]


def test_one_line_per_row_with_best_so_far_failures_and_configurations():
    out = io.StringIO()
    p = Progress(total=3, metric="roc_auc", out=out, live=False)
    p.update(trial(0, 0.7))
    p.update(trial(1, 0.95, decision="promote"), pruned=0)  # not final: not a best
    p.update(trial(1, 0.9, rung=1))
    p.update(trial(2, None, decision="failed", status="error"), pruned=1)
    e = events(out)
    assert [x.done for x in e] == [1, 2, 3, 4] and [x.configs for x in e] == [1, 2, 2, 3]
    assert [x.best for x in e] == [0.7, 0.7, 0.9, 0.9] and e[-1].best_params == {"i": 1}
    assert [x.failed for x in e] == [0, 0, 0, 1] and e[-1].pruned == 1 and e[-1].status == "error"
    assert (e[2].rung, e[2].budget, e[2].score, e[2].trial_id, e[2].executor_id) == (1, 3, 0.9, "t1", "1")
    assert e[-1].eta_s == 0.0 and all(x.total == 3 and x.metric == "roc_auc" for x in e)


def test_lower_is_better_and_a_seeded_best_from_a_resumed_run():
    out = io.StringIO()
    p = Progress(total=None, metric="rmse", greater_is_better=False, already_done=5, out=out, live=False)
    p.seed_best(0.3, {"i": 9})
    p.update(trial(0, 0.4))
    p.update(trial(1, 0.2))
    e = events(out)
    assert [x.done for x in e] == [6, 7] and [x.best for x in e] == [0.3, 0.2] and e[0].best_params == {"i": 9}
    assert e[0].eta_s is None  # no total: no ETA


def test_lines_can_be_turned_off_but_counts_go_on():
    out = io.StringIO()
    p = Progress(total=2, metric="f1", out=out, live=False, lines=False)
    p.update(trial(0, 0.5))
    p.close()
    assert out.getvalue() == "" and p.done == 1 and p.best == 0.5
