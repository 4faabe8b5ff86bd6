"""The storage for a URI: ``file://`` (or a plain path) -> :class:`LocalDirStorage`, ``hdfs://`` ->
:class:`WebHdfsStorage`. The one place that knows both kinds, so :mod:`hyperspark.ops.storage` (the
interface) and :mod:`hyperspark.ops.hdfs.webhdfs` (one implementation) never import each other."""
from __future__ import annotations

import urllib.parse
from pathlib import Path

from hyperspark.ops.hdfs.webhdfs import WebHdfsStorage
from hyperspark.ops.model import OpsError
from hyperspark.ops.storage import LocalDirStorage, Storage

#: Hadoop 3's NameNode HTTP port: where WebHDFS answers when no URL is given
DEFAULT_WEBHDFS_PORT = 9870


def storage_for_uri(uri: str, webhdfs_url: str | None = None, user: str | None = None) -> Storage:
    """A storage able to read/write ``uri``.

    ``file://`` URIs and plain local paths get a :class:`LocalDirStorage` rooted at ``/``;
    ``hdfs://host:port/...`` gets a :class:`WebHdfsStorage` on ``webhdfs_url`` (default
    ``http://host:9870``).
    """
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("", "file"):
        return LocalDirStorage(Path("/"))
    if parsed.scheme == "hdfs":
        if not parsed.hostname:
            raise OpsError(f"{uri} names no NameNode: use hdfs://HOST:PORT/path")
        url = webhdfs_url or f"http://{parsed.hostname}:{DEFAULT_WEBHDFS_PORT}"
        return WebHdfsStorage(url, f"hdfs://{parsed.netloc}", user=user)
    raise OpsError(f"unsupported storage URI {uri!r}: use file://, a local path or hdfs://")
