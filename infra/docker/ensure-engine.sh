#!/usr/bin/env bash
# Makes sure a Docker Engine answers on the default socket (or DOCKER_HOST).
# When none does and we are root on Debian, installs Debian's docker.io and
# starts dockerd in the background. Safe to run any number of times.
set -euo pipefail
LOG_PREFIX=docker
source "$(dirname "$0")/../lib.sh"

engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if command -v docker >/dev/null && engine_up; then
  log "Docker Engine $(docker version --format '{{.Server.Version}}') is running"
  exit 0
fi
[[ -z ${DOCKER_HOST:-} ]] || die "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST" 2

command -v dockerd >/dev/null || apt_install docker.io
apt_install iptables

logfile=/var/log/pipeline-lib-dockerd.log
if pgrep -x dockerd >/dev/null; then
  log "dockerd is already starting (pid $(pgrep -x dockerd | head -1))"
else
  # A dockerd killed with the machine's previous session leaves its pid file.
  rm -f /var/run/docker.pid
  log "starting dockerd (log: $logfile)"
  nohup dockerd >"$logfile" 2>&1 </dev/null &
  disown || true
fi
if ! wait_for "the Docker API on /var/run/docker.sock" 60 engine_up; then
  tail -n 20 "$logfile" >&2 || true
  die "dockerd did not come up; see $logfile"
fi
log "Docker Engine $(docker version --format '{{.Server.Version}}') is running"
