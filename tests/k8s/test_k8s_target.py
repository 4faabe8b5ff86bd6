"""K8sTarget with the REAL kubernetes client.

No Kubernetes API server can run on these machines, so: the failure path is exercised for
real (no kubeconfig; a kubeconfig aiming at a loopback port where nothing listens; a
broken kubeconfig), the object transformations are checked on the real rendered manifests,
and the live path is a test that skips here and runs where a cluster is reachable and
explicitly allowed (HYPERSPARK_K8S_LIVE=1, current kubeconfig context)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hyperspark.job.protocol import JobArgs
from hyperspark.ops import k8s_render
from hyperspark.ops.model import Check, OpsError
from hyperspark.ops.targets.k8s import K8sTarget, connect
from tests.ports import free_port

pytestmark = pytest.mark.k8s

PREFIX = "no Kubernetes API reachable: "
LIVE_SKIP = "no Kubernetes API server can run on this machine (no kind/k3s/apiserver available offline)"


@pytest.fixture
def no_kubeconfig(tmp_path, monkeypatch) -> Path:
    """An environment with no kubeconfig anywhere and not inside a pod."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for var in ("HYPERSPARK_K8S_CONTEXT", "HYPERSPARK_K8S_NAMESPACE", "HYPERSPARK_K8S_OVERLAY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: here\n"
        f"clusters:\n- name: here\n  cluster:\n    server: {server}\n"
        "users:\n- name: me\n  user:\n    token: not-a-real-token\n"
        "contexts:\n- name: here\n  context:\n    cluster: here\n    user: me\n"
    )
    return path


def _calls(tmp_path: Path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("dataset: hdfs:///data/data.csv\n")
    return {
        "up": lambda t: t.up(1),
        "status": lambda t: t.status(),
        "scale": lambda t: t.scale(2),
        "upload": lambda t: t.upload(data),
        "submit": lambda t: t.submit(spec),
        "read_text": lambda t: t.read_text("hdfs://namenode-0.namenode:8020/x/summary.json"),
        "logs": lambda t: t.logs("master"),
        "down": lambda t: t.down(),
    }


METHODS = ["up", "status", "scale", "upload", "submit", "read_text", "logs", "down"]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_says_no_api_without_a_kubeconfig(no_kubeconfig, method):
    target = K8sTarget(state_dir=no_kubeconfig / "state")
    with pytest.raises(OpsError) as err:
        _calls(no_kubeconfig)[method](target)
    message = str(err.value)
    assert message.startswith(PREFIX + "no usable kubeconfig at "), message
    assert "\n" not in message


@pytest.mark.parametrize("method", METHODS)
def test_every_method_says_no_api_when_the_server_refuses(no_kubeconfig, method):
    port = free_port()
    config = _kubeconfig(no_kubeconfig / "kubeconfig", f"https://127.0.0.1:{port}")
    target = K8sTarget(state_dir=no_kubeconfig / "state", kubeconfig=str(config))
    with pytest.raises(OpsError) as err:
        _calls(no_kubeconfig)[method](target)
    message = str(err.value)
    assert message.startswith(f"{PREFIX}https://127.0.0.1:{port}: "), message
    assert "refused" in message.lower() and "\n" not in message


def test_a_broken_kubeconfig_is_named(no_kubeconfig):
    bad = no_kubeconfig / "kubeconfig"
    bad.write_text("apiVersion: v1\nkind: Config\ncontexts: []\n")
    with pytest.raises(OpsError) as err:
        connect(kubeconfig=str(bad))
    assert str(err.value).startswith(f"{PREFIX}no usable kubeconfig at {bad} (")


def test_doctor_reports_the_unreachable_api_as_a_failed_check(no_kubeconfig):
    checks = K8sTarget(state_dir=no_kubeconfig / "state").doctor()
    assert checks == [Check("kubernetes api", False, checks[0].detail)]
    assert checks[0].detail.startswith(PREFIX)


def test_user_mistakes_are_named_before_any_api_call(no_kubeconfig):
    target = K8sTarget(state_dir=no_kubeconfig / "state")
    with pytest.raises(OpsError, match=r"^no such file: .*missing\.csv$"):
        target.upload(no_kubeconfig / "missing.csv")
    with pytest.raises(OpsError, match=r"^the k8s target runs at most 64 workers, got 65$"):
        target.up(65)
    with pytest.raises(OpsError, match=r"^no such spec file: "):
        target.submit(no_kubeconfig / "nope.yaml")


# -- what would be sent to a cluster (real rendered manifests, no API) ------------------


def _render_or_skip() -> None:
    try:
        k8s_render.find_kustomize()
    except OpsError as exc:
        pytest.skip(f"no real kustomize binary on this machine: {exc}")


def test_cluster_objects_carry_worker_count_size_and_namespace(tmp_path):
    _render_or_skip()
    target = K8sTarget(state_dir=tmp_path, namespace="team-a", overlay="overlays/prod")
    objs = target._cluster_objects(workers=3, cores=2, memory="6g")
    worker = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "spark-worker")
    assert worker["spec"]["replicas"] == 3
    container = worker["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SPARK_WORKER_CORES"] == "2" and env["SPARK_WORKER_MEMORY"] == "6144m"
    assert container["resources"]["limits"]["memory"] == "6912Mi"  # 6 GiB + room for the daemon
    assert {o["metadata"].get("namespace") for o in objs if o["kind"] != "Namespace"} == {"team-a"}
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"] == ["team-a"]
    assert k8s_render.validate_all(objs) == []


def test_driver_objects_for_one_run(tmp_path):
    _render_or_skip()
    target = K8sTarget(state_dir=tmp_path)
    job, spec_cm, shared = target._driver_objects(
        "20260101-120000-AB12", "dataset: x\n", resume=True, conf={"spark.executor.cores": "2"},
        overrides=["search.n_trials=4"],
    )
    assert job["metadata"]["name"] == "hyperspark-driver-20260101-120000-ab12"
    assert spec_cm["data"] == {"spec.yaml": "dataset: x\n"}
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert {"name": "spec", "configMap": {"name": spec_cm["metadata"]["name"]}} in volumes
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    script = next(i for i, a in enumerate(args) if a.endswith("tune.py"))
    assert args[script - 2:script] == ["--conf", "spark.executor.cores=2"]
    # after tune.py: the job's one command-line builder (JobArgs), then what the manifest declares (--output)
    assert args[script + 1:] == [
        "/etc/hyperspark/spec/spec.yaml", "--run-id", "20260101-120000-AB12", "--resume",
        "--set", "search.n_trials=4", "--output", "$(HYPERSPARK_OUTPUT)",
    ]
    assert args[script + 1:-2] == JobArgs(spec="/etc/hyperspark/spec/spec.yaml", run_id="20260101-120000-AB12",
                                          resume=True, overrides=["search.n_trials=4"]).argv()
    assert {o["kind"] for o in shared} == {"Service", "ConfigMap"}
    assert k8s_render.validate_all([job, spec_cm, *shared]) == []


def test_upload_destinations_outside_this_hdfs_are_refused(tmp_path):
    target = K8sTarget(state_dir=tmp_path)
    assert target._hdfs_path("hdfs://namenode-0.namenode:8020/data/a.csv") == "/data/a.csv"
    with pytest.raises(OpsError, match="is not on this cluster's HDFS"):
        target._hdfs_path("hdfs://elsewhere:8020/data/a.csv")
    with pytest.raises(OpsError, match="must be an absolute HDFS path"):
        target._hdfs_path("data/a.csv")


# -- live ---------------------------------------------------------------------------


def test_live_up_upload_submit_down(tmp_path):
    """The whole path on a real cluster; opt-in because it creates objects in your current context."""
    try:
        connect()
    except OpsError:
        pytest.skip(LIVE_SKIP)
    if os.environ.get("HYPERSPARK_K8S_LIVE") != "1":
        pytest.skip("a Kubernetes API is reachable: set HYPERSPARK_K8S_LIVE=1 to run this against it")
    target = K8sTarget(state_dir=tmp_path, namespace=os.environ.get("HYPERSPARK_K8S_NAMESPACE", "hyperspark-test"))
    try:
        status = target.up(1)
        assert len(status.alive_workers) == 1
        assert len(target.scale(2).alive_workers) == 2
        data = tmp_path / "data.csv"
        data.write_bytes(b"x,y\n" + b"".join(b"%d,%d\n" % (i, i % 2) for i in range(500)))
        result = target.upload(data, "/data/live.csv")
        assert target.read_text(result.dest) == data.read_text()
        assert all(c.ok for c in target.doctor()), target.doctor()
    finally:
        target.down(purge=True)
