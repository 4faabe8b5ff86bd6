"""The kit's GPU side (``hyperspark.ops.gpus``), Spark-free: the discovery script really run (fixed
addresses, and nvidia-smi's list through a stand-in ``nvidia-smi`` executable on PATH), the option rules,
the worker and driver confs the local target writes, what the master's ``/json/`` says about a worker's
GPUs (a document captured from a real pyspark 4.3 master), the doctor's ``gpus`` check and the status
table. The same on a real cluster: ``tests/integration/test_gpu_cluster.py``.
"""
from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hyperspark.ops import gpus, render, spark_api
from hyperspark.ops.model import CheckName, ClusterStatus, Gpus, OpsError, WorkerInfo
from tests.paths import REPO

IMAGE_SCRIPT = REPO / "docker" / "spark" / "gpu-discovery.sh"


def run_script(script: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(script)], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def fake_smi(tmp_path: Path) -> Path:
    """A directory holding an ``nvidia-smi`` that lists 4 GPUs as the real one prints them."""
    bin_dir = tmp_path / "smi-bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\n"
                   '[ "$*" = "--query-gpu=index --format=csv,noheader" ] || exit 9\n'
                   "printf '0\\n1\\n2\\n3\\n'\n")
    smi.chmod(0o755)
    return bin_dir


def no_smi_path(tmp_path: Path) -> str:
    """PATH with the shell tools the script uses and no nvidia-smi."""
    empty = tmp_path / "no-smi"
    empty.mkdir(exist_ok=True)
    return f"{empty}:/usr/bin:/bin"


# -- the discovery script ---------------------------------------------------------------------
def test_the_written_script_prints_the_fixed_addresses_as_spark_reads_them(tmp_path):
    script = gpus.write_discovery_script(tmp_path / "conf" / "gpu-discovery.sh", ["0", "1"], 2)
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    done = run_script(script)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"name": "gpu", "addresses": ["0", "1"]}
    # the same for every worker: fixed addresses are not sliced
    assert gpus.discover(script, worker=2) == ["0", "1"]


def test_the_default_script_takes_each_workers_own_gpus_from_nvidia_smi(tmp_path, fake_smi):
    script = gpus.write_discovery_script(tmp_path / "gpu-discovery.sh", [], 2)
    env = {**os.environ, "PATH": f"{fake_smi}:{os.environ['PATH']}"}
    assert gpus.discover(script, 1, env) == ["0", "1"]
    assert gpus.discover(script, 2, env) == ["2", "3"]
    with pytest.raises(OpsError) as err:  # a third worker of 2 GPUs on a 4-GPU machine
        gpus.discover(script, 3, env)
    assert str(err.value) == ("GPU discovery for worker-3 failed: worker 3 takes GPUs 5-6 of nvidia-smi's list "
                              "(2 per worker) but it lists 4: 0,1,2,3")


def test_without_nvidia_smi_the_script_exits_non_zero_with_one_clear_line(tmp_path):
    script = gpus.write_discovery_script(tmp_path / "gpu-discovery.sh", [], 1)
    done = run_script(script, {"PATH": no_smi_path(tmp_path)})
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == ("hyperspark gpu discovery: nvidia-smi not found on PATH (no NVIDIA driver "
                                   "here?); to fake GPUs give fixed addresses (up --gpu-addresses 0,1)")
    with pytest.raises(OpsError, match=r"^GPU discovery for worker-1 failed: nvidia-smi not found on PATH"):
        gpus.check_workers(1, [], [1], {**os.environ, "PATH": no_smi_path(tmp_path)})


def test_a_script_that_prints_no_resource_json_is_one_line(tmp_path):
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\necho hello\n")
    bad.chmod(0o755)
    with pytest.raises(OpsError) as err:
        gpus.discover(bad)
    assert "printed 'hello', not" in str(err.value) and "\n" not in str(err.value)


def test_the_images_script_is_the_same_text_reading_its_settings_from_the_environment(tmp_path, fake_smi):
    """docker/spark/gpu-discovery.sh (copied into the image as hyperspark-gpu-discovery; the entrypoint
    exports HYPERSPARK_GPUS_PER_WORKER from SPARK_WORKER_GPUS) is gpus.discovery_script() itself."""
    assert IMAGE_SCRIPT.read_text() == gpus.discovery_script()
    assert os.access(IMAGE_SCRIPT, os.X_OK)
    path = f"{fake_smi}:{os.environ['PATH']}"
    every = run_script(IMAGE_SCRIPT, {"PATH": path, "HYPERSPARK_GPUS_PER_WORKER": "0"})
    assert json.loads(every.stdout)["addresses"] == ["0", "1", "2", "3"]  # SPARK_WORKER_GPUS=all
    first = run_script(IMAGE_SCRIPT, {"PATH": path, "HYPERSPARK_GPUS_PER_WORKER": "1"})
    assert json.loads(first.stdout)["addresses"] == ["0"]
    fixed = run_script(IMAGE_SCRIPT, {"PATH": no_smi_path(tmp_path), "HYPERSPARK_GPU_ADDRESSES": "a,b"})
    assert json.loads(fixed.stdout)["addresses"] == ["a", "b"]
    dockerfile = (REPO / "docker" / "spark" / "Dockerfile").read_text()
    assert "COPY docker/spark/gpu-discovery.sh /usr/local/bin/hyperspark-gpu-discovery" in dockerfile


# -- the rules of the options ---------------------------------------------------------------------
@pytest.mark.parametrize("text,problem", [
    ("0,,1", "'0,,1' is not a comma-separated list of GPU addresses, e.g. 0,1"),
    ("0,0", "0,0 names a GPU address twice"),
    ('0,"1', "GPU address '\"1' may hold only letters, digits and . _ : -"),
])
def test_bad_address_lists_are_refused_with_the_reason(text, problem):
    with pytest.raises(ValueError) as err:
        gpus.parse_addresses(text)
    assert str(err.value) == problem


def test_addresses_imply_the_count_and_a_different_count_is_one_line():
    assert gpus.parse_addresses(" 0, 1 ") == ["0", "1"]
    assert gpus.parse_addresses("GPU-1a2b,MIG-3:0") == ["GPU-1a2b", "MIG-3:0"]
    assert gpus.plan(None, "0,1") == (2, ["0", "1"])
    assert gpus.plan(2, None) == (2, [])  # nvidia-smi
    assert gpus.plan(0, "") == (0, [])
    with pytest.raises(OpsError) as err:
        gpus.plan(3, "0,1")
    assert str(err.value) == ("gpu_addresses: 2 addresses (0,1) but gpus_per_worker is 3: give one address per "
                              "GPU of a worker")
    assert gpus.count_problem(None, ["0"]) is None and gpus.count_problem(1, []) is None


def test_confs_for_workers_and_drivers():
    script = Path("/state/conf/gpu-discovery.sh")
    assert gpus.worker_conf(2, script) == {"spark.worker.resource.gpu.amount": "2",
                                           "spark.worker.resource.gpu.discoveryScript": str(script)}
    assert gpus.executor_conf(2) == {"spark.executor.resource.gpu.amount": "2",
                                     "spark.task.resource.gpu.amount": "0"}
    assert gpus.worker_conf(0, script) == {} and gpus.executor_conf(0) == {}


# -- the local target's confs (nothing started) --------------------------------------------------------
def local_target(tmp_path: Path, **settings):
    from hyperspark.ops.targets.local import LocalTarget

    return LocalTarget(tmp_path / "state", hdfs=False, **settings)


def conf_lines(path: Path) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in path.read_text().splitlines() if line.strip())


def test_local_workers_get_the_worker_confs_and_the_script_in_the_state_dir(tmp_path):
    target = local_target(tmp_path, gpus_per_worker=2, gpu_addresses="0,1")
    conf = conf_lines(target.daemons.write_conf())
    script = target.state.root / "conf" / "gpu-discovery.sh"
    assert conf["spark.worker.resource.gpu.amount"] == "2"
    assert conf["spark.worker.resource.gpu.discoveryScript"] == str(script)
    assert gpus.discover(script) == ["0", "1"]
    target.daemons.check_gpus([1, 2])  # what up and scale run before starting workers


def test_local_drivers_ask_for_the_workers_gpus_and_a_cpu_cluster_asks_for_none(tmp_path):
    script, args = Path("jobs/tune.py"), ["spec.yaml"]
    argv = local_target(tmp_path, gpus_per_worker=2, gpu_addresses="0,1").spark_submit_argv({}, script, args)
    assert "spark.executor.resource.gpu.amount=2" in argv and "spark.task.resource.gpu.amount=0" in argv
    mine = local_target(tmp_path / "b", gpus_per_worker=2, gpu_addresses="0,1").spark_submit_argv(
        {"spark.task.resource.gpu.amount": "1"}, script, args)
    assert "spark.task.resource.gpu.amount=1" in mine and "spark.task.resource.gpu.amount=0" not in mine
    cpu = local_target(tmp_path / "c").spark_submit_argv({}, script, args)
    assert not [a for a in cpu if "resource.gpu" in a]
    assert "spark.worker.resource" not in (local_target(tmp_path / "c").daemons.write_conf()).read_text()


def test_a_fresh_up_takes_both_gpu_settings_from_what_was_given(tmp_path):
    """A state dir that ran a 4-address cluster: `up --gpus-per-worker 1` means nvidia-smi, 1 per worker."""
    target = local_target(tmp_path)
    target.state.write_json("state.json", {"gpus_per_worker": 4, "gpu_addresses": "0,1,2,3"})
    assert target.settings().gpu_plan() == (4, ["0", "1", "2", "3"])  # saved: what `scale` uses
    again = local_target(tmp_path, gpus_per_worker=1)
    again._explicit_gpus()
    assert again.settings().gpu_plan() == (1, [])
    addresses = local_target(tmp_path, gpu_addresses="7")
    addresses._explicit_gpus()
    assert addresses.settings().gpu_plan() == (1, ["7"])


# -- what the master says, status and doctor ---------------------------------------------------------------
#: the relevant part of `/json/` from a real pyspark 4.3.0 master: 2 workers started with
#: spark.worker.resource.gpu.amount=2 and a discovery script printing 0,1 (`up --gpu-addresses 0,1`),
#: one application whose executor on each worker holds both GPUs (spark.executor.resource.gpu.amount=2)
MASTER_JSON_FILE = Path(__file__).parent / "data" / "master_json_gpus.json"


@pytest.fixture(scope="module")
def master_json() -> dict:
    return json.loads(MASTER_JSON_FILE.read_text())


def test_parse_worker_reads_the_gpus_a_real_master_reports(master_json):
    MASTER_JSON = master_json
    workers = [spark_api.parse_worker(w) for w in MASTER_JSON["workers"]]
    assert [w.gpus.count for w in workers] == [2, 2]
    assert all(w.gpus.addresses == ["0", "1"] for w in workers)
    assert [w.gpus.used for w in workers] == [["0", "1"]] * 2  # the application's executors hold them
    status = spark_api.parse_master(MASTER_JSON, "local", "spark://x", "http://x")
    jsonable = render.to_jsonable(status)["workers"][0]["gpus"]
    assert set(jsonable) == {"count", "addresses", "used"} and jsonable["count"] == 2


def test_a_worker_without_gpus_or_an_older_master_reads_as_none(master_json):
    MASTER_JSON = master_json
    plain = {k: v for k, v in MASTER_JSON["workers"][0].items() if not k.startswith("resources")}
    assert spark_api.parse_worker(plain).gpus == Gpus()
    empty = {**MASTER_JSON["workers"][0], "resources": {}, "resourcesused": {}}
    assert spark_api.parse_worker(empty).gpus.count == 0


def worker(name: str, count: int, state: str = "ALIVE") -> WorkerInfo:
    addresses = [str(i) for i in range(count)]
    return WorkerInfo(name, "h", 1, 0, 1024, state, gpus=Gpus(count, addresses, []))


def test_the_gpus_check_informs_and_fails_only_below_what_was_asked():
    none = gpus.gpus_check([worker("w1", 0)])
    assert (none.name, none.ok, none.detail) == (CheckName.GPUS, True, "no GPUs advertised (CPU trials only)")
    some = gpus.gpus_check([worker("w1", 2), worker("w2", 0), worker("w3", 2, "DEAD")])
    assert some.ok and some.detail == "2 GPU(s) on 1 of 2 ALIVE worker(s) (w1: 2, w2: 0)"
    short = gpus.gpus_check([worker("w1", 2), worker("w2", 1)], wanted=2)
    assert not short.ok and short.detail.startswith("1 of 2 ALIVE worker(s) advertise fewer than the 2 GPUs")
    assert gpus.gpus_check([worker("w1", 2), worker("w2", 2)], wanted=2).ok
    assert not gpus.gpus_check(None, wanted=2).ok and gpus.gpus_check(None).ok


def test_the_status_table_shows_gpus_only_on_a_cluster_with_gpus(monkeypatch):
    def shown(st: ClusterStatus) -> str:
        out = io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        render.render_status(st)
        monkeypatch.undo()
        return out.getvalue()

    used = worker("w1", 2)
    used.gpus.used = ["1"]
    text = shown(ClusterStatus("local", "spark://x", "http://x", "ALIVE", workers=[used, worker("w2", 0)]))
    assert "GPUs: 2" in text and "GPUs used/all" in text and "1/2 (0,1)" in text
    plain = shown(ClusterStatus("local", "spark://x", "http://x", "ALIVE", workers=[worker("w1", 0)]))
    assert "GPU" not in plain


def test_submit_conf_asks_executors_for_the_smallest_gpu_worker_and_only_for_gpu_runs():
    mixed = [worker("w1", 0), worker("w2", 4), worker("w3", 2), worker("w4", 8, state="DEAD")]
    key = "spark.executor.resource.gpu.amount"
    assert gpus.submit_conf(1, {}, mixed) == {key: "2", "spark.task.resource.gpu.amount": "0"}
    assert gpus.submit_conf(0.5, {}, mixed)[key] == "2"
    assert gpus.submit_conf(0, {}, mixed) == {}  # a CPU run keeps every worker
    assert gpus.submit_conf(1, {key: "1"}, mixed) == {}  # the user's (or the target's) own conf wins
    assert gpus.submit_conf(1, {}, [worker("w1", 0)]) == {}  # no GPU anywhere: the job says so itself
    assert gpus.submit_conf(1, {}, None) == {}
