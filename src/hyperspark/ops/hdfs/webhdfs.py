"""A real HDFS reached over WebHDFS, as cluster :class:`~hyperspark.ops.storage.Storage`."""
from __future__ import annotations

import os
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from hyperspark.job.protocol import one_line

from hyperspark.ops.hdfs.paths import path_of_uri
from hyperspark.ops.model import OpsError
from hyperspark.ops.storage import DestExists, Storage, StorageUnavailable
from hyperspark.ops.util.files import CHUNK, digest_chunks


#: HDFS answers that mean "not now" (a NameNode restarting or in safe mode), not "never"
UNAVAILABLE = ("SafeModeException", "safe mode", "RetriableException", "StandbyException", "ConnectException",
               "Connection refused", "failed on connection exception", "EOFException", "Connection reset")


class WebHdfsStorage(Storage):
    """A real HDFS reached over WebHDFS (``hdfs`` package, InsecureClient: simple auth)."""

    kind = "hdfs"

    def __init__(
        self,
        webhdfs_url: str,
        fs_uri: str,
        user: str | None = None,
        replication: int | None = None,
        timeout_s: float = 60.0,
        session: Any = None,
        permission: str | None = None,
    ) -> None:
        """``session``: the ``requests.Session`` every WebHDFS call goes through (e.g. one that sends
        DataNode redirects to published ports); a plain one by default. ``permission``: octal mode of
        uploaded files (WebHDFS's default is 755)."""
        from hdfs import InsecureClient  # imported here: `--help` stays fast

        parsed = urllib.parse.urlparse(fs_uri)
        if parsed.scheme != "hdfs" or not parsed.netloc:
            raise OpsError(f"not an hdfs://host:port URI: {fs_uri}")
        self.fs_uri = f"hdfs://{parsed.netloc}"
        self.webhdfs_url = webhdfs_url.rstrip("/")
        self.user = user or _default_user()
        self.replication = replication
        self.permission = permission
        extra = {"session": session} if session is not None else {}  # InsecureClient needs one, not None
        self.client = InsecureClient(self.webhdfs_url, user=self.user, timeout=timeout_s, **extra)

    def _path_of_uri(self, uri: str) -> str:
        return path_of_uri(uri, self.fs_uri)

    def uri_for(self, path: str) -> str:
        return self.fs_uri + self.norm(path)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """HDFS and connection errors become one-line OpsErrors naming the operation."""
        from hdfs.util import HdfsError
        from requests.exceptions import RequestException

        try:
            yield
        except HdfsError as exc:
            msg = one_line(exc)
            kind = StorageUnavailable if any(m in str(exc) for m in UNAVAILABLE) else OpsError
            raise kind(f"HDFS {what}: {msg}") from None
        except RequestException as exc:
            raise StorageUnavailable(
                f"HDFS {what}: cannot reach WebHDFS at {self.webhdfs_url} ({exc.__class__.__name__}): "
                "is HDFS running?"
            ) from None

    def _status(self, path: str) -> dict | None:
        p = self.norm(path)
        with self._errors(f"status of {p}"):
            return self.client.status(p, strict=False)

    def exists(self, path: str) -> bool:
        return self._status(path) is not None

    def is_dir(self, path: str) -> bool:
        st = self._status(path)
        return st is not None and st.get("type") == "DIRECTORY"

    def read_bytes(self, path: str) -> bytes:
        p = self.norm(path)
        with self._errors(f"read {p}"), self.client.read(p) as reader:
            return reader.read()

    def list(self, path: str) -> list[str]:
        p = self.norm(path)
        with self._errors(f"list {p}"):
            return sorted(self.client.list(p))

    def delete(self, path: str, recursive: bool = False) -> bool:
        p = self.norm(path)
        if p == "/":
            raise OpsError("refusing to delete the HDFS root")
        with self._errors(f"delete {p}"):
            return bool(self.client.delete(p, recursive=recursive))

    def mkdirs(self, path: str) -> None:
        p = self.norm(path)
        with self._errors(f"mkdirs {p}"):
            self.client.makedirs(p)

    def _put(self, src: Path, path: str) -> None:
        with self._errors(f"write {path}"), open(src, "rb") as f:
            self.client.write(path, data=f, overwrite=False, replication=self.replication,
                              permission=self.permission)

    def _digest(self, path: str) -> tuple[str, int]:
        with self._errors(f"read {path}"), self.client.read(path, chunk_size=CHUNK) as reader:
            return digest_chunks(iter(reader))

    def _size(self, path: str) -> int:
        st = self._status(path)
        return int(st["length"]) if st else -1

    def _rename(self, src: str, dest: str, overwrite: bool) -> None:
        with self._errors(f"rename {src} to {dest}"):
            if overwrite:
                # rename2 with OVERWRITE (WebHDFS `renameoptions`): an atomic replace, Hadoop 2.x and 3.x
                self.client._rename(src, destination=dest, renameoptions="OVERWRITE")
                return
            # plain rename never clobbers: it answers false when dest exists
            res = self.client._rename(src, destination=dest)
        if not res.json().get("boolean"):
            if self.exists(dest):
                raise DestExists(dest)
            raise OpsError(f"HDFS rename {src} to {dest} failed")


def _default_user() -> str:
    """HADOOP_USER_NAME (what Hadoop clients honour), else the login name."""
    if os.environ.get("HADOOP_USER_NAME"):
        return os.environ["HADOOP_USER_NAME"]
    import getpass

    return getpass.getuser()
