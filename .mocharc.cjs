// One mocha run covers both workspaces. Tests sit next to the code they test
// (`*.test.ts`); slow ones carry `@slow` in their title so that
// `npm run test:fast` can leave them out.
//
// Files run in parallel, in TEST_JOBS worker processes (3 unless set; 1 runs
// them one after another in this process). Most of the slow files wait on a
// rollout, a pod or a registry rather than on the CPU, so three workers keep 2
// cores busy. Naming files (`npm test -- service/src/app.test.ts`) runs just
// those, one after another, with their output in order.
const { globSync } = require("node:fs");

const ci = process.env.CI === "true";

// Mocha adds files named on the command line to the configured spec; naming
// files (`npm test -- service/src/app.test.ts`) should run just those.
const namesFiles = process.argv
  .slice(2)
  .some((arg) => !arg.startsWith("-") && /\.ts$|\*/.test(arg));

const patterns = [
  "service/src/**/*.test.ts",
  "pipeline-lib/src/**/*.test.ts",
  "test/**/*.test.ts",
  "infra/**/*.test.ts",
  "Diagrams/**/*.test.ts",
];

// Workers take files in this order, so the longest ones start first and no
// worker begins a five-minute file when the others are done (longest
// processing time first). The order comes from `TEST_PROFILE=20 npm test`
// (bench/RESULTS.md, "The test suite"); a file missing here only runs later.
const longestFirst = [
  "test/deploy/deploy.test.ts",
  "test/evidence/production-gate.test.ts",
  "test/deploy/canary.test.ts",
  "test/quickstart.test.ts",
  "test/security/deployer.test.ts",
  "test/second-app/second-app.test.ts",
  "test/kube/wait-for-rollout.test.ts",
  "test/package.test.ts",
  // Short once built, but their hooks build kube-router and cosign on a new machine.
  "test/security/network-policy.test.ts",
  "test/evidence/registry-evidence.test.ts",
  "test/security/secrets.test.ts",
  "test/reliability/redis-persistence-on-cluster.test.ts",
  "pipeline-lib/src/commands/notify.test.ts",
  "test/kube/deploy-lock.test.ts",
  "infra/testbed/testbed.test.ts",
  "test/cli-flow.test.ts",
  "pipeline-lib/src/commands/push.test.ts",
  "test/lint/lint.test.ts",
];

function specFiles() {
  const files = patterns.flatMap((pattern) => globSync(pattern)).sort();
  const first = longestFirst.filter((file) => files.includes(file));
  return [...first, ...files.filter((file) => !first.includes(file))];
}

const jobs = Number(process.env.TEST_JOBS ?? 3);
if (!Number.isInteger(jobs) || jobs < 1) {
  throw new Error(
    `TEST_JOBS=${process.env.TEST_JOBS} is not a number of worker processes: use a whole number from 1 (one file after another) up, or leave it unset for 3`,
  );
}

module.exports = {
  "node-option": ["import=tsx"],
  // Its mochaGlobalSetup starts one registry for the run, before the workers
  // fork; the files that deploy push there, each under a path of its own.
  require: ["test/support/suite-registry.ts"],
  spec: namesFiles ? [] : specFiles(),
  parallel: !namesFiles && jobs > 1,
  jobs,
  reporter: "./test/ci-reporter.cjs",
  timeout: 20_000,
  slow: 2_000,
  // A skipped test is not a passing one, and a stray `.only` would hide the rest.
  "forbid-only": ci,
  "forbid-pending": true,
  exit: false,
};
