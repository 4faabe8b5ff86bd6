#!/usr/bin/env bash
# The main job on the embedded default (local target): venv, then `hyperspark demo` which starts a real
# standalone cluster with 2 workers, uploads the bundled data, tunes, benchmarks 1 vs 2 workers, stops.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
HYPERSPARK_EXTRAS="${HYPERSPARK_EXTRAS:-ops}" scripts/bootstrap.sh
exec .venv/bin/hyperspark demo "$@"
