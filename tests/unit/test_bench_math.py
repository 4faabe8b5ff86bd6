"""The bench's maths on known inputs."""
import math

import pytest

from hyperspark.ops import bench as B


def test_speedup_efficiency_karp_flatt():
    s = B.speedup(100.0, 40.0)
    assert s == 2.5
    assert B.efficiency(s, 4) == 0.625
    # e = (1/S - 1/N) / (1 - 1/N) = (0.4 - 0.25) / 0.75 = 0.2
    assert B.karp_flatt(s, 4) == pytest.approx(0.2)
    assert B.karp_flatt(1.0, 1) is None
    assert B.karp_flatt(2.0, 2) == pytest.approx(0.0)  # perfect scaling: no serial fraction


@pytest.mark.parametrize("p", [0.0, 0.5, 0.9, 0.97])
def test_amdahl_fit_recovers_a_known_p(p):
    ns = [2, 4, 8, 16]
    ss = [B.amdahl(p, n) for n in ns]
    assert B.fit_amdahl(ns, ss) == pytest.approx(p, abs=1e-9)


def test_amdahl_fit_least_squares_with_noise_and_karp_flatt_agree():
    p = 0.8
    ns = [2, 4, 8]
    ss = [B.amdahl(p, n) * f for n, f in zip(ns, (1.02, 0.98, 1.01))]
    assert B.fit_amdahl(ns, ss) == pytest.approx(p, abs=0.03)
    # for an exact Amdahl curve Karp-Flatt returns the serial fraction 1-p at every N
    assert all(B.karp_flatt(B.amdahl(p, n), n) == pytest.approx(1 - p) for n in ns)


def test_amdahl_fit_needs_a_point_above_one():
    assert B.fit_amdahl([1], [1.0]) is None
    assert B.amdahl(0.5, 1) == 1.0 and math.isclose(B.amdahl(1.0, 8), 8.0)


def test_interleaving_alternates_direction():
    assert B.interleaved([1, 2], 3) == [(0, 1), (0, 2), (1, 2), (1, 1), (2, 1), (2, 2)]
    assert B.interleaved([1, 2, 4], 1) == [(0, 1), (0, 2), (0, 4)]


def test_report_from_rows_is_consistent(tmp_path):
    rows = []
    for rep in (1, 2, 3):
        rows.append(B.Row("spark", 1, rep, search_s=100.0 + rep, wall_s=120.0 + rep, best_params="{}"))
        rows.append(B.Row("spark", 2, rep, search_s=55.0 + rep, wall_s=75.0 + rep, best_params="{}"))
        rows.append(B.Row("joblib", 1, rep, search_s=90.0, wall_s=92.0, best_params="{}"))
        rows.append(B.Row("joblib", 2, rep, search_s=50.0, wall_s=52.0, best_params="{}"))
    rep = B.build_report(rows, [1, 2], "local", tmp_path / "s.yaml")
    two = rep["spark_search"][1]
    assert two["median"] == 57.0 and two["speedup"] == pytest.approx(102.0 / 57.0)
    assert two["speedup_min"] == pytest.approx(102.0 / 58.0) and two["speedup_max"] == pytest.approx(102.0 / 56.0)
    assert rep["amdahl_p"] == pytest.approx(2 * (1 - 57.0 / 102.0))
    assert rep["targets"]["whole_submit_2w_over_joblib_2"]["value"] == pytest.approx(77.0 / 52.0)
    assert rep["same_best_params_everywhere"]
    out = B.write_outputs(tmp_path, rows, rep)
    assert (tmp_path / "speedup.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 2 | 57.00 |" in (tmp_path / "report.md").read_text()
    assert out["artefacts"]["plot"].endswith("speedup.png")


def test_warm_report_times_the_warm_rows_and_keeps_the_cold_figure(tmp_path):
    rows = []
    for rep in (1, 2):
        rows.append(B.Row("spark", 1, rep, search_s=20.0, wall_s=23.0 + rep, best_params="{}", driver="warm"))
        rows.append(B.Row("spark", 2, rep, search_s=10.0, wall_s=13.0 + rep, best_params="{}", driver="warm"))
        rows.append(B.Row("joblib", 2, rep, search_s=10.0, wall_s=12.0, best_params="{}"))
    rows.append(B.Row("spark", 2, 1, search_s=11.0, wall_s=30.0, best_params="{}", driver="cold"))
    rep = B.build_report(rows, [1, 2], "local", tmp_path / "s.yaml", driver="warm")
    assert rep["driver"] == "warm" and rep["repeats"] == 2
    # the cold submit is not one of the timed runs: the 2-worker medians are the warm ones only
    assert rep["spark_whole"][1]["median"] == 14.5 and rep["spark_search"][1]["n"] == 2
    assert rep["cold_whole"] == [{"workers": 2, "median": 30.0, "min": 30.0, "max": 30.0, "n": 1}]
    assert rep["targets"]["whole_submit_2w_over_joblib_2"] == {"value": pytest.approx(14.5 / 12.0), "target": "<= 1.05"}
    assert rep["targets"]["whole_cold_submit_2w_over_joblib_2"]["value"] == pytest.approx(30.0 / 12.0)
    assert rep["joblib_search"][0]["workers"] == 2  # a baseline at the largest N only
    B.write_outputs(tmp_path, rows, rep)
    md = (tmp_path / "report.md").read_text()
    assert "warm driver)" in md and "| 2 (cold driver, 1 run(s)) | 30.00 |" in md
