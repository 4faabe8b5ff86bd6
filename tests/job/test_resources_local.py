"""Per-trial resources on a real local[2] session (job/resources.py):

* a GPU request on a local master fails before any trial (before the data loads) with one line, from the
  job and from the Python API alike;
* a request equal to a default task (``cpus`` = spark.task.cpus, no GPUs) needs no profile and runs as
  before, its rows recording the request and no devices, its summary the request and ``profile: false``;
* a request for a profile on local[2] (``cpus: 2``) is the same one line.

Task resource profiles on a real standalone cluster (fake GPUs from a discovery script, concurrency,
distinct addresses) are in tests/integration.
"""
from __future__ import annotations

import pytest

from hyperspark.errors import JobInputError
from hyperspark.job.protocol import parse_trials
from hyperspark.job.run import run
from hyperspark.job.spec import parse_spec

pytestmark = pytest.mark.spark


def _null_spec(base_spec, **extra) -> dict:
    return {**base_spec, "model": "null.sleep", "space": {"seconds": [0.0, 0.01]}, "metric": "accuracy", **extra}


@pytest.mark.parametrize("resources, line", [
    ({"gpus": 1}, "resources (cpus=1, gpus=1): Spark runs no task resource profiles on a local[2] master; "),
    ({"cpus": 2}, "resources (cpus=2): Spark runs no task resource profiles on a local[2] master; "),
])
def test_a_profile_on_a_local_master_is_one_line_before_any_trial(spark, base_spec, tmp_path, resources, line):
    spec = parse_spec(_null_spec(base_spec, resources=resources))
    with pytest.raises(JobInputError) as e:
        run(spark, spec, "gpu-local", log=lambda s: None, progress_live=False)
    assert str(e.value).startswith(line) and "\n" not in str(e.value)
    assert not (tmp_path / "out" / "gpu-local").exists()  # nothing was written, no trial ran


def test_the_api_passes_resources_through_and_says_the_same_line(spark, base_spec, tmp_path):
    import hyperspark

    with pytest.raises(hyperspark.JobError, match=r"^resources \(cpus=1, gpus=0\.5\): Spark runs no task "
                                                  r"resource profiles on a local\[2\] master"):
        hyperspark.tune("null.sleep", space={"seconds": [0.0]}, data=base_spec["dataset"]["uri"],
                        label="target", search="grid", metric="accuracy", spark=spark,
                        output=str(tmp_path / "api"), resources={"gpus": 0.5})
    with pytest.raises(hyperspark.SpecError, match=r"^invalid spec: resources\.gpus: model "
                                                    r"sklearn\.random_forest does not use GPUs"):
        hyperspark.tune("sklearn.random_forest", space={"max_depth": [2]}, data=base_spec["dataset"]["uri"],
                        label="target", search="grid", spark=spark, resources={"gpus": 1})


def test_a_request_equal_to_a_default_task_runs_as_before_and_is_recorded(spark, base_spec, tmp_path):
    spec = parse_spec(_null_spec(base_spec, resources={"cpus": 1}))
    summary = run(spark, spec, "cpus1", log=lambda s: None, progress_live=False)
    c = summary.cluster
    assert (c.resources, c.profile, c.task_cpus, c.slots) == ({"cpus": 1, "gpus": 0.0}, False, 1, 2)
    with open(summary.output_uri.removeprefix("file://").rstrip("/") + "/trials.jsonl") as f:
        rows = parse_trials(f.read())
    assert len(rows) == 2 and all(r.ok for r in rows)
    assert all(r.resources == {"cpus": 1, "gpus": 0.0} and r.devices == [] for r in rows)
    plain = run(spark, parse_spec(_null_spec(base_spec, output=str(tmp_path / "plain"))), "plain",
                log=lambda s: None, progress_live=False)
    assert plain.cluster.resources is None and plain.cluster.profile is False
