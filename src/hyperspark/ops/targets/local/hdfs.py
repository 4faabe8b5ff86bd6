"""The local target's HDFS wiring: the :class:`~hyperspark.ops.hdfs.cluster.HdfsCluster` described by the
saved state (a NameNode and DataNodes as local JVMs), or, without HDFS, ``<state_dir>/storage`` as cluster
storage. Which one runs is decided by :meth:`LocalTarget._hdfs_wanted`; this module only wires it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from hyperspark.ops.hdfs.cluster import HdfsCluster
from hyperspark.ops.hdfs.webhdfs import WebHdfsStorage
from hyperspark.ops.model import NoClusterError, StorageStatus
from hyperspark.ops.state import StateDir, state_write
from hyperspark.ops.storage import LocalDirStorage, Storage
from hyperspark.ops.storage_uri import storage_for_uri
from hyperspark.ops.targets.local.settings import HOST, LocalSettings


class LocalHdfs:
    """HDFS (when the saved state describes one) or a storage directory, for one state dir."""

    def __init__(self, state: StateDir, settings: Callable[[], LocalSettings], target: str) -> None:
        self.state = state
        self._settings = settings
        self._target = target  # the target's name, for NoClusterError

    def saved(self) -> dict[str, Any] | None:
        """The running HDFS as ``state.json`` describes it (None: no HDFS)."""
        return (self.state.read_json("state.json", {}) or {}).get("hdfs")

    def cluster(self, hadoop_home: str | None = None) -> HdfsCluster | None:
        """The HdfsCluster described by saved state (or about to be started); None without HDFS."""
        saved = self.saved()
        if saved is None and hadoop_home is None:
            return None
        cfg = saved or {}
        settings = self._settings()
        return HdfsCluster(
            hadoop_home=cfg.get("hadoop_home", hadoop_home),
            base_dir=self.state.root / "hdfs",
            host=HOST,
            rpc_port=int(cfg.get("rpc_port", settings.hdfs_rpc_port)),
            http_port=int(cfg.get("http_port", settings.hdfs_http_port)),
            datanodes=int(cfg.get("datanodes", os.environ.get("HYPERSPARK_HDFS_DATANODES", 1))),
            replication=int(cfg.get("replication", os.environ.get("HYPERSPARK_HDFS_REPLICATION", 1))),
            dn_base_port=int(cfg.get("dn_base_port", settings.hdfs_dn_port)),
        )

    def start(self) -> dict[str, Any]:
        """Start HDFS (from HADOOP_HOME, else the distribution :mod:`hyperspark.ops.hdfs.dist` provides);
        returns its description for ``state.json``."""
        home = os.environ.get("HADOOP_HOME")
        if not home:
            from hyperspark.ops.hdfs.dist import ensure_hadoop_home

            home = str(ensure_hadoop_home())
        cluster = self.cluster(hadoop_home=home)
        assert cluster is not None
        if not cluster.is_running():
            cluster.start()
        return {
            "hadoop_home": home,
            "rpc_port": cluster.rpc_port,
            "http_port": cluster.http_port,
            "datanodes": cluster.datanodes,
            "replication": cluster.replication,
            "dn_base_port": cluster.dn_base_port,
        }

    def stop(self) -> list[str]:
        hdfs = self.cluster()
        return hdfs.stop() if hdfs is not None else []

    # -- storage ----------------------------------------------------------------
    def storage(self) -> Storage:
        """Where ``upload`` writes: HDFS over WebHDFS, or the storage directory."""
        hdfs = self.cluster()
        if hdfs is not None:
            if not hdfs.is_running():
                raise NoClusterError(self._target)
            return WebHdfsStorage(hdfs.webhdfs_url, hdfs.fs_uri, replication=hdfs.replication)
        with state_write(self.state.storage_dir):
            self.state.storage_dir.mkdir(parents=True, exist_ok=True)
        return LocalDirStorage(self.state.storage_dir)

    def storage_status(self) -> StorageStatus:
        hdfs = self.cluster()
        if hdfs is not None:
            if not hdfs.is_running():
                return StorageStatus(kind="hdfs", uri=hdfs.fs_uri, detail="HDFS is not running")
            return hdfs.status()
        d = self.state.storage_dir
        return StorageStatus(
            kind="dir", uri=d.as_uri(), writable=d.is_dir() and os.access(d, os.W_OK), detail=str(d)
        )

    def read_text(self, uri: str) -> str:
        """A small file of this cluster's HDFS (through its WebHDFS) or any file:// URI."""
        hdfs = self.cluster()
        webhdfs = hdfs.webhdfs_url if hdfs is not None and uri.startswith(hdfs.fs_uri) else None
        return storage_for_uri(uri, webhdfs_url=webhdfs).read_text(uri)

    # -- what Spark and `logs` need ---------------------------------------------
    def spark_conf(self) -> dict[str, str]:
        hdfs = self.cluster()
        return hdfs.spark_conf() if hdfs is not None else {}

    def ui_url(self) -> str | None:
        saved = self.saved()
        return f"http://{HOST}:{saved['http_port']}" if saved else None

    def components(self) -> list[str]:
        hdfs = self.cluster()
        return hdfs.components() if hdfs is not None else []

    def log_path(self, component: str) -> Path | None:
        hdfs = self.cluster()
        if hdfs is None or component not in hdfs.components():
            return None
        return hdfs.log_path(component)
