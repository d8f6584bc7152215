#!/usr/bin/env bash
# `npm start`: the dev pipeline end to end on this machine, from a fresh clone.
#   1. Node.js 24 and the npm dependencies (infra/node/)
#   2. a Docker Engine, the base images, Groovy and the Debian tools (infra/prerequisites.sh)
#   3. a Registry v2 on 127.0.0.1:5000 with its own password (infra/registry/)
#   4. a cluster: the current kube context when there is one, else the local
#      testbed (infra/testbed/; its first start compiles Kubernetes, several
#      minutes, which runs in the background from the start while 1-3 install)
#   5. `pipeline run dev`: install, lint, unit tests, build, test the image with
#      Testcontainers, push, deploy to the `test` namespace, verify
#   6. the URL of the counter, which stays up until `npm stop`
#
# Usage: infra/quickstart.sh [up|down]   (npm start / npm stop)
# Exit codes: 0 done; 1 a stage failed (its output says why); 2 this machine
# lacks something the script cannot install (the message says what).
set -euo pipefail
LOG_PREFIX=start
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$here/.." && pwd)
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

testbed="$here/testbed/testbed.sh"
registry="$here/registry/local-registry.sh"

case "${1:-up}" in
  up) ;;
  down)
    bash "$registry" down
    bash "$testbed" down
    log "stopped the local registry and the testbed; the caches in $PIPELINE_CACHE stay"
    exit 0
    ;;
  *) die "usage: infra/quickstart.sh [up|down] (npm start / npm stop)" 2 ;;
esac

# Seconds each preparation step took, for the summary at the end.
declare -a prepared=()
step() {
  local title=$1 started=$SECONDS
  shift
  log "$title"
  "$@"
  prepared+=("$(printf '  %-24s %ss' "$title" "$((SECONDS - started))")")
}

# The pipeline's own Install stage runs `npm ci`; when the CLI had to be
# installed first (a fresh clone, a changed lockfile), that was it, and the
# pipeline starts after it. npm rewrites node_modules/.package-lock.json on
# every install.
installed_here=false
node_and_packages() {
  # shellcheck source-path=SCRIPTDIR source=node/ensure-node.sh
  source "$here/node/ensure-node.sh"
  log "node $(node --version), npm $(npm --version)"
  local stamp=node_modules/.package-lock.json before
  before=$(stat -c %Y "$stamp" 2>/dev/null || true)
  bash "$here/node/ensure-dependencies.sh"
  [[ $(stat -c %Y "$stamp" 2>/dev/null || true) == "$before" ]] || installed_here=true
}

machine_tools() {
  # shellcheck source-path=SCRIPTDIR source=prerequisites.sh
  source "$here/prerequisites.sh"
}

local_registry() {
  if [[ -n ${IMAGE_REPOSITORY:-} ]]; then
    log "IMAGE_REPOSITORY=$IMAGE_REPOSITORY is set; pushing there (REGISTRY_USERNAME / REGISTRY_PASSWORD from this shell)"
    return 0
  fi
  bash "$registry" up >/dev/null
  eval "$(bash "$registry" env)"
}

# The current kube context, when KUBECONFIG or ~/.kube/config names one.
current_context() {
  node --input-type=module -e '
    import * as k8s from "@kubernetes/client-node";
    const kc = new k8s.KubeConfig();
    try { kc.loadFromDefault(); } catch { process.exit(1); }
    const name = kc.getCurrentContext();
    if (!name || !kc.getContextObject(name)) process.exit(1);
    console.log(name);
  ' 2>/dev/null
}

# With no kubeconfig at all the testbed is sure to be used, so its binaries
# (CPU-bound: compiling Kubernetes) build in the background from the start,
# while steps 1-3 mostly wait on the network (npm, apt, images). Niced, so those
# steps' own CPU work comes first. A kubeconfig may name a context (known only
# once the npm packages are in), and then the testbed builds in `up` if needed.
prebuild_pid=""
prebuild_start=0
prebuild() {
  [[ -z ${KUBECONFIG:-} && ! -s $HOME/.kube/config ]] || return 0
  log "building the local testbed in the background meanwhile (its progress lines say [testbed])"
  prebuild_start=$SECONDS
  nice -n 10 bash "$testbed" build &
  prebuild_pid=$!
}

await_prebuild() {
  [[ -n $prebuild_pid ]] || return 0
  local t0=$SECONDS
  if kill -0 "$prebuild_pid" 2>/dev/null; then
    log "waiting for the testbed's build (started $((SECONDS - prebuild_start))s ago)"
  fi
  # On failure, `up` builds again and stops with the build's error.
  wait "$prebuild_pid" || log "the background build of the testbed failed; 'testbed.sh up' tries again"
  prebuild_pid=""
  prepared+=("$(printf '  %-24s %ss (waited %ss)' "Testbed build" "$((SECONDS - prebuild_start))" "$((SECONDS - t0))")")
}

TESTBED_CONTEXT=pipeline-testbed
on_testbed=false
context=""
cluster() {
  if [[ -n ${KUBECONFIG:-} || -s $HOME/.kube/config ]] && context=$(current_context) &&
    [[ $context != "$TESTBED_CONTEXT" ]]; then
    log "deploying to the current kube context, $context"
    if [[ $IMAGE_REPOSITORY == 127.0.0.1:* ]]; then
      log "warning: that cluster pulls the app from $IMAGE_REPOSITORY; set IMAGE_REPOSITORY (and REGISTRY_USERNAME / REGISTRY_PASSWORD) to a registry it can reach"
    fi
    return 0
  fi
  on_testbed=true
  log "using the local testbed (its first start compiles Kubernetes from Go modules, several minutes on 2 cores)"
  await_prebuild
  KUBECONFIG=$(bash "$testbed" up)
  export KUBECONFIG
  # Pods pull the app from the local registry, and Redis from the image in the engine.
  if [[ $IMAGE_REPOSITORY == 127.0.0.1:* ]]; then bash "$testbed" trust-registry "${IMAGE_REPOSITORY%%/*}"; fi
  if ! bash "$testbed" kubectl get nodes -o jsonpath='{.items[*].status.images[*].names}' |
    tr ' ' '\n' | grep -qx "docker.io/$REDIS_IMAGE"; then
    bash "$testbed" load-image "$REDIS_IMAGE"
  fi
}

# Evidence is signed and checked in local runs too, with a key pair of this
# machine's own (infra/keys/), trusted through the config's PIPELINE_TRUSTED_KEY.
signing_key() {
  eval "$(bash "$here/keys/local-signing-key.sh" env)"
  prepared+=("  signing key: $PIPELINE_SIGNING_KEY (trusted: $PIPELINE_TRUSTED_KEY)")
}

prebuild
step "Node.js and npm packages" node_and_packages
step "Docker Engine and images" machine_tools
step "Local registry" local_registry
step "Cluster" cluster
step "Signing key" signing_key

echo "prepared in ${SECONDS}s:"
printf '%s\n' "${prepared[@]}"
run=(npx --no-install pipeline run dev)
if $installed_here; then
  log "running the dev pipeline from Lint (its Install stage, npm ci, ran above): pipeline run dev --from lint"
  run+=(--from lint)
else
  log "running the dev pipeline, every stage as Jenkins runs them on develop: pipeline run dev"
fi
set +e
"${run[@]}"
status=$?
set -e
if ((status != 0)); then
  log "the dev pipeline failed (exit $status); the stage's output above says why, and README.md#troubleshooting what to do"
  exit "$status"
fi

namespace=${TEST_NAMESPACE:-test}
if $on_testbed; then
  port=$(bash "$testbed" kubectl -n "$namespace" get service visit-counter -o jsonpath='{.spec.ports[0].nodePort}')
  url="http://127.0.0.1:$port/"
  wait_for "the counter to answer on $url" 30 curl -fsS -o /dev/null "$url" ||
    die "the counter does not answer on $url; see 'bash infra/testbed/testbed.sh kubectl -n $namespace get pods'"
  echo
  echo "The visit counter runs in namespace $namespace of the local testbed: open $url"
  echo "It stays up until you run: npm stop"
else
  echo
  echo "The visit counter runs in namespace $namespace of $context. To open it on this machine:"
  echo "  kubectl -n $namespace port-forward service/visit-counter 8080:80   # then open http://127.0.0.1:8080/"
fi
