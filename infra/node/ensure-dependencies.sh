#!/usr/bin/env bash
# Installs the workspaces' npm dependencies (`npm ci`, which also builds them
# through the root's `prepare`) when node_modules is missing or older than
# package-lock.json; else only brings the build up to date (`npm run build`:
# `tsc -b` and the CLI's bundle, a second or two when nothing changed). Run it from anywhere after infra/node/ensure-node.sh:
#   bash infra/node/ensure-dependencies.sh
set -euo pipefail
LOG_PREFIX=npm
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$here/../lib.sh"
cd "$here/../.."

# npm writes node_modules/.package-lock.json at the end of every install.
installed=node_modules/.package-lock.json
if [[ ! -f $installed || package-lock.json -nt $installed ]]; then
  log "installing the npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
  log "npm dependencies installed and built"
else
  log "npm dependencies are installed; compiling (tsc -b, then the CLI's bundle)"
  npm run build --silent
fi
