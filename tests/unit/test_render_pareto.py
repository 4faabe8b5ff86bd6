"""Several objectives in the ops tool: ``hyperspark results`` marks the summary's front, the report draws it
(scatter for two objectives, parallel coordinates for three) from the summary's front, not a second one."""
from __future__ import annotations

import json

import pytest

from hyperspark.job.protocol import ParetoTrial, RunSummary, TrialResult
from hyperspark.ops import render
from hyperspark.ops.report.build import build_report
from hyperspark.ops.report.pareto import pareto_data


def _row(i: int, auc: float, ms: float, bytes_: float, feasible: bool = True) -> TrialResult:
    return TrialResult(trial_id=f"t{i}", params={"i": i}, status="ok", number=i, mean=auc, ended_at=float(i),
                       started_at=i - 0.5, fit_seconds=0.5, slot="h/1", decision="complete", feasible=feasible,
                       metrics={"predict_ms": ms, "model_bytes": bytes_})


ROWS = [_row(0, 0.90, 1.0, 10), _row(1, 0.95, 3.0, 30), _row(2, 0.93, 5.0, 20), _row(3, 0.99, 0.5, 5, False)]


def _summary(names: list[str]) -> RunSummary:
    base = json.loads(open("tests/unit/data/summary.json").read())
    front = [r for r in ROWS if r.trial_id in ("t0", "t1")]
    base.update(best={"trial_id": "t1", "params": {"i": 1}, "cv_score": 0.95}, best_params={"i": 1},
                cv_score=0.95, metric="roc_auc",
                objectives=[{"metric": n, "direction": "maximize" if n == "roc_auc" else "minimize"} for n in names],
                pareto=[ParetoTrial(trial_id=r.trial_id, number=r.number, params=r.params,
                                    values={"roc_auc": r.mean, **r.metrics}).model_dump() for r in front])
    return RunSummary.model_validate(base)


def test_results_mark_the_summary_s_front():
    ranked = render.rank_trials(ROWS, _summary(["roc_auc", "predict_ms"]))
    assert {t.trial_id for t in ranked if t.pareto} == {"t0", "t1"}
    assert [t.trial_id for t in ranked if t.best] == ["t1"]


@pytest.mark.parametrize("names", [["roc_auc", "predict_ms"], ["roc_auc", "predict_ms", "model_bytes"]])
def test_the_report_draws_the_front_with_infeasible_greyed(names, tmp_path):
    s = _summary(names)
    pd = pareto_data(ROWS, s)
    assert [p["front"] for p in pd["points"]] == [True, True, False, False]
    assert [p["feasible"] for p in pd["points"]] == [True, True, True, False]
    assert len(pd["hypervolume"]) == 4 and pd["hypervolume"][-1] >= pd["hypervolume"][0] > 0
    res = build_report(ROWS, s, tmp_path)
    assert "pareto" in res.images and res.images["pareto"].stat().st_size > 1000
    assert "Pareto front" in res.html.read_text()
