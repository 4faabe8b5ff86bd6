"""Reading a spec: its URIs (:func:`check_uri`: a scheme something here reads; :func:`resolve_uri`: plain
paths against the spec's folder); the file's bytes -> a dict (UTF-8, YAML or JSON, through THE YAML loader ``yaml_load``),
and ``--set KEY=VALUE`` overrides (each value parsed as YAML by the same loader). Every problem is one
:class:`~hyperspark.errors.SpecError` line; validation itself is ``spec.parse_spec``."""
from __future__ import annotations

import json
import re
from pathlib import Path

from hyperspark.errors import SpecError
from hyperspark.job import yaml_load
from hyperspark.job.protocol import one_line


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``--set a.b=value``: value parsed as YAML (so numbers/lists work), keys created as needed."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SpecError(f"--set {item!r}: expected KEY=VALUE")
        node = data
        parts = key.split(".")
        if any(not p for p in parts):
            raise SpecError(f"--set {key}: empty key part (write a.b=value)")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise SpecError(f"--set {key}: {p} is not a mapping")
        try:
            node[parts[-1]] = yaml_load.load(raw)
        except yaml_load.YAMLError as e:
            raise SpecError(f"--set {key}: the value is not valid YAML: {one_line(e)}") from None
    return data


def read_spec_data(path: Path) -> dict:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError(f"spec file not found: {path}") from None
    except IsADirectoryError:
        raise SpecError(f"spec file {path} is a directory; give a YAML or JSON file") from None
    except OSError as e:
        raise SpecError(f"cannot read spec file {path}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"spec file {path} is not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x}); "
                        "give a YAML or JSON file") from None
    if not text.strip():
        raise SpecError(f"spec file {path} is empty")
    if "\x00" in text:
        raise SpecError(f"spec file {path} is binary, not YAML/JSON text")
    try:
        data = json.loads(text, object_pairs_hook=_unique) if str(path).endswith(".json") else yaml_load.load(text)
    except (yaml_load.YAMLError, json.JSONDecodeError, ValueError) as e:
        raise SpecError(f"spec file {path} is not valid YAML/JSON: {one_line(e)}") from None
    return data if data is not None else {}


def _unique(pairs: list) -> dict:
    """JSON objects with a key given twice are refused (as YAML's are)."""
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _is_path(ref: str) -> bool:
    return "/" in ref or "\\" in ref or ref.endswith(".jsonl")


#: the URI schemes a spec may name: local files, HDFS, and the Hadoop file systems Spark has connectors for
#: (``s3://`` is not one: Spark's is ``s3a://``); the Python API's in-memory frame is ``memory://``
URI_SCHEMES = ("file", "hdfs", "webhdfs", "viewfs", "s3a", "gs", "abfs", "abfss")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


def check_uri(key: str, uri: str, extra: tuple[str, ...] = ()) -> None:
    """One SpecError line for a URI whose scheme no reader here supports, or a ``scheme:/path`` that is
    neither a URI (``scheme://``) nor a path."""
    m = _SCHEME.match(uri)
    if m is None:
        return
    scheme = m.group(1).lower()
    if scheme not in URI_SCHEMES + extra:
        hint = "; Spark reads S3 as s3a://bucket/path" if scheme in ("s3", "s3n") else ""
        raise SpecError(f"invalid spec: {key}: unsupported URI scheme {scheme!r} in {uri!r}; use a path, "
                        f"{', '.join(s + '://' for s in URI_SCHEMES)}{hint}")
    if not uri[m.end():].startswith("//"):
        raise SpecError(f"invalid spec: {key}: {uri!r} is not a URI: write {scheme}://HOST/PATH (or {scheme}:///PATH)")


def resolve_uri(uri: str, base_dir: Path) -> str:
    """``file:``/``hdfs:``/... URIs stay; plain paths become absolute ``file://`` URIs."""
    if "://" in uri:
        return uri
    p = Path(uri).expanduser()
    if not p.is_absolute():
        p = (base_dir / p).resolve()
    return p.as_uri()
