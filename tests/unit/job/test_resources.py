"""Per-trial resources (``resources: {cpus, gpus}``, job/resources.py), without Spark: the spec's one-line
errors, when a task resource profile is needed, slots counted from a profile, the session checks, the
objective's ``trial`` argument, and CUDA_VISIBLE_DEVICES set and restored around a trial."""
from __future__ import annotations

import os

import numpy as np
import pytest

from hyperspark.errors import SpecError
from hyperspark.job import resources as R
from hyperspark.job import usercode as U
from hyperspark.job.executors.trial import CUDA_ENV, TrialContext, TrialInfo, evaluate, gpu_env
from hyperspark.job.models import build_single_machine, get_model
from hyperspark.job.protocol import TrialResult
from hyperspark.job.spec import parse_spec
from tests.paths import REPO

DATA = str(REPO / "examples" / "data" / "breast_cancer.csv")
OBJECTIVE = "tests.unit.job.test_resources:env_objective"


SEEN: list = []


def env_objective(params, data, budget, trial):
    """Keeps what the trial saw (its CUDA_VISIBLE_DEVICES and its TrialInfo); evaluate runs in this process."""
    SEEN.append((os.environ.get(CUDA_ENV), trial))
    return 1.0


def _spec(**extra) -> dict:
    d = {"dataset": {"uri": DATA, "label": "target"}, "model": "xgboost.xgboost",
         "space": {"max_depth": [2, 3]}, "search": {"type": "grid"}}
    d.update(extra)
    return d


def _error(**extra) -> str:
    with pytest.raises(SpecError) as e:
        parse_spec(_spec(**extra))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# --------------------------------------------------------------------------- the spec
@pytest.mark.parametrize("resources, expected", [
    ({"gpus": -1}, "invalid spec: resources.gpus: Input should be greater than or equal to 0"),
    ({"gpus": 1.5}, "invalid spec: resources.gpus: above 1, GPUs are whole numbers (got 1.5)"),
    ({"cpus": 0}, "invalid spec: resources.cpus: Input should be greater than or equal to 1"),
    ({"cpus": "four"}, "invalid spec: resources.cpus: expected a whole number of cores, got 'four'"),
    ({"cpus": 2.5}, "invalid spec: resources.cpus: expected a whole number of cores, got 2.5"),
    ({"gpus": "one"}, "invalid spec: resources.gpus: expected a number of GPUs (e.g. 1 or 0.5), got 'one'"),
    ({"gpus": True}, "invalid spec: resources.gpus: expected a number of GPUs"),
    ({"tpus": 1}, "invalid spec: resources.tpus: unknown key"),
])
def test_a_bad_resource_is_one_line_naming_the_key(resources, expected):
    assert _error(resources=resources).startswith(expected)


def test_resources_cpus_and_a_different_threads_per_trial_are_one_line():
    msg = _error(resources={"cpus": 4}, threads_per_trial=2)
    assert msg == ("invalid spec: resources.cpus: 4 differs from threads_per_trial: 2; resources.cpus is the "
                   "trial's cores and its model threads: give one of them")
    spec = parse_spec(_spec(resources={"cpus": 4}, threads_per_trial=4))  # the same number twice is fine
    assert spec.trial_cpus == 4


def test_where_resources_do_not_apply_is_one_line():
    assert _error(model="sklearn.random_forest", space={"max_depth": [2]}, resources={"gpus": 1}) == (
        "invalid spec: resources.gpus: model sklearn.random_forest does not use GPUs; drop resources.gpus")
    assert _error(model="mllib.random_forest", space={"maxDepth": [2]}, resources={"cpus": 2}).startswith(
        "invalid spec: resources: an MLlib fit (mllib.random_forest) spreads over the whole cluster")
    assert _error(resources={"gpus": 1}, data_shipping="replicate").startswith(
        "invalid spec: resources: data_shipping: replicate runs trials as DataFrame tasks")


def test_models_that_use_a_gpu_and_user_code_accept_gpus():
    assert parse_spec(_spec(resources={"gpus": 0.5})).trial_gpus == 0.5
    assert parse_spec(_spec(model="lightgbm.lightgbm", space={"num_leaves": [4]}, resources={"gpus": 2}))
    assert parse_spec(_spec(model="null.sleep", space={"seconds": [0.0]}, resources={"gpus": 1}))
    assert parse_spec(_spec(model="sklearn.svm:SVC", space={"C": [1.0]}, resources={"gpus": 1}))
    obj = parse_spec(_spec(model=None, objective=OBJECTIVE, space={"x": [1]}, resources={"gpus": 1, "cpus": 2}))
    assert (obj.trial_cpus, obj.trial_gpus) == (2, 1.0)


def test_without_resources_the_spec_is_as_before():
    spec = parse_spec(_spec(threads_per_trial=2))
    assert spec.resources is None and spec.trial_cpus == 2 and spec.trial_gpus == 0.0
    assert R.request_of(spec) is None
    # the fingerprint of a spec without resources does not change (older runs still resume)
    assert "resources" not in parse_spec(_spec()).model_dump(mode="json", exclude_none=True)
    assert parse_spec(_spec()).fingerprint() != parse_spec(_spec(resources={"gpus": 1})).fingerprint()


def test_the_registry_puts_gpu_models_on_the_gpu():
    xgb = get_model("xgboost.xgboost")
    assert build_single_machine(xgb, "classification", {}, 2, 1, gpu=True).get_params()["device"] == "cuda"
    assert build_single_machine(xgb, "classification", {}, 2, 1).get_params()["device"] is None
    forced = build_single_machine(xgb, "classification", {"device": "cpu"}, 2, 1, gpu=True)
    assert forced.get_params()["device"] == "cpu"  # the spec's own params win
    lgbm = build_single_machine(get_model("lightgbm.lightgbm"), "classification", {}, 2, 1, gpu=True)
    assert lgbm.get_params()["device_type"] == "gpu" and lgbm.get_params()["n_jobs"] == 2
    assert get_model("sklearn.random_forest").gpu is None


# --------------------------------------------------------------------------- the request and the profile
def test_a_profile_is_needed_only_when_the_request_differs_from_a_default_task():
    spec = parse_spec(_spec(resources={"gpus": 0}))
    req = R.request_of(spec)
    assert req == R.TrialResources(1, 0.0) and not R.needs_profile(req, 1)
    assert not R.needs_profile(None, 1)
    assert R.needs_profile(R.TrialResources(1, 0.5), 1)
    assert R.needs_profile(R.TrialResources(4, 0.0), 1)
    assert not R.needs_profile(R.TrialResources(4, 0.0), 4)  # a session built for 4-core tasks
    # cpus default to threads_per_trial (which every entry point makes the session's spark.task.cpus)
    assert R.request_of(parse_spec(_spec(threads_per_trial=2, resources={"gpus": 1}))) == R.TrialResources(2, 1.0)


def _execs(*spec) -> list[R.ExecutorResources]:
    return [R.ExecutorResources(str(i), cores, [str(a) for a in range(gpus)]) for i, (cores, gpus) in enumerate(spec)]


@pytest.mark.parametrize("executors, cpus, gpus, slots", [
    ([(4, 2), (4, 2)], 1, 1.0, 4),  # 2 workers x 2 GPUs, gpus: 1 -> 4, whatever the cores
    ([(16, 2), (16, 2)], 1, 1.0, 4),
    ([(4, 2), (4, 2)], 1, 0.5, 8),  # two trials per address
    ([(2, 2), (2, 2)], 1, 0.5, 4),  # ... but never more than the cores
    ([(4, 2), (4, 2)], 1, 0.3, 8),  # floor(1 / 0.3) = 3 per address, 4 cores
    ([(8, 4)], 1, 2.0, 2),  # whole amounts take that many addresses
    ([(2, 0), (2, 0)], 2, 0.0, 2),  # cpus: 2 on 2-core workers: one trial per worker
    ([(4, 2), (4, 0)], 1, 1.0, 2),  # a mixed cluster: GPU trials only where the GPUs are
    ([(4, 0)], 1, 1.0, 0),
    ([(4, 0), (4, 0)], 1, 0.0, 8),
])
def test_slots_are_counted_from_the_profile(executors, cpus, gpus, slots):
    assert R.count_slots(_execs(*executors), R.TrialResources(cpus, gpus)) == slots


def test_a_request_no_executor_can_meet_is_one_line_naming_what_is_missing():
    assert R.shortfall(_execs((4, 0), (4, 0)), R.TrialResources(1, 1.0)).startswith(
        "resources.gpus=1: no executor has a GPU (workers advertise none")
    assert "hyperspark up --gpus-per-worker N" in R.shortfall(_execs((4, 0)), R.TrialResources(1, 1.0))
    assert R.shortfall(_execs((2, 2)), R.TrialResources(8, 0.0)) == (
        "resources.cpus=8: no executor has 8 cores (the most one has is 2); lower it or give workers more cores")
    assert R.shortfall(_execs((4, 1), (4, 1)), R.TrialResources(1, 2.0)) == (
        "resources.gpus=2: no executor has 2 GPUs (the most one has is 1)")
    assert R.shortfall(_execs((4, 0), (1, 2)), R.TrialResources(2, 1.0)) == (
        "resources (cpus=2, gpus=1): no executor has both 2 cores and 1 GPU(s)")
    assert R.shortfall([], R.TrialResources(1, 1.0)) == "resources (cpus=1, gpus=1): no executor registered"
    assert R.shortfall(_execs((4, 2)), R.TrialResources(1, 1.0)) is None


def test_a_session_that_cannot_run_a_profile_is_one_line():
    req = R.TrialResources(1, 1.0)
    local = R.unsupported("local[2]", False, req)
    assert local.startswith("resources (cpus=1, gpus=1): Spark runs no task resource profiles on a local[2] master")
    assert R.unsupported("local", False, req) is not None
    assert R.unsupported("spark://h:7077", True, req).startswith(
        "resources (cpus=1, gpus=1): this session runs with dynamic allocation")
    assert "hyperspark submit --cold" in R.unsupported("spark://h:7077", True, req)
    assert R.unsupported("spark://h:7077", False, req) is None
    assert R.unsupported("local-cluster[2,1,1024]", False, req) is None  # standalone in one JVM


# --------------------------------------------------------------------------- in the trial
def test_the_trial_argument_is_passed_only_to_objectives_that_name_it():
    info = TrialInfo("t1", 0, 3, 2, ["0"])

    def plain(params, data, budget):
        return "plain"

    def named(params, data, budget, trial=None):
        return trial

    def kwargs(params, data, budget, **kw):
        return sorted(kw)

    def keyword_only(params, data, budget, *, report=None, trial):
        return trial.gpus

    assert U.call_objective(plain, {}, None, 3, None, info) == "plain"
    assert U.call_objective(named, {}, None, 3, None, info) is info
    assert U.call_objective(kwargs, {}, None, 3, None, info) == ["report"]  # **kwargs never gets trial
    assert U.call_objective(keyword_only, {}, None, 3, None, info) == ["0"]
    assert U.takes_trial(named) and not U.takes_trial(kwargs) and not U.takes_trial(plain)


@pytest.mark.parametrize("before", [None, "7"])
def test_gpu_env_sets_the_addresses_and_restores_what_was_there(monkeypatch, before):
    if before is None:
        monkeypatch.delenv(CUDA_ENV, raising=False)
    else:
        monkeypatch.setenv(CUDA_ENV, before)
    with gpu_env(["1", "3"]):
        assert os.environ[CUDA_ENV] == "1,3"
    assert os.environ.get(CUDA_ENV) == before
    with pytest.raises(RuntimeError), gpu_env(["2"]):
        raise RuntimeError("the trial failed")
    assert os.environ.get(CUDA_ENV) == before
    with gpu_env(None):  # no resources.gpus: the environment is left alone
        assert os.environ.get(CUDA_ENV) == before


def _objective_ctx(gpus):
    return TrialContext(OBJECTIVE, "custom", "score", 2, 1, 0, kind="objective", gpus=gpus)


def test_a_trial_with_gpus_records_its_request_and_devices(monkeypatch):
    monkeypatch.setenv(CUDA_ENV, "0,1,2,3")
    SEEN.clear()
    row = evaluate(_objective_ctx(1.0), {"x": 1}, 9, None, None, None, ("t1", 2))
    assert row["status"] == "ok", row
    assert row["resources"] == {"cpus": 2, "gpus": 1.0} and row["devices"] == []  # no task: no addresses
    env, info = SEEN[-1]
    assert env == ""  # a GPU trial that was given no address sees no GPU (never all of them)
    assert info == TrialInfo("t1", 2, 9, 2, [])
    assert os.environ[CUDA_ENV] == "0,1,2,3"  # put back for the next trial in this worker
    assert TrialResult.model_validate({**row, "trial_id": "t1", "params": {"x": 1}}).devices == []


def test_a_trial_gets_the_tasks_gpu_addresses(monkeypatch):
    import hyperspark.job.executors.trial as T

    monkeypatch.delenv(CUDA_ENV, raising=False)
    monkeypatch.setattr(T, "task_gpus", lambda: ["1"])  # what TaskContext.resources()["gpu"] lists in a task
    SEEN.clear()
    row = evaluate(_objective_ctx(0.5), {"x": 1}, None, None, None, None, ("t2", 0))
    assert row["devices"] == ["1"] and row["resources"] == {"cpus": 2, "gpus": 0.5}
    assert SEEN[-1] == ("1", TrialInfo("t2", 0, None, 2, ["1"]))
    assert CUDA_ENV not in os.environ


def test_a_trial_without_resources_records_none_and_leaves_the_environment(monkeypatch):
    monkeypatch.setenv(CUDA_ENV, "5")
    SEEN.clear()
    row = evaluate(_objective_ctx(None), {"x": 1}, None, None, None, None)
    assert row["status"] == "ok" and "resources" not in row and "devices" not in row
    assert SEEN[-1][0] == "5"
    old = TrialResult.model_validate_json('{"trial_id": "a", "params": {}, "status": "ok"}')
    assert old.resources is None and old.devices is None  # rows written before resources still parse


def test_a_model_trial_uses_ctx_threads_as_the_models_threads(monkeypatch):
    captured = {}
    import hyperspark.job.executors.trial as T

    real = T.build_single_machine

    def spy(m, task, params, threads, seed, gpu=False):
        captured.update(threads=threads, gpu=gpu)
        return real(m, task, params, threads, seed)  # fit on the CPU here: no GPU in unit tests

    monkeypatch.setattr(T, "build_single_machine", spy)
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.array([0, 1] * 20)
    folds = [(np.arange(20), np.arange(20, 40))]
    ctx = TrialContext("xgboost.xgboost", "classification", "accuracy", 3, 1, 2, gpus=1.0)
    row = evaluate(ctx, {"n_estimators": 2}, None, X, y, folds)
    assert row["status"] == "ok", row
    assert captured == {"threads": 3, "gpu": True}

