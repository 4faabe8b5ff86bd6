"""The ``hyperspark`` command: a thin Click layer over :mod:`hyperspark.ops.targets`.

Commands parse arguments, call one Target method, and render its dataclass
result (rich tables, or JSON with ``--json``). Library failures are
:class:`OpsError` and come out as ONE line ``Error: ...`` with exit code 1;
usage mistakes are Click usage errors (exit 2). Heavy modules (pyspark, docker,
kubernetes, matplotlib, sklearn) are imported only inside the commands that
need them, so ``--help`` stays fast.
"""
from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from hyperspark.ops import __version__
from hyperspark.ops.model import OpsError
from hyperspark.ops.targets.base import Target
from hyperspark.ops.targets.registry import target_names

MEMORY_RE = re.compile(r"^\d+[kKmMgGtT]?$")


class ExitError(click.ClickException):
    """A one-line failure with a chosen exit code (the job's own 1 or 2)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class OpsGroup(click.Group):
    """Turns every OpsError raised below into one ``Error: ...`` line, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OpsError as exc:
            raise click.ClickException(str(exc)) from None

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """Like Click's standalone mode, but a usage error is ONE line (with the help hint on it)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `hyperspark`: show the help
                click.echo(exc.format_message())
                sys.exit(0)
            hint = ""
            if exc.ctx is not None:
                hint = f" (try '{exc.ctx.command_path} --help')"
            click.echo(f"Error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt, EOFError):
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 - the last resort: one line, the traceback in a log
            sys.exit(_unexpected(exc, args if args is not None else sys.argv[1:]))
        sys.exit(rv if isinstance(rv, int) else 0)


def _unexpected(exc: BaseException, args: Any) -> int:
    """An exception nobody turned into a message: ONE line naming it and a log holding the traceback
    (``--debug`` or HYPERSPARK_DEBUG=1 prints the traceback here instead). Exit 1."""
    import os
    import time
    import traceback

    text = "".join(traceback.format_exception(exc))
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if "--debug" in list(args or []) or os.environ.get("HYPERSPARK_DEBUG", "") not in ("", "0"):
        click.echo(text.rstrip(), err=True)
        click.echo(f"Error: unexpected {what}", err=True)
        return 1
    log = None
    for folder in (Path(os.environ.get("HYPERSPARK_STATE_DIR") or Path.home() / ".hyperspark") / "crash",
                   Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            log = folder / f"hyperspark-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
            log.write_text(f"hyperspark {' '.join(map(str, args or []))}\n\n{text}")
            break
        except OSError:
            log = None
    where = f"traceback in {log}" if log else "the traceback could not be saved"
    click.echo(f"Error: unexpected {what} ({where}; rerun with --debug to see it here)", err=True)
    return 1


@dataclass
class Context:
    target_name: str
    state_dir: Path | None
    _target: Target | None = field(default=None, repr=False)

    def target(self) -> Target:
        if self._target is None:
            from hyperspark.ops.targets.registry import get_target

            self._target = get_target(self.target_name, self.state_dir)
        return self._target

    def runs_state(self):
        """Where ``runs.json`` lives for this target: run ids recorded by ``submit``."""
        from hyperspark.ops.state import StateDir, default_state_dir

        return StateDir(self.state_dir or default_state_dir(self.target_name))


pass_ctx = click.make_pass_decorator(Context)

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")


@click.group(cls=OpsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--target", "target_name", envvar="HYPERSPARK_TARGET", default="local", show_default=True,
    metavar="|".join(target_names()), help="Which cluster flavour to drive [env HYPERSPARK_TARGET].",
)
@click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), envvar="HYPERSPARK_STATE_DIR",
    help="State dir (pids, logs, ports, runs) [default ~/.hyperspark/<target>; env HYPERSPARK_STATE_DIR].",
)
@click.option("--debug", is_flag=True, envvar="HYPERSPARK_DEBUG",
              help="On an unexpected error, print the traceback instead of saving it to a log.")
@click.version_option(__version__, prog_name="hyperspark")
@click.pass_context
def cli(ctx: click.Context, target_name: str, state_dir: Path | None, debug: bool) -> None:
    """Distributed hyperparameter tuning on a real Spark cluster (local, compose or k8s)."""
    ctx.obj = Context(target_name=target_name, state_dir=state_dir)


# -- lifecycle ------------------------------------------------------------------
def _memory(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not MEMORY_RE.match(value):
        raise click.BadParameter(f"{value!r} is not a memory size like 512m or 2g")
    return value


@cli.command()
@click.option("-w", "--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker count.")
@click.option("--worker-cores", type=click.IntRange(min=1), default=1, show_default=True, help="Cores per worker.")
@click.option("--worker-memory", default="1g", show_default=True, callback=_memory, help="Memory per worker.")
@click.option("--master-port", type=click.IntRange(1, 65535), envvar="HYPERSPARK_MASTER_PORT",
              help="Master RPC port [default 7077; env HYPERSPARK_MASTER_PORT].")
@click.option("--ui-port", type=click.IntRange(1, 65535), envvar="HYPERSPARK_MASTER_UI_PORT",
              help="Master UI port [default 8080; env HYPERSPARK_MASTER_UI_PORT].")
@click.option("--worker-ui-port", type=click.IntRange(1, 65535), envvar="HYPERSPARK_WORKER_UI_PORT",
              help="First worker UI port, one per worker upwards [default 8081].")
@click.option("--history-ui-port", type=click.IntRange(1, 65535), envvar="HYPERSPARK_HISTORY_UI_PORT",
              help="Spark history server UI port [default 18080; env HYPERSPARK_HISTORY_UI_PORT].")
@click.option("--mlflow", is_flag=True, default=None,
              help="Local target: also run a managed MLflow tracking server (`status` lists its URL). On "
                   "compose: `docker compose --profile tracking up -d mlflow`.")
@click.option("--hdfs/--no-hdfs", default=None,
              help="Also run a real HDFS for storage [default: when HADOOP_HOME is set].")
@click.option("--warm", is_flag=True,
              help="Local target: also start a warm tuning driver (one SparkSession) that later submits reuse.")
@json_option
@pass_ctx
def up(ctx: Context, workers: int, worker_cores: int, worker_memory: str, master_port: int | None,
       ui_port: int | None, worker_ui_port: int | None, history_ui_port: int | None, mlflow: bool | None,
       hdfs: bool | None, warm: bool, as_json: bool) -> None:
    """Start the cluster (or bring a running one to --workers) and wait until all workers are ALIVE."""
    target = ctx.target()
    if warm:
        from hyperspark.ops import warm as warm_driver

        warm_driver.require_supported(target)  # before anything starts
    settings = {"master_port": master_port, "ui_port": ui_port, "worker_ui_port": worker_ui_port,
                "history_ui_port": history_ui_port, "hdfs": hdfs, "mlflow": mlflow or None}
    given = {k: v for k, v in settings.items() if v is not None}
    model = target.settings_model
    unsupported = [k for k in given if k not in model.settable() and k not in model.refused]
    if unsupported:
        raise click.UsageError(f"{', '.join(unsupported)} cannot be set for the {target.name} target")
    target.configure(**given)
    status = target.up(workers, worker_cores=worker_cores, worker_memory=worker_memory)
    if warm:
        warm_driver.start(target)
        status = target.status()
    _show(status, as_json, "render_status")


@cli.command()
@click.option("--purge", is_flag=True, help="Also delete stored data, logs and state.")
@json_option
@pass_ctx
def down(ctx: Context, purge: bool, as_json: bool) -> None:
    """Stop everything this tool started, by the pids it recorded. Data is kept unless --purge."""
    stopped = ctx.target().down(purge=purge)
    if as_json:
        _json({"stopped": stopped, "purged": purge})
    else:
        from hyperspark.ops import render

        render.render_down(stopped, purge)


@cli.command()
@json_option
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Master state, workers, applications and storage."""
    _show(ctx.target().status(), as_json, "render_status")


@cli.command()
@click.argument("n", type=click.IntRange(min=1), metavar="N")
@json_option
@pass_ctx
def scale(ctx: Context, n: int, as_json: bool) -> None:
    """Add or remove workers until N are ALIVE (idle workers are removed first)."""
    target = ctx.target()
    if n > target.max_workers:
        raise click.UsageError(f"N must be at most {target.max_workers} for the {target.name} target")
    _show(target.scale(n), as_json, "render_status")


# -- data and jobs --------------------------------------------------------------------
@cli.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.argument("dest", required=False)
@click.option("--force", is_flag=True, help="Overwrite DEST if it exists.")
@json_option
@pass_ctx
def upload(ctx: Context, src: Path, dest: str | None, force: bool, as_json: bool) -> None:
    """Copy local file SRC into cluster storage (temporary name, rename, verified checksum)."""
    _show(ctx.target().upload(src, dest, force=force), as_json, "render_upload")


def _key_value(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for v in values:
        key, sep, _ = v.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{v!r} is not KEY=VALUE")
    return values


def validate_spec(spec: Path, overrides: list[str]) -> None:
    """Validate the spec (with overrides) before any Spark work: one line naming the key on failure."""
    try:
        from hyperspark.job.spec import SpecError, load_spec
    except ImportError as exc:
        raise OpsError(f"the tuning job package is not importable: {exc}") from exc
    try:
        load_spec(spec, overrides or None)
    except SpecError as exc:
        raise ExitError(str(exc).splitlines()[0] if str(exc) else "invalid spec", exit_code=2) from None


@cli.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--run-id", help="Run id (default: a new time-stamped id).")
@click.option("--resume", is_flag=True,
              help="Continue run --run-id, or without --run-id the latest run of this SPEC (same spec "
                   "fingerprint): finished trials are kept, only the missing ones run.")
@click.option("--set", "overrides", multiple=True, callback=_key_value, metavar="KEY=VALUE",
              help="Override a spec key, e.g. --set dataset.uri=hdfs://... (repeatable).")
@click.option("--conf", "confs", multiple=True, callback=_key_value, metavar="KEY=VALUE",
              help="Extra Spark conf for spark-submit (repeatable).")
@click.option("--package", "package_dirs", multiple=True, type=click.Path(exists=True, path_type=Path),
              metavar="DIR", help="Ship a Python package dir (or .zip) to the driver and executors (repeatable).")
@click.option("--mlflow", "mlflow_uri", metavar="URI",
              help="Track the search in MLflow at URI (same as --set tracking.mlflow.uri=URI).")
@click.option("-v", "--verbose", is_flag=True, help="Echo every driver line (Spark logs) to stderr.")
@click.option("--cold", is_flag=True, help="Start a fresh driver even when a warm one runs (`up --warm`).")
@json_option
@pass_ctx
def submit(ctx: Context, spec: Path, run_id: str | None, resume: bool, overrides: tuple[str, ...],
           confs: tuple[str, ...], package_dirs: tuple[Path, ...], mlflow_uri: str | None, verbose: bool,
           cold: bool, as_json: bool) -> None:
    """Validate SPEC, run the tuning job on the cluster, stream progress, print the best result."""
    if run_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", run_id):
        raise click.BadParameter(f"{run_id!r}: use letters, digits, '.', '_' and '-'", param_hint="--run-id")
    if mlflow_uri:
        overrides = (*overrides, f"tracking.mlflow.uri={mlflow_uri}")
    target = ctx.target()
    packages = _zip_packages(package_dirs, target.state.root / "packages") if package_dirs else []
    validate_spec(spec, list(overrides))
    if resume and not run_id:
        from hyperspark.ops.targets.driver import spec_fingerprint

        run_id = target.state.latest_launch(spec_fingerprint(spec, list(overrides)))
        if run_id is None:
            raise OpsError(f"no earlier run of {spec} to resume on the {target.name} target; "
                           "give --run-id RUN_ID (see `hyperspark results`)")
        click.echo(f"resuming run {run_id} (the latest run of {spec.name})", err=True)
    conf = dict(c.split("=", 1) for c in confs)
    sink = DriverSink(verbose=verbose, quiet=as_json)
    result = target.submit(spec, run_id=run_id, resume=resume, conf=conf, on_line=sink, overrides=list(overrides),
                           packages=packages, cold=cold)
    if result.exit_code != 0:
        reason = result.error or f"the job failed with exit code {result.exit_code}"
        raise ExitError(f"{reason} (run {result.run_id}; see `hyperspark logs driver`)",
                        exit_code=2 if result.exit_code == 2 else 1)
    report_path = _submit_report(ctx, result.output_uri) if result.output_uri else None
    if as_json:
        from hyperspark.ops import render

        _json({**render.to_jsonable(result), "report": report_path})
        return
    _show(result, as_json, "render_submit")
    if report_path:
        click.echo(f"report: {report_path}")


def _zip_packages(dirs: tuple[Path, ...], dest: Path) -> list[Path]:
    """``--package DIR``: zipped once (deterministic name), put on this process's path so the spec's
    import paths validate here, and shipped with the job (the job checks executors can import it)."""
    if not dirs:
        return []
    from hyperspark.errors import SpecError
    from hyperspark.job.package import prepare, zip_package

    out = []
    for d in dirs:
        try:
            zp = Path(d).resolve() if Path(d).is_file() else zip_package(d, dest)
            prepare(str(zp))
        except SpecError as exc:
            raise ExitError(str(exc), exit_code=2) from None
        out.append(zp)
    return out


class DriverSink:
    """Receives driver lines: progress to stderr, Spark noise only with -v (the job's RESULT and
    error lines are parsed by the submit path, :mod:`hyperspark.ops.targets.driver`)."""

    def __init__(self, verbose: bool, quiet: bool) -> None:
        self.verbose = verbose
        self.quiet = quiet
        self._last_progress = ""

    def __call__(self, line: str) -> None:
        from hyperspark.job.protocol import PROGRESS_PREFIX, RESULT_PREFIX, ProgressEvent

        if line.startswith(PROGRESS_PREFIX):
            try:
                event = ProgressEvent.model_validate_json(line[len(PROGRESS_PREFIX):])
            except ValueError:
                return
            from hyperspark.ops import render

            text = render.progress_text(event)
            if not self.quiet and text != self._last_progress:
                click.echo(f"  {text}", err=True)
            self._last_progress = text
        elif self.verbose and not line.startswith(RESULT_PREFIX):
            click.echo(line, err=True)


@cli.command()
@click.argument("run_id", metavar="RUN_ID")
@click.option("--top", type=click.IntRange(min=1), help="Show only the best K trials.")
@json_option
@pass_ctx
def results(ctx: Context, run_id: str, top: int | None, as_json: bool) -> None:
    """The trials of RUN_ID (or an output URI) sorted by score, the best marked."""
    from hyperspark.job.protocol import parse_trials

    from hyperspark.ops import render

    if "://" in run_id:
        output_uri = run_id
    else:
        runs = ctx.runs_state().runs()
        if run_id not in runs:
            known = ", ".join(sorted(runs)[-5:]) or "none yet"
            raise OpsError(f"unknown run id {run_id!r} (recent runs: {known})")
        output_uri = runs[run_id]
    target = ctx.target()
    base = output_uri.rstrip("/")
    try:
        trials_text = target.read_text(f"{base}/trials.jsonl")
    except OpsError:
        raise
    except Exception as exc:  # noqa: BLE001 - storage errors become one line
        raise OpsError(f"cannot read {base}/trials.jsonl: {exc}") from exc
    summary = _read_summary(target, base)
    try:
        ranked = render.rank_trials(parse_trials(trials_text), summary)
    except ValueError as exc:
        raise OpsError(f"{base}/trials.jsonl is not JSON lines: {exc}") from exc
    if top:
        ranked = ranked[:top]
    if as_json:
        _json({"run_id": run_id, "output_uri": output_uri, "summary": summary, "trials": ranked})
    else:
        render.render_results(run_id, ranked, summary)


def _read_summary(target: Target, base: str):
    """summary.json of a run as a RunSummary; None while it runs, after a failure, or when unreadable."""
    from hyperspark.ops.targets.driver import read_summary

    return read_summary(target, base)


@cli.command()
@click.argument("run_id", metavar="RUN_ID_OR_URI")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.html and its PNGs [default: <output>/<run_id>/report for file:// "
                   "outputs, else <state dir>/reports/<run_id>].")
@json_option
@pass_ctx
def report(ctx: Context, run_id: str, out_dir: Path | None, as_json: bool) -> None:
    """Write a self-contained report.html (plots inline) and its PNGs for RUN_ID (or an output URI)."""
    output_uri = run_id if "://" in run_id else _known_run(ctx, run_id)
    result = build_run_report(ctx, output_uri, out_dir)
    if as_json:
        _json(result.to_dict())
        return
    for note in result.notes:
        _info(f"  note: {note}")
    click.echo(f"report: {result.html}")


def _known_run(ctx: Context, run_id: str) -> str:
    runs = ctx.runs_state().runs()
    if run_id not in runs:
        known = ", ".join(sorted(runs)[-5:]) or "none yet"
        raise OpsError(f"unknown run id {run_id!r} (recent runs: {known})")
    return runs[run_id]


def build_run_report(ctx: Context, output_uri: str, out_dir: Path | None = None):
    """Read a run's trials.jsonl (+ summary.json when present) through the target; write its report."""
    from hyperspark.ops.report import build_report, default_out_dir, read_run

    trials, summary = read_run(ctx.target().read_text, output_uri)
    return build_report(trials, summary, out_dir or default_out_dir(output_uri, ctx.runs_state().root))


def _submit_report(ctx: Context, output_uri: str) -> str | None:
    """After a successful submit: the run's report, or one warning line (the run itself succeeded)."""
    try:
        return str(build_run_report(ctx, output_uri).html)
    except Exception as exc:  # noqa: BLE001 - a report failure never fails the submit
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _info(f"warning: report not written: {first}")
        return None


@cli.command()
@click.argument("component", default="master", metavar="[master|worker-N|driver|...]")
@click.option("-n", "--lines", type=click.IntRange(min=0), default=200, show_default=True,
              help="Show the last N lines (0 = all).")
@pass_ctx
def logs(ctx: Context, component: str, lines: int) -> None:
    """Log of one component: master, worker-N, driver (last submit), namenode, datanode-N..."""
    text = ctx.target().logs(component)
    out = text.splitlines()
    if lines:
        out = out[-lines:]
    click.echo("\n".join(out))


@cli.command()
@json_option
@pass_ctx
def doctor(ctx: Context, as_json: bool) -> None:
    """Readiness checks, one verdict per line; exit 1 when any fails."""
    checks = ctx.target().doctor()
    if as_json:
        _json(checks)
    else:
        from hyperspark.ops import render

        render.render_checks(checks)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise ExitError(f"{len(failed)} check(s) failed: {', '.join(failed)}")


# -- bench and demo ---------------------------------------------------------------------
def _worker_list(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        counts = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("worker counts must be integers >= 1, e.g. 1,2")
    return sorted(set(counts))


def _load_bench():
    import importlib

    try:
        return importlib.import_module("hyperspark.ops.bench")
    except ImportError as exc:
        raise OpsError(f"bench is not available: {exc}") from exc


@cli.command()
@click.option("--spec", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Spec to time [default: the bundled benchmark spec].")
@click.option("--workers", "worker_counts", default="1,2", show_default=True, callback=_worker_list,
              help="Worker counts to compare, comma-separated.")
@click.option("--repeat", "--repeats", "repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs per worker count (interleaved: 1,2,2,1,1,2...).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-out"),
              show_default=True, help="Where the report and plot go.")
@click.option("--set", "overrides", multiple=True, callback=_key_value, metavar="KEY=VALUE",
              help="Override a spec key (repeatable).")
@click.option("--null-trials", type=click.IntRange(min=1), metavar="N",
              help="Instead: N trials that only sleep, on the cluster as it is (dispatch overhead, efficiency).")
@click.option("--trial-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="With --null-trials: how long each trial sleeps.")
@json_option
@pass_ctx
def bench(ctx: Context, spec: Path | None, worker_counts: list[int], repeats: int, out_dir: Path,
          overrides: tuple[str, ...], null_trials: int | None, trial_seconds: float, as_json: bool) -> None:
    """Strong-scaling benchmark: speedup, efficiency, Amdahl fit and Karp-Flatt over worker counts.

    With --null-trials N: the tuner's own overhead, measured as Ray Tune does (trials that sleep).
    """
    target = ctx.target()
    if null_trials is not None:
        bench_mod = _load_bench()
        rep = bench_mod.run_null_bench(target, null_trials, trial_seconds, out_dir,
                                       on_line=None if as_json else (lambda line: click.echo(f"  {line}", err=True)),
                                       overrides=list(overrides))
        if as_json:
            _json(rep)
        else:
            click.echo(f"{rep['trials']} null trials of {rep['trial_seconds']:g}s on {rep['slots']} slots: "
                       f"search {rep['search_wall_s']:.1f}s (ideal {rep['ideal_s']:.1f}s), efficiency "
                       f"{rep['efficiency']}, overhead {rep['overhead_ms_per_trial_per_slot']} ms per trial per "
                       f"slot, idle slots {rep['idle_slot_fraction']}, driver CPU "
                       f"{rep['driver_cpu_ms_per_trial']} ms per trial -> {rep['report']}")
        return
    if max(worker_counts) > target.max_workers:
        raise click.UsageError(f"worker counts must be at most {target.max_workers} for {target.name}")
    bench_mod = _load_bench()
    bench_mod.check_spec(spec, list(overrides))  # a bad spec is reported even with no cluster up
    target.status()  # fail fast ("run `hyperspark up` first") before any data is generated
    _run_bench(bench_mod, target, spec, worker_counts, repeats, out_dir, list(overrides), as_json)


def _run_bench(bench_mod: Any, target: Target, spec: Path | None, worker_counts: list[int], repeats: int,
               out_dir: Path, overrides: list[str], as_json: bool) -> Any:
    """Call hyperspark.ops.bench.run_bench and render its report (its own renderer when it has one)."""
    from hyperspark.ops import render

    report = bench_mod.run_bench(
        target=target, spec=spec, worker_counts=worker_counts, repeats=repeats, out_dir=out_dir,
        overrides=overrides, on_line=None if as_json else (lambda line: click.echo(f"  {line}", err=True)),
    )
    if as_json:
        _json(report)
    else:
        bench_mod.render_report(report, render.console())
    return report


@cli.command()
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Cluster size.")
@click.option("--skip-bench", is_flag=True, help="Skip the 1-vs-N worker benchmark.")
@click.option("--bench-repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Benchmark runs per worker count (median reported).")
@click.option("--keep", is_flag=True, help="Leave the cluster running afterwards.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Where the benchmark report and plot go.")
@pass_ctx
def demo(ctx: Context, workers: int, skip_bench: bool, bench_repeats: int, keep: bool, out_dir: Path) -> None:
    """One command on a fresh machine: up, upload the bundled data, tune, benchmark, down."""
    from hyperspark.ops import render

    target = ctx.target()
    spec = find_example("breast_cancer_sklearn.yaml")
    try:
        _info(f"[1/5] starting a {target.name} cluster with {workers} workers...")
        render.render_status(target.up(workers))
        _info("[2/5] putting the bundled breast-cancer dataset into cluster storage...")
        with tempfile.TemporaryDirectory() as tmp:
            csv = spec.parent / "data" / "breast_cancer.csv"
            if not csv.exists():
                csv = write_breast_cancer_csv(Path(tmp) / "breast_cancer.csv")
            uploaded = target.upload(csv, "data/breast_cancer.csv", force=True)
        render.render_upload(uploaded)
        _info("[3/5] running the tuning search...")
        overrides = [f"dataset.uri={uploaded.dest}"]
        validate_spec(spec, overrides)
        result = target.submit(spec, on_line=DriverSink(verbose=False, quiet=False), overrides=overrides)
        if result.exit_code != 0:
            raise ExitError(result.error or f"the tuning job failed with exit code {result.exit_code}")
        render.render_submit(result)
        if skip_bench:
            _info("[4/5] benchmark skipped (--skip-bench)")
        else:
            try:
                bench_mod = _load_bench()
            except OpsError as exc:
                _info(f"[4/5] benchmark skipped: {exc}")
            else:
                _info(f"[4/5] running the 1-vs-{workers}-worker benchmark ({bench_repeats} run(s) each)...")
                # the quick 20k-row variant of the README's benchmark: ~1 s trials, a few minutes in all
                _run_bench(bench_mod, target, bench_mod.default_spec_path("rf16-small.yaml"), sorted({1, workers}),
                           bench_repeats, out_dir, [], False)
    finally:
        if keep:
            _info("[5/5] cluster left running (--keep); stop it with `hyperspark down`")
        else:
            _info("[5/5] stopping the cluster...")
            render.render_down(target.down(), purged=False)


def find_example(name: str) -> Path:
    """An example spec shipped with the tool (source checkout or wheel package data)."""
    from hyperspark.ops import resources

    path = resources.find(f"examples/{name}")
    if path is None:
        raise OpsError(f"example spec {name} is not installed")
    return path


def write_breast_cancer_csv(path: Path) -> Path:
    """scikit-learn's bundled breast-cancer data as CSV (no download): label column ``target``."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [re.sub(r"[^A-Za-z0-9_]+", "_", c) for c in frame.columns]
    from hyperspark.ops.util.files import write_atomic

    return write_atomic(path, frame.to_csv(index=False))


# -- helpers ---------------------------------------------------------------------------------
def _info(msg: str) -> None:
    click.echo(msg, err=True)


def _json(obj: Any) -> None:
    from hyperspark.ops import render

    render.emit_json(obj)


def _show(obj: Any, as_json: bool, renderer: str) -> None:
    from hyperspark.ops import render

    if as_json:
        render.emit_json(obj)
    else:
        getattr(render, renderer)(obj)


def main() -> None:
    cli(prog_name="hyperspark")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
