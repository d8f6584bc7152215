import Docker from "dockerode";
import path from "node:path";
import { GenericContainer, Network, Wait, type StartedTestContainer } from "testcontainers";
import { readArtifact, writeArtifact, type BuildArtifact } from "../artifact/build-artifact.js";
import { loadContract, runContractChecks, type CheckResult } from "../contract/contract-checks.js";
import { writeJunitReport } from "../contract/junit-report.js";
import { ConfigError, StageError } from "../errors.js";
import { assertEngineReachable } from "../engine/docker-engine.js";
import type { CommandContext } from "./context.js";

export interface TestOptions {
  /** The image to test; by default the one the build artifact names. */
  image?: string;
  artifact: string;
  /** Where to write JUnit XML. */
  junit: string;
}

export interface TestResult {
  image: string;
  results: CheckResult[];
  junitFile: string;
}

const APP_LOG_LINES = 30;

/**
 * Runs the app's HTTP contract against that exact image: Testcontainers starts
 * the sidecars the config names (a real Redis for the visit counter) and the
 * image on one network, and the checks talk to the app through its port
 * published on 127.0.0.1.
 */
export async function test(
  options: TestOptions,
  ctx: CommandContext,
  deps: { docker?: Docker } = {},
): Promise<TestResult> {
  const { reporter } = ctx;
  const config = await ctx.config();
  const docker = deps.docker ?? new Docker();
  const artifact = options.image
    ? undefined
    : await readArtifact(path.resolve(ctx.cwd, options.artifact));
  if (artifact?.reused) {
    // `build --reuse` found an image that an earlier pipeline built from the
    // same inputs and pushed only after it passed these checks.
    const result = { image: artifact.imageRef ?? artifact.repository, results: [], junitFile: "" };
    reporter.result(
      `${result.image} was verified when it was first built from these inputs; not testing it again`,
      { ...result, skipped: "reused" },
    );
    return result;
  }
  const image = options.image ?? imageOf(artifact!);
  const checks = await loadContract(config.app.contractPath);
  const junitFile = path.resolve(ctx.cwd, options.junit);

  await assertEngineReachable(docker);
  let expectedCommit: string | undefined;
  try {
    const info = await docker.getImage(image).inspect();
    // The image says which commit it was built from; /version must agree.
    expectedCommit = info.Config.Labels?.["org.opencontainers.image.revision"];
  } catch (error) {
    throw new ConfigError(
      `image ${image} is not in the Docker Engine; build it with \`pipeline build\` or pull it first`,
      { cause: error },
    );
  }

  const { sidecars, env, startupTimeoutSeconds } = config.test;
  const { port: appPort, health } = config.app;
  const started: { stop(): Promise<unknown> }[] = [];
  try {
    reporter.progress("creating a network for the app and its sidecars");
    const network = await new Network().start();
    started.push(network);

    for (const sidecar of sidecars) {
      reporter.progress(
        `starting sidecar ${sidecar.name} (${sidecar.image}); waiting for ` +
          (sidecar.waitForLog ? `the log line /${sidecar.waitForLog}/` : `port ${sidecar.port}`),
      );
      try {
        const container = await new GenericContainer(sidecar.image)
          .withNetwork(network)
          .withNetworkAliases(sidecar.name)
          .withEnvironment(sidecar.env)
          .withExposedPorts(sidecar.port)
          .withWaitStrategy(
            sidecar.waitForLog
              ? Wait.forLogMessage(new RegExp(sidecar.waitForLog))
              : Wait.forListeningPorts(),
          )
          .withStartupTimeout(startupTimeoutSeconds * 1000)
          .start();
        started.push(container);
      } catch (error) {
        throw new StageError(
          `sidecar ${sidecar.name} (${sidecar.image}) did not start within ${startupTimeoutSeconds}s: ` +
            (error as Error).message,
          { cause: error },
        );
      }
    }

    reporter.progress(`starting ${image}; waiting for GET ${health.readiness} to answer 200`);
    let app: StartedTestContainer;
    // What the app prints while it starts, kept as it comes: a container that
    // never gets ready is removed before its logs could be read afterwards
    // (reading them then, as this did before, found nothing).
    const output = new LastLines(APP_LOG_LINES);
    try {
      app = await new GenericContainer(image)
        .withNetwork(network)
        .withEnvironment({ ...env, PORT: String(appPort) })
        .withExposedPorts(appPort)
        .withLogConsumer((stream) =>
          stream.on("data", (chunk: Buffer | string) => output.add(chunk)),
        )
        .withWaitStrategy(Wait.forHttp(health.readiness, appPort).forStatusCode(200))
        .withStartupTimeout(startupTimeoutSeconds * 1000)
        .start();
    } catch (error) {
      const lines = output.text();
      throw new StageError(
        `${image} did not become ready within ${startupTimeoutSeconds}s: ${(error as Error).message}` +
          (lines
            ? `\nlast ${APP_LOG_LINES} log lines of the app:\n  ${lines.split("\n").join("\n  ")}`
            : ""),
        { cause: error },
      );
    }
    started.push(app);

    const baseUrl = `http://${app.getHost()}:${app.getMappedPort(appPort)}`;
    reporter.progress(`running the contract checks against ${baseUrl}`);
    const results = await runContractChecks(checks, { baseUrl, expectedCommit });
    for (const result of results) {
      reporter.progress(
        `${result.passed ? "ok  " : "FAIL"} ${result.name}${result.failure ? `: ${result.failure}` : ""}`,
      );
    }
    await writeJunitReport(junitFile, `contract ${image}`, results);
    if (artifact?.imageId && image === artifact.imageId) {
      // For `pipeline attest`: what ran against this exact image, passed or not.
      await writeArtifact(path.resolve(ctx.cwd, options.artifact), {
        ...(await readArtifact(path.resolve(ctx.cwd, options.artifact))),
        tests: {
          imageId: artifact.imageId,
          finishedAt: new Date().toISOString(),
          checks: results.map((r) => ({
            name: r.name,
            passed: r.passed,
            durationMs: r.durationMs,
            ...(r.failure ? { failure: r.failure } : {}),
          })),
        },
      });
    }

    const failed = results.filter((r) => !r.passed);
    if (failed.length > 0) {
      throw new StageError(
        `${failed.length} of ${results.length} contract checks failed against ${image}:\n  ` +
          failed.map((r) => `${r.name}: ${r.failure}`).join("\n  ") +
          `\nJUnit report: ${junitFile}`,
      );
    }
    const result = { image, results, junitFile };
    reporter.result(
      `${results.length} contract checks passed against ${image}\nJUnit report: ${junitFile}`,
      result,
    );
    return result;
  } finally {
    for (const resource of started.reverse()) {
      await resource.stop().catch((error: unknown) => {
        reporter.warn(`cleanup failed: ${(error as Error).message}`);
      });
    }
  }
}

function imageOf(artifact: BuildArtifact): string {
  return artifact.imageId ?? artifact.imageRef ?? `${artifact.repository}:${artifact.tags[0]}`;
}

/** The last `size` lines of a stream of output. */
class LastLines {
  readonly #lines: string[] = [];
  #partial = "";
  constructor(readonly size: number) {}

  add(chunk: Buffer | string): void {
    const parts = (this.#partial + chunk.toString()).split("\n");
    this.#partial = parts.pop() ?? "";
    this.#lines.push(...parts);
    this.#lines.splice(0, Math.max(0, this.#lines.length - this.size));
  }

  text(): string {
    return [...this.#lines, this.#partial].slice(-this.size).join("\n").trim();
  }
}
