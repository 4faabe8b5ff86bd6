"""One runner per tool, each used the way its documentation shows, on the session's cluster.

Every runner takes a :class:`Job` (the workload: null trials, the HGB search, or the HGB search under
successive halving) and returns a :class:`Outcome`: the wall seconds of the tool's own search call, and one
row per evaluation (score, CPU seconds, end time, budget) as the shared workload functions reported it,
so every tool is timed and costed by the same code. A tool that cannot run a workload raises
:class:`Unsupported` with the one-line reason. Peer packages are imported inside the runners only.
"""
from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field

from hyperspark.ops.peers import workloads as W

TOOLS = ("hyperspark", "hyperopt", "optuna-mlflow", "ray-tune")
MODULES = {"hyperopt": "hyperopt", "optuna-mlflow": "mlflow", "ray-tune": "ray"}


class Unsupported(Exception):
    """The tool cannot run this workload (the message is the table's one line)."""


@dataclass
class Job:
    kind: str              # null | hgb | asha
    trials: int
    algo: str = "random"   # random | tpe
    seconds: float = 0.0   # null trials' sleep
    data: str = ""         # the HGB CSV (local path)
    slots: int = 2         # concurrent trials
    seed: int = 1


@dataclass
class Outcome:
    wall_s: float
    t0: float
    evals: list[dict] = field(default_factory=list)  # {score, cpu_s, t_end, budget, final}
    extra: dict = field(default_factory=dict)


def _row(r: dict, budget: int | None = None, final: bool = True) -> dict:
    return {"score": float(r["score"]), "cpu_s": float(r["cpu_s"]), "t_end": float(r["t_end"]),
            "budget": budget, "final": final}


# --------------------------------------------------------------------------- HyperSpark
def run_hyperspark(spark, job: Job, out: str, ctx: dict) -> Outcome:
    import hyperspark

    if job.kind == "null":
        space, obj = {"i": {"uniform": [0.0, 1.0]}, "seconds": job.seconds}, "hs_null"
    else:
        space, obj = {n: _hs_dim(k, lo, hi) for n, k, lo, hi in W.SPACE}, "hs_hgb"
    es = ({"type": "asha", "resource": "max_iter", "min": W.MIN_BUDGET, "max": W.FULL, "reduction": W.REDUCTION}
          if job.kind == "asha" else None)
    t0 = time.time()
    r = hyperspark.tune(objective=f"hyperspark.ops.peers.workloads:{obj}", space=space,
                        data=f"file://{job.data}" if job.data else "file:///none", search=job.algo,
                        trials=job.trials, seed=job.seed, direction="maximize", spark=spark, output=out,
                        early_stopping=es, parallelism=job.slots, progress=False)
    wall = time.time() - t0
    evals = []
    for _, t in r.trials.iterrows():
        m = t.get("metrics") or {}
        if t.get("status") != "ok" or "t_end" not in m:
            continue
        final = job.kind != "asha" or int(t.get("budget") or 0) == W.FULL
        evals.append(_row({"score": t["mean"], **m}, t.get("budget"), final))
    return Outcome(wall, t0, evals, {"timings": r.summary.timings, "slots": r.summary.cluster.slots})


def _hs_dim(kind: str, lo, hi) -> dict:
    return {"log": {"loguniform": [lo, hi]}, "int": {"int": [lo, hi]}, "float": {"uniform": [lo, hi]}}[kind]


# --------------------------------------------------------------------------- hyperopt SparkTrials
def run_hyperopt(spark, job: Job, out: str, ctx: dict) -> Outcome:
    if job.kind == "asha":
        raise Unsupported("hyperopt's fmin has no early stopping: a trial cannot report intermediate scores")
    import numpy as np
    from hyperopt import STATUS_OK, SparkTrials, fmin, hp, rand, tpe

    if job.kind == "null":
        space, secs = {"i": hp.uniform("i", 0.0, 1.0)}, job.seconds

        def fn(p):
            return {"loss": 0.0, "status": STATUS_OK, **W.nap(secs)}
    else:
        space, path = {n: _hp_dim(hp, n, k, lo, hi) for n, k, lo, hi in W.SPACE}, job.data

        def fn(p):
            r = W.evaluate(p, W.FULL, path)
            return {"loss": -r["score"], "status": STATUS_OK, **r}
    trials = SparkTrials(parallelism=job.slots, spark_session=spark)
    t0 = time.time()
    fmin(fn, space, algo=tpe.suggest if job.algo == "tpe" else rand.suggest, max_evals=job.trials, trials=trials,
         rstate=np.random.default_rng(job.seed), show_progressbar=False)
    wall = time.time() - t0
    return Outcome(wall, t0, [_row(r, W.FULL) for r in trials.results if r.get("status") == STATUS_OK])


def _hp_dim(hp, name: str, kind: str, lo, hi):
    if kind == "log":
        return hp.loguniform(name, math.log(lo), math.log(hi))
    if kind == "int":
        return hp.uniformint(name, lo, hi)
    return hp.uniform(name, lo, hi)


# --------------------------------------------------------------------------- Optuna on Spark via MLflow
def run_optuna(spark, job: Job, out: str, ctx: dict) -> Outcome:
    import mlflow
    import optuna
    from mlflow.optuna.storage import MlflowStorage
    from mlflow.pyspark.optuna.study import MlflowSparkStudy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    mlflow.set_tracking_uri(ctx["mlflow_uri"])
    name = f"peers-{job.kind}-{job.algo}-{uuid.uuid4().hex[:8]}"
    storage = MlflowStorage(experiment_id=mlflow.create_experiment(name))
    sampler = (optuna.samplers.TPESampler(seed=job.seed) if job.algo == "tpe"
               else optuna.samplers.RandomSampler(seed=job.seed))
    pruner = (optuna.pruners.SuccessiveHalvingPruner(min_resource=W.MIN_BUDGET, reduction_factor=W.REDUCTION)
              if job.kind == "asha" else optuna.pruners.NopPruner())
    study = MlflowSparkStudy(name, storage, sampler=sampler, pruner=pruner, mlflow_tracking_uri=ctx["mlflow_uri"],
                             direction="maximize")
    fn = _optuna_objective(job)
    t0 = time.time()
    study.optimize(fn, n_trials=job.trials, n_jobs=job.slots)
    wall = time.time() - t0
    evals = []
    for t in optuna.load_study(study_name=name, storage=storage).trials:
        for key, v in t.user_attrs.items():
            if key.startswith("e:"):
                b = int(key[2:])
                evals.append(_row({"score": v[0], "cpu_s": v[1], "t_end": v[2]}, b, job.kind != "asha" or b == W.FULL))
    return Outcome(wall, t0, evals)


def _optuna_objective(job: Job):
    kind, secs, path = job.kind, job.seconds, job.data

    def objective(trial):
        import optuna

        if kind == "null":
            trial.suggest_float("i", 0.0, 1.0)
            r = W.nap(secs)
            trial.set_user_attr("e:0", [r["score"], r["cpu_s"], r["t_end"]])
            return r["score"]
        p = {}
        for n, k, lo, hi in W.SPACE:
            p[n] = (trial.suggest_int(n, lo, hi) if k == "int"
                    else trial.suggest_float(n, lo, hi, log=(k == "log")))
        for b in (W.rungs() if kind == "asha" else [W.FULL]):
            r = W.evaluate(p, b, path)
            trial.set_user_attr(f"e:{b}", [r["score"], r["cpu_s"], r["t_end"]])
            if kind == "asha":
                trial.report(r["score"], b)
                if b < W.FULL and trial.should_prune():
                    raise optuna.TrialPruned()
        return r["score"]
    return objective
