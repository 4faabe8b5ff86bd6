"""Several objectives (hyperspark.job.pareto) and multi-objective ASHA, without Spark: the front against a
brute-force non-dominated filter, constraints' grammar, select, and MO-ASHA's promotions on a hand-made
rung table against a non-dominated sort computed independently here."""
from __future__ import annotations

import math
import random

import pytest

from hyperspark.job.pareto import (Objectives, choose, crowding_distance, front, non_dominated_sort, parse_constraint,
                                   rank_order)
from hyperspark.job.protocol import TrialResult
from hyperspark.job.search.scheduler import MOASHA, Job
from hyperspark.job.search.searcher import Config, GridSearcher


def _row(i: int, vals: dict, *, ok: bool = True, rung: int = 0, mean: float | None = None) -> TrialResult:
    return TrialResult(trial_id=f"t{i}", params={"i": i}, status="ok" if ok else "error", number=i, rung=rung,
                       mean=mean if mean is not None else next(iter(vals.values())), metrics=dict(vals))


def _brute_front(rows, names, greater):
    """Rows no other row beats in every objective (>= with one >, in each objective's own direction)."""
    def better_or_equal(a, b, n, g):
        return a.metrics[n] >= b.metrics[n] if g else a.metrics[n] <= b.metrics[n]

    def strictly(a, b, n, g):
        return a.metrics[n] > b.metrics[n] if g else a.metrics[n] < b.metrics[n]

    out = []
    for r in rows:
        beaten = any(all(better_or_equal(o, r, n, g) for n, g in zip(names, greater))
                     and any(strictly(o, r, n, g) for n, g in zip(names, greater)) for o in rows if o is not r)
        if not beaten:
            out.append(r.trial_id)
    return sorted(out)


@pytest.mark.parametrize("names,greater", [
    (("auc", "ms"), (True, False)),
    (("auc", "ms", "bytes"), (True, False, False)),
    (("a", "b", "c"), (False, True, True)),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_front_equals_a_brute_force_non_dominated_filter(names, greater, seed):
    rng = random.Random(seed)
    # coarse values so that ties (equal points, equal in one objective) happen
    rows = [_row(i, {n: float(rng.randint(0, 6)) for n in names}) for i in range(40)]
    obj = Objectives(names, greater, primary="")
    got = sorted(r.trial_id for r in front(rows, obj))
    assert got == _brute_front(rows, names, greater) and got


def test_infeasible_and_failed_rows_are_never_on_the_front_nor_chosen():
    obj = Objectives(("auc", "ms"), (True, False), primary="auc", constraints=(parse_constraint("bytes <= 100"),))
    rows = [obj.annotate(_row(0, {"auc": 0.99, "ms": 1.0, "bytes": 500.0})),  # dominates all, but too big
            obj.annotate(_row(1, {"auc": 0.90, "ms": 2.0, "bytes": 50.0})),
            obj.annotate(_row(2, {"auc": 0.80, "ms": 1.5, "bytes": 100.0})),
            _row(3, {"auc": 1.0, "ms": 0.1, "bytes": 1.0}, ok=False)]
    assert rows[0].feasible is False and rows[0].violations == {"bytes <= 100": 400.0}
    assert rows[1].feasible is True and rows[1].violations == {} and rows[2].feasible is True
    assert [r.trial_id for r in front(rows, obj)] == ["t1", "t2"]
    assert choose(front(rows, obj), obj).trial_id == "t1"


def test_a_row_missing_an_objective_becomes_a_failed_row_naming_it():
    obj = Objectives(("score", "latency"), (True, False), primary="score")
    r = obj.annotate(_row(0, {"other": 1.0}, mean=0.5))
    assert r.status == "error" and r.error.startswith("the trial reported no 'latency'")


def test_select_the_fastest_within_a_fraction_of_the_best():
    obj = Objectives(("auc", "ms"), (True, False), primary="auc",
                     select={"metric": "ms", "within": {"auc": 0.005}})
    rows = [_row(0, {"auc": 0.990, "ms": 9.0}), _row(1, {"auc": 0.986, "ms": 4.0}),
            _row(2, {"auc": 0.984, "ms": 2.0}), _row(3, {"auc": 0.90, "ms": 1.0})]
    f = front(rows, obj)
    assert [r.trial_id for r in f] == ["t0", "t1", "t2", "t3"]
    assert choose(f, obj).trial_id == "t1"  # 0.984 is 0.6% below 0.990; 0.986 is 0.4% below
    assert choose(f, Objectives(("auc", "ms"), (True, False), primary="auc")).trial_id == "t0"


@pytest.mark.parametrize("text,parsed", [
    ("model_bytes <= 5e6", ("model_bytes", "<=", 5e6)),
    ("  predict_ms<2.5 ", ("predict_ms", "<", 2.5)),
    ("roc_auc >= .9", ("roc_auc", ">=", 0.9)),
    ("a.b == -1", ("a.b", "==", -1.0)),
])
def test_constraints_parse_by_a_tiny_grammar(text, parsed):
    c = parse_constraint(text)
    assert (c.name, c.op, c.bound) == parsed


@pytest.mark.parametrize("text", ["model_bytes <== 5", "__import__('os') <= 1", "x <= 1 + 1", "5 >= x", "x <=", ""])
def test_a_constraint_that_does_not_parse_is_refused(text):
    with pytest.raises(ValueError, match="does not parse"):
        parse_constraint(text)


def test_violations_are_zero_when_met_and_positive_when_broken():
    assert parse_constraint("x <= 5").violation(4) == 0 and parse_constraint("x <= 5").violation(7) == 2
    assert parse_constraint("x >= 5").violation(3) == 2 and parse_constraint("x < 5").violation(5) > 0
    assert parse_constraint("x == 5").violation(5) == 0 and parse_constraint("x == 5").violation(4) == 1


def test_non_dominated_sort_and_crowding_on_a_known_set():
    pts = [(1, 5), (2, 3), (4, 1), (3, 4), (5, 5), (2, 2)]  # minimized
    assert non_dominated_sort(pts) == [0, 1, 0, 2, 3, 0]  # (3, 4) is beaten by (2, 3), itself beaten by (2, 2)
    d = crowding_distance([(1, 5), (2, 2), (4, 1)])
    assert d[0] == math.inf and d[2] == math.inf and d[1] == pytest.approx((4 - 1) / 3 + (5 - 1) / 4)
    assert rank_order(pts)[:3] == [0, 2, 5]  # front 0: the extremes (inf) first, then (2, 2)


# ------------------------------------------------------------------------------------- MO-ASHA
def _independent_order(points: list[tuple]) -> list[int]:
    """NSGA-II's order computed from scratch: peel fronts by brute force, crowding per front."""
    left, order = set(range(len(points))), []
    while left:
        f = [i for i in left if not any(all(points[j][m] <= points[i][m] for m in range(len(points[i])))
                                        and points[j] != points[i] for j in left)]
        dist = {i: 0.0 for i in f}
        for m in range(len(points[0])):
            s = sorted(f, key=lambda i: points[i][m])
            span = points[s[-1]][m] - points[s[0]][m]
            for pos, i in enumerate(s):
                if pos in (0, len(s) - 1) or len(s) <= 2:
                    dist[i] = math.inf
                elif span > 0 and dist[i] != math.inf:
                    dist[i] += (points[s[pos + 1]][m] - points[s[pos - 1]][m]) / span
        order += sorted(f, key=lambda i: (-dist[i], i))
        left -= set(f)
    return order


def test_mo_asha_promotions_on_a_hand_made_rung_table_follow_non_dominated_sorting():
    obj = Objectives(("auc", "ms"), (True, False), primary="auc")
    s = GridSearcher("m", {"i": list(range(12))}, None, 0, True, longest_first=False)
    asha = MOASHA(s, True, "n_estimators", 1, 9, 3, obj)
    table = [(0.90, 5.0), (0.95, 9.0), (0.80, 1.0), (0.97, 3.0), (0.85, 8.0), (0.99, 2.0),
             (0.70, 0.5), (0.91, 4.0), (0.96, 2.5), (0.60, 9.5), (0.98, 1.5), (0.75, 7.0)]
    got, expected, seen, promoted = [], [], [], 0
    for auc, ms in table:
        job = Job(s.ask(), 0, asha.budget(0))
        row = _row(job.config.number, {"auc": auc, "ms": ms})
        got.append(asha.on_result(job, row))
        seen.append((-auc, ms))  # minimized
        k = len(seen) // 3
        top = _independent_order(seen)[:k]
        ok = k > promoted and (len(seen) - 1) in top
        promoted += ok
        expected.append("promote" if ok else "prune")
    assert got == expected and "promote" in got and "prune" in got
    assert asha.promoted[0] == promoted
    # promotions go up first, to the next rung's budget
    nxt = [asha.next_job() for _ in range(promoted)]
    assert all(j.rung == 1 and j.budget == 3 for j in nxt)


def test_mo_asha_puts_infeasible_results_after_every_feasible_one():
    obj = Objectives(("auc", "ms"), (True, False), primary="auc", constraints=(parse_constraint("ms <= 5"),))
    s = GridSearcher("m", {"i": list(range(3))}, None, 0, True, longest_first=False)
    asha = MOASHA(s, True, "n_estimators", 1, 9, 3, obj)
    decisions = []
    for auc, ms in [(0.99, 50.0), (0.98, 60.0), (0.5, 4.0)]:  # the only feasible one is the worst by auc
        job = Job(s.ask(), 0, 1)
        decisions.append(asha.on_result(job, obj.annotate(_row(job.config.number, {"auc": auc, "ms": ms}))))
    assert decisions == ["prune", "prune", "promote"]


def test_mo_asha_restore_replays_every_decision():
    obj = Objectives(("auc", "ms"), (True, False), primary="auc")
    table = [(0.9, 5.0), (0.95, 9.0), (0.8, 1.0), (0.97, 3.0), (0.85, 8.0), (0.99, 2.0)]

    def fresh():
        s = GridSearcher("m", {"i": list(range(6))}, None, 0, True, longest_first=False)
        return s, MOASHA(s, True, "n_estimators", 1, 9, 3, obj)

    s, asha = fresh()
    rows = []
    for n, (auc, ms) in enumerate(table):
        job = Job(s.ask(), 0, 1)
        r = _row(job.config.number, {"auc": auc, "ms": ms})
        r.trial_id, r.params, r.budget, r.ended_at = job.config.trial_id, job.config.params, 1, float(n)
        r.decision = asha.on_result(job, r)
        rows.append(r)
    s2, again = fresh()
    again.restore(rows, {r.trial_id: Config(r.number, r.trial_id, r.params) for r in rows})
    assert again.rung_points == asha.rung_points and again.promoted == asha.promoted
    assert [j.key for j in again._queue] == [j.key for j in asha._queue] and again._queue
    assert s2.ask() is None  # every configuration was recorded: none is asked again


def test_optuna_searchers_get_constraints_and_resume_with_them():
    from hyperspark.job.search.searcher import Restored, TPESearcher

    space = {"x": {"uniform": [0.0, 1.0]}}
    s = TPESearcher("m", space, 6, 0, True, directions=[True, False], n_constraints=1)
    told = []
    for _ in range(6):
        c = s.ask()
        vals, cons = [c.params["x"], c.params["x"] ** 2], [c.params["x"] - 0.5]
        s.tell(c, "complete", vals, None, cons)
        told.append(Restored(c, "complete", vals, {}, cons))
    assert [t.constraints == {"c0": pytest.approx(r.constraints[0])} for t, r in zip(s.study.trials, told)] == [True] * 6
    again = TPESearcher("m", space, 8, 0, True, directions=[True, False], n_constraints=1)
    again.restore(told)
    assert [t.constraints for t in again.study.trials] == [t.constraints for t in s.study.trials]
    assert [t.values for t in again.study.trials] == [t.values for t in s.study.trials]
    assert again.ask().number == 6  # goes on where the recorded run stopped
