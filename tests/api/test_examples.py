"""The README's notebook-style example runs, in the already-running session, and ASHA prunes."""
from __future__ import annotations

import runpy

import pytest

from .conftest import REPO

pytestmark = pytest.mark.spark


def test_mlp_objective_example(spark, capsys):
    g = runpy.run_path(str(REPO / "examples" / "mlp_objective.py"), run_name="__main__")
    r = g["result"]
    assert g["spark"] is spark  # it used the session that was already running
    es = r.summary.early_stopping
    assert r.summary.kind == "objective" and es.rungs == [3, 9, 27] and es.per_rung[0] == 12 and es.pruned >= 4
    assert r.best_params["epochs"] == 27 and r.best_score > 0.9
    finals = r.trials[r.trials["rung"] == 2]
    assert (finals["intermediate"].map(len) == 27).all() and finals["metrics"].map(lambda m: "loss" in m).all()
    assert "val_accuracy=" in capsys.readouterr().out
