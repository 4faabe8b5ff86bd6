#!/usr/bin/env bash
# Stop what .ci/provision-docker.sh started: first the containers of our compose projects (label
# com.docker.compose.project matching hyperspark*), then dockerd by the pid recorded in its pid file.
# Never kills by name. Safe to run when nothing is running.
#
#   HS_DOCKERD_PIDFILE  (default /var/run/hyperspark-dockerd.pid)
#   HS_KEEP_VOLUMES=1   keep the volumes of our compose projects (default: they are removed too)
set -uo pipefail

PIDFILE="${HS_DOCKERD_PIDFILE:-/var/run/hyperspark-dockerd.pid}"
log() { printf '[stop-docker] %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  projects="$(docker ps -a --format '{{.Label "com.docker.compose.project"}}' | grep '^hyperspark' | sort -u)"
  for p in $projects; do
    ids="$(docker ps -aq --filter "label=com.docker.compose.project=$p")"
    log "removing containers of compose project $p"
    # shellcheck disable=SC2086
    [ -n "$ids" ] && docker rm -f $ids >/dev/null
    docker network ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker network rm >/dev/null
    if [ "${HS_KEEP_VOLUMES:-0}" != 1 ]; then
      docker volume ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker volume rm >/dev/null
    fi
  done
fi

if [ ! -f "$PIDFILE" ]; then log "no pid file $PIDFILE: dockerd was not started by us"; exit 0; fi
pid="$(cat "$PIDFILE")"
if ! kill -0 "$pid" 2>/dev/null; then log "dockerd pid $pid already gone"; rm -f "$PIDFILE"; exit 0; fi
log "stopping dockerd pid $pid"
kill -TERM "$pid"
for _ in $(seq 1 30); do
  kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; log "dockerd stopped"; exit 0; }
  sleep 1
done
log "dockerd pid $pid ignored TERM for 30 s: KILL"
kill -KILL "$pid" 2>/dev/null
rm -f "$PIDFILE"
