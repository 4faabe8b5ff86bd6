"""What the k8s target sends: the cluster overlay and the per-run driver Job, rendered from ``k8s/`` through
ephemeral kustomizations by a real kustomize (:mod:`hyperspark.ops.k8s_render`). Pure functions of their
arguments: no API server is needed, so tests check them on the real manifests.

The driver's command line after ``tune.py`` is the job's own :class:`~hyperspark.job.protocol.JobArgs`
(the one builder every target and the warm driver use), with the spec at the path the manifest mounts it
and whatever else the manifest declares after it (``--output $(HYPERSPARK_OUTPUT)``) kept.
"""
from __future__ import annotations

import re

import yaml

from hyperspark.job.protocol import JobArgs

from hyperspark.ops import k8s_render
from hyperspark.ops.model import OpsError

ARGS_PATH = "/spec/template/spec/containers/0/args"


def memory_mb(text: str) -> int:
    m = re.fullmatch(r"(\d+)([mMgG])?", text.strip())
    if not m:
        raise OpsError(f"worker memory {text!r} is not like 1024m or 2g")
    return int(m.group(1)) * (1024 if (m.group(2) or "m").lower() == "g" else 1)


def slug(text: str) -> str:
    out = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return out[:40].strip("-") or "run"


def cluster_objects(overlay: str, namespace: str, workers: int, cores: int, memory: str) -> list[dict]:
    """The overlay through an ephemeral kustomization: namespace, worker replicas, worker size."""
    mem_mb = memory_mb(memory)
    base = next(o for o in k8s_render.render(overlay)
                if o["kind"] == "Deployment" and o["metadata"]["name"] == "spark-worker")
    container = base["spec"]["template"]["spec"]["containers"][0]
    limits = container.get("resources", {}).get("limits", {})
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "spark-worker"},
             "spec": {"template": {"spec": {"containers": [{
                 "name": container["name"],
                 "env": [{"name": "SPARK_WORKER_CORES", "value": str(cores)},
                         {"name": "SPARK_WORKER_MEMORY", "value": f"{mem_mb}m"}],
                 "resources": {"limits": {
                     "cpu": str(max(cores, _cpu(limits.get("cpu", "1")))),
                     "memory": f"{max(mem_mb + 768, _mi(limits.get('memory', '0Mi')))}Mi"}},
             }]}}}}
    return k8s_render.render_ephemeral(overlay, {
        "namespace": namespace,
        "replicas": [{"name": "spark-worker", "count": workers}],
        "patches": [{"patch": yaml.safe_dump(patch)}],
    })


def driver_objects(namespace: str, run_id: str, spec_text: str, resume: bool, conf: dict[str, str],
                   overrides: list[str]) -> tuple[dict, dict, list[dict]]:
    """(Job, spec ConfigMap, the run's other objects) from k8s/driver through an ephemeral kustomization:
    namespace, ``nameSuffix`` = the run, the spec in a ``configMapGenerator``, a run label, and the run's
    command line (:func:`driver_command`) as a JSON patch."""
    run = slug(run_id)
    ops = [{"op": "replace", "path": ARGS_PATH, "value": driver_command(run_id, resume, conf, overrides)}]
    objs = k8s_render.render_ephemeral(k8s_render.DRIVER, {
        "namespace": namespace,
        "nameSuffix": f"-{run}",
        "labels": [{"pairs": {"hyperspark.io/run": run}, "includeSelectors": False, "includeTemplates": True}],
        "configMapGenerator": [{"name": "hyperspark-spec", "behavior": "replace", "files": ["spec.yaml"]}],
        "patches": [{"target": {"kind": "Job"}, "patch": yaml.safe_dump(ops)}],
    }, files={"spec.yaml": spec_text})
    job = next(o for o in objs if o["kind"] == "Job")
    spec_cm = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("hyperspark-spec"))
    return job, spec_cm, [o for o in objs if o is not job and o is not spec_cm]


def driver_command(run_id: str, resume: bool, conf: dict[str, str], overrides: list[str]) -> list[str]:
    """The driver container's arguments: the manifest's spark-submit options, the run's ``--conf``, then
    ``tune.py`` and :class:`JobArgs` (spec = the path the manifest gives), then what the manifest declares
    after the spec (``--output``)."""
    declared = driver_args()
    script = next(i for i, a in enumerate(declared) if a.endswith("tune.py"))
    spec, after_spec = declared[script + 1], declared[script + 2:]
    confs = [x for k, v in conf.items() for x in ("--conf", f"{k}={v}")]
    job = JobArgs(spec=spec, run_id=run_id, resume=resume, overrides=list(overrides))
    return [*declared[:script], *confs, declared[script], *job.argv(), *after_spec]


def driver_args() -> list[str]:
    """The driver container's arguments as k8s/driver declares them (to place --conf before tune.py)."""
    path = k8s_render.k8s_dir() / k8s_render.DRIVER / "spark-driver-job.yaml"
    job = yaml.safe_load(path.read_text())
    return list(job["spec"]["template"]["spec"]["containers"][0]["args"])


def _cpu(text: str) -> int:
    text = str(text)
    return max(1, -(-int(text[:-1]) // 1000)) if text.endswith("m") else int(float(text))


def _mi(text: str) -> int:
    m = re.fullmatch(r"(\d+)(Mi|Gi)?", str(text))
    if not m:
        return 0
    return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)
