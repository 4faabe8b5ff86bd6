"""K8sTarget: the cluster from ``k8s/`` on any Kubernetes, driven by the official ``kubernetes`` client.

What it does, per :class:`~hyperspark.ops.targets.base.Target` method
(connecting: :mod:`.api`; what is rendered and sent: :mod:`.objects`):

* ``up``: render the overlay through an ephemeral kustomization (``namespace``, worker ``replicas``,
  a patch for the worker size) with a real kustomize (:mod:`hyperspark.ops.k8s_render`), validate the
  result against the Kubernetes schemas, create the Spark RPC Secret if the namespace has none (random, never written to disk), server-side apply
  every object (field manager ``hyperspark``), then wait until the pods are ready and the master's
  ``/json/`` (read through the API server's service proxy, so no port-forward) lists N ALIVE workers.
* ``scale``: mark busy workers with a high ``controller.kubernetes.io/pod-deletion-cost`` so idle
  pods go first, patch the Deployment's replicas, wait for the master to agree.
* ``upload``: exec into ``namenode-0`` and run the shared upload script (:mod:`hyperspark.ops.hdfs.upload`);
  the file is streamed on stdin into ``head -c SIZE | hdfs dfs -put - TMP`` (``head -c`` ends the
  stream at the right byte, so no half-close of the exec websocket is needed), then ``-mv TMP DEST``
  and a sha256 of ``hdfs dfs -cat DEST`` is compared with the local file.
* ``launch_driver`` (the shared submit path calls it): render ``k8s/driver`` through an ephemeral
  kustomization (``namespace``, ``nameSuffix`` = the run, the spec in a ``configMapGenerator``, the
  run's command line, built by the job's ``JobArgs``, as a JSON patch), validate, create the driver Job (``backoffLimit: 0``) and the run's
  ConfigMaps and Service owned by the Job, follow the driver pod's log line by line.

Status of this code: Kubernetes cannot run on the machines this project is developed and tested on
(no kind, k3s or API server can be obtained offline), so the live paths above have NOT been run
against a real API server. What is tested here: the manifests (rendered by real kustomize and
schema-validated) and this class's behaviour when no API server is reachable, using the real client.
When no kubeconfig / API server is reachable, every method raises one :class:`OpsError`:
``no Kubernetes API reachable: <reason>``.
"""
from __future__ import annotations

import json
import re
import secrets
import shlex
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from hyperspark.job.protocol import one_line

from hyperspark.ops import gpus, k8s_render, spark_api
from hyperspark.ops.hdfs import jmx as nn_jmx
from hyperspark.ops.hdfs import upload as hdfs_upload
from hyperspark.ops.hdfs.paths import hdfs_path, upload_path
from hyperspark.ops.model import (
    Check,
    CheckName,
    ClusterStatus,
    NoClusterError,
    OpsError,
    StorageStatus,
    UploadResult,
)
from hyperspark.ops.targets.base import Target
from hyperspark.ops.targets.k8s.api import UNREACHABLE, Api, connect
from hyperspark.ops.targets.k8s.objects import cluster_objects, driver_objects
from hyperspark.ops.targets.k8s.settings import K8sSettings
from hyperspark.ops.targets.request import DriverOutput, DriverRequest
from hyperspark.ops.util.files import chunks, sha256_file
from hyperspark.ops.util.poll import wait_for

PART_OF = "app.kubernetes.io/part-of=hyperspark"
COMPONENT = "app.kubernetes.io/component"
SECRET_NAME = "hyperspark-spark-auth"
SECRET_KEY = "rpc-secret"
MASTER_URL = "spark://spark-master:7077"
FS_URI = "hdfs://namenode-0.namenode:8020"
NAMENODE_POD = "namenode-0"
FIELD_MANAGER = "hyperspark"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_BAD_WAITING = {"ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "CreateContainerConfigError",
                "InvalidImageName", "CreateContainerError"}



class K8sTarget(Target):
    """Spark standalone + HDFS from ``k8s/overlays/<env>`` in one namespace."""

    name = "k8s"
    max_workers = 64
    settings_model = K8sSettings

    def __init__(self, state_dir: Path, **settings: Any) -> None:
        self._cached: Api | None = None
        super().__init__(state_dir, **settings)

    def _settings_changed(self) -> None:
        resolved = self.settings()
        self.namespace, self.overlay = resolved.namespace, resolved.overlay
        self.kubeconfig, self.context = resolved.kubeconfig, resolved.context
        self._cached = None

    # -- plumbing -----------------------------------------------------------
    def _api(self) -> Api:
        if self._cached is None:
            self._cached = connect(self.kubeconfig, self.context)
        return self._cached

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one API call; API and transport errors become one-line OpsErrors naming ``what``."""
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            detail = exc.reason
            try:
                detail = json.loads(exc.body or "{}").get("message") or detail
            except (TypeError, ValueError):
                pass
            raise OpsError(f"{what}: {exc.status} {one_line(detail)}") from exc
        except OpsError:
            raise
        except Exception as exc:  # noqa: BLE001 - transport failures (urllib3, ssl, websocket)
            raise OpsError(f"{UNREACHABLE}: {self._api().host}: {one_line(exc)}") from exc

    def _exists(self, fn: Callable[..., Any], *args: Any) -> Any | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise OpsError(f"Kubernetes API: {exc.status} {one_line(exc.reason)}") from exc

    def _proxy_get(self, service_port: str, path: str, query: list[tuple[str, str]] | None = None) -> Any:
        """GET through the API server's service proxy and decode JSON (None when it does not answer)."""
        api = self._api()
        resource = f"/api/v1/namespaces/{self.namespace}/services/{service_port}/proxy/{path}"
        try:
            req = api.client.param_serialize(method="GET", resource_path=resource, query_params=query or [],
                                             header_params={"Accept": "application/json"},
                                             auth_settings=["BearerToken"])
            resp = api.client.call_api(*req, _request_timeout=5)
            resp.read()
            if resp.status != 200:
                return None
            return json.loads(resp.data.decode("utf-8"))
        except Exception:  # noqa: BLE001 - a service that does not answer yet is a normal state here
            return None

    @property
    def master_ui(self) -> str:
        host = self._cached.host if self._cached else "https://<apiserver>"
        return f"{host}/api/v1/namespaces/{self.namespace}/services/spark-master:http/proxy/"

    # -- rendering ----------------------------------------------------------
    def _cluster_objects(self, workers: int, cores: int, memory: str) -> list[dict]:
        return cluster_objects(self.overlay, self.namespace, workers, cores, memory)

    def _apply(self, objs: list[dict]) -> list[str]:
        from kubernetes.dynamic import DynamicClient

        dyn = self._call("API discovery", DynamicClient, self._api().client)
        applied = []
        for obj in objs:
            kind, name = obj["kind"], obj["metadata"]["name"]
            res = self._call(f"API discovery of {kind}", dyn.resources.get, api_version=obj["apiVersion"], kind=kind)
            ns = obj["metadata"].get("namespace") if res.namespaced else None
            self._call(f"applying {kind}/{name}", res.server_side_apply, body=obj, name=name, namespace=ns,
                       field_manager=FIELD_MANAGER, force_conflicts=True)
            applied.append(f"{kind}/{name}")
        return applied

    def _ensure_secret(self) -> None:
        from kubernetes import client

        core = self._api().core
        if self._call("reading the Spark RPC secret", self._exists, core.read_namespaced_secret,
                      SECRET_NAME, self.namespace) is not None:
            return
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=SECRET_NAME, labels={"app.kubernetes.io/part-of": "hyperspark"}),
            string_data={SECRET_KEY: secrets.token_hex(32)},
        )
        self._call("creating the Spark RPC secret", core.create_namespaced_secret, self.namespace, body)

    # -- lifecycle ------------------------------------------------------------
    def up(self, workers: int, worker_cores: int = 1, worker_memory: str = "1g") -> ClusterStatus:
        self.check_workers(workers)
        self._api()
        objs = k8s_render.check_valid(self._cluster_objects(workers, worker_cores, worker_memory))
        self._apply([o for o in objs if o["kind"] == "Namespace"])
        self._ensure_secret()
        self._apply([o for o in objs if o["kind"] != "Namespace"])
        self._wait_pods_ready(timeout=900)
        self._wait_workers(workers, timeout=600)
        return self.status()

    def _pods(self, selector: str = PART_OF) -> list[Any]:
        pods = self._call("listing pods", self._api().core.list_namespaced_pod, self.namespace,
                          label_selector=selector).items
        return sorted(pods, key=lambda p: p.metadata.name)

    def _pod_problem(self, pod: Any) -> str | None:
        for cs in (pod.status.container_statuses or []) + (pod.status.init_container_statuses or []):
            waiting = cs.state.waiting if cs.state else None
            if waiting and waiting.reason in _BAD_WAITING:
                return f"pod {pod.metadata.name}: {waiting.reason}: {one_line(waiting.message or '')}"
        return None

    def _wait_pods_ready(self, timeout: float) -> None:
        def ready() -> bool:
            pods = [p for p in self._pods() if p.metadata.labels.get(COMPONENT) != "spark-driver"]
            for pod in pods:
                problem = self._pod_problem(pod)
                if problem:
                    raise OpsError(problem)
            return bool(pods) and all(
                any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or [])) for p in pods
            )

        wait_for(ready, timeout, f"pods in namespace {self.namespace} to be ready", interval=3)

    def _master_json(self) -> dict | None:
        data = self._proxy_get("spark-master:http", "json/")
        return data if isinstance(data, dict) else None

    def _wait_workers(self, count: int, timeout: float) -> dict:
        def check() -> dict | None:
            data = self._master_json()
            return data if data is not None and spark_api.alive_count(data) == count else None

        return wait_for(check, timeout, f"{count} ALIVE worker(s) at the master", interval=3)

    def status(self) -> ClusterStatus:
        api = self._api()
        if self._call("reading the master", self._exists, api.apps.read_namespaced_deployment,
                      "spark-master", self.namespace) is None:
            raise NoClusterError(self.name)
        data = self._master_json()
        if data is None:
            status = ClusterStatus(target=self.name, master_url=MASTER_URL, master_ui=self.master_ui,
                                   master_state="DOWN", urls={"master": self.master_ui})
        else:
            status = spark_api.parse_master(data, self.name, MASTER_URL, self.master_ui)
            status.master_url = MASTER_URL  # the in-cluster URL drivers use, not the pod IP
        status.storage = self._storage_status()
        status.urls["namenode"] = f"{api.host}/api/v1/namespaces/{self.namespace}/services/namenode:http/proxy/"
        return status

    def _bean(self, bean: str) -> dict | None:
        data = self._proxy_get("namenode:http", "jmx", [("qry", nn_jmx.query(bean))])
        beans = (data or {}).get("beans") or []
        return beans[0] if beans else None

    def _storage_status(self) -> StorageStatus:
        return nn_jmx.storage_status(self._bean, FS_URI, self._replication(), where="the namenode service")

    def _replication(self) -> int | None:
        cms = self._call("listing ConfigMaps", self._api().core.list_namespaced_config_map, self.namespace,
                         label_selector=PART_OF).items
        for cm in cms:
            if cm.metadata.name.startswith("hdfs-env-") and cm.data:
                value = cm.data.get("HDFS-SITE.XML_dfs.replication")
                return int(value) if value else None
        return None

    def scale(self, workers: int) -> ClusterStatus:
        self.check_workers(workers)
        api = self._api()
        if self._call("reading the workers", self._exists, api.apps.read_namespaced_deployment,
                      "spark-worker", self.namespace) is None:
            raise NoClusterError(self.name)
        self._mark_busy_workers()
        self._call("scaling spark-worker", api.apps.patch_namespaced_deployment_scale, "spark-worker",
                   self.namespace, {"spec": {"replicas": workers}})
        self._wait_workers(workers, timeout=600)
        return self.status()

    def _mark_busy_workers(self) -> None:
        """Idle workers go first: the ReplicaSet deletes pods with the lowest deletion cost."""
        busy = {w.host for w in spark_api.busy_workers(self._master_json())}
        for pod in self._pods(f"{PART_OF},{COMPONENT}=spark-worker"):
            cost = "1000" if pod.status.pod_ip in busy else "0"
            self._call(f"annotating {pod.metadata.name}", self._api().core.patch_namespaced_pod, pod.metadata.name,
                       self.namespace, {"metadata": {"annotations": {DELETION_COST: cost}}})

    def down(self, purge: bool = False) -> list[str]:
        api = self._api()
        ns, stopped = self.namespace, []
        kinds: list[tuple[str, Callable, Callable]] = [
            ("Job", api.batch.list_namespaced_job, api.batch.delete_namespaced_job),
            ("Deployment", api.apps.list_namespaced_deployment, api.apps.delete_namespaced_deployment),
            ("StatefulSet", api.apps.list_namespaced_stateful_set, api.apps.delete_namespaced_stateful_set),
            ("Service", api.core.list_namespaced_service, api.core.delete_namespaced_service),
            ("ConfigMap", api.core.list_namespaced_config_map, api.core.delete_namespaced_config_map),
        ]
        from kubernetes import client

        policy = client.PolicyV1Api(api.client)
        kinds.append(("PodDisruptionBudget", policy.list_namespaced_pod_disruption_budget,
                      policy.delete_namespaced_pod_disruption_budget))
        if purge:  # data and the secret go only when asked: PVCs hold HDFS metadata and blocks
            kinds += [
                ("PersistentVolumeClaim", api.core.list_namespaced_persistent_volume_claim,
                 api.core.delete_namespaced_persistent_volume_claim),
                ("Secret", api.core.list_namespaced_secret, api.core.delete_namespaced_secret),
            ]
        for kind, lister, deleter in kinds:
            for item in self._call(f"listing {kind}s", lister, ns, label_selector=PART_OF).items:
                self._call(f"deleting {kind}/{item.metadata.name}", deleter, item.metadata.name, ns,
                           propagation_policy="Foreground" if kind in ("Job", "StatefulSet") else "Background")
                stopped.append(f"{kind}/{item.metadata.name}")
        return stopped

    # -- exec into the NameNode -------------------------------------------------
    def _exec(self, script: str, stdin: Iterator[bytes] | None = None, timeout: float = 3600) -> tuple[int, str, str]:
        """Run ``sh -c script`` in namenode-0; returns (exit code, stdout, stderr)."""
        from kubernetes.stream import stream

        api = self._api()
        if self._call("reading the NameNode pod", self._exists, api.core.read_namespaced_pod,
                      NAMENODE_POD, self.namespace) is None:
            raise NoClusterError(self.name)
        resp = self._call("exec into the NameNode", stream, api.core.connect_get_namespaced_pod_exec,
                          NAMENODE_POD, self.namespace, container="namenode", command=["sh", "-c", script],
                          stdin=stdin is not None, stdout=True, stderr=True, tty=False, _preload_content=False)
        out, err = [], []
        deadline = time.monotonic() + timeout
        try:
            for chunk in stdin or ():
                resp.update(timeout=0)
                resp.write_stdin(chunk)
            while resp.is_open() and time.monotonic() < deadline:
                resp.update(timeout=1)
                if resp.peek_stdout():
                    out.append(resp.read_stdout())
                if resp.peek_stderr():
                    err.append(resp.read_stderr())
            if resp.is_open():
                raise OpsError(f"command in {NAMENODE_POD} did not finish within {timeout:.0f}s")
            code = resp.returncode
        finally:
            resp.close()
        return (code if code is not None else 1), "".join(out), "".join(err)

    def _hdfs_path(self, dest: str) -> str:
        if not dest.startswith(("hdfs://", "/")):
            raise OpsError(f"destination {dest!r} must be an absolute HDFS path or {FS_URI}/...")
        return hdfs_path(dest, FS_URI)

    def upload(self, src: Path, dest: str | None = None, force: bool = False) -> UploadResult:
        src = Path(src)
        if not src.is_file():
            raise OpsError(f"no such file: {src}")
        self._api()
        if dest is not None:
            self._hdfs_path(dest)
        path = upload_path(src.name, dest, FS_URI)
        size, digest = src.stat().st_size, sha256_file(src)
        replication = self._replication() or 1
        started = time.monotonic()
        code, out, err = self._exec(hdfs_upload.script(path, force, replication, size), stdin=chunks(src, 1 << 16))
        return hdfs_upload.verdict(src, f"{FS_URI}{path}", code, out + err, out, digest, size,
                                   time.monotonic() - started)

    def read_text(self, uri: str) -> str:
        self._api()
        path = self._hdfs_path(uri)
        code, out, err = self._exec(f"hdfs dfs -cat {shlex.quote(path)}", timeout=120)
        if code != 0:
            raise OpsError(f"cannot read {uri}: {one_line((err.strip().splitlines() or [f'exit code {code}'])[-1])}")
        return out

    # -- the driver -----------------------------------------------------------
    def _driver_objects(self, run_id: str, spec_text: str, resume: bool, conf: dict[str, str],
                        overrides: list[str]) -> tuple[dict, dict, list[dict]]:
        return driver_objects(self.namespace, run_id, spec_text, resume, conf, overrides)

    def before_submit(self, request: DriverRequest) -> None:
        api = self._api()
        if self._call("reading the master", self._exists, api.apps.read_namespaced_deployment,
                      "spark-master", self.namespace) is None:
            raise NoClusterError(self.name)

    def launch_driver(self, request: DriverRequest, output: DriverOutput) -> int:
        if request.packages:
            raise OpsError("--package is not supported on the k8s target yet: upload the zip to HDFS and "
                           "add it with --conf spark.submit.pyFiles=hdfs://...")
        api = self._api()
        job, spec_cm, others = self._driver_objects(request.run_id, request.spec_path.read_text(), request.resume,
                                                    request.conf, request.overrides)
        k8s_render.check_valid([job, spec_cm, *others])
        created = self._call(f"creating Job {job['metadata']['name']}", api.batch.create_namespaced_job,
                             self.namespace, job)
        owner = [{"apiVersion": "batch/v1", "kind": "Job", "name": created.metadata.name, "uid": created.metadata.uid}]
        for obj in (spec_cm, *others):  # the run's objects go when its Job goes
            obj["metadata"]["ownerReferences"] = owner
        self._call("creating the spec ConfigMap", api.core.create_namespaced_config_map, self.namespace, spec_cm)
        self._apply(others)
        self.state.write_json("last-driver.json", {"job": created.metadata.name, "run_id": request.run_id})
        output.note(f"$ Job {created.metadata.name} in namespace {self.namespace}")
        pod = self._wait_driver_pod(created.metadata.name)
        self._follow(pod, output)
        return self._wait_exit(pod)

    def _wait_driver_pod(self, job_name: str) -> str:
        def started() -> str | None:
            for pod in self._pods(f"job-name={job_name}"):
                problem = self._pod_problem(pod)
                if problem:
                    raise OpsError(problem)
                if pod.status.phase in ("Running", "Succeeded", "Failed"):
                    return pod.metadata.name
            return None

        return wait_for(started, 600, f"the driver pod of Job {job_name}", interval=2)

    def _follow(self, pod: str, output: DriverOutput) -> None:
        """Stream the driver pod's log into ``output``."""
        api = self._api()
        resp = self._call("following the driver log", api.core.read_namespaced_pod_log, pod, self.namespace,
                          follow=True, _preload_content=False)
        try:
            for chunk in resp.stream(4096):
                output.feed(chunk.decode("utf-8", "replace"))
            output.flush()
        finally:
            resp.release_conn()

    def _wait_exit(self, pod: str) -> int:
        def finished() -> int | None:
            obj = self._call("reading the driver pod", self._api().core.read_namespaced_pod, pod, self.namespace)
            for cs in obj.status.container_statuses or []:
                if cs.state and cs.state.terminated:
                    return cs.state.terminated.exit_code + 1000  # +1000 keeps 0 truthy for wait_for
            return None

        return wait_for(finished, 300, f"the driver pod {pod} to finish", interval=2) - 1000

    # -- logs and checks ---------------------------------------------------------
    def components(self) -> list[str]:
        return ["master", "worker-1", "driver", "namenode", "datanode-0"]

    def _log_pod(self, component: str) -> str:
        if component == "master":
            pods = self._pods(f"{PART_OF},{COMPONENT}=spark-master")
            return pods[0].metadata.name if pods else ""
        m = re.fullmatch(r"worker-(\d+)", component)
        if m:
            pods = self._pods(f"{PART_OF},{COMPONENT}=spark-worker")
            index = int(m.group(1)) - 1
            return pods[index].metadata.name if 0 <= index < len(pods) else ""
        if component == "driver":
            last = self.state.read_json("last-driver.json", {}) or {}
            pods = self._pods(f"job-name={last['job']}") if last.get("job") else []
            return pods[0].metadata.name if pods else ""
        if component == "namenode" or re.fullmatch(r"datanode-\d+", component):
            return NAMENODE_POD if component == "namenode" else component
        raise OpsError(f"unknown component {component!r}: choose master, worker-N, driver, namenode or datanode-N")

    def logs(self, component: str) -> str:
        self._api()
        pod = self._log_pod(component)
        if not pod:
            raise OpsError(f"no pod for {component!r} in namespace {self.namespace}")
        return self._call(f"reading the log of {pod}", self._api().core.read_namespaced_pod_log, pod,
                          self.namespace, tail_lines=5000)

    def doctor(self) -> list[Check]:
        try:
            api = self._api()
        except OpsError as exc:
            return [Check(CheckName.KUBERNETES_API, False, str(exc))]
        checks = [Check(CheckName.KUBERNETES_API, True, api.host)]
        try:
            checks += self._cluster_checks()
        except OpsError as exc:
            checks.append(Check(CheckName.CLUSTER, False, str(exc)))
        return checks

    def _cluster_checks(self) -> list[Check]:
        api = self._api()
        dep = self._call("reading the workers", self._exists, api.apps.read_namespaced_deployment,
                         "spark-worker", self.namespace)
        if dep is None:
            return [Check(CheckName.CLUSTER, False, f"no cluster in namespace {self.namespace}: run `hyperspark up` first")]
        secret = self._call("reading the secret", self._exists, api.core.read_namespaced_secret,
                            SECRET_NAME, self.namespace)
        checks = [Check(CheckName.RPC_SECRET, secret is not None, SECRET_NAME if secret else f"Secret {SECRET_NAME} missing")]
        data = self._master_json()
        checks.append(Check(CheckName.MASTER, bool(data) and data.get("status") == "ALIVE",
                            f"master status {(data or {}).get('status', 'not answering')}"))
        alive = spark_api.alive_count(data)
        wanted = dep.spec.replicas or 0
        checks.append(Check(CheckName.WORKERS, alive == wanted, f"{alive} ALIVE of {wanted} wanted"))
        # informational: the gpu overlay's workers advertise GPUs
        checks.append(gpus.gpus_check([spark_api.parse_worker(w) for w in data.get("workers", [])] if data else None))
        checks += nn_jmx.hdfs_checks(self._storage_status())
        worker_image = dep.spec.template.spec.containers[0].image
        job, _, _ = self._driver_objects("doctor", "", False, {}, [])
        driver_image = job["spec"]["template"]["spec"]["containers"][0]["image"]
        checks.append(Check(CheckName.PYTHON, worker_image == driver_image,
                            f"driver {driver_image}, workers {worker_image} (same image = same Python)"))
        return checks
