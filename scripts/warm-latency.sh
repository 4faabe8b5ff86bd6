#!/usr/bin/env bash
# Second-submit latency, cold spark-submit vs the warm driver, on the demo's spec and a 2-worker local cluster.
#   scripts/warm-latency.sh [STATE_DIR]      (default: a new temp dir; the cluster is stopped at the end)
# Prints, per submit: wall seconds of `hyperspark submit` and the job's timings from summary.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export HYPERSPARK_STATE_DIR="${1:-$(mktemp -d -t hs-warm-latency-XXXX)}"
HS=.venv/bin/hyperspark
SPEC=examples/breast_cancer_sklearn.yaml
trap '$HS down >/dev/null' EXIT
$HS up --workers 2 --no-hdfs >/dev/null
DEST=$($HS upload examples/data/breast_cancer.csv data/breast_cancer.csv --force --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["dest"])')
OUT="file://$HYPERSPARK_STATE_DIR/storage/runs"
run() {  # run LABEL [submit options]
  local label=$1; shift
  local t0=$(date +%s.%N)
  $HS submit "$SPEC" --set "dataset.uri=$DEST" --set "output=$OUT" --json "$@" > "$HYPERSPARK_STATE_DIR/$label.json"
  local t1=$(date +%s.%N)
  .venv/bin/python - "$HYPERSPARK_STATE_DIR/$label.json" "$label" "$(echo "$t1 - $t0" | bc)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); t = r["summary"]["timings"]
keys = ("session", "load", "warmup", "search", "refit", "write", "total")
print(f"{sys.argv[2]:<8} wall {float(sys.argv[3]):6.1f} s  " + "  ".join(f"{k} {t.get(k, 0):.2f}" for k in keys)
      + f"  cv {r['summary']['cv_score']:.6f}  app {r['summary']['cluster']['app_id']}")
PY
}
run cold-1 --cold
run cold-2 --cold
$HS up --workers 2 --warm >/dev/null
run warm-1
run warm-2
