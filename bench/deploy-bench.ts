/**
 * Deploy and rollback times on a real cluster (the testbed unless KUBECONFIG
 * names one), through the shipped bin, as Jenkins runs it:
 * - deploy plus verify of a new version (2 replicas, rolling update);
 * - from the start of a deploy of a crashing image to the previous revision
 *   confirmed healthy and serving again (the deploy command's own exit).
 *
 *   npx tsx bench/deploy-bench.ts [rounds]   # default 3 rounds
 *
 * Prints a Markdown table; bench/RESULTS.md keeps the last one measured.
 */
import { randomBytes } from "node:crypto";
import { DeployFixture, type Run } from "../test/support/deploy-fixture.js";

const rounds = Number(process.argv[2] ?? 3);

function check(run: Run, what: string, code = 0): number {
  if (run.code !== code)
    throw new Error(`${what} exited ${run.code}, expected ${code}:\n${run.stderr}`);
  return run.ms;
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `${(median / 1000).toFixed(1)} s (min ${(sorted[0]! / 1000).toFixed(1)}, max ${(sorted.at(-1)! / 1000).toFixed(1)})`;
};

await using fixture = await DeployFixture.create((line) =>
  process.stderr.write(`[bench] ${line}\n`),
);
const namespace = `bench-${randomBytes(3).toString("hex")}`;
const project = await fixture.project(namespace);
const deploy = (image: { ref: string; commit: string }) =>
  fixture.run(["deploy", "--env", "test", "--image", image.ref], project, {
    GIT_COMMIT: image.commit,
  });
const verify = () => fixture.run(["verify", "--env", "test"], project);

try {
  const first = check(await deploy(fixture.images.v1), "first deploy");
  const firstVerify = check(await verify(), "first verify");
  const deployVerify: number[] = [];
  const deployOnly: number[] = [];
  const rollback: number[] = [];
  let current = fixture.images.v1;
  for (let i = 0; i < rounds; i++) {
    const next = current === fixture.images.v1 ? fixture.images.next : fixture.images.v1;
    const d = check(await deploy(next), `deploy ${i + 1}`);
    const v = check(await verify(), `verify ${i + 1}`);
    deployOnly.push(d);
    deployVerify.push(d + v);
    current = next;
    rollback.push(check(await deploy(fixture.images.crash), `crash deploy ${i + 1}`, 1));
    process.stderr.write(
      `[bench] round ${i + 1}/${rounds}: deploy+verify ${((d + v) / 1000).toFixed(1)} s, crash→previous ${(rollback.at(-1)! / 1000).toFixed(1)} s\n`,
    );
  }
  const table = [
    `| measurement (${rounds} rounds, 2 replicas, ${fixture.cluster.description}) | median (min, max) | target |`,
    "|---|---|---|",
    `| first deploy (Redis and the app from nothing) + verify | ${((first + firstVerify) / 1000).toFixed(1)} s | — |`,
    `| deploy of a new version (rolling update) | ${stats(deployOnly)} | — |`,
    `| deploy + verify of a new version | ${stats(deployVerify)} | < 30 s |`,
    `| crashing image: deploy start → previous revision healthy again | ${stats(rollback)} | < 60 s |`,
  ];
  process.stdout.write(`${table.join("\n")}\n`);
} finally {
  await fixture.deleteNamespace(namespace);
}
