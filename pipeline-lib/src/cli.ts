import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { isValidDigest, isValidTag } from "./reference/image-reference.js";
import type { AttestOptions } from "./commands/attest.js";
import type { BuildOptions } from "./commands/build.js";
import type { CachedOptions } from "./commands/cached.js";
import type { EvidenceOptions } from "./commands/evidence.js";
import type { GlobalOptions } from "./commands/context.js";
import type { DeployOptions } from "./commands/deploy.js";
import type { HistoryOptions } from "./commands/history.js";
import type { LintOptions } from "./commands/lint.js";
import type { NotifyOptions } from "./commands/notify.js";
import type { RollbackOptions } from "./commands/rollback.js";
import type { VerifyOptions } from "./commands/verify.js";
import type { PromoteOptions } from "./commands/promote.js";
import type { PushOptions } from "./commands/push.js";
import type { RunOptions } from "./commands/run.js";
import type { TestOptions } from "./commands/test.js";
import { DEFAULT_ARTIFACT_FILE } from "./artifact/build-artifact.js";
import { PACKAGE_VERSION } from "./package-root.js";
import { LINT_AREAS, type LintArea } from "./lint/finding.js";
import { NOTIFY_STATUSES } from "./notify/slack-message.js";

/**
 * One function per command. cli.ts only declares commands and options and hands
 * each handler a typed options object; the handlers live in commands/<name>.ts
 * and are imported lazily, so `pipeline --help` loads none of them.
 */
export interface Handlers {
  build(options: BuildOptions, globals: GlobalOptions): Promise<void>;
  test(options: TestOptions, globals: GlobalOptions): Promise<void>;
  push(options: PushOptions, globals: GlobalOptions): Promise<void>;
  attest(options: AttestOptions, globals: GlobalOptions): Promise<void>;
  evidence(options: EvidenceOptions, globals: GlobalOptions): Promise<void>;
  promote(options: PromoteOptions, globals: GlobalOptions): Promise<void>;
  run(options: RunOptions, globals: GlobalOptions): Promise<void>;
  deploy(options: DeployOptions, globals: GlobalOptions): Promise<void>;
  verify(options: VerifyOptions, globals: GlobalOptions): Promise<void>;
  rollback(options: RollbackOptions, globals: GlobalOptions): Promise<void>;
  history(options: HistoryOptions, globals: GlobalOptions): Promise<void>;
  lint(options: LintOptions, globals: GlobalOptions): Promise<void>;
  notify(options: NotifyOptions, globals: GlobalOptions): Promise<void>;
  cached(options: CachedOptions, globals: GlobalOptions): Promise<void>;
}

export interface ProgramOutput {
  writeOut: (text: string) => void;
  writeErr: (text: string) => void;
}

export function createProgram(handlers: Handlers, output?: ProgramOutput): Command {
  const program = new Command("pipeline")
    .description(
      "Build, test, push, deploy and verify one image, the same way on a laptop and in Jenkins.\n" +
        "Exit codes: 0 success, 1 a stage failed, 2 usage or configuration error (nothing changed),\n" +
        "130 interrupted (a deploy rolls back and releases its lock first).",
    )
    .version(PACKAGE_VERSION, "-V, --version")
    .option("-c, --config <file>", "project config file (default: pipeline.config.yaml)")
    .option("--json", "print the result as JSON on stdout", false)
    .option("-v, --verbose", "show every line of output from the tools", false)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  if (output) program.configureOutput(output);

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const artifactOption = () =>
    new Option("-a, --artifact <file>", "build artifact file").default(DEFAULT_ARTIFACT_FILE);
  const unlessReusedOption = () =>
    new Option(
      "--unless-reused",
      "do nothing when the build artifact's image was reused (it passed this environment when it was built)",
    ).default(false);

  program
    .command("build")
    .description(
      "build the image through the Docker Engine, tagged by the git tree hash of its inputs",
    )
    .addOption(artifactOption())
    .option(
      "--reuse",
      "skip the build when the registry already has an image for these inputs",
      false,
    )
    .option(
      "--extra-ca <file>",
      "extra CA bundle for builds behind TLS inspection (build stages only)",
    )
    .option("--build-arg <name=value>", "build argument; repeatable", collectBuildArg, {})
    .action(
      async (opts: {
        artifact: string;
        reuse: boolean;
        extraCa?: string;
        buildArg: Record<string, string>;
      }) => {
        await handlers.build(
          {
            artifact: opts.artifact,
            reuse: opts.reuse,
            extraCa: opts.extraCa,
            buildArgs: opts.buildArg,
          },
          globals(),
        );
      },
    );

  program
    .command("test")
    .description("run the HTTP contract checks against that exact image, beside a real Redis")
    .option("-i, --image <ref>", "image to test (default: the image in the build artifact)")
    .addOption(artifactOption())
    .option("--junit <file>", "JUnit XML report", "reports/contract-tests.xml")
    .action(async (opts: { image?: string; artifact: string; junit: string }) => {
      await handlers.test(
        { image: opts.image, artifact: opts.artifact, junit: opts.junit },
        globals(),
      );
    });

  program
    .command("push")
    .description("push the built tags and record the pushed sha256 digest in the build artifact")
    .addOption(artifactOption())
    .action(async (opts: { artifact: string }) => {
      await handlers.push({ artifact: opts.artifact }, globals());
    });

  program
    .command("attest")
    .description(
      "sign the pushed image's provenance, SBOM and test results and store them beside it in the registry",
    )
    .addOption(artifactOption())
    .action(async (opts: { artifact: string }) => {
      await handlers.attest({ artifact: opts.artifact }, globals());
    });

  program
    .command("evidence")
    .description(
      "show the signed evidence the registry holds for an image, checked against the trusted keys",
    )
    .option(
      "-i, --image <repository@sha256:…>",
      "the image (default: the pushed image in the build artifact)",
      parseImageWithDigest,
    )
    .addOption(artifactOption())
    .option(
      "-e, --env <name>",
      "also say whether this environment's deploy gate accepts it (exit 1 when not)",
    )
    .action(async (opts: { image?: string; artifact: string; env?: string }) => {
      await handlers.evidence(
        { image: opts.image, artifact: opts.artifact, env: opts.env },
        globals(),
      );
    });

  program
    .command("promote")
    .description("add a tag to an existing manifest in the registry, without pulling or rebuilding")
    .requiredOption("-d, --digest <sha256:…>", "the manifest digest to tag", parseDigest)
    .requiredOption("-t, --tag <tag>", "the tag to add", parseTag)
    .option("-r, --repository <repo>", "repository (default: image.repository from the config)")
    .action(async (opts: { digest: string; tag: string; repository?: string }) => {
      await handlers.promote(
        { digest: opts.digest, tag: opts.tag, repository: opts.repository },
        globals(),
      );
    });

  const envOptions = (command: Command) =>
    command
      .requiredOption("-e, --env <name>", "the environment: test or production")
      .option("--kubeconfig <file>", "kubeconfig file (default: KUBECONFIG, then ~/.kube/config)")
      .option("--context <name>", "kubeconfig context (default: the environment's kubeContext)");
  type EnvOpts = { env: string; kubeconfig?: string; context?: string };
  const env = (opts: EnvOpts) => ({
    env: opts.env,
    kubeconfig: opts.kubeconfig,
    context: opts.context,
  });

  envOptions(
    program
      .command("deploy")
      .description(
        "deploy the pushed image by digest to an environment, wait for the rollout, roll back if it fails",
      ),
  )
    .option(
      "-i, --image <repository@sha256:…>",
      "image to deploy (default: the pushed image in the build artifact)",
      parseImageWithDigest,
    )
    .addOption(artifactOption())
    .option(
      "-n, --dry-run",
      "check config, cluster, manifests (server-side dry run) and the image's evidence; change nothing",
      false,
    )
    .addOption(unlessReusedOption())
    .addOption(
      new Option(
        "--strategy <type>",
        "rolling, or canary (beside the stable release, judged by both's metrics, step by step); " +
          "default: the environment's strategy in the config",
      ).choices(["rolling", "canary"]),
    )
    .action(
      async (
        opts: EnvOpts & {
          image?: string;
          artifact: string;
          dryRun: boolean;
          unlessReused: boolean;
          strategy?: "rolling" | "canary";
        },
      ) => {
        await handlers.deploy(
          {
            ...env(opts),
            image: opts.image,
            artifact: opts.artifact,
            dryRun: opts.dryRun,
            ...(opts.unlessReused ? { unlessReused: true } : {}),
            ...(opts.strategy ? { strategy: opts.strategy } : {}),
          },
          globals(),
        );
      },
    );

  envOptions(
    program
      .command("verify")
      .description(
        "run the app's contract checks against the deployed release; roll back if they fail",
      ),
  )
    .option("--url <url>", "reach the app here (an Ingress URL) instead of a port-forward")
    .option("--no-rollback", "do not roll back when a check fails")
    .option("--junit <file>", "JUnit XML report", "reports/verify.xml")
    .addOption(artifactOption())
    .addOption(unlessReusedOption())
    .action(
      async (
        opts: EnvOpts & {
          url?: string;
          rollback: boolean;
          junit: string;
          artifact: string;
          unlessReused: boolean;
        },
      ) => {
        await handlers.verify(
          {
            ...env(opts),
            url: opts.url,
            rollback: opts.rollback,
            junit: opts.junit,
            artifact: opts.artifact,
            ...(opts.unlessReused ? { unlessReused: true } : {}),
          },
          globals(),
        );
      },
    );

  envOptions(
    program
      .command("rollback")
      .description("return an environment to an earlier revision (the previous one by default)"),
  )
    .option(
      "--to-revision <n>",
      "the revision to return to (see `pipeline history`)",
      parseRevision,
    )
    .action(async (opts: EnvOpts & { toRevision?: number }) => {
      await handlers.rollback({ ...env(opts), toRevision: opts.toRevision }, globals());
    });

  envOptions(
    program
      .command("history")
      .description("list an environment's revisions: image digest, commit, time and trigger"),
  ).action(async (opts: EnvOpts) => {
    await handlers.history(env(opts), globals());
  });

  program
    .command("lint")
    .description(
      "lint the code, the Dockerfile, the manifests, the Jenkinsfiles and the shell scripts in one gate",
    )
    .argument("[paths...]", "lint only these files (Dockerfile, *.yaml, Jenkinsfile, *.sh)")
    .option(
      "--skip <area>",
      `skip an area: ${LINT_AREAS.join(", ")}; repeatable or comma-separated`,
      collectLintAreas,
      [],
    )
    .addOption(
      new Option("-f, --format <format>", "report format")
        .choices(["text", "checkstyle"])
        .default("text"),
    )
    .option("-o, --output <file>", "write the report to this file (Jenkins: checkstyle)")
    .option("--max-warnings <n>", "fail when there are more warnings than this", parseCount)
    .option("--warnings-as-errors", "fail on any warning", false)
    .option(
      "--server-dry-run",
      "also have the environment's API server admit the rendered manifests (needs --env)",
      false,
    )
    .option("-e, --env <name>", "the environment for --server-dry-run: test or production")
    .option("--kubeconfig <file>", "kubeconfig file (default: KUBECONFIG, then ~/.kube/config)")
    .option("--context <name>", "kubeconfig context (default: the environment's kubeContext)")
    .option(
      "--allow-missing-tools",
      "a missing Java/Groovy or shellcheck is a warning, not an error",
      false,
    )
    .option("--no-cache", "run tsc and ESLint without their caches (also PIPELINE_NO_CACHE=1)")
    .action(async (paths: string[], opts: Omit<LintOptions, "paths">) => {
      await handlers.lint({ paths, ...opts }, globals());
    });

  program
    .command("notify")
    .description(
      "post how a run ended to Slack (webhook in SLACK_WEBHOOK_URL); never fails the pipeline",
    )
    .addOption(
      new Option("-s, --status <status>", "how the run ended")
        .choices(NOTIFY_STATUSES)
        .makeOptionMandatory(),
    )
    .option("--stage <title>", "the stage that failed (default: FAILED_STAGE)")
    .option("-e, --env <name>", "the environment the run deployed to")
    .option(
      "--duration <seconds>",
      "how long the run took (default: BUILD_DURATION, else the time since BUILD_START)",
      parseSeconds,
    )
    .addOption(artifactOption())
    .action(
      async (opts: {
        status: NotifyOptions["status"];
        stage?: string;
        env?: string;
        duration?: number;
        artifact: string;
      }) => {
        await handlers.notify(
          {
            status: opts.status,
            stage: opts.stage,
            env: opts.env,
            duration: opts.duration,
            artifact: opts.artifact,
          },
          globals(),
        );
      },
    );

  program
    .command("run")
    .description("run a pipeline's stages locally, in the order Jenkins runs them")
    .addArgument(new Argument("<pipeline>", "which pipeline").choices(["dev", "prod"]))
    .option("--from <stage>", "start at this stage id")
    .option("--to <stage>", "stop after this stage id")
    .option("-n, --dry-run", "print the stages and their commands without running them", false)
    .option(
      "-b, --branch <name>",
      "skip the stages Jenkins skips on this branch (PR-<n> for a pull request); default: every stage",
    )
    .action(
      async (
        pipeline: RunOptions["pipeline"],
        opts: { from?: string; to?: string; dryRun: boolean; branch?: string },
      ) => {
        await handlers.run(
          {
            pipeline,
            from: opts.from,
            to: opts.to,
            dryRun: opts.dryRun,
            ...(opts.branch !== undefined ? { branch: opts.branch } : {}),
          },
          globals(),
        );
      },
    );

  program
    .command("cached")
    .description(
      "run a check (the unit tests) unless a passing run had the same inputs: every workspace file by content, the installed packages, Node.js, the command",
    )
    .argument("<name>", "what it checks, e.g. unit-tests: names its records and log lines")
    .argument("<command...>", "the command and its arguments, after --")
    .option(
      "-r, --report <file>",
      "a file the command writes (JUnit XML), kept with a pass and written back when it is reused; repeatable",
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option("--no-cache", "run the command whatever was recorded (also PIPELINE_NO_CACHE=1)")
    .action(async (name: string, command: string[], opts: { report: string[]; cache: boolean }) => {
      await handlers.cached({ name, command, reports: opts.report, cache: opts.cache }, globals());
    });

  return program;
}

/** The names of the CLI's commands, from the program itself (for `pipeline lint`'s Jenkinsfile check). */
export function commandNames(): string[] {
  const noop = () => Promise.resolve();
  const handlers = new Proxy({}, { get: () => noop }) as Handlers;
  return createProgram(handlers).commands.map((c) => c.name());
}

function collectBuildArg(value: string, previous: Record<string, string>): Record<string, string> {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(value);
  if (!match) throw new InvalidArgumentError(`expected NAME=value, got "${value}"`);
  return { ...previous, [match[1]!]: match[2]! };
}

function collectLintAreas(value: string, previous: LintArea[]): LintArea[] {
  const areas = value.split(",").map((a) => a.trim());
  const unknown = areas.filter((a) => !(LINT_AREAS as readonly string[]).includes(a));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown area ${unknown.join(", ")}; use ${LINT_AREAS.join(", ")}`,
    );
  }
  return [...new Set([...previous, ...(areas as LintArea[])])];
}

function parseCount(value: string): number {
  if (!/^[0-9]+$/.test(value)) {
    throw new InvalidArgumentError(`"${value}" is not a count (0, 1, 2, …)`);
  }
  return Number(value);
}

function parseSeconds(value: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value)) {
    throw new InvalidArgumentError(`"${value}" is not a number of seconds`);
  }
  return Number(value);
}

function parseDigest(value: string): string {
  if (!isValidDigest(value)) {
    throw new InvalidArgumentError(
      `"${value}" is not a digest; expected sha256: and 64 hex digits`,
    );
  }
  return value;
}

function parseImageWithDigest(value: string): string {
  if (!/^[^@\s]+@sha256:[0-9a-f]{64}$/.test(value)) {
    throw new InvalidArgumentError(
      `"${value}" is not an image by digest; expected repository@sha256: and 64 hex digits ` +
        "(as `pipeline push` records in build.json)",
    );
  }
  return value;
}

function parseRevision(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) {
    throw new InvalidArgumentError(
      `"${value}" is not a revision number (see \`pipeline history\`)`,
    );
  }
  return Number(value);
}

function parseTag(value: string): string {
  if (!isValidTag(value)) {
    throw new InvalidArgumentError(
      `"${value}" is not a valid tag; use up to 128 letters, digits, "_", "." or "-", not starting with "." or "-"`,
    );
  }
  return value;
}
