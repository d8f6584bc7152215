#!/usr/bin/env bash
# The service's memory under load inside the pod's memory limit:
#
#   NODE_IMAGE=pipeline-local/node:24-bookworm bash bench/memory-under-load.sh [SECONDS=30] [LIMIT=256m]
#
# Runs the built service (service/dist, with the repository's node_modules,
# mounted read-only) with the node flags of the image's CMD (service/Dockerfile;
# NODE_FLAGS="--enable-source-maps" runs it with others, to compare) in a
# container of NODE_IMAGE (default node:24-bookworm-slim, what the image is
# built on) limited to LIMIT of memory and no swap, as
# k8s/visit-counter.yaml limits the pod, against a Redis of its own
# (Debian's redis-server) on 127.0.0.1; loads GET / with `wrk -t2 -c50` for
# SECONDS; prints wrk's figures, the heap limit V8 chose, the container's
# peak memory as its cgroup counts it (what the OOM killer goes by), the
# process's peak RSS, and whether it was OOM-killed. Needs Docker and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
limit=${2:-256m}
image=${NODE_IMAGE:-node:24-bookworm-slim}
name=memory-under-load-$$
if [ -n "${NODE_FLAGS:-}" ]; then
  read -r -a node_flags <<<"$NODE_FLAGS"
else
  mapfile -t node_flags < <(bash bench/image-node-flags.sh)
fi
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
port=$(free_port)
redis_pid=
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  [ -z "$redis_pid" ] || kill "$redis_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

[ -f service/dist/server.js ] || npx tsc -b service
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
redis_pid=$!
docker run -d --name "$name" --memory "$limit" --memory-swap "$limit" --network host \
  -v "$PWD:/app:ro" -w /app -e NODE_ENV=production -e HOST=127.0.0.1 -e PORT="$port" \
  -e REDIS_URL="redis://127.0.0.1:$redis_port" "$image" \
  node "${node_flags[@]}" service/dist/server.js >/dev/null
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done
echo "$image, node ${node_flags[*]}, memory limit $limit, GET / for ${seconds} s, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
docker exec "$name" node -e 'const v = require("v8"); console.log(`V8 heap limit in the container: ${Math.round(v.getHeapStatistics().heap_size_limit / 1048576)} MiB`)'
wrk -t2 -c50 -d"${seconds}s" --latency "http://127.0.0.1:$port/" | grep -E 'Requests/sec|^ +(50|99)%|Non-2xx|errors'
id=$(docker inspect -f '{{.Id}}' "$name")
for peak in "/sys/fs/cgroup/memory/docker/$id/memory.max_usage_in_bytes" \
  "/sys/fs/cgroup/system.slice/docker-$id.scope/memory.peak"; do
  [ -r "$peak" ] && awk '{printf "container peak memory (cgroup): %.0f MiB\n", $1 / 1048576}' "$peak" && break
done
docker exec "$name" sh -c 'grep VmHWM /proc/1/status' | awk '{printf "service peak RSS: %.0f MiB\n", $2 / 1024}'
docker inspect -f 'OOM-killed: {{.State.OOMKilled}}, still running: {{.State.Running}}, restarts: {{.RestartCount}}' "$name"
