"""GPUs of a standalone cluster, as the kit sees them: ONE home for the discovery script, the worker and
driver confs, the address rules and the doctor's ``gpus`` check (every target uses these).

How Spark standalone does it (measured on pyspark 4.3, see ``docs/gpus.md``):

* a worker advertises GPUs with ``spark.worker.resource.gpu.amount=N`` and
  ``spark.worker.resource.gpu.discoveryScript=SCRIPT``; the worker runs SCRIPT once at start, and it prints
  ``{"name": "gpu", "addresses": ["0", "1"]}``; fewer addresses than N and the worker exits;
* an application's executors hold GPUs only when its default profile asks for them
  (``spark.executor.resource.gpu.amount``): the master then places its executors ONLY on workers with that
  many free GPUs (a GPU-less worker of a mixed cluster gets no executor of that application);
* the worker hands its executors their addresses in a resources file: executors need no discovery script.
  Spark never checks that an address is a real device, so fixed addresses fake GPUs for tests.

The discovery script is one text (:func:`discovery_script`): the local target writes it into its state dir
with the settings baked in, and ``docker/spark/gpu-discovery.sh`` (the images' copy) is the same text reading
its settings from the environment (a unit test keeps them equal).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Iterable, Sequence

from hyperspark.ops.model import Check, CheckName, OpsError, WorkerInfo
from hyperspark.ops.util.files import write_atomic

RESOURCE = "gpu"
#: the env var that tells the discovery script which worker (1-based) runs it: worker k of a machine
#: takes GPUs (k-1)*N .. k*N-1 of nvidia-smi's list, so workers on one machine never share a GPU
WORKER_ENV = "HYPERSPARK_GPU_WORKER"
#: what an address may hold: nvidia-smi indices, GPU-/MIG- UUIDs (printed into JSON by a shell script)
ADDRESS_RE = re.compile(r"^[A-Za-z0-9._:-]+$")
DISCOVERY_TIMEOUT = 60.0

_SCRIPT = r"""#!/bin/sh
# HyperSpark's GPU discovery script for Spark standalone workers
# (spark.worker.resource.gpu.discoveryScript): prints {"name": "gpu", "addresses": [...]}.
#
#   ADDRESSES   fixed addresses, comma-separated (e.g. 0,1): printed as they are. Spark does not check
#               that they are real devices: this is how tests fake GPUs.
#   PER_WORKER  otherwise the GPUs nvidia-smi lists; 0 = all of them, N > 0 = the N GPUs of worker
#               $HYPERSPARK_GPU_WORKER (1-based): worker k takes GPUs (k-1)*N .. k*N-1, so workers on
#               one machine never share a GPU.
# Exit 1 with one line on stderr when there is nothing to advertise (no nvidia-smi, too few GPUs).
__SETTINGS__
WORKER="${HYPERSPARK_GPU_WORKER:-1}"
fail() { echo "hyperspark gpu discovery: $*" >&2; exit 1; }
if [ -z "$ADDRESSES" ]; then
  command -v nvidia-smi >/dev/null 2>&1 \
    || fail "nvidia-smi not found on PATH (no NVIDIA driver here?); to fake GPUs give fixed addresses (up --gpu-addresses 0,1)"
  out="$(nvidia-smi --query-gpu=index --format=csv,noheader)" || fail "nvidia-smi --query-gpu=index failed"
  ADDRESSES="$(printf '%s\n' "$out" | tr -d ' \r' | grep -v '^$' | paste -sd, -)"
  [ -n "$ADDRESSES" ] || fail "nvidia-smi lists no GPU"
  if [ "$PER_WORKER" -gt 0 ]; then
    count="$(printf '%s\n' "$ADDRESSES" | tr ',' '\n' | grep -c .)"
    first=$(( (WORKER - 1) * PER_WORKER + 1 ))
    last=$(( WORKER * PER_WORKER ))
    [ "$last" -le "$count" ] \
      || fail "worker $WORKER takes GPUs $first-$last of nvidia-smi's list ($PER_WORKER per worker) but it lists $count: $ADDRESSES"
    ADDRESSES="$(printf '%s\n' "$ADDRESSES" | cut -d, -f"$first-$last")"
  fi
fi
printf '{"name": "gpu", "addresses": ["%s"]}\n' "$(printf '%s' "$ADDRESSES" | sed 's/,/", "/g')"
"""

_FROM_ENV = ('# settings from the environment (the image: docker/spark/entrypoint.sh sets them)\n'
             'ADDRESSES="${HYPERSPARK_GPU_ADDRESSES:-}"\n'
             'PER_WORKER="${HYPERSPARK_GPUS_PER_WORKER:-0}"')


# -- the rules of the options ------------------------------------------------------------------------
def parse_addresses(text: str | Sequence[str] | None) -> list[str]:
    """``"0,1"`` (or a list) -> ``["0", "1"]``; a bad list is a ValueError with the reason (one line)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    out = [str(a).strip() for a in items]
    if not out or any(not a for a in out):
        raise ValueError(f"{text!r} is not a comma-separated list of GPU addresses, e.g. 0,1")
    bad = [a for a in out if not ADDRESS_RE.match(a)]
    if bad:
        raise ValueError(f"GPU address {bad[0]!r} may hold only letters, digits and . _ : -")
    if len(set(out)) != len(out):
        raise ValueError(f"{','.join(out)} names a GPU address twice")
    return out


def count_problem(gpus_per_worker: int | None, addresses: Sequence[str], gpus_name: str = "--gpus-per-worker") -> str | None:
    """Why the addresses do not fit the count (None: they do, or one of them is not given)."""
    if not addresses or gpus_per_worker is None or gpus_per_worker == len(addresses):
        return None
    n = len(addresses)
    return (f"{n} address{'es' if n != 1 else ''} ({','.join(addresses)}) but {gpus_name} is {gpus_per_worker}: "
            "give one address per GPU of a worker")


def plan(gpus_per_worker: int | None, addresses: str | Sequence[str] | None) -> tuple[int, list[str]]:
    """The GPUs per worker and the fixed addresses (empty: nvidia-smi) of a cluster's settings; a
    disagreement is an OpsError (one line). Addresses without a count imply the count."""
    try:
        fixed = parse_addresses(addresses)
    except ValueError as exc:
        raise OpsError(f"gpu_addresses: {exc}") from None
    problem = count_problem(gpus_per_worker, fixed, "gpus_per_worker")
    if problem:
        raise OpsError(f"gpu_addresses: {problem}")
    if gpus_per_worker is not None and gpus_per_worker < 0:
        raise OpsError(f"gpus_per_worker must be >= 0, got {gpus_per_worker}")
    return (len(fixed) if fixed else int(gpus_per_worker or 0)), fixed


# -- the discovery script ----------------------------------------------------------------------------
def discovery_script(addresses: Sequence[str] | None = None, per_worker: int | None = None) -> str:
    """The script's text: settings baked in (the local target), or with both None read from the
    environment (``HYPERSPARK_GPU_ADDRESSES``, ``HYPERSPARK_GPUS_PER_WORKER``: the images' copy)."""
    if addresses is None and per_worker is None:
        settings = _FROM_ENV
    else:
        fixed = ",".join(parse_addresses(addresses)) if addresses else ""
        settings = (f"# settings written by `hyperspark up`\n"
                    f"ADDRESSES='{fixed}'\n"
                    f"PER_WORKER='{int(per_worker or 0)}'")
    return _SCRIPT.replace("__SETTINGS__", settings)


def write_discovery_script(path: Path, addresses: Sequence[str], per_worker: int) -> Path:
    """Write the script (mode 0755: Spark runs it directly)."""
    write_atomic(path, discovery_script(list(addresses), per_worker), mode=0o755)
    os.chmod(path, 0o755)  # whatever the umask took away
    return path


def discover(script: Path, worker: int = 1, env: dict[str, str] | None = None,
             timeout: float = DISCOVERY_TIMEOUT) -> list[str]:
    """Run the script as worker ``worker`` would, and return the addresses it prints (an OpsError with
    its own line when it fails or prints something that is not Spark's resource JSON)."""
    run_env = dict(os.environ if env is None else env)
    run_env[WORKER_ENV] = str(worker)
    try:
        done = subprocess.run([str(script)], capture_output=True, text=True, timeout=timeout, env=run_env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpsError(f"GPU discovery script {script} did not run: {exc}") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        why = why.removeprefix("hyperspark gpu discovery: ")
        raise OpsError(f"GPU discovery for worker-{worker} failed: {why}")
    try:
        data = json.loads(done.stdout)
        addresses = [str(a) for a in data["addresses"]] if data["name"] == RESOURCE else None
    except (ValueError, KeyError, TypeError):
        addresses = None
    if addresses is None:
        raise OpsError(f"GPU discovery script {script} printed {done.stdout.strip()[:200]!r}, not "
                       '{"name": "gpu", "addresses": [...]}')
    return addresses


def check_workers(per_worker: int, addresses: Sequence[str], workers: Iterable[int],
                  env: dict[str, str] | None = None) -> None:
    """Run the discovery script as each of ``workers`` (1-based indices) will, from a temporary copy, before
    anything starts or is saved: no nvidia-smi, or too few GPUs, is one line now instead of a worker that
    dies at start with the reason in its log."""
    import tempfile

    if per_worker <= 0:
        return
    with tempfile.TemporaryDirectory(prefix="hyperspark-gpus-") as tmp:
        script = write_discovery_script(Path(tmp) / "gpu-discovery.sh", addresses, per_worker)
        for i in workers:
            found = discover(script, i, env)
            if len(found) < per_worker:
                raise OpsError(f"worker-{i} needs {per_worker} GPU(s) but GPU discovery lists "
                               f"{len(found)}: {','.join(found) or 'none'}")


# -- confs -------------------------------------------------------------------------------------------
def worker_conf(gpus_per_worker: int, script: Path) -> dict[str, str]:
    """What a worker is started with to advertise its GPUs (nothing without GPUs)."""
    if gpus_per_worker <= 0:
        return {}
    return {f"spark.worker.resource.{RESOURCE}.amount": str(gpus_per_worker),
            f"spark.worker.resource.{RESOURCE}.discoveryScript": str(script)}


def executor_conf(gpus_per_worker: int) -> dict[str, str]:
    """What a driver on a GPU cluster is started with: its executors (one per worker) hold the worker's
    GPUs; trials take them per stage through a task resource profile (the job's side), so the default
    profile's tasks take none."""
    if gpus_per_worker <= 0:
        return {}
    return {f"spark.executor.resource.{RESOURCE}.amount": str(gpus_per_worker),
            f"spark.task.resource.{RESOURCE}.amount": "0"}


def submit_conf(trial_gpus: float, conf: dict[str, str], workers: Iterable[WorkerInfo] | None) -> dict[str, str]:
    """What a run whose trials ask for GPUs adds to its driver's conf on ANY target (the one submit path
    calls this), when that conf does not already ask executors for GPUs: its executors hold the smallest
    GPU count among the ALIVE GPU workers, so every GPU worker can host one. On a mixed cluster the master
    then places this application's executors only on GPU workers: GPU-less workers get no trial of it
    (Spark standalone cannot give one application executors with and without a resource; a CPU-only run
    submitted without GPUs uses every worker). Nothing when no worker advertises GPUs: the job then
    stops with its own one line before any trial."""
    key = f"spark.executor.resource.{RESOURCE}.amount"
    if trial_gpus <= 0 or key in conf:
        return {}
    counts = [w.gpus.count for w in workers or () if w.state == "ALIVE" and w.gpus.count > 0]
    return executor_conf(min(counts)) if counts else {}


# -- what the master says ----------------------------------------------------------------------------
def gpus_check(workers: Iterable[WorkerInfo] | None, wanted: int | None = None) -> Check:
    """Informational: how many GPUs the ALIVE workers advertise. A failure only when the cluster was
    started with ``wanted`` GPUs per worker and some worker advertises fewer (or the master is silent)."""
    if workers is None:
        return Check(CheckName.GPUS, not wanted, "the master does not answer")
    alive = [w for w in workers if w.state == "ALIVE"]
    total = sum(w.gpus.count for w in alive)
    per = ", ".join(f"{w.id}: {w.gpus.count}" for w in alive)
    short = [w for w in alive if wanted and w.gpus.count < wanted]
    if short:
        return Check(CheckName.GPUS, False, f"{len(short)} of {len(alive)} ALIVE worker(s) advertise fewer than "
                                            f"the {wanted} GPUs asked for per worker ({per})")
    if not total:
        return Check(CheckName.GPUS, True, "no GPUs advertised (CPU trials only)")
    return Check(CheckName.GPUS, True, f"{total} GPU(s) on {sum(1 for w in alive if w.gpus.count)} of "
                                       f"{len(alive)} ALIVE worker(s) ({per})")
