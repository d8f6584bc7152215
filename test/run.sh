#!/usr/bin/env bash
# `npm test`: makes sure everything the suite needs is installed and running on
# this machine (infra/prerequisites.sh: Docker Engine, base images, Debian
# packages, Groovy), then runs mocha over both workspaces with any arguments
# given (`npm test -- --grep push`). Idempotent: a second run finds it in place.
# The Kubernetes tests bring the testbed up themselves (infra/testbed/cluster.ts)
# unless KUBECONFIG / PIPELINE_KUBE_CONTEXT name a cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_PREFIX="test"
source infra/lib.sh
# The toolchain runs on Node.js 24 LTS, whatever `node` the caller's shell has.
source infra/node/ensure-node.sh
log "node $(node --version)"
# npm ci on a fresh clone (or a changed lockfile), else an incremental build.
bash infra/node/ensure-dependencies.sh

# Docker Engine, Debian packages, Groovy, base images, CA and Ryuk settings.
source infra/prerequisites.sh

log "running the tests (NODE_IMAGE=$NODE_IMAGE REDIS_IMAGE=$REDIS_IMAGE)"
exec npx mocha "$@"
