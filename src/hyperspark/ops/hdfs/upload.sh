# hyperspark: put a file into HDFS from inside a NameNode container or pod.
# Variables (set by hyperspark.ops.hdfs.upload): DEST FORCE REPL SIZE TMP, and LOCAL_FILE when the
# file is already in the container (else SIZE bytes are read from stdin).
# Temporary name, rename, then the sha256 of what HDFS stores is printed for the caller to compare.
set -u
cleanup() {
  if [ -n "${LOCAL_FILE:-}" ]; then rm -rf "$(dirname "$LOCAL_FILE")"; fi
  hdfs dfs -rm -f -skipTrash "$TMP" >/dev/null 2>&1 || true
}
trap cleanup EXIT
if [ "$FORCE" != 1 ] && hdfs dfs -test -e "$DEST" 2>/dev/null; then
  if [ -z "${LOCAL_FILE:-}" ]; then head -c "$SIZE" >/dev/null; fi
  echo "HYPERSPARK_EXISTS"; exit 3
fi
hdfs dfs -mkdir -p "$(dirname "$DEST")" || exit 1
if [ -n "${LOCAL_FILE:-}" ]; then
  hdfs dfs -D dfs.replication="$REPL" -put -f "$LOCAL_FILE" "$TMP" || exit 1
else
  head -c "$SIZE" | hdfs dfs -D dfs.replication="$REPL" -put -f - "$TMP" || exit 1
fi
if [ "$FORCE" = 1 ]; then hdfs dfs -rm -f -skipTrash "$DEST" >/dev/null 2>&1 || true; fi
hdfs dfs -mv "$TMP" "$DEST" || exit 1
echo "HYPERSPARK_SHA256 $(hdfs dfs -cat "$DEST" | sha256sum | cut -d' ' -f1)"
