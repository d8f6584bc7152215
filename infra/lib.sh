# shellcheck shell=bash
# Shared helpers for the infra scripts. Source it; do not run it.
# Long operations print the elapsed time and what they are waiting on.

PIPELINE_CACHE="${PIPELINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-lib}"
# Sourced twice in one shell (a script and a helper it sources), the clock keeps its start.
_infra_start=${_infra_start:-$(date +%s)}

log() { printf '[%s +%ss] %s\n' "${LOG_PREFIX:-infra}" "$(($(date +%s) - _infra_start))" "$*" >&2; }
die() { log "error: $1"; exit "${2:-1}"; }

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: polls COMMAND once a second,
# printing progress every 10 s, until it succeeds or the timeout runs out.
wait_for() {
  local what=$1 timeout=$2 waited=0
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((waited >= timeout)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    if ((waited > 0 && waited % 10 == 0)); then log "still waiting for $what (${waited}s)"; fi
    sleep 1
    waited=$((waited + 1))
  done
}

# apt_install PACKAGE...: installs the Debian packages that are missing, running
# `apt-get update` once per machine boot at most.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) == 0 ]] || die "missing packages ${missing[*]}; install them or run as root" 2
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them" 2
  local stamp=/run/pipeline-lib-apt-updated
  if [[ ! -e $stamp ]]; then
    log "apt-get update"
    apt-get update -q >/dev/null || die "apt-get update failed"
    touch "$stamp"
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
}
