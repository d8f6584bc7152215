#!/usr/bin/env bash
# Builds the real Helm 3 from the Go module proxy into the cache, once, and
# prints its path. bench/deploy-tools-bench.ts compares `pipeline deploy` with
# `helm upgrade --install --wait` and `--atomic`. Nothing here is committed but
# this script: neither the binary nor the fetched source.
#   bash infra/helm/ensure-helm.sh        # prints the binary's path
# HELM_VERSION overrides the version (v3.21.4 by default). Issue 20 names Helm
# 3.22, but helm.sh/helm/v3 v3.22.0 is served by the module proxy here without
# being approved for use, so the default is v3.21.4: the newest approved v3,
# which keeps `--atomic` under that name (Helm 4 renamed it --rollback-on-failure).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_PREFIX=helm
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$here/../lib.sh"

HELM_VERSION=${HELM_VERSION:-v3.21.4}
dir=$PIPELINE_CACHE/helm-$HELM_VERSION
bin=$dir/helm
if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || [[ ! -x /usr/local/go/bin/go ]] || PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "building helm needs Go >= 1.26 on the PATH" 2
mkdir -p "$dir"
# One build at a time: a second caller waits for the first instead of racing it.
exec 9>"$dir/.lock"
flock 9
if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi
buildlog=$dir/build.log
log "building helm $HELM_VERSION from the Go module proxy (about 7 to 12 min cold on 2 cores; log: $buildlog)"
t0=$SECONDS
# The version ldflag is the one Helm's own Makefile sets, so `helm version` names it.
(GOBIN="$dir/bin.tmp" CGO_ENABLED=0 go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") >"$buildlog" 2>&1 &
pid=$!
next=60
while kill -0 "$pid" 2>/dev/null; do
  sleep 5
  if ((SECONDS - t0 >= next)); then
    log "still building helm ($((SECONDS - t0))s)"
    next=$((next + 60))
  fi
done
if ! wait "$pid"; then
  tail -n 30 "$buildlog" >&2
  die "building helm $HELM_VERSION failed; full log: $buildlog"
fi
mv -f "$dir/bin.tmp/helm" "$bin"
rm -rf "$dir/bin.tmp"
log "built helm $HELM_VERSION in $((SECONDS - t0))s"
echo "$bin"
