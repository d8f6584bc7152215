/**
 * The error vocabulary of the CLI. Each error carries the exit code that the
 * bin entry turns it into; nothing else in the library calls `process.exit`.
 */
export const ExitCode = {
  Success: 0,
  /** A stage ran and failed: a build step, a test, a push, a rollout. */
  StageFailed: 1,
  /** The command line or the configuration is wrong; nothing was changed. */
  Usage: 2,
  /**
   * SIGINT or SIGTERM stopped the command (128 + SIGINT, as shells report it).
   * A deploy that is stopped rolls back and releases its lock first.
   */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

// A registered symbol, not `instanceof`: a module loaded twice (two copies in
// node_modules, a loader's dynamic import) still yields errors we recognise.
const PIPELINE_ERROR = Symbol.for("pipeline-lib.PipelineError");

export class PipelineError extends Error {
  readonly [PIPELINE_ERROR] = true;

  static isPipelineError(value: unknown): value is PipelineError {
    return typeof value === "object" && value !== null && PIPELINE_ERROR in value;
  }

  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line usage or a bad environment variable. Exit code 2. */
export class UsageError extends PipelineError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.Usage, options);
  }
}

/** A configuration file that cannot be read or does not validate. Exit code 2. */
export class ConfigError extends PipelineError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.Usage, options);
  }
}

/** A stage that ran and failed. Exit code 1. */
export class StageError extends PipelineError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.StageFailed, options);
  }
}

/** A signal stopped the command after it cleaned up. Exit code 130. */
export class InterruptedError extends PipelineError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.Interrupted, options);
  }
}

/** The exit code for anything thrown out of a command. */
export function exitCodeOf(error: unknown): ExitCode {
  return PipelineError.isPipelineError(error) ? error.exitCode : ExitCode.StageFailed;
}

/**
 * What a person reads when a command fails. An error the user caused (usage or
 * configuration, exit code 2) says what is wrong and what to do in its own
 * message, so that is all it shows; `verbose` adds its chain of causes. A stage
 * that failed, or anything unexpected, shows the chain as well: the cause is
 * the diagnosis (the daemon's build line, the API server's answer).
 */
export function describeFailure(error: unknown, { verbose }: { verbose: boolean }): string {
  const userCaused = PipelineError.isPipelineError(error) && error.exitCode === ExitCode.Usage;
  return verbose || !userCaused ? describeError(error) : error.message;
}

/** The message and its chain of causes, one per line, for people to read. */
export function describeError(error: unknown): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    const text =
      current instanceof Error
        ? current.message
        : typeof current === "string"
          ? current
          : JSON.stringify(current);
    // Wrappers often repeat their cause's message; say each thing once.
    if (!seen.has(text) && ![...seen].some((s) => s.includes(text))) {
      lines.push(depth === 0 ? text : `caused by: ${text}`);
    }
    seen.add(text);
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines.join("\n");
}
