"""The run report: a self-contained ``report.html`` (images inline as data URIs) plus its PNGs.

A library, no Click: :func:`build_report` takes the typed rows of ``trials.jsonl`` and the run's
``summary.json`` (None while a run is unfinished or failed) and writes into ``out_dir``:

* ``history.png``: score per configuration in finish order, with the best so far;
* ``slices.png``: each parameter against the score; ``parallel.png`` for 3+ parameters;
* ``importance.png``: parameter importance from Optuna's fANOVA evaluator on an in-memory study;
* ``timeline.png``: trials per executor slot over time (idle gaps are the empty stretches);
* ``budget.png``: score against budget per configuration, for early-stopped runs (rows with rung > 0);
* ``report.html``: all of the above plus the summary (best params, held-out metrics, phases,
  core-seconds, data hash, versions) and the failed trials.

Every file is written under a temporary name and renamed; the HTML last. Nothing in the page loads
anything from elsewhere (no scripts, no stylesheets, no remote images). Plots degrade to a note when
there is nothing to draw (one trial, every trial failed, no numeric parameter, no timestamps).
:attr:`ReportResult.data` is the same content as plain JSON (``hyperspark report --json``).
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlparse

from hyperspark.job.protocol import LOWER_IS_BETTER, RunSummary, TrialResult, better, parse_trials
from hyperspark.ops.model import OpsError
from hyperspark.ops.util.files import write_atomic

IMAGE_NAMES = ("history", "slices", "parallel", "importance", "timeline", "budget")
MAX_TABLE_ROWS = 200


@dataclass
class ReportResult:
    out_dir: Path
    html: Path
    images: dict[str, Path]  # name (history, slices, ...) -> PNG written beside the HTML
    data: dict[str, Any]  # the report's content as JSON-able data (what --json prints)
    notes: list[str] = field(default_factory=list)  # why a section was left out or reduced

    def to_dict(self) -> dict[str, Any]:
        return {"html": str(self.html), "images": {k: str(v) for k, v in self.images.items()},
                "notes": list(self.notes), **self.data}


# --------------------------------------------------------------------------- data
def _score_ok(r: TrialResult) -> bool:
    return r.ok and r.mean is not None and math.isfinite(r.mean)


def _finish_key(r: TrialResult, i: int) -> tuple:
    # finish order: end time when known, else the searcher's number, else the row's place in the file
    return (r.ended_at if r.ended_at is not None else math.inf,
            r.number if r.number is not None else math.inf, i)


def final_rows(trials: list[TrialResult]) -> list[TrialResult]:
    """One row per configuration: the one at the highest rung it reached (its last word)."""
    last: dict[str, TrialResult] = {}
    for r in trials:
        cur = last.get(r.trial_id)
        if cur is None or r.rung >= cur.rung:
            last[r.trial_id] = r
    return list(last.values())


def _complete(r: TrialResult, max_rung: int) -> bool:
    """Did this configuration finish its search (not stopped early at a smaller budget)?"""
    if r.decision is not None:
        return r.decision == "complete"
    return r.rung == max_rung


def history_data(trials: list[TrialResult], gib: bool) -> list[dict[str, Any]]:
    """Each configuration's last row in finish order; best-so-far counts only completed configurations
    (with early stopping, scores at a smaller budget are not comparable with full-budget ones)."""
    rows = final_rows(trials)
    max_rung = max((r.rung for r in rows), default=0)
    order = sorted(range(len(rows)), key=lambda i: _finish_key(rows[i], i))
    out, best = [], None
    for pos, i in enumerate(order):
        r = rows[i]
        score = r.mean if _score_ok(r) else None
        complete = _complete(r, max_rung) if r.ok else False
        if score is not None and complete and better(score, best, gib):
            best = score
        out.append({"order": pos, "trial_id": r.trial_id, "number": r.number, "rung": r.rung,
                    "budget": r.budget, "status": r.status, "complete": complete, "score": score,
                    "best_so_far": best, "ended_at": r.ended_at, "params": r.params, "error": r.error})
    return out


def _plain(v: Any) -> Any:
    """A parameter value as a scalar Optuna/matplotlib can use (lists, dicts -> their JSON)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v, sort_keys=True)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def param_kinds(rows: list[TrialResult]) -> dict[str, dict[str, Any]]:
    """Per parameter: kind (int | float | categorical), its distinct values, and whether it varies."""
    names: list[str] = []
    values: dict[str, list[Any]] = {}
    for r in rows:
        for k, v in r.params.items():
            if k not in values:
                names.append(k)
                values[k] = []
            values[k].append(_plain(v))
    kinds = {}
    for k in names:
        vals = values[k]
        present = len(vals) == len(rows)  # a conditional parameter is absent from some rows
        if all(_is_num(v) for v in vals):
            kind = "int" if all(isinstance(v, int) for v in vals) else "float"
            distinct = sorted(set(vals))
        else:
            kind = "categorical"
            distinct = sorted(set(vals), key=lambda v: (type(v).__name__, str(v)))
        kinds[k] = {"kind": kind, "values": distinct, "varies": len(distinct) > 1, "in_every_row": present}
    return kinds


def _distribution(info: dict[str, Any]):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    vals = info["values"]
    if info["kind"] == "int":
        return IntDistribution(int(vals[0]), int(vals[-1]))
    if info["kind"] == "float":
        lo, hi = float(vals[0]), float(vals[-1])
        log = lo > 0 and hi / lo >= 100
        return FloatDistribution(lo, hi, log=log)
    return CategoricalDistribution(vals)


def build_study(rows: list[TrialResult], gib: bool, kinds: dict[str, dict[str, Any]]):
    """An in-memory Optuna study holding ``rows`` (ok -> COMPLETE with the score, else FAIL)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if gib else "minimize")
    dists = {k: _distribution(info) for k, info in kinds.items()}
    for r in rows:
        params = {k: _plain(v) for k, v in r.params.items() if k in dists}
        if _score_ok(r):
            t = create_trial(params=params, distributions={k: dists[k] for k in params}, value=float(r.mean),
                             state=TrialState.COMPLETE)
        else:
            t = create_trial(params=params, distributions={k: dists[k] for k in params}, state=TrialState.FAIL)
        study.add_trial(t)
    return study


def importance_rows(trials: list[TrialResult]) -> tuple[list[TrialResult], int | None]:
    """Rows for importance: the highest rung with at least 3 ok configurations (all rows share its budget),
    else rung 0; without early stopping simply every row."""
    rungs = sorted({r.rung for r in trials})
    if rungs == [0] or not rungs:
        return list(trials), None
    for rung in reversed(rungs):
        at = [r for r in trials if r.rung == rung]
        if sum(_score_ok(r) for r in at) >= 3:
            return at, rung
    return [r for r in trials if r.rung == rungs[0]], rungs[0]


def importance_data(trials: list[TrialResult], gib: bool) -> tuple[dict[str, float] | None, str | None, int | None]:
    rows, rung = importance_rows(trials)
    ok = [r for r in rows if _score_ok(r)]
    kinds = {k: v for k, v in param_kinds(ok).items() if v["varies"] and v["in_every_row"]}
    if len(ok) < 2:
        return None, f"parameter importance needs 2 or more finished trials ({len(ok)} here)", rung
    if not kinds:
        return None, "parameter importance: no parameter takes more than one value", rung
    if len({r.mean for r in ok}) < 2:
        return None, "parameter importance: every trial has the same score", rung
    try:
        import optuna
        from optuna.importance import FanovaImportanceEvaluator

        study = build_study(ok, gib, kinds)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = optuna.importance.get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except Exception as exc:  # noqa: BLE001 - importance is a nicety: the report goes on without it
        return None, f"parameter importance not computed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", rung
    return {k: float(v) for k, v in imp.items()}, None, rung


def slot_of(r: TrialResult) -> str:
    if r.slot:
        return r.slot
    if r.host or r.executor_id:
        return f"{r.host or '?'}/{r.executor_id or '?'}"
    return "unknown"


def assign_lanes(rows: list[TrialResult]) -> dict[str, list[TrialResult]]:
    """Timeline rows: evaluations that overlap on one executor (several cores, or concurrent MLlib fits)
    ran on different slots of it, so each executor is split into as many lanes as it ran at once."""
    per: dict[str, list[TrialResult]] = {}
    for r in rows:
        per.setdefault(slot_of(r), []).append(r)
    out: dict[str, list[TrialResult]] = {}
    for name, rs in per.items():
        lanes: list[list[TrialResult]] = []
        for r in sorted(rs, key=lambda r: (r.started_at, r.ended_at)):
            lane = next((ln for ln in lanes if ln[-1].ended_at <= r.started_at + 1e-6), None)
            if lane is None:
                lanes.append([r])
            else:
                lane.append(r)
        for i, lane in enumerate(lanes):
            out[name if len(lanes) == 1 else f"{name} #{i}"] = lane
    return out


def timeline_data(trials: list[TrialResult]) -> dict[str, Any] | None:
    timed = [r for r in trials if r.started_at is not None and r.ended_at is not None]
    if not timed:
        return None
    t0 = min(r.started_at for r in timed)
    t1 = max(r.ended_at for r in timed)
    span = t1 - t0
    slots = assign_lanes(timed)
    out = {}
    for name in sorted(slots):
        rs = sorted(slots[name], key=lambda r: r.started_at)
        busy, gaps, cursor = 0.0, [], t0
        for r in rs:
            if r.started_at > cursor:
                gaps.append([round(cursor - t0, 3), round(r.started_at - t0, 3)])
            busy += max(0.0, r.ended_at - max(r.started_at, cursor))
            cursor = max(cursor, r.ended_at)
        if t1 > cursor:
            gaps.append([round(cursor - t0, 3), round(t1 - t0, 3)])
        out[name] = {
            "trials": [{"trial_id": r.trial_id, "rung": r.rung, "status": r.status,
                        "start": round(r.started_at - t0, 3), "end": round(r.ended_at - t0, 3)} for r in rs],
            "busy_seconds": round(busy, 3),
            "idle_seconds": round(max(0.0, span - busy), 3),
            "idle_gaps": gaps,
        }
    return {"start": t0, "end": t1, "span_seconds": round(span, 3), "slots": out,
            "untimed_rows": len(trials) - len(timed)}


def budget_data(trials: list[TrialResult]) -> dict[str, Any] | None:
    if not any(r.rung > 0 for r in trials):
        return None
    per: dict[str, list[TrialResult]] = {}
    for r in trials:
        per.setdefault(r.trial_id, []).append(r)
    curves = []
    for tid, rs in per.items():
        rs.sort(key=lambda r: r.rung)
        curves.append({"trial_id": tid, "points": [
            {"rung": r.rung, "budget": r.budget, "score": r.mean if _score_ok(r) else None, "status": r.status,
             "decision": r.decision} for r in rs]})
    max_rung = max(r.rung for r in trials)
    return {"max_rung": max_rung, "configs": len(per),
            "reached_max_rung": sum(1 for c in curves if c["points"][-1]["rung"] == max_rung),
            "curves": curves}


# --------------------------------------------------------------------------- plots
def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)  # Agg, without pyplot's global state
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _note_axes(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_history(hist: list[dict[str, Any]], metric: str, gib: bool) -> bytes:
    fig = _figure(8, 4)
    ax = fig.add_subplot()
    ok = [h for h in hist if h["score"] is not None]
    if not ok:
        _note_axes(ax, "no trial finished with a score")
    else:
        done = [h for h in ok if h["complete"]]
        early = [h for h in ok if not h["complete"]]
        ax.scatter([h["order"] for h in done], [h["score"] for h in done], s=18, color="#1f77b4", label="completed",
                   zorder=3)
        if early:
            ax.scatter([h["order"] for h in early], [h["score"] for h in early], s=18, facecolors="none",
                       edgecolors="#7f7f7f", label="stopped early (score at its last budget)", zorder=2)
        steps = [h for h in hist if h["best_so_far"] is not None]
        ax.step([h["order"] for h in steps], [h["best_so_far"] for h in steps], where="post", color="#d62728",
                label="best so far")
        bad = [h for h in hist if h["score"] is None]
        if bad:
            y = min(h["score"] for h in ok)
            ax.scatter([h["order"] for h in bad], [y] * len(bad), marker="x", color="#7f7f7f", label="failed")
        ax.set_xlabel("trial (finish order)")
        ax.set_ylabel(f"{metric} ({'higher' if gib else 'lower'} is better)")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    ax.set_title("Optimization history")
    fig.tight_layout()
    return _png(fig)


def _positions(info: dict[str, Any], values: list[Any]) -> tuple[list[float], list[float] | None, list[str] | None]:
    """x positions for a parameter's values: numbers as they are, categories as 0..n-1."""
    if info["kind"] != "categorical":
        return [float(v) for v in values], None, None
    index = {v: i for i, v in enumerate(info["values"])}
    return [float(index[v]) for v in values], list(range(len(info["values"]))), [str(v) for v in info["values"]]


def plot_slices(rows: list[TrialResult], kinds: dict[str, dict[str, Any]], metric: str) -> bytes:
    names = list(kinds)
    n = len(names)
    cols = min(n, 3)
    nrows = math.ceil(n / cols)
    fig = _figure(4 * cols, 3.2 * nrows)
    for i, name in enumerate(names):
        ax = fig.add_subplot(nrows, cols, i + 1)
        info = kinds[name]
        pts = [(_plain(r.params[name]), r.mean) for r in rows if name in r.params]
        xs, ticks, labels = _positions(info, [p[0] for p in pts])
        ax.scatter(xs, [p[1] for p in pts], s=16, alpha=0.8)
        if ticks is not None:
            ax.set_xticks(ticks)
            ax.set_xticklabels(labels, rotation=30, fontsize=8)
            ax.set_xlim(-0.5, len(ticks) - 0.5)
        elif info["kind"] == "float" and info["values"][0] > 0 and info["values"][-1] / info["values"][0] >= 100:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        if i % cols == 0:
            ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle("Parameters against the score")
    fig.tight_layout()
    return _png(fig)


def plot_parallel(rows: list[TrialResult], kinds: dict[str, dict[str, Any]], metric: str, gib: bool) -> bytes:
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    names = list(kinds)
    fig = _figure(max(6, 1.6 * (len(names) + 1)), 4.2)
    ax = fig.add_subplot()
    scores = [r.mean for r in rows]
    lo, hi = min(scores), max(scores)
    norm = Normalize(lo, hi if hi > lo else lo + 1)
    cmap = colormaps["viridis"]
    axes_labels = []
    cols: list[list[float]] = []
    for name in names:
        info = kinds[name]
        xs, _, _ = _positions(info, [_plain(r.params.get(name)) for r in rows])
        a, b = min(xs), max(xs)
        cols.append([(x - a) / (b - a) if b > a else 0.5 for x in xs])
        if info["kind"] == "categorical":
            axes_labels.append(f"{name}\n[{', '.join(str(v) for v in info['values'][:4])}{'…' if len(info['values']) > 4 else ''}]")
        else:
            axes_labels.append(f"{name}\n[{_fmt(a)} … {_fmt(b)}]")
    cols.append([norm(s) for s in scores])
    axes_labels.append(f"{metric}\n[{_fmt(lo)} … {_fmt(hi)}]")
    # best on top
    order = sorted(range(len(rows)), key=lambda i: scores[i], reverse=not gib)[::-1]
    for i in order:
        ax.plot(range(len(cols)), [c[i] for c in cols], color=cmap(norm(scores[i])), alpha=0.7, lw=1.2)
    for x in range(len(cols)):
        ax.axvline(x, color="#333", lw=0.8)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(axes_labels, fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("Parallel coordinates (each axis scaled to its range; colour = score)")
    fig.tight_layout()
    return _png(fig)


def plot_importance(imp: dict[str, float], rung: int | None) -> bytes:
    items = sorted(imp.items(), key=lambda kv: kv[1])
    fig = _figure(7, max(2.2, 0.45 * len(items) + 1.2))
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#2ca02c")
    for y, (_, v) in enumerate(items):
        ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
    ax.set_xlabel("importance (fANOVA, sums to 1)")
    ax.set_xlim(0, max(1.0, max(v for _, v in items) * 1.15))
    ax.set_title("Parameter importance" + (f" (rung {rung})" if rung is not None else ""))
    fig.tight_layout()
    return _png(fig)


def plot_timeline(tl: dict[str, Any]) -> bytes:
    slots = list(tl["slots"])
    fig = _figure(9, max(2.0, 0.55 * len(slots) + 1.4))
    ax = fig.add_subplot()
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    for y, name in enumerate(slots):
        s = tl["slots"][name]
        for g0, g1 in s["idle_gaps"]:
            ax.broken_barh([(g0, g1 - g0)], (y - 0.4, 0.8), facecolors="#f2f2f2", edgecolors="#cccccc",
                           hatch="//", lw=0.5)
        for t in s["trials"]:
            colour = "#d62728" if t["status"] != "ok" else colours[t["rung"] % len(colours)]
            ax.broken_barh([(t["start"], max(t["end"] - t["start"], 1e-3))], (y - 0.4, 0.8),
                           facecolors=colour, edgecolors="white", lw=0.8)
    ax.set_yticks(range(len(slots)))
    ax.set_yticklabels([f"{n}\nidle {tl['slots'][n]['idle_seconds']:.1f}s" for n in slots], fontsize=8)
    ax.set_ylim(-0.6, len(slots) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first trial started")
    ax.set_title("Trials per executor slot (hatched = idle; red = failed)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def plot_budget(bd: dict[str, Any], metric: str, rungs: list[int] | None) -> bytes:
    fig = _figure(8, 4.2)
    ax = fig.add_subplot()
    use_budget = all(p["budget"] is not None for c in bd["curves"] for p in c["points"])
    for c in bd["curves"]:
        pts = [p for p in c["points"] if p["score"] is not None]
        if not pts:
            continue
        xs = [p["budget"] if use_budget else p["rung"] for p in pts]
        last = c["points"][-1]
        reached = last["decision"] != "prune" if last["decision"] else last["rung"] == bd["max_rung"]
        ax.plot(xs, [p["score"] for p in pts], marker="o", ms=3, lw=1, alpha=0.8 if reached else 0.35,
                color="#1f77b4" if reached else "#7f7f7f")
    if use_budget and rungs:
        for b in rungs:
            ax.axvline(b, color="#bbb", ls="--", lw=0.8)
    ax.set_xlabel("budget" if use_budget else "rung")
    ax.set_ylabel(metric)
    ax.set_title(f"Score against budget ({bd['reached_max_rung']} of {bd['configs']} configurations reached "
                 f"rung {bd['max_rung']}; grey = stopped early)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


# --------------------------------------------------------------------------- files
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.6g}"
    return str(v)


def _num_cell(v: Any) -> str:
    """A number cell: shown to 6 significant digits, the exact value in data-value (tests compare it)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f'<td class="num" data-value="{html.escape(repr(v))}">{html.escape(_fmt(v))}</td>'
    return f"<td>{html.escape(_fmt(v))}</td>"


def _kv_table(items: Iterable[tuple[str, Any]], cls: str = "") -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th>{_num_cell(v) if not isinstance(v, (dict, list)) else '<td>' + html.escape(json.dumps(v, default=str)) + '</td>'}</tr>"
                   for k, v in items)
    return f'<table class="kv {cls}">{body}</table>' if body else "<p class=note>none</p>"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;
color:#222;padding:0 16px}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
.sub{color:#666;margin-top:4px}
table{border-collapse:collapse;margin:8px 0;font-size:0.9em}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:24px}.grid>div{flex:1 1 320px}
img{max-width:100%;height:auto;border:1px solid #eee}
.note{color:#666;font-style:italic}.err{color:#a00}
tr.best td{background:#eef8ee}
"""


def _img(name: str, png: bytes, alt: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return f'<figure><img id="img-{name}" alt="{html.escape(alt)}" src="data:image/png;base64,{b64}"></figure>'


def render_html(data: dict[str, Any], s: RunSummary | None, pngs: dict[str, bytes], notes: list[str]) -> str:
    metric, gib = data["metric"], data["greater_is_better"]
    title = f"HyperSpark run {data['run_id'] or ''}".strip()
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
             f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
             f"style-src 'unsafe-inline'\">"
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    n_ok = sum(1 for h in data["history"] if h["score"] is not None)
    parts.append(f'<p class=sub>{len(data["history"])} configurations, {data["rows"]} evaluations, {n_ok} with a '
                 f'score; metric <b>{html.escape(metric)}</b> ({"higher" if gib else "lower"} is better)'
                 f'{"" if s else "; no summary.json (run unfinished or failed)"}</p>')

    # -- summary
    parts.append("<h2 id=summary>Summary</h2>")
    if s is not None:
        parts.append('<div class=grid><div><h3>Best</h3>')
        parts.append(_kv_table([("trial", s.best.trial_id), (f"cv {metric}", s.cv_score),
                                ("cv std", s.best.cv_std)], "best"))
        parts.append("<h3>Best parameters</h3>" + _kv_table(s.best_params.items(), "params"))
        parts.append("<h3>Held-out metrics</h3>" + _kv_table(s.test_metrics.items(), "test-metrics"))
        parts.append("</div><div><h3>Phases (seconds)</h3>" + _kv_table(s.timings.items(), "timings"))
        parts.append("<h3>Core-seconds</h3>" + _kv_table(s.cost.model_dump(exclude_none=True).items(), "cost"))
        if s.early_stopping is not None:
            parts.append("<h3>Early stopping</h3>" + _kv_table(
                s.early_stopping.model_dump(exclude_none=True).items(), "early-stopping"))
        parts.append("</div><div><h3>Run</h3>")
        search = s.search
        parts.append(_kv_table([("model", s.model), ("task", s.task), ("strategy", s.strategy),
                                ("search", search.type), ("configurations", search.trials),
                                ("ok", search.ok), ("failed", search.failed), ("resumed", search.resumed),
                                ("cv folds", search.cv_folds), ("output", s.output_uri)], "run"))
        d = s.data
        parts.append("<h3>Data</h3>" + _kv_table([("uri", d.uri), ("hash", d.hash), ("rows", d.rows),
                                                  ("train rows", d.train_rows), ("test rows", d.test_rows),
                                                  ("label", d.label)], "data"))
        parts.append("<h3>Cluster</h3>" + _kv_table(s.cluster.model_dump(exclude_none=True).items(), "cluster"))
        parts.append("<h3>Versions</h3>" + _kv_table(s.versions.items(), "versions"))
        parts.append("</div></div>")
    else:
        parts.append("<p class=note>No summary.json: the run has not finished (or failed). The plots below use "
                     "trials.jsonl only.</p>")

    sections = [
        ("history", "Optimization history",
         "Score of each configuration in the order they finished (its highest rung), with the best so far."),
        ("slices", "Parameters against the score", "One panel per parameter; categories are spread along the axis."),
        ("parallel", "Parallel coordinates", "One line per finished configuration, coloured by score."),
        ("importance", "Parameter importance", "Optuna's fANOVA evaluator on an in-memory study of the trials."),
        ("timeline", "Timeline per executor slot",
         "Each bar is one evaluation on the slot that ran it; hatched stretches are idle."),
        ("budget", "Score against budget (early stopping)",
         "One line per configuration across the rungs it reached; grey lines stopped early."),
    ]
    for name, heading, caption in sections:
        if name in pngs:
            parts.append(f"<h2 id={name}>{heading}</h2><p class=sub>{html.escape(caption)}</p>")
            parts.append(_img(name, pngs[name], heading))
            if name == "importance" and data["importance"]:
                parts.append(_kv_table(data["importance"].items(), "importance"))
            if name == "timeline" and data["timeline"]:
                parts.append(_kv_table([(k, f"busy {v['busy_seconds']:.1f}s, idle {v['idle_seconds']:.1f}s, "
                                            f"{len(v['trials'])} evaluations")
                                        for k, v in data["timeline"]["slots"].items()], "slots"))
    if notes:
        parts.append("<h2 id=notes>Left out</h2><ul>" + "".join(f"<li class=note>{html.escape(n)}</li>" for n in notes)
                     + "</ul>")

    # -- trials table
    ranked = sorted(data["history"], key=lambda h: (h["score"] is None,
                                                    -(h["score"] or 0) if gib else (h["score"] or 0)))
    best_id = s.best.trial_id if s is not None else (ranked[0]["trial_id"] if ranked and ranked[0]["score"] is not None else None)
    parts.append(f"<h2 id=trials>Trials</h2><table class=trials><tr><th>#</th><th>trial</th><th>{html.escape(metric)}</th>"
                 "<th>rung</th><th>status</th><th>params</th></tr>")
    for i, h in enumerate(ranked[:MAX_TABLE_ROWS], 1):
        cls = ' class="best"' if h["trial_id"] == best_id else ""
        status = h["status"] if h["status"] == "ok" else f'<span class=err>{html.escape(h["status"])}: ' \
                                                          f'{html.escape((h["error"] or "")[:200])}</span>'
        parts.append(f"<tr{cls}><td>{i}</td><td>{html.escape(h['trial_id'])}</td>{_num_cell(h['score'])}"
                     f"<td>{h['rung']}</td><td>{status if h['status'] != 'ok' else 'ok'}</td>"
                     f"<td>{html.escape(json.dumps(h['params'], sort_keys=True, default=str))}</td></tr>")
    parts.append("</table>")
    if len(ranked) > MAX_TABLE_ROWS:
        parts.append(f"<p class=note>{len(ranked) - MAX_TABLE_ROWS} more in trials.jsonl</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------- entry points
def read_run(read_text: Callable[[str], str], output_uri: str) -> tuple[list[TrialResult], RunSummary | None]:
    """A run's rows and summary through ``read_text(uri)`` (a Target's); the summary is None while the run
    is unfinished or failed. Unreadable or malformed files raise OpsError (one line)."""
    base = output_uri.rstrip("/")
    try:
        trials = parse_trials(read_text(f"{base}/trials.jsonl"))
    except OpsError:
        raise
    except ValueError as exc:
        raise OpsError(f"{base}/trials.jsonl is not valid trial rows: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - storage errors become one line
        raise OpsError(f"cannot read {base}/trials.jsonl: {exc}") from exc
    try:
        text = read_text(f"{base}/summary.json")
    except Exception:  # noqa: BLE001 - no summary (yet): report the trials alone
        return trials, None
    try:
        return trials, RunSummary.model_validate_json(text)
    except ValueError as exc:
        raise OpsError(f"{base}/summary.json is not a run summary: {str(exc).splitlines()[0]}") from exc


def default_out_dir(output_uri: str, state_root: Path) -> Path:
    """``<output>/<run_id>/report`` when the run dir is on this machine, else ``<state>/reports/<run_id>``."""
    base = output_uri.rstrip("/")
    parsed = urlparse(base)
    if parsed.scheme in ("", "file") and Path(parsed.path).is_dir():
        return Path(parsed.path) / "report"
    return Path(state_root) / "reports" / base.rsplit("/", 1)[-1]


def build_report(trials: list[TrialResult], summary: RunSummary | None, out_dir: Path) -> ReportResult:
    """Write ``report.html`` and its PNGs into ``out_dir`` (created); return what was written."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OpsError(f"cannot create the report folder {out_dir}: {exc}") from exc
    metric = summary.metric if summary else "score"
    gib = summary.greater_is_better if summary else (metric not in LOWER_IS_BETTER)
    run_id = summary.run_id if summary else next((r.run_id for r in trials if r.run_id), None)
    notes: list[str] = []
    pngs: dict[str, bytes] = {}

    hist = history_data(trials, gib)
    pngs["history"] = plot_history(hist, metric, gib)
    if not trials:
        notes.append("trials.jsonl holds no rows")

    finals_ok = [r for r in final_rows(trials) if _score_ok(r)]
    slice_rows, slice_rung = importance_rows(trials)
    slice_rows = [r for r in slice_rows if _score_ok(r)]
    kinds = param_kinds(slice_rows)
    if kinds and slice_rows:
        pngs["slices"] = plot_slices(slice_rows, kinds, metric)
    else:
        notes.append("parameter slices: no finished trial with parameters")
    varying = {k: v for k, v in kinds.items() if v["varies"] and v["in_every_row"]}
    if len(varying) >= 3 and len(slice_rows) >= 2:
        pngs["parallel"] = plot_parallel(slice_rows, varying, metric, gib)
    elif kinds:
        notes.append(f"parallel coordinates: drawn for 3 or more varying parameters ({len(varying)} here)")

    imp, why, imp_rung = importance_data(trials, gib)
    if imp:
        pngs["importance"] = plot_importance(imp, imp_rung)
    elif why:
        notes.append(why)

    tl = timeline_data(trials)
    if tl:
        pngs["timeline"] = plot_timeline(tl)
    else:
        notes.append("timeline: no row has start and end times")

    bd = budget_data(trials)
    if bd:
        rungs = summary.early_stopping.rungs if summary and summary.early_stopping else None
        pngs["budget"] = plot_budget(bd, metric, rungs)

    data: dict[str, Any] = {
        "run_id": run_id, "metric": metric, "greater_is_better": gib, "rows": len(trials),
        "configurations": len(hist), "finished": len(finals_ok),
        "failed": [{"trial_id": r.trial_id, "rung": r.rung, "error": r.error, "params": r.params}
                   for r in trials if r.status != "ok"],
        "history": hist,
        "params": kinds, "params_rung": slice_rung,
        "importance": imp, "importance_rung": imp_rung,
        "timeline": tl, "budget": bd,
        "summary": summary.model_dump(mode="json") if summary else None,
    }
    images: dict[str, Path] = {}
    for name in IMAGE_NAMES:
        if name in pngs:
            path = out_dir / f"{name}.png"
            write_atomic(path, pngs[name])
            images[name] = path
    for name in IMAGE_NAMES:  # a previous report's image that this one does not have would mislead
        if name not in pngs and (out_dir / f"{name}.png").exists():
            (out_dir / f"{name}.png").unlink()
    html_path = out_dir / "report.html"
    write_atomic(html_path, render_html(data, summary, pngs, notes).encode("utf-8"))
    return ReportResult(out_dir=out_dir, html=html_path, images=images, data=data, notes=notes)


__all__ = ["ReportResult", "build_report", "read_run", "default_out_dir", "build_study", "history_data", "timeline_data", "budget_data",
           "param_kinds", "importance_data"]
