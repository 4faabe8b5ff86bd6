#!/usr/bin/env bash
# Reproduces the README's benchmark figures: a local cluster of 2 workers x 1 core, the 16-trial
# scikit-learn RandomForest grid on 100k x 20 synthetic rows, 1 vs 2 workers, 3 interleaved repeats,
# plus the joblib one-process baseline. Output: bench-out/{results.csv,report.json,report.md,speedup.png}
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh
export HYPERSPARK_STATE_DIR="${HYPERSPARK_STATE_DIR:-$PWD/.hyperspark/bench}"
hs=.venv/bin/hyperspark
trap '$hs down >/dev/null 2>&1 || true' EXIT
$hs up --workers 2 --worker-cores 1 --worker-memory 2g
$hs bench --spec benchmarks/specs/rf16.yaml --workers 1,2 --repeat "${REPEAT:-3}" --out "${OUT:-bench-out}"
