"""The run report: a self-contained ``report.html`` (images inline as data URIs) plus its PNGs.

A library, no Click. :func:`build_report` takes the typed rows of ``trials.jsonl``, the run's
``summary.json`` (None while a run is unfinished or failed) and its search space (``spec.json``'s
``spec.space``, which gives each parameter's axis) and writes into ``out_dir``:

* ``history.png``: score per configuration in finish order, with the best so far;
* ``slices.png``: each parameter against the score; ``parallel.png`` for 3+ parameters;
* ``importance.png``: parameter importance from Optuna's fANOVA evaluator on an in-memory study;
* ``timeline.png``: trials per executor slot over time (idle gaps are the empty stretches);
* ``budget.png``: score against budget per configuration, for early-stopped runs (rows with rung > 0);
* ``report.html``: all of the above plus the summary (best params, held-out metrics, phases,
  core-seconds, data hash, versions) and the trials, best first.

Every file is written under a temporary name and renamed; the HTML last. Nothing in the page loads
anything from elsewhere (no scripts, no stylesheets, no remote images). Plots degrade to a note when
there is nothing to draw (one trial, every trial failed, no numeric parameter, no timestamps).
:attr:`ReportResult.data` is the same content as plain JSON (``hyperspark report --json``).

Modules: :mod:`.data` (rows -> the report's data), :mod:`.plots` (figures -> PNG), :mod:`.html` (the page,
from ``template.html`` and ``fragments.html``), :mod:`.build` (read a run, write the files).
"""
from __future__ import annotations

from hyperspark.job.protocol import final_rows
from hyperspark.ops.report.build import (ReportResult, RunFiles, build_report, build_run_report, default_out_dir,
                                         read_run, read_space, read_trials)
from hyperspark.ops.report.data import (Axis, ReportData, budget_data, build_study, collect, history_data,
                                        importance_data, param_axes, timeline_data)

__all__ = ["ReportResult", "RunFiles", "build_report", "build_run_report", "read_run", "read_trials", "read_space",
           "default_out_dir", "ReportData", "collect", "Axis", "param_axes", "build_study", "history_data",
           "timeline_data", "budget_data", "importance_data", "final_rows"]
