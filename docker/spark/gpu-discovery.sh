#!/bin/sh
# HyperSpark's GPU discovery script for Spark standalone workers
# (spark.worker.resource.gpu.discoveryScript): prints {"name": "gpu", "addresses": [...]}.
#
#   ADDRESSES   fixed addresses, comma-separated (e.g. 0,1): printed as they are. Spark does not check
#               that they are real devices: this is how tests fake GPUs.
#   PER_WORKER  otherwise the GPUs nvidia-smi lists; 0 = all of them, N > 0 = the N GPUs of worker
#               $HYPERSPARK_GPU_WORKER (1-based): worker k takes GPUs (k-1)*N .. k*N-1, so workers on
#               one machine never share a GPU.
# Exit 1 with one line on stderr when there is nothing to advertise (no nvidia-smi, too few GPUs).
# settings from the environment (the image: docker/spark/entrypoint.sh sets them)
ADDRESSES="${HYPERSPARK_GPU_ADDRESSES:-}"
PER_WORKER="${HYPERSPARK_GPUS_PER_WORKER:-0}"
WORKER="${HYPERSPARK_GPU_WORKER:-1}"
fail() { echo "hyperspark gpu discovery: $*" >&2; exit 1; }
if [ -z "$ADDRESSES" ]; then
  command -v nvidia-smi >/dev/null 2>&1 \
    || fail "nvidia-smi not found on PATH (no NVIDIA driver here?); to fake GPUs give fixed addresses (up --gpu-addresses 0,1)"
  out="$(nvidia-smi --query-gpu=index --format=csv,noheader)" || fail "nvidia-smi --query-gpu=index failed"
  ADDRESSES="$(printf '%s\n' "$out" | tr -d ' \r' | grep -v '^$' | paste -sd, -)"
  [ -n "$ADDRESSES" ] || fail "nvidia-smi lists no GPU"
  if [ "$PER_WORKER" -gt 0 ]; then
    count="$(printf '%s\n' "$ADDRESSES" | tr ',' '\n' | grep -c .)"
    first=$(( (WORKER - 1) * PER_WORKER + 1 ))
    last=$(( WORKER * PER_WORKER ))
    [ "$last" -le "$count" ] \
      || fail "worker $WORKER takes GPUs $first-$last of nvidia-smi's list ($PER_WORKER per worker) but it lists $count: $ADDRESSES"
    ADDRESSES="$(printf '%s\n' "$ADDRESSES" | cut -d, -f"$first-$last")"
  fi
fi
printf '{"name": "gpu", "addresses": ["%s"]}\n' "$(printf '%s' "$ADDRESSES" | sed 's/,/", "/g')"
