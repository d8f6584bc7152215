#!/usr/bin/env bash
# The key pair that signs evidence in local runs (`npm start`), made once in
# the cache, never in the repository. A team's real key is a Jenkins file
# credential and a public key in the config (README, "Signing keys"); local
# runs go through the same gate with this one:
#   eval "$(bash infra/keys/local-signing-key.sh env)"
# exports PIPELINE_SIGNING_KEY (the private key file, as Jenkins binds it) and
# PIPELINE_TRUSTED_KEY (the public key file pipeline.config.yaml trusts).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_PREFIX=keys
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$here/../lib.sh"

dir=$PIPELINE_CACHE/signing
private=$dir/local-signing.key
public=$dir/local-signing.pub

ensure() {
  [[ -s $private && -s $public ]] && return 0
  command -v openssl >/dev/null || apt_install openssl
  mkdir -p "$dir"
  chmod 700 "$dir"
  local tmp
  tmp=$(mktemp "$dir/.key.XXXXXX")
  # ECDSA P-256, as cosign generates: PKCS#8, unencrypted (the cache is the owner's).
  openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$tmp"
  chmod 600 "$tmp"
  openssl pkey -in "$tmp" -pubout -out "$public.tmp"
  mv -f "$tmp" "$private"
  mv -f "$public.tmp" "$public"
  log "made a local signing key pair in $dir (ECDSA P-256)"
}

case ${1:-env} in
env)
  ensure
  printf 'export PIPELINE_SIGNING_KEY=%q\nexport PIPELINE_TRUSTED_KEY=%q\n' "$private" "$public"
  ;;
path)
  ensure
  echo "$public"
  ;;
*) die "usage: $0 [env|path]" 2 ;;
esac
