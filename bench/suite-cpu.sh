#!/usr/bin/env bash
# Runs `npm test` (with any arguments given) and reports, beside its own
# per-file profile, where the machine's CPU went while it ran: the wall time,
# the whole machine's CPU time (user, nice and system, from /proc/stat) and
# the CPU time of the long-running daemons the tests drive (the Docker daemon,
# containerd, the testbed's components), each read before and after.
#
#   bash bench/suite-cpu.sh                     (the whole suite; about 7 min warm)
#   bash bench/suite-cpu.sh -- test/deploy/deploy.test.ts
#
# Run it on an otherwise idle machine, and two commits one after the other to
# compare them (bench/RESULTS.md, "The first run and the test suite, side by side").
set -euo pipefail
LOG_PREFIX=suite-cpu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../infra/lib.sh
source "$ROOT/infra/lib.sh"

hz=$(getconf CLK_TCK)
daemons=(dockerd containerd kube-apiserver etcd kubelet kube-controller kube-scheduler kube-proxy coredns kube-router)

# "name seconds" for each daemon running now (utime + stime of its process).
daemon_cpu() {
  local name pid
  for name in "${daemons[@]}"; do
    for pid in $(pgrep -x "$name" || true); do
      awk -v n="$name" -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%s %.1f\n", n, ($12 + $13) / hz }' "/proc/$pid/stat"
    done
  done | awk '{ s[$1] += $2 } END { for (n in s) print n, s[n] }' | sort
}
machine_cpu() { awk -v hz="$hz" '/^cpu / { printf "%.1f\n", ($2 + $3 + $4) / hz }' /proc/stat; }

before_daemons=$(daemon_cpu)
before_machine=$(machine_cpu)
started=$SECONDS
status=0
(cd "$ROOT" && TEST_PROFILE="${TEST_PROFILE:-20}" npm test "$@") || status=$?
wall=$((SECONDS - started))
after_machine=$(machine_cpu)

echo
echo "suite-cpu: npm test exited $status after ${wall}s"
awk -v a="$before_machine" -v b="$after_machine" 'BEGIN { printf "suite-cpu: machine CPU %.0f s (user, nice, system)\n", b - a }'
# A daemon that started during the run (the testbed, brought up by a test) counts from zero.
join -a 2 -e 0 -o 2.1,1.2,2.2 <(echo "$before_daemons") <(daemon_cpu) |
  awk '{ d = $3 - $2; if (d >= 0.5) printf "suite-cpu: %-16s %6.1f s\n", $1, d }' | sort -k3 -rn
exit "$status"
