"""How adaptive runs look: progress with rungs, results with budgets, the winner at its full budget."""
from __future__ import annotations

import json

from click.testing import CliRunner

from hyperspark.job.protocol import EarlyStoppingInfo, ProgressEvent, RunSummary, TrialResult
from hyperspark.ops import render


def _row(tid, rung, budget, mean, decision, params=None):
    return TrialResult(trial_id=tid, params=params or {"max_depth": int(tid[-1])}, status="ok", rung=rung,
                       budget=budget, mean=mean, decision=decision, fit_seconds=0.1 * budget)


ROWS = [_row("t1", 0, 4, 0.95, "promote"), _row("t2", 0, 4, 0.90, "prune"), _row("t3", 0, 4, 0.93, "prune"),
        _row("t1", 1, 12, 0.94, "complete")]


def _summary() -> RunSummary:
    base = json.loads(open("tests/unit/data/summary.json").read())
    base.update(best={"trial_id": "t1", "params": {"max_depth": 1, "n_estimators": 12}, "cv_score": 0.94,
                      "budget": 12},
                best_params={"max_depth": 1, "n_estimators": 12}, cv_score=0.94,
                early_stopping=EarlyStoppingInfo(type="asha", resource="n_estimators", min=4, max=12, reduction=3,
                                                 rungs=[4, 12], per_rung=[3, 1], pruned=2, busy_core_seconds=2.4,
                                                 full_budget_core_seconds_estimate=4.8,
                                                 core_seconds_saved=2.4).model_dump())
    return RunSummary.model_validate(base)


def test_progress_shows_configs_rung_budget_and_pruned():
    ev = ProgressEvent(done=7, total=20, configs=5, pruned=3, metric="roc_auc", best=0.91, rung=1, budget=30)
    text = render.progress_text(ev)
    assert text.startswith("trials 5/20  evaluations 7  last rung 1 (budget 30)  pruned 3  best 0.9100")
    plain = render.progress_text(ProgressEvent(done=3, total=4, metric="f1", best=0.5))
    assert plain == "trials 3/4  best 0.5000"


def test_the_winner_is_the_full_budget_row_not_a_higher_low_budget_score():
    ranked = render.rank_trials(ROWS, _summary())
    # the job's one ranking rule (protocol.rank_trials): higher rungs (more budget) first, then the score
    assert [(r.trial_id, r.rung) for r in ranked] == [("t1", 1), ("t1", 0), ("t3", 0), ("t2", 0)]
    winners = [r for r in ranked if r.best]
    assert len(winners) == 1 and (winners[0].trial_id, winners[0].budget) == ("t1", 12)
    low_budget = next(r for r in ranked if r.rung == 0 and r.trial_id == "t1")
    assert low_budget.mean == 0.95 and not low_budget.best  # a higher score, at a smaller budget


def test_without_a_summary_the_winner_is_the_best_at_the_highest_rung():
    ranked = render.rank_trials(ROWS, metric="roc_auc")
    assert [(r.trial_id, r.rung) for r in ranked if r.best] == [("t1", 1)]
    assert [r.trial_id for r in render.rank_trials(ROWS[:3], metric="rmse")] == ["t2", "t3", "t1"]


def test_results_table_has_rungs_and_the_early_stopping_line(tmp_path):
    text = render.early_stopping_text(_summary())
    assert text == ("asha on n_estimators: evaluations per budget {4: 3, 12: 1}, 2 pruned, 2.4 busy core-s, "
                    "2.4 core-s saved (50%) against full budgets")
    runner = CliRunner()

    def show():
        render.render_results("r1", render.rank_trials(ROWS, _summary()), _summary())

    import click

    out = runner.invoke(click.command()(show), [])
    assert out.exit_code == 0, out.output
    assert "rung" in out.output and "budget" in out.output and "decision" in out.output
    assert "promote" in out.output and "prune" in out.output and "4 evaluations" in out.output
    assert "2 pruned" in out.output
