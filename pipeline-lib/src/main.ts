import { CommanderError } from "commander";
import { commandNames, createProgram, type Handlers, type ProgramOutput } from "./cli.js";
import { createCommandContext } from "./commands/context.js";
import { describeFailure, ExitCode, exitCodeOf } from "./errors.js";
import { redactUrls } from "./output/redact.js";

/** Runs each command with a console context; imported lazily per command. */
export const defaultHandlers: Handlers = {
  async build(options, globals) {
    const { build } = await import("./commands/build.js");
    await build(options, createCommandContext("build", globals));
  },
  async test(options, globals) {
    const { test } = await import("./commands/test.js");
    await test(options, createCommandContext("test", globals));
  },
  async push(options, globals) {
    const { push } = await import("./commands/push.js");
    await push(options, createCommandContext("push", globals));
  },
  async attest(options, globals) {
    const { attest } = await import("./commands/attest.js");
    await attest(options, createCommandContext("attest", globals));
  },
  async evidence(options, globals) {
    const { evidence } = await import("./commands/evidence.js");
    await evidence(options, createCommandContext("evidence", globals));
  },
  async promote(options, globals) {
    const { promote } = await import("./commands/promote.js");
    await promote(options, createCommandContext("promote", globals));
  },
  async deploy(options, globals) {
    const { deploy } = await import("./commands/deploy.js");
    await deploy(options, createCommandContext("deploy", globals));
  },
  async verify(options, globals) {
    const { verify } = await import("./commands/verify.js");
    await verify(options, createCommandContext("verify", globals));
  },
  async rollback(options, globals) {
    const { rollback } = await import("./commands/rollback.js");
    await rollback(options, createCommandContext("rollback", globals));
  },
  async history(options, globals) {
    const { history } = await import("./commands/history.js");
    await history(options, createCommandContext("history", globals));
  },
  async lint(options, globals) {
    const { lint } = await import("./commands/lint.js");
    await lint(options, createCommandContext("lint", globals), { knownCommands: commandNames() });
  },
  async notify(options, globals) {
    const { notify } = await import("./commands/notify.js");
    await notify(options, createCommandContext("notify", globals));
  },
  async cached(options, globals) {
    const { cached } = await import("./commands/cached.js");
    await cached(options, createCommandContext(`cached ${options.name}`, globals));
  },
  async run(options, globals) {
    const { run } = await import("./commands/run.js");
    await run(options, createCommandContext(`run ${options.pipeline}`, globals));
  },
};

/**
 * Parses argv, runs the command and turns whatever it threw into one of the
 * documented exit codes: the only place where errors become exit codes.
 */
export async function main(
  argv: readonly string[],
  { handlers = defaultHandlers, output }: { handlers?: Handlers; output?: ProgramOutput } = {},
): Promise<ExitCode> {
  const writeErr = output?.writeErr ?? ((text: string) => process.stderr.write(text));
  const program = createProgram(handlers, output);
  const library = process.env.PIPELINE_LIBRARY_VERSION?.trim();
  const asksAboutItself = argv.some((a) => ["--version", "-V", "--help", "-h"].includes(a));
  if (library && library !== program.version() && !asksAboutItself) {
    // The Jenkins shared library (vars/) and the CLI describe the same stages:
    // two versions of them must not run one pipeline.
    writeErr(
      `pipeline: the Jenkins library is pipeline-lib ${library} but the installed CLI is ${program.version()}; ` +
        `pin one version in both: @Library('pipeline-lib@v${program.version()}') in the Jenkinsfile, ` +
        `or "pipeline-lib": "${library}" in package.json\n`,
    );
    return ExitCode.Usage;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return ExitCode.Success;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with exitCode 0; anything else is bad usage.
      return error.exitCode === 0 ? ExitCode.Success : ExitCode.Usage;
    }
    // Whatever a cause says, a URL in it loses its credentials (user:pass@, ?token=).
    const verbose = program.opts<{ verbose?: boolean }>().verbose === true;
    writeErr(`pipeline: ${redactUrls(describeFailure(error, { verbose }))}\n`);
    return exitCodeOf(error);
  }
}
