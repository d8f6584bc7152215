#!/usr/bin/env bash
# CPU profile of a build of the service under wrk load, summarised by
# bench/cpuprofile-summary.ts:
#
#   bash bench/profile-service.sh [ENTRY=service/dist/server.js] [ROUTE=/] [SECONDS=10]
#
# Starts a Redis (Debian's redis-server) on a free port and the service as the
# image runs it (the node flags of its CMD, NODE_ENV=production, its log to a
# file) under `node --cpu-prof`, loads ROUTE with `wrk -t2 -c50` (3 s warm-up,
# then SECONDS), stops both and prints wrk's figures and the profile's self
# time by package and by function. The profile stays in the printed folder.
set -euo pipefail
cd "$(dirname "$0")/.."
entry=${1:-service/dist/server.js}
route=${2:-/}
seconds=${3:-10}
out=$(mktemp -d -t service-profile-XXXXXX)
mapfile -t node_flags < <(bash bench/image-node-flags.sh)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
port=$(free_port)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
NODE_ENV=production HOST=127.0.0.1 PORT=$port REDIS_URL=redis://127.0.0.1:$redis_port \
  node "${node_flags[@]}" --cpu-prof --cpu-prof-dir="$out" "$entry" >"$out/service.log" &
service=$!
pids+=("$service")
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $entry, GET $route"
wrk -t2 -c50 -d3s "http://127.0.0.1:$port$route" >/dev/null
wrk -t2 -c50 -d"${seconds}s" --latency "http://127.0.0.1:$port$route" | grep -E 'Requests/sec|^ +(50|99)%'
kill -INT "$service"
wait "$service" || true
echo "profile in $out"
npx tsx bench/cpuprofile-summary.ts "$out"/*.cpuprofile 15
