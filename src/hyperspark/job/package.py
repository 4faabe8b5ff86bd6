"""Shipping the user's own package (``--package``): a directory or a zip, to the driver and every executor.

``--py-files`` works as with any PySpark job. ``tune.py SPEC --package PATH`` (and
``hyperspark submit --package DIR``, which passes it on) does the same for a package directory:

* PATH is a package directory (it holds ``__init__.py``: zipped with its own name at the root, so
  ``import mypkg`` works), a source root (no ``__init__.py``: its contents are zipped), or a ``.zip``;
* the zip is put on the driver's ``sys.path`` BEFORE the spec is validated (so ``model: mypkg.x:Y`` imports),
  then given to ``SparkContext.addPyFile``: every executor's Python workers get it on their path;
* before the search, one task per slot imports the user's module: a missing import fails the run with one
  line naming the module and the executor.

The zip is deterministic (sorted entries, fixed timestamps, no ``__pycache__``/``*.pyc``), so the same
directory always gives the same bytes (and name, which carries a hash).

HyperSpark's own job is pure Python: when a user's executors lack it (a cluster without HyperSpark, a
worker Python outside the venv), :func:`own_package_zip` zips the INSTALLED ``hyperspark`` package
(without ``ops/``, the command and kit executors never run) and ``hyperspark.tune`` ships it
(``addPyFile``, or the Connect artifact API) after the pre-search check (``job/preflight.py``) found only it
missing.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path

from hyperspark.errors import SpecError

_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".mypy_cache", ".pytest_cache", ".venv", "node_modules"}
_EPOCH = (1980, 1, 1, 0, 0, 0)


def zip_bytes(src: Path, skip: tuple[str, ...] = ()) -> bytes:
    """The deterministic zip of a package directory (name at the root) or a source root (its contents);
    ``skip``: sub-directories (relative to ``src``, posix) left out."""
    src = Path(src).resolve()
    root = src.parent if (src / "__init__.py").is_file() else src
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirnames, filenames in os.walk(src):
            here = Path(dirpath).relative_to(src).as_posix()
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info")
                                 and (f"{d}" if here == "." else f"{here}/{d}") not in skip)
            for name in sorted(filenames):
                if name.endswith((".pyc", ".pyo")):
                    continue
                path = Path(dirpath) / name
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), _EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def zip_package(src: str | Path, dest_dir: str | Path | None = None, skip: tuple[str, ...] = ()) -> Path:
    """Zip ``src`` into ``dest_dir`` (default: a temp dir) as ``<name>-<sha8>.zip``; returns the path."""
    src = Path(src)
    if not src.is_dir():
        raise SpecError(f"--package {src}: not a directory or a .zip file")
    blob = zip_bytes(src, skip)
    dest = Path(dest_dir) if dest_dir is not None else Path(tempfile.mkdtemp(prefix="hyperspark-pkg-"))
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{src.resolve().name}-{hashlib.sha256(blob).hexdigest()[:8]}.zip"
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, out)
    return out


def prepare(path: str) -> str:
    """``--package PATH`` -> a local zip on the driver's sys.path (validation can import from it)."""
    p = Path(path).expanduser()
    if p.is_dir():
        zp = zip_package(p)
    elif p.is_file() and zipfile.is_zipfile(p):
        zp = p.resolve()
    elif not p.exists():
        raise SpecError(f"--package {path}: no such file or directory")
    else:
        raise SpecError(f"--package {path}: not a directory or a .zip file")
    if str(zp) not in sys.path:
        sys.path.insert(0, str(zp))
    importlib.invalidate_caches()
    return str(zp)


def add_pyfile(spark, path: str, connect: bool = False) -> None:
    """Executors get ``path`` (a .py or a zip) on their Python path: ``addPyFile``, or on Spark Connect the
    artifact API (the same file added again to the same session is not an error)."""
    if not connect:
        spark.sparkContext.addPyFile(path)
        return
    try:
        spark.addArtifacts(path, pyfile=True)
    except Exception as e:  # noqa: BLE001 - a second tune() on the same session ships the same file again
        if "already exists" not in str(e).lower():
            raise


def ship(spark, zips: list[str]) -> None:
    """Executors get each zip on their Python path (driver: already there from :func:`prepare`)."""
    for z in zips:
        spark.sparkContext.addPyFile(z)


_OWN_ZIP: Path | None = None


def own_package_zip() -> Path:
    """The installed ``hyperspark`` package (job, space, errors; not ``ops/``) as a zip, made once per
    process in a temp dir: what executors need to run trials."""
    global _OWN_ZIP
    if _OWN_ZIP is None or not _OWN_ZIP.is_file():
        import hyperspark

        _OWN_ZIP = zip_package(Path(hyperspark.__file__).parent, skip=("ops",))
    return _OWN_ZIP
