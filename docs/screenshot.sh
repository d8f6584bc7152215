#!/usr/bin/env bash
# Takes the README's screenshot of the counter page with Debian's headless
# Chromium (installed when missing), from the release `npm start` deployed:
#   bash docs/screenshot.sh [URL]    # default: the test namespace's NodePort on the testbed
# Writes docs/counter-page.png. Loading the page counts a visit, as any visit does.
set -euo pipefail
LOG_PREFIX=screenshot
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../infra/lib.sh
source "$here/../infra/lib.sh"

url=${1:-}
if [[ -z $url ]]; then
  port=$(bash "$here/../infra/testbed/testbed.sh" kubectl -n "${TEST_NAMESPACE:-test}" \
    get service visit-counter -o jsonpath='{.spec.ports[0].nodePort}') ||
    die "no visit-counter Service in namespace ${TEST_NAMESPACE:-test} on the testbed; run npm start first, or pass the URL" 2
  url="http://127.0.0.1:$port/"
fi
apt_install chromium fonts-dejavu-core
out="$here/counter-page.png"
log "loading $url"
# --no-sandbox: Chromium's sandbox refuses to run as root, which these machines are.
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
  --force-device-scale-factor=1 --window-size=900,560 \
  --screenshot="$out" "$url" 2>/dev/null
log "wrote ${out#"$PWD"/}"
