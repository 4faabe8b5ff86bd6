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
#     a lock held for its lifetime, so data survives `down`/`up` and no two DataNodes share a dir.
#
# Environment (defaults in brackets):
#   HDFS_NAMENODE_HOST [namenode]   HDFS_NAMENODE_RPC_PORT [8020]   HDFS_NAMENODE_HTTP_PORT [9870]
#   HDFS_CLUSTER_ID [CID-hyperspark]  pinned cluster id used by the one and only format
#   HDFS_REPLICATION [1]            default replication; keep it <= the number of DataNodes
#   HDFS_PERMISSIONS_ENABLED [false]  single-tenant cluster: Spark (uid 185) may write anywhere
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
    "dfs.permissions.enabled=${HDFS_PERMISSIONS_ENABLED:-false}" \
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
