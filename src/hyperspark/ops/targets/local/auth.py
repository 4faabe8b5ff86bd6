"""The local cluster's Spark RPC secret (``spark.authenticate``): without it, any local user could connect
to the master's port, register an application and run code as the cluster's owner, or fetch blocks.

A fresh ``up`` makes a new random secret in ``<state>/spark-secret`` (0600, inside the 0700 state dir). It
reaches every JVM through a file, never a command line (``ps`` shows those to every local user):

* the master, workers and history server: their properties files (``conf/spark-daemons.conf``,
  ``conf/spark-history.conf``), written 0600 (:func:`daemon_conf`);
* every driver the kit starts (``submit``, the warm driver, the Connect server): :func:`driver_conf`, which
  ``spark_submit.argv`` puts in a private 0600 properties file because ``spark.authenticate.secret`` is a
  secret (:mod:`hyperspark.ops.util.secrets`); executors get it from their worker (Spark's own way: an
  environment variable of the executor's process, never its argv);
* a driver the user starts (a notebook, ``spark-submit``, ``hyperspark.tune`` on an attached session):
  ``SPARK_CONF_DIR=<state>/client-conf``, whose ``spark-defaults.conf`` (0600) carries the secret
  (:func:`client_conf_dir`; ``status`` prints the line, never the secret).

The UIs stay on 127.0.0.1 and readable by local users, but their kill buttons are off
(``spark.ui.killEnabled``) and the master UI cannot decommission workers.

A cluster started before this (no secret file) keeps running without authentication: drivers then carry
no secret either, until the next fresh ``up``.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from hyperspark.ops.state import StateDir
from hyperspark.ops.util.files import write_atomic
from hyperspark.ops.util.secrets import private_dir

SECRET_FILE = "spark-secret"
CLIENT_CONF = "client-conf"
#: what every JVM of the cluster gets besides the secret: no kill buttons or decommissioning from the UIs
UI_LOCKDOWN = {"spark.ui.killEnabled": "false", "spark.master.ui.decommission.allow.mode": "DENY"}


def secret_path(state: StateDir) -> Path:
    return state.root / SECRET_FILE


def create(state: StateDir) -> str:
    """A new secret for a cluster about to start (0600; the state dir is 0700); the client conf beside it."""
    value = secrets.token_hex(32)
    write_atomic(secret_path(state), value + "\n", mode=0o600)
    client_conf_dir(state, value)
    return value


def read(state: StateDir) -> str | None:
    """The running cluster's secret, or None (a cluster started without one)."""
    try:
        value = secret_path(state).read_text().strip()
    except OSError:
        return None
    return value or None


def conf(value: str | None) -> dict[str, str]:
    """The Spark confs that turn authentication on with ``value`` (none for a cluster without a secret)."""
    if not value:
        return {}
    return {"spark.authenticate": "true", "spark.authenticate.secret": value}


def daemon_conf(state: StateDir) -> dict[str, str]:
    """What the master, workers and history server get in their (0600) properties files."""
    return {**conf(read(state)), **UI_LOCKDOWN}


def driver_conf(state: StateDir) -> dict[str, str]:
    """What every driver the kit starts gets (the secret goes to a private properties file, not argv)."""
    return {**conf(read(state)), "spark.ui.killEnabled": "false"}


def client_conf_dir(state: StateDir, value: str | None = None) -> Path | None:
    """``<state>/client-conf`` (0700) with a ``spark-defaults.conf`` (0600) holding the secret: the
    ``SPARK_CONF_DIR`` of a driver the user starts (spark-submit and pyspark read that file). None
    without a secret."""
    value = value or read(state)
    if not value:
        return None
    folder = private_dir(state.root / CLIENT_CONF)
    defaults = folder / "spark-defaults.conf"
    text = "".join(f"{k} {v}\n" for k, v in conf(value).items())
    try:
        if defaults.read_text() == text:
            return folder
    except OSError:
        pass
    write_atomic(defaults, text, mode=0o600)
    return folder
