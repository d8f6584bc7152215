#!/usr/bin/env bash
# `npm test`: makes sure everything the suite needs is installed and running on
# this machine, then runs mocha over both workspaces with any arguments given
# (`npm test -- --grep push`). Idempotent: a second run finds it all in place.
#   - the Docker Engine (infra/docker/ensure-engine.sh)
#   - base images: the official ones when present, else local builds
#     (infra/images/build-local-images.sh), exported as NODE_IMAGE / REDIS_IMAGE
#   - Debian's docker-registry and htpasswd, for the registry tests
#   - shellcheck and Groovy 2.4.21 (infra/groovy/ensure-groovy.sh), for `pipeline lint`
#   - Debian's DejaVu fonts, which the diagram test renders the PNGs with
# The Kubernetes tests bring the testbed up themselves (infra/testbed/cluster.ts)
# unless KUBECONFIG / PIPELINE_KUBE_CONTEXT name a cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_PREFIX="test"
source infra/lib.sh
# The toolchain runs on Node.js 24 LTS, whatever `node` the caller's shell has.
source infra/node/ensure-node.sh
log "node $(node --version); compiling"
npx tsc -b

bash infra/docker/ensure-engine.sh
apt_install docker-registry apache2-utils git shellcheck fonts-dejavu-core
# Groovy 2.4.21 (and Java) for `pipeline lint`'s Jenkinsfile checks.
bash infra/groovy/ensure-groovy.sh >/dev/null
eval "$(bash infra/images/build-local-images.sh --env)"

# Image builds install npm packages; behind TLS inspection (as on our CI
# machines) their npm must trust what this host trusts. Build stages only.
if [[ -z ${PIPELINE_EXTRA_CA_FILE:-} ]]; then
  for ca in "${NODE_EXTRA_CA_CERTS:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [[ -n $ca && -s $ca ]]; then export PIPELINE_EXTRA_CA_FILE=$ca && break; fi
  done
fi

# Ryuk, Testcontainers' reaper, is an image that cannot be pulled offline; the
# tests remove what they start in their own hooks.
export TESTCONTAINERS_RYUK_DISABLED="${TESTCONTAINERS_RYUK_DISABLED:-true}"

log "running the tests (NODE_IMAGE=$NODE_IMAGE REDIS_IMAGE=$REDIS_IMAGE)"
exec npx mocha "$@"
