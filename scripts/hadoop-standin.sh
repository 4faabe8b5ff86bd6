#!/usr/bin/env bash
# hadoop-standin.sh DEST
#
# Build a Hadoop-distribution-like layout at DEST from REAL Apache Hadoop 2.7.4
# server jars, for machines that cannot download a Hadoop tarball or pull the
# apache/hadoop image (no Maven Central, no Docker Hub), but can reach PyPI and
# Debian's mirror:
#
#   * pyspark 3.0.2's source package on PyPI carries hadoop-{common,hdfs}-2.7.4
#     and their dependencies under deps/jars/ (the current pyspark wheels only
#     carry the client-side hadoop-client-api/runtime, no NameNode/DataNode);
#   * WebHDFS needs Jersey 1, which Debian packages (libjersey1-*-java).
#
# The result looks like a Hadoop tarball / the apache/hadoop image:
#   DEST/bin/hdfs, DEST/bin/hadoop           launchers (namenode, datanode, dfs, dfsadmin, getconf, ...)
#   DEST/etc/hadoop/                         default config (HADOOP_CONF_DIR overrides it)
#   DEST/share/hadoop/common/{*.jar,lib/}    hadoop-common + dependencies + Jersey 1
#   DEST/share/hadoop/hdfs/{*.jar,lib/,webapps/}
#
# Idempotent and cached: a complete DEST is left alone; a build goes to a
# temporary sibling directory that is renamed into place only when verified.
# Needs: bash, python3 with pip, apt-get + dpkg-deb (Debian/Ubuntu), network
# access to PyPI and the Debian mirror. No Java is needed to build.
# Runs on a host or inside `docker build` (no host-specific paths).
#
# Environment:
#   PYTHON                    python interpreter with pip (default: python3)
#   HYPERSPARK_PYSPARK_SDIST  an already downloaded pyspark-3.0.2.tar.gz (skips pip download)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi  # started as `sh script`
set -euo pipefail

HADOOP_VERSION=2.7.4
PYSPARK_SDIST_VERSION=3.0.2
JERSEY_DEBS="libjsr311-api-java libjersey1-core-java libjersey1-server-java libjersey1-servlet-java"
MARKER=.hyperspark-standin
# Bump when the layout or the launchers change: older caches are then rebuilt.
# (src/hyperspark/ops/hadoop_dist.py checks the same value.)
LAYOUT=2
PYTHON=${PYTHON:-python3}

DEST=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/hyperspark/hadoop-$HADOOP_VERSION}
DEST=${DEST%/}

log() { printf 'hadoop-standin: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_complete() {
    [ -f "$1/$MARKER" ] && grep -qx "layout=$LAYOUT" "$1/$MARKER" && [ -x "$1/bin/hdfs" ] && [ -f "$1/share/hadoop/hdfs/hadoop-hdfs-$HADOOP_VERSION.jar" ]
}

if is_complete "$DEST"; then
    log "already complete: $DEST"
    printf '%s\n' "$DEST"
    exit 0
fi

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (needed for pip download and unpacking)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found (Jersey 1 comes from Debian packages)"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (Jersey 1 comes from Debian packages)"

mkdir -p "$(dirname "$DEST")"
# A per-process temporary name so two concurrent builds cannot trample each other.
TMP="$DEST.tmp.$$"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
rm -rf "$TMP"
mkdir -p "$TMP/.work"
WORK="$TMP/.work"

# --- 1. Hadoop 2.7.4 jars from the pyspark 3.0.2 source package -------------
if [ -n "${HYPERSPARK_PYSPARK_SDIST:-}" ]; then
    [ -f "$HYPERSPARK_PYSPARK_SDIST" ] || die "HYPERSPARK_PYSPARK_SDIST=$HYPERSPARK_PYSPARK_SDIST does not exist"
    SDIST=$HYPERSPARK_PYSPARK_SDIST
else
    log "downloading pyspark==$PYSPARK_SDIST_VERSION source package (about 205 MB) from PyPI"
    "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
        "pyspark==$PYSPARK_SDIST_VERSION" -d "$WORK/sdist" >&2 \
        || die "pip download pyspark==$PYSPARK_SDIST_VERSION failed (is PyPI reachable?)"
    SDIST=$(ls "$WORK"/sdist/pyspark-"$PYSPARK_SDIST_VERSION".tar.gz 2>/dev/null | head -n 1)
    [ -n "$SDIST" ] || die "pip download did not produce pyspark-$PYSPARK_SDIST_VERSION.tar.gz"
fi

log "unpacking the Hadoop server jars"
mkdir -p "$TMP/share/hadoop/common/lib" "$TMP/share/hadoop/hdfs/lib"
# The jar set measured to run NameNode + DataNode + WebHDFS on Java 17
# (docs: /work/shared/notes/offline-hdfs.md). Spark's Jersey 2 / hk2 jars are
# deliberately left out: Hadoop 2.7's WebHDFS is written against Jersey 1.
"$PYTHON" - "$SDIST" "$TMP/share/hadoop" "$HADOOP_VERSION" <<'PY'
import re, shutil, sys, tarfile
from pathlib import Path

sdist, share, hv = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
wanted = [
    "hadoop-annotations", "hadoop-auth", "hadoop-common", "hadoop-hdfs",
    "guava", "commons-cli", "commons-codec", "commons-io", "commons-lang",
    "commons-logging", "commons-collections", "commons-configuration",
    "commons-math3", "commons-net", "commons-compress",
    "log4j", "slf4j-api", "slf4j-log4j12", "protobuf-java", "htrace-core",
    "jetty", "jetty-util", "jetty-sslengine", "javax.servlet-api", "xmlenc",
    "jackson-core-asl", "jackson-mapper-asl", "netty-all", "xercesImpl",
    "leveldbjni-all", "httpclient", "httpcore",
    "jakarta.xml.bind-api", "jaxb-runtime", "jakarta.activation-api",
    "istack-commons-runtime",
]
# artifact name = jar name minus "-<version>.jar"; versions start with a digit
name_re = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[^/]*)\.jar$")
found: dict[str, str] = {}
with tarfile.open(sdist, "r:gz") as tar:
    for member in tar:
        parts = member.name.split("/")
        if len(parts) < 3 or parts[-3:-1] != ["deps", "jars"] or not member.isfile():
            continue
        m = name_re.match(parts[-1])
        if not m or m.group("artifact") not in wanted:
            continue
        artifact = m.group("artifact")
        if artifact == "hadoop-hdfs":
            target = share / "hdfs" / parts[-1]
        elif artifact == "hadoop-common":
            target = share / "common" / parts[-1]
        else:
            target = share / "common" / "lib" / parts[-1]
        src = tar.extractfile(member)
        with open(target, "wb") as out:
            shutil.copyfileobj(src, out)
        found[artifact] = m.group("version")
missing = sorted(set(wanted) - set(found))
if missing:
    sys.exit(f"hadoop-standin: error: {sdist} lacks jars: {', '.join(missing)}")
for a in ("hadoop-common", "hadoop-hdfs"):
    if found[a] != hv:
        sys.exit(f"hadoop-standin: error: expected {a}-{hv}, found {found[a]}")
print(f"hadoop-standin: {len(found)} jars unpacked", file=sys.stderr)
PY

# --- 2. Jersey 1 from Debian (WebHDFS) ---------------------------------------
log "fetching Jersey 1 from Debian ($JERSEY_DEBS)"
mkdir -p "$WORK/deb" "$WORK/debx"
# shellcheck disable=SC2086  # word splitting of the package list is intended
if ! (cd "$WORK/deb" && apt-get download $JERSEY_DEBS >/dev/null 2>&1); then
    log "apt-get download failed; running apt-get update and retrying"
    apt-get update >/dev/null 2>&1 || die "apt-get update failed (is the Debian mirror reachable? are you root?)"
    # shellcheck disable=SC2086
    (cd "$WORK/deb" && apt-get download $JERSEY_DEBS >/dev/null) \
        || die "apt-get download $JERSEY_DEBS failed"
fi
for deb in "$WORK"/deb/*.deb; do
    dpkg-deb -x "$deb" "$WORK/debx"
done
copied=0
for jar in "$WORK"/debx/usr/share/java/*.jar; do
    # Debian ships each jar once as a file plus version-named symlinks: take the files.
    [ -f "$jar" ] && [ ! -L "$jar" ] || continue
    cp "$jar" "$TMP/share/hadoop/common/lib/"
    copied=$((copied + 1))
done
[ "$copied" -ge 4 ] || die "expected 4 Jersey 1 jars from Debian, got $copied"

# --- 3. distribution layout ---------------------------------------------------
# HttpServer2 looks its web apps up on the classpath (webapps/<name>); empty
# folders suffice, and share/hadoop/hdfs itself is a classpath entry as in Hadoop.
mkdir -p "$TMP/share/hadoop/hdfs/webapps/hdfs" "$TMP/share/hadoop/hdfs/webapps/datanode" \
    "$TMP/share/hadoop/hdfs/webapps/secondary" "$TMP/share/hadoop/hdfs/webapps/journal" \
    "$TMP/etc/hadoop" "$TMP/bin"

cat >"$TMP/etc/hadoop/core-site.xml" <<'XML'
<?xml version="1.0"?>
<!-- Site-specific overrides go here (or point HADOOP_CONF_DIR elsewhere). -->
<configuration>
</configuration>
XML
cp "$TMP/etc/hadoop/core-site.xml" "$TMP/etc/hadoop/hdfs-site.xml"

cat >"$TMP/etc/hadoop/log4j.properties" <<'PROPS'
# Console logging; daemons' stderr is redirected to a file by whoever starts them.
hadoop.root.logger=INFO,console
hadoop.log.dir=.
hadoop.log.file=hadoop.log
hadoop.security.logger=INFO,NullAppender
hdfs.audit.logger=INFO,NullAppender
log4j.rootLogger=${hadoop.root.logger}
log4j.threshold=ALL
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
log4j.appender.NullAppender=org.apache.log4j.varia.NullAppender
log4j.category.SecurityLogger=${hadoop.security.logger}
log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=${hdfs.audit.logger}
log4j.additivity.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=false
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
PROPS

cat >"$TMP/etc/hadoop/hadoop-env.sh" <<'ENV'
# Read by nothing in the stand-in: set JAVA_HOME, HADOOP_CONF_DIR, HADOOP_HEAPSIZE_MAX,
# HADOOP_OPTS, HDFS_NAMENODE_OPTS, HDFS_DATANODE_OPTS in the environment instead.
ENV

cat >"$TMP/bin/hdfs" <<'LAUNCHER'
#!/bin/sh
# hdfs: launcher of the HyperSpark Hadoop stand-in (real Apache Hadoop 2.7.4 classes).
# Same verbs and environment as Hadoop's own bin/hdfs for what HyperSpark uses;
# the JVM runs in the foreground (exec), so the caller's pid IS the JVM's pid.
set -eu

usage() {
    cat <<'USAGE'
Usage: hdfs [--config CONFDIR] COMMAND [ARGS]
  namenode [-format [-nonInteractive] [-clusterId ID]]   run the NameNode
  datanode                                               run a DataNode
  secondarynamenode                                      run the SecondaryNameNode
  dfs ARGS                                               file system shell (FsShell)
  dfsadmin ARGS                                          DFS admin client
  getconf ARGS                                           read configuration values
  fsck ARGS                                              file system check
  version                                                print the version
  classpath                                              print the class path
Environment: JAVA_HOME, HADOOP_CONF_DIR, HADOOP_HEAPSIZE_MAX (e.g. 512m) or HADOOP_HEAPSIZE (MB),
HADOOP_OPTS, HDFS_NAMENODE_OPTS, HDFS_DATANODE_OPTS, HADOOP_CLIENT_OPTS, HADOOP_LOG_DIR, HADOOP_ROOT_LOGGER.
USAGE
}

bin=$(cd -P -- "$(dirname -- "$0")" && pwd -P)
HADOOP_HOME=$(cd -P -- "$bin/.." && pwd -P)
export HADOOP_HOME

if [ "${1:-}" = "--config" ]; then
    [ $# -ge 2 ] || { echo "hdfs: --config needs a directory" >&2; exit 1; }
    HADOOP_CONF_DIR=$2
    shift 2
fi
HADOOP_CONF_DIR=${HADOOP_CONF_DIR:-$HADOOP_HOME/etc/hadoop}
if [ ! -d "$HADOOP_CONF_DIR" ]; then
    echo "hdfs: HADOOP_CONF_DIR $HADOOP_CONF_DIR is not a directory" >&2
    exit 1
fi
export HADOOP_CONF_DIR

share=$HADOOP_HOME/share/hadoop
CP="$HADOOP_CONF_DIR:$share/common/*:$share/common/lib/*:$share/hdfs:$share/hdfs/*:$share/hdfs/lib/*"

cmd=${1:-}
[ $# -gt 0 ] && shift
role_opts=${HADOOP_CLIENT_OPTS:-}
case $cmd in
    namenode) class=org.apache.hadoop.hdfs.server.namenode.NameNode
              role_opts=${HDFS_NAMENODE_OPTS:-${HADOOP_NAMENODE_OPTS:-}} ;;
    datanode) class=org.apache.hadoop.hdfs.server.datanode.DataNode
              role_opts=${HDFS_DATANODE_OPTS:-${HADOOP_DATANODE_OPTS:-}} ;;
    secondarynamenode) class=org.apache.hadoop.hdfs.server.namenode.SecondaryNameNode
              role_opts=${HDFS_SECONDARYNAMENODE_OPTS:-${HADOOP_SECONDARYNAMENODE_OPTS:-}} ;;
    dfs)      class=org.apache.hadoop.fs.FsShell ;;
    dfsadmin) class=org.apache.hadoop.hdfs.tools.DFSAdmin ;;
    getconf)  class=org.apache.hadoop.hdfs.tools.GetConf ;;
    fsck)     class=org.apache.hadoop.hdfs.tools.DFSck ;;
    version)  class=org.apache.hadoop.util.VersionInfo ;;
    classpath) echo "$CP"; exit 0 ;;
    -h|--help|help) usage; exit 0 ;;
    "") usage >&2; exit 1 ;;
    *) echo "hdfs: unknown command '$cmd'" >&2; usage >&2; exit 1 ;;
esac

if [ -n "${JAVA_HOME:-}" ]; then
    JAVA=$JAVA_HOME/bin/java
else
    JAVA=$(command -v java || true)
fi
if [ -z "$JAVA" ] || [ ! -x "$JAVA" ]; then
    echo "hdfs: no java found: set JAVA_HOME or put java on PATH" >&2
    exit 1
fi

heap=${HADOOP_HEAPSIZE_MAX:-${HADOOP_HEAPSIZE:-}}
case $heap in
    "") xmx="" ;;
    *[!0-9]*) xmx="-Xmx$heap" ;;   # 512m, 1g
    *) xmx="-Xmx${heap}m" ;;        # Hadoop 2 style: megabytes
esac

ident=${HADOOP_IDENT_STRING:-${USER:-$(id -un 2>/dev/null || echo hadoop)}}
# HADOOP_OPTS and the role options are word-split on purpose (several -D flags).
# shellcheck disable=SC2086
exec "$JAVA" $xmx "-Dproc_$cmd" -Djava.net.preferIPv4Stack=true \
    "-Dhadoop.home.dir=$HADOOP_HOME" "-Dhadoop.log.dir=${HADOOP_LOG_DIR:-$HADOOP_HOME/logs}" \
    "-Dhadoop.log.file=${HADOOP_LOGFILE:-hadoop.log}" "-Dhadoop.id.str=$ident" \
    "-Dhadoop.root.logger=${HADOOP_ROOT_LOGGER:-INFO,console}" -Dhadoop.policy.file=hadoop-policy.xml \
    ${HADOOP_OPTS:-} $role_opts -cp "$CP" "$class" "$@"
LAUNCHER

cat >"$TMP/bin/hadoop" <<'LAUNCHER'
#!/bin/sh
# hadoop: the few `hadoop` verbs the stand-in supports, delegated to bin/hdfs.
set -eu
bin=$(cd -P -- "$(dirname -- "$0")" && pwd -P)
if [ "${1:-}" = "--config" ]; then
    [ $# -ge 2 ] || { echo "hadoop: --config needs a directory" >&2; exit 1; }
    HADOOP_CONF_DIR=$2
    export HADOOP_CONF_DIR
    shift 2
fi
case ${1:-} in
    fs) shift; exec "$bin/hdfs" dfs "$@" ;;
    version|classpath) exec "$bin/hdfs" "$@" ;;
    *) echo "hadoop: the stand-in supports only: fs, version, classpath (see bin/hdfs)" >&2; exit 1 ;;
esac
LAUNCHER
chmod 0755 "$TMP/bin/hdfs" "$TMP/bin/hadoop"

# --- 4. verify, mark, publish ---------------------------------------------
"$PYTHON" - "$TMP/share/hadoop" <<'PY'
import sys, zipfile
from pathlib import Path

share = Path(sys.argv[1])
need = {
    "org/apache/hadoop/hdfs/server/namenode/NameNode.class",
    "org/apache/hadoop/hdfs/server/datanode/DataNode.class",
    "org/apache/hadoop/hdfs/tools/DFSAdmin.class",
    "org/apache/hadoop/hdfs/tools/GetConf.class",
    "org/apache/hadoop/fs/FsShell.class",
    "com/sun/jersey/spi/container/servlet/ServletContainer.class",
    "javax/ws/rs/Path.class",
    "org/mortbay/jetty/security/SslSelectChannelConnector.class",
}
for jar in share.glob("**/*.jar"):
    with zipfile.ZipFile(jar) as z:
        need -= set(z.namelist())
if need:
    sys.exit("hadoop-standin: error: classes missing after build: " + ", ".join(sorted(need)))
PY

rm -rf "$WORK"
cat >"$TMP/$MARKER" <<EOF
layout=$LAYOUT
Apache Hadoop $HADOOP_VERSION HDFS (server jars from the pyspark $PYSPARK_SDIST_VERSION source package on PyPI,
Jersey 1 from Debian) laid out like a Hadoop distribution by HyperSpark's scripts/hadoop-standin.sh.
EOF

if [ -e "$DEST" ]; then
    # An incomplete leftover or an older layout: replace it.
    is_complete "$DEST" || rm -rf "$DEST"
fi
if ! mv -T "$TMP" "$DEST" 2>/dev/null; then
    # Another build won the race; theirs is as good as ours.
    is_complete "$DEST" || die "could not move $TMP to $DEST"
fi
log "built $DEST"
printf '%s\n' "$DEST"
