"""The report's Pareto section (runs with several objectives): the front as the job computed it
(``summary.pareto``), every finished configuration's objectives, and the front's hypervolume as the search
went on. Two objectives: a scatter with the front joined and infeasible configurations greyed; three or
more: parallel coordinates over the objectives. The front itself is never recomputed here: it is the
summary's (``job/pareto.py`` computes it once); only the hypervolume curve replays the rows.
"""
from __future__ import annotations

from typing import Any

from hyperspark.job.pareto import Objectives, front, hypervolume, is_feasible
from hyperspark.job.protocol import RunSummary, TrialResult, final_rows


def pareto_data(trials: list[TrialResult], summary: RunSummary | None) -> dict[str, Any] | None:
    """Points (minimized and raw), which are on the front / feasible, and the hypervolume over time."""
    if summary is None or summary.pareto is None or not summary.objectives or len(summary.objectives) < 2:
        return None
    names = tuple(o["metric"] for o in summary.objectives)
    greater = tuple(o["direction"] == "maximize" for o in summary.objectives)
    obj = Objectives(names, greater, primary=summary.metric)
    top = max((r.rung for r in trials), default=0)
    rows = [r for r in final_rows(trials) if r.rung == top and obj.values(r) is not None]
    if not rows:
        return None
    on_front = {p.trial_id for p in summary.pareto}
    points = [{"trial_id": r.trial_id, "values": obj.values(r), "feasible": is_feasible(r),
               "front": r.trial_id in on_front, "ended_at": r.ended_at or 0.0} for r in rows]
    return {"names": list(names), "greater": list(greater), "points": points,
            "hypervolume": _hv_curve(rows, obj, top)}


def _hv_curve(rows: list[TrialResult], obj: Objectives, rung: int) -> list[float]:
    """The feasible front's hypervolume after each finished configuration (in finishing order), against a
    reference 10% beyond the worst feasible value of each objective."""
    feas = [r for r in rows if is_feasible(r)]
    if not feas:
        return []
    pts = [obj.minimized(obj.values(r)) for r in feas]
    ref = []
    for m in range(len(obj.names)):
        lo, hi = min(p[m] for p in pts), max(p[m] for p in pts)
        ref.append(hi + 0.1 * (hi - lo) + 1e-12)
    ordered, curve = sorted(rows, key=lambda r: r.ended_at or 0.0), []
    for i in range(1, len(ordered) + 1):
        f = front(ordered[:i], obj, rung)
        curve.append(hypervolume([obj.minimized(obj.values(r)) for r in f], ref))
    return curve


def plot_pareto(pd: dict[str, Any], figure, png) -> bytes:
    """Left: the scatter (2 objectives) or parallel coordinates (3+); right: hypervolume over time."""
    fig = figure(11, 4.4)
    ax, hv = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    names, pts = pd["names"], pd["points"]
    if len(names) == 2:
        _scatter(ax, names, pd["greater"], pts)
    else:
        _parallel(ax, names, pts)
    hv.plot(range(1, len(pd["hypervolume"]) + 1), pd["hypervolume"], color="#1f77b4", marker=".")
    hv.set_xlabel("configurations finished")
    hv.set_ylabel("hypervolume of the feasible front")
    hv.set_title("Hypervolume over time")
    hv.grid(alpha=0.3)
    fig.tight_layout()
    return png(fig)


def _scatter(ax, names, greater, pts) -> None:
    groups = (("infeasible", "#bbbbbb", lambda p: not p["feasible"]),
              ("dominated", "#1f77b4", lambda p: p["feasible"] and not p["front"]),
              ("Pareto front", "#d62728", lambda p: p["front"]))
    for label, color, keep in groups:
        sel = [p for p in pts if keep(p)]
        if sel:
            ax.scatter([p["values"][0] for p in sel], [p["values"][1] for p in sel], color=color, label=label,
                       s=28, zorder=3 if label == "Pareto front" else 2)
    f = sorted((p["values"] for p in pts if p["front"]), key=lambda v: v[0], reverse=greater[0])
    if len(f) > 1:
        ax.step([v[0] for v in f], [v[1] for v in f], where="post", color="#d62728", lw=1, alpha=0.6)
    ax.set_xlabel(f"{names[0]} ({'higher' if greater[0] else 'lower'} is better)")
    ax.set_ylabel(f"{names[1]} ({'higher' if greater[1] else 'lower'} is better)")
    ax.set_title("Objectives of each configuration")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def _parallel(ax, names, pts) -> None:
    cols = []
    for m in range(len(names)):
        xs = [p["values"][m] for p in pts]
        lo, hi = min(xs), max(xs)
        cols.append([(x - lo) / (hi - lo) if hi > lo else 0.5 for x in xs])
    for i, p in sorted(enumerate(pts), key=lambda t: t[1]["front"]):  # the front drawn last, on top
        color = "#d62728" if p["front"] else ("#1f77b4" if p["feasible"] else "#bbbbbb")
        ax.plot(range(len(names)), [c[i] for c in cols], color=color, alpha=0.8 if p["front"] else 0.4, lw=1.2)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8)
    ax.set_yticks([])
    ax.set_title("Objectives (each axis scaled to its range; red = front, grey = infeasible)")
