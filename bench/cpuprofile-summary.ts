/**
 * Self time by function, and by package, from a V8 .cpuprofile (what
 * `node --cpu-prof` writes when the process exits):
 *
 *   npx tsx bench/cpuprofile-summary.ts PROFILE.cpuprofile [top=25]
 *
 * Prints two Markdown tables: the functions with the most self time, and the
 * self time summed by where the code lives (a package under node_modules,
 * node's own modules, the service, or V8 entries such as (garbage collector)).
 */
import { readFile } from "node:fs/promises";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write("usage: npx tsx bench/cpuprofile-summary.ts PROFILE.cpuprofile [top]\n");
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(await readFile(file, "utf8")) as Profile;

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
const idleUs = [...selfUs]
  .filter(([id]) => byId.get(id)?.callFrame.functionName === "(idle)")
  .reduce((sum, [, us]) => sum + us, 0);

/** Where a function lives: a package, node:internal, the app, or a V8 pseudo-frame. */
function place(url: string, name: string): string {
  if (url === "") return name.startsWith("(") ? name : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return "node:" + url.slice(5).split("/")[0];
  const dist = /\/(service|bench)\/(?:\.before\/)?(?:dist|src)?\/?(.*)$/.exec(url);
  return dist ? `app: ${dist[2]}` : url;
}

const byFunction = new Map<string, number>();
const byPlace = new Map<string, number>();
for (const [id, us] of selfUs) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const where = place(url, functionName);
  const key = `${functionName || "(anonymous)"} — ${where}${url ? `:${lineNumber + 1}` : ""}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const group = where.startsWith("app: ") ? "the service's own code" : where;
  byPlace.set(group, (byPlace.get(group) ?? 0) + us);
}

const busyUs = totalUs - idleUs;
const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1)} %`;
const table = (title: string, rows: Map<string, number>) =>
  [
    `| ${title} | self time | of busy |`,
    "|---|---|---|",
    ...[...rows]
      .filter(([key]) => !key.startsWith("(idle)"))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, us]) => `| ${key} | ${(us / 1000).toFixed(0)} ms | ${pct(us)} |`),
  ].join("\n");

process.stdout.write(
  `profile ${(totalUs / 1e6).toFixed(1)} s, busy ${(busyUs / 1e6).toFixed(1)} s (idle ${(idleUs / 1e6).toFixed(1)} s)\n\n` +
    `${table("where", byPlace)}\n\n${table("function", byFunction)}\n`,
);
