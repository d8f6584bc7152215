import { parseConfig } from "../config/load-config.js";
import type { PipelineConfig } from "../config/schema.js";
import type { CommandContext } from "../commands/context.js";
import { MemoryReporter } from "../output/reporter.js";

/** A command context over a config given as text, with a reporter that keeps every line. */
export function testContext(options: {
  cwd: string;
  configText: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}): CommandContext & { reporter: MemoryReporter } {
  const env = options.env ?? {};
  const config: PipelineConfig = parseConfig(options.configText, {
    file: `${options.cwd}/pipeline.config.yaml`,
    env,
  });
  return {
    reporter: new MemoryReporter(),
    env,
    cwd: options.cwd,
    config: () => Promise.resolve(config),
    signal: options.signal ?? new AbortController().signal,
  };
}
