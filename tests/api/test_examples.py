"""The shipped examples: every spec in examples/ validates and names data that exists, and the README's
notebook-style example runs, in the already-running session, and ASHA prunes.

The specs are found by globbing examples/; an empty glob is a failure (a test named ``no-spec``), never
an empty, silently skipped parametrization.
"""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from hyperspark.job.spec import load_spec
from tests.paths import EXAMPLES

SPECS = sorted(p for pattern in ("*.yaml", "*.yml", "*.json") for p in EXAMPLES.glob(pattern))


@pytest.mark.parametrize("spec_file", SPECS or [pytest.param(None, id="no-spec")],
                         ids=lambda p: p.name if isinstance(p, Path) else str(p))
def test_example_spec_validates_and_its_data_exists(spec_file: Path | None) -> None:
    assert spec_file is not None, f"no example spec (*.yaml, *.yml, *.json) in {EXAMPLES}"
    spec = load_spec(spec_file)
    assert spec.name
    uri = spec.dataset.uri
    assert uri.startswith("file://"), uri  # relative paths resolve against the spec file
    assert Path(uri.removeprefix("file://")).is_file(), uri


@pytest.mark.spark
def test_mlp_objective_example(spark, capsys):
    g = runpy.run_path(str(EXAMPLES / "mlp_objective.py"), run_name="__main__")
    r = g["result"]
    assert g["spark"] is spark  # it used the session that was already running
    es = r.summary.early_stopping
    assert r.summary.kind == "objective" and es.rungs == [3, 9, 27] and es.per_rung[0] == 12 and es.pruned >= 4
    assert r.best_params["epochs"] == 27 and r.best_score > 0.9
    finals = r.trials[r.trials["rung"] == 2]
    assert (finals["intermediate"].map(len) == 27).all() and finals["metrics"].map(lambda m: "loss" in m).all()
    assert "val_accuracy=" in capsys.readouterr().out


@pytest.mark.spark
def test_torch_objective_example_runs_on_cpu(spark):
    """The GPU example keeps working on a laptop: no master given, it runs on the CPU without resources.
    torch is an optional dependency of the example only (not of HyperSpark): without it the example
    cannot run at all, which is the reason given."""
    pytest.importorskip("torch", reason="examples/torch_objective.py needs torch (pip install torch); "
                                         "not installed in this environment")
    g = runpy.run_path(str(EXAMPLES / "torch_objective.py"), run_name="__main__")
    r = g["result"]
    assert r.summary.kind == "objective" and r.best_score > 0.85
    assert (r.trials["metrics"].map(lambda m: m["on_gpu"]) == 0.0).all()
