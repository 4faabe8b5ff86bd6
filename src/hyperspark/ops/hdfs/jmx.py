"""The NameNode's JMX beans -> StorageStatus and the HDFS doctor checks (one reader, every target).

Each target only knows how to GET a bean (plain HTTP for local and compose, the API server's
service proxy for k8s); what the beans mean is decided here, with one rule for safe mode (the
``Safemode`` flag OR ``FSState == safeMode``) and one for writable (a live DataNode, no safe mode).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Callable

from hyperspark.ops.model import Check, CheckName, StorageStatus

STATE_BEAN = "FSNamesystemState"
INFO_BEAN = "NameNodeInfo"

#: bean name -> the bean's dict, or None when the NameNode does not answer
BeanReader = Callable[[str], "dict | None"]


def query(bean: str) -> str:
    return f"Hadoop:service=NameNode,name={bean}"


def http_reader(http_url: str, timeout: float = 5.0) -> BeanReader:
    """Read beans from ``http://namenode:port/jmx`` directly."""

    def read(bean: str) -> dict | None:
        url = f"{http_url.rstrip('/')}/jmx?qry={query(bean)}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (cluster URL)
                beans = json.load(resp).get("beans") or []
        except (OSError, ValueError, urllib.error.URLError):
            return None
        return beans[0] if beans else None

    return read


def storage_status(read: BeanReader, fs_uri: str, replication: int | None, where: str = "") -> StorageStatus:
    """Live DataNodes, safe mode, capacity; never raises (a silent NameNode is a status too)."""
    state, info = read(STATE_BEAN), read(INFO_BEAN)
    if not state:
        detail = f"NameNode not answering{' at ' + where if where else ''}"
        return StorageStatus(kind="hdfs", uri=fs_uri, writable=False, replication=replication, detail=detail)
    info = info or {}
    live = int(state.get("NumLiveDataNodes", 0))
    dead = int(state.get("NumDeadDataNodes", 0))
    safemode = bool(info.get("Safemode")) or state.get("FSState") == "safeMode"
    used, total = int(state.get("CapacityUsed", 0)), int(state.get("CapacityTotal", 0))
    detail = (
        f"{live} live / {dead} dead DataNodes, {used / 2**20:.1f} MiB used of {total / 2**30:.1f} GiB, "
        f"{state.get('FilesTotal', '?')} files, cluster id {info.get('ClusterId', '?')}, "
        f"Hadoop {str(info.get('Version', '?')).split(',')[0]}"
    )
    return StorageStatus(kind="hdfs", uri=fs_uri, writable=live > 0 and not safemode, live_datanodes=live,
                         safemode=safemode, replication=replication, detail=detail)


def live_datanodes(read: BeanReader) -> int | None:
    state = read(STATE_BEAN)
    return int(state.get("NumLiveDataNodes", 0)) if state else None


def hdfs_checks(st: StorageStatus) -> list[Check]:
    """The two HDFS doctor checks, named and judged the same on every target."""
    live, repl = st.live_datanodes or 0, st.replication or 1
    return [
        Check(CheckName.HDFS_SAFEMODE, st.safemode is False,
              f"safe mode {'off' if st.safemode is False else 'ON' if st.safemode else 'unknown'}"),
        Check(CheckName.HDFS_DATANODES, live >= repl, f"{live} live DataNode(s), replication {repl}"),
    ]
