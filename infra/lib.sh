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

# Pid files that a reboot or a later process with the same number cannot fool.
# A machine that was killed or restored from a snapshot keeps the pid files of
# processes that are gone, and their numbers go to new processes: `kill -0`
# alone would call an unrelated process ours (and `down` would kill it). So a
# pid file holds the PID, the process's start time (clock ticks since boot,
# the 22nd field of /proc/PID/stat) and the boot's id.

# proc_start_time PID: the process's start time on stdout; exit 1 if it is gone
# or has exited and waits to be reaped (a zombie, which `kill -0` still finds).
proc_start_time() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # The fields after the command name, which may hold spaces and parentheses:
  # the state first, the start time 20th.
  read -r -a fields <<<"${stat##*) }"
  [[ ${fields[0]} != [ZX] ]] || return 1
  echo "${fields[19]}"
}

boot_id() { cat /proc/sys/kernel/random/boot_id; }

# pidfile_write FILE PID: records PID, its start time and the boot in FILE.
pidfile_write() {
  local start
  start=$(proc_start_time "$2") || start=gone
  printf '%s %s %s\n' "$2" "$start" "$(boot_id)" >"$1.tmp"
  mv "$1.tmp" "$1"
}

# pidfile_pid FILE [COMM]: the PID on stdout when the process FILE names still
# runs: the same process, started in this boot at the recorded time. A pid file
# of one field (written before these helpers) counts only when the process's
# name (/proc/PID/comm) is COMM. Exit 1 otherwise.
pidfile_pid() {
  local pid="" start="" boot=""
  [[ -s $1 ]] || return 1
  read -r pid start boot <"$1" || true
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  if [[ -n $start ]]; then
    [[ $boot == "$(boot_id)" && $(proc_start_time "$pid") == "$start" ]] || return 1
  else
    [[ -n ${2:-} && $(cat "/proc/$pid/comm" 2>/dev/null) == "${2:0:15}" ]] || return 1
    proc_start_time "$pid" >/dev/null || return 1
  fi
  echo "$pid"
}

# need_go WHAT MIN_VERSION: Go on the PATH, or exit 2 saying what needs it.
need_go() {
  # The official tarball's place, for shells whose PATH lacks it (sudo, CI runners).
  command -v go >/dev/null || [[ ! -x /usr/local/go/bin/go ]] || PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null ||
    die "$1 needs Go >= $2 on the PATH (the Go toolchain; the module proxy supplies the rest)" 2
}

# build_with_progress NAME LOGFILE COMMAND...: runs COMMAND with its output
# appended to LOGFILE, says once a minute that NAME is still building, and on
# failure prints the log's last 30 lines and exits.
build_with_progress() {
  local name=$1 buildlog=$2 t0=$SECONDS next=60
  shift 2
  "$@" >>"$buildlog" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    # Once a minute; a loop slower than 5 s must not skip a line.
    if ((SECONDS - t0 >= next)); then
      log "still building $name ($((SECONDS - t0))s)"
      next=$((next + 60))
    fi
  done
  if ! wait "$pid"; then
    tail -n 30 "$buildlog" >&2
    die "building $name failed; full log: $buildlog"
  fi
}

# ensure_go_tool NAME BIN PACKAGE@VERSION MIN_GO LDFLAGS [ABOUT]: a Go tool from
# the module proxy, `go install`ed into BIN once (its folder holds the lock and
# build.log), and BIN's path on stdout. A second caller waits for the first.
ensure_go_tool() {
  local name=$1 bin=$2 package=$3 min_go=$4 ldflags=$5 about=${6:-several minutes cold}
  if [[ -x $bin ]]; then
    echo "$bin"
    return 0
  fi
  need_go "building $name" "$min_go"
  local dir=${bin%/*}
  mkdir -p "$dir"
  # One build at a time: a second caller waits for the first instead of racing it.
  exec 9>"$dir/.lock"
  flock 9
  if [[ ! -x $bin ]]; then
    local buildlog=$dir/build.log t0=$SECONDS
    : >"$buildlog"
    log "building $name from the Go module proxy ($about on 2 cores; log: $buildlog)"
    rm -rf "$dir/bin.tmp"
    build_with_progress "$name" "$buildlog" \
      env GOBIN="$dir/bin.tmp" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "$package"
    # go install names the binary after the package's last path element.
    local built=${package%@*}
    mv -f "$dir/bin.tmp/${built##*/}" "$bin"
    rm -rf "$dir/bin.tmp"
    log "built $name in $((SECONDS - t0))s"
  fi
  exec 9>&-
  echo "$bin"
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
