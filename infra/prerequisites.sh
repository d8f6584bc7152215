# shellcheck shell=bash
# What the dev pipeline and the test suite need on this machine, installed and
# started when missing. Source it from bash (after infra/node/ensure-node.sh);
# it exports what it chose. Idempotent: a second run finds it all in place.
#   - a Docker Engine (infra/docker/ensure-engine.sh)
#   - Debian's docker-registry and htpasswd (the local registry and its tests),
#     git, shellcheck (`pipeline lint`), DejaVu fonts (the diagram PNGs)
#   - Groovy 2.4.21 and Java (infra/groovy/ensure-groovy.sh), for the Jenkinsfiles
#   - the base images: official ones when present, else local builds
#     (infra/images/build-local-images.sh), exported as NODE_IMAGE / REDIS_IMAGE
#   - PIPELINE_EXTRA_CA_FILE: the host's CA bundle for image build stages, so
#     npm inside a build trusts what this host trusts (TLS inspection)
#   - TESTCONTAINERS_RYUK_DISABLED=true unless set: Ryuk's image cannot be
#     pulled offline; our tests and `pipeline test` remove what they start
_prereq_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$_prereq_dir/lib.sh"

bash "$_prereq_dir/docker/ensure-engine.sh"
apt_install docker-registry apache2-utils git shellcheck fonts-dejavu-core
bash "$_prereq_dir/groovy/ensure-groovy.sh" >/dev/null
eval "$(bash "$_prereq_dir/images/build-local-images.sh" --env)"

if [[ -z ${PIPELINE_EXTRA_CA_FILE:-} ]]; then
  for _ca in "${NODE_EXTRA_CA_CERTS:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [[ -n $_ca && -s $_ca ]]; then export PIPELINE_EXTRA_CA_FILE=$_ca && break; fi
  done
fi
export TESTCONTAINERS_RYUK_DISABLED="${TESTCONTAINERS_RYUK_DISABLED:-true}"
