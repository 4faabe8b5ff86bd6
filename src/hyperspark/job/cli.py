"""The job's command line (``spark-submit jobs/tune.py SPEC ...``): argv -> a run -> the RESULT or error line.

``run_request`` is one ``tune.py`` command line, on a new session (a cold submit: built from the spec and
stopped at the end) or on a given one (the warm driver).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback

from hyperspark.errors import JobInputError, SpecError
from hyperspark.job.protocol import ERROR_PREFIX, FAILED_PREFIX, RESULT_PREFIX, one_line, run_id_problem
from hyperspark.job.redact import secret_overrides
from hyperspark.job.run import run
from hyperspark.job.resources import task_cpus
from hyperspark.job.session import build_session, process_timings
from hyperspark.job.spec import Spec, load_spec

def parse_args(argv):
    p = argparse.ArgumentParser(prog="tune.py", description="HyperSpark tuning job (run with spark-submit)")
    p.add_argument("spec", help="spec file (YAML or JSON)")
    p.add_argument("--run-id", help="run id (default: <name>-<UTC time>); an existing id resumes")
    p.add_argument("--resume", action="store_true", help="resume the run given by --run-id")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
    p.add_argument("--output", help="shortcut for --set output=URI")
    p.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    p.add_argument("--validate-only", action="store_true", help="validate the spec and exit")
    p.add_argument("--force", action="store_true",
                   help="start the run over when its dir was made with other data or another spec")
    p.add_argument("--package", action="append", default=[], metavar="PATH",
                   help="the user's package (a directory, zipped for you, or a .zip) for model:/objective: import "
                        "paths: put on the driver's path and shipped to every executor (repeatable)")
    return p.parse_args(argv)


def err(msg: str) -> None:
    print(f"{ERROR_PREFIX}{msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    return run_request(None, sys.argv[1:] if argv is None else argv, started=process_timings(time.time()))


def run_request(spark, argv, expected_executors: int | None = None, started: dict | None = None) -> int:
    """One ``tune.py`` command line: parse, validate, run, print the RESULT or error line; the exit code.

    ``spark=None`` (``main``, a cold submit): build the session from the spec and stop it at the end.
    A session given (the warm driver, ``warm_server.py``) is used and kept; ``--master`` is then ignored.
    Everything goes to ``sys.stdout``/``sys.stderr`` as they are when called (the warm driver points
    them at its client). A bad command line raises SystemExit(2), as argparse does.
    """
    t_main = time.monotonic()
    args = parse_args(argv)
    overrides = list(args.set) + secret_overrides() + ([f"output={args.output}"] if args.output else [])
    try:
        from hyperspark.job import package

        zips = [package.prepare(p) for p in args.package]  # before validation: it imports the user's code
        spec = load_spec(args.spec, overrides)
        if args.resume and not args.run_id:
            raise SpecError("--resume needs --run-id (the run to resume)")
        if args.run_id is not None and run_id_problem(args.run_id):
            raise SpecError(f"--run-id: {run_id_problem(args.run_id)}")
        if spark is not None:
            check_session_fits(spark, spec)
    except SpecError as e:
        err(str(e))
        return 2
    if args.validate_only:
        print(json.dumps({"valid": True, "model": spec.target, "strategy": spec.strategy}))
        return 0
    t0 = time.monotonic()
    own_session = spark is None
    try:
        if own_session:
            spark = build_session(spec, args.master)
        package.ship(spark, zips)
        timings = {**(started or {}), "spec": round(t0 - t_main, 3), "session": round(time.monotonic() - t0, 3)}
        summary = run(spark, spec, args.run_id, args.resume, log=lambda s: print(s, flush=True), timings=timings,
                      expected_executors=expected_executors, force=args.force)
        print(RESULT_PREFIX + summary.result_line().model_dump_json(exclude_none=True), flush=True)
        return 0
    except JobInputError as e:
        err(str(e))
        return 2
    except KeyboardInterrupt:
        err("interrupted; rerun with the same --run-id to resume")
        return 130
    except OSError as e:  # the output or a local dir is full, read-only or gone: one line, no traceback
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        print(f"{FAILED_PREFIX}cannot write{where}: {e.strerror or e}; trials recorded so far are kept, "
              "rerun with the same --run-id to resume", file=sys.stderr, flush=True)
        return 1
    except Exception as e:  # noqa: BLE001 - a real failure: keep the traceback for the log, then one line
        traceback.print_exc(file=sys.stderr)
        print(f"{FAILED_PREFIX}{one_line(e)}", file=sys.stderr, flush=True)
        return 1
    finally:
        if own_session and spark is not None:
            spark.stop()


def check_session_fits(spark, spec: Spec) -> None:
    """A session made before the spec (the warm driver's) must run trials of the spec's size: its
    ``spark.task.cpus`` cannot change after start. With ``resources`` a task resource profile sizes the
    trials instead (``job/resources.py`` says in one line when this session cannot run one)."""
    cpus = task_cpus(spark.sparkContext)
    if spec.resources is None and spec.threads_per_trial != cpus:
        raise SpecError(f"threads_per_trial={spec.threads_per_trial}: this driver runs {cpus}-core trials; "
                        "run it with a fresh driver (hyperspark submit --cold)")
