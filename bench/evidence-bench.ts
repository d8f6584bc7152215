/**
 * What the signed evidence adds to the two stages it touches, side by side in
 * one run on the testbed and a real registry, through the shipped bin:
 * - push: `pipeline push` of the built image, against `pipeline attest`
 *   (provenance, SBOM read from the image, test results: signed, stored);
 * - deploy: `pipeline deploy --env test` of a new version through the gate
 *   (evidence read from the registry and verified), against the same deploy
 *   in a project that requires no evidence; the two alternate round by round.
 *
 *   npx tsx bench/evidence-bench.ts [rounds]   # default 5
 *
 * Prints a Markdown table; bench/RESULTS.md keeps the last one measured.
 */
import { randomBytes } from "node:crypto";
import { DeployFixture, type Run } from "../test/support/deploy-fixture.js";

const rounds = Number(process.argv[2] ?? 5);
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function check(run: Run, what: string): number {
  if (run.code !== 0) throw new Error(`${what} exited ${run.code}:\n${run.stderr}`);
  return run.ms;
}
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const spread = (values: number[]) =>
  `${seconds(median(values))} (min ${seconds(Math.min(...values))}, max ${seconds(Math.max(...values))})`;

await using fixture = await DeployFixture.create(log);
const suffix = randomBytes(3).toString("hex");
const gated = await fixture.project(`bench-gate-${suffix}`);
const ungated = await fixture.project(`bench-nogate-${suffix}`, { evidence: false });

try {
  const push: number[] = [];
  const attest: number[] = [];
  const gate: number[] = [];
  for (let i = 0; i < rounds; i++) {
    push.push(check(await fixture.run(["push"], fixture.repo), "push"));
    attest.push(check(await fixture.run(["attest"], fixture.repo), "attest"));
    gate.push(
      check(
        await fixture.run(["evidence", "--env", "test", "--image", fixture.images.v1.ref], gated),
        "evidence",
      ),
    );
    log(
      `push/attest round ${i + 1}/${rounds}: push ${seconds(push.at(-1)!)}, attest ${seconds(attest.at(-1)!)}`,
    );
  }
  const withGate: number[] = [];
  const without: number[] = [];
  const deploy = (project: string, image: { ref: string; commit: string }) =>
    fixture.run(["deploy", "--env", "test", "--image", image.ref], project, {
      GIT_COMMIT: image.commit,
    });
  check(await deploy(gated, fixture.images.v1), "first gated deploy");
  check(await deploy(ungated, fixture.images.v1), "first ungated deploy");
  let current = fixture.images.v1;
  for (let i = 0; i < rounds; i++) {
    const next = current === fixture.images.v1 ? fixture.images.next : fixture.images.v1;
    // Alternate which goes first, so neither always meets a warmer machine.
    const order = i % 2 === 0 ? [gated, ungated] : [ungated, gated];
    for (const project of order) {
      const ms = check(await deploy(project, next), `deploy ${i + 1}`);
      (project === gated ? withGate : without).push(ms);
    }
    current = next;
    log(
      `deploy round ${i + 1}/${rounds}: with the gate ${seconds(withGate.at(-1)!)}, without ${seconds(without.at(-1)!)}`,
    );
  }
  const table = [
    `| measurement (${rounds} rounds, ${fixture.cluster.description}) | median (min, max) | added by evidence | target |`,
    "|---|---|---|---|",
    `| \`pipeline push\` (image already in the registry) | ${spread(push)} | | |`,
    `| \`pipeline attest\` (provenance, SBOM, tests: read, signed, stored) | ${spread(attest)} | ${seconds(median(attest))} (${(median(attest) / median(push)).toFixed(2)}× push) | < 2 s |`,
    `| \`pipeline evidence --env test\` (the gate's read and verification alone, a process) | ${spread(gate)} | | |`,
    `| \`pipeline deploy\` of a new version, no evidence required | ${spread(without)} | | |`,
    `| \`pipeline deploy\` of a new version, through the gate | ${spread(withGate)} | ${seconds(median(withGate) - median(without))} (${(median(withGate) / median(without)).toFixed(2)}×) | < 2 s |`,
  ];
  process.stdout.write(`${table.join("\n")}\n`);
} finally {
  await fixture.deleteNamespace(`bench-gate-${suffix}`);
  await fixture.deleteNamespace(`bench-nogate-${suffix}`);
}
