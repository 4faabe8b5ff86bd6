"""The report's figures: :class:`~hyperspark.ops.report.data.ReportData` -> PNG bytes (matplotlib, Agg).

:func:`draw` makes every figure the data allows and says why each missing one is left out. Figures are
drawn on their own ``Figure`` objects (no pyplot global state), so reports can be built concurrently.
"""
from __future__ import annotations

import io
import math
from typing import Any

from hyperspark.job.protocol import TrialResult, rank_trials
from hyperspark.ops.report.data import Axis, ReportData


def fmt(v: Any) -> str:
    """A number to 6 significant digits (as the page shows it)."""
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.6g}"
    return str(v)


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


def plot_slices(rows: list[TrialResult], axes: dict[str, Axis], metric: str) -> bytes:
    names = list(axes)
    n = len(names)
    cols = min(n, 3)
    nrows = math.ceil(n / cols)
    fig = _figure(4 * cols, 3.2 * nrows)
    for i, name in enumerate(names):
        ax = fig.add_subplot(nrows, cols, i + 1)
        axis = axes[name]
        pts = [(r.params[name], r.mean) for r in rows if name in r.params]
        ax.scatter([axis.position(p[0]) for p in pts], [p[1] for p in pts], s=16, alpha=0.8)
        if axis.kind == "categorical":
            labels = [str(c) for c in axis.categories]
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, rotation=30, fontsize=8)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        elif axis.log:
            ax.set_xscale("log")
        ax.set_xlabel(name + (" (log)" if axis.log else ""))
        if i % cols == 0:
            ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle("Parameters against the score")
    fig.tight_layout()
    return _png(fig)


def _parallel_column(axis: Axis, rows: list[TrialResult]) -> tuple[list[float], str]:
    """One parallel-coordinates axis: each row's value scaled to [0, 1] (log axes on a log scale), and its
    label."""
    xs = [axis.position(r.params.get(axis.name)) for r in rows]
    scaled = [math.log10(x) for x in xs] if axis.log and min(xs) > 0 else xs
    a, b = min(scaled), max(scaled)
    col = [(x - a) / (b - a) if b > a else 0.5 for x in scaled]
    if axis.kind == "categorical":
        cats = axis.categories
        return col, f"{axis.name}\n[{', '.join(str(v) for v in cats[:4])}{'…' if len(cats) > 4 else ''}]"
    return col, f"{axis.name}\n[{fmt(min(xs))} … {fmt(max(xs))}]{' log' if axis.log else ''}"


def plot_parallel(rows: list[TrialResult], axes: dict[str, Axis], metric: str, gib: bool) -> bytes:
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    fig = _figure(max(6, 1.6 * (len(axes) + 1)), 4.2)
    ax = fig.add_subplot()
    scores = [r.mean for r in rows]
    lo, hi = min(scores), max(scores)
    norm = Normalize(lo, hi if hi > lo else lo + 1)
    cmap = colormaps["viridis"]
    cols, labels = [], []
    for axis in axes.values():
        col, label = _parallel_column(axis, rows)
        cols.append(col)
        labels.append(label)
    cols.append([norm(s) for s in scores])
    labels.append(f"{metric}\n[{fmt(lo)} … {fmt(hi)}]")
    index = {id(r): i for i, r in enumerate(rows)}
    for r in reversed(rank_trials(rows, gib)):  # the best drawn last, on top
        i = index[id(r)]
        ax.plot(range(len(cols)), [c[i] for c in cols], color=cmap(norm(scores[i])), alpha=0.7, lw=1.2)
    for x in range(len(cols)):
        ax.axvline(x, color="#333", lw=0.8)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(labels, fontsize=8)
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


def draw(rd: ReportData) -> tuple[dict[str, bytes], list[str]]:
    """Every figure the data allows (name -> PNG) and, for each one left out, why."""
    pngs: dict[str, bytes] = {"history": plot_history(rd.history, rd.metric, rd.gib)}
    notes: list[str] = []
    if not rd.trials:
        notes.append("trials.jsonl holds no rows")
    if rd.axes and rd.slice_rows:
        pngs["slices"] = plot_slices(rd.slice_rows, rd.axes, rd.metric)
    else:
        notes.append("parameter slices: no finished trial with parameters")
    varying = rd.varying
    if len(varying) >= 3 and len(rd.slice_rows) >= 2:
        pngs["parallel"] = plot_parallel(rd.slice_rows, varying, rd.metric, rd.gib)
    elif rd.axes:
        notes.append(f"parallel coordinates: drawn for 3 or more varying parameters ({len(varying)} here)")
    if rd.importance:
        pngs["importance"] = plot_importance(rd.importance, rd.importance_rung)
    elif rd.importance_why:
        notes.append(rd.importance_why)
    if rd.timeline:
        pngs["timeline"] = plot_timeline(rd.timeline)
    else:
        notes.append("timeline: no row has start and end times")
    if rd.budget:
        s = rd.summary
        rungs = s.early_stopping.rungs if s is not None and s.early_stopping is not None else None
        pngs["budget"] = plot_budget(rd.budget, rd.metric, rungs)
    from hyperspark.ops.report.pareto import pareto_data, plot_pareto  # runs with several objectives only

    if (pd := pareto_data(rd.trials, rd.summary)) is not None:
        pngs["pareto"] = plot_pareto(pd, _figure, _png)
    return pngs, notes
