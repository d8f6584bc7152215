#!/usr/bin/env bash
# Start-up of one CLI command, tsc's dist/main.js against the bundle that
# `npm run build` makes (dist/bundle/main.js), side by side: each round runs
# both, in turns, as bin/pipeline.js does (the compile cache on, after a first
# run that fills it). The command is `deploy` with a config that does not
# exist: it loads everything deploy imports, then stops at the config (exit 2)
# before any network, so what is timed is Node.js starting and loading.
#
#   bash bench/cli-startup.sh [rounds]     # default 10; after `npm run build`
#
# Prints the median wall time and CPU time (user + sys) of each, and the ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../infra/node/ensure-node.sh
source "$ROOT/infra/node/ensure-node.sh" >/dev/null
rounds=${1:-10}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "rounds must be a whole number ≥ 1, not $rounds" >&2; exit 2; }
dist=$ROOT/pipeline-lib/dist
[[ -f $dist/main.js && -f $dist/bundle/main.js ]] || { echo "run npm run build first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # ENTRY: one start, as bin/pipeline.js makes it
  node --input-type=module -e "
    import module from 'node:module';
    module.enableCompileCache();
    const { main } = await import('$1');
    process.exit(await main(['--config', '$work/absent.yaml', 'deploy', '--env', 'test']));
  " >/dev/null 2>&1 || true
}

declare -A wall=() cpu=()
TIMEFORMAT='%R %U %S'
for entry in main.js bundle/main.js; do run "$dist/$entry"; done # fill the compile cache
for ((i = 0; i < rounds; i++)); do
  for entry in main.js bundle/main.js; do
    read -r r u s < <({ time run "$dist/$entry"; } 2>&1)
    wall[$entry]+="$r "
    cpu[$entry]+="$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}') "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "$(date -u '+%F %H:%M UTC'), node $(node --version), $rounds rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| entry | wall (median) | CPU user+sys (median) |\n|---|---|---|\n'
for entry in main.js bundle/main.js; do
  printf '| dist/%s | %.2f s | %.2f s |\n' "$entry" "$(median <<<"${wall[$entry]}")" "$(median <<<"${cpu[$entry]}")"
done
ratio() { awk -v a="$(median <<<"$1")" -v b="$(median <<<"$2")" 'BEGIN {printf "%.2f", a / b}'; }
echo "bundle ÷ dist: wall $(ratio "${wall[bundle/main.js]}" "${wall[main.js]}")×, CPU $(ratio "${cpu[bundle/main.js]}" "${cpu[main.js]}")×"
