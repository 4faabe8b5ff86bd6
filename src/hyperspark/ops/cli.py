"""The ``hyperspark`` command: a thin Click layer over the ops library.

Commands parse arguments, call the library (a Target's method, or :mod:`~hyperspark.ops.runs`,
:mod:`~hyperspark.ops.report`, :mod:`~hyperspark.ops.bench`, :mod:`~hyperspark.ops.demo`) and render its
one structured result with :mod:`~hyperspark.ops.render` (rich tables, or JSON with ``--json``). Library
failures are :class:`OpsError` and come out as ONE line ``Error: ...`` with exit code 1; bad input
(:class:`~hyperspark.errors.JobInputError`: a spec, a package) is one line with exit code 2, as the job's;
usage mistakes are Click usage errors (exit 2). Heavy modules (pyspark, docker, kubernetes, matplotlib,
sklearn) are imported only inside the commands that need them, so ``--help`` stays fast.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from hyperspark.errors import JobInputError
from hyperspark.job.protocol import one_line, run_id_problem
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
    """Turns every OpsError raised below into one ``Error: ...`` line, exit 1; bad input, exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OpsError as exc:
            raise click.ClickException(str(exc)) from None
        except JobInputError as exc:
            raise ExitError(one_line(str(exc)) or "invalid input", exit_code=2) from None

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
    from hyperspark.ops import crash

    what = crash.describe(exc)
    if crash.debug_requested(args):
        click.echo(crash.traceback_text(exc).rstrip(), err=True)
        click.echo(f"Error: unexpected {what}", err=True)
        return 1
    log = crash.save_log(exc, args)
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
    from hyperspark.ops.settings import EnvSettingError, check_environment

    try:
        check_environment()  # a malformed HYPERSPARK_* number: one line naming it, before any target loads
    except EnvSettingError as exc:
        raise JobInputError(str(exc)) from None
    ctx.obj = Context(target_name=target_name, state_dir=state_dir)


# -- lifecycle ------------------------------------------------------------------
#: a worker's memory must hold one executor: Spark refuses an executor under 450m (1.5 x its 300m reserve)
MIN_WORKER_MB = 512
_MB = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024, "": 1}


def _memory(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not MEMORY_RE.match(value):
        raise click.BadParameter(f"{value!r} is not a memory size like 512m or 2g")
    unit = value[-1].lower() if value[-1].isalpha() else ""
    if int(value.rstrip("kKmMgGtT")) * _MB[unit] < MIN_WORKER_MB:
        raise click.BadParameter(f"{value!r} is too small: a worker needs at least {MIN_WORKER_MB}m (Spark "
                                 "refuses an executor under 450m)")
    return value


def _distinct_ports(ports: dict[str, int | None], workers: int) -> None:
    """Every port ``up`` is given is used once (the worker UI port counts one port per worker upwards)."""
    seen: dict[int, str] = {}
    for option, port in ports.items():
        if port is None:
            continue
        for p in range(port, port + (workers if option == "--worker-ui-port" else 1)):
            if p in seen and seen[p] != option:
                raise click.UsageError(f"{seen[p]} and {option} both use port {p}: give each port once")
            seen[p] = option


def _gpu_addresses(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    from hyperspark.ops import gpus

    if value is None:
        return None
    try:
        return gpus.parse_addresses(value) or None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


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
@click.option("--gpus-per-worker", type=click.IntRange(min=0),
              help="Local target: GPUs each worker advertises to Spark, found by nvidia-smi (worker k takes GPUs "
                   "(k-1)*N..kN-1 of the machine) [default 0]. Compose: the gpu profile; k8s: the gpu overlay.")
@click.option("--gpu-addresses", callback=_gpu_addresses, metavar="A,B,...",
              help="Local target: fixed GPU addresses every worker advertises instead of nvidia-smi's (e.g. 0,1; "
                   "Spark does not check them: fake GPUs for tests); one per --gpus-per-worker.")
@click.option("--connect", is_flag=True, default=None,
              help="Local target: also run a Spark Connect server attached to the cluster, on 127.0.0.1 "
                   "(`status` prints its sc:// URL). Compose: `docker compose --profile connect up -d spark-connect`; "
                   "k8s: the overlays/connect overlay.")
@click.option("--connect-port", type=click.IntRange(1, 65535),
              help="Local target: the Spark Connect server's gRPC port (implies --connect) [default 15002; "
                   "env HYPERSPARK_CONNECT_PORT].")
@json_option
@pass_ctx
def up(ctx: Context, workers: int, worker_cores: int, worker_memory: str, master_port: int | None,
       ui_port: int | None, worker_ui_port: int | None, history_ui_port: int | None, mlflow: bool | None,
       hdfs: bool | None, warm: bool, gpus_per_worker: int | None, gpu_addresses: list[str] | None,
       connect: bool | None, connect_port: int | None, as_json: bool) -> None:
    """Start the cluster (or bring a running one to --workers) and wait until all workers are ALIVE."""
    from hyperspark.ops import gpus

    problem = gpus.count_problem(gpus_per_worker, gpu_addresses or [])
    if problem:
        raise click.BadParameter(problem, ctx=click.get_current_context(), param_hint="'--gpu-addresses'")
    _distinct_ports({"--master-port": master_port, "--ui-port": ui_port, "--worker-ui-port": worker_ui_port,
                     "--history-ui-port": history_ui_port, "--connect-port": connect_port}, workers)
    target = ctx.target()
    if warm:
        target.require_warm()  # one line on a target without a warm driver, before anything starts
    settings = {"master_port": master_port, "ui_port": ui_port, "worker_ui_port": worker_ui_port,
                "history_ui_port": history_ui_port, "hdfs": hdfs, "mlflow": mlflow or None,
                "gpus_per_worker": gpus_per_worker, "gpu_addresses": ",".join(gpu_addresses or []) or None,
                "connect": True if connect or connect_port is not None else None, "connect_port": connect_port}
    given = {k: v for k, v in settings.items() if v is not None}
    model = target.settings_model
    unsupported = [k for k in given if k not in model.settable() and k not in model.refused]
    if unsupported:
        raise click.UsageError(f"{', '.join(unsupported)} cannot be set for the {target.name} target")
    target.configure(**given)
    status = target.up(workers, worker_cores=worker_cores, worker_memory=worker_memory)
    if warm:
        target.start_warm()
        status = target.status()
    _show(status, as_json, "render_status")


@cli.command()
@click.option("--purge", is_flag=True, help="Also delete stored data, logs and state (only in a dir HyperSpark "
              "marked as its own; lists what goes and asks, or give --yes).")
@click.option("--yes", is_flag=True, help="With --purge: delete without asking.")
@json_option
@pass_ctx
def down(ctx: Context, purge: bool, yes: bool, as_json: bool) -> None:
    """Stop everything this tool started, by the pids it recorded. Data is kept unless --purge."""
    if purge:
        _confirm_purge(ctx.target().purge_plan(), yes)
    stopped = ctx.target().down(purge=purge)
    if as_json:
        _json({"stopped": stopped, "purged": purge})
    else:
        from hyperspark.ops import render

        render.render_down(stopped, purge)


def _confirm_purge(plan: list[str], yes: bool) -> None:
    """``down --purge`` lists what it deletes, then needs --yes or a TTY's yes (stderr: --json stays JSON)."""
    click.echo("down --purge deletes:" if plan else "down --purge: nothing to delete", err=True)
    for path in plan:
        click.echo(f"  {path}", err=True)
    if yes or not plan:
        return
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise click.UsageError("--purge deletes the paths above: add --yes to confirm")
    if not click.confirm("Delete them?", default=False, err=True):
        raise click.exceptions.Exit(1)


@cli.command()
@json_option
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Master state, workers, applications, storage, and the lines a notebook needs to attach."""
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


def _run_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    problem = run_id_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem, param_hint="--run-id")
    return value


@cli.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--run-id", callback=_run_id, help="Run id (default: a new time-stamped id).")
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
@click.option("--force", is_flag=True, help="With --run-id: start that run over when it was made with other data "
              "(e.g. after `upload --force`) or another spec, instead of refusing.")
@json_option
@pass_ctx
def submit(ctx: Context, spec: Path, run_id: str | None, resume: bool, overrides: tuple[str, ...],
           confs: tuple[str, ...], package_dirs: tuple[Path, ...], mlflow_uri: str | None, verbose: bool,
           cold: bool, force: bool, as_json: bool) -> None:
    """Validate SPEC, run the tuning job on the cluster, stream progress, print the best result."""
    from hyperspark.ops import render, runs

    if mlflow_uri:
        overrides = (*overrides, f"tracking.mlflow.uri={mlflow_uri}")
    target = ctx.target()
    packages = runs.zip_packages(list(package_dirs), target.state.root / "packages") if package_dirs else []
    runs.validate_spec(spec, list(overrides))
    if resume and not run_id:
        run_id = runs.latest_run_of(target.state, spec, list(overrides), target.name)
        render.info(f"resuming run {run_id} (the latest run of {spec.name})")
    result = target.submit(spec, run_id=run_id, resume=resume, conf=dict(c.split("=", 1) for c in confs),
                           on_line=render.DriverSink(verbose=verbose, quiet=as_json), overrides=list(overrides),
                           packages=packages, cold=cold, force=force)
    if result.exit_code != 0:
        reason = result.error or f"the job failed with exit code {result.exit_code}"
        raise ExitError(f"{reason} (run {result.run_id}; see `hyperspark logs driver`)",
                        exit_code=2 if result.exit_code == 2 else 1)
    report_path, why = (runs.report_after_submit(target, ctx.runs_state(), result.output_uri)
                        if result.output_uri else (None, None))
    if why:
        render.info(f"warning: report not written: {why}")
    if as_json:
        _json({**render.to_jsonable(result), "report": report_path})
        return
    render.render_submit(result)
    if report_path:
        click.echo(f"report: {report_path}")


@cli.command()
@click.argument("run_id", metavar="RUN_ID")
@click.option("--top", type=click.IntRange(min=1), help="Show only the best K trials.")
@json_option
@pass_ctx
def results(ctx: Context, run_id: str, top: int | None, as_json: bool) -> None:
    """The trials of RUN_ID (or an output URI) sorted by score, the best marked."""
    from hyperspark.ops import render, runs

    output_uri = runs.output_of(ctx.runs_state(), run_id)
    trials, summary = runs.read_results(ctx.target(), output_uri)
    ranked = render.rank_trials(trials, summary)[:top]
    if as_json:
        _json({"run_id": run_id, "output_uri": output_uri, "summary": summary, "trials": ranked})
    else:
        render.render_results(run_id, ranked, summary)


@cli.command()
@click.argument("run_id", metavar="RUN_ID_OR_URI")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.html and its PNGs [default: <output>/<run_id>/report for file:// "
                   "outputs, else <state dir>/reports/<run_id>].")
@json_option
@pass_ctx
def report(ctx: Context, run_id: str, out_dir: Path | None, as_json: bool) -> None:
    """Write a self-contained report.html (plots inline) and its PNGs for RUN_ID (or an output URI)."""
    from hyperspark.ops import runs

    state = ctx.runs_state()
    output_uri = runs.output_of(state, run_id)
    result = runs.run_report(ctx.target(), state, output_uri, out_dir)
    _show(result.to_dict() if as_json else result, as_json, "render_report")


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
@click.option("--warm", is_flag=True, help="Time the submits on the warm driver (started for the bench when none "
              "runs); --cold-runs cold submits at the largest N run first, so both figures are reported.")
@click.option("--cold-runs", type=click.IntRange(min=0), default=1, show_default=True,
              help="With --warm: cold submits at the largest worker count, before the warm ones.")
@click.option("--peers", is_flag=True, help="Instead: HyperSpark against hyperopt, Optuna (MLflow's Spark study) and "
              "Ray Tune on a fresh local cluster (benchmarks/peers.py; needs the [peers] extra).")
@json_option
@pass_ctx
def bench(ctx: Context, spec: Path | None, worker_counts: list[int], repeats: int, out_dir: Path,
          overrides: tuple[str, ...], null_trials: int | None, trial_seconds: float, warm: bool, cold_runs: int,
          peers: bool, as_json: bool) -> None:
    """Strong-scaling benchmark: speedup, efficiency, Amdahl fit and Karp-Flatt over worker counts.

    With --null-trials N: the tuner's own overhead, measured as Ray Tune does (trials that sleep).
    With --peers: the side-by-side run against the peers (table, JSON, Markdown, PNG under --out).
    """
    from hyperspark.ops import render
    from hyperspark.ops.demo import load_bench

    if peers:
        from hyperspark.ops.peers.main import main as peers_main

        raise SystemExit(peers_main(["--repeats", str(repeats), "--out", str(out_dir / "peers")]))
    target = ctx.target()
    on_line = None if as_json else render.indented
    if null_trials is not None:
        rep = load_bench().run_null_bench(target, null_trials, trial_seconds, out_dir, on_line=on_line,
                                          overrides=list(overrides))
        _show(rep, as_json, "render_null_bench")
        return
    if max(worker_counts) > target.max_workers:
        raise click.UsageError(f"worker counts must be at most {target.max_workers} for {target.name}")
    bench = load_bench()
    bench.check_spec(spec, list(overrides))  # a bad spec is reported even with no cluster up
    if warm:
        target.require_warm()
    target.status()  # fail fast ("run `hyperspark up` first") before any data is generated
    rep = bench.run_bench(target=target, spec=spec, worker_counts=worker_counts, repeats=repeats, out_dir=out_dir,
                          overrides=list(overrides), on_line=on_line, warm=warm, cold_runs=cold_runs if warm else 0)
    _show(rep, as_json, "render_bench")


@cli.command()
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Cluster size.")
@click.option("--skip-bench", is_flag=True, help="Skip the 1-vs-N worker benchmark.")
@click.option("--bench-repeats", type=click.IntRange(min=1), default=2, show_default=True,
              help="Benchmark runs per worker count (median and range reported; 2 keeps a first demo short).")
@click.option("--keep", is_flag=True, help="Leave the cluster running afterwards.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Where the benchmark report and plot go.")
@pass_ctx
def demo(ctx: Context, workers: int, skip_bench: bool, bench_repeats: int, keep: bool, out_dir: Path) -> None:
    """One command on a fresh machine: up, upload the bundled data, tune, benchmark, down."""
    from hyperspark.ops import demo as demo_flow, render

    opts = demo_flow.DemoOptions(workers=workers, skip_bench=skip_bench, bench_repeats=bench_repeats, keep=keep,
                                 out_dir=out_dir)
    demo_flow.run_demo(ctx.target(), opts, render.DemoView(), render.DriverSink(verbose=False, quiet=False))


# -- helpers ---------------------------------------------------------------------------------
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
