// `npm run build` (after tsc): bundles the CLI that bin/pipeline.js runs,
// dist/main.js and everything it imports, into dist/bundle/. One process of
// `pipeline deploy` otherwise loads some 2,000 files (868 of them
// @kubernetes/client-node's) before its first line; from the bundle it reads a
// few chunks, about half the start-up CPU (bench/RESULTS.md, "Start-up").
// Each command stays its own chunk, loaded when it runs (the dynamic imports
// of main.ts). Left out, and loaded from node_modules as before:
//   - dockerode (ssh2's optional native addon) and testcontainers: the image
//     commands, whose start-up is nothing beside a build;
//   - @cyclonedx/cyclonedx-library, whose optional XML plugins are required
//     only when installed.
//
// Like `tsc -b`, it does nothing when the bundle is newer than what it is made
// from: tsc's last build (dist/.tsbuildinfo), the lockfile and this script.
import * as esbuild from "esbuild";
import { statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outdir = `${root}dist/bundle`;
const external = ["dockerode", "testcontainers", "@cyclonedx/cyclonedx-library"];

const mtime = (file) => statSync(file, { throwIfNoEntry: false })?.mtimeMs;
const bundledAt = mtime(`${outdir}/main.js`);
const inputs = [
  `${root}dist/.tsbuildinfo`,
  `${root}../package-lock.json`,
  fileURLToPath(import.meta.url),
];
if (bundledAt !== undefined && inputs.every((file) => (mtime(file) ?? 0) < bundledAt))
  process.exit(0);

await rm(outdir, { recursive: true, force: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: ["dist/main.js"],
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  external,
  // The CommonJS packages inside call require(); an ES module has none of its own.
  banner: {
    js: 'import { createRequire as __pipelineRequire } from "node:module"; const require = __pipelineRequire(import.meta.url);',
  },
  legalComments: "none",
  // Whitespace and syntax only: 23 MB of chunks become 10, and a command's
  // first request comes about 50 ms sooner (bench/RESULTS.md, "Start-up").
  // Identifiers stay, so a stack trace still names its functions.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
});
