"""The class-data archive on a REAL local cluster: ``up`` makes it once per machine (in the background), it
is valid for the class path Spark's executors and drivers use (the JVM refuses to start with ``-Xshare:on``
otherwise), and a submit made after it exists hands it to its driver and executors."""
from __future__ import annotations

import subprocess
import time

import pytest
import yaml

from hyperspark.ops.targets.local import jvm
from hyperspark.ops.targets.local.daemons import spark_home
from hyperspark.ops.util.java import java_binary
from tests.paths import REPO

pytestmark = [pytest.mark.cluster, pytest.mark.spark]


def test_up_makes_an_archive_that_spark_jvms_map_and_submits_pass_it_on(local_cluster, tmp_path) -> None:
    home, java = spark_home(), java_binary()
    path = jvm.archive_path(home, java)
    deadline = time.monotonic() + 300
    while not path.is_file() and time.monotonic() < deadline:  # made in the background after `up`
        time.sleep(1)
    assert path.is_file(), (local_cluster.state.log_file(jvm.NAME).read_text(errors="replace")[-2000:]
                            if local_cluster.state.log_file(jvm.NAME).exists() else "no dump log")
    jars = home / "jars"
    slf4j = next(jars.glob("slf4j-api-*.jar"))
    cp = f"{home / 'conf'}:{slf4j}:{jars}/*"  # the class path a worker starts executors with
    mapped = subprocess.run([java, "-Xshare:on", f"-XX:SharedArchiveFile={path}", "-cp", cp, "-version"],
                            capture_output=True, text=True, timeout=120)
    assert mapped.returncode == 0, mapped.stderr[-2000:]

    spec = {"name": "cds", "dataset": {"uri": str(REPO / "examples" / "data" / "breast_cancer.csv"), "label": "target"},
            "objective": "hyperspark.job.null_model:sleep_objective", "search": {"type": "grid"},
            "space": {"x": [1, 2], "seconds": [0.0]}, "output": str(tmp_path / "runs")}
    (tmp_path / "cds.yaml").write_text(yaml.safe_dump(spec))
    res = local_cluster.submit(tmp_path / "cds.yaml", run_id="cds", cold=True)
    assert res.exit_code == 0, res.error
    argv = local_cluster.state.log_file("driver").read_text().splitlines()[0]
    assert f"spark.executor.extraJavaOptions=-XX:SharedArchiveFile={path}" in argv
    assert "spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1" in argv
