"""One HDFS path parser for every target."""
from __future__ import annotations

import posixpath
import urllib.parse

from hyperspark.ops.model import OpsError


def path_of_uri(uri: str, fs_uri: str | None = None) -> str:
    """The path of an ``hdfs://`` URI (``/`` for the root); with ``fs_uri`` it must name that NameNode
    (or none, as in ``hdfs:///a``)."""
    parsed = urllib.parse.urlparse(uri)
    other = fs_uri is not None and parsed.netloc and parsed.netloc != urllib.parse.urlparse(fs_uri).netloc
    if parsed.scheme != "hdfs" or other:
        raise OpsError(f"{uri} is not on this cluster's HDFS ({fs_uri or 'hdfs://HOST:PORT'})")
    return urllib.parse.unquote(parsed.path) or "/"


def hdfs_path(uri: str, fs_uri: str | None = None) -> str:
    """``hdfs://host:port/a/b``, ``hdfs:///a/b``, ``/a/b`` or ``a/b`` (from the root) -> ``/a/b``.

    With ``fs_uri`` an ``hdfs://`` URI must name that NameNode (or none). Other schemes, ``..``
    and the root itself are refused.
    """
    if uri.startswith("hdfs://"):
        path = path_of_uri(uri, fs_uri)
    elif "://" in uri or uri.startswith("file:"):
        raise OpsError(f"{uri!r} is not an HDFS path: use {fs_uri or 'hdfs://HOST:PORT'}/PATH or /PATH")
    else:
        path = "/" + uri.lstrip("/")
    if ".." in path.split("/"):
        raise OpsError(f"{uri!r}: '..' is not allowed in HDFS paths")
    path = posixpath.normpath(path)
    if path == "/":
        raise OpsError(f"{uri!r} does not name a file in HDFS")
    return path


def upload_path(src_name: str, dest: str | None, fs_uri: str | None = None) -> str:
    """Where an upload lands: ``/data/<name>`` by default, ``<dir>/<name>`` for ``dest`` ending in /."""
    if not dest:
        return f"/data/{src_name}"
    path = hdfs_path(dest, fs_uri)
    return posixpath.join(path, src_name) if dest.endswith("/") else path
