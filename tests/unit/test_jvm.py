"""The local target's JVM flags (hyperspark.ops.targets.local.jvm): which archive, and who gets what."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hyperspark.ops.targets.local import jvm


@pytest.fixture
def spark_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "spark"
    (home / "jars").mkdir(parents=True)
    (home / "jars" / "spark-core.jar").write_bytes(b"x" * 10)
    monkeypatch.setenv("HYPERSPARK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HYPERSPARK_JVM_ARCHIVE", raising=False)
    return home


def test_the_archive_is_named_for_this_jdk_and_these_jars(spark_home: Path) -> None:
    first = jvm.archive_path(spark_home, "/usr/bin/java")
    assert first.parent == spark_home.parent / "cache" / "jvm" and first.suffix == ".jsa"
    assert jvm.archive_path(spark_home, "/usr/bin/java") == first
    assert jvm.archive_path(spark_home, "/opt/other/java") != first  # another JDK
    jar = spark_home / "jars" / "spark-core.jar"
    jar.write_bytes(b"y" * 11)  # an upgraded pyspark
    os.utime(jar, (time.time() + 5, time.time() + 5))
    assert jvm.archive_path(spark_home, "/usr/bin/java") != first


def test_without_an_archive_only_the_driver_gets_c1(spark_home: Path) -> None:
    conf = jvm.driver_conf(spark_home, "/usr/bin/java")
    assert conf == {"spark.driver.extraJavaOptions": jvm.DRIVER_FLAGS}
    assert "TieredStopAtLevel=1" in conf["spark.driver.extraJavaOptions"]


def test_with_an_archive_drivers_executors_and_daemons_map_it(spark_home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = jvm.archive_path(spark_home, "/usr/bin/java")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    conf = jvm.driver_conf(spark_home, "/usr/bin/java")
    flag = f"-XX:SharedArchiveFile={path}"
    assert flag in conf["spark.driver.extraJavaOptions"] and flag in conf["spark.executor.extraJavaOptions"]
    assert "TieredStopAtLevel" not in conf["spark.executor.extraJavaOptions"]  # executors keep the full JIT
    assert jvm.archive_flags(spark_home, "/usr/bin/java").startswith(flag)
    monkeypatch.setenv("HYPERSPARK_JVM_ARCHIVE", "0")
    assert jvm.archive_flags(spark_home, "/usr/bin/java") == ""
    assert "spark.executor.extraJavaOptions" not in jvm.driver_conf(spark_home, "/usr/bin/java")


def test_one_dump_per_machine_at_a_time_and_a_dead_ones_marker_is_taken_over(tmp_path: Path) -> None:
    import subprocess
    import sys

    marker = tmp_path / "spark-x.jsa.making"
    assert jvm._claim(marker)
    marker.write_text(str(__import__("os").getpid()))  # a live dump process
    assert not jvm._claim(marker)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    marker.write_text(dead.stdout.strip())  # its process is gone
    assert jvm._claim(marker)


def test_a_dump_cleans_up_what_a_stopped_one_left(spark_home: Path, tmp_path: Path, monkeypatch) -> None:
    from hyperspark.ops.state import StateDir

    final = jvm.archive_path(spark_home, "/usr/bin/java")
    final.parent.mkdir(parents=True)
    left = final.with_name(f"{final.name}.12345.tmp")
    left.write_bytes(b"half an archive")
    spawned = []
    state = StateDir(tmp_path / "state")
    monkeypatch.setattr(state, "spawn", lambda name, argv, env: spawned.append(argv) or 4242)
    assert jvm.start_dump(state, spark_home, "/usr/bin/java", {}) == 4242
    assert not left.exists() and spawned and spawned[0][-1].endswith(".making")
