import { expect } from "chai";
import type { Handlers } from "./cli.js";
import { ConfigError, StageError } from "./errors.js";
import { main } from "./main.js";
import { STRATEGY_TYPES } from "./config/schema.js";
import { DEPLOY_STRATEGIES } from "./stages/library-vars.js";

type Call = { command: keyof Handlers; options: unknown; globals: unknown };

/** Handlers that record what they were given instead of doing anything. */
function recordingHandlers(calls: Call[]): Handlers {
  const record =
    (command: keyof Handlers) =>
    (options: unknown, globals: unknown): Promise<void> => {
      calls.push({ command, options, globals });
      return Promise.resolve();
    };
  return {
    build: record("build"),
    test: record("test"),
    push: record("push"),
    attest: record("attest"),
    evidence: record("evidence"),
    promote: record("promote"),
    run: record("run"),
    deploy: record("deploy"),
    verify: record("verify"),
    rollback: record("rollback"),
    history: record("history"),
    lint: record("lint"),
    notify: record("notify"),
    cached: record("cached"),
  };
}

async function run(argv: string[]) {
  const calls: Call[] = [];
  let out = "";
  let err = "";
  const code = await main(argv, {
    handlers: recordingHandlers(calls),
    output: { writeOut: (t) => (out += t), writeErr: (t) => (err += t) },
  });
  return { code, calls, out, err };
}

const DIGEST = `sha256:${"a".repeat(64)}`;
const defaults = { json: false, verbose: false };
/** What `pipeline lint` is handed when no option is given. */
const LINT_DEFAULTS = {
  paths: [],
  skip: [],
  format: "text",
  warningsAsErrors: false,
  serverDryRun: false,
  allowMissingTools: false,
  cache: true,
};

describe("pipeline CLI", () => {
  it("deploy --strategy takes what the config's strategy.type and the Jenkins steps take", async () => {
    for (const strategy of STRATEGY_TYPES) {
      const { code, calls } = await run(["deploy", "--env", "test", "--strategy", strategy]);
      expect(code).to.equal(0);
      expect(calls[0]?.options).to.include({ strategy });
    }
    expect([...DEPLOY_STRATEGIES]).to.deep.equal([...STRATEGY_TYPES]);
  });

  const table: { argv: string[]; command: keyof Handlers; options: object; globals?: object }[] = [
    {
      argv: ["build"],
      command: "build",
      options: { artifact: "build.json", reuse: false, extraCa: undefined, buildArgs: {} },
    },
    {
      argv: [
        "--config",
        "ci.yaml",
        "--json",
        "build",
        "--reuse",
        "--build-arg",
        "A=1",
        "--build-arg",
        "B=x=y",
      ],
      command: "build",
      options: {
        artifact: "build.json",
        reuse: true,
        extraCa: undefined,
        buildArgs: { A: "1", B: "x=y" },
      },
      globals: { config: "ci.yaml", json: true, verbose: false },
    },
    {
      argv: ["-v", "build", "-a", "out/b.json", "--extra-ca", "/etc/ca.pem"],
      command: "build",
      options: { artifact: "out/b.json", reuse: false, extraCa: "/etc/ca.pem", buildArgs: {} },
      globals: { json: false, verbose: true },
    },
    {
      argv: ["test", "--image", "repo/app:tree-1"],
      command: "test",
      options: {
        image: "repo/app:tree-1",
        artifact: "build.json",
        junit: "reports/contract-tests.xml",
      },
    },
    {
      argv: ["test", "--junit", "r.xml"],
      command: "test",
      options: { image: undefined, artifact: "build.json", junit: "r.xml" },
    },
    { argv: ["push"], command: "push", options: { artifact: "build.json" } },
    {
      argv: ["promote", "--digest", DIGEST, "--tag", "master-7"],
      command: "promote",
      options: { digest: DIGEST, tag: "master-7", repository: undefined },
    },
    {
      argv: ["promote", "-d", DIGEST, "-t", "v1.2.3", "-r", "127.0.0.1:5000/app"],
      command: "promote",
      options: { digest: DIGEST, tag: "v1.2.3", repository: "127.0.0.1:5000/app" },
    },
    {
      argv: ["run", "dev"],
      command: "run",
      options: { pipeline: "dev", from: undefined, to: undefined, dryRun: false },
    },
    {
      argv: ["run", "dev", "--branch", "PR-7", "-n"],
      command: "run",
      options: { pipeline: "dev", from: undefined, to: undefined, dryRun: true, branch: "PR-7" },
    },
    {
      argv: ["run", "prod", "--from", "resolve", "--to", "push", "-n"],
      command: "run",
      options: { pipeline: "prod", from: "resolve", to: "push", dryRun: true },
    },
    {
      argv: ["deploy", "--env", "test"],
      command: "deploy",
      options: {
        env: "test",
        kubeconfig: undefined,
        context: undefined,
        image: undefined,
        artifact: "build.json",
        dryRun: false,
      },
    },
    {
      // The prod pipeline's Deploy to test and Verify test, for an image built on master only.
      argv: ["deploy", "--env", "test", "--unless-reused"],
      command: "deploy",
      options: {
        env: "test",
        kubeconfig: undefined,
        context: undefined,
        image: undefined,
        artifact: "build.json",
        dryRun: false,
        unlessReused: true,
      },
    },
    {
      // A rolling deploy into production (an incident's fix), over the config's canary.
      argv: ["deploy", "--env", "production", "--strategy", "rolling"],
      command: "deploy",
      options: {
        env: "production",
        kubeconfig: undefined,
        context: undefined,
        image: undefined,
        artifact: "build.json",
        dryRun: false,
        strategy: "rolling",
      },
    },
    {
      argv: ["verify", "--env", "test", "--unless-reused", "--junit", "reports/verify-test.xml"],
      command: "verify",
      options: {
        env: "test",
        kubeconfig: undefined,
        context: undefined,
        url: undefined,
        rollback: true,
        junit: "reports/verify-test.xml",
        artifact: "build.json",
        unlessReused: true,
      },
    },
    {
      argv: [
        "deploy",
        "-e",
        "production",
        "-i",
        `r.example.com/app@${DIGEST}`,
        "--context",
        "eks",
        "-n",
      ],
      command: "deploy",
      options: {
        env: "production",
        kubeconfig: undefined,
        context: "eks",
        image: `r.example.com/app@${DIGEST}`,
        artifact: "build.json",
        dryRun: true,
      },
    },
    {
      argv: ["verify", "--env", "test", "--no-rollback", "--kubeconfig", "/k"],
      command: "verify",
      options: {
        env: "test",
        kubeconfig: "/k",
        context: undefined,
        url: undefined,
        rollback: false,
        junit: "reports/verify.xml",
        artifact: "build.json",
      },
    },
    {
      argv: ["verify", "--env", "production", "--url", "https://c.example.com"],
      command: "verify",
      options: {
        env: "production",
        kubeconfig: undefined,
        context: undefined,
        url: "https://c.example.com",
        rollback: true,
        junit: "reports/verify.xml",
        artifact: "build.json",
      },
    },
    {
      argv: ["rollback", "--env", "test", "--to-revision", "3"],
      command: "rollback",
      options: { env: "test", kubeconfig: undefined, context: undefined, toRevision: 3 },
    },
    {
      argv: ["history", "--env", "production"],
      command: "history",
      options: { env: "production", kubeconfig: undefined, context: undefined },
    },
    {
      argv: ["lint"],
      command: "lint",
      options: LINT_DEFAULTS,
    },
    {
      argv: ["lint", "--no-cache"],
      command: "lint",
      options: { ...LINT_DEFAULTS, cache: false },
    },
    {
      argv: ["cached", "unit-tests", "-r", "reports/unit.xml", "--", "npm", "run", "test:fast"],
      command: "cached",
      options: {
        name: "unit-tests",
        command: ["npm", "run", "test:fast"],
        reports: ["reports/unit.xml"],
        cache: true,
      },
    },
    {
      argv: ["cached", "--no-cache", "checks", "--", "sh", "-c", "exit 0"],
      command: "cached",
      options: { name: "checks", command: ["sh", "-c", "exit 0"], reports: [], cache: false },
    },
    {
      argv: [
        "--json",
        "lint",
        "--skip",
        "typescript,shell",
        "--skip",
        "manifests",
        "-f",
        "checkstyle",
        "-o",
        "reports/lint.xml",
        "--max-warnings",
        "3",
        "--warnings-as-errors",
        "--server-dry-run",
        "--env",
        "test",
        "--context",
        "kind",
        "--allow-missing-tools",
        "Dockerfile",
        "k8s/a.yaml",
      ],
      command: "lint",
      options: {
        paths: ["Dockerfile", "k8s/a.yaml"],
        skip: ["typescript", "shell", "manifests"],
        format: "checkstyle",
        output: "reports/lint.xml",
        maxWarnings: 3,
        warningsAsErrors: true,
        serverDryRun: true,
        env: "test",
        context: "kind",
        allowMissingTools: true,
        cache: true,
      },
      globals: { json: true, verbose: false },
    },
    {
      argv: ["notify", "--status", "success"],
      command: "notify",
      options: {
        status: "success",
        stage: undefined,
        env: undefined,
        duration: undefined,
        artifact: "build.json",
      },
    },
    {
      argv: [
        "notify",
        "-s",
        "failure",
        "--stage",
        "Deploy to test",
        "-e",
        "test",
        "--duration",
        "83.5",
        "-a",
        "out/build.json",
      ],
      command: "notify",
      options: {
        status: "failure",
        stage: "Deploy to test",
        env: "test",
        duration: 83.5,
        artifact: "out/build.json",
      },
    },
  ];

  for (const { argv, command, options, globals } of table) {
    it(`pipeline ${argv.join(" ")} → ${command}`, async () => {
      const result = await run(argv);
      expect(result.err).to.equal("");
      expect(result.code).to.equal(0);
      expect(result.calls).to.deep.equal([{ command, options, globals: globals ?? defaults }]);
    });
  }

  const usage: { argv: string[]; message: RegExp }[] = [
    { argv: [], message: /Usage: pipeline/ },
    { argv: ["deploi"], message: /unknown command 'deploi'/ },
    { argv: ["deploy"], message: /required option '-e, --env <name>'/ },
    {
      argv: ["deploy", "--env", "test", "--image", "127.0.0.1:5000/app:v1"],
      message: /is not an image by digest/,
    },
    {
      argv: ["rollback", "--env", "test", "--to-revision", "two"],
      message: /not a revision number/,
    },
    {
      argv: ["deploy", "--env", "production", "--strategy", "blue-green"],
      message: /argument 'blue-green' is invalid\. Allowed choices are rolling, canary/,
    },
    { argv: ["build", "--frobnicate"], message: /unknown option '--frobnicate'/ },
    { argv: ["lint", "--skip", "typescript,yaml"], message: /unknown area yaml/ },
    { argv: ["lint", "--format", "sarif"], message: /Allowed choices are text, checkstyle/ },
    { argv: ["lint", "--max-warnings", "many"], message: /"many" is not a count/ },
    { argv: ["build", "--build-arg", "no-equals"], message: /expected NAME=value/ },
    { argv: ["promote", "--tag", "x"], message: /required option '-d, --digest/ },
    {
      argv: ["promote", "--digest", "sha256:abc", "--tag", "x"],
      message: /"sha256:abc" is not a digest/,
    },
    {
      argv: ["promote", "--digest", DIGEST, "--tag", "-bad"],
      message: /"-bad" is not a valid tag/,
    },
    { argv: ["notify"], message: /required option '-s, --status <status>'/ },
    {
      argv: ["notify", "--status", "cancelled"],
      message: /Allowed choices are success, failure, fixed, aborted/,
    },
    {
      argv: ["notify", "-s", "fixed", "--duration", "2m"],
      message: /"2m" is not a number of seconds/,
    },
  ];
  for (const { argv, message } of usage) {
    it(`exits 2 on bad usage: pipeline ${argv.join(" ")}`, async () => {
      const result = await run(argv);
      expect(result.code).to.equal(2);
      expect(result.calls).to.deep.equal([]);
      expect(result.err).to.match(message);
    });
  }

  it("prints help and exits 0", async () => {
    const result = await run(["build", "--help"]);
    expect(result.code).to.equal(0);
    expect(result.out).to.include("--reuse");
    expect(result.calls).to.deep.equal([]);
  });

  it("refuses to run under a Jenkins library of another version (PIPELINE_LIBRARY_VERSION), exit 2, naming both", async () => {
    const saved = process.env.PIPELINE_LIBRARY_VERSION;
    try {
      process.env.PIPELINE_LIBRARY_VERSION = "0.0.1";
      const other = await run(["build"]);
      expect(other.code).to.equal(2);
      expect(other.calls).to.deep.equal([]);
      expect(other.err).to.match(
        /^pipeline: the Jenkins library is pipeline-lib 0\.0\.1 but the installed CLI is \d+\.\d+\.\d+; pin one version in both/,
      );
      expect((await run(["--version"])).code, "--version still answers").to.equal(0);
      const { version } = (await import("../package.json", { with: { type: "json" } })).default;
      process.env.PIPELINE_LIBRARY_VERSION = version;
      const same = await run(["build"]);
      expect(same.code).to.equal(0);
      expect(same.calls.map((c) => c.command)).to.deep.equal(["build"]);
    } finally {
      if (saved === undefined) delete process.env.PIPELINE_LIBRARY_VERSION;
      else process.env.PIPELINE_LIBRARY_VERSION = saved;
    }
  });

  it("turns a failing handler into exit code 1 and a configuration error into 2", async () => {
    const failWith = (error: Error): Handlers => ({
      ...recordingHandlers([]),
      build: () => Promise.reject(error),
    });
    let err = "";
    const output = { writeOut: () => undefined, writeErr: (t: string) => (err += t) };
    const stage = await main(["build"], {
      handlers: failWith(new StageError("build failed", { cause: new Error("step 3") })),
      output,
    });
    expect(stage).to.equal(1);
    expect(err).to.include("pipeline: build failed\ncaused by: step 3");
    const config = await main(["build"], {
      handlers: failWith(new ConfigError("bad config")),
      output,
    });
    expect(config).to.equal(2);
  });

  it("ends a usage or config error with its own message, and shows its causes with --verbose", async () => {
    const cause = new Error("ENOENT: no such file or directory, open 'build.json'");
    const error = new ConfigError("cannot read build.json; run `pipeline build` first", { cause });
    const handlers: Handlers = { ...recordingHandlers([]), push: () => Promise.reject(error) };
    for (const [argv, shown] of [
      [["push"], false],
      [["--verbose", "push"], true],
      [["push", "--verbose"], true],
    ] as const) {
      let err = "";
      const output = { writeOut: () => undefined, writeErr: (t: string) => (err += t) };
      expect(await main(argv, { handlers, output })).to.equal(2);
      expect(
        err
          .trimEnd()
          .split("\n")
          .at(shown ? 0 : -1),
      ).to.equal("pipeline: cannot read build.json; run `pipeline build` first");
      expect(err.includes("caused by: ENOENT"), argv.join(" ")).to.equal(shown);
    }
  });
});
