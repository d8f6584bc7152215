#!/usr/bin/env bash
# Times the README's first command as a new user meets it on a machine with
# nothing built yet: `npm start` in a fresh clone, with every cache empty.
#
#   bash bench/first-run.sh --yes    (10 to 25 minutes on 2 cores; needs root)
#
# --yes says you mean it: it removes every Docker container, image and build
# cache entry on this machine, and stops the testbed and the local registry.
#
# "Empty" without destroying this machine's own caches: npm's cache, Go's
# build and module caches and PIPELINE_CACHE (Node.js, the base images'
# inputs, the testbed's binaries, the signing key) point at new folders under
# a temporary directory; Docker's images and build cache are removed (the base
# images are rebuilt by the run itself); the running testbed is stopped and
# starts from a new state folder. Debian's packages and the Docker Engine stay
# installed (installing them adds a minute or two on a new machine).
#
# Prints quickstart's own phase table (each step's seconds, the testbed's
# background build and how long the cluster step waited for it) and the wall
# time. At the end the testbed it started is stopped: the next `npm start` or
# `npm test` starts it again from the machine's own cache.
set -euo pipefail
LOG_PREFIX=first-run
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../infra/lib.sh
source "$ROOT/infra/lib.sh"
[[ ${1:-} == --yes ]] ||
  die "this removes every Docker container and image on this machine and stops the testbed; run it as: bash bench/first-run.sh --yes" 2
[[ $(id -u) == 0 ]] || die "run as root: it stops the testbed and empties Docker's images" 2

work=$(mktemp -d "${TMPDIR:-/tmp}/first-run.XXXXXX")
cold=(
  PIPELINE_CACHE="$work/cache"
  TESTBED_STATE="$work/testbed-state"
  GOCACHE="$work/go-build"
  GOMODCACHE="$work/go-mod"
  npm_config_cache="$work/npm"
  TEST_NAMESPACE=first-run
)
finish() {
  env "${cold[@]}" bash "$work/clone/infra/quickstart.sh" down >/dev/null 2>&1 || true
  # Go's module cache is read-only on disk.
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap finish EXIT

log "stopping the running testbed and the local registry"
bash "$ROOT/infra/quickstart.sh" down >/dev/null 2>&1 || true
log "removing Docker's images and build cache"
docker ps -aq | xargs -r docker rm -f >/dev/null
docker system prune -af >/dev/null

git clone --quiet "$ROOT" "$work/clone"
# The user's shell: the machine's own node (older than 24), no kube context.
path_without_node24=$(tr ':' '\n' <<<"$PATH" | grep -v 'pipeline-lib/node/v' | paste -sd:)
log "npm start in a fresh clone of $(git -C "$ROOT" rev-parse --short HEAD), every cache empty"
t0=$SECONDS
(cd "$work/clone" && env -u KUBECONFIG -u NODE_IMAGE -u REDIS_IMAGE "${cold[@]}" \
  PATH="$path_without_node24" npm start) >"$work/start.out" 2>"$work/start.err" ||
  { tail -n 40 "$work/start.err" >&2; die "npm start failed after $((SECONDS - t0))s"; }
wall=$((SECONDS - t0))
echo
# quickstart's "prepared in Ns:" and pipeline run's "dev pipeline passed:", each with its indented lines.
awk '/^prepared in|^dev pipeline passed:/ { on = 1; print; next } on && /^  / { print; next } { on = 0 }' \
  "$work/start.out"
grep -h 'built .* in [0-9]*s' "$work/start.err" || true
echo "npm start from nothing: ${wall}s ($((wall / 60)) min $((wall % 60)) s)"
