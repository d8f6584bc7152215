#!/usr/bin/env node
// `npm start`: the compiled server, with one line instead of a stack trace when
// Node.js is too old or the build is missing. Written so that any Node.js since
// 16 runs it far enough to say so.
import { existsSync } from "node:fs";

const MIN_NODE_MAJOR = 22;
const major = Number(process.versions.node.split(".")[0]);
if (major < MIN_NODE_MAJOR) {
  process.stderr.write(
    `visit-counter: Node.js ${process.versions.node} is too old; it needs Node.js ${MIN_NODE_MAJOR} or later: ` +
      "run `source infra/node/ensure-node.sh` in this repository, or install Node.js 24\n",
  );
  process.exit(2);
}

const entry = new URL("../dist/server.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    "visit-counter: the service is not built (no dist/server.js): run `npm run build`\n",
  );
  process.exit(2);
}

await import(entry.href);
