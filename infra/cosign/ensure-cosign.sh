#!/usr/bin/env bash
# Builds the real cosign from the Go module proxy into the cache, once, and
# prints its path. The evidence tests use it as an independent client: cosign
# must accept what `pipeline attest` pushes, and pipeline-lib must accept what
# cosign attests. Nothing here is committed but this script.
#   bash infra/cosign/ensure-cosign.sh        # prints the binary's path
# COSIGN_VERSION overrides the version (v2.6.5 by default).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_PREFIX=cosign
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$here/../lib.sh"

COSIGN_VERSION=${COSIGN_VERSION:-v2.6.5}
ensure_go_tool "cosign $COSIGN_VERSION" "$PIPELINE_CACHE/cosign-$COSIGN_VERSION/bin/cosign" \
  "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION" 1.25 "-s -w" "about 7 min cold"
