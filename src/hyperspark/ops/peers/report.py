"""The peers table: medians with min-max over repeats per (workload, tool), as JSON, Markdown and a rich
table, and the anytime curves (best score so far against wall seconds, one line per tool) as PNG.

Cells: null trials -> wall s, efficiency (ideal / wall, ideal = trials x seconds / slots) and overhead ms
per trial per slot ((wall x slots - trials x seconds) / trials); the HGB search -> wall s for all trials and
the best CV AUC; successive halving -> per repeat the target is the lowest best score any tool reached,
and each tool's wall seconds and CPU seconds (all evaluations, by the workload's own process clock) until
its first full-budget result at or above it. A tool that cannot run a workload: its one-line reason.
"""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

from hyperspark.ops.util.files import write_atomic


def _spread(xs: list[float], fmt: str) -> str:
    if not xs:
        return "-"
    m = statistics.median(xs)
    return f"{m:{fmt}}" if len(xs) == 1 else f"{m:{fmt}} ({min(xs):{fmt}}-{max(xs):{fmt}})"


def _reach(rec: dict, target: float) -> tuple[float, float] | None:
    t = next((t for t, b in rec["curve"] if b >= target - 1e-12), None)
    if t is None:
        return None
    cpu = max((c for s, c in rec["costs"] if s <= t + 1e-9), default=0.0)
    return t, cpu


def add_targets(records: list[dict]) -> None:
    """Successive halving: the per-repeat target and each tool's time and CPU to reach it (in place)."""
    by_rep = defaultdict(list)
    for r in records:
        if r["workload"] == "asha" and r["ok"] and r["best"] is not None:
            by_rep[r["repeat"]].append(r)
    for recs in by_rep.values():
        target = min(r["best"] for r in recs)
        for r in recs:
            hit = _reach(r, target)
            r["extra"].update(target=target, reach_s=hit and hit[0], reach_cpu_s=hit and hit[1])


def _cell(workload: str, recs: list[dict]) -> dict:
    ok = [r for r in recs if r["ok"]]
    if not ok:
        return {"text": f"n/a: {recs[0]['reason']}", "ok": False}
    wall = [r["wall_s"] for r in ok]
    cell = {"ok": True, "repeats": len(ok), "wall_s": statistics.median(wall), "wall": _spread(wall, ".1f")}
    if workload.startswith("null"):
        n, s, slots = ok[0]["trials"], ok[0]["seconds"], ok[0]["slots"]
        eff = [n * s / slots / w for w in wall]
        ovh = [1000 * (w * slots - n * s) / n for w in wall]
        cell.update(efficiency=statistics.median(eff), overhead_ms=statistics.median(ovh),
                    text=f"{_spread(wall, '.1f')} s; eff {_spread(eff, '.3f')}; {_spread(ovh, '.0f')} ms/trial/slot")
    elif workload == "asha":
        rs = [r["extra"].get("reach_s") for r in ok if r["extra"].get("reach_s") is not None]
        rc = [r["extra"].get("reach_cpu_s") for r in ok if r["extra"].get("reach_cpu_s") is not None]
        best = [r["best"] for r in ok if r["best"] is not None]
        cell.update(reach_s=rs and statistics.median(rs), reach_cpu_s=rc and statistics.median(rc),
                    best=best and statistics.median(best),
                    text=f"to target {_spread(rs, '.1f')} s, {_spread(rc, '.0f')} CPU s; all {_spread(wall, '.1f')} s; "
                         f"best {_spread(best, '.4f')}")
    else:
        best = [r["best"] for r in ok if r["best"] is not None]
        cpu = [r["cpu_s"] for r in ok]
        cell.update(best=best and statistics.median(best), cpu_s=statistics.median(cpu),
                    text=f"{_spread(wall, '.1f')} s; best {_spread(best, '.4f')}; {_spread(cpu, '.0f')} CPU s")
    return cell


def table(result: dict) -> dict:
    """{workload: {tool: cell}} in run order."""
    add_targets(result["records"])
    groups = defaultdict(list)
    for r in result["records"]:
        groups[(r["workload"], r["tool"])].append(r)
    out: dict = {}
    for (w, t), recs in groups.items():
        out.setdefault(w, {})[t] = _cell(w, recs)
    return out


def _label(w: str, result: dict) -> str:
    p = result["plan"]
    slots = p["workers"] * p["cores"]
    if w.startswith("null"):
        n = next(r["trials"] for r in result["records"] if r["workload"] == w)
        return f"{w} ({n} trials, {slots} slots)"
    n = p["asha_trials"] if w == "asha" else p["trials"]
    return f"{w} ({n} trials, {p['rows']} rows, {p['fit_slots']} at once)"


def markdown(result: dict, tab: dict) -> str:
    import time

    tools = list(dict.fromkeys(t for cells in tab.values() for t in cells))
    p = result.get("plan", {})
    lines = [f"`{result.get('command', 'benchmarks/peers.py')}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(result.get('started', 0)))}"
             f"{' (PARTIAL: the run was stopped)' if result.get('partial') else ''}: {p.get('workers')} workers x "
             f"{p.get('cores')} declared cores on {result.get('cpus')} real cores, median (min-max) of "
             f"{len({r['repeat'] for r in result['records']})} repeats, load average (1, 5, 15 min) before {result.get('load_before')}, after "
             f"{result.get('load_after')}.", "",
             "| workload | " + " | ".join(tools) + " |", "|---|" + "---|" * len(tools)]
    for w, cells in tab.items():
        lines.append(f"| {_label(w, result)} | " + " | ".join(cells.get(t, {}).get("text", "-") for t in tools) + " |")
    return "\n".join(lines) + "\n"


def rich_table(result: dict, tab: dict):
    from rich.table import Table

    tools = list(dict.fromkeys(t for cells in tab.values() for t in cells))
    t = Table(title=f"HyperSpark against the peers: median (min-max) of {result['plan']['repeats']} repeats")
    t.add_column("workload")
    for tool in tools:
        t.add_column(tool, overflow="fold")
    for w, cells in tab.items():
        t.add_row(_label(w, result), *(cells.get(x, {}).get("text", "-") for x in tools))
    return t


def plot(result: dict, path: Path) -> Path | None:
    """Best CV AUC so far against wall seconds, the HGB searches, each tool's first repeat."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in result["records"] if r["ok"] and r["workload"] != "asha" and not r["workload"].startswith("null")
            and r["repeat"] == 0 and r["curve"]]
    if not recs:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = {}
    for r in recs:
        c = colors.setdefault(r["tool"], f"C{len(colors)}")
        xs, ys = zip(*r["curve"])
        ax.step(xs, ys, where="post", color=c, linestyle="-" if r["workload"].endswith("tpe") else "--",
                label=f"{r['tool']} {r['workload'][4:]}")
    ax.set_xlabel("wall seconds since the search call")
    ax.set_ylabel("best 3-fold CV ROC AUC so far")
    ax.set_title(f"Anytime curve: HistGradientBoosting, {result['plan']['rows']} x 30 rows (repeat 0)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def write(result: dict, out: Path) -> dict:
    """<out>.json (everything), <out>.md (the table), <out>-anytime.png; returns the table."""
    tab = table(result)
    result["table"] = tab
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out.with_suffix(".json"), json.dumps(result, indent=1) + "\n")
    write_atomic(out.with_suffix(".md"), markdown(result, tab))
    plot(result, out.with_name(out.name + "-anytime.png"))
    return tab
