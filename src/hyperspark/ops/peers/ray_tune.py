"""Ray Tune on Spark: ``ray.util.spark.setup_ray_cluster`` starts Ray worker nodes as a long-running Spark
job on the cluster (its slots are Ray's until ``shutdown_ray_cluster``), then ``tune.Tuner`` runs the
search: the default random search, Ray's Optuna wrapper for TPE (Ray Tune has no TPE of its own), and
``ASHAScheduler`` for early stopping (the trainable reports after each budget)."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time

from hyperspark.ops.peers import workloads as W
from hyperspark.ops.peers.tools import Job, Outcome, _row


@contextlib.contextmanager
def ray_on_spark(workers: int, cores: int):
    """A Ray cluster on the Spark cluster, shut down on the way out (also on failure).

    Ray's temp root is a short directory of its own under the system temp dir: each Ray node
    puts its AF_UNIX sockets at ``<root>/ray-<port>-<id>/session_<date>_<time>_<pid>/sockets/plasma_store.1``
    (about 90 bytes past the root), and Linux caps a socket path at 107 bytes, so a pytest or mkdtemp
    directory made the worker nodes fail ("AF_UNIX path length cannot exceed 107 bytes") while the head,
    with a shorter path, started."""
    import ray
    from ray.util.spark import setup_ray_cluster, shutdown_ray_cluster

    root = tempfile.mkdtemp(prefix="hsr", dir="/tmp" if os.path.isdir("/tmp") else None)
    try:
        with _ray_cluster(ray, setup_ray_cluster, shutdown_ray_cluster, workers, cores, root) as info:
            yield info
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _ray_cluster(ray, setup_ray_cluster, shutdown_ray_cluster, workers: int, cores: int, tmp: str):
    t0 = time.time()
    # Ray on Spark refuses a worker node with more CPUs than the machine has (declared Spark cores do not
    # count): at most the real cores per node; trials then take a fraction of a CPU to fill every slot
    cores = min(cores, os.cpu_count() or cores)
    setup_ray_cluster(max_worker_nodes=workers, min_worker_nodes=workers, num_cpus_worker_node=cores,
                      num_gpus_worker_node=0, num_cpus_head_node=0, num_gpus_head_node=0,
                      ray_temp_root_dir=tmp, collect_log_to_path=None)
    try:  # from here on the Ray cluster is up: shut it down whatever happens
        ray.init(log_to_driver=False)
        yield {"ray_setup_s": round(time.time() - t0, 1), "ray_cpus": workers * cores}
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        shutdown_ray_cluster()


def _space(job: Job) -> dict:
    from ray import tune

    if job.kind == "null":
        return {"i": tune.uniform(0.0, 1.0)}
    dims = {"log": tune.loguniform, "int": lambda lo, hi: tune.randint(lo, hi + 1), "float": tune.uniform}
    return {n: dims[k](lo, hi) for n, k, lo, hi in W.SPACE}


def _trainable(job: Job):
    kind, secs, path = job.kind, job.seconds, job.data

    def trainable(config):
        from ray import tune

        if kind == "null":
            tune.report({**W.nap(secs), "budget": 0})
            return
        for b in (W.rungs() if kind == "asha" else [W.FULL]):
            tune.report({**W.evaluate(config, b, path), "budget": b})
    return trainable


def run_ray(spark, job: Job, out: str, ctx: dict) -> Outcome:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    search = None
    if job.algo == "tpe":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        search = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=job.seed))
    sched = (ASHAScheduler(time_attr="budget", grace_period=W.MIN_BUDGET, max_t=W.FULL, reduction_factor=W.REDUCTION)
             if job.kind == "asha" else None)
    tuner = tune.Tuner(
        tune.with_resources(_trainable(job), {"cpu": min(1.0, ctx.get("ray_cpus", job.slots) / job.slots)}),
        param_space=_space(job),
        tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=job.trials, search_alg=search,
                                    scheduler=sched, max_concurrent_trials=job.slots),
        run_config=tune.RunConfig(storage_path=out, verbose=0))
    t0 = time.time()
    grid = tuner.fit()
    wall = time.time() - t0
    evals = []
    for res in grid:
        df = res.metrics_dataframe
        if df is None:
            continue
        for _, m in df.iterrows():
            b = int(m["budget"])
            evals.append(_row(m, b, job.kind != "asha" or b == W.FULL))
    return Outcome(wall, t0, evals, {"errors": len(grid.errors)})
