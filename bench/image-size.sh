#!/usr/bin/env bash
# The service image's size and its own layers (those above the base image),
# built from a commit of this repository (default HEAD) in a clean context:
#
#   bash bench/image-size.sh [COMMIT] [NODE_IMAGE]
#
# NODE_IMAGE defaults to the local stand-in pipeline-local/node:24-bookworm
# (infra/images/build-local-images.sh). Behind TLS inspection the npm steps
# trust $PIPELINE_EXTRA_CA_FILE (default: this host's CA bundle), copied into
# the context as extra-ca.pem as `pipeline build` does; the final image never
# contains it. Prints a Markdown table; removes the image it built.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=$(git rev-parse --short "${1:-HEAD}")
base=${2:-pipeline-local/node:24-bookworm}
ca=${PIPELINE_EXTRA_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}
tag="visit-counter-size:$commit"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"; docker image rm -f "$tag" >/dev/null 2>&1 || true' EXIT

git archive "$commit" package.json package-lock.json tsconfig.json .dockerignore service \
  pipeline-lib/package.json | tar -x -C "$ctx"
[[ -s $ca ]] && cp "$ca" "$ctx/extra-ca.pem"
docker build -q -f "$ctx/service/Dockerfile" --build-arg NODE_IMAGE="$base" -t "$tag" "$ctx" >/dev/null

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
image_bytes=$(docker image inspect -f '{{.Size}}' "$tag")
base_bytes=$(docker image inspect -f '{{.Size}}' "$base")
base_layers=$(docker history -q "$base" | wc -l)
echo "image built from $commit on $base: $(mb "$image_bytes") in all, base $(mb "$base_bytes"), the app's own layers $(mb $((image_bytes - base_bytes)))"
echo
echo "| the app's layers (newest first) | size |"
echo "|---|---|"
total=$(docker history -q "$tag" | wc -l)
docker history --no-trunc --format '{{.Size}}|{{.CreatedBy}}' "$tag" | head -n $((total - base_layers)) |
  while IFS='|' read -r size created; do
    created=${created#/bin/sh -c }
    created=${created#\#(nop) }
    # shellcheck disable=SC2016 # the backquotes are Markdown, not a command
    printf '| `%s` | %s |\n' "$(printf '%s' "$created" | tr -s ' ' | cut -c1-90)" "$size"
  done
echo
echo "node_modules in the image, by package (largest 12):"
echo
docker run --rm --entrypoint sh "$tag" -c 'du -sk /app/node_modules/* /app/node_modules/@*/* 2>/dev/null | sort -rn | head -12' |
  awk '{ printf "- %s: %.0f kB\n", $2, $1 }'
