"""Render target results for people (rich tables) or scripts (``--json`` on stdout).

Every command produces one structured result; this module is the only place
that decides how it looks: results (``render_*``), live lines on stderr (:class:`DriverSink` for the
job's progress, :func:`info`), and the demo's steps (:class:`DemoView`). Rich consoles are created per
call so that they write to whatever ``sys.stdout`` is at that moment (CliRunner swaps it). Ranking is the
job's one rule (:func:`hyperspark.job.protocol.rank_trials`); :func:`rank_trials` only marks the winner.
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
from typing import TYPE_CHECKING, Any, Iterable

import click
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hyperspark.job.protocol import (PROGRESS_PREFIX, RESULT_PREFIX, ProgressEvent, RunSummary, TrialResult,
                                     greater_is_better, pick_best, rank_trials as _rank)
from hyperspark.ops.model import Check, ClusterStatus, SubmitResult, UploadResult

if TYPE_CHECKING:
    from hyperspark.ops.report import ReportResult


def console(stderr: bool = False) -> Console:
    """A console on the current stdout/stderr; wide when piped, so tables are not cut to 80 columns."""
    file = sys.stderr if stderr else sys.stdout
    width = None if getattr(file, "isatty", lambda: False)() else 200
    return Console(file=file, highlight=False, soft_wrap=True, width=width)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses and the job's pydantic models (at any depth) -> plain JSON values."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(o) for o in obj]
    return obj


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, default=str) + "\n")


# -- status --------------------------------------------------------------------
def render_status(st: ClusterStatus) -> None:
    c = console()
    alive = len(st.alive_workers)
    gpus = sum(w.gpus.count for w in st.alive_workers)
    c.print(f"[bold]{st.target}[/] master {st.master_url}  state [bold]{st.master_state}[/]  "
            f"workers ALIVE: {alive}/{len(st.workers)}" + (f"  GPUs: {gpus}" if gpus else ""))
    if st.workers:
        with_gpus = any(w.gpus.count for w in st.workers)  # the column only on a cluster with GPUs
        t = Table("worker", "host", "cores", "used", *(["GPUs used/all (addresses)"] if with_gpus else []),
                  "memory MB", "state", "pid", "UI", title="Workers")
        for w in st.workers:
            gpus = [f"{len(w.gpus.used)}/{w.gpus.count} ({','.join(w.gpus.addresses)})" if w.gpus.count else "0"]
            t.add_row(w.id, w.host, str(w.cores), str(w.cores_used), *(gpus if with_gpus else []),
                      str(w.memory_mb), w.state, str(w.pid or ""), w.ui_url or "")
        c.print(t)
    apps = [("running", a) for a in st.active_apps] + [("finished", a) for a in st.completed_apps]
    if apps:
        t = Table("app", "name", "state", "cores", "duration s", "", title="Applications")
        for kind, a in apps:
            dur = f"{a.duration_ms / 1000:.1f}" if a.duration_ms is not None else ""
            t.add_row(a.id, a.name, a.state, str(a.cores), dur, kind)
        c.print(t)
    if st.storage is not None:
        s = st.storage
        bits = [f"{s.kind} {s.uri}"]
        if s.live_datanodes is not None:
            bits.append(f"live DataNodes {s.live_datanodes}")
        if s.safemode is not None:
            bits.append(f"safe mode {'ON' if s.safemode else 'off'}")
        if s.replication is not None:
            bits.append(f"replication {s.replication}")
        if s.writable is not None:
            bits.append("writable" if s.writable else "NOT writable")
        if s.detail:
            bits.append(s.detail)
        c.print("storage: " + ", ".join(bits))
    if st.warm_driver is not None:
        w = st.warm_driver
        c.print(f"warm driver: up, pid {w.pid}, {w.address}, app {w.app_id}" if w.running else
                "warm driver: not running (submits start a fresh driver; `hyperspark up --warm` starts one)")
    if st.connect is not None:
        k = st.connect
        c.print(f"spark connect: up, pid {k.pid}, {k.url}" if k.running else
                "spark connect: not running (`hyperspark up --connect` starts one)")
    render_urls(st.urls)
    render_attach(st.attach)


def render_attach(attach: dict[str, str]) -> None:
    """The exact lines a notebook runs to attach to the cluster (plain text: copied as they are)."""
    titles = {"classic": "attach a notebook (a driver in the notebook; executors run the cluster's Python):",
              "connect": "attach a notebook over Spark Connect (needs pip install 'hyperspark[connect]'):"}
    for kind, lines in attach.items():
        click.echo(titles.get(kind, f"attach ({kind}):"))
        for line in lines.splitlines():
            click.echo(f"    {line}")


def render_urls(urls: dict[str, str]) -> None:
    c = console()
    for name, url in urls.items():
        c.print(f"  {name:<10} {url}")


# -- checks, down, upload ---------------------------------------------------------
def render_checks(checks: Iterable[Check]) -> None:
    c = console()
    for ch in checks:
        mark = "[green]OK  [/]" if ch.ok else "[red]FAIL[/]"
        c.print(f"{mark} {ch.name:<16} {ch.detail}")


def render_down(stopped: list[str], purged: bool) -> None:
    c = console()
    c.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    if purged:
        c.print("state and data purged")


def render_upload(r: UploadResult) -> None:
    mb = r.bytes / 1e6
    console().print(f"uploaded {r.src} -> {r.dest} ({mb:.2f} MB, sha256 {r.checksum[:12]}…, {r.seconds:.1f}s)")


# -- submit ---------------------------------------------------------------------
def progress_text(event: ProgressEvent) -> str:
    if event.budget is not None:  # early stopping: evaluations outnumber configurations
        parts = [f"trials {event.configs}/{event.total}", f"evaluations {event.done}",
                 f"last rung {event.rung} (budget {event.budget})", f"pruned {event.pruned}"]
    else:
        parts = [f"trials {event.done}/{event.total}"]
    if event.failed:
        parts.append(f"failed {event.failed}")
    if event.front is not None:  # several objectives: the Pareto front's size, not one best
        parts.append(f"front {event.front}")
    elif event.best is not None:
        parts.append(f"best {_fmt(event.best)}")
    if event.infeasible:
        parts.append(f"infeasible {event.infeasible}")
    if event.eta_s is not None:
        parts.append(f"eta {event.eta_s:.0f}s")
    return "  ".join(parts)


def early_stopping_text(summary: RunSummary) -> str | None:
    es = summary.early_stopping
    if es is None:
        return None
    saved = ""
    if es.core_seconds_saved is not None and es.full_budget_core_seconds_estimate:
        pct = 100 * es.core_seconds_saved / es.full_budget_core_seconds_estimate
        saved = f", {es.core_seconds_saved:.1f} core-s saved ({pct:.0f}%) against full budgets"
    rungs = ", ".join(f"{b}: {n}" for b, n in zip(es.rungs, es.per_rung))
    return (f"{es.type} on {es.resource}: evaluations per budget {{{rungs}}}, {es.pruned} pruned, "
            f"{es.busy_core_seconds:.1f} busy core-s{saved}")


def render_submit(r: SubmitResult) -> None:
    c = console()
    c.print(f"run [bold]{r.run_id}[/] finished in {r.seconds:.1f}s -> {r.output_uri}")
    best = r.summary or r.result  # the summary when it could be read back, else the RESULT line
    if best is None:
        return
    c.print(f"best CV {best.metric}: {_fmt(best.cv_score)}")
    c.print("best params: " + json.dumps(best.best_params, sort_keys=True))
    if best.test_metrics:
        c.print("test metrics: " + ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(best.test_metrics.items())))
    if r.summary is not None and (text := early_stopping_text(r.summary)):
        c.print(text)


# -- results ------------------------------------------------------------------------
class RankedTrial(TrialResult):
    """A trial row with its place in the ranking: ``best`` marks exactly the winner."""

    best: bool = False
    pareto: bool = False  # several objectives: on the summary's Pareto front (at its budget)


def rank_trials(trials: list[TrialResult], summary: RunSummary | None = None,
                metric: str | None = None) -> list[RankedTrial]:
    """Trials best-first by the job's one ranking rule (:func:`hyperspark.job.protocol.rank_trials`:
    higher rungs first, then the score in the metric's direction, failures last); ``best`` is True for
    exactly the winner.

    The winner is the summary's best trial at its (full) budget when there is a summary (older summaries:
    the trial whose params equal ``best_params``), else :func:`~hyperspark.job.protocol.pick_best` at the
    highest rung reached. ``metric`` (default: the summary's) decides the direction.
    """
    metric = metric or (summary.metric if summary else "")
    gib = (summary.greater_is_better if summary is not None else True) and greater_is_better(metric)
    ranked = [RankedTrial(**t.model_dump()) for t in _rank(trials, gib)]
    winner = None
    if summary is not None:
        winner = next((t for t in ranked if t.trial_id == summary.best.trial_id
                       and t.budget == summary.best.budget), None)
        if winner is None:
            winner = next((t for t in ranked if t.params == summary.best_params), None)
    if winner is None:
        scored = [t for t in ranked if t.ok and not math.isnan(t.mean)]
        winner = pick_best(scored, gib, max((t.rung for t in scored), default=0))
    if winner is not None:
        winner.best = True
    front = {(p.trial_id, p.budget) for p in (summary.pareto or [])} if summary is not None else set()
    for t in ranked:
        t.pareto = (t.trial_id, t.budget) in front
    return ranked


def render_results(run_id: str, ranked: list[RankedTrial], summary: RunSummary | None) -> None:
    c = console()
    metric = summary.metric if summary else "score"
    rungs = any(tr.budget is not None for tr in ranked)
    cols = ["", "trial", "params", f"mean {metric}", "std", "fit s", "executor", "status"]
    if rungs:
        cols[3:3] = ["rung", "budget", "decision"]
    t = Table(*cols, title=f"Run {run_id}: {len(ranked)} {'evaluations' if rungs else 'trials'}")
    for tr in ranked:
        mark = ("*" if tr.best else "") + ("P" if tr.pareto else "")  # P: on the Pareto front
        cells = [mark, tr.trial_id, json.dumps(tr.params, sort_keys=True, separators=(",", ":")),
                 _fmt(tr.mean), _fmt(tr.std), _fmt(tr.fit_seconds), tr.executor_id or "", tr.status]
        if rungs:
            cells[3:3] = [str(tr.rung), _fmt(tr.budget), tr.decision or ""]
        t.add_row(*(escape(c) for c in cells))  # the run's data, never rich markup
    c.print(t)
    if summary is not None:
        s = summary.search
        bounded = ", ".join(f"{n} {w}" for n, w in ((s.timed_out, "timed out"), (s.lost, "lost")) if n)
        c.print(escape(f"search: {s.type}, {s.configs} configurations, seed {s.seed}"
                       + (f", {s.failed} failed" + (f" ({bounded})" if bounded else "") if s.failed else "")
                       + (f", stopped by {s.stopped}" if s.stopped else "")))
        if text := early_stopping_text(summary):
            c.print(text)
        if summary.pareto is not None:
            names = ", ".join(o["metric"] for o in summary.objectives or [])
            c.print(f"P: the Pareto front over {names} ({len(summary.pareto)} configurations, feasible only)")
    if summary and summary.test_metrics:
        c.print("test metrics of the best model: "
                + ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(summary.test_metrics.items())))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "" if v is None else str(v)


# -- report, bench ---------------------------------------------------------------------------
def render_report(result: ReportResult) -> None:
    """``hyperspark report``: why sections were left out (stderr), then the page's path."""
    for note in result.notes:
        click.echo(f"  note: {note}", err=True)
    click.echo(f"report: {result.html}")


def _num(v: Any, fmt: str = "{:.2f}") -> str:
    return "" if v is None else fmt.format(v)


def render_bench(rep: dict) -> None:
    """The strong-scaling report of :func:`hyperspark.ops.bench.run_bench`."""
    c = console()
    driver = rep.get("driver", "cold")
    cold = {r["workers"]: r for r in rep.get("cold_whole") or []}
    cols = ["N", "search median s", "min-max", "speedup", "efficiency", "Karp-Flatt", f"whole median s ({driver})"]
    t = Table(*cols, *(["whole s (cold)"] if cold else []),
              title=f"strong scaling ({rep['target']}, {driver} driver)")
    whole = {r["workers"]: r for r in rep["spark_whole"]}
    for r in rep["spark_search"]:
        extra = [_num(cold.get(r["workers"], {}).get("median"))] if cold else []
        t.add_row(str(r["workers"]), _num(r["median"]), f"{_num(r['min'])}-{_num(r['max'])}", _num(r["speedup"]),
                  _num(r["efficiency"]), _num(r["karp_flatt"], "{:.3f}"),
                  _num(whole.get(r["workers"], {}).get("median")), *extra)
    c.print(t)
    if rep["joblib_search"]:
        b = Table("n_jobs", "search median s", "speedup", "whole median s", title="joblib baseline (one process)")
        jwhole = {r["workers"]: r for r in rep.get("joblib_whole") or []}
        for r in rep["joblib_search"]:
            b.add_row(str(r["workers"]), _num(r["median"]), _num(r["speedup"]),
                      _num(jwhole.get(r["workers"], {}).get("median")))
        c.print(b)
    c.print(f"Amdahl p = {_num(rep['amdahl_p'], '{:.3f}')}")
    for k, v in rep["targets"].items():
        c.print(f"{k}: {v['value']:.3f} (target {v['target']})")
    c.print(f"report: {rep.get('artefacts', {}).get('report_md', 'report.md')}  "
            f"plot: {rep.get('artefacts', {}).get('plot', 'speedup.png')}")


def render_null_bench(rep: dict) -> None:
    """The overhead report of :func:`hyperspark.ops.bench.run_null_bench`, one line."""
    click.echo(f"{rep['trials']} null trials of {rep['trial_seconds']:g}s on {rep['slots']} slots: "
               f"search {rep['search_wall_s']:.1f}s (ideal {rep['ideal_s']:.1f}s), efficiency "
               f"{rep['efficiency']}, overhead {rep['overhead_ms_per_trial_per_slot']} ms per trial per "
               f"slot, idle slots {rep['idle_slot_fraction']}, driver CPU "
               f"{rep['driver_cpu_ms_per_trial']} ms per trial -> {rep['report']}")


# -- live output ----------------------------------------------------------------------------
def info(text: str) -> None:
    """A line for people on stderr (progress, notes, warnings): stdout stays the result."""
    click.echo(text, err=True)


def indented(text: str) -> None:
    info(f"  {text}")


class DriverSink:
    """Receives driver lines: progress to stderr, Spark noise only with -v (the job's RESULT and
    error lines are parsed by the submit path, :mod:`hyperspark.ops.targets.submit`)."""

    def __init__(self, verbose: bool, quiet: bool) -> None:
        self.verbose = verbose
        self.quiet = quiet
        self._last_progress = ""

    def __call__(self, line: str) -> None:
        if line.startswith(PROGRESS_PREFIX):
            try:
                event = ProgressEvent.model_validate_json(line[len(PROGRESS_PREFIX):])
            except ValueError:
                return
            text = progress_text(event)
            if not self.quiet and text != self._last_progress:
                indented(text)
            self._last_progress = text
        elif self.verbose and not line.startswith(RESULT_PREFIX):
            info(line)


class DemoView:
    """How ``hyperspark demo`` shows its steps (:class:`hyperspark.ops.demo.DemoView`)."""

    step = staticmethod(info)
    line = staticmethod(indented)
    status = staticmethod(render_status)
    upload = staticmethod(render_upload)
    submit = staticmethod(render_submit)
    bench = staticmethod(render_bench)

    @staticmethod
    def down(stopped: list[str]) -> None:
        render_down(stopped, purged=False)
