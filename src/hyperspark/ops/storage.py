"""Cluster storage the CLI reads and writes: the :class:`Storage` interface and a plain directory
(:class:`LocalDirStorage`). A real HDFS is :class:`hyperspark.ops.hdfs.webhdfs.WebHdfsStorage`, a subclass
that lives with the rest of HDFS; :mod:`hyperspark.ops.storage_uri` picks one of the two for a URI, so this
module imports nothing of HDFS.

Every method takes either a path inside the storage (``/data/x.csv``;
relative paths are taken from the storage root) or a full URI of the same
storage (``file:///...`` inside the root, ``hdfs://host:port/...`` of the same
NameNode). Uploads never expose a partial or corrupt file under the final
name: they write a temporary sibling, verify it, and only then rename.
"""
from __future__ import annotations

import abc
import os
import posixpath
import shutil
import time
import urllib.parse
import uuid
from pathlib import Path

from hyperspark.ops.model import OpsError, UploadResult
from hyperspark.ops.util.files import CHUNK, file_digest

DEFAULT_UPLOAD_DIR = "/data"


class DestExists(Exception):
    """Raised by ``_rename`` when the destination appeared and overwrite was not allowed."""


class StorageUnavailable(OpsError):
    """The storage cannot answer right now (NameNode restarting, in safe mode, unreachable): retryable."""


#: how long an upload keeps retrying while the storage is unavailable [env HYPERSPARK_UPLOAD_RETRY_S]
UPLOAD_RETRY_S = 90.0


def upload_retry_s() -> float:
    try:
        return max(0.0, float(os.environ.get("HYPERSPARK_UPLOAD_RETRY_S", UPLOAD_RETRY_S)))
    except ValueError:
        return UPLOAD_RETRY_S


class Storage(abc.ABC):
    """Cluster storage. Paths are POSIX-style and absolute within the storage (``/data/x.csv``)."""

    kind: str = "?"

    # -- paths -----------------------------------------------------------
    @abc.abstractmethod
    def _path_of_uri(self, uri: str) -> str:
        """Path inside this storage for a URI of this storage, or OpsError for another one."""

    @abc.abstractmethod
    def uri_for(self, path: str) -> str:
        """The full URI (file:// or hdfs://) Spark and the CLI should use for ``path``."""

    def norm(self, path: str) -> str:
        """Normalise a path or URI of this storage to ``/a/b`` (``..`` cannot climb above the root)."""
        if not path:
            raise OpsError("empty storage path")
        if "://" in path or path.startswith("file:"):
            path = self._path_of_uri(path)
        return posixpath.normpath("/" + path.lstrip("/")).replace("//", "/")

    # -- primitives ------------------------------------------------------
    @abc.abstractmethod
    def exists(self, path: str) -> bool: ...

    @abc.abstractmethod
    def is_dir(self, path: str) -> bool: ...

    @abc.abstractmethod
    def read_bytes(self, path: str) -> bytes: ...

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read_bytes(path).decode(encoding)

    @abc.abstractmethod
    def list(self, path: str) -> list[str]:
        """Sorted names of the entries of directory ``path``."""

    @abc.abstractmethod
    def delete(self, path: str, recursive: bool = False) -> bool:
        """Remove ``path``; False when it did not exist."""

    @abc.abstractmethod
    def mkdirs(self, path: str) -> None: ...

    @abc.abstractmethod
    def _put(self, src: Path, path: str) -> None:
        """Write local ``src`` to the new file ``path`` (which must not exist)."""

    @abc.abstractmethod
    def _digest(self, path: str) -> tuple[str, int]:
        """sha256 and size of a stored file, by reading it back."""

    @abc.abstractmethod
    def _rename(self, src: str, dest: str, overwrite: bool) -> None:
        """Atomic rename; raises DestExists if ``dest`` exists and not ``overwrite``."""

    # -- upload ----------------------------------------------------------
    def dest_path(self, src: Path, dest: str | None) -> str:
        """Where ``src`` lands: ``/data/<name>`` by default, ``<dir>/<name>`` for a directory."""
        if dest is None:
            return posixpath.join(DEFAULT_UPLOAD_DIR, src.name)
        path = self.norm(dest)
        if dest.endswith("/") or self.is_dir(path):
            path = posixpath.join(path, src.name)
        return path

    def upload(self, src: Path, dest: str | None = None, force: bool = False) -> UploadResult:
        """Copy a local file in: temporary sibling, verify, rename.

        Verification reads the stored temporary file back and compares its
        size and sha256 with the local file, BEFORE it is renamed into place,
        so a bad copy never appears under the final name; after the rename the
        final file's size is checked again. Reading back doubles the I/O,
        which is fine for the data sets (megabytes to a few GB) this tool
        stages; it would not be for terabytes.
        """
        started = time.monotonic()
        src = Path(src)
        if not src.is_file():
            raise OpsError(f"no such file: {src}")
        path = self.dest_path(src, dest)
        uri = self.uri_for(path)
        if self.exists(path):
            if self.is_dir(path):
                raise OpsError(f"{uri} is a directory")
            if not force:
                raise OpsError(f"{uri} exists: use --force")
        checksum, size = file_digest(src)
        parent, name = posixpath.split(path)
        deadline = time.monotonic() + upload_retry_s()
        attempts = 0
        while True:
            attempts += 1
            tmp = posixpath.join(parent, f".{name}.hyperspark-tmp-{uuid.uuid4().hex[:12]}")
            try:
                self._upload_once(src, uri, path, tmp, force, checksum, size)
                break
            except StorageUnavailable as exc:
                # a NameNode that restarts or sits in safe mode: a fresh temporary file, from the start
                self._discard(tmp, deadline)
                if self._landed(path, tmp, checksum, size):  # the rename went through; its answer was lost
                    break
                if time.monotonic() >= deadline:
                    left = f"; the temporary file {tmp} could not be removed" if self._left(tmp) else ""
                    raise OpsError(f"upload to {uri} failed after {attempts} attempt(s) over "
                                   f"{upload_retry_s():.0f} s: {exc}{left}") from None
                time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
            except OSError as exc:  # a local storage dir that is full or read-only: one line
                self._discard(tmp)
                raise OpsError(f"upload to {uri} failed: cannot write {exc.filename or self.uri_for(tmp)}: "
                               f"{exc.strerror or exc}") from None
            except BaseException:  # a real error or Ctrl-C: one try at removing the temporary file
                self._discard(tmp)
                raise
        final_size = self._size(path)
        if final_size != size:
            raise OpsError(f"{uri} has {final_size} bytes after the rename, expected {size}")
        return UploadResult(
            src=str(src), dest=uri, bytes=size, checksum=checksum, seconds=time.monotonic() - started
        )

    def _upload_once(self, src: Path, uri: str, path: str, tmp: str, force: bool, checksum: str,
                     size: int) -> None:
        """One attempt: mkdirs, write ``tmp``, read it back and compare, rename to ``path``."""
        self.mkdirs(posixpath.dirname(path))
        self._put(src, tmp)
        got_sum, got_size = self._digest(tmp)
        if (got_sum, got_size) != (checksum, size):
            raise OpsError(
                f"upload of {src} to {uri} failed verification: stored {got_size} bytes sha256 "
                f"{got_sum[:12]}..., local {size} bytes sha256 {checksum[:12]}..."
            )
        try:
            self._rename(tmp, path, overwrite=force)
        except DestExists:
            raise OpsError(f"{uri} exists: use --force") from None

    def _landed(self, path: str, tmp: str, checksum: str, size: int) -> bool:
        """After an unavailable storage: did ``tmp`` become ``path`` after all (byte-exact)?"""
        try:
            return not self.exists(tmp) and self.exists(path) and self._digest(path) == (checksum, size)
        except OpsError:
            return False

    def _left(self, tmp: str) -> bool:
        try:
            return self.exists(tmp)
        except OpsError:
            return True

    def _size(self, path: str) -> int:
        return self._digest(path)[1]

    def _discard(self, path: str, deadline: float | None = None) -> None:
        """Remove a temporary file; while the storage is unavailable, keep trying until ``deadline``."""
        while True:
            try:
                self.delete(path)
                return
            except StorageUnavailable:
                try:
                    if not self.exists(path):  # e.g. safe mode refuses the delete of a file never created
                        return
                except OpsError:
                    pass
                if deadline is None or time.monotonic() >= deadline:
                    return
                time.sleep(1.0)
            except Exception:  # noqa: BLE001 - best effort clean-up of a temporary file
                return


class LocalDirStorage(Storage):
    """A directory standing in for cluster storage (every worker must see the same path)."""

    kind = "dir"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(os.path.abspath(root))

    def _path_of_uri(self, uri: str) -> str:
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            raise OpsError(f"{uri} is not a file:// URI of {self.root.as_uri()}")
        local = Path(os.path.normpath(urllib.parse.unquote(parsed.path)))
        try:
            rel = local.relative_to(self.root)
        except ValueError:
            raise OpsError(f"{uri} lies outside storage {self.root.as_uri()}") from None
        return "/" + rel.as_posix()

    def local_path(self, path: str) -> Path:
        rel = self.norm(path).lstrip("/")
        return self.root / rel if rel else self.root

    def uri_for(self, path: str) -> str:
        return self.local_path(path).as_uri()

    def exists(self, path: str) -> bool:
        return self.local_path(path).exists()

    def is_dir(self, path: str) -> bool:
        return self.local_path(path).is_dir()

    def read_bytes(self, path: str) -> bytes:
        p = self.local_path(path)
        try:
            return p.read_bytes()
        except FileNotFoundError:
            raise OpsError(f"no such file: {p.as_uri()}") from None
        except IsADirectoryError:
            raise OpsError(f"{p.as_uri()} is a directory") from None

    def list(self, path: str) -> list[str]:
        p = self.local_path(path)
        if not p.is_dir():
            raise OpsError(f"no such directory: {p.as_uri()}")
        return sorted(os.listdir(p))

    def delete(self, path: str, recursive: bool = False) -> bool:
        p = self.local_path(path)
        if p == self.root:
            raise OpsError(f"refusing to delete the storage root {p}")
        if p.is_dir() and not p.is_symlink():
            if recursive:
                shutil.rmtree(p)
            else:
                try:
                    p.rmdir()
                except OSError:
                    raise OpsError(f"{p.as_uri()} is a non-empty directory") from None
            return True
        try:
            p.unlink()
        except FileNotFoundError:
            return False
        return True

    def mkdirs(self, path: str) -> None:
        p = self.local_path(path)
        try:
            p.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise OpsError(f"{p.as_uri()} exists and is not a directory") from None

    def _put(self, src: Path, path: str) -> None:
        dest = self.local_path(path)
        with open(src, "rb") as fin, open(dest, "xb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
            fout.flush()
            os.fsync(fout.fileno())

    def _digest(self, path: str) -> tuple[str, int]:
        return file_digest(self.local_path(path))

    def _size(self, path: str) -> int:
        return self.local_path(path).stat().st_size

    def _rename(self, src: str, dest: str, overwrite: bool) -> None:
        s, d = self.local_path(src), self.local_path(dest)
        if overwrite:
            os.replace(s, d)
            return
        try:
            os.link(s, d)  # no-clobber, atomically: fails if d appeared meanwhile
        except FileExistsError:
            raise DestExists(dest) from None
        s.unlink()


__all__ = ["DestExists", "LocalDirStorage", "Storage", "StorageUnavailable"]
