#!/usr/bin/env bash
# Entrypoint of the HyperSpark Spark image (runs under tini as uid 185).
#
# SPARK_MODE                        master | worker | history | connect | driver (default driver: runs CMD,
#                                   else sleeps so that `docker exec` can submit from inside the
#                                   network; arguments that start with '-' or name a .py file are
#                                   passed to `spark-submit --master $SPARK_MASTER_URL`)
# SPARK_MASTER_URL                  spark://spark-master:7077 (workers and drivers)
# SPARK_MASTER_HOST                 name the master advertises (default: this container's hostname)
# SPARK_MASTER_PORT / _WEBUI_PORT   7077 / 8080
# SPARK_WORKER_CORES                cores a worker offers (default 1)
# SPARK_WORKER_MEMORY               memory a worker offers (default 1g)
# SPARK_WORKER_WEBUI_PORT           8081
# SPARK_WORKER_DIR                  executors' work dirs (default /opt/hyperspark/work)
# SPARK_WORKER_GPUS                 N | all (default: none): the worker advertises GPUs to Spark
#                                   (spark.worker.resource.gpu.amount + discoveryScript), found by
#                                   /usr/local/bin/hyperspark-gpu-discovery (nvidia-smi; the first N the
#                                   container sees, or all of them); HYPERSPARK_GPU_ADDRESSES=0,1 fixes them
# SPARK_EVENTLOG_DIR                e.g. hdfs:///spark-events: event logs on (spark.eventLog.*), and the
#                                   history server (SPARK_MODE=history) reads the same directory
# SPARK_HISTORY_UI_PORT             18080 (history mode)
# SPARK_CONNECT_GRPC_PORT           15002 (connect mode: the pyspark distribution's Spark Connect server, a
#                                   driver on SPARK_MASTER_URL serving Connect clients on every interface)
# SPARK_RPC_AUTHENTICATION_ENABLED  yes|no (default no); when yes a secret is required:
# SPARK_RPC_AUTHENTICATION_SECRET   the shared secret, or SPARK_RPC_AUTHENTICATION_SECRET_FILE
# SPARK_DEFAULT_PARALLELISM etc.    any SPARK_CONF_<key with dots as __> is written to spark-defaults,
#                                   e.g. SPARK_CONF_spark__executor__memory=2g
# HDFS_URI                          hdfs://namenode:8020 -> spark.hadoop.fs.defaultFS
# HDFS_REPLICATION                  replication of files Spark writes (default 1)
#
# Everything is written to $SPARK_CONF_DIR/spark-defaults.conf (mode 0600: it may hold the secret),
# which the master, worker and spark-submit all read.
set -euo pipefail

die() { echo "hyperspark-entrypoint: error: $*" >&2; exit 64; }

# Bitnami-style *_FILE variants: VAR_FILE=/run/secrets/x sets VAR from the file's content.
file_env() {
  local var="$1" file_var="${1}_FILE"
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then die "set $var or $file_var, not both"; fi
  if [ -n "${!file_var:-}" ]; then
    [ -r "${!file_var}" ] || die "$file_var=${!file_var} is not a readable file (compose: is HS_SPARK_SECRET empty? see .env.example)"
    [ -s "${!file_var}" ] || die "$file_var=${!file_var} is empty (compose: set HS_SPARK_SECRET, see .env.example)"
    export "$var"="$(cat "${!file_var}")"
  fi
}

truthy() { case "${1,,}" in yes|true|1|on) return 0 ;; *) return 1 ;; esac; }

my_ip() { hostname -i | awk '{print $1}'; }

# A GPU worker (SPARK_WORKER_GPUS=N|all): the discovery script runs once here, so no GPU or too few is
# one line and exit 64 now; the worker runs it again at start (Spark's own discovery).
gpu_conf() {
  local n="${SPARK_WORKER_GPUS:-}" script=/usr/local/bin/hyperspark-gpu-discovery found count
  case "$n" in ""|0) return 0 ;; all) export HYPERSPARK_GPUS_PER_WORKER=0 ;;
    *[!0-9]*) die "SPARK_WORKER_GPUS must be a number of GPUs or 'all' (got '$n')" ;;
    *) export HYPERSPARK_GPUS_PER_WORKER="$n" ;; esac
  found="$("$script")" || die "SPARK_WORKER_GPUS=$n but GPU discovery failed (its line is above)"
  count="$(printf '%s' "$found" | python -c 'import json, sys; print(len(json.load(sys.stdin)["addresses"]))')"
  [ "$n" = all ] && n="$count"
  [ "$count" -ge "$n" ] || die "SPARK_WORKER_GPUS=$n but GPU discovery found $count: $found"
  echo "spark.worker.resource.gpu.amount $n"
  echo "spark.worker.resource.gpu.discoveryScript $script"
}

write_conf() {
  local conf="$SPARK_CONF_DIR/spark-defaults.conf" tmp
  mkdir -p "$SPARK_CONF_DIR"
  tmp="$(mktemp "$SPARK_CONF_DIR/.spark-defaults.XXXXXX")"
  chmod 0600 "$tmp"
  {
    echo "# written by hyperspark-entrypoint at $(date -u +%FT%TZ); mode=$SPARK_MODE"
    echo "spark.pyspark.python ${PYSPARK_PYTHON}"
    echo "spark.pyspark.driver.python ${PYSPARK_DRIVER_PYTHON}"
    echo "spark.hadoop.dfs.replication ${HDFS_REPLICATION:-1}"
    echo "spark.hadoop.dfs.client.use.datanode.hostname false"
    # the image has hyperspark.job: Python workers fork with numpy/pandas/scikit-learn already imported
    echo "spark.python.daemon.module hyperspark.job.daemon"
    [ -n "${HDFS_URI:-}" ] && echo "spark.hadoop.fs.defaultFS ${HDFS_URI}"
    [ -n "${SPARK_MASTER_URL:-}" ] && echo "spark.master ${SPARK_MASTER_URL}"
    if truthy "${SPARK_RPC_AUTHENTICATION_ENABLED:-no}"; then
      [ -n "${SPARK_RPC_AUTHENTICATION_SECRET:-}" ] \
        || die "SPARK_RPC_AUTHENTICATION_ENABLED=yes needs SPARK_RPC_AUTHENTICATION_SECRET (or _FILE)"
      echo "spark.authenticate true"
      echo "spark.authenticate.secret ${SPARK_RPC_AUTHENTICATION_SECRET}"
    fi
    if [ -n "${SPARK_EVENTLOG_DIR:-}" ]; then
      echo "spark.eventLog.enabled true"
      echo "spark.eventLog.dir ${SPARK_EVENTLOG_DIR}"
      echo "spark.history.fs.logDirectory ${SPARK_EVENTLOG_DIR}"
    fi
    [ "$SPARK_MODE" = worker ] && gpu_conf
    if [ "$SPARK_MODE" = driver ] || [ "$SPARK_MODE" = connect ]; then
      # executors connect back to the driver: advertise this container's address on the network
      echo "spark.driver.host $(my_ip)"
      echo "spark.driver.bindAddress 0.0.0.0"
    fi
    local name key
    for name in $(compgen -e | grep '^SPARK_CONF_' || true); do
      [ "$name" = SPARK_CONF_DIR ] && continue
      key="${name#SPARK_CONF_}"; key="${key//__/.}"
      echo "$key ${!name}"
    done
  } >"$tmp"
  mv -f "$tmp" "$conf"
}

SPARK_MODE="${SPARK_MODE:-driver}"
file_env SPARK_RPC_AUTHENTICATION_SECRET
write_conf
unset SPARK_RPC_AUTHENTICATION_SECRET  # the conf file carries it; keep it out of `ps e`

case "$SPARK_MODE" in
  master)
    exec spark-class org.apache.spark.deploy.master.Master \
      --host "${SPARK_MASTER_HOST:-$(hostname)}" \
      --port "${SPARK_MASTER_PORT:-7077}" \
      --webui-port "${SPARK_MASTER_WEBUI_PORT:-8080}" "$@"
    ;;
  worker)
    [ -n "${SPARK_MASTER_URL:-}" ] || die "SPARK_MODE=worker needs SPARK_MASTER_URL (spark://host:7077)"
    # A scaled worker has no stable DNS name: advertise its IP so the master and drivers reach it.
    exec spark-class org.apache.spark.deploy.worker.Worker \
      --host "$(my_ip)" \
      --cores "${SPARK_WORKER_CORES:-1}" \
      --memory "${SPARK_WORKER_MEMORY:-1g}" \
      --webui-port "${SPARK_WORKER_WEBUI_PORT:-8081}" \
      --work-dir "${SPARK_WORKER_DIR:-/opt/hyperspark/work}" "$@" "$SPARK_MASTER_URL"
    ;;
  history)
    [ -n "${SPARK_EVENTLOG_DIR:-}" ] || die "SPARK_MODE=history needs SPARK_EVENTLOG_DIR (e.g. hdfs:///spark-events)"
    export SPARK_HISTORY_OPTS="${SPARK_HISTORY_OPTS:-} -Dspark.history.ui.port=${SPARK_HISTORY_UI_PORT:-18080}"
    exec spark-class org.apache.spark.deploy.history.HistoryServer "$@"
    ;;
  connect)
    [ -n "${SPARK_MASTER_URL:-}" ] || die "SPARK_MODE=connect needs SPARK_MASTER_URL (spark://host:7077)"
    # what $SPARK_HOME/sbin/start-connect-server.sh runs, in the foreground (tini is PID 1)
    exec spark-submit --master "$SPARK_MASTER_URL" \
      --class org.apache.spark.sql.connect.service.SparkConnectServer --name "Spark Connect server" \
      --conf "spark.connect.grpc.binding.port=${SPARK_CONNECT_GRPC_PORT:-15002}" "$@"
    ;;
  driver)
    if [ "$#" -eq 0 ]; then exec sleep infinity; fi
    case "$1" in
      -*|*.py)
        [ -n "${SPARK_MASTER_URL:-}" ] || die "spark-submit arguments need SPARK_MASTER_URL"
        exec spark-submit --master "$SPARK_MASTER_URL" "$@" ;;
    esac
    exec "$@"
    ;;
  *)
    die "SPARK_MODE must be master, worker, history, connect or driver (got '$SPARK_MODE')"
    ;;
esac
