#!/usr/bin/env bash
# The Install stage's `npm ci`, skipped when it would install exactly what is
# installed: a content key of package-lock.json, the Node.js and npm versions
# and npm's own record of the installed tree (node_modules/.package-lock.json,
# which npm rewrites on every install) is kept in node_modules after each
# successful `npm ci`; the next run compares the key of what is there now with
# it, and runs `npm ci` on any difference (a changed lockfile, another Node.js,
# an `npm install` since, a missing or deleted node_modules). A fresh Jenkins
# workspace has no node_modules, so it always installs. PIPELINE_NO_CACHE=1
# always installs.
#   bash infra/node/npm-ci.sh [npm ci options...]     (from the repository root)
set -euo pipefail
LOG_PREFIX=install
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$here/../lib.sh"

stamp=node_modules/.cache/pipeline-lib/npm-ci.key

key() {
  {
    echo "node $(node --version) npm $(npm --version)"
    sha256sum package-lock.json node_modules/.package-lock.json 2>/dev/null || echo "not installed"
  } | sha256sum | cut -d' ' -f1
}

case ${PIPELINE_NO_CACHE:-} in '' | 0 | false) nocache=false ;; *) nocache=true ;; esac
if ! $nocache && [[ -f package-lock.json && -f node_modules/.package-lock.json && -f $stamp ]] &&
  [[ $(key) == "$(cat "$stamp")" ]]; then
  log "npm ci skipped: package-lock.json, Node.js $(node --version), npm $(npm --version) and node_modules/.package-lock.json are those of the last npm ci here (key $(cut -c1-12 "$stamp"); PIPELINE_NO_CACHE=1 installs anyway)"
  exit 0
fi
rm -f "$stamp"
npm ci "$@"
mkdir -p "$(dirname "$stamp")"
key >"$stamp"
log "npm ci done; key $(cut -c1-12 "$stamp") kept in $stamp"
