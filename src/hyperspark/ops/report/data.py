"""The report's data: typed trial rows + summary (+ the run's search space) -> what the report shows.

Pure functions, no files and no plotting. :func:`collect` gathers everything into a :class:`ReportData`;
its :meth:`ReportData.to_json` is the content ``hyperspark report --json`` prints.

Each parameter's axis (numeric or categorical, log or linear) comes from the run's own search space
(``spec.json`` -> ``spec.space``, read through :func:`hyperspark.space.parse_space`): a list or
``{choice: ...}`` is categorical (in the spec's order), ``{loguniform: ...}`` a log axis, ``{uniform: ...}``
and ``{int: ...}`` linear ones. Without a spec (an older run, or a parameter the space does not name) the
axis is read off the values themselves, always linear: integers, floats, or categories.
Ranking is the job's one rule (:mod:`hyperspark.job.protocol`).
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

from hyperspark.job.protocol import (RunSummary, TrialResult, better, final_rows, greater_is_better, one_line,
                                     rank_trials)
from hyperspark.space import Choice, Distribution, Int, Uniform, parse_space


# --------------------------------------------------------------------------- rows
def score_ok(r: TrialResult) -> bool:
    return r.ok and r.mean is not None and math.isfinite(r.mean)


def _finish_key(r: TrialResult, i: int) -> tuple:
    # finish order: end time when known, else the searcher's number, else the row's place in the file
    return (r.ended_at if r.ended_at is not None else math.inf,
            r.number if r.number is not None else math.inf, i)


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
        score = r.mean if score_ok(r) else None
        complete = _complete(r, max_rung) if r.ok else False
        if score is not None and complete and better(score, best, gib):
            best = score
        out.append({"order": pos, "trial_id": r.trial_id, "number": r.number, "rung": r.rung,
                    "budget": r.budget, "status": r.status, "complete": complete, "score": score,
                    "best_so_far": best, "ended_at": r.ended_at, "params": r.params, "error": r.error})
    return out


def ranked_history(trials: list[TrialResult], hist: list[dict[str, Any]], gib: bool) -> list[dict[str, Any]]:
    """The history entries best-first, by :func:`hyperspark.job.protocol.rank_trials` (a non-finite
    score ranks as a failure, as it is plotted)."""
    finals = [r if score_ok(r) else r.model_copy(update={"mean": None}) for r in final_rows(trials)]
    by_id = {h["trial_id"]: h for h in hist}
    return [by_id[r.trial_id] for r in rank_trials(finals, gib)]


# --------------------------------------------------------------------------- parameter axes
def plain_value(v: Any) -> Any:
    """A parameter value as a scalar Optuna/matplotlib can use (lists, dicts -> their JSON)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v, sort_keys=True)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class Axis:
    """One parameter's axis: its distribution (the spec's, else read off the values) and the values seen."""

    name: str
    dist: Distribution
    source: str  # "spec" (the run's spec.json) | "values" (no spec for it: linear, read off the rows)
    values: list[Any]  # the distinct values seen (plain): numbers sorted, categories in the choices' order
    in_every_row: bool  # a conditional parameter is absent from some rows

    @property
    def kind(self) -> str:
        return "categorical" if self.dist.kind == "choice" else ("int" if self.dist.kind == "int" else "float")

    @property
    def log(self) -> bool:
        return bool(self.dist.log)

    @property
    def varies(self) -> bool:
        return len(self.values) > 1

    @property
    def categories(self) -> list[Any]:
        """A categorical axis's ticks: every choice (plain), in the spec's order."""
        return [plain_value(c) for c in self.dist.choices or ()]

    def position(self, value: Any) -> float:
        """x position of a value: a number as it is, a category its index among the choices."""
        if self.kind != "categorical":
            return float(value)
        return float(self.categories.index(plain_value(value)))

    def to_optuna(self):
        return self.dist.to_optuna()

    def optuna_value(self, value: Any) -> Any:
        return self.dist.to_optuna_value(value)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "log": self.log, "source": self.source, "values": self.values,
                "varies": self.varies, "in_every_row": self.in_every_row}


def _from_values(vals: list[Any]) -> Distribution:
    """A linear axis read off the values (no spec says otherwise)."""
    if vals and all(_is_num(v) for v in vals):
        lo, hi = min(vals), max(vals)
        if all(isinstance(v, int) for v in vals):
            return Int(lo, hi)
        return Uniform(float(lo), float(hi))
    distinct: dict[Any, Any] = {}
    for v in vals:
        distinct.setdefault(plain_value(v), v)
    keys = sorted(distinct, key=lambda k: (type(k).__name__, str(k)))
    return Choice([distinct[k] for k in keys], form="choice")


def _fits(dist: Distribution, vals: list[Any]) -> bool:
    """Does the spec's distribution hold every value seen? (else the rows win: the axis is read off them)"""
    if dist.kind == "choice":
        known = {plain_value(c) for c in dist.choices or ()}
        return all(plain_value(v) in known for v in vals)
    if dist.kind == "int" and not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return False
    return all(_is_num(v) and dist.low <= v <= dist.high for v in vals)


def parse_run_space(space: Mapping[str, Any] | None) -> dict[str, Distribution]:
    """The run's ``spec.space`` -> distributions; {} without one or when it does not parse (an older spec)."""
    if not space:
        return {}
    try:
        return parse_space(space)
    except Exception:  # noqa: BLE001 - an unreadable space only costs the axes their spec
        return {}


def param_axes(rows: list[TrialResult], space: Mapping[str, Distribution] | None = None) -> dict[str, Axis]:
    """Per parameter seen in ``rows`` (in first-seen order): its axis. ``space``: the run's parsed search
    space (:func:`parse_run_space`); a parameter it names gets the spec's distribution."""
    space = space or {}
    names: list[str] = []
    values: dict[str, list[Any]] = {}
    for r in rows:
        for k, v in r.params.items():
            if k not in values:
                names.append(k)
                values[k] = []
            values[k].append(v)
    axes = {}
    for k in names:
        vals = values[k]
        spec = space.get(k)
        dist, source = (spec, "spec") if spec is not None and _fits(spec, vals) else (_from_values(vals), "values")
        if dist.kind == "choice":
            seen = {plain_value(v) for v in vals}
            distinct = [c for c in (plain_value(c) for c in dist.choices or ()) if c in seen]
        else:
            distinct = sorted(set(vals))
        axes[k] = Axis(k, dist, source, distinct, len(vals) == len(rows))
    return axes


# --------------------------------------------------------------------------- importance
def build_study(rows: list[TrialResult], gib: bool, axes: dict[str, Axis]):
    """An in-memory Optuna study holding ``rows`` (ok -> COMPLETE with the score, else FAIL)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if gib else "minimize")
    dists = {k: a.to_optuna() for k, a in axes.items()}
    for r in rows:
        params = {k: axes[k].optuna_value(v) for k, v in r.params.items() if k in dists}
        used = {k: dists[k] for k in params}
        if score_ok(r):
            t = create_trial(params=params, distributions=used, value=float(r.mean), state=TrialState.COMPLETE)
        else:
            t = create_trial(params=params, distributions=used, state=TrialState.FAIL)
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
        if sum(score_ok(r) for r in at) >= 3:
            return at, rung
    return [r for r in trials if r.rung == rungs[0]], rungs[0]


def importance_data(trials: list[TrialResult], gib: bool, space: Mapping[str, Distribution] | None = None
                    ) -> tuple[dict[str, float] | None, str | None, int | None]:
    """fANOVA importance per parameter, or why there is none; and the rung it was computed at."""
    rows, rung = importance_rows(trials)
    ok = [r for r in rows if score_ok(r)]
    axes = {k: a for k, a in param_axes(ok, space).items() if a.varies and a.in_every_row}
    if len(ok) < 2:
        return None, f"parameter importance needs 2 or more finished trials ({len(ok)} here)", rung
    if not axes:
        return None, "parameter importance: no parameter takes more than one value", rung
    if len({r.mean for r in ok}) < 2:
        return None, "parameter importance: every trial has the same score", rung
    try:
        import optuna
        from optuna.importance import FanovaImportanceEvaluator

        study = build_study(ok, gib, axes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = optuna.importance.get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except Exception as exc:  # noqa: BLE001 - importance is a nicety: the report goes on without it
        return None, f"parameter importance not computed: {type(exc).__name__}: {one_line(str(exc))}", rung
    return {k: float(v) for k, v in imp.items()}, None, rung


# --------------------------------------------------------------------------- timeline and budget
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


def _slot_data(rs: list[TrialResult], t0: float, t1: float) -> dict[str, Any]:
    busy, gaps, cursor = 0.0, [], t0
    for r in rs:
        if r.started_at > cursor:
            gaps.append([round(cursor - t0, 3), round(r.started_at - t0, 3)])
        busy += max(0.0, r.ended_at - max(r.started_at, cursor))
        cursor = max(cursor, r.ended_at)
    if t1 > cursor:
        gaps.append([round(cursor - t0, 3), round(t1 - t0, 3)])
    return {"trials": [{"trial_id": r.trial_id, "rung": r.rung, "status": r.status,
                        "start": round(r.started_at - t0, 3), "end": round(r.ended_at - t0, 3)} for r in rs],
            "busy_seconds": round(busy, 3),
            "idle_seconds": round(max(0.0, (t1 - t0) - busy), 3),
            "idle_gaps": gaps}


def timeline_data(trials: list[TrialResult]) -> dict[str, Any] | None:
    timed = [r for r in trials if r.started_at is not None and r.ended_at is not None]
    if not timed:
        return None
    t0 = min(r.started_at for r in timed)
    t1 = max(r.ended_at for r in timed)
    slots = assign_lanes(timed)
    out = {name: _slot_data(sorted(slots[name], key=lambda r: r.started_at), t0, t1) for name in sorted(slots)}
    return {"start": t0, "end": t1, "span_seconds": round(t1 - t0, 3), "slots": out,
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
            {"rung": r.rung, "budget": r.budget, "score": r.mean if score_ok(r) else None, "status": r.status,
             "decision": r.decision} for r in rs]})
    max_rung = max(r.rung for r in trials)
    return {"max_rung": max_rung, "configs": len(per),
            "reached_max_rung": sum(1 for c in curves if c["points"][-1]["rung"] == max_rung),
            "curves": curves}


# --------------------------------------------------------------------------- everything
@dataclass
class ReportData:
    """Everything the plots and the page show, computed once."""

    trials: list[TrialResult]
    summary: RunSummary | None
    metric: str
    gib: bool  # greater is better
    run_id: str | None
    history: list[dict[str, Any]]
    ranked: list[dict[str, Any]]  # the history entries best-first (the trials table)
    best_id: str | None  # the winner: the summary's, else the top of the ranking
    slice_rows: list[TrialResult]  # finished rows at the rung the slices and importance use
    slice_rung: int | None
    axes: dict[str, Axis]
    importance: dict[str, float] | None
    importance_why: str | None
    importance_rung: int | None
    timeline: dict[str, Any] | None
    budget: dict[str, Any] | None
    finished: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def varying(self) -> dict[str, Axis]:
        """The parameters that take more than one value and are set in every row (parallel coordinates)."""
        return {k: a for k, a in self.axes.items() if a.varies and a.in_every_row}

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "metric": self.metric, "greater_is_better": self.gib, "rows": len(self.trials),
            "configurations": len(self.history), "finished": self.finished,
            "failed": [{"trial_id": r.trial_id, "rung": r.rung, "error": r.error, "params": r.params}
                       for r in self.trials if r.status != "ok"],
            "history": self.history,
            "params": {k: a.describe() for k, a in self.axes.items()}, "params_rung": self.slice_rung,
            "importance": self.importance, "importance_rung": self.importance_rung,
            "timeline": self.timeline, "budget": self.budget,
            "summary": self.summary.model_dump(mode="json") if self.summary else None,
        }


def collect(trials: list[TrialResult], summary: RunSummary | None,
            space: Mapping[str, Any] | None = None) -> ReportData:
    """The report's data. ``space``: the run's ``spec.space`` (the spec's dict) when known."""
    dists = parse_run_space(space)
    metric = summary.metric if summary else "score"
    gib = summary.greater_is_better if summary else greater_is_better(metric)
    run_id = summary.run_id if summary else next((r.run_id for r in trials if r.run_id), None)
    hist = history_data(trials, gib)
    ranked = ranked_history(trials, hist, gib)
    top = ranked[0]["trial_id"] if ranked and ranked[0]["score"] is not None else None
    slice_rows, slice_rung = importance_rows(trials)
    slice_rows = [r for r in slice_rows if score_ok(r)]
    imp, why, imp_rung = importance_data(trials, gib, dists)
    return ReportData(
        trials=trials, summary=summary, metric=metric, gib=gib, run_id=run_id, history=hist, ranked=ranked,
        best_id=summary.best.trial_id if summary is not None else top,
        slice_rows=slice_rows, slice_rung=slice_rung, axes=param_axes(slice_rows, dists),
        importance=imp, importance_why=why, importance_rung=imp_rung,
        timeline=timeline_data(trials), budget=budget_data(trials),
        finished=sum(1 for r in final_rows(trials) if score_ok(r)))
