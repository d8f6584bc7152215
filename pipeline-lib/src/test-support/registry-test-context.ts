import path from "node:path";
import { parseConfig } from "../config/load-config.js";
import type { PipelineConfig } from "../config/schema.js";
import type { CommandContext } from "../commands/context.js";
import { MemoryReporter } from "../output/reporter.js";

/** Keeps progress and detail apart as well, to check what a user sees without --verbose. */
export class RecordingReporter extends MemoryReporter {
  readonly progressLines: string[] = [];
  readonly detailLines: string[] = [];
  override progress(message: string): void {
    this.progressLines.push(message);
    super.progress(message);
  }
  override detail(message: string): void {
    this.detailLines.push(message);
    super.detail(message);
  }
}

export interface RegistryTestContext {
  ctx: CommandContext;
  reporter: RecordingReporter;
  config: PipelineConfig;
  /** How many times the command asked for the config. */
  configReads: () => number;
}

/**
 * A command context for a project whose image lives in `repository`, with
 * basic registry auth read from REGISTRY_USERNAME / REGISTRY_PASSWORD in `env`.
 */
export function registryTestContext(
  dir: string,
  repository: string,
  env: NodeJS.ProcessEnv,
): RegistryTestContext {
  const file = path.join(dir, "pipeline.config.yaml");
  const config = parseConfig(
    [
      "app:",
      "  name: visit-counter",
      "image:",
      `  repository: ${repository}`,
      "registry:",
      "  auth:",
      "    provider: basic",
      "",
    ].join("\n"),
    { file, env },
  );
  const reporter = new RecordingReporter();
  let reads = 0;
  return {
    reporter,
    config,
    configReads: () => reads,
    ctx: {
      reporter,
      env,
      cwd: dir,
      signal: new AbortController().signal,
      config: () => {
        reads++;
        return Promise.resolve(config);
      },
    },
  };
}

/** Everything a command said, for checking that no secret leaked into it. */
export function everythingSaid(reporter: MemoryReporter, error?: unknown): string {
  const chain: string[] = [];
  for (let e = error; e instanceof Error; e = e.cause) chain.push(e.message, String(e.stack));
  return [
    ...reporter.lines,
    ...reporter.results.map((r) => r.summary + JSON.stringify(r.data)),
    ...chain,
  ].join("\n");
}
