"""hyperspark.job.protocol: run ids, one-line errors, the ranking rules, the job's command line and the
warm driver's request (no Spark)."""
from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from hyperspark.job.protocol import (RUN_ID_MAX, JobArgs, TrialResult, WarmRunRequest, final_rows, new_run_id,
                                     one_line, parse_trials, pick_best, rank_trials, run_id_problem)

STAMP = r"\d{8}-\d{6}-[0-9a-f]{4}"


def row(number: int | None, mean: float | None, rung: int = 0, status: str = "ok", tid: str | None = None):
    return TrialResult(trial_id=tid or f"t{number}", params={"n": number}, status=status, number=number,
                       rung=rung, mean=mean)


# --------------------------------------------------------------------------- run ids
def test_new_run_id_is_a_stamp_after_a_cleaned_name_and_always_valid():
    assert re.fullmatch(STAMP, new_run_id())
    assert re.fullmatch(r"my-run-x-" + STAMP, new_run_id("my run/x"))
    assert re.fullmatch(STAMP, new_run_id("///"))  # nothing usable left of the name
    long = new_run_id("n" * 300)
    assert len(long) == RUN_ID_MAX and long.startswith("nnn") and re.search(STAMP + "$", long)
    for name in (None, "a b", "-x-", "ünï", "n" * 300):
        assert run_id_problem(new_run_id(name)) is None


@pytest.mark.parametrize("run_id", ["a", "A1", "run_1.2-b", "9" * RUN_ID_MAX])
def test_valid_run_ids(run_id):
    assert run_id_problem(run_id) is None


@pytest.mark.parametrize("run_id", ["", "-a", ".a", "_a", "a b", "a/b", "a:b", "é", "a\n"])
def test_bad_characters_are_one_line(run_id):
    msg = run_id_problem(run_id)
    assert msg == f"run id {run_id!r}: use letters, digits, '.', '_' or '-' (starting with a letter or digit)"
    assert "\n" not in msg


def test_run_id_length_limit_is_128():
    assert RUN_ID_MAX == 128
    assert run_id_problem("a" * 128) is None
    assert run_id_problem("a" * 129) == f"run id {'a' * 20!r}...: at most 128 characters (it has 129)"


# --------------------------------------------------------------------------- one_line
def test_one_line_takes_the_first_non_empty_line_within_the_limit():
    assert one_line("\n  \n  first line  \nsecond") == "first line"
    assert one_line(ValueError("bad value\ndetails")) == "bad value"
    assert one_line(KeyError()) == "KeyError"  # no text: the exception's type
    assert one_line(None) == "" and one_line("") == ""
    assert one_line("x" * 500) == "x" * 300 and one_line("abcdef", limit=3) == "abc"


# --------------------------------------------------------------------------- ranking
def test_rank_trials_best_first_ties_to_the_earlier_number_failed_last():
    rows = [row(3, 0.9), row(1, 0.8), row(2, 0.9), row(0, None, status="error"), row(4, float("nan")),
            row(5, 0.7)]
    assert [r.number for r in rank_trials(rows, True)] == [2, 3, 1, 5, 0, 4]
    assert [r.number for r in rank_trials(rows, False)] == [5, 1, 2, 3, 0, 4]  # lower is better


def test_rank_trials_puts_higher_rungs_first_and_unnumbered_rows_after_numbered_ties():
    rows = [row(0, 0.99, rung=0), row(1, 0.5, rung=1), row(None, 0.8, rung=1, tid="x"), row(2, 0.8, rung=1)]
    assert [(r.number, r.rung) for r in rank_trials(rows, True)] == [(2, 1), (None, 1), (1, 1), (0, 0)]


def test_pick_best_looks_at_the_final_rung_only():
    rows = [row(0, 0.99, rung=0), row(1, 0.6, rung=1), row(2, 0.7, rung=1), row(3, 0.7, rung=1),
            row(4, 0.95, rung=1, status="error")]
    assert pick_best(rows, True, final_rung=1).number == 2  # a tie goes to the earlier configuration
    assert pick_best(rows, False, final_rung=1).number == 1
    assert pick_best(rows, True).number == 0  # without early stopping, rung 0 is final
    assert pick_best([row(0, None, status="error")], True) is None
    assert pick_best(rows, True, final_rung=2) is None


def test_final_rows_keep_each_configurations_highest_rung():
    rows = [row(0, 0.5, rung=0, tid="a"), row(0, 0.7, rung=2, tid="a"), row(0, 0.6, rung=1, tid="a"),
            row(1, 0.4, rung=0, tid="b")]
    assert sorted((r.trial_id, r.rung, r.mean) for r in final_rows(rows)) == [("a", 2, 0.7), ("b", 0, 0.4)]


def test_trial_rows_round_trip_as_lines_and_a_bad_line_names_its_number():
    r = row(7, 0.5, rung=1)
    line = r.to_line()
    assert "null" not in line and '"error"' not in line  # None fields are left out
    assert parse_trials(line + "\n\n" + line) == [r, r]
    with pytest.raises(ValueError, match=r"^line 3: "):
        parse_trials(line + "\n\n{not json")


# --------------------------------------------------------------------------- the job's command line
def test_job_args_argv_in_the_documented_order():
    assert JobArgs(spec="s.yaml").argv() == ["s.yaml"]
    args = JobArgs(spec="/x/s.yaml", run_id="r1", resume=True, overrides=["a=1", "b.c=2"], packages=["p.zip", "d"])
    assert args.argv() == ["/x/s.yaml", "--run-id", "r1", "--resume", "--set", "a=1", "--set", "b.c=2",
                           "--package", "p.zip", "--package", "d"]
    with pytest.raises(ValidationError):
        JobArgs(spec="s.yaml", verbose=True)  # the contract is closed: an unknown field is an error


def test_warm_run_request_round_trips_as_json():
    req = WarmRunRequest(spec="/abs/s.yaml", run_id="r2", overrides=["cv_folds=3"], executors=2)
    back = WarmRunRequest.model_validate_json(req.model_dump_json())
    assert back == req and back.argv() == ["/abs/s.yaml", "--run-id", "r2", "--set", "cv_folds=3"]
    assert WarmRunRequest.model_validate_json('{"spec": "s"}').executors is None
    for bad in ('{"spec": "s", "executors": 0}', '{"spec": "s", "extra": 1}', '{"run_id": "r"}'):
        with pytest.raises(ValidationError):
            WarmRunRequest.model_validate_json(bad)
