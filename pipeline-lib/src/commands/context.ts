import { loadConfig } from "../config/load-config.js";
import type { PipelineConfig } from "../config/schema.js";
import { interruptSignal } from "../lifecycle/interrupts.js";
import { ConsoleReporter, type Reporter } from "../output/reporter.js";

/** Options every command accepts (declared once on the program in cli.ts). */
export interface GlobalOptions {
  /** The project config file; `pipeline.config.yaml` in the working directory by default. */
  config?: string;
  json: boolean;
  verbose: boolean;
}

/** What a command needs from its surroundings; tests pass their own. */
export interface CommandContext {
  readonly reporter: Reporter;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Loads and validates the config once, on first use. */
  config(): Promise<PipelineConfig>;
  /** Aborted by SIGINT or SIGTERM: long commands clean up and stop. */
  readonly signal: AbortSignal;
}

export function createCommandContext(
  stage: string,
  globals: GlobalOptions,
  { env = process.env, cwd = process.cwd() }: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): CommandContext {
  let config: Promise<PipelineConfig> | undefined;
  return {
    reporter: new ConsoleReporter({ stage, json: globals.json, verbose: globals.verbose }),
    env,
    cwd,
    config: () => (config ??= loadConfig({ file: globals.config, cwd, env })),
    get signal() {
      return interruptSignal();
    },
  };
}
