"""The report's page: :class:`~hyperspark.ops.report.data.ReportData` + PNGs -> ``report.html``.

The markup lives in two files shipped beside this module: ``template.html`` (the page, with its
stylesheet) and ``fragments.html`` (the pieces: tables, rows, figures). Both are filled with
:class:`string.Template`; :func:`fill` HTML-escapes every value except a :class:`Markup` (a fragment
already filled), so no text from a run (parameters, errors, metric names) reaches the page unescaped.
The page loads nothing from elsewhere: the images are inline ``data:`` URIs and a Content-Security-Policy
forbids everything else.
"""
from __future__ import annotations

import base64
import html
import json
import re
from functools import lru_cache
from importlib import resources
from string import Template
from typing import Any, Iterable

from hyperspark.ops.report.data import ReportData
from hyperspark.ops.report.plots import fmt

MAX_TABLE_ROWS = 200

#: (name, heading, caption) of each figure, in page order
SECTIONS = (
    ("pareto", "Pareto front (several objectives)",
     "Each finished configuration's objectives (red: the front, grey: infeasible); the feasible front's "
     "hypervolume as configurations finished."),
    ("history", "Optimization history",
     "Score of each configuration in the order they finished (its highest rung), with the best so far."),
    ("slices", "Parameters against the score",
     "One panel per parameter, its axis as the run's search space defines it (log, linear or categories)."),
    ("parallel", "Parallel coordinates", "One line per finished configuration, coloured by score."),
    ("importance", "Parameter importance", "Optuna's fANOVA evaluator on an in-memory study of the trials."),
    ("timeline", "Timeline per executor slot",
     "Each bar is one evaluation on the slot that ran it; hatched stretches are idle."),
    ("budget", "Score against budget (early stopping)",
     "One line per configuration across the rungs it reached; grey lines stopped early."),
)


class Markup(str):
    """HTML that is already safe (a filled template): :func:`fill` inserts it as it is."""


def _text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _fragments() -> dict[str, Template]:
    parts = re.split(r"^<!-- (\w+) -->\n", _text("fragments.html"), flags=re.M)
    return {name: Template(body.rstrip("\n")) for name, body in zip(parts[1::2], parts[2::2])}


def _escape(value: Any) -> str:
    return value if isinstance(value, Markup) else html.escape(str(value), quote=True)


def fill(template: str | Template, **values: Any) -> Markup:
    """A fragment (by name) or a Template filled with ``values``, each HTML-escaped unless Markup."""
    t = _fragments()[template] if isinstance(template, str) else template
    return Markup(t.substitute({k: _escape(v) for k, v in values.items()}))


def join(parts: Iterable[Markup], sep: str = "") -> Markup:
    return Markup(sep.join(_escape(p) for p in parts))


# --------------------------------------------------------------------------- tables
def cell(v: Any) -> Markup:
    """A value cell: numbers shown to 6 significant digits with the exact value in data-value (tests
    compare it); dicts and lists as JSON."""
    if isinstance(v, (dict, list)):
        return fill("text_cell", text=json.dumps(v, default=str))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return fill("num_cell", value=repr(v), shown=fmt(v))
    return fill("text_cell", text=fmt(v))


def kv_table(items: Iterable[tuple[str, Any]], cls: str = "") -> Markup:
    rows = [fill("kv_row", key=str(k), cell=cell(v)) for k, v in items]
    return fill("kv_table", cls=cls, rows=join(rows)) if rows else fill("kv_empty")


def _summary(rd: ReportData) -> Markup:
    s = rd.summary
    if s is None:
        return fill("no_summary")
    search, d = s.search, s.data
    early = ("" if s.early_stopping is None else fill(
        "early_stopping", table=kv_table(s.early_stopping.model_dump(exclude_none=True).items(), "early-stopping")))
    return fill(
        "summary",
        best=kv_table([("trial", s.best.trial_id), (f"cv {rd.metric}", s.cv_score), ("cv std", s.best.cv_std)],
                      "best"),
        params=kv_table(s.best_params.items(), "params"),
        test_metrics=kv_table(s.test_metrics.items(), "test-metrics"),
        timings=kv_table(s.timings.items(), "timings"),
        cost=kv_table(s.cost.model_dump(exclude_none=True).items(), "cost"),
        early_stopping=early,
        run=kv_table([("model", s.model), ("task", s.task), ("strategy", s.strategy), ("search", search.type),
                      ("configurations", search.trials), ("ok", search.ok), ("failed", search.failed),
                      ("resumed", search.resumed), ("cv folds", search.cv_folds), ("output", s.output_uri)], "run"),
        data=kv_table([("uri", d.uri), ("hash", d.hash), ("rows", d.rows), ("train rows", d.train_rows),
                       ("test rows", d.test_rows), ("label", d.label)], "data"),
        cluster=kv_table(s.cluster.model_dump(exclude_none=True).items(), "cluster"),
        versions=kv_table(s.versions.items(), "versions"))


def _figure_table(name: str, rd: ReportData) -> Markup | str:
    if name == "importance" and rd.importance:
        return kv_table(rd.importance.items(), "importance")
    if name == "timeline" and rd.timeline:
        return kv_table([(k, f"busy {v['busy_seconds']:.1f}s, idle {v['idle_seconds']:.1f}s, "
                             f"{len(v['trials'])} evaluations") for k, v in rd.timeline["slots"].items()], "slots")
    return ""


def _figures(rd: ReportData, pngs: dict[str, bytes]) -> Markup:
    return join((fill("figure", name=name, heading=heading, caption=caption,
                      png=base64.b64encode(pngs[name]).decode("ascii"), table=_figure_table(name, rd))
                 for name, heading, caption in SECTIONS if name in pngs), "\n")


def _trials(rd: ReportData) -> Markup:
    rows = []
    for i, h in enumerate(rd.ranked[:MAX_TABLE_ROWS], 1):
        status = "ok" if h["status"] == "ok" else fill("trial_error", status=h["status"],
                                                       error=(h["error"] or "")[:200])
        rows.append(fill("trial_row", cls="best" if h["trial_id"] == rd.best_id else "", n=i,
                         trial=h["trial_id"], score=cell(h["score"]), rung=h["rung"], status=status,
                         params=json.dumps(h["params"], sort_keys=True, default=str)))
    extra = len(rd.ranked) - MAX_TABLE_ROWS
    return fill("trials", metric=rd.metric, rows=join(rows, "\n"), more=fill("more", n=extra) if extra > 0 else "")


# --------------------------------------------------------------------------- the page
def render_html(rd: ReportData, pngs: dict[str, bytes], notes: list[str]) -> str:
    """The whole page (one string, UTF-8 when written)."""
    title = f"HyperSpark run {rd.run_id or ''}".strip()
    notes_html = fill("notes", items=join(fill("note", text=n) for n in notes)) if notes else ""
    return fill(
        Template(_text("template.html")), title=title, configurations=len(rd.history), rows=len(rd.trials),
        scored=sum(1 for h in rd.history if h["score"] is not None), metric=rd.metric,
        direction="higher" if rd.gib else "lower",
        no_summary="" if rd.summary else "; no summary.json (run unfinished or failed)",
        summary=_summary(rd), figures=_figures(rd, pngs), notes=notes_html, trials=_trials(rd))
