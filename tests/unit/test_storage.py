"""LocalDirStorage, storage_for_uri and HdfsCluster's generated config (no services needed)."""
from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hyperspark.ops.hdfs.cluster import HdfsCluster
from hyperspark.ops.hdfs.webhdfs import WebHdfsStorage
from hyperspark.ops.storage import LocalDirStorage
from hyperspark.ops.storage_uri import storage_for_uri
from hyperspark.ops.model import OpsError


@pytest.fixture
def store(tmp_path: Path) -> LocalDirStorage:
    root = tmp_path / "store"
    root.mkdir()
    return LocalDirStorage(root)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    p = tmp_path / "train.csv"
    p.write_bytes(b"a,b\n1,2\n" * 1000 + os.urandom(1000))
    return p


def test_upload_copies_byte_exact_and_reports_checksum(store: LocalDirStorage, src: Path) -> None:
    result = store.upload(src, "/data/train.csv")
    stored = store.root / "data" / "train.csv"
    assert stored.read_bytes() == src.read_bytes()
    assert result.checksum == hashlib.sha256(src.read_bytes()).hexdigest()
    assert result.bytes == src.stat().st_size
    assert result.dest == stored.as_uri()
    assert result.src == str(src)
    assert sorted(os.listdir(stored.parent)) == ["train.csv"]  # no temporary file left


def test_default_destination_is_data_dir(store: LocalDirStorage, src: Path) -> None:
    assert store.upload(src).dest == (store.root / "data" / "train.csv").as_uri()


def test_directory_destination_keeps_the_file_name(store: LocalDirStorage, src: Path) -> None:
    store.mkdirs("/in")
    assert store.upload(src, "/in").dest.endswith("/in/train.csv")
    assert store.upload(src, "/new/").dest.endswith("/new/train.csv")


def test_overwrite_is_refused_without_force(store: LocalDirStorage, src: Path, tmp_path: Path) -> None:
    store.upload(src, "/d/x.csv")
    other = tmp_path / "other.csv"
    other.write_text("changed\n")
    with pytest.raises(OpsError, match=r"x\.csv exists: use --force$"):
        store.upload(other, "/d/x.csv")
    assert store.read_bytes("/d/x.csv") == src.read_bytes()

    store.upload(other, "/d/x.csv", force=True)
    assert store.read_text("/d/x.csv") == "changed\n"


def test_missing_source_is_refused(store: LocalDirStorage, tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="no such file: .*missing.csv"):
        store.upload(tmp_path / "missing.csv", "/d/missing.csv")
    assert not store.exists("/d/missing.csv")


def test_directory_source_is_refused(store: LocalDirStorage, tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="no such file"):
        store.upload(tmp_path, "/d/x")


class CorruptingStorage(LocalDirStorage):
    """Our own storage with a broken write path: verification must catch it."""

    def _put(self, src: Path, path: str) -> None:
        super()._put(src, path)
        with open(self.local_path(path), "r+b") as f:
            f.seek(3)
            f.write(b"!")


def test_failed_verification_leaves_nothing_behind(tmp_path: Path, src: Path) -> None:
    store = CorruptingStorage(tmp_path / "s")
    with pytest.raises(OpsError, match="failed verification"):
        store.upload(src, "/d/x.csv")
    assert not store.exists("/d/x.csv")
    assert store.list("/d") == []


def test_failed_verification_keeps_the_old_file(tmp_path: Path, src: Path) -> None:
    good = LocalDirStorage(tmp_path / "s")
    good.upload(src, "/d/x.csv")
    with pytest.raises(OpsError, match="failed verification"):
        CorruptingStorage(tmp_path / "s").upload(src, "/d/x.csv", force=True)
    assert good.read_bytes("/d/x.csv") == src.read_bytes()
    assert good.list("/d") == ["x.csv"]


def test_paths_cannot_escape_the_root(store: LocalDirStorage, tmp_path: Path) -> None:
    assert store.local_path("../../etc/passwd") == store.root / "etc" / "passwd"
    with pytest.raises(OpsError, match="outside storage"):
        store.read_text((tmp_path / "elsewhere.txt").as_uri())


def test_uris_inside_the_root_are_accepted(store: LocalDirStorage, src: Path) -> None:
    uri = store.upload(src, "/d/x.csv").dest
    assert store.exists(uri)
    assert store.read_bytes(uri) == src.read_bytes()
    assert store.uri_for("/d/x.csv") == uri
    with pytest.raises(OpsError, match="not a file:// URI"):
        store.read_text("hdfs://127.0.0.1:8020/d/x.csv")


def test_list_mkdirs_delete(store: LocalDirStorage, src: Path) -> None:
    store.mkdirs("/a/b")
    store.upload(src, "/a/f.csv")
    assert store.list("/a") == ["b", "f.csv"]
    assert store.delete("/a/f.csv") is True
    assert store.delete("/a/f.csv") is False
    with pytest.raises(OpsError, match="non-empty directory"):
        store.delete("/a")  # still holds b
    assert store.delete("/a", recursive=True) is True
    assert not store.exists("/a")
    with pytest.raises(OpsError, match="storage root"):
        store.delete("/", recursive=True)


def test_read_errors_are_one_line(store: LocalDirStorage) -> None:
    with pytest.raises(OpsError, match="no such file") as err:
        store.read_text("/nope.json")
    assert "\n" not in str(err.value)
    with pytest.raises(OpsError, match="no such directory"):
        store.list("/nope")


def test_upload_onto_a_directory_path_with_force_is_refused(store: LocalDirStorage, src: Path) -> None:
    store.mkdirs("/d/train.csv")  # a directory where the file would land
    with pytest.raises(OpsError, match="train.csv is a directory"):
        store.upload(src, "/d/", force=True)
    assert store.is_dir("/d/train.csv")


# -- storage_for_uri ------------------------------------------------------------------
def test_storage_for_file_uri_reads_local_files(src: Path) -> None:
    s = storage_for_uri(src.as_uri())
    assert isinstance(s, LocalDirStorage)
    assert s.read_bytes(src.as_uri()) == src.read_bytes()


def test_storage_for_hdfs_uri_defaults_to_port_9870() -> None:
    s = storage_for_uri("hdfs://namenode:8020/data/x.csv")
    assert isinstance(s, WebHdfsStorage)
    assert s.webhdfs_url == "http://namenode:9870"
    assert s.fs_uri == "hdfs://namenode:8020"
    assert s.uri_for("/data/x.csv") == "hdfs://namenode:8020/data/x.csv"
    assert s.norm("hdfs://namenode:8020/data/../x.csv") == "/x.csv"


@pytest.mark.parametrize("uri", ["s3://bucket/x", "hdfs:///no-host/x"])
def test_storage_for_unsupported_uri_is_one_line(uri: str) -> None:
    with pytest.raises(OpsError):
        storage_for_uri(uri)


# -- HdfsCluster's plan and config (pure) ----------------------------------------------
def site(path: Path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    return {p.findtext("name"): p.findtext("value") for p in root.iter("property")}


def test_cluster_config_gives_each_datanode_its_own_ports_and_dir(tmp_path: Path) -> None:
    c = HdfsCluster("/opt/hadoop", tmp_path, rpc_port=18020, http_port=18070, datanodes=3, dn_base_port=18100)
    c.write_config()
    core, nn = site(c.conf_dir / "core-site.xml"), site(c.conf_dir / "hdfs-site.xml")
    assert core["fs.defaultFS"] == "hdfs://127.0.0.1:18020" == c.fs_uri
    assert nn["dfs.namenode.http-address"] == "127.0.0.1:18070"
    assert nn["dfs.replication"] == "3"
    assert nn["dfs.datanode.hostname"] == "127.0.0.1"
    assert nn["dfs.namenode.safemode.extension"] == "0"
    seen: set[str] = set()
    for i in (1, 2, 3):
        dn = site(c.conf_dir / f"datanode-{i}" / "hdfs-site.xml")
        addrs = {dn["dfs.datanode.address"], dn["dfs.datanode.http.address"], dn["dfs.datanode.ipc.address"]}
        assert len(addrs) == 3 and not addrs & seen
        seen |= addrs
        assert dn["dfs.datanode.data.dir"] == f"file://{c.data_dir(i)}"
        assert (c.conf_dir / f"datanode-{i}" / "log4j.properties").is_file()
    assert c.dn_ports(1).http == 18100
    assert len(set(c.ports().values())) == 2 + 3 * 3


@pytest.mark.parametrize("datanodes,expected", [(1, 1), (2, 2), (3, 3), (5, 3)])
def test_default_replication_never_exceeds_datanodes(tmp_path: Path, datanodes: int, expected: int) -> None:
    assert HdfsCluster("/opt/hadoop", tmp_path, datanodes=datanodes).replication == expected


def test_replication_above_datanodes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="replication 3 is impossible with 2 DataNode"):
        HdfsCluster("/opt/hadoop", tmp_path, datanodes=2, replication=3)


def test_colliding_port_plan_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="collisions"):
        HdfsCluster("/opt/hadoop", tmp_path, rpc_port=9864, datanodes=1)


def test_status_of_a_stopped_cluster_does_not_raise(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = HdfsCluster("/opt/hadoop", tmp_path, http_port=port)
    st = c.status()
    assert st.kind == "hdfs" and st.writable is False and st.live_datanodes is None
    assert "not answering" in st.detail
    assert not c.is_running()
