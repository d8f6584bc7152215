import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { createRequire } from "node:module";
import { isValidDigest, isValidTag } from "./registry/image-reference.js";
import type { BuildOptions } from "./commands/build.js";
import type { GlobalOptions } from "./commands/context.js";
import type { PromoteOptions } from "./commands/promote.js";
import type { PushOptions } from "./commands/push.js";
import type { RunOptions } from "./commands/run.js";
import type { TestOptions } from "./commands/test.js";
import { DEFAULT_ARTIFACT_FILE } from "./artifact/build-artifact.js";

/**
 * One function per command. cli.ts only declares commands and options and hands
 * each handler a typed options object; the handlers live in commands/<name>.ts
 * and are imported lazily, so `pipeline --help` loads none of them.
 */
export interface Handlers {
  build(options: BuildOptions, globals: GlobalOptions): Promise<void>;
  test(options: TestOptions, globals: GlobalOptions): Promise<void>;
  push(options: PushOptions, globals: GlobalOptions): Promise<void>;
  promote(options: PromoteOptions, globals: GlobalOptions): Promise<void>;
  run(options: RunOptions, globals: GlobalOptions): Promise<void>;
}

export interface ProgramOutput {
  writeOut: (text: string) => void;
  writeErr: (text: string) => void;
}

export function createProgram(handlers: Handlers, output?: ProgramOutput): Command {
  const program = new Command("pipeline")
    .description(
      "Build, test, push, deploy and verify one image, the same way on a laptop and in Jenkins.\n" +
        "Exit codes: 0 success, 1 a stage failed, 2 usage or configuration error.",
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

  program
    .command("run")
    .description("run a pipeline's stages locally, in the order Jenkins runs them")
    .addArgument(new Argument("<pipeline>", "which pipeline").choices(["dev", "prod"]))
    .option("--from <stage>", "start at this stage id")
    .option("--to <stage>", "stop after this stage id")
    .option("-n, --dry-run", "print the stages and their commands without running them", false)
    .action(
      async (
        pipeline: RunOptions["pipeline"],
        opts: { from?: string; to?: string; dryRun: boolean },
      ) => {
        await handlers.run(
          { pipeline, from: opts.from, to: opts.to, dryRun: opts.dryRun },
          globals(),
        );
      },
    );

  return program;
}

// src/cli.ts and dist/cli.js both sit one folder below package.json.
const PACKAGE_VERSION = (createRequire(import.meta.url)("../package.json") as { version: string })
  .version;

function collectBuildArg(value: string, previous: Record<string, string>): Record<string, string> {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(value);
  if (!match) throw new InvalidArgumentError(`expected NAME=value, got "${value}"`);
  return { ...previous, [match[1]!]: match[2]! };
}

function parseDigest(value: string): string {
  if (!isValidDigest(value)) {
    throw new InvalidArgumentError(
      `"${value}" is not a digest; expected sha256: and 64 hex digits`,
    );
  }
  return value;
}

function parseTag(value: string): string {
  if (!isValidTag(value)) {
    throw new InvalidArgumentError(
      `"${value}" is not a valid tag; use up to 128 letters, digits, "_", "." or "-", not starting with "." or "-"`,
    );
  }
  return value;
}
