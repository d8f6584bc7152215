#!/usr/bin/env bash
# Runs a command with no Docker Engine and no cluster in reach, to show that it
# needs neither: `npm run test:fast` runs under it.
#
#   bash test/without-docker.sh npx mocha --grep @slow --invert
#
# The command sees a PATH of links to everything on the caller's PATH except
# docker*, containerd* and apt/apt-get (so nothing can install an engine
# either), DOCKER_HOST and KUBECONFIG pointing at nothing, and no NODE_IMAGE /
# REDIS_IMAGE. Anything that reaches for Docker or Kubernetes then fails.
set -euo pipefail
shopt -s extglob nullglob

bin=$(mktemp -d "${TMPDIR:-/tmp}/without-docker.XXXXXX")
trap 'rm -rf "$bin"' EXIT
IFS=: read -r -a dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  [[ -d $dir ]] || continue
  # The first directory on PATH wins, as it does for the shell: ln keeps existing links.
  files=("$dir"/!(docker*|containerd*|apt|apt-get))
  ((${#files[@]} == 0)) || ln -s "${files[@]}" "$bin"/ 2>/dev/null || true
done

env -u NODE_IMAGE -u REDIS_IMAGE -u PIPELINE_KUBE_CONTEXT \
  PATH="$bin" DOCKER_HOST=unix:///nonexistent.sock KUBECONFIG=/nonexistent/kubeconfig "$@"
