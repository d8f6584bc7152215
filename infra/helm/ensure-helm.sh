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
# The version ldflags are the ones Helm's own Makefile sets, so `helm version` names it.
v=helm.sh/helm/v3/internal/version
ensure_go_tool "helm $HELM_VERSION" "$PIPELINE_CACHE/helm-$HELM_VERSION/helm" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" 1.26 \
  "-s -w -X $v.version=$HELM_VERSION -X $v.gitTreeState=clean" "about 7 to 12 min cold"
