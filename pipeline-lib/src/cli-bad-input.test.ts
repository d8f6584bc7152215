import { expect } from "chai";
import { access, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { main } from "./main.js";
import { runPipelineBin } from "./test-support/run-process.js";

/**
 * Bad input of every kind, run through the real command handlers: malformed
 * config files, bad image references, unknown environments, flags and
 * commands, missing options. Each must exit 2 (usage or configuration,
 * nothing changed) with a message naming the problem, and never print a
 * stack trace. Every case fails before anything reaches Docker or a cluster.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const DIGEST = `sha256:${"a".repeat(64)}`;
const IMAGE = `127.0.0.1:5000/visit-counter@${DIGEST}`;
const STACK_FRAME = /\n\s+at .+:\d+:\d+/;
/** A variable no machine sets, for `${VAR}` without a default. */
const UNSET_VAR = "PIPELINE_RELIABILITY_SURELY_UNSET_VARIABLE";

/** A config that validates; each corpus entry breaks one thing in it. */
const GOOD_CONFIG = `app:
  name: visit-counter
  port: 3000
image:
  repository: 127.0.0.1:5000/visit-counter
environments:
  test:
    namespace: test
    replicas: 2
    podSecurity: restricted
    autoscaling:
      minReplicas: 2
      maxReplicas: 4
`;

interface ConfigCase {
  name: string;
  text: string;
  message: RegExp;
  /** The command that reads the config; deploy --dry-run by default. */
  argv?: string[];
}

const DEPLOY = ["deploy", "--env", "test", "--image", IMAGE, "--dry-run"];

const configCorpus: ConfigCase[] = [
  { name: "invalid YAML", text: "app: [visit-counter\n", message: /:\d+: invalid YAML/ },
  {
    name: "a tab-indented YAML",
    text: GOOD_CONFIG.replace("  name: visit-counter", "\tname: visit-counter"),
    message: /invalid YAML/,
  },
  {
    name: "duplicate keys",
    text: GOOD_CONFIG + "app:\n  name: again\n",
    message: /invalid YAML: Map keys must be unique/,
  },
  { name: "an empty file", text: "", message: /invalid config .*app: .*expected object/s },
  { name: "a list at the root", text: "- app\n- image\n", message: /\(root\)/ },
  {
    name: "app.port of the wrong type",
    text: GOOD_CONFIG.replace("port: 3000", 'port: "three thousand"'),
    message: /:3: app\.port: .*expected number/,
  },
  {
    name: "an unknown field",
    text: GOOD_CONFIG.replace("  port: 3000", "  port: 3000\n  replicaz: 3"),
    message: /app\.replicaz: unknown field replicaz/,
  },
  {
    name: "a bad repository",
    text: GOOD_CONFIG.replace("127.0.0.1:5000/visit-counter", "Visit Counter:latest"),
    message: /image\.repository: must be a lowercase image repository/,
  },
  {
    name: "a repository with a tag",
    text: GOOD_CONFIG.replace("127.0.0.1:5000/visit-counter", "127.0.0.1:5000/app:v1"),
    message: /image\.repository: must be a lowercase image repository/,
  },
  {
    name: "a bad namespace",
    text: GOOD_CONFIG.replace("namespace: test", "namespace: Test_NS"),
    message: /environments\.test\.namespace: must be a Kubernetes namespace name/,
  },
  {
    name: "an unset ${VAR}",
    text: GOOD_CONFIG.replace("127.0.0.1:5000", `\${${UNSET_VAR}}`),
    message: new RegExp(
      `image\\.repository uses \\$\\{${UNSET_VAR}\\}, but ${UNSET_VAR} is not set`,
    ),
  },
  {
    name: "negative replicas",
    text: GOOD_CONFIG.replace("replicas: 2", "replicas: -1"),
    message: /environments\.test\.replicas: .*>=1/,
  },
  {
    name: "fractional replicas",
    text: GOOD_CONFIG.replace("replicas: 2", "replicas: 1.5"),
    message: /environments\.test\.replicas: .*expected int/,
  },
  {
    name: "autoscaling with min > max",
    text: GOOD_CONFIG.replace("maxReplicas: 4", "maxReplicas: 1"),
    message: /environments\.test\.autoscaling: maxReplicas must be at least minReplicas/,
  },
  {
    name: "a bad podSecurity",
    text: GOOD_CONFIG.replace("podSecurity: restricted", "podSecurity: root"),
    message: /environments\.test\.podSecurity: .*"restricted"\|"baseline"\|"privileged"/,
  },
  {
    name: "an unknown environment section",
    text: GOOD_CONFIG + "  staging:\n    namespace: staging\n",
    message: /environments\.staging: unknown field staging/,
  },
  {
    name: "a contract path that does not exist",
    text: GOOD_CONFIG.replace("  port: 3000", "  port: 3000\n  contract: no/such/checks.js"),
    message: /contract module .*no\/such\/checks\.js \(app\.contract\) does not exist/,
    argv: ["verify", "--env", "test"],
  },
];

interface ArgvCase {
  argv: string[];
  message: RegExp;
}

/** Command lines run against GOOD_CONFIG (`--config` is added in front). */
const argvCorpus: ArgvCase[] = [
  // Image references.
  {
    argv: ["deploy", "--env", "test", "--image", "127.0.0.1:5000/visit-counter:v1"],
    message: /"127\.0\.0\.1:5000\/visit-counter:v1" is not an image by digest/,
  },
  {
    argv: ["deploy", "--env", "test", "--image", "127.0.0.1:5000/app@sha256:xyz"],
    message: /is not an image by digest; expected repository@sha256: and 64 hex digits/,
  },
  {
    argv: ["deploy", "--env", "test", "--image", `@${DIGEST}`],
    message: /is not an image by digest/,
  },
  { argv: ["promote", "--digest", "sha256:abc", "--tag", "v1"], message: /is not a digest/ },
  {
    argv: ["promote", "--digest", `sha256:${"a".repeat(63)}`, "--tag", "v1"],
    message: /is not a digest; expected sha256: and 64 hex digits/,
  },
  {
    argv: ["promote", "--digest", `SHA256:${"A".repeat(64)}`, "--tag", "v1"],
    message: /is not a digest/,
  },
  {
    argv: ["promote", "--digest", `md5:${"a".repeat(32)}`, "--tag", "v1"],
    message: /not a digest/,
  },
  { argv: ["promote", "--digest", "", "--tag", "v1"], message: /"" is not a digest/ },
  { argv: ["promote", "--digest", DIGEST, "--tag=-v1"], message: /"-v1" is not a valid tag/ },
  { argv: ["promote", "--digest", DIGEST, "--tag", ".v1"], message: /is not a valid tag/ },
  { argv: ["promote", "--digest", DIGEST, "--tag", "v 1"], message: /is not a valid tag/ },
  { argv: ["promote", "--digest", DIGEST, "--tag", "a/b"], message: /is not a valid tag/ },
  { argv: ["promote", "--digest", DIGEST, "--tag", "x".repeat(129)], message: /not a valid tag/ },
  // Unknown environments (the good config defines only test).
  {
    argv: ["deploy", "--env", "staging", "--image", IMAGE, "--dry-run"],
    message: /unknown environment "staging": .* defines test; use --env test/,
  },
  {
    argv: ["deploy", "--env", "production", "--image", IMAGE, "--dry-run"],
    message: /unknown environment "production".*add environments\.production to the config/,
  },
  { argv: ["history", "--env", "Test"], message: /unknown environment "Test"/ },
  { argv: ["rollback", "--env", ""], message: /unknown environment ""/ },
  // Unknown commands and flags.
  { argv: ["deploi"], message: /unknown command 'deploi'/ },
  { argv: ["frobnicate", "--now"], message: /unknown command 'frobnicate'/ },
  { argv: ["build", "--frobnicate"], message: /unknown option '--frobnicate'/ },
  { argv: ["deploy", "--env", "test", "--imag", IMAGE], message: /unknown option '--imag'/ },
  { argv: ["--frobnicate", "build"], message: /unknown option '--frobnicate'/ },
  {
    argv: ["run", "staging"],
    message: /value 'staging' is invalid for argument 'pipeline'. Allowed choices are dev, prod/,
  },
  { argv: ["lint", "--format", "sarif"], message: /Allowed choices are text, checkstyle/ },
  // Missing required options and option values.
  { argv: ["deploy"], message: /required option '-e, --env <name>' not specified/ },
  { argv: ["verify"], message: /required option '-e, --env <name>' not specified/ },
  { argv: ["rollback"], message: /required option '-e, --env <name>' not specified/ },
  { argv: ["history"], message: /required option '-e, --env <name>' not specified/ },
  { argv: ["promote"], message: /required option '-d, --digest/ },
  { argv: ["promote", "--digest", DIGEST], message: /required option '-t, --tag/ },
  { argv: ["notify"], message: /required option '-s, --status <status>'/ },
  { argv: ["deploy", "--env"], message: /option '-e, --env <name>' argument missing/ },
  { argv: ["run"], message: /missing required argument 'pipeline'/ },
  // Bad option values.
  { argv: ["rollback", "--env", "test", "--to-revision", "0"], message: /not a revision number/ },
  { argv: ["rollback", "--env", "test", "--to-revision", "-1"], message: /not a revision/ },
  { argv: ["lint", "--max-warnings", "-1"], message: /"-1" is not a count/ },
  { argv: ["notify", "-s", "failure", "--duration", "NaN"], message: /not a number of seconds/ },
  { argv: ["build", "--build-arg", "=x"], message: /expected NAME=value/ },
];

interface Outcome {
  code: number;
  out: string;
  err: string;
}

function expectCleanUsageError(result: Outcome, message: RegExp): void {
  expect(result.code, `exit code; stderr: ${result.err}`).to.equal(2);
  expect(result.err).to.match(message);
  expect(result.err, "a stack trace on stderr").not.to.match(STACK_FRAME);
  expect(result.out, "a stack trace on stdout").not.to.match(STACK_FRAME);
  // One short, readable message, not a dump.
  expect(result.err.length, result.err).to.be.below(2_000);
}

describe("pipeline CLI on bad input", () => {
  let dir: string;
  let goodConfig: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "pipeline-bad-input-"));
    goodConfig = path.join(dir, "good.yaml");
    await writeFile(goodConfig, GOOD_CONFIG);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** main(argv) in-process, with the real handlers: what the bin runs. */
  async function runMain(argv: string[]): Promise<Outcome> {
    let out = "";
    let err = "";
    const code = await main(argv, {
      output: { writeOut: (t) => (out += t), writeErr: (t) => (err += t) },
    });
    return { code, out, err };
  }

  it("accepts the good config (the corpus breaks one thing each)", async () => {
    // An unknown environment is checked after the config loaded, so this
    // proves GOOD_CONFIG itself validates.
    const result = await runMain([
      "--config",
      goodConfig,
      "deploy",
      "--env",
      "nowhere",
      "--image",
      IMAGE,
    ]);
    expectCleanUsageError(result, /unknown environment "nowhere"/);
  });

  describe("malformed config files", () => {
    for (const [index, { name, text, message, argv }] of configCorpus.entries()) {
      it(`exits 2 and names the problem: ${name}`, async () => {
        const file = path.join(dir, `bad-${index}.yaml`);
        await writeFile(file, text);
        const result = await runMain(["--config", file, ...(argv ?? DEPLOY)]);
        expectCleanUsageError(result, message);
        // A config error says where; the contract error names the field and its path instead.
        if (argv === undefined) expect(result.err).to.include(file);
      });
    }

    it("exits 2 when the config file does not exist", async () => {
      const file = path.join(dir, "missing.yaml");
      const result = await runMain(["--config", file, ...DEPLOY]);
      expectCleanUsageError(result, /cannot read config file .*missing\.yaml; create it/);
    });

    it("exits 2 when the config path is a directory", async () => {
      const result = await runMain(["--config", dir, ...DEPLOY]);
      expectCleanUsageError(result, /cannot read config file/);
    });
  });

  describe("bad command lines", () => {
    for (const { argv, message } of argvCorpus) {
      it(`exits 2: pipeline ${argv.join(" ").slice(0, 80)}`, async () => {
        const result = await runMain(["--config", goodConfig, ...argv]);
        expectCleanUsageError(result, message);
      });
    }
  });

  describe("through the shipped bin", function () {
    this.timeout(30_000);

    before(async () => {
      await access(path.join(ROOT, "pipeline-lib/dist/main.js")).catch(() => {
        throw new Error("pipeline-lib is not built; run `npm run build` (npm test does)");
      });
    });

    async function runBin(argv: string[]): Promise<Outcome> {
      const run = await runPipelineBin(argv, {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "", HOME: dir, KUBECONFIG: "/nonexistent" },
      });
      return { code: run.code ?? -1, out: run.stdout, err: run.stderr };
    }

    const binCases: { name: string; argv: () => string[]; message: RegExp }[] = [
      {
        name: "invalid YAML",
        argv: () => ["--config", path.join(dir, "bad-0.yaml"), ...DEPLOY],
        message: /invalid YAML/,
      },
      {
        name: "no config file in the working directory",
        argv: () => DEPLOY,
        message: /cannot read config file .*pipeline\.config\.yaml/,
      },
      { name: "an unknown command", argv: () => ["deploi"], message: /unknown command 'deploi'/ },
      {
        name: "a tag instead of a digest",
        argv: () => ["deploy", "--env", "test", "--image", "app:v1"],
        message: /is not an image by digest/,
      },
      {
        name: "an unknown environment",
        argv: () => ["--config", goodConfig, "history", "--env", "staging"],
        message: /unknown environment "staging"/,
      },
    ];
    for (const { name, argv, message } of binCases) {
      it(`exits 2 without a stack trace: ${name}`, async () => {
        await writeFile(path.join(dir, "bad-0.yaml"), configCorpus[0]!.text);
        expectCleanUsageError(await runBin(argv()), message);
      });
    }
  });
});
