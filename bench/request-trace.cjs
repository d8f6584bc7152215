// Every HTTP request a Node.js process makes through fetch (undici: the
// Kubernetes client, the registry client), with when it started and how long
// it took, appended to $TRACE_OUT when the process exits. Preload it into the
// CLI processes of a run:
//
//   TRACE_OUT=/tmp/trace.txt NODE_OPTIONS="--require $PWD/bench/request-trace.cjs" \
//     npx tsx bench/deploy-tools-bench.ts 1 --good-only
//
// Each process writes a header line, `--- <its arguments> exit at <ms>`, then
// one line per request: its start in ms since the process began, `+` its
// duration in ms, the method and the path. Only processes whose arguments
// match $TRACE_MATCH (a regular expression; default: deploy or verify) write.
"use strict";
const channels = require("node:diagnostics_channel");
const { appendFileSync } = require("node:fs");

const out = process.env.TRACE_OUT;
const match = new RegExp(process.env.TRACE_MATCH ?? "\\b(deploy|verify)\\b");
const args = process.argv.slice(2).join(" ");
if (out && match.test(args)) {
  const started = new WeakMap();
  const lines = [];
  const ms = (t) => t.toFixed(0).padStart(5);
  channels.subscribe("undici:request:create", ({ request }) =>
    started.set(request, performance.now()),
  );
  channels.subscribe("undici:request:trailers", ({ request }) => {
    const start = started.get(request) ?? 0;
    lines.push(`${ms(start)} +${ms(performance.now() - start)} ${request.method} ${request.path}`);
  });
  process.on("exit", () => {
    appendFileSync(out, `--- ${args} exit at ${ms(performance.now())}\n${lines.join("\n")}\n`);
  });
}
