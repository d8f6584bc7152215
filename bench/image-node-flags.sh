#!/usr/bin/env bash
# Prints, one per line, the node flags the image runs the service with: the
# CMD of service/Dockerfile, ["node", FLAGS..., "service/dist/server.js"].
# The shell benches run the service with them (bench/lib.ts reads them for
# the TypeScript ones).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import json, re, sys
cmd = re.search(r"^CMD (\[.*\])$", open(sys.argv[1]).read(), re.M)
if not cmd:
    sys.exit("service/Dockerfile has no CMD [...] line")
print("\n".join(json.loads(cmd.group(1))[1:-1]))' service/Dockerfile
