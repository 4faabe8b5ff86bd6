"""The job: spec -> session -> load -> split -> search -> refit -> write. Entry: ``jobs/tune.py``."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
import traceback

from . import data as D
from . import metrics as M
from .errors import JobInputError, SpecError
from .progress import RESULT_PREFIX, Progress
from .results import RunStore, open_fs
from .space import expand
from .spec import Spec, load_spec

EXPECTED_EXECUTORS = "spark.hyperspark.expectedExecutors"


# --------------------------------------------------------------------------- session and slots
def build_session(spec: Spec, master: str | None = None, app_name: str | None = None):
    from pyspark.sql import SparkSession

    b = SparkSession.builder.appName(app_name or f"hyperspark-{spec.name}")
    if master:
        b = b.master(master)
    elif not _submitted_with_master():
        b = b.master("local[*]")
    t = str(spec.threads_per_trial)
    conf = {
        # one trial per slot; the model's own threads = the slot's cores (no nested oversubscription)
        "spark.task.cpus": t,
        "spark.executorEnv.OMP_NUM_THREADS": t,
        "spark.executorEnv.OPENBLAS_NUM_THREADS": t,
        "spark.executorEnv.MKL_NUM_THREADS": t,
        "spark.ui.showConsoleProgress": "false",
        "spark.python.worker.reuse": "true",  # keeps imports and the unpickled broadcast across trials
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.pandas.inferPandasDictAsMap": "false",
    }
    for k, v in conf.items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("HYPERSPARK_SPARK_LOG_LEVEL", "WARN"))
    return spark


def _submitted_with_master() -> bool:
    # spark-submit starts the JVM first and hands it to Python through PYSPARK_GATEWAY_PORT (its --master
    # is then already set); plain `python tune.py` has no gateway yet and gets local[*].
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


def wait_for_executors(spark, timeout_s: float = 90.0) -> int:
    """Executors register after getOrCreate returns: wait before timing or dispatching.

    Waits for ``spark.hyperspark.expectedExecutors`` when the launcher sets it, else for the count to be
    >= 1 and stable for 2 s. Returns the number of executors (0 for local[N]).
    """
    sc = spark.sparkContext
    if sc.master.startswith("local"):
        return 0
    expected = int(sc.getConf().get(EXPECTED_EXECUTORS, "0"))
    deadline = time.monotonic() + timeout_s
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = sc._jsc.sc().getExecutorMemoryStatus().size() - 1
        if expected and n >= expected:
            return n
        if n != last:
            last, stable_since = n, time.monotonic()
        if not expected and n >= 1 and time.monotonic() - stable_since >= 2.0:
            return n
        time.sleep(0.2)
    if last < 1:
        raise RuntimeError(f"no executor registered within {timeout_s:.0f} s: does the cluster have free cores?")
    return last


def total_cores(spark) -> int:
    """Cores of the registered executors, from Spark's status store (defaultParallelism is max(cores, 2),
    which would count a 1-core cluster as 2 slots)."""
    sc = spark.sparkContext
    if sc.master.startswith("local"):
        return int(sc.defaultParallelism)
    try:
        execs = sc._jsc.sc().statusStore().executorList(True)
        cores = sum(int(execs.apply(i).totalCores()) for i in range(execs.size()) if execs.apply(i).id() != "driver")
        if cores > 0:
            return cores
    except Exception:  # noqa: BLE001 - an internal API: fall back to the public one
        pass
    return int(sc.defaultParallelism)


# --------------------------------------------------------------------------- the run
def default_metric(task: str, n_classes: int) -> str:
    if task == "regression":
        return "rmse"
    return "roc_auc" if n_classes == 2 else "f1"


def versions(spark=None) -> dict:
    out = {"python": platform.python_version()}
    for mod in ("pyspark", "numpy", "pandas", "pyarrow", "sklearn", "xgboost", "lightgbm"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - not installed
            pass
    if spark is not None:
        out["spark"] = spark.version
        out["java"] = spark.sparkContext._jvm.System.getProperty("java.version")
    from . import __version__

    out["hyperspark"] = __version__
    return out


def new_run_id(spec: Spec) -> str:
    return f"{spec.name}-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"


def open_run(spark, spec: Spec, run_id: str) -> tuple[RunStore, list[dict]]:
    """The run dir; trials already recorded there (resume) when the spec matches."""
    store = RunStore(open_fs(spark, spec.output), run_id)
    prev = store.read_json("spec.json")
    if prev is not None and prev.get("fingerprint") != spec.fingerprint():
        raise JobInputError(
            f"run {run_id} in {spec.output} was made with a different spec; choose another --run-id"
        )
    done = [r for r in store.load_trials() if r.get("status") == "ok"]
    store.rows = list(done)
    store.fs.mkdirs(run_id)
    store.write_json("spec.json", {"fingerprint": spec.fingerprint(), "spec": spec.model_dump(mode="json")})
    return store, done


def pick_best(rows: list[dict], order: dict[str, int], metric: str) -> dict | None:
    """Best mean CV score; ties go to the earlier trial in search order (as GridSearchCV does)."""
    best = None
    for r in sorted((r for r in rows if r.get("status") == "ok" and r.get("mean") is not None),
                    key=lambda r: order.get(r["trial_id"], 1 << 30)):
        if best is None or M.better(r["mean"], best["mean"], metric):
            best = r
    return best


def run(spark, spec: Spec, run_id: str | None = None, resume: bool = False, log=print,
        progress_live: bool | None = None, timings: dict | None = None) -> dict:
    timings = dict(timings or {})
    t0 = time.monotonic()
    run_id = run_id or new_run_id(spec)
    m = spec.model_def

    # -- load ----------------------------------------------------------------
    ds = spec.dataset
    if m.strategy == "trials":  # single-machine libraries: the data goes to the driver in any case
        prep = D.prepare_local(D.load_for_driver(spark, ds.uri, ds.resolved_format), ds.label, ds.features,
                               spec.task, ds.nan_policy)
    else:
        prep = D.prepare(D.load(spark, ds.uri, ds.resolved_format), ds.label, ds.features, spec.task,
                         ds.nan_policy)
    if prep.task not in m.tasks():
        raise JobInputError(f"model {spec.model} does not support {prep.task} (label {prep.label!r})")
    metric = spec.metric or default_metric(prep.task, prep.n_classes)
    if metric not in M.METRICS[prep.task]:
        raise JobInputError(f"metric {metric} does not apply to {prep.task}; use one of {', '.join(M.METRICS[prep.task])}")
    if metric == "roc_auc" and m.strategy == "mllib" and prep.n_classes != 2:
        raise JobInputError("metric roc_auc with MLlib models needs a binary label; use f1 or accuracy")

    store, done_rows = open_run(spark, spec, run_id)
    trials = expand(spec.model, spec.space, spec.search.type, spec.search.trials, spec.search.seed)
    order = {t.trial_id: i for i, t in enumerate(trials)}
    done_ids = {r["trial_id"] for r in done_rows if r["trial_id"] in order}
    todo = [t for t in trials if t.trial_id not in done_ids]
    if resume or done_ids:
        log(f"run {run_id}: {len(done_ids)} of {len(trials)} trials already recorded, {len(todo)} to run")

    n_exec = wait_for_executors(spark)
    cores = total_cores(spark)
    slots = cores // spec.threads_per_trial
    if slots < 1:
        raise JobInputError(f"threads_per_trial={spec.threads_per_trial} is more than the {cores} core(s) "
                            "an executor has: lower it or give workers more cores")
    parallelism = slots if spec.parallelism == "auto" else int(spec.parallelism)

    shipping: dict = {}
    failures = {"n": 0}
    limit = spec.max_trial_failures

    progress = Progress(len(trials), metric, already_done=len(done_ids), live=progress_live)
    for r in done_rows:
        progress.seed_best(r.get("mean"), r.get("params"))

    def on_result(row: dict) -> None:
        row["run_id"] = run_id
        store.add_trial(row)
        if row.get("status") != "ok":
            failures["n"] += 1
        progress.update(row)

    def should_stop() -> bool:
        return limit is not None and failures["n"] > limit

    if m.strategy == "trials":
        from . import strategy_trials as S

        X, y = prep.X, prep.y
        X_tr, X_te, y_tr, y_te = D.split_numpy(X, y, prep.task, spec.test_fraction, spec.seed)
        folds = D.cv_folds(y_tr, prep.task, spec.cv_folds, spec.seed)
        timings["load"] = round(time.monotonic() - t0, 3)
        ctx = S.TrialContext(spec.model, prep.task, metric, spec.threads_per_trial, spec.seed, prep.n_classes)
        # longest-first dispatch: the last slot does not idle behind one straggler
        todo_sorted = sorted(todo, key=lambda t: -t.cost_hint())
        t1 = time.monotonic()
        if todo and spec.data_shipping == "broadcast":
            rep = S.run_broadcast(spark, ctx, todo_sorted, X_tr, y_tr, folds, parallelism,
                                  on_result, should_stop, timings)
        elif todo:
            t_w = time.monotonic()
            timings["warmup"] = 0.0
            rep = S.run_replicate(spark, ctx, todo_sorted, X_tr, y_tr, folds, on_result)
            timings["search"] = round(time.monotonic() - t_w, 3)
        else:
            rep = None
            timings["warmup"] = timings["search"] = 0.0
        search_wall = time.monotonic() - t1
        store.flush()
        progress.close()
        if rep:
            shipping = rep.__dict__.copy()
        best = pick_best(store.rows, order, metric)
        if best is None:
            raise RuntimeError(_all_failed(store.rows))
        t2 = time.monotonic()
        threads = os.cpu_count() or 1  # the search is over: the refit may use the driver's cores
        from .models import build_single_machine

        est = build_single_machine(m, prep.task, best["params"], threads, spec.seed)
        est.fit(X_tr, y_tr)
        y_pred = est.predict(X_te)
        y_score = None
        if prep.task == "classification":
            try:
                y_score = S.predict_scores(est, X_te, prep.n_classes)
            except AttributeError:
                y_score = None
        test_metrics = M.all_scores(prep.task, y_te, y_pred, y_score, prep.n_classes)
        timings["refit"] = round(time.monotonic() - t2, 3)
        train_rows, test_rows = len(y_tr), len(y_te)
        t3 = time.monotonic()
        _save_joblib(store, S.dumps_model(est))
    else:
        from . import strategy_mllib as S

        assembled = S.assemble(prep.df, prep.features, prep.label)
        train, test = S.split(assembled, spec.test_fraction, spec.seed)
        train = train.cache()
        test = test.cache()
        train_rows, test_rows = train.count(), test.count()
        if train_rows < spec.cv_folds or test_rows == 0:
            raise JobInputError(f"dataset: {prep.rows} rows are too few for test_fraction={spec.test_fraction} "
                                f"and cv_folds={spec.cv_folds}")
        folds = S.make_folds(train, spec.cv_folds, spec.seed, max(slots, 1))
        timings["load"] = round(time.monotonic() - t0, 3)
        timings["warmup"] = 0.0
        par = parallelism if spec.parallelism != "auto" else max(2, slots)
        t1 = time.monotonic()
        if todo:
            S.run(spark, spec.model, prep.task, metric, prep.n_classes, spec.seed, prep.label, todo, folds,
                  par, on_result, should_stop)
        search_wall = time.monotonic() - t1
        timings["search"] = round(search_wall, 3)
        store.flush()
        progress.close()
        for tr, va in folds:
            tr.unpersist()
            va.unpersist()
        best = pick_best(store.rows, order, metric)
        if best is None:
            raise RuntimeError(_all_failed(store.rows))
        t2 = time.monotonic()
        model, test_metrics = S.refit_and_score(spec.model, prep.task, prep.n_classes, spec.seed, prep.label,
                                                best["params"], train, test)
        timings["refit"] = round(time.monotonic() - t2, 3)
        t3 = time.monotonic()
        _save_mllib(store, model)
        shipping = {"strategy": "mllib", "note": "data stays distributed; folds cached on executors"}

    ran = [r for r in store.rows if r["trial_id"] in order and r["trial_id"] not in done_ids]
    busy = sum((r.get("fit_seconds") or 0.0) for r in ran) * spec.threads_per_trial
    available = timings.get("search", search_wall) * cores
    vers = versions(spark)
    manifest = {
        "model": spec.model, "task": prep.task, "params": best["params"], "cv_metric": metric,
        "cv_score": best["mean"], "test_metrics": test_metrics, "features": prep.features,
        "label": prep.label, "classes": prep.classes, "data_hash": prep.data_hash, "versions": vers,
        "run_id": run_id, "created_at": time.time(),
        "format": "joblib" if m.strategy == "trials" else "mllib",
    }
    store.fs.write_bytes(store.rel("model/manifest.json"), (json.dumps(manifest, indent=2) + "\n").encode())
    timings["write"] = round(time.monotonic() - t3, 3)
    timings["total"] = round(time.monotonic() - t0 + timings.get("session", 0.0), 3)
    summary = {
        "run_id": run_id, "name": spec.name, "output_uri": store.uri, "model": spec.model, "task": prep.task,
        "strategy": m.strategy, "metric": metric, "greater_is_better": M.greater_is_better(metric),
        "search": {"type": spec.search.type, "trials": len(trials), "ran": len(ran), "resumed": len(done_ids),
                   "ok": sum(r.get("status") == "ok" for r in store.rows if r["trial_id"] in order),
                   "failed": sum(r.get("status") != "ok" for r in ran), "cv_folds": spec.cv_folds},
        "best": {"trial_id": best["trial_id"], "params": best["params"], "cv_score": best["mean"],
                 "cv_std": best["std"], "fold_scores": best["fold_scores"]},
        "best_params": best["params"], "cv_score": best["mean"], "test_metrics": test_metrics,
        "data": {"uri": spec.dataset.uri, "rows": prep.rows, "dropped_rows": prep.dropped_rows,
                 "features": prep.features, "label": prep.label, "classes": prep.classes,
                 "train_rows": train_rows, "test_rows": test_rows, "hash": prep.data_hash},
        "cluster": {"master": spark.sparkContext.master, "executors": n_exec, "cores": cores, "slots": slots,
                    "parallelism": parallelism, "task_cpus": spec.threads_per_trial,
                    "app_id": spark.sparkContext.applicationId},
        # one trial = one slot only for the single-machine strategy; concurrent MLlib fits share every
        # slot, so their summed fit times say nothing about idle cores
        "cost": ({"busy_core_seconds": round(busy, 3), "available_core_seconds": round(available, 3),
                  "idle_slot_fraction": round(1 - busy / available, 4) if available > 0 else None}
                 if m.strategy == "trials" else {"note": "not measured for MLlib (fits share all slots)"}),
        "shipping": shipping, "timings": timings, "versions": vers,
        "spec_fingerprint": spec.fingerprint(), "finished_at": time.time(),
    }
    store.write_json("summary.json", summary)  # last, atomically: its presence means the run completed
    return summary


def _all_failed(rows: list[dict]) -> str:
    errs = [r.get("error") for r in rows if r.get("status") == "error" and r.get("error")]
    first = errs[0] if errs else "no trial finished"
    return f"every trial failed; first error: {first}"


def _save_joblib(store: RunStore, blob: bytes) -> None:
    tmp = f"model.tmp-{os.getpid()}"
    store.fs.write_bytes(store.rel(f"{tmp}/model.joblib"), blob)
    store.fs.rename_dir(store.rel(tmp), store.rel("model"))


def _save_mllib(store: RunStore, model) -> None:
    tmp = f"model.tmp-{os.getpid()}"
    model.write().overwrite().save(store.fs.uri(store.rel(f"{tmp}/spark")))
    store.fs.rename_dir(store.rel(tmp), store.rel("model"))


# --------------------------------------------------------------------------- command line
def parse_args(argv):
    p = argparse.ArgumentParser(prog="tune.py", description="HyperSpark tuning job (run with spark-submit)")
    p.add_argument("spec", help="spec file (YAML or JSON)")
    p.add_argument("--run-id", help="run id (default: <name>-<UTC time>); an existing id resumes")
    p.add_argument("--resume", action="store_true", help="resume the run given by --run-id")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec key")
    p.add_argument("--output", help="shortcut for --set output=URI")
    p.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    p.add_argument("--validate-only", action="store_true", help="validate the spec and exit")
    return p.parse_args(argv)


def err(msg: str) -> None:
    print(f"hyperspark: error: {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    overrides = list(args.set) + ([f"output={args.output}"] if args.output else [])
    try:
        spec = load_spec(args.spec, overrides)
        if args.resume and not args.run_id:
            raise SpecError("--resume needs --run-id (the run to resume)")
        if args.run_id is not None and not _valid_run_id(args.run_id):
            raise SpecError(f"--run-id {args.run_id!r}: use letters, digits, '.', '_' or '-'")
    except SpecError as e:
        err(str(e))
        return 2
    if args.validate_only:
        print(json.dumps({"valid": True, "model": spec.model, "strategy": spec.model_def.strategy}))
        return 0
    t0 = time.monotonic()
    spark = None
    try:
        spark = build_session(spec, args.master)
        timings = {"session": round(time.monotonic() - t0, 3)}
        summary = run(spark, spec, args.run_id, args.resume, log=lambda s: print(s, flush=True), timings=timings)
        result = {k: summary[k] for k in ("run_id", "output_uri", "best_params", "cv_score", "test_metrics",
                                          "metric", "timings")}
        print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)
        return 0
    except JobInputError as e:
        err(str(e))
        return 2
    except KeyboardInterrupt:
        err("interrupted; rerun with the same --run-id to resume")
        return 130
    except Exception as e:  # noqa: BLE001 - a real failure: keep the traceback for the log, then one line
        traceback.print_exc(file=sys.stderr)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"hyperspark: failed: {first[:300]}", file=sys.stderr, flush=True)
        return 1
    finally:
        if spark is not None:
            spark.stop()


def _valid_run_id(run_id: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", run_id))
