"""The local cluster authenticates (issue 23): `up` makes a per-cluster RPC secret (0600, in the 0700 state
dir) that every daemon and every driver the kit starts reads from a file, never from argv. A SparkSession
without the secret is refused by the master (it never registers; the master logs the failed SASL
handshake); the same session given the cluster's client conf dir (what `status` prints) runs a job.

Before: no ``spark.authenticate`` anywhere, and the bare session registered and ran as the cluster's owner.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import psutil
import pytest

from hyperspark.ops import spark_api
from hyperspark.ops.util.poll import poll_until

pytestmark = [pytest.mark.cluster, pytest.mark.spark]

DRIVER = """
import sys
from pyspark.sql import SparkSession
s = (SparkSession.builder.master(sys.argv[1]).appName(sys.argv[2]).config("spark.ui.enabled", "false")
     .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
print("COUNT", s.range(5).count(), flush=True)
s.stop()
"""
REFUSED = "Expected SaslMessage, received something else"


def _apps(target) -> set[str]:
    data = spark_api.master_json(target.master_ui) or {}
    return {a.get("name") for key in ("activeapps", "completedapps") for a in data.get(key, [])}


def _driver(target, name: str, conf_dir: str | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS")}
    env.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    if conf_dir:
        env["SPARK_CONF_DIR"] = conf_dir
    return subprocess.Popen([sys.executable, "-c", DRIVER, target.master_url, name], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # our own child's group: its JVM and Python driver
    out, _ = proc.communicate(timeout=30)
    return out


def test_a_session_without_the_secret_is_refused_and_one_with_it_runs(local_cluster):
    target = local_cluster
    before = target.logs("master").count(REFUSED)
    bare = _driver(target, "bare-intruder", None)
    try:
        # ends at the first of: the master refused its handshake, or the app registered (the old, open cluster)
        poll_until(lambda: target.logs("master").count(REFUSED) > before or "bare-intruder" in _apps(target)
                   or bare.poll() is not None, 120, interval=0.5)
        assert "bare-intruder" not in _apps(target), "a session without the secret registered with the master"
        assert target.logs("master").count(REFUSED) > before, "the master logged no refused handshake"
    finally:
        out = _stop(bare)
    assert "COUNT" not in out

    conf_dir = target.status().attach["classic"].split('os.environ["SPARK_CONF_DIR"] = "', 1)[1].split('"', 1)[0]
    good = _driver(target, "with-secret", conf_dir)
    try:
        out, _ = good.communicate(timeout=240)
    finally:
        _stop(good)
    assert good.returncode == 0 and "COUNT 5" in out, out[-3000:]
    assert "with-secret" in _apps(target)


def test_the_secret_is_in_0600_files_only_and_in_no_command_line(local_cluster):
    target = local_cluster
    root = target.state.root
    secret = (root / "spark-secret").read_text().strip()
    assert len(secret) == 64
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    holders = [root / "spark-secret", target.state.conf_dir / "spark-daemons.conf",
               target.state.conf_dir / "spark-history.conf", root / "client-conf" / "spark-defaults.conf"]
    for path in holders:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
        assert secret in path.read_text(), path
    assert stat.S_IMODE(os.stat(root / "client-conf").st_mode) == 0o700
    assert secret not in "\n".join(target.status().attach.values())
    seen = 0
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(root) in cmd:
            seen += 1
            assert secret not in cmd, cmd[:300]
    assert seen >= 3  # master, workers, history server
    assert "spark.authenticate true" in (target.state.conf_dir / "spark-daemons.conf").read_text()
