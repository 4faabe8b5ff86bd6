"""The cold-start breakdown (``ops/breakdown.py``) on a REAL local cluster: one cold submit, its phases timed
by three clocks (the kit, the driver's process table, the job's timers). Each phase is measured on its own,
so their sum meeting the measured total is a finding: a phase nobody times (a new step, a wait) shows up as
``other`` and fails this test."""
from __future__ import annotations

import pytest
import yaml

from hyperspark.ops.breakdown import COLD_START, PHASES, cold_breakdown
from tests.paths import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.spark]


def test_cold_start_phases_add_up_to_the_measured_total(local_cluster, tmp_path) -> None:
    spec = {"name": "breakdown", "dataset": {"uri": str(REPO / "examples" / "data" / "breast_cancer.csv"),
                                             "label": "target"},
            "objective": "hyperspark.job.null_model:sleep_objective", "search": {"type": "grid"},
            "space": {"x": [1, 2, 3, 4], "seconds": [0.2]}, "output": str(tmp_path / "runs")}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(spec))
    b = cold_breakdown(local_cluster, tmp_path / "b.yaml", run_id="breakdown")
    assert b["missing"] == [], b  # the local target measures every phase
    assert set(b["phases"]) == set(PHASES)
    # 4 trials of 0.2 s on 2 slots: the search is at least two waves, and is inside the total
    assert b["phases"]["search"] >= 0.4
    total, other = b["total_s"], b["other_s"]
    assert abs(other) <= max(1.5, 0.1 * total), b  # nothing unaccounted beyond clock granularity and logging
    assert 0 < b["cold_start_s"] == pytest.approx(sum(b["phases"][p] for p in COLD_START), abs=0.01)
    assert b["cold_start_s"] < total
