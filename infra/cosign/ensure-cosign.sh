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
dir=$PIPELINE_CACHE/cosign-$COSIGN_VERSION
bin=$dir/bin/cosign
if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || [[ ! -x /usr/local/go/bin/go ]] || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "building cosign needs Go >= 1.25 on the PATH" 2
mkdir -p "$dir"
# One build at a time: a second caller waits for the first instead of racing it.
exec 9>"$dir/.lock"
flock 9
if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi
buildlog=$dir/build.log
log "building cosign $COSIGN_VERSION from the Go module proxy (about 7 min cold on 2 cores; log: $buildlog)"
t0=$SECONDS
(GOBIN="$dir/bin.tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
  "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION") >"$buildlog" 2>&1 &
pid=$!
next=60
while kill -0 "$pid" 2>/dev/null; do
  sleep 5
  if ((SECONDS - t0 >= next)); then
    log "still building cosign ($((SECONDS - t0))s)"
    next=$((next + 60))
  fi
done
if ! wait "$pid"; then
  tail -n 30 "$buildlog" >&2
  die "building cosign $COSIGN_VERSION failed; full log: $buildlog"
fi
mkdir -p "$dir/bin"
mv -f "$dir/bin.tmp/cosign" "$bin"
rm -rf "$dir/bin.tmp"
log "built cosign $COSIGN_VERSION in $((SECONDS - t0))s"
echo "$bin"
