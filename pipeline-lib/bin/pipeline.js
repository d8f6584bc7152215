#!/usr/bin/env node
// The only place that calls process.exit: Docker and Kubernetes clients may keep
// sockets open, and the exit code must not wait for them. Written so that any
// Node.js since 16 runs it far enough to say what is wrong in one line.
import { existsSync, statSync } from "node:fs";
import module from "node:module";

const MIN_NODE_MAJOR = 22;
const major = Number(process.versions.node.split(".")[0]);
if (major < MIN_NODE_MAJOR) {
  process.stderr.write(
    `pipeline: Node.js ${process.versions.node} is too old; it needs Node.js ${MIN_NODE_MAJOR} or later: ` +
      "run `source infra/node/ensure-node.sh` in this repository, or install Node.js 24\n",
  );
  process.exit(2);
}

// `npm run build` compiles (tsc: dist/) and then bundles (dist/bundle/, which
// starts in half the time). A tsc run after the last bundle (tsc --watch, a
// bare `tsc -b`) leaves the bundle behind: then dist/ runs, as built.
const compiled = new URL("../dist/main.js", import.meta.url);
const bundled = new URL("../dist/bundle/main.js", import.meta.url);
const mtime = (url) => statSync(url, { throwIfNoEntry: false })?.mtimeMs;
const bundledAt = mtime(bundled);
const compiledAt = mtime(new URL("../dist/.tsbuildinfo", import.meta.url));
let entry = bundled;
if (bundledAt === undefined || (compiledAt !== undefined && compiledAt > bundledAt)) {
  if (!existsSync(compiled)) {
    process.stderr.write(
      "pipeline: pipeline-lib is not built (no dist/main.js): run `npm run build`\n",
    );
    process.exit(2);
  }
  if (bundledAt !== undefined) {
    process.stderr.write(
      "pipeline: dist/bundle is older than dist/ (tsc ran after the last `npm run build`); running dist/main.js\n",
    );
  }
  entry = compiled;
}

// V8's compile cache (Node.js 22.1+, in the system's temp folder): the next run
// of a command reuses the bytecode of the modules it loads, which is most of a
// command's start-up. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
module.enableCompileCache?.();

const { main } = await import(entry.href);
process.exit(await main(process.argv.slice(2)));
