#!/usr/bin/env bash
# The whole test suite on a fresh machine: venv, a real Docker engine (offline recipe) and the HDFS
# stand-in are provisioned first; dockerd is stopped again (by pid) when we started it.
#   HYPERSPARK_NO_DOCKER=1  skip Docker provisioning (the live compose tests then skip, saying why)
#   HYPERSPARK_NO_BROWSER=1 skip installing Debian's chromium (the report's browser test then skips)
#   extra arguments go to pytest, e.g. scripts/test.sh tests/job -x
# The end of the output has a "per marker" section (tests/marker_report.py): passed, failed and
# skipped per marker (spark, cluster, hdfs, docker, k8s), with the reasons for the skips.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
# the peers benchmark's short-mode test (tests/bench/test_peers.py) runs hyperopt and Ray Tune: the [peers] extra
.venv/bin/python -c "import hyperopt, ray.tune" 2>/dev/null || .venv/bin/python -m pip install -q -c constraints.txt -e ".[peers]"

# the k8s policy checker (tests/k8s/test_policy_checker.py): checkov pins packages the kit does not, so it
# gets its own venv under .venv/tools (it skips, saying why, when this fails)
CHECKOV_VERSION=3.3.30
if ! .venv/tools/checkov/bin/checkov --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  { python3 -m venv .venv/tools/checkov && .venv/tools/checkov/bin/python -m pip install -q "checkov==$CHECKOV_VERSION"; } \
    || echo "test: checkov install failed; the policy-checker test will skip" >&2
fi

# a real headless Chromium for the report test (it skips, saying why, when this fails)
if [ "${HYPERSPARK_NO_BROWSER:-0}" != 1 ]; then
  .ci/provision-browser.sh || echo "test: browser provisioning failed; the report's browser test will skip" >&2
fi

started_docker=0
if [ "${HYPERSPARK_NO_DOCKER:-0}" != 1 ]; then
  if ! docker info >/dev/null 2>&1; then started_docker=1; fi
  if ! .ci/provision-docker.sh; then
    echo "test: Docker provisioning failed; the live compose tests will skip with the reason" >&2
  fi
fi
cleanup() { if [ "$started_docker" = 1 ]; then .ci/stop-docker.sh || true; fi; }
trap cleanup EXIT

set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "test: pytest collected no tests" >&2; rc=1; fi
exit "$rc"
