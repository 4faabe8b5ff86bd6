"""The write stage: the model's manifest and ``summary.json`` (a :class:`~.protocol.RunSummary`), from
the run's state. The parts that differ per kind of trial (data, cost) come from the strategy. With several
objectives or constraints the summary carries them and the Pareto front (``pareto.front``, computed here
once for the summary; the API, results and the report read it from there)."""
from __future__ import annotations

import json
import time

from hyperspark.job.context import Refit, Run
from hyperspark.job.pareto import front
from hyperspark.job.protocol import (BestTrial, ClusterInfo, EarlyStoppingInfo, ParetoTrial, RunSummary,
                                     SearchInfo, TrialResult)
from hyperspark.job.search.loop import LoopStats
from hyperspark.job.search.scheduler import ASHA
from hyperspark.job.session import app_id_of, master_of, versions


def refit_params(run: Run, best: TrialResult) -> dict:
    """The winner's params at full budget (early stopping sets the resource per rung)."""
    es = run.spec.early_stopping
    if es is None or best.budget is None:
        return dict(best.params)
    return {**best.params, es.resource: int(best.budget)}


def write_manifest(run: Run, best: TrialResult, refit: Refit, vers: dict) -> None:
    """``model/manifest.json``: what the saved model is, how it scored, what made it."""
    prep = run.problem.prep
    manifest = {
        # a choice of families: the chosen one (its ``model`` param)
        "model": best.params.get("model", run.spec.model) if run.spec.model_choice else run.spec.model,
        "task": prep.task, "params": refit_params(run, best),
        "cv_metric": run.problem.metric, "cv_score": best.mean, "test_metrics": refit.test_metrics,
        "features": prep.features, "label": prep.label, "classes": prep.classes, "data_hash": prep.data_hash,
        "versions": vers, "run_id": run.run_id, "created_at": time.time(), "format": refit.format,
    }
    run.store.fs.write_bytes(run.store.rel("model/manifest.json"), (json.dumps(manifest, indent=2) + "\n").encode())


def early_stopping_info(run: Run) -> EarlyStoppingInfo | None:
    """Rows per rung, pruned configurations, and the core-seconds ASHA saved against full budgets."""
    es, scheduler, rows = run.spec.early_stopping, run.scheduler, run.store.rows
    if es is None or not isinstance(scheduler, ASHA):
        return None
    threads = run.spec.trial_cpus
    per_rung = [0] * len(scheduler.budgets)
    last: dict[str, TrialResult] = {}
    busy = 0.0
    for r in rows:
        per_rung[r.rung] += 1
        busy += (r.fit_seconds or 0.0) * threads
        if r.ok and (r.trial_id not in last or r.rung > last[r.trial_id].rung):
            last[r.trial_id] = r
    # what the same configurations would have cost at full budget: each one's last fit scaled to max
    full = sum((r.fit_seconds or 0.0) * threads * es.max / max(1, r.budget or es.max) for r in last.values())
    pruned = sum(1 for r in rows if r.decision == "prune")
    return EarlyStoppingInfo(type=es.type, resource=es.resource, min=es.min, max=es.max, reduction=es.reduction,
                             rungs=scheduler.budgets, per_rung=per_rung, pruned=pruned,
                             busy_core_seconds=round(busy, 3), full_budget_core_seconds_estimate=round(full, 3),
                             core_seconds_saved=round(full - busy, 3))


def search_info(run: Run, ran: list[TrialResult], stats: LoopStats) -> SearchInfo:
    spec, rows, searcher = run.spec, run.store.rows, run.scheduler.searcher
    return SearchInfo(
        type=spec.search.type, trials=searcher.total, ran=len(ran), resumed=len(run.resumed),
        ok=sum(r.ok for r in rows), failed=sum(not r.ok for r in ran),
        timed_out=sum(r.status == "timeout" for r in rows), lost=sum(r.status == "lost" for r in rows),
        cv_folds=None if spec.is_objective else spec.cv_folds,
        seed=spec.search.seed, configs=len({r.trial_id for r in rows}),
        settings={**searcher.settings(), "timeout_s": spec.search.timeout, "target": spec.search.target},
        stopped=stats.stopped)


def cluster_info(run: Run) -> ClusterInfo:
    """The cluster as the run used it; with ``resources``, the request, whether it ran under a task
    resource profile, and the GPUs the executors held (its slots are counted from the profile)."""
    c, spark = run.cluster, run.spark
    return ClusterInfo(master=master_of(spark) if spark is not None else f"joblib[{c.cores}]", executors=c.executors,
                       cores=c.cores, slots=c.slots, parallelism=c.parallelism,
                       task_cpus=run.spec.trial_cpus, app_id=app_id_of(spark) if spark is not None else None,
                       resources=c.request.as_dict() if c.request is not None else None,
                       profile=c.profile is not None, gpus=c.gpus)


def objectives_info(run: Run) -> dict:
    """``objectives``, ``constraints``, ``pareto`` (the front), ``select`` and ``warm_start`` for the summary
    (all None for a one-metric run without constraints or warm start)."""
    sched = run.scheduler
    obj = sched.objectives
    out: dict = {"warm_start": getattr(sched, "warm_info", None)}
    if obj is None:
        return out
    rows = front(run.store.rows, obj, sched.max_rung)
    out.update(
        objectives=[{"metric": n, "direction": "maximize" if g else "minimize"} for n, g in zip(obj.names, obj.greater)],
        constraints=[c.text for c in obj.constraints] or None,
        pareto=[ParetoTrial(trial_id=r.trial_id, number=r.number, params=dict(r.params), budget=r.budget,
                            values={n: obj.value(r, n) for n in obj.names}) for r in rows],
        select=obj.select or {"metric": obj.names[0]})
    return out


def refitter(run: Run):
    """params -> a single-machine model fit on the run's train split (the API's ``Result.refit``); None for
    objectives and MLlib models. Nothing is saved: the run's model stays the selected one."""
    sp = run.splits
    if run.spec.is_objective or sp is None or sp.X_tr is None:
        return None
    from hyperspark.job import families
    from hyperspark.job.models import build_single_machine, get_model
    from hyperspark.job.strategies.base import refit_threads

    def fit(params: dict):
        key, params = families.pick(params, run.spec.model, run.spec.model_choice)
        est = build_single_machine(get_model(key), run.problem.task, params, refit_threads(), run.spec.seed)
        return est.fit(sp.X_tr, sp.y_tr)

    return fit


def write_summary(run: Run, best: TrialResult, stats: LoopStats, shipping: dict, refit: Refit) -> RunSummary:
    """Write the manifest (when a model was saved) and ``summary.json`` LAST: its presence = completed."""
    spec, problem, t_write = run.spec, run.problem, time.monotonic()
    if run.options.artifacts is not None and run.scheduler.objectives is not None:
        run.options.artifacts["refit"] = refitter(run)
    resumed_keys = {r.key for r in run.resumed}
    ran = [r for r in run.store.rows if r.key not in resumed_keys]
    vers = versions(run.spark)
    if refit.format is not None:  # objectives save no model
        write_manifest(run, best, refit, vers)
    run.time("write", t_write)
    run.timings["total"] = round(time.monotonic() - run.t0 + run.timings.get("session", 0.0), 3)
    params = refit_params(run, best)
    summary = RunSummary(
        run_id=run.run_id, name=spec.name, output_uri=run.store.uri, model=spec.target,
        kind="objective" if spec.is_objective else "model", task=problem.task or spec.task or "custom",
        strategy=spec.strategy, metric=problem.metric, greater_is_better=problem.greater_is_better,
        search=search_info(run, ran, stats), early_stopping=early_stopping_info(run),
        best=BestTrial(trial_id=best.trial_id, params=params, cv_score=best.mean, cv_std=best.std,
                       fold_scores=best.fold_scores, budget=best.budget, metrics=best.metrics),
        best_params=params, cv_score=best.mean, test_metrics=refit.test_metrics,
        model_saved=refit.format is not None, data=run.strategy.data_info(run), cluster=cluster_info(run),
        cost=run.strategy.cost(run, ran), shipping=shipping, timings=run.timings, versions=vers,
        spec_fingerprint=spec.fingerprint(), finished_at=time.time(), **objectives_info(run),
    )
    run.store.write_json("summary.json", summary.model_dump(mode="json"))
    return summary
