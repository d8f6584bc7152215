#!/usr/bin/env bash
# A real Registry v2 server (Debian's docker-registry, Distribution 2.8) on
# 127.0.0.1 with htpasswd basic auth, for trying the pipeline locally:
#   infra/registry/local-registry.sh up      start it (idempotent), print how to use it
#   infra/registry/local-registry.sh down    stop it
#   infra/registry/local-registry.sh status
#   infra/registry/local-registry.sh env     print the exports that push here (eval "$(… env)")
# LOCAL_REGISTRY_PORT (default 5000), LOCAL_REGISTRY_USER (default pipeline).
# The password is generated once and kept in $PIPELINE_CACHE/registry/password.
set -euo pipefail
# shellcheck disable=SC2034 # read by log() in lib.sh
LOG_PREFIX=registry
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "$0")/../lib.sh"

port="${LOCAL_REGISTRY_PORT:-5000}"
user="${LOCAL_REGISTRY_USER:-pipeline}"
dir="$PIPELINE_CACHE/registry"
pidfile="$dir/registry.pid"

# lib.sh's pid files: after a reboot, a process that took the old number is not ours.
pid() { pidfile_pid "$pidfile" docker-registry; }
running() { pid >/dev/null; }
stopped() { ! running; }
answers() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/") == 401 ]]; }

# The variables the pipeline reads to push here, as shell to eval.
exports() {
  cat <<EXPORTS
export IMAGE_REPOSITORY=127.0.0.1:$port/visit-counter
export REGISTRY_USERNAME=$user
export REGISTRY_PASSWORD="\$(cat $dir/password)"
EXPORTS
}

usage() {
  echo "registry: http://127.0.0.1:$port (basic auth, user $user)"
  exports | sed 's/^/  /'
}

case "${1:-}" in
  up)
    if running; then log "already running (pid $(pid))"; usage; exit 0; fi
    apt_install docker-registry apache2-utils curl
    mkdir -p "$dir/data"
    [[ -s $dir/password ]] || (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/password")
    htpasswd -Bbn "$user" "$(cat "$dir/password")" >"$dir/htpasswd" 2>/dev/null
    cat >"$dir/config.yml" <<CONFIG
version: 0.1
log: { level: info }
storage:
  filesystem: { rootdirectory: $dir/data }
  delete: { enabled: true }
http:
  addr: 127.0.0.1:$port
auth:
  htpasswd: { realm: pipeline-local, path: $dir/htpasswd }
CONFIG
    log "starting docker-registry on 127.0.0.1:$port (log: $dir/registry.log)"
    nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
    pidfile_write "$pidfile" $!
    wait_for "the registry to answer on 127.0.0.1:$port" 20 answers ||
      { tail -n 20 "$dir/registry.log" >&2; die "docker-registry did not start; see $dir/registry.log"; }
    usage
    ;;
  down)
    if p=$(pid); then
      kill "$p"
      wait_for "docker-registry to exit" 15 stopped || die "docker-registry (pid $p) did not stop"
      log "stopped"
    else
      log "not running"
    fi
    rm -f "$pidfile"
    ;;
  status)
    if running && answers; then log "running on 127.0.0.1:$port (pid $(pid))"; usage; else log "not running"; exit 3; fi
    ;;
  env)
    [[ -s $dir/password ]] || die "the registry has no password yet; run 'local-registry.sh up' first" 2
    exports
    ;;
  *) die "usage: local-registry.sh up|down|status|env" 2 ;;
esac
