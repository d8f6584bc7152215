#!/usr/bin/env bash
# Times the dev pipeline as a new user meets it, stage by stage:
#   1. `npm start` in a fresh clone (no node_modules, no build; the machine's
#      caches, images and testbed as they are)
#   2. `npm start` again in that clone (everything warm)
#   3. an unchanged commit to a verified deploy: `pipeline run dev --from build`
# and prints a markdown table of each stage's seconds and the wall time.
#   bash bench/pipeline-timings.sh            (about 10 minutes on 2 cores)
# It deploys to the namespace $TEST_NAMESPACE (default bench-timings) and
# deletes it at the end.
set -euo pipefail
LOG_PREFIX=timings
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../infra/lib.sh
source "$ROOT/infra/lib.sh"

export TEST_NAMESPACE=${TEST_NAMESPACE:-bench-timings}
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-timings.XXXXXX")
trap 'bash "$ROOT/infra/testbed/testbed.sh" kubectl delete namespace "$TEST_NAMESPACE" --wait=false >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git clone --quiet "$ROOT" "$work/clone"
cd "$work/clone"

# run NAME COMMAND...: runs it, keeps its stdout, and its wall time in seconds.
declare -A wall
run() {
  local name=$1 t0=$SECONDS
  shift
  log "$name: $*"
  "$@" >"$work/$name.out" 2>"$work/$name.err" ||
    { tail -n 30 "$work/$name.err" >&2; die "$name failed: $*"; }
  wall[$name]=$((SECONDS - t0))
  log "$name: ${wall[$name]}s"
}
run fresh npm start
run warm npm start
# shellcheck source-path=SCRIPTDIR source=../infra/node/ensure-node.sh
source "$ROOT/infra/node/ensure-node.sh"
# shellcheck source-path=SCRIPTDIR source=../infra/prerequisites.sh
source "$ROOT/infra/prerequisites.sh" 2>/dev/null
eval "$(bash "$ROOT/infra/registry/local-registry.sh" env)"
KUBECONFIG=$(bash "$ROOT/infra/testbed/testbed.sh" kubeconfig)
export KUBECONFIG
run unchanged npx --no-install pipeline run dev --from build

# The stage summary `pipeline run` prints: "  <title>   <seconds>s".
stage_seconds() { sed -n "s/^  $2 *\([0-9.]*\)s\$/\1/p" "$work/$1.out"; }
echo
echo "| stage | fresh clone | second run | unchanged commit |"
echo "| --- | --- | --- | --- |"
# A fresh clone installs before the pipeline starts (the CLI must exist to run
# it), so its Install is the quick start's "Node.js and npm packages" step.
fresh_install=$(sed -n 's/^  Node.js and npm packages *\([0-9]*\)s$/\1/p' "$work/fresh.out")
printf '| Install | %s (before the pipeline) | %s | |\n' "$fresh_install" "$(stage_seconds warm Install)"
for stage in Lint "Unit tests" "Build image" "Integration tests" Push "Deploy to test" "Verify test"; do
  printf '| %s | %s | %s | %s |\n' "$stage" \
    "$(stage_seconds fresh "$stage" || true)" "$(stage_seconds warm "$stage" || true)" \
    "$(stage_seconds unchanged "$stage" || true)"
done
printf '| **wall time** | **%ss** | **%ss** | **%ss** |\n' "${wall[fresh]}" "${wall[warm]}" "${wall[unchanged]}"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), node $(node --version)"
