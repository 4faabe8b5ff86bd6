"""The run report on hand-made typed runs: every PNG decodes, the HTML's numbers are the summary's,
nothing in the page loads from elsewhere, and thin runs (one trial, failures, no numeric or a single
parameter, early stopping) still give a report."""
from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hyperspark.job.protocol import TrialResult
from hyperspark.ops.report import build_report, build_study, timeline_data
from tests.report.conftest import T0, make_rows, make_summary


# -- helpers ----------------------------------------------------------------------------------------
class _Page(HTMLParser):
    """Collects every tag's attributes and, per table class, {row header: cell data-value or text}."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, dict[str, str]] = {}
        self._table: str | None = None
        self._key: str | None = None
        self._in: str | None = None
        self._value: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self._table = " ".join(c for c in (a.get("class") or "").split() if c != "kv")
            self.tables.setdefault(self._table, {})
        elif tag in ("th", "td"):
            self._in, self._text, self._value = tag, "", a.get("data-value")

    def handle_data(self, data):
        if self._in:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "th" and self._in == "th":
            self._key = self._text.strip()
        elif tag == "td" and self._in == "td" and self._table is not None and self._key is not None:
            self.tables[self._table][self._key] = self._value if self._value is not None else self._text.strip()
            self._key = None
        elif tag == "table":
            self._table = None
        if tag in ("th", "td"):
            self._in = None


def parse_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def assert_png_ok(png: bytes) -> tuple[int, int]:
    from matplotlib import image as mpimg
    from PIL import Image

    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as im:
        im.verify()
    with Image.open(io.BytesIO(png)) as im:
        w, h = im.size
        extrema = im.convert("L").getextrema()
    assert w > 100 and h > 100
    assert extrema[0] < extrema[1], "a blank image"
    arr = mpimg.imread(io.BytesIO(png), format="png")
    assert arr.shape[0] == h and arr.shape[1] == w
    return w, h


# -- the full report ----------------------------------------------------------------------------------
def test_every_image_is_written_decodable_and_embedded(grid_run, tmp_path: Path) -> None:
    rows, summary = grid_run
    res = build_report(rows, summary, tmp_path / "rep")
    assert set(res.images) == {"history", "slices", "parallel", "importance", "timeline"}
    html = res.html.read_text(encoding="utf-8")
    embedded = re.findall(r'<img id="img-(\w+)"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert {name for name, _ in embedded} == set(res.images)
    for name, b64 in embedded:
        png = res.images[name].read_bytes()
        assert base64.b64decode(b64) == png  # the page holds exactly the PNG written beside it
        assert_png_ok(png)
    assert sorted(p.name for p in res.out_dir.iterdir()) == sorted(
        ["report.html"] + [f"{n}.png" for n in res.images])  # no temporary file left behind


def test_html_numbers_are_the_summarys(grid_run, tmp_path: Path) -> None:
    rows, summary = grid_run
    res = build_report(rows, summary, tmp_path)
    t = parse_page(res.html).tables
    assert float(t["best"]["cv roc_auc"]) == summary.cv_score
    assert t["best"]["trial"] == summary.best.trial_id
    assert t["test-metrics"] == {"roc_auc": "0.987654321", "accuracy": "0.9473684210526315",
                                 "f1": "0.958904109589041"}
    assert t["timings"] == {"session": "9.61", "load": "0.42", "warmup": "4.7", "search": "24.25",
                            "refit": "1.5", "write": "0.1", "total": "40.58"}
    assert t["cost"] == {"busy_core_seconds": "41.25", "available_core_seconds": "48.5",
                         "idle_slot_fraction": "0.1495"}
    assert t["data"]["hash"] == "sha256:0f3c2a9b1d7e"
    assert t["data"]["rows"] == "569"
    assert t["versions"]["pyspark"] == "4.3.0" and t["versions"]["sklearn"] == "1.9.1"
    assert t["run"]["failed"] == "1" and t["run"]["configurations"] == "36"
    # the best row of the grid (n_estimators 100, max_depth None, gini, max_features 0.7) is marked
    assert t["params"] == {"n_estimators": "100", "max_depth": "None", "criterion": "gini", "max_features": "0.7"}
    assert 'class="best"' in res.html.read_text()


def test_page_loads_nothing_from_elsewhere(grid_run, tmp_path: Path) -> None:
    rows, summary = grid_run
    res = build_report(rows, summary, tmp_path)
    page = parse_page(res.html)
    html = res.html.read_text(encoding="utf-8")
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe", "object", "embed", "base")]
    for tag, attrs in page.tags:
        for attr in ("src", "href", "srcset", "poster", "data", "action"):
            value = attrs.get(attr)
            if value is None:
                continue
            assert not re.match(r"\s*(https?:)?//", value, re.I), (tag, attr, value[:80])
            if attr == "src":
                assert value.startswith("data:image/png;base64,"), (tag, value[:80])
    assert "url(" not in html and "@import" not in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html, re.I)


def test_json_data_is_the_same_content(grid_run, tmp_path: Path) -> None:
    rows, summary = grid_run
    res = build_report(rows, summary, tmp_path)
    data = json.loads(json.dumps(res.to_dict()))
    assert data["summary"]["cv_score"] == summary.cv_score
    assert data["rows"] == 36 and data["configurations"] == 36 and data["finished"] == 35
    assert [f["trial_id"] for f in data["failed"]] == ["t005"]
    assert set(data["importance"]) == {"n_estimators", "max_depth", "criterion", "max_features"}
    assert abs(sum(data["importance"].values()) - 1.0) < 1e-6
    hist = data["history"]
    assert [h["order"] for h in hist] == list(range(36))
    # best-so-far never gets worse and ends at the summary's best
    bests = [h["best_so_far"] for h in hist if h["best_so_far"] is not None]
    assert bests == sorted(bests) and bests[-1] == summary.cv_score
    assert data["images"].keys() == res.images.keys()


# -- the pieces -------------------------------------------------------------------------------------
def _row(tid: str, slot: str, start: float, end: float, **kw) -> TrialResult:
    base = dict(trial_id=tid, params={"a": 1}, status="ok", mean=0.5, slot=slot, started_at=T0 + start,
                ended_at=T0 + end)
    base.update(kw)
    return TrialResult(**base)


def test_timeline_shows_idle_gaps_per_slot() -> None:
    rows = [_row("x", "h/0", 0, 2), _row("y", "h/0", 3, 5), _row("z", "h/1", 0, 4), _row("w", "h/1", 4, 4.5)]
    tl = timeline_data(rows)
    assert tl["span_seconds"] == 5.0
    assert tl["slots"]["h/0"]["idle_gaps"] == [[2.0, 3.0]]
    assert tl["slots"]["h/0"]["idle_seconds"] == 1.0
    assert tl["slots"]["h/1"]["idle_gaps"] == [[4.5, 5.0]]
    assert tl["slots"]["h/1"]["busy_seconds"] == 4.5


def test_study_and_importance_find_the_parameter_that_matters(tmp_path: Path) -> None:
    rows = make_rows({"a": [1, 2, 3, 4, 5], "b": ["x", "y", "z"]},
                     metric_fn=lambda p: 0.5 + 0.08 * p["a"] + {"x": 0.001, "y": 0.0, "z": 0.002}[p["b"]],
                     fail={7})
    summary = make_summary(rows)
    res = build_report(rows, summary, tmp_path)
    imp = res.data["importance"]
    assert imp["a"] > 0.9 > imp["b"]
    from hyperspark.ops.report import param_axes

    study = build_study(rows, True, param_axes(rows))
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 14 and states.count("FAIL") == 1
    assert study.best_value == summary.cv_score


def test_lower_is_better_metric(tmp_path: Path) -> None:
    rows = make_rows({"alpha": [0.001, 0.01, 0.1, 1.0, 10.0]}, metric_fn=lambda p: 3.0 + abs(p["alpha"] - 0.1))
    summary = make_summary(rows, metric="rmse", gib=False)
    res = build_report(rows, summary, tmp_path)
    bests = [h["best_so_far"] for h in res.data["history"]]
    assert bests == sorted(bests, reverse=True)
    assert bests[-1] == 3.0 == summary.cv_score
    assert "lower is better" in res.html.read_text()
    assert_png_ok(res.images["history"].read_bytes())


# -- thin runs ---------------------------------------------------------------------------------------
def test_one_trial(tmp_path: Path) -> None:
    rows = make_rows({"n_estimators": [50]})
    res = build_report(rows, make_summary(rows), tmp_path)
    assert set(res.images) == {"history", "slices", "timeline"}
    assert any("importance needs 2 or more" in n for n in res.notes)
    for p in res.images.values():
        assert_png_ok(p.read_bytes())
    assert "Left out" in res.html.read_text()


def test_every_trial_failed_and_no_summary(tmp_path: Path) -> None:
    rows = make_rows({"d": [1, 2, 3]}, fail={0, 1, 2})
    res = build_report(rows, None, tmp_path)
    assert set(res.images) == {"history", "timeline"}
    assert res.data["summary"] is None and res.data["finished"] == 0 and len(res.data["failed"]) == 3
    html = res.html.read_text()
    assert "No summary.json" in html and "ValueError: bad combination" in html
    for p in res.images.values():
        assert_png_ok(p.read_bytes())


def test_no_numeric_parameter(tmp_path: Path) -> None:
    rows = make_rows({"criterion": ["gini", "entropy", "log_loss"], "bootstrap": [True, False]},
                     metric_fn=lambda p: {"gini": 0.9, "entropy": 0.8, "log_loss": 0.7}[p["criterion"]]
                     + (0.01 if p["bootstrap"] else 0.0))
    res = build_report(rows, make_summary(rows), tmp_path)
    assert {"history", "slices", "importance", "timeline"} <= set(res.images)
    assert "parallel" not in res.images  # 2 parameters
    assert res.data["params"]["criterion"]["kind"] == "categorical"
    assert max(res.data["importance"], key=res.data["importance"].get) == "criterion"
    for p in res.images.values():
        assert_png_ok(p.read_bytes())


def test_single_parameter_and_untimed_rows(tmp_path: Path) -> None:
    rows = [r.model_copy(update={"started_at": None, "ended_at": None, "slot": None})
            for r in make_rows({"C": [0.01, 0.1, 1.0, 10.0]}, metric_fn=lambda p: 0.9 - abs(p["C"] - 1) / 100)]
    res = build_report(rows, make_summary(rows), tmp_path)
    assert set(res.images) == {"history", "slices", "importance"}
    assert res.data["importance"] == {"C": 1.0}
    assert any("timeline" in n for n in res.notes)


def test_no_parameters_at_all(tmp_path: Path) -> None:
    rows = [TrialResult(trial_id="only", params={}, status="ok", mean=0.7, fold_scores=[0.7])]
    res = build_report(rows, None, tmp_path)
    assert set(res.images) == {"history"}
    assert res.data["params"] == {}


def test_early_stopped_run_has_budget_curves(tmp_path: Path) -> None:
    rows = []
    t = T0
    for i in range(9):  # ASHA-like: 9 configs at budget 10, 3 promoted to 30, 1 to 90
        for rung, budget in enumerate((10, 30, 90)):
            if (rung == 1 and i % 3) or (rung == 2 and i != 0):
                break
            score = 0.7 + 0.02 * (9 - i) / 9 + 0.05 * rung
            rows.append(TrialResult(trial_id=f"c{i}", number=i, params={"lr": 0.01 * (i + 1), "depth": i % 3 + 2},
                                    status="ok", mean=score, rung=rung, budget=budget, slot=f"h/{i % 2}",
                                    started_at=t, ended_at=t + budget / 10))
            t += 0.5
    summary = make_summary(rows, early_stopping={"type": "asha", "resource": "n_estimators", "min": 10,
                                                 "max": 90, "reduction": 3, "rungs": [10, 30, 90],
                                                 "per_rung": [9, 3, 1], "pruned": 8})
    res = build_report(rows, summary, tmp_path)
    assert "budget" in res.images
    bd = res.data["budget"]
    assert bd["configs"] == 9 and bd["reached_max_rung"] == 1 and bd["max_rung"] == 2
    assert [p["budget"] for p in next(c for c in bd["curves"] if c["trial_id"] == "c0")["points"]] == [10, 30, 90]
    assert res.data["importance_rung"] == 1  # the highest rung with 3 finished configurations
    hist = res.data["history"]
    assert len(hist) == 9 and [h["trial_id"] for h in hist if h["complete"]] == ["c0"]
    # best-so-far counts only the configuration that finished at full budget, not smaller-budget scores
    assert {h["best_so_far"] for h in hist if h["best_so_far"] is not None} == {summary.cv_score}
    t = parse_page(res.html).tables
    assert t["early-stopping"]["rungs"] == "[10, 30, 90]"
    for p in res.images.values():
        assert_png_ok(p.read_bytes())


def test_rebuild_replaces_and_drops_stale_images(grid_run, tmp_path: Path) -> None:
    rows, summary = grid_run
    build_report(rows, summary, tmp_path)
    assert (tmp_path / "parallel.png").exists()
    one = make_rows({"C": [1.0, 2.0]})
    res = build_report(one, make_summary(one), tmp_path)
    assert not (tmp_path / "parallel.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["report.html"] + [f"{n}.png" for n in res.images])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_scores_are_not_plotted(tmp_path: Path, bad: float) -> None:
    rows = make_rows({"C": [1.0, 2.0, 3.0]})
    rows[1] = rows[1].model_copy(update={"mean": bad})
    res = build_report(rows, None, tmp_path)
    assert [h["score"] is None for h in res.data["history"]].count(True) == 1
    assert_png_ok(res.images["history"].read_bytes())


def test_overlapping_trials_on_one_executor_get_one_lane_each() -> None:
    # no slot recorded (the job writes host + executor): 2 cores on executor 0 ran two trials at once
    rows = [_row("a", None, 0, 4, host="h", executor_id="0"), _row("b", None, 1, 3, host="h", executor_id="0"),
            _row("c", None, 4, 6, host="h", executor_id="0"), _row("d", None, 0, 6, host="h", executor_id="1")]
    tl = timeline_data(rows)
    assert sorted(tl["slots"]) == ["h/0 #0", "h/0 #1", "h/1"]
    assert [t["trial_id"] for t in tl["slots"]["h/0 #0"]["trials"]] == ["a", "c"]
    assert tl["slots"]["h/0 #1"]["idle_gaps"] == [[0.0, 1.0], [3.0, 6.0]]
    assert tl["slots"]["h/1"]["idle_seconds"] == 0.0


# -- axes from the run's search space ------------------------------------------------------------------
SPACE = {"lr": {"loguniform": [1e-4, 1.0]}, "depth": [2, 4, 8, 16], "kernel": {"choice": ["poly", "rbf", "linear"]},
         "C": {"uniform": [0.0, 20.0]}}


def _space_rows() -> list[TrialResult]:
    return make_rows({"lr": [0.001, 0.01, 0.1, 1.0], "depth": [2, 4, 8], "kernel": ["rbf", "linear"], "C": [0.5, 10.0]},
                     metric_fn=lambda p: 0.8 + 0.02 * abs(__import__("math").log10(p["lr"])) + p["depth"] / 1000
                     + (0.01 if p["kernel"] == "rbf" else 0.0) + p["C"] / 10000)


def test_axes_come_from_the_runs_search_space(tmp_path: Path) -> None:
    rows = _space_rows()
    res = build_report(rows, make_summary(rows), tmp_path, space=SPACE)
    p = res.data["params"]
    assert {k: (v["kind"], v["log"], v["source"]) for k, v in p.items()} == {
        "lr": ("float", True, "spec"), "depth": ("categorical", False, "spec"),
        "kernel": ("categorical", False, "spec"), "C": ("float", False, "spec")}
    assert p["kernel"]["values"] == ["rbf", "linear"]  # the spec's order, the values seen
    assert p["depth"]["values"] == [2, 4, 8]
    assert set(res.data["importance"]) == {"lr", "depth", "kernel", "C"}
    assert {"slices", "parallel", "importance"} <= set(res.images)
    for png in res.images.values():
        assert_png_ok(png.read_bytes())


def test_without_a_spec_axes_are_linear_and_read_off_the_values(tmp_path: Path) -> None:
    rows = _space_rows()  # lr spans 3 decades: no longer guessed to be log
    p = build_report(rows, make_summary(rows), tmp_path).data["params"]
    assert {k: (v["kind"], v["log"], v["source"]) for k, v in p.items()} == {
        "lr": ("float", False, "values"), "depth": ("int", False, "values"),
        "kernel": ("categorical", False, "values"), "C": ("float", False, "values")}


def test_a_value_outside_the_spec_falls_back_to_the_values(tmp_path: Path) -> None:
    rows = _space_rows()
    space = dict(SPACE, lr={"loguniform": [0.01, 1.0]}, kernel=["rbf"], bogus={"nope": 1})  # older/odd spec
    p = build_report(rows, make_summary(rows), tmp_path, space=space).data["params"]
    assert p["lr"]["source"] == "values" and p["kernel"]["source"] == "values"  # the whole space did not parse
    good = dict(SPACE, lr={"loguniform": [0.01, 1.0]})
    p = build_report(rows, make_summary(rows), tmp_path, space=good).data["params"]
    assert (p["lr"]["source"], p["lr"]["log"]) == ("values", False)  # 0.001 is outside [0.01, 1]
    assert p["depth"]["source"] == "spec"


def test_trials_table_is_ranked_by_the_one_rule(tmp_path: Path) -> None:
    from hyperspark.job.protocol import final_rows, rank_trials

    rows = make_rows({"C": [1.0, 2.0, 3.0, 4.0]}, metric_fn=lambda p: 5.0 - p["C"], fail={2})
    summary = make_summary(rows, metric="rmse", gib=False)
    res = build_report(rows, summary, tmp_path)
    html = res.html.read_text()
    shown = re.findall(r"<td>(t\d{3})</td>", html.split('class="trials"', 1)[1])
    assert shown == [r.trial_id for r in rank_trials(final_rows(rows), False)] == ["t003", "t001", "t000", "t002"]
    assert re.search(r'<tr class="best"><td>1</td><td>t003</td>', html)
