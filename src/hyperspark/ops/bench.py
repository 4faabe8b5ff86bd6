"""``hyperspark bench``: a strong-scaling report, 1 vs N workers, on any target.

For each repeat, worker counts are visited in an interleaved order (1,2,1,2,... alternating direction)
so that drift on a shared machine falls on every N alike. At each N the SAME spec (trials, seeds, data)
is submitted through the target, after the target's own ``scale`` and a check that the master reports
N ALIVE workers. Phases come from the job's summary.json: session, load, warm-up, search, refit, write;
plus scale-to-ready, submit-to-first-task, per-trial fit times and the idle-slot fraction.

Baseline: the same trials, same folds, in ONE local process with joblib ``n_jobs=N`` for every N no larger
than the local core count: what a user would do without a cluster.

Drivers: by default every timed submit starts its own driver (a cold submit: JVM, session, executors and
Python workers each time). ``warm=True`` times them on the target's warm driver instead (started for the
bench when none runs, stopped afterwards when the bench started it): what a notebook session or
``up --warm`` pays per run. The cold figure is not dropped: ``cold_runs`` cold submits at the largest N run
first and the report carries both (``spark_whole`` of the timed driver, ``cold_whole`` beside it).

Maths (field.md): S(N) = T1/TN, efficiency S/N, Karp-Flatt e = (1/S - 1/N)/(1 - 1/N), Amdahl
S = 1/((1-p) + p/N) with p fitted by least squares on 1/S, where Amdahl is linear: 1/S = 1 - p(1 - 1/N).
"""
from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from hyperspark.job.protocol import EXPECTED_EXECUTORS, RunSummary, one_line, parse_trials

from hyperspark.ops.model import LineSink, OpsError
from hyperspark.ops.targets.base import Target
from hyperspark.ops.util.files import cache_dir, write_atomic


# --------------------------------------------------------------------------- maths (pure)
def speedup(t1: float, tn: float) -> float:
    return t1 / tn


def efficiency(s: float, n: int) -> float:
    return s / n


def karp_flatt(s: float, n: int) -> float | None:
    """Experimentally determined serial fraction; undefined for N = 1."""
    if n <= 1:
        return None
    return (1.0 / s - 1.0 / n) / (1.0 - 1.0 / n)


def fit_amdahl(ns: list[int], ss: list[float]) -> float | None:
    """Least-squares parallel fraction p from (N, S) pairs; None without a point at N > 1."""
    xs = [1.0 - 1.0 / n for n in ns]
    ys = [1.0 - 1.0 / s for s in ss]
    den = sum(x * x for x in xs)
    if den == 0:
        return None
    return sum(x * y for x, y in zip(xs, ys)) / den


def amdahl(p: float, n: float) -> float:
    return 1.0 / ((1.0 - p) + p / n)


def interleaved(worker_counts: list[int], repeats: int) -> list[tuple[int, int]]:
    """(repeat, N) in run order: 1,2,4 then 4,2,1 then 1,2,4 ... (no N always first or last)."""
    order = []
    for r in range(repeats):
        seq = worker_counts if r % 2 == 0 else list(reversed(worker_counts))
        order += [(r, n) for n in seq]
    return order


# --------------------------------------------------------------------------- data and spec
BENCH_KEY = "bench"  # a spec section only the bench reads (synthetic data recipe); stripped before submit


def default_spec_path(name: str = "rf16.yaml") -> Path:
    from hyperspark.ops import resources

    for cand in (resources.find(f"benchmarks/specs/{name}"), Path.cwd() / "benchmarks" / "specs" / name):
        if cand is not None and cand.exists():
            return cand
    raise OpsError(f"the benchmark spec benchmarks/specs/{name} is not there: pass --spec")


def synthetic_csv(path: Path, rows: int, features: int, seed: int, informative: int | None = None) -> Path:
    """A make_classification data set, written once (temp name, then rename) and reused."""
    if path.exists():
        return path
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=rows, n_features=features, n_informative=informative or features // 2,
                               n_redundant=2, random_state=seed, flip_y=0.05)
    df = pd.DataFrame(X.astype(np.float32), columns=[f"x{i}" for i in range(features)])
    df["label"] = y
    return write_atomic(path, df.to_csv(index=False))


def _parse(spec_path: Path, overrides: list[str], dataset_uri: str | None):
    from hyperspark.errors import SpecError
    from hyperspark.job.spec import apply_overrides, parse_spec, read_spec_data

    try:
        data = read_spec_data(spec_path)
        recipe = data.pop(BENCH_KEY, None) if isinstance(data, dict) else None
        if recipe and dataset_uri:
            data.setdefault("dataset", {})["uri"] = dataset_uri
        data = apply_overrides(data, overrides)
        return parse_spec(data, base_dir=spec_path.resolve().parent), recipe
    except SpecError as e:
        raise OpsError(one_line(e)) from None


def check_spec(spec_path: Path | None, overrides: list[str] | None = None) -> Path:
    """Validate the bench spec (no data generated, no cluster needed); returns its path."""
    path = Path(spec_path) if spec_path else default_spec_path()
    _parse(path, list(overrides or []), None)
    return path


def prepare_spec(spec_path: Path, out_dir: Path, overrides: list[str]) -> tuple[dict, Path]:
    """Load the spec, build its synthetic data if it asks for some, validate; return (spec dict, local CSV)."""
    spec, recipe = _parse(spec_path, overrides, None)
    if recipe:
        r = recipe.get("synthetic", {})
        rows, feats, seed = int(r.get("rows", 100000)), int(r.get("features", 20)), int(r.get("seed", 0))
        csv_path = synthetic_csv(_cache_dir() / f"synthetic_{rows}x{feats}_seed{seed}.csv", rows, feats, seed,
                                 r.get("informative"))
        spec, _ = _parse(spec_path, overrides, str(csv_path))
    uri = spec.dataset.uri
    if not uri.startswith("file://"):
        raise OpsError(f"bench needs a local dataset file to upload and to run the baseline on, got {uri}")
    from hyperspark.job.results import local_path  # file:// URIs decoded (%20 ...) as everywhere they are read

    return spec.model_dump(mode="json"), local_path(uri)


def _cache_dir() -> Path:
    return cache_dir("bench-data")


# --------------------------------------------------------------------------- runner
@dataclass
class Row:
    kind: str  # spark | joblib
    workers: int
    repeat: int
    run_id: str = ""
    ok: bool = True
    wall_s: float | None = None  # whole submit (spark-submit wall) or whole baseline process
    scale_s: float | None = None
    master_alive_workers: int | None = None
    submit_to_first_task_s: float | None = None
    session_s: float | None = None
    load_s: float | None = None
    warmup_s: float | None = None
    search_s: float | None = None
    refit_s: float | None = None
    write_s: float | None = None
    idle_slot_fraction: float | None = None
    trials: int | None = None
    mean_fit_s: float | None = None
    fit_s: list = field(default_factory=list)
    best_params: str = ""
    cv_score: float | None = None
    executors: int | None = None
    bytes_shipped: int | None = None
    driver: str = "cold"  # spark rows: cold (a fresh driver) | warm (the target's warm driver)


def run_bench(target: Target, spec: Path | None, worker_counts: list[int], repeats: int, out_dir: Path,
              overrides: list[str] | None = None, on_line: LineSink | None = None,
              baseline: bool = True, warm: bool = False, cold_runs: int = 0,
              baseline_counts: list[int] | None = None) -> dict:
    """The strong-scaling bench: the spec at each worker count (interleaved), then the joblib baseline;
    writes results.csv, report.json, report.md and speedup.png into ``out_dir``; returns the report.

    ``warm``: the timed submits run on the target's warm driver, after ``cold_runs`` cold submits at the
    largest N (module docstring). ``baseline_counts``: the joblib ``n_jobs`` values (default: every N no
    larger than this machine's cores)."""
    say = on_line or (lambda s: None)
    if repeats < 1:
        raise OpsError("--repeat must be at least 1")
    if cold_runs < 0:
        raise OpsError("--cold-runs must be at least 0")
    if warm:
        target.require_warm()
    if not worker_counts or min(worker_counts) < 1:
        raise OpsError("worker counts must be integers >= 1")
    if max(worker_counts) > target.max_workers:
        raise OpsError(f"{max(worker_counts)} workers is more than the {target.name} target allows "
                       f"({target.max_workers})")
    counts = sorted(set(worker_counts))
    spec_path = check_spec(spec, overrides)
    spec_dict, csv_path = prepare_spec(spec_path, out_dir, list(overrides or []))
    spec_file = _stage(target, spec_dict, csv_path, out_dir, say)
    target.wait_idle()  # nothing of the target's own in the background while we time
    if warm:
        rows = _spark_rows(target, spec_file, [counts[-1]], cold_runs, say)  # the cold figure, first
        with _warm_driver(target, say):
            # largest N first: the cold runs left the cluster there (one scale fewer)
            rows += _spark_rows(target, spec_file, counts, repeats, say, warm=True)
    else:
        rows = _spark_rows(target, spec_file, counts, repeats, say)
    if baseline and spec_dict["model"].startswith("mllib."):
        say("no joblib baseline for an MLlib model (it has no single-process equivalent)")
    elif baseline:
        rows += _baseline_rows(spec_file, csv_path, sorted(set(baseline_counts or counts)), repeats, say)
    report = build_report(rows, counts, target.name, spec_path, driver="warm" if warm else "cold")
    return write_outputs(out_dir, rows, report)


@contextmanager
def _warm_driver(target: Target, say: LineSink) -> Iterator[None]:
    """The target's warm driver for the block: started when none runs (and stopped after), else kept."""
    st = target.status()
    running = bool(st.warm_driver and st.warm_driver.running)
    if not running:
        say("starting the warm driver (one long-lived session the timed submits reuse)")
        t0 = time.monotonic()
        target.start_warm()
        say(f"    warm driver up in {time.monotonic() - t0:.1f}s")
    try:
        yield
    finally:
        if not running:
            target.stop_warm()


def _stage(target: Target, spec_dict: dict, csv_path: Path, out_dir: Path, say: LineSink) -> Path:
    """Upload the data to the cluster's storage; write the spec every run submits (its data and output there)."""
    status = target.status()  # raises NoClusterError: "run `hyperspark up` first"
    storage = status.storage.uri.rstrip("/") if status.storage else None
    if not storage:
        raise OpsError(f"the {target.name} target reports no cluster storage")
    out_dir.mkdir(parents=True, exist_ok=True)
    say(f"uploading {csv_path.name} ({csv_path.stat().st_size / 1e6:.1f} MB) to cluster storage")
    up = target.upload(csv_path, f"bench/{csv_path.name}", force=True)
    submit_spec = dict(spec_dict, output=f"{storage}/bench/runs")
    submit_spec["dataset"] = dict(spec_dict["dataset"], uri=up.dest)
    return write_atomic(out_dir / "spec.yaml", yaml.safe_dump(submit_spec, sort_keys=False))


def _spark_rows(target: Target, spec_file: Path, counts: list[int], repeats: int, say: LineSink,
                warm: bool = False) -> list[Row]:
    """One submit per (repeat, N), after scaling to N and checking the master reports N ALIVE workers.
    Cold: each submit starts its own driver (told how many executors to wait for); ``warm``: each goes to
    the warm driver (which waits for the master's ALIVE workers' executors itself), largest N first."""
    rows: list[Row] = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    driver = "warm" if warm else "cold"
    plan = interleaved(sorted(counts, reverse=warm), repeats)
    for i, (rep, n) in enumerate(plan, 1):
        say(f"[{i}/{len(plan)}] {n} worker(s), repeat {rep + 1}: scaling")
        t0 = time.monotonic()
        st = target.scale(n)
        scale_s = time.monotonic() - t0
        alive = len(st.alive_workers)
        if alive != n:
            raise OpsError(f"asked for {n} workers but the master reports {alive} ALIVE")
        run_id = f"bench-{stamp}-{driver}-w{n}-r{rep + 1}"
        say(f"[{i}/{len(plan)}] {n} worker(s), repeat {rep + 1}: submitting {run_id} ({driver} driver)")
        t_sub = time.time()
        if warm:
            res = target.submit(spec_file, run_id=run_id)
        else:
            res = target.submit(spec_file, run_id=run_id, cold=True,
                                conf={EXPECTED_EXECUTORS: str(n)})
        row = Row("spark", n, rep + 1, run_id, res.exit_code == 0, round(res.seconds, 3), round(scale_s, 3), alive,
                  driver=driver)
        if res.exit_code != 0 or not res.summary:
            raise OpsError(f"benchmark run {run_id} failed (exit {res.exit_code}): see `hyperspark logs driver`")
        if res.warm != warm:
            raise OpsError(f"benchmark run {run_id} ran on a {'warm' if res.warm else 'fresh'} driver, not the "
                           f"{driver} one it times: see `hyperspark logs driver`")
        _fill_from_summary(row, res.summary, target, res.output_uri, t_sub)
        rows.append(row)
        say(f"    search {row.search_s:.1f}s, whole {row.wall_s:.1f}s, idle slots {row.idle_slot_fraction}")
    return rows


def _baseline_rows(spec_file: Path, csv_path: Path, counts: list[int], repeats: int, say: LineSink) -> list[Row]:
    """The joblib baseline at every N no larger than this machine's core count."""
    rows = []
    cores = os.cpu_count() or 1
    for rep in range(repeats):
        for n in counts:
            if n > cores:
                continue
            say(f"baseline joblib n_jobs={n}, repeat {rep + 1}")
            rows.append(run_baseline(spec_file, csv_path, n, rep + 1))
    return rows


def run_null_bench(target: Target, trials: int, trial_seconds: float, out_dir: Path,
                   on_line: LineSink | None = None, overrides: list[str] | None = None) -> dict:
    """Dispatch overhead, measured the way Ray Tune publishes it: ``trials`` trials that only sleep
    ``trial_seconds`` (model ``null.sleep``) on the cluster as it is. Sleeping needs no core, so a small
    machine can simulate many slots (``up --workers 4 --worker-cores 16`` = 64 slots on 2 cores).

    efficiency = ideal / search wall with ideal = trials * trial_seconds / slots;
    overhead per trial per slot = (search wall * slots - sum of fit seconds) / trials.
    ``overrides``: ``key=value`` spec overrides (``--set trial_tasks=per_trial`` compares the transports).
    """
    say = on_line or (lambda s: None)
    if trials < 1:
        raise OpsError("--null-trials must be at least 1")
    if trial_seconds < 0:
        raise OpsError("--trial-seconds must be >= 0")
    status = target.status()  # raises NoClusterError: "run `hyperspark up` first"
    storage = status.storage.uri.rstrip("/") if status.storage else None
    if not storage:
        raise OpsError(f"the {target.name} target reports no cluster storage")
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = synthetic_csv(_cache_dir() / "null_200x4.csv", 200, 4, 0, informative=2)
    up = target.upload(csv_path, f"bench/{csv_path.name}", force=True)
    folds = 2  # each trial = 2 fits of trial_seconds / 2
    spec = {"name": "null-trials", "dataset": {"uri": up.dest, "label": "label"}, "model": "null.sleep",
            "search": {"type": "grid"}, "space": {"seconds": [trial_seconds / folds], "trial": list(range(trials))},
            "metric": "accuracy", "cv_folds": folds, "output": f"{storage}/bench/runs"}
    spec_file = out_dir / "null-spec.yaml"
    write_atomic(spec_file, yaml.safe_dump(spec, sort_keys=False))
    run_id = f"null-{time.strftime('%Y%m%d-%H%M%S')}-{trials}x{trial_seconds:g}s"
    say(f"submitting {trials} null trials of {trial_seconds:g}s on {len(status.alive_workers)} worker(s)")
    res = target.submit(spec_file, run_id=run_id, overrides=list(overrides or []))
    if res.exit_code != 0 or res.summary is None:
        raise OpsError(f"null-trial run {run_id} failed (exit {res.exit_code}): see `hyperspark logs driver`")
    s = res.summary
    rows = parse_trials(target.read_text(res.output_uri.rstrip("/") + "/trials.jsonl"))
    wall = s.timings.get("search", 0.0)
    slots = s.cluster.slots
    fit = sum(r.fit_seconds or 0.0 for r in rows)
    ideal = trials * trial_seconds / slots if slots else None
    cpu = s.timings.get("driver_cpu_search")
    rep = {"trials": trials, "trial_seconds": trial_seconds, "slots": slots, "workers": len(status.alive_workers),
           "recorded": len(rows), "unique": len({r.key for r in rows}), "search_wall_s": wall,
           "ideal_s": ideal, "efficiency": round(ideal / wall, 4) if ideal and wall else None,
           "overhead_ms_per_trial_per_slot": round(1000 * (wall * slots - fit) / trials, 1) if trials else None,
           "idle_slot_fraction": s.cost.idle_slot_fraction,
           "driver_cpu_ms_per_trial": round(1000 * cpu / trials, 2) if cpu is not None else None,
           "trial_tasks": s.shipping.get("measured", {}).get("trial_tasks", "per_trial"),
           "trials_requeued": s.shipping.get("measured", {}).get("trials_requeued"),
           "session_s": s.timings.get("session"), "warmup_s": s.timings.get("warmup"), "run_id": run_id,
           "output_uri": res.output_uri}
    dst = out_dir / f"null-trials-{slots}slots-{trials}x{trial_seconds:g}s.json"
    write_atomic(dst, json.dumps(rep, indent=2) + "\n")
    rep["report"] = str(dst)
    return rep


def _fill_from_summary(row: Row, s: RunSummary, target: Target, output_uri: str, t_sub: float) -> None:
    t = s.timings
    row.session_s, row.load_s, row.warmup_s = t.get("session"), t.get("load"), t.get("warmup")
    row.search_s, row.refit_s, row.write_s = t.get("search"), t.get("refit"), t.get("write")
    row.idle_slot_fraction = s.cost.idle_slot_fraction
    row.best_params = json.dumps(s.best_params, sort_keys=True)
    row.cv_score = s.cv_score
    row.executors = s.cluster.executors
    row.bytes_shipped = s.shipping.get("bytes_shipped")
    try:
        trials = parse_trials(target.read_text(output_uri.rstrip("/") + "/trials.jsonl"))
    except Exception:  # noqa: BLE001 - per-trial detail is optional in the report
        trials = []
    ok = [r for r in trials if r.status == "ok" and r.fit_seconds is not None]
    row.trials = len(trials)
    row.fit_s = [round(r.fit_seconds, 3) for r in ok]
    row.mean_fit_s = round(statistics.fmean(row.fit_s), 3) if row.fit_s else None
    starts = [r.started_at for r in ok if r.started_at is not None]
    if starts:
        row.submit_to_first_task_s = round(min(starts) - t_sub, 3)


def run_baseline(spec_file: Path, csv_path: Path, n_jobs: int, repeat: int) -> Row:
    """The same trials in one fresh local process with joblib (wall = the whole process)."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hyperspark.ops.baseline", str(spec_file), str(csv_path),
                           str(n_jobs)], capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise OpsError(f"joblib baseline failed: {one_line((proc.stderr.strip().splitlines() or ['?'])[-1])}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return Row("joblib", n_jobs, repeat, f"joblib-n{n_jobs}-r{repeat}", True, round(wall, 3),
               load_s=out["load_s"], search_s=out["search_s"], refit_s=out["refit_s"], trials=out["trials"],
               best_params=json.dumps(out["best_params"], sort_keys=True), cv_score=out["cv_score"])


# --------------------------------------------------------------------------- report
def _summ(values: list[float]) -> dict:
    v = [x for x in values if x is not None]
    if not v:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def build_report(rows: list[Row], worker_counts: list[int], target: str, spec_path: Path,
                 driver: str = "cold") -> dict:
    """Medians and spreads per N; the spark tables are those of ``driver`` (the timed submits), the other
    driver's whole-submit times are ``cold_whole`` (a warm bench's cold check)."""
    import platform

    timed = [r for r in rows if r.kind != "spark" or r.driver == driver]
    cold_check = [r for r in rows if r.kind == "spark" and r.driver != driver]

    def table(kind: str, attr: str) -> list[dict]:
        out = []
        by_n = {n: [getattr(r, attr) for r in timed if r.kind == kind and r.workers == n] for n in worker_counts}
        base = _summ(by_n.get(worker_counts[0], []))["median"] if worker_counts[0] == 1 else None
        for n in worker_counts:
            s = _summ(by_n[n])
            if not s["n"]:
                continue
            sp = speedup(base, s["median"]) if base else None
            out.append({"workers": n, **s, "speedup": sp, "speedup_min": (base / s["max"]) if base else None,
                        "speedup_max": (base / s["min"]) if base else None,
                        "efficiency": efficiency(sp, n) if sp else None,
                        "karp_flatt": karp_flatt(sp, n) if sp else None})
        return out

    spark_search = table("spark", "search_s")
    spark_wall = table("spark", "wall_s")
    base_search = table("joblib", "search_s")
    base_wall = table("joblib", "wall_s")
    pts = [(r["workers"], r["speedup"]) for r in spark_search if r["speedup"] and r["workers"] > 1]
    p = fit_amdahl([a for a, _ in pts], [b for _, b in pts]) if pts else None
    phases = {}
    for n in worker_counts:
        rs = [r for r in timed if r.kind == "spark" and r.workers == n]
        phases[n] = {k: _summ([getattr(r, k) for r in rs])["median"] for k in (
            "scale_s", "submit_to_first_task_s", "session_s", "load_s", "warmup_s", "search_s", "refit_s",
            "write_s", "wall_s", "idle_slot_fraction", "mean_fit_s", "bytes_shipped")}
    cold_whole = [{"workers": n, **_summ([r.wall_s for r in cold_check if r.workers == n])}
                  for n in sorted({r.workers for r in cold_check})]
    targets = _targets(spark_search, spark_wall, base_search, base_wall, cold_whole, driver)
    best = {r.best_params for r in rows}
    return {
        "target": target, "spec": str(spec_path), "worker_counts": worker_counts, "driver": driver,
        "repeats": max((r.repeat for r in timed), default=0), "cold_whole": cold_whole,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "memory_gb": _mem_gb()},
        "spark_search": spark_search, "spark_whole": spark_wall, "joblib_search": base_search,
        "joblib_whole": base_wall, "amdahl_p": p, "phases_median": phases, "targets": targets,
        "same_best_params_everywhere": len(best) == 1, "runs": len(rows),
    }


def _targets(spark_search: list[dict], spark_wall: list[dict], base_search: list[dict], base_wall: list[dict],
             cold_whole: list[dict], driver: str) -> dict:
    """The issue's targets at 2 workers against joblib ``n_jobs=2``, where both sides were measured."""
    def at2(table: list[dict], key: str = "median"):
        return next((r[key] for r in table if r["workers"] == 2), None)

    targets = {}
    sp2, jb2 = at2(spark_search, "speedup"), at2(base_search, "speedup")
    if sp2 and jb2:
        targets["search_speedup_vs_joblib_speedup"] = {"value": sp2 / jb2, "target": ">= 0.95"}
    w2, j2, c2 = at2(spark_wall), at2(base_wall), at2(cold_whole)
    if w2 and j2:
        targets["whole_submit_2w_over_joblib_2"] = {"value": w2 / j2,
                                                     "target": "<= 1.05" if driver == "warm" else "<= 1.25"}
    if c2 and j2:
        targets["whole_cold_submit_2w_over_joblib_2"] = {"value": c2 / j2, "target": "<= 1.25"}
    s2, js2 = at2(spark_search), at2(base_search)
    if s2 and js2:
        targets["search_2w_over_joblib_2"] = {"value": s2 / js2, "target": "<= 1.15"}
    return targets


def _mem_gb() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            return round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        return None


def _f(v, fmt="{:.2f}") -> str:
    return "" if v is None else fmt.format(v)


def report_markdown(rep: dict) -> str:
    m = rep["machine"]
    lines = [f"# HyperSpark strong-scaling report ({rep['target']} target)", "",
             f"Machine: {m['cpus']} CPUs, {m['memory_gb']} GiB, Python {m['python']}, {m['platform']}. "
             f"Spec: `{rep['spec']}`. Repeats: {rep['repeats']} (worker counts interleaved).", "",
             "## Search phase (the trials only)", "",
             "| N | median s | min-max s | speedup (spread) | efficiency | Karp-Flatt e |",
             "|---|---|---|---|---|---|"]
    for r in rep["spark_search"]:
        lines.append(f"| {r['workers']} | {_f(r['median'])} | {_f(r['min'])}-{_f(r['max'])} | "
                     f"{_f(r['speedup'])} ({_f(r['speedup_min'])}-{_f(r['speedup_max'])}) | "
                     f"{_f(r['efficiency'])} | {_f(r['karp_flatt'], '{:.3f}')} |")
    lines += ["", f"Amdahl fit: parallel fraction p = {_f(rep['amdahl_p'], '{:.3f}')}", "",
              f"## Whole submit (wall clock of each submit, {rep.get('driver', 'cold')} driver)", "",
              "| N | median s | min-max s | speedup |", "|---|---|---|---|"]
    for r in rep["spark_whole"]:
        lines.append(f"| {r['workers']} | {_f(r['median'])} | {_f(r['min'])}-{_f(r['max'])} | {_f(r['speedup'])} |")
    for r in rep.get("cold_whole") or []:
        lines.append(f"| {r['workers']} (cold driver, {r['n']} run(s)) | {_f(r['median'])} | "
                     f"{_f(r['min'])}-{_f(r['max'])} | |")
    if rep["joblib_search"]:
        lines += ["", "## Baseline: one process, joblib n_jobs=N", "",
                  "| n_jobs | search median s | speedup | whole median s |", "|---|---|---|---|"]
        whole = {r["workers"]: r for r in rep["joblib_whole"]}
        for r in rep["joblib_search"]:
            lines.append(f"| {r['workers']} | {_f(r['median'])} | {_f(r['speedup'])} | "
                         f"{_f(whole.get(r['workers'], {}).get('median'))} |")
    lines += ["", "## Where the time goes (medians, seconds)", "",
              "| N | scale | submit->first trial | session | load | warm-up | search | refit | write | whole "
              "| idle slots | mean trial |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, ph in rep["phases_median"].items():
        lines.append("| " + " | ".join([str(n)] + [_f(ph[k]) for k in (
            "scale_s", "submit_to_first_task_s", "session_s", "load_s", "warmup_s", "search_s", "refit_s",
            "write_s", "wall_s", "idle_slot_fraction", "mean_fit_s")]) + " |")
    if rep["targets"]:
        lines += ["", "## Targets", "", "| measure | value | target |", "|---|---|---|"]
        for k, v in rep["targets"].items():
            lines.append(f"| {k} | {v['value']:.3f} | {v['target']} |")
    lines += ["", f"Same best parameters in every run: {rep['same_best_params_everywhere']}", ""]
    return "\n".join(lines)


def plot(rep: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["workers"] for r in rep["spark_search"] if r["speedup"]]
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=110)
    top = max(ns + [2])
    ax.plot([1, top], [1, top], "k--", lw=1, label="ideal")
    if ns:
        sp = [r["speedup"] for r in rep["spark_search"] if r["speedup"]]
        lo = [r["speedup"] - r["speedup_min"] for r in rep["spark_search"] if r["speedup"]]
        hi = [r["speedup_max"] - r["speedup"] for r in rep["spark_search"] if r["speedup"]]
        ax.errorbar(ns, sp, yerr=[lo, hi], fmt="o-", capsize=4, label="Spark search (median, min-max)")
    wn = [r["workers"] for r in rep["spark_whole"] if r["speedup"]]
    if wn:
        ax.plot(wn, [r["speedup"] for r in rep["spark_whole"] if r["speedup"]], "s:", label="Spark whole submit")
    if rep["amdahl_p"] is not None:
        import numpy as np

        xs = np.linspace(1, top, 50)
        ax.plot(xs, [amdahl(rep["amdahl_p"], x) for x in xs], "-", alpha=0.6,
                label=f"Amdahl fit p={rep['amdahl_p']:.2f}")
    bn = [r["workers"] for r in rep["joblib_search"] if r["speedup"]]
    if bn:
        ax.plot(bn, [r["speedup"] for r in rep["joblib_search"] if r["speedup"]], "^-", label="joblib baseline")
    ax.set_xlabel("workers (N)")
    ax.set_ylabel("speedup vs N=1")
    ax.set_title(f"HyperSpark strong scaling ({rep['target']})")
    ax.set_xticks(sorted(set(ns + bn + [1])))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    import io

    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    write_atomic(path, png.getvalue())


def write_outputs(out_dir: Path, rows: list[Row], rep: dict) -> dict:
    fields = list(asdict(rows[0]).keys()) if rows else []
    import io

    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        d = asdict(r)
        d["fit_s"] = json.dumps(d["fit_s"])
        w.writerow(d)
    write_atomic(out_dir / "results.csv", buf.getvalue())
    rep = dict(rep, rows=[asdict(r) for r in rows], artefacts={
        "results_csv": str(out_dir / "results.csv"), "report_md": str(out_dir / "report.md"),
        "plot": str(out_dir / "speedup.png")})
    write_atomic(out_dir / "report.json", json.dumps(rep, indent=2, default=str) + "\n")
    write_atomic(out_dir / "report.md", report_markdown(rep))
    plot(rep, out_dir / "speedup.png")
    return rep
