"""The searcher / scheduler / in-flight loop seam, without Spark (executors are plain thread pools here)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from hyperspark.job.search.loop import StopRules, run_loop
from hyperspark.errors import SpecError
from hyperspark.job.protocol import TrialResult
from hyperspark.job.search.scheduler import ASHA, Job, Scheduler, rung_budgets
from hyperspark.job.search.searcher import Config, GridSearcher, RandomSearcher, TPESearcher
from hyperspark.space import Space
from hyperspark.job.spec import parse_spec

SPACE = {"x": {"uniform": [-3.0, 3.0]}, "k": {"int": [1, 8]}, "c": ["a", "b", None]}


def objective(p: dict) -> float:
    """A smooth function with its maximum at x=1, k=6, c='b'."""
    return -(p["x"] - 1.0) ** 2 - 0.1 * (p["k"] - 6) ** 2 + (0.5 if p["c"] == "b" else 0.0)


# ------------------------------------------------------------------------------------- searchers
def test_grid_exhausts_its_grid_in_full():
    s = GridSearcher("m", {"a": [1, 2, 3], "b": [True, False]}, None, 0, True)
    asked = []
    while (c := s.ask()) is not None:
        asked.append(c)
    assert s.total == 6 and len(asked) == 6
    assert sorted(c.number for c in asked) == list(range(6))
    assert sorted(map(lambda c: tuple(sorted(c.params.items())), asked)) == sorted(
        tuple(sorted(p.items())) for p in Space.from_spec({"a": [1, 2, 3], "b": [True, False]}).grid())
    assert s.ask() is None


def test_random_is_reproducible_from_its_seed_and_differs_across_seeds():
    def draw(seed):
        s = RandomSearcher("m", SPACE, 12, seed, True, longest_first=False)
        return [s.ask().params for _ in range(s.total)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)
    assert draw(7) == Space.from_spec(SPACE).sample(12, 7)  # the same draws as the space's own


def _tpe_run(seed: int, n: int, stop_after: int | None = None):
    s = TPESearcher("m", SPACE, n, seed, True)
    out = []
    while (c := s.ask()) is not None:
        out.append(c)
        s.tell(c, "complete", objective(c.params))
        if stop_after is not None and len(out) == stop_after:
            break
    return s, out


def test_tpe_proposes_inside_the_space_and_learns():
    _s, out = _tpe_run(seed=1, n=40)
    assert len(out) == 40 and len({c.trial_id for c in out}) == 40
    for c in out:
        assert -3.0 <= c.params["x"] <= 3.0 and isinstance(c.params["k"], int) and 1 <= c.params["k"] <= 8
        assert c.params["c"] in ("a", "b", None)
    first, last = out[:10], out[-10:]
    assert max(objective(c.params) for c in last) > max(objective(c.params) for c in first)
    # model-based proposals concentrate near the optimum compared with the random start-up ones
    assert sum(abs(c.params["x"] - 1) for c in last) < sum(abs(c.params["x"] - 1) for c in first)


def test_tpe_replay_gives_the_same_next_proposals():
    """Resume: tell a fresh searcher the first 15 outcomes, then it proposes what the uninterrupted run did."""
    from hyperspark.job.search.searcher import Restored

    _s, full = _tpe_run(seed=3, n=25)
    fresh = TPESearcher("m", SPACE, 25, 3, True)
    fresh.restore([Restored(c, "complete", objective(c.params)) for c in full[:15]])
    nxt = []
    while (c := fresh.ask()) is not None:
        nxt.append(c)
        fresh.tell(c, "complete", objective(c.params))
    assert [c.params for c in nxt] == [c.params for c in full[15:]]
    assert [c.number for c in nxt] == list(range(15, 25))


def test_tpe_constant_liar_spreads_parallel_asks():
    s = TPESearcher("m", {"x": {"uniform": [0.0, 1.0]}}, 30, 0, True)
    for _ in range(12):  # past the random start-up
        c = s.ask()
        s.tell(c, "complete", -abs(c.params["x"] - 0.5))
    pending = [s.ask() for _ in range(6)]  # six asked at once, none told yet
    xs = sorted(c.params["x"] for c in pending)
    assert len({round(x, 6) for x in xs}) == 6


# ------------------------------------------------------------------------------------- ASHA
def _row(cfg, rung, budget, score) -> TrialResult:
    return TrialResult(trial_id=cfg.trial_id, params=cfg.params, status="ok", number=cfg.number, rung=rung,
                       budget=budget, mean=score, fit_seconds=0.01)


def test_rung_budgets():
    assert rung_budgets(10, 270, 3) == [10, 30, 90, 270]
    assert rung_budgets(1, 8, 2) == [1, 2, 4, 8]
    assert rung_budgets(10, 100, 3) == [10, 30, 90, 100]


@pytest.mark.parametrize("gib", [True, False])
def test_asha_promotion_rule_on_a_hand_made_table(gib):
    """Rung 0 results arrive in this order; reduction 3 keeps the top n // 3 of the n seen so far."""
    s = GridSearcher("m", {"i": list(range(9))}, None, 0, gib, longest_first=False)
    asha = ASHA(s, gib, "n_estimators", 1, 9, 3)
    scores = [0.5, 0.4, 0.6, 0.55, 0.3, 0.7, 0.65, 0.2, 0.1]
    expected = ["prune",     # n=1: 1 // 3 = 0, nothing is promoted yet
                "prune",     # n=2: still 0
                "promote",   # n=3, top 1: 0.6 is the best so far
                "prune",     # n=4, top 1: 0.55 < 0.6
                "prune",     # n=5, top 1
                "promote",   # n=6, top 2: 0.7 best, 1 of 2 promoted so far
                "prune",     # n=7, top 2: 0.65 is second, but the rung's quota of 2 is used
                "prune",     # n=8, top 2
                "prune"]     # n=9, top 3: 0.1 is last
    if not gib:  # lower is better: flip the scores, the same decisions follow
        scores = [-x for x in scores]
    got = []
    for sc in scores:  # results land in this order (configurations asked straight from the searcher)
        job = Job(s.ask(), 0, asha.budget(0))
        assert job.budget == 1
        got.append(asha.on_result(job, _row(job.config, 0, 1, sc)))
    assert got == expected
    # promotions come before new configurations, at the next rung's budget, in the order decided
    promoted = [asha.next_job() for _ in range(2)]
    assert [j.rung for j in promoted] == [1, 1] and {j.budget for j in promoted} == {3}
    assert [j.config.params["i"] for j in promoted] == [2, 5]
    assert asha.pruned == 7 and asha.promoted == [2, 0, 0]


def test_asha_final_rung_completes_and_failed_is_not_promoted():
    s = GridSearcher("m", {"i": [0, 1, 2]}, None, 0, True, longest_first=False)
    asha = ASHA(s, True, "max_iter", 2, 4, 2)
    j = asha.next_job()
    assert asha.on_result(j, _row(j.config, 0, 2, 0.5)) == "prune"  # 1 // 2 = 0
    j = asha.next_job()
    assert asha.on_result(j, _row(j.config, 0, 2, 0.9)) == "promote"  # top 1 of 2
    j1 = asha.next_job()
    assert (j1.rung, j1.budget, j1.config.params["i"]) == (1, 4, 1)
    assert asha.on_result(j1, _row(j1.config, 1, 4, 0.95)) == "complete"
    j2 = asha.next_job()
    failed = TrialResult(trial_id=j2.config.trial_id, params=j2.config.params, status="error", error="boom")
    assert asha.on_result(j2, failed) == "failed"
    assert asha.next_job() is None and asha.drain() is None  # a full-budget result exists


def test_asha_drain_finishes_a_search_that_reached_no_full_budget():
    s = GridSearcher("m", {"i": [0, 1]}, None, 0, True, longest_first=False)
    asha = ASHA(s, True, "n_estimators", 1, 9, 3)
    for sc in (0.7, 0.8):
        j = asha.next_job()
        assert asha.on_result(j, _row(j.config, 0, 1, sc)) == "prune"  # 2 // 3 = 0: nothing promoted
    assert asha.next_job() is None
    d = asha.drain()  # the best of the highest rung reached goes up, one rung at a time
    assert (d.config.params["i"], d.rung, d.budget) == (1, 1, 3)
    assert asha.drain() is None  # it is on its way: wait for it
    assert asha.on_result(d, _row(d.config, 1, 3, 0.85)) == "prune"
    d2 = asha.drain()
    assert (d2.config.params["i"], d2.rung, d2.budget) == (1, 2, 9)
    assert asha.on_result(d2, _row(d2.config, 2, 9, 0.9)) == "complete"
    assert asha.drain() is None


# ------------------------------------------------------------------------------------- the loop
class SleepExecutor:
    """Runs the objective in threads with a given duration per job; records concurrency."""

    def __init__(self, slots: int, duration=lambda job: 0.02):
        self.pool = ThreadPoolExecutor(max_workers=slots * 2)
        self.duration = duration
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.jobs: list[Job] = []

    def submit(self, job):
        self.jobs.append(job)
        return self.pool.submit(self._run, job)

    def _run(self, job):
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        t = time.time()
        time.sleep(self.duration(job))
        score = objective(job.config.params) - (0.0 if job.budget is None else 1.0 / job.budget)
        with self.lock:
            self.running -= 1
        return {"status": "ok", "mean": score, "fold_scores": [score], "started_at": t, "ended_at": time.time(),
                "fit_seconds": time.time() - t}


def _to_row(job, raw):
    return TrialResult(trial_id=job.config.trial_id, params=job.config.params, number=job.config.number,
                       rung=job.rung, budget=job.budget, **raw)


def test_loop_keeps_exactly_slots_in_flight_and_records_every_config_once():
    ex = SleepExecutor(3, duration=lambda j: 0.01 + 0.03 * (j.config.number % 3))
    sched = Scheduler(RandomSearcher("m", SPACE, 20, 0, True), True)
    rows = []
    stats = run_loop(sched, ex, 3, _to_row, rows.append)
    assert stats.done == 20 and len(rows) == 20 and len({r.trial_id for r in rows}) == 20
    assert ex.peak == 3
    assert all(r.decision == "complete" for r in rows)


def test_loop_with_asha_records_each_trial_rung_once_and_prunes():
    ex = SleepExecutor(2)
    sched = ASHA(TPESearcher("m", SPACE, 18, 0, True), True, "n_estimators", 1, 9, 3)
    rows = []
    run_loop(sched, ex, 2, _to_row, rows.append)
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys))
    assert {r.rung for r in rows} >= {0, 1}
    assert len({r.trial_id for r in rows if r.rung == 0}) == 18
    assert sched.pruned > 0 and sum(r.decision == "prune" for r in rows) == sched.pruned
    assert any(r.rung == 2 and r.decision == "complete" for r in rows)
    for r in rows:  # a promoted row has its next rung recorded
        if r.decision == "promote":
            assert any(o.trial_id == r.trial_id and o.rung == r.rung + 1 for o in rows)


def test_stop_rules_end_dispatch_but_running_jobs_finish():
    ex = SleepExecutor(2, duration=lambda j: 0.05)
    sched = Scheduler(RandomSearcher("m", SPACE, 200, 0, True), True)
    rows = []
    stats = run_loop(sched, ex, 2, _to_row, rows.append, StopRules(deadline=time.monotonic() + 0.3))
    assert stats.stopped == "timeout" and 2 <= len(rows) < 200
    assert len(ex.jobs) == len(rows)  # everything dispatched was recorded

    ex = SleepExecutor(1)
    sched = Scheduler(GridSearcher("m", {"x": [0.0, 1.0, 2.0, 3.0], "k": [6], "c": ["b"]}, None, 0, True,
                                   longest_first=False), True)
    stats = run_loop(sched, ex, 1, _to_row, rows.clear() or rows.append, StopRules(target=0.5))
    assert stats.stopped == "target" and [r.params["x"] for r in rows] == [0.0, 1.0]


# ------------------------------------------------------------------------------------- spec: bad input
def _spec(base_spec, **kw):
    d = dict(base_spec)
    d.update(kw)
    return d


@pytest.mark.parametrize("change,needle", [
    ({"search": {"type": "bayes", "trials": 3}}, "search.type: unknown search type 'bayes'; valid: grid, random, tpe, nsga2, gp"),
    ({"search": {"type": "tpe"}}, "search.trials is required for a tpe search"),
    ({"search": {"type": "tpe", "trials": 5}}, "space: a tpe search needs at least one distribution"),
    ({"search": {"type": "random", "trials": 5, "timeout": "soon"}}, "search.timeout: expected a duration"),
    ({"early_stopping": {"type": "asha", "resource": "depth", "min": 1, "max": 9}},
     "early_stopping.resource: sklearn.random_forest has no budget parameter 'depth'; valid: n_estimators"),
    ({"early_stopping": {"type": "asha", "resource": "n_estimators", "min": 9, "max": 9}},
     "early_stopping.min (9) must be below early_stopping.max (9)"),
    ({"early_stopping": {"type": "asha", "resource": "n_estimators", "min": 1, "max": 9, "reduction": 1}},
     "early_stopping.reduction: Input should be greater than or equal to 2"),
    ({"early_stopping": {"type": "hyperband", "resource": "n_estimators", "min": 1, "max": 9}},
     "early_stopping.type: Input should be 'asha'"),
    ({"early_stopping": {"type": "asha", "resource": "n_estimators", "min": 1, "max": 9, "extra": 1}},
     "early_stopping.extra: unknown key"),
])
def test_bad_search_and_early_stopping_one_line(base_spec, change, needle):
    with pytest.raises(SpecError) as e:
        parse_spec(_spec(base_spec, **change))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_resource_in_space_is_rejected(base_spec):
    with pytest.raises(SpecError, match="early_stopping.resource: n_estimators is also in space"):
        parse_spec(_spec(base_spec, early_stopping={"resource": "n_estimators", "min": 1, "max": 9}))


def test_durations_and_fingerprint(base_spec):
    a = parse_spec(_spec(base_spec, search={"type": "grid", "timeout": "30m", "target": 0.99}))
    assert a.search.timeout == 1800.0
    b = parse_spec(_spec(base_spec, search={"type": "grid", "timeout": 5}))
    assert b.search.timeout == 5.0
    assert a.fingerprint() == b.fingerprint()  # when to stop does not change what a trial scores
    c = parse_spec(_spec(base_spec, space={"max_depth": [2, 4]},
                         early_stopping={"resource": "n_estimators", "min": 1, "max": 9}))
    assert c.fingerprint() != parse_spec(_spec(base_spec, space={"max_depth": [2, 4]})).fingerprint()


def test_valid_resources_by_family(base_spec):
    from hyperspark.job.models import resource_params

    assert resource_params("sklearn.random_forest", "classification") == ("n_estimators",)
    assert resource_params("sklearn.hist_gradient_boosting", "classification") == ("max_iter",)
    assert resource_params("sklearn.logistic_regression", "classification") == ("max_iter",)
    assert resource_params("mllib.random_forest", "classification") == ("numTrees",)
    assert resource_params("mllib.gbt", "classification") == ("maxIter",)
    assert resource_params("sklearn.knn", "classification") == ()
    assert Config(0, "t", {}).number == 0


def test_batch_dispatch_waits_for_the_whole_batch():
    """The Optuna-Spark-example pattern (kept for comparison): no new job until the batch is done."""
    ex = SleepExecutor(2, duration=lambda j: 0.01 if j.config.number % 2 else 0.08)
    starts = []
    orig = ex._run

    def run(job):
        starts.append((time.time(), job.config.number))
        return orig(job)

    ex._run = run
    rows = []
    run_loop(Scheduler(RandomSearcher("m", SPACE, 6, 0, True, longest_first=False), True), ex, 2, _to_row,
             rows.append, batch=True)
    assert len(rows) == 6 and ex.peak == 2
    ends = {r.number: r.ended_at for r in rows}
    by_number = sorted(starts, key=lambda s: s[1])
    for b in range(1, 3):  # batch b starts after both jobs of batch b-1 ended
        prev_end = max(ends[2 * (b - 1)], ends[2 * (b - 1) + 1])
        assert min(t for t, n in by_number if n in (2 * b, 2 * b + 1)) >= prev_end - 0.005
