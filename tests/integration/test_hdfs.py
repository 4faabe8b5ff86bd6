"""A REAL HDFS (NameNode + 2 DataNodes) driven by HdfsCluster, used through WebHdfsStorage and Spark.

The ``hdfs_cluster`` and ``hadoop_home`` fixtures come from
tests/integration/hdfs_fixtures.py (registered by tests/conftest.py).
"""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
from pathlib import Path

import pytest

from hyperspark.ops.hdfs.cluster import HdfsCluster
from hyperspark.ops.hdfs import jmx as nn_jmx
from hyperspark.ops.hdfs.webhdfs import WebHdfsStorage
from hyperspark.ops.storage_uri import storage_for_uri
from hyperspark.ops.model import OpsError
from tests.integration.hdfs_fixtures import hdfs_port_plan
from tests.paths import REPO

pytestmark = pytest.mark.hdfs


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def storage(hdfs_cluster: HdfsCluster) -> WebHdfsStorage:
    return WebHdfsStorage(hdfs_cluster.webhdfs_url, hdfs_cluster.fs_uri)


@pytest.fixture
def hdfs_dir(storage: WebHdfsStorage, request: pytest.FixtureRequest):
    """A fresh HDFS directory per test, removed afterwards."""
    path = f"/t/{request.node.name}"
    storage.delete(path, recursive=True)
    storage.mkdirs(path)
    try:
        yield path
    finally:
        storage.delete(path, recursive=True)


def hdfs_cli(cluster: HdfsCluster, *args: str) -> str:
    """Run ``$HADOOP_HOME/bin/hdfs`` against the cluster's config; return stdout."""
    env = dict(os.environ, HADOOP_CONF_DIR=str(cluster.conf_dir), HADOOP_ROOT_LOGGER="WARN,console")
    proc = subprocess.run(
        [str(cluster.hadoop_home / "bin" / "hdfs"), *args],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


# -- the cluster ------------------------------------------------------------------
def test_status_shows_two_live_datanodes_and_safemode_off(hdfs_cluster: HdfsCluster) -> None:
    st = hdfs_cluster.status()
    assert st.kind == "hdfs"
    assert st.uri == hdfs_cluster.fs_uri
    assert st.live_datanodes == 2
    assert st.safemode is False
    assert st.writable is True
    assert st.replication == 2
    assert hdfs_cluster.is_running()
    # the distribution's own admin client agrees
    assert "Safe mode is OFF" in hdfs_cli(hdfs_cluster, "dfsadmin", "-safemode", "get")
    assert hdfs_cli(hdfs_cluster, "getconf", "-confKey", "dfs.replication").strip() == "2"


def test_datanodes_advertise_loopback(hdfs_cluster: HdfsCluster) -> None:
    """WebHDFS redirects go to the DataNodes' advertised names: they must be reachable from here."""
    report = hdfs_cli(hdfs_cluster, "dfsadmin", "-report")
    assert report.count("Hostname: 127.0.0.1") == 2
    for i in (1, 2):
        assert f"127.0.0.1:{hdfs_cluster.dn_ports(i).data}" in report


# -- uploads --------------------------------------------------------------------------
def test_upload_is_byte_exact(storage: WebHdfsStorage, hdfs_dir: str, tmp_path: Path) -> None:
    data = os.urandom(3 * 2**20 + 17) + b"\r\n\x00end"
    src = tmp_path / "blob.bin"
    src.write_bytes(data)

    result = storage.upload(src, f"{hdfs_dir}/blob.bin")

    assert result.dest == f"{storage.fs_uri}{hdfs_dir}/blob.bin"
    assert result.bytes == len(data)
    assert result.checksum == sha256(data)
    assert sha256(storage.read_bytes(result.dest)) == sha256(data)
    assert storage.list(hdfs_dir) == ["blob.bin"]  # no temporary file left behind


def test_upload_into_a_directory_keeps_the_name(storage: WebHdfsStorage, hdfs_dir: str, tmp_path: Path) -> None:
    src = tmp_path / "rows.csv"
    src.write_text("a,b\n1,2\n")
    result = storage.upload(src, hdfs_dir)
    assert result.dest.endswith(f"{hdfs_dir}/rows.csv")
    assert storage.read_text(result.dest) == "a,b\n1,2\n"


def test_overwrite_refused_without_force(storage: WebHdfsStorage, hdfs_dir: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("x\n1\n")
    second.write_text("x\n2\n3\n")
    dest = f"{hdfs_dir}/data.csv"
    storage.upload(first, dest)

    with pytest.raises(OpsError, match=r"data\.csv exists: use --force"):
        storage.upload(second, dest)
    assert storage.read_text(dest) == "x\n1\n"

    result = storage.upload(second, dest, force=True)
    assert result.checksum == sha256(second.read_bytes())
    assert storage.read_text(dest) == "x\n2\n3\n"
    assert storage.list(hdfs_dir) == ["data.csv"]


def test_upload_of_missing_file_is_one_line(storage: WebHdfsStorage, hdfs_dir: str, tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="no such file") as err:
        storage.upload(tmp_path / "nope.csv", f"{hdfs_dir}/nope.csv")
    assert "\n" not in str(err.value)
    assert not storage.exists(f"{hdfs_dir}/nope.csv")


def test_storage_for_hdfs_uri_reads_what_was_uploaded(
    hdfs_cluster: HdfsCluster, storage: WebHdfsStorage, hdfs_dir: str, tmp_path: Path
) -> None:
    src = tmp_path / "s.txt"
    src.write_text("hello hdfs\n")
    uri = storage.upload(src, f"{hdfs_dir}/s.txt").dest
    other = storage_for_uri(uri, webhdfs_url=hdfs_cluster.webhdfs_url)
    assert other.read_text(uri) == "hello hdfs\n"
    with pytest.raises(OpsError, match="is not on"):
        storage.read_text("hdfs://10.255.255.1:1/elsewhere.txt")


def test_reading_a_missing_file_is_one_line(storage: WebHdfsStorage, hdfs_dir: str) -> None:
    with pytest.raises(OpsError) as err:
        storage.read_text(f"{hdfs_dir}/missing.json")
    assert "missing.json" in str(err.value) and "\n" not in str(err.value)


# -- Spark --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spark_session(spark, hdfs_cluster: HdfsCluster):
    """The session-wide local[2] session (tests/spark_fixtures.py) pointed at this HDFS: its Hadoop conf gets
    the HDFS client options (fs.defaultFS and, above all, dfs.replication: the client decides the
    replication of what it writes, and Spark's default 3 > our 2 DataNodes), put back afterwards. The
    session is shared, so it is never stopped here."""
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    before = {}
    for key, value in hdfs_cluster.spark_conf().items():
        if key.startswith("spark.hadoop."):
            name = key[len("spark.hadoop."):]
            before[name] = hconf.get(name)
            hconf.set(name, value)
    try:
        yield spark
    finally:
        for name, old in before.items():
            if old is None:
                hconf.unset(name)
            else:
                hconf.set(name, old)


def test_spark_reads_uploaded_csv_and_writes_parquet(
    hdfs_cluster: HdfsCluster, storage: WebHdfsStorage, hdfs_dir: str, tmp_path: Path, spark_session
) -> None:
    rows = [(i, i * 0.5, "yes" if i % 3 == 0 else "no") for i in range(500)]
    src = tmp_path / "train.csv"
    src.write_text("id,x,label\n" + "".join(f"{i},{x},{y}\n" for i, x, y in rows))
    csv_uri = storage.upload(src, f"{hdfs_dir}/train.csv").dest
    assert csv_uri.startswith("hdfs://127.0.0.1:")

    df = spark_session.read.csv(csv_uri, header=True, inferSchema=True)
    got = sorted((r["id"], r["x"], r["label"]) for r in df.collect())
    assert got == rows

    parquet_uri = f"{hdfs_cluster.fs_uri}{hdfs_dir}/train.parquet"
    df.filter("label = 'yes'").write.parquet(parquet_uri)

    names = storage.list(parquet_uri)
    assert "_SUCCESS" in names
    parts = [n for n in names if n.endswith(".parquet")]
    assert parts
    assert storage.client.status(f"{hdfs_dir}/train.parquet/{parts[0]}")["replication"] == 2
    back = spark_session.read.parquet(parquet_uri)
    assert sorted(r["id"] for r in back.collect()) == [i for i, _, y in rows if y == "yes"]


# -- format once, restart -------------------------------------------------------------
def test_restart_keeps_data_and_does_not_reformat(
    hdfs_cluster: HdfsCluster, storage: WebHdfsStorage, tmp_path: Path
) -> None:
    data = os.urandom(200_000)
    src = tmp_path / "keep.bin"
    src.write_bytes(data)
    dest = "/t/restart/keep.bin"
    storage.upload(src, dest, force=True)
    before = hdfs_cluster.namenode_version()
    old_pids = hdfs_cluster.running_pids()
    # as a later CLI process would: a new object finds the daemons by their pid files
    other = HdfsCluster(
        hdfs_cluster.hadoop_home, hdfs_cluster.base_dir, rpc_port=hdfs_cluster.rpc_port,
        http_port=hdfs_cluster.http_port, datanodes=hdfs_cluster.datanodes,
        dn_base_port=hdfs_cluster.dn_base_port,
    )
    assert other.running_pids() == old_pids

    stopped = other.stop()
    assert len(stopped) == 3
    assert not hdfs_cluster.is_running()
    assert hdfs_cluster.status().live_datanodes is None  # nobody answers

    st = other.start()
    assert st.live_datanodes == 2 and st.safemode is False
    assert hdfs_cluster.is_running()  # the fixture's object sees (and will stop) the new daemons
    assert set(hdfs_cluster.running_pids().values()).isdisjoint(old_pids.values())
    after = hdfs_cluster.namenode_version()
    for key in ("clusterID", "namespaceID", "blockpoolID"):  # a reformat would change namespaceID
        assert after[key] == before[key], key
    assert nn_jmx.http_reader(hdfs_cluster.webhdfs_url)("NameNodeInfo")["ClusterId"] == hdfs_cluster.cluster_id
    assert sha256(storage.read_bytes(dest)) == sha256(data)
    storage.delete("/t/restart", recursive=True)


def test_start_when_running_is_a_no_op(hdfs_cluster: HdfsCluster) -> None:
    pids = hdfs_cluster.running_pids()
    st = hdfs_cluster.start()
    assert hdfs_cluster.running_pids() == pids
    assert st.live_datanodes == 2


def test_refuses_to_format_a_name_dir_holding_data(hdfs_cluster: HdfsCluster) -> None:
    before = hdfs_cluster.namenode_version()
    with pytest.raises(OpsError, match="refusing to format"):
        hdfs_cluster.format()
    assert hdfs_cluster.namenode_version() == before
    assert hdfs_cluster.status().live_datanodes == 2


def test_start_refuses_stray_files_in_an_unformatted_name_dir(hadoop_home: Path, tmp_path: Path) -> None:
    cluster = HdfsCluster(hadoop_home, tmp_path / "hdfs", **hdfs_port_plan(1), datanodes=1)
    cluster.name_dir.mkdir(parents=True)
    (cluster.name_dir / "precious.txt").write_text("not HDFS metadata, but not ours to wipe")
    try:
        with pytest.raises(OpsError, match=r"refusing to format: NameNode dir .* already holds data"):
            cluster.start()
        assert cluster.running_pids() == {}
        assert (cluster.name_dir / "precious.txt").read_text().startswith("not HDFS")
    finally:
        cluster.stop()


def test_start_refuses_orphaned_datanode_blocks(hadoop_home: Path, tmp_path: Path) -> None:
    """Name dir lost but DataNode dirs kept: formatting would orphan the blocks (Incompatible clusterIDs)."""
    cluster = HdfsCluster(hadoop_home, tmp_path / "hdfs", **hdfs_port_plan(1), datanodes=1)
    (cluster.data_dir(1) / "current").mkdir(parents=True)
    try:
        with pytest.raises(OpsError, match="holds blocks of an earlier HDFS"):
            cluster.start()
        assert not cluster.is_formatted()
        assert cluster.running_pids() == {}
    finally:
        cluster.stop()


def test_port_in_use_is_named(hadoop_home: Path, tmp_path: Path) -> None:
    plan = hdfs_port_plan(1)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", plan["http_port"]))
        squatter.listen(1)
        cluster = HdfsCluster(hadoop_home, tmp_path / "hdfs", datanodes=1, **plan)
        try:
            with pytest.raises(OpsError, match=rf"port {plan['http_port']} \(namenode http\)"):
                cluster.start()
            assert cluster.running_pids() == {}
            assert not cluster.is_formatted()  # refused before touching anything
        finally:
            cluster.stop()


def test_fs_shell_over_rpc_sees_webhdfs_uploads(
    hdfs_cluster: HdfsCluster, storage: WebHdfsStorage, hdfs_dir: str, tmp_path: Path
) -> None:
    src = tmp_path / "rpc.txt"
    src.write_text("over rpc\n")
    storage.upload(src, f"{hdfs_dir}/rpc.txt")
    assert hdfs_cli(hdfs_cluster, "dfs", "-cat", f"{hdfs_cluster.fs_uri}{hdfs_dir}/rpc.txt") == "over rpc\n"


# -- the distribution ------------------------------------------------------------------


def test_standin_build_is_cached_and_idempotent(hadoop_home: Path) -> None:
    from hyperspark.ops.hdfs.dist import is_standin_complete

    if not is_standin_complete(hadoop_home):
        pytest.skip(f"HADOOP_HOME={hadoop_home} is a real distribution, not the stand-in")
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "hadoop-standin.sh"), str(hadoop_home)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(hadoop_home)
    assert "already complete" in proc.stderr
    assert not list(hadoop_home.parent.glob(f"{hadoop_home.name}.tmp*"))


def test_standin_launcher_rejects_unknown_verbs(hadoop_home: Path) -> None:
    from hyperspark.ops.hdfs.dist import is_standin_complete

    if not is_standin_complete(hadoop_home):
        pytest.skip(f"HADOOP_HOME={hadoop_home} is a real distribution, not the stand-in")
    proc = subprocess.run([str(hadoop_home / "bin" / "hdfs"), "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "unknown command 'frobnicate'" in proc.stderr
    version = subprocess.run([str(hadoop_home / "bin" / "hdfs"), "version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("Hadoop 2.7.4")


def test_broken_hadoop_home_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hyperspark.ops.hdfs.dist import ensure_hadoop_home

    monkeypatch.setenv("HADOOP_HOME", str(tmp_path))
    with pytest.raises(OpsError, match=r"HADOOP_HOME=.* has no executable bin/hdfs") as err:
        ensure_hadoop_home()
    assert "\n" not in str(err.value)


def test_daemon_dying_at_start_names_its_log_and_leaves_nothing_running(
    hadoop_home: Path, tmp_path: Path
) -> None:
    plan = hdfs_port_plan(1)
    HdfsCluster(hadoop_home, tmp_path / "hdfs", datanodes=1, **plan).format()
    # a heap the JVM refuses to start with: a real start-up failure
    broken = HdfsCluster(hadoop_home, tmp_path / "hdfs", datanodes=1, heap="1k", **plan)
    try:
        with pytest.raises(OpsError, match=r"HDFS \S+ exited during start-up: read .*/logs/\S+\.log$"):
            broken.start(timeout_s=60)
        assert broken.running_pids() == {}
        assert broken.status().live_datanodes is None
    finally:
        broken.stop()
