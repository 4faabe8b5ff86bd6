#!/usr/bin/env bash
# HyperSpark HDFS entrypoint, on top of apache/hadoop:3.4.x (or the local stand-in of that image).
#
#   hyperspark-hadoop namenode | datanode | health namenode|datanode | <any command>
#
# What it adds to the plain image:
#   * configuration written from environment variables (below) into $HADOOP_CONF_DIR;
#   * the NameNode is formatted ONCE, with a pinned cluster id; a name dir that already holds data
#     is never reformatted (a different cluster id or a foreign non-empty dir stops start-up);
#   * DataNodes wait for the NameNode's RPC port before starting (no start-up races);
#   * scaled DataNodes share one named volume: each claims its own slot dir (dn-1, dn-2, ...) with
#     a lock held for its lifetime, so data survives `down`/`up` and no two DataNodes share a dir;
#   * permissions are ON: the NameNode's user (hadoop) is the HDFS superuser, and beside the
#     NameNode a small init (WebHDFS on loopback, as the superuser) creates the directories the
#     service user needs (HDFS_INIT_DIRS: Spark's event logs, runs, data) once safe mode is off.
#     The NameNode reports healthy only after that init has completed once on its name dir.
#
# Environment (defaults in brackets):
#   HDFS_NAMENODE_HOST [namenode]   HDFS_NAMENODE_RPC_PORT [8020]   HDFS_NAMENODE_HTTP_PORT [9870]
#   HDFS_CLUSTER_ID [CID-hyperspark]  pinned cluster id used by the one and only format
#   HDFS_REPLICATION [1]            default replication; keep it <= the number of DataNodes
#   HDFS_PERMISSIONS_ENABLED [true]   permission checks on (owner/group/mode on every path)
#   HDFS_SERVICE_USER [spark]       the user Spark runs as (HADOOP_USER_NAME of the Spark image)
#   HDFS_INIT_DIRS                  PATH:OWNER:MODE entries created at start (space separated), default
#                                   /spark-events:SVC:1777 /hyperspark:SVC:755 /user/SVC:SVC:755
#                                   /data:SVC:755 /bench:SVC:755 /tmp:hadoop:1777  (SVC = service user)
#   HDFS_NAME_DIR [/data/namenode]  HDFS_DATA_ROOT [/data/datanode]  HDFS_DATANODE_SLOTS [64]
#   HDFS_WAIT_TIMEOUT [180]         seconds a DataNode waits for the NameNode
#   HADOOP_HEAPSIZE_MAX             JVM heap (e.g. 512m)
#   CORE-SITE.XML_<key>=<value>, HDFS-SITE.XML_<key>=<value>  extra properties, the same
#                                   convention as the apache/hadoop image
set -euo pipefail

NN_HOST="${HDFS_NAMENODE_HOST:-namenode}"
NN_RPC="${HDFS_NAMENODE_RPC_PORT:-8020}"
NN_HTTP="${HDFS_NAMENODE_HTTP_PORT:-9870}"
CLUSTER_ID="${HDFS_CLUSTER_ID:-CID-hyperspark}"
NAME_DIR="${HDFS_NAME_DIR:-/data/namenode}"
DATA_ROOT="${HDFS_DATA_ROOT:-/data/datanode}"
CONF_DIR="${HYPERSPARK_HADOOP_CONF_DIR:-/opt/hyperspark/hadoop-conf}"
DN_HTTP=9864
SVC_USER="${HDFS_SERVICE_USER:-spark}"
INIT_DIRS="${HDFS_INIT_DIRS:-/spark-events:$SVC_USER:1777 /hyperspark:$SVC_USER:755 /user/$SVC_USER:$SVC_USER:755 /data:$SVC_USER:755 /bench:$SVC_USER:755 /tmp:hadoop:1777}"
INIT_MARKER="$NAME_DIR/hyperspark-init.done"

log() { echo "hyperspark-hadoop: $*" >&2; }
die() { echo "hyperspark-hadoop: error: $*" >&2; exit 64; }

xml_escape() { local s="$1"; s="${s//&/&amp;}"; s="${s//</&lt;}"; s="${s//>/&gt;}"; printf '%s' "$s"; }

# write_site FILE PREFIX key=value...: the given pairs, then every PREFIX<key>=<value> env var.
write_site() {
  local file="$1" prefix="$2" tmp kv; shift 2
  tmp="$(mktemp "$CONF_DIR/.site.XXXXXX")"
  {
    echo '<?xml version="1.0"?>'
    echo "<!-- written by hyperspark-hadoop from the environment; edits are overwritten -->"
    echo '<configuration>'
    for kv in "$@"; do
      printf '  <property><name>%s</name><value>%s</value></property>\n' \
        "$(xml_escape "${kv%%=*}")" "$(xml_escape "${kv#*=}")"
    done
    # env var names like CORE-SITE.XML_fs.trash.interval are not shell variables: read `env -0`
    while IFS= read -r -d '' kv; do
      case "$kv" in
        "$prefix"*) kv="${kv#"$prefix"}"
                    printf '  <property><name>%s</name><value>%s</value></property>\n' \
                      "$(xml_escape "${kv%%=*}")" "$(xml_escape "${kv#*=}")" ;;
      esac
    done < <(env -0)
    echo '</configuration>'
  } >"$tmp"
  mv -f "$tmp" "$CONF_DIR/$file"
}

# write_conf [key=value...]: the extra pairs go into hdfs-site.xml (before the env overrides).
write_conf() {
  mkdir -p "$CONF_DIR"
  # keep the image's log4j and env files; our XML files replace the site files
  if [ -d "${HADOOP_HOME:-/opt/hadoop}/etc/hadoop" ]; then
    cp -n "${HADOOP_HOME:-/opt/hadoop}"/etc/hadoop/*.properties "$CONF_DIR/" 2>/dev/null || true
  fi
  write_site core-site.xml "CORE-SITE.XML_" \
    "fs.defaultFS=hdfs://$NN_HOST:$NN_RPC"
  write_site hdfs-site.xml "HDFS-SITE.XML_" \
    "dfs.namenode.name.dir=file://$NAME_DIR" \
    "dfs.namenode.rpc-address=$NN_HOST:$NN_RPC" \
    "dfs.namenode.rpc-bind-host=0.0.0.0" \
    "dfs.namenode.http-address=0.0.0.0:$NN_HTTP" \
    "dfs.namenode.datanode.registration.ip-hostname-check=false" \
    "dfs.namenode.safemode.extension=0" \
    "dfs.namenode.heartbeat.recheck-interval=15000" \
    "dfs.heartbeat.interval=2" \
    "dfs.replication=${HDFS_REPLICATION:-1}" \
    "dfs.namenode.replication.min=1" \
    "dfs.permissions.enabled=${HDFS_PERMISSIONS_ENABLED:-true}" \
    "dfs.permissions.superusergroup=supergroup" \
    "dfs.webhdfs.enabled=true" \
    "dfs.datanode.address=0.0.0.0:9866" \
    "dfs.datanode.http.address=0.0.0.0:$DN_HTTP" \
    "dfs.datanode.ipc.address=0.0.0.0:9867" \
    "dfs.client.use.datanode.hostname=false" \
    "$@"
  export HADOOP_CONF_DIR="$CONF_DIR"
}

# GET http://127.0.0.1:PORT/PATH with bash only (the images need not carry curl).
http_get() {
  local port="$1" path="$2"
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3
  timeout 5 cat <&3
  exec 3<&-
}

# http_put PORT PATH: the status line of an HTTP PUT with an empty body (WebHDFS operations).
http_put() {
  local port="$1" path="$2"
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'PUT %s HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n' "$path" >&3
  timeout 60 head -n 1 <&3
  exec 3<&-
}

# webhdfs PATH OP [QUERY]: PUT as the superuser, retried until the NameNode says 200 (its WebHDFS
# servlet starts after JMX answers) or the init deadline passes.
webhdfs() {
  local status=""
  while :; do
    status="$(http_put "$NN_HTTP" "/webhdfs/v1$1?op=$2&user.name=$(id -un)${3:+&$3}" 2>/dev/null || true)"
    case "$status" in *" 200 "*) return 0 ;; esac
    [ "$SECONDS" -lt "$INIT_DEADLINE" ] || { log "init: $2 $1: ${status:-no answer}"; return 1; }
    sleep 2
  done
}

# Beside the NameNode (background): wait until it is out of safe mode, then create HDFS_INIT_DIRS
# with their owners and modes (idempotent; runs at every start), then mark the name dir as done.
init_dirs() {
  local entry path owner mode
  INIT_DEADLINE=$((SECONDS + ${HDFS_INIT_TIMEOUT:-900}))
  until http_get "$NN_HTTP" '/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo' 2>/dev/null \
        | grep -q '"Safemode" *: *""'; do
    [ "$SECONDS" -lt "$INIT_DEADLINE" ] || { log "init: NameNode still in safe mode after ${HDFS_INIT_TIMEOUT:-900}s"; return 1; }
    sleep 1
  done
  for entry in $INIT_DIRS; do
    IFS=: read -r path owner mode <<<"$entry"
    webhdfs "$path" MKDIRS && webhdfs "$path" SETOWNER "owner=$owner&group=$owner" \
      && webhdfs "$path" SETPERMISSION "permission=$mode" || return 1
  done
  date -u +%FT%TZ >"$INIT_MARKER"
  log "init: done ($INIT_DIRS)"
}

version_cluster_id() { sed -n 's/^clusterID=//p' "$1" 2>/dev/null; }

format_once() {
  local version="$NAME_DIR/current/VERSION" have
  mkdir -p "$NAME_DIR"
  if [ -f "$version" ]; then
    have="$(version_cluster_id "$version")"
    [ "$have" = "$CLUSTER_ID" ] || die "name dir $NAME_DIR belongs to cluster '$have', not HDFS_CLUSTER_ID='$CLUSTER_ID'; refusing to start (and never reformatting it): set HDFS_CLUSTER_ID=$have (HS_HDFS_CLUSTER_ID in compose) or use a new volume"
    log "name dir $NAME_DIR already formatted (clusterID=$have): not formatting"
    return 0
  fi
  if [ -n "$(ls -A "$NAME_DIR" | grep -v '^lost+found$' || true)" ]; then
    die "name dir $NAME_DIR holds files but no current/VERSION; refusing to format over them"
  fi
  log "formatting a new name dir $NAME_DIR with clusterID=$CLUSTER_ID"
  hdfs namenode -format -nonInteractive -clusterid "$CLUSTER_ID" >"/tmp/format.log" 2>&1 \
    || { cat /tmp/format.log >&2; die "format failed"; }
  [ "$(version_cluster_id "$version")" = "$CLUSTER_ID" ] || die "format did not write clusterID=$CLUSTER_ID"
}

wait_for_namenode() {
  local deadline=$((SECONDS + ${HDFS_WAIT_TIMEOUT:-180}))
  until (exec 3<>"/dev/tcp/$NN_HOST/$NN_RPC") 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "NameNode $NN_HOST:$NN_RPC did not answer within ${HDFS_WAIT_TIMEOUT:-180}s"
    sleep 1
  done
  log "NameNode $NN_HOST:$NN_RPC answers"
}

# Claim the first free slot dir under DATA_ROOT; the flock on fd 9 is inherited by the DataNode JVM
# (exec keeps the fd), so the slot stays ours exactly as long as the DataNode lives.
claim_slot() {
  local i dir have
  mkdir -p "$DATA_ROOT"
  for i in $(seq 1 "${HDFS_DATANODE_SLOTS:-64}"); do
    dir="$DATA_ROOT/dn-$i"
    mkdir -p "$dir"
    exec 9>"$dir/.hyperspark-claim"
    if flock -n 9; then
      if [ -f "$dir/current/VERSION" ]; then
        have="$(version_cluster_id "$dir/current/VERSION")"
        [ "$have" = "$CLUSTER_ID" ] || die "data dir $dir belongs to cluster '$have', not '$CLUSTER_ID'; refusing to start"
      fi
      DATA_DIR="$dir"
      log "DataNode claimed $dir"
      return 0
    fi
    exec 9>&-
  done
  die "all ${HDFS_DATANODE_SLOTS:-64} DataNode slots under $DATA_ROOT are taken"
}

health() {
  case "${1:-}" in
    namenode)
      [ -f "$INIT_MARKER" ] || return 1
      http_get "$NN_HTTP" '/jmx?qry=Hadoop:service=NameNode,name=NameNodeStatus' | grep -q '"State" *: *"active"' ;;
    datanode)
      # registered = the DataNode knows its block pool (it got one from the NameNode)
      http_get "$DN_HTTP" '/jmx?qry=Hadoop:service=DataNode,name=DataNodeInfo' | grep -q 'BP-' ;;
    *) die "health needs namenode or datanode" ;;
  esac
}

main() {
  local role="${1:-}"
  case "$role" in
    namenode)
      write_conf
      format_once
      # The init outlives this shell as the NameNode's child; its output goes to the log.
      (init_dirs || log "init: FAILED (the NameNode stays unhealthy until it succeeds once)") &
      exec hdfs namenode
      ;;
    datanode)
      claim_slot
      write_conf "dfs.datanode.data.dir=file://$DATA_DIR"
      wait_for_namenode
      exec hdfs datanode
      ;;
    health)
      shift; health "$@" ;;
    "")
      die "usage: hyperspark-hadoop namenode | datanode | health namenode|datanode | COMMAND" ;;
    *)
      write_conf
      exec "$@" ;;
  esac
}

main "$@"
