"""The report's entry points: read a run's files, build its report, write it (atomically, HTML last)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from hyperspark.job.protocol import RunSummary, TrialResult, one_line, parse_trials
from hyperspark.ops.model import OpsError
from hyperspark.ops.report.data import collect
from hyperspark.ops.report.html import render_html
from hyperspark.ops.report.plots import draw
from hyperspark.ops.util.files import write_atomic

IMAGE_NAMES = ("history", "slices", "parallel", "importance", "timeline", "budget", "pareto")

ReadText = Callable[[str], str]  # a Target's read_text(uri)


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


@dataclass
class RunFiles:
    """What a run directory holds for the report: its rows, its summary (None while the run is unfinished
    or after it failed) and its search space (the spec's ``space``; None when spec.json is not there)."""

    trials: list[TrialResult]
    summary: RunSummary | None
    space: dict[str, Any] | None


def read_trials(read_text: ReadText, output_uri: str) -> list[TrialResult]:
    """``<output_uri>/trials.jsonl`` as typed rows; unreadable or malformed -> OpsError (one line)."""
    uri = f"{output_uri.rstrip('/')}/trials.jsonl"
    try:
        return parse_trials(read_text(uri))
    except OpsError:
        raise
    except ValueError as exc:
        raise OpsError(f"{uri} is not valid trial rows: {one_line(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - storage errors become one line
        raise OpsError(f"cannot read {uri}: {one_line(exc)}") from exc


def read_space(read_text: ReadText, output_uri: str) -> dict[str, Any] | None:
    """The run's search space from ``<output_uri>/spec.json`` (the job writes it first); None without one."""
    try:
        space = json.loads(read_text(f"{output_uri.rstrip('/')}/spec.json"))["spec"]["space"]
    except Exception:  # noqa: BLE001 - no spec (an older run): axes are read off the values
        return None
    return space if isinstance(space, dict) else None


def read_run(read_text: ReadText, output_uri: str) -> RunFiles:
    """A run's files through ``read_text(uri)`` (a Target's). Unreadable or malformed trials or summary
    raise OpsError (one line); a missing summary or spec is None."""
    base = output_uri.rstrip("/")
    trials = read_trials(read_text, base)
    space = read_space(read_text, base)
    try:
        text = read_text(f"{base}/summary.json")
    except Exception:  # noqa: BLE001 - no summary (yet): report the trials alone
        return RunFiles(trials, None, space)
    try:
        return RunFiles(trials, RunSummary.model_validate_json(text), space)
    except ValueError as exc:
        raise OpsError(f"{base}/summary.json is not a run summary: {one_line(exc)}") from exc


def default_out_dir(output_uri: str, state_root: Path) -> Path:
    """``<output>/<run_id>/report`` when the run dir is on this machine, else ``<state>/reports/<run_id>``."""
    base = output_uri.rstrip("/")
    parsed = urlparse(base)
    if parsed.scheme in ("", "file") and Path(parsed.path).is_dir():
        return Path(parsed.path) / "report"
    return Path(state_root) / "reports" / base.rsplit("/", 1)[-1]


def build_report(trials: list[TrialResult], summary: RunSummary | None, out_dir: Path,
                 space: dict[str, Any] | None = None) -> ReportResult:
    """Write ``report.html`` and its PNGs into ``out_dir`` (created); return what was written.
    ``space``: the run's ``spec.space`` (each parameter's axis comes from it when given)."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OpsError(f"cannot create the report folder {out_dir}: {one_line(exc)}") from exc
    rd = collect(trials, summary, space)
    pngs, notes = draw(rd)
    images: dict[str, Path] = {}
    for name in IMAGE_NAMES:
        path = out_dir / f"{name}.png"
        if name in pngs:
            write_atomic(path, pngs[name])
            images[name] = path
        elif path.exists():  # a previous report's image that this one does not have would mislead
            path.unlink()
    html_path = write_atomic(out_dir / "report.html", render_html(rd, pngs, notes).encode("utf-8"))
    return ReportResult(out_dir=out_dir, html=html_path, images=images, data=rd.to_json(), notes=notes)


def build_run_report(read_text: ReadText, output_uri: str, out_dir: Path | None, state_root: Path) -> ReportResult:
    """Read a run's files through a target's ``read_text`` and write its report (default folder:
    :func:`default_out_dir`)."""
    run = read_run(read_text, output_uri)
    return build_report(run.trials, run.summary, out_dir or default_out_dir(output_uri, state_root), run.space)
