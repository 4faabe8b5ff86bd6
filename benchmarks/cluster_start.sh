#!/usr/bin/env bash
# Fixed cost of `hyperspark up --workers N` on the local target: wall time from the command's start
# until it returns (2 ALIVE workers per the master's /json), median of RUNS runs, `down` in between.
#   benchmarks/cluster_start.sh [RUNS=3] [WORKERS=2]      (HS=path/to/hyperspark to time another build)
# Own state dir and ports (HYPERSPARK_* below) so it never meets a cluster someone else runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-3}"; workers="${2:-2}"
export HYPERSPARK_STATE_DIR="${HYPERSPARK_STATE_DIR:-$(mktemp -d /tmp/hs-start-bench.XXXXXX)}"
export HYPERSPARK_MASTER_PORT="${HYPERSPARK_MASTER_PORT:-31077}" HYPERSPARK_MASTER_UI_PORT="${HYPERSPARK_MASTER_UI_PORT:-31080}"
export HYPERSPARK_WORKER_UI_PORT="${HYPERSPARK_WORKER_UI_PORT:-31081}" HYPERSPARK_HISTORY_UI_PORT="${HYPERSPARK_HISTORY_UI_PORT:-31090}"
hs="${HS:-.venv/bin/hyperspark}"
trap '$hs down >/dev/null 2>&1 || true' EXIT
times=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s.%N)
  $hs up --workers "$workers" >/dev/null
  end=$(date +%s.%N)
  t=$(echo "$end - $start" | bc)
  times+=("$t")
  echo "run $i: up --workers $workers in ${t}s"
  $hs down >/dev/null
  sleep 2  # let the stopped JVMs' CPU settle before the next run
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median of %d: %.2fs (min %.2f, max %.2f)\n", NR, a[int((NR+1)/2)], a[1], a[NR]}'
