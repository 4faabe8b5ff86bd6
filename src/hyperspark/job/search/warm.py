"""Warm starts (``search.warm_start``): earlier runs' trials told to this run's searcher before it asks.

A source is a run id (``<output>/<run id>/trials.jsonl``) or a ``trials.jsonl`` path/URI. Its finished
configurations (each one's last rung) are told as history; those whose params are not a configuration of
today's space (a parameter gone, a value out of range, another branch layout) or that lack one of today's
objectives are skipped and counted. None is run again: Optuna searchers know their ids as seen, grid and
random skip them. A source that does not exist, or whose ``spec.json`` tuned another model, objective or
metric, is one line (``JobInputError``, exit 2).
"""
from __future__ import annotations

import posixpath

from hyperspark.errors import JobInputError
from hyperspark.job.protocol import TrialResult, final_rows
from hyperspark.job.results import RunStore, open_fs
from hyperspark.job.search.scheduler import Scheduler
from hyperspark.job.search.searcher import Config, Restored
from hyperspark.space import trial_id


def _store(run, ref: str) -> RunStore:
    if "://" not in ref:  # a run id under this spec's output
        return RunStore(run.store.fs, ref)
    folder = posixpath.dirname(ref.rstrip("/")) if ref.endswith(".jsonl") else ref.rstrip("/")
    root, run_id = posixpath.split(folder)
    return RunStore(open_fs(run.spark, root), run_id)


def _goal(spec: dict) -> tuple:
    objs = [o.get("metric") for o in spec.get("objectives") or []] or [spec.get("metric")]
    return spec.get("objective") or spec.get("model"), tuple(objs)


def read_source(run, ref: str) -> list[TrialResult]:
    store = _store(run, ref)
    rows = store.load_trials()
    if not rows:
        raise JobInputError(f"search.warm_start: no trials at {store.fs.uri(store.rel('trials.jsonl'))}")
    prev = store.read_json("spec.json")
    if prev is not None and "spec" in prev:
        ours = _goal(run.spec.model_dump(mode="json"))
        theirs = _goal(prev["spec"])
        if ours != theirs:
            raise JobInputError(f"search.warm_start: {ref} tuned {theirs[0]} for {', '.join(map(str, theirs[1]))}; "
                                f"this run tunes {ours[0]} for {', '.join(map(str, ours[1]))}: incompatible")
    return rows


def warm_start(run, scheduler: Scheduler) -> dict | None:
    """Tell the searcher every source's finished trials; the counts for the summary (None: no warm start)."""
    refs = run.spec.search.warm_start
    if not refs:
        return None
    space, searcher, target = searcher_space(scheduler), scheduler.searcher, run.spec.target
    records: dict[str, Restored] = {}
    outside = lacking = 0
    for ref in refs:
        for row in final_rows(read_source(run, ref)):
            if not row.ok:
                continue
            if not space.contains(row.params):
                outside += 1
                continue
            value = scheduler.told(row)
            if value is None:
                lacking += 1
                continue
            tid = trial_id(target, row.params)
            outcome = "pruned" if row.decision == "prune" else "complete"
            records.setdefault(tid, Restored(Config(-1, tid, dict(row.params)), outcome,
                                             row.mean if outcome == "pruned" else value, {},
                                             scheduler.constraints(row)))
    searcher.warm(list(records.values()))
    return {"sources": list(refs), "told": len(records), "skipped_outside_space": outside,
            "skipped_missing_objectives": lacking}


def searcher_space(scheduler: Scheduler):
    return scheduler.searcher.space
