"""The compose stack's HDFS as seen from the host: the NameNode's URI, WebHDFS through the ports compose
publishes on 127.0.0.1 (DataNode redirects rewritten to them), and the fallback upload by an ``hdfs dfs``
script inside the NameNode container when a DataNode's port is not published."""
from __future__ import annotations

import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

from hyperspark.ops.hdfs import upload as hdfs_upload
from hyperspark.ops.hdfs.paths import hdfs_path
from hyperspark.ops.hdfs.webhdfs import WebHdfsStorage
from hyperspark.ops.model import OpsError, UploadResult
from hyperspark.ops.targets.compose.engine import ExecResult, tar_single_file
from hyperspark.ops.util.files import sha256_file

HDFS_URI = "hdfs://namenode:8020"
#: the DataNode HTTP (WebHDFS) port inside the containers; compose.yaml publishes it on 127.0.0.1
DATANODE_HTTP = 9864


def parse_hdfs_path(uri: str) -> str:
    """``hdfs://namenode:8020/a/b``, ``hdfs:///a/b``, ``/a/b`` or ``a/b`` -> ``/a/b`` (other schemes refused)."""
    return hdfs_path(uri, HDFS_URI)


def webhdfs_storage(namenode_ui: str | None, datanodes: list[Any], replication: int) -> WebHdfsStorage | None:
    """WebHdfsStorage on the NameNode's published UI port, writing as the HDFS superuser (the owner of
    ``/``, as ``hdfs dfs`` in the NameNode container does); None when a DataNode is not reachable."""
    routes = datanode_routes(datanodes)
    if namenode_ui is None or routes is None:
        return None
    session = _datanode_redirects(routes)
    try:
        root = session.get(f"{namenode_ui}/webhdfs/v1/?op=GETFILESTATUS", timeout=30)
        owner = root.json()["FileStatus"]["owner"]
    except Exception:  # noqa: BLE001 - no WebHDFS answer: the exec path reports what is wrong
        return None
    return WebHdfsStorage(namenode_ui, HDFS_URI, user=owner, replication=replication, session=session,
                          permission="644")


def datanode_routes(datanodes: list[Any]) -> dict[tuple[str, int], int] | None:
    """(name the NameNode redirects to, DataNode HTTP port) -> published host port, for every running
    DataNode container under every name it may be given (hostname, IP, container name); None when one
    has no published port."""
    routes: dict[tuple[str, int], int] = {}
    for c in datanodes:
        bindings = (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{DATANODE_HTTP}/tcp") or []
        host_port = next((int(b["HostPort"]) for b in bindings if b.get("HostPort")), None)
        if host_port is None:
            return None
        nets = c.attrs.get("NetworkSettings", {}).get("Networks") or {}
        names = {c.attrs.get("Config", {}).get("Hostname"), c.name, c.id[:12]}
        names |= {n.get("IPAddress") for n in nets.values()}
        for name in names - {None, ""}:
            routes[(name, DATANODE_HTTP)] = host_port
    return routes or None


def upload_by_exec(run: Callable[[Any, list[str]], ExecResult], namenode: Any, src: Path, path: str, force: bool,
                   replication: int) -> UploadResult:
    """Copy ``src`` into the NameNode container, then write it to HDFS there with the shared upload script
    (temporary name, rename, sha256 read back). ``run(container, argv)`` executes in a container."""
    started = time.monotonic()
    checksum = sha256_file(src)
    size = src.stat().st_size
    staging = f"hyperspark-upload-{secrets.token_hex(4)}"
    with tar_single_file(f"{staging}/{src.name}", src=src, uid=1000) as stream:
        if not namenode.put_archive("/tmp", stream):
            raise OpsError("could not copy the file into the namenode container")
    script = hdfs_upload.script(path, force, replication, size, local_file=f"/tmp/{staging}/{src.name}")
    result = run(namenode, ["bash", "-c", script])
    return hdfs_upload.verdict(src, HDFS_URI + path, result.exit_code, result.output, result.stdout,
                               checksum, size, time.monotonic() - started)


def _datanode_redirects(routes: dict[tuple[str, int], int]) -> Any:
    """A ``requests.Session`` that sends what WebHDFS redirects to a DataNode (``http://<container
    hostname>:9864/...``, a name only the compose network resolves) to that DataNode's port published on
    127.0.0.1. A redirect to a DataNode it does not know is one clear error, not a retry."""
    import requests

    class Session(requests.Session):
        def send(self, request: Any, **kwargs: Any) -> Any:
            parts = urllib.parse.urlsplit(request.url)
            if parts.hostname not in ("127.0.0.1", "localhost"):
                host_port = routes.get((parts.hostname or "", parts.port or 80))
                if host_port is None:
                    raise OpsError(f"WebHDFS redirected to {parts.hostname}:{parts.port}, which is not a "
                                   "DataNode published on 127.0.0.1 (is a datanode container restarting?)")
                request.url = urllib.parse.urlunsplit(parts._replace(netloc=f"127.0.0.1:{host_port}"))
            return super().send(request, **kwargs)

    return Session()
