import path from "node:path";
import { loadContract, runContractChecks, type CheckResult } from "../contract/contract-checks.js";
import { writeJunitReport } from "../contract/junit-report.js";
import { connectEnvironment, type EnvironmentOptions } from "../deploy/environment-target.js";
import { rollBackAfterFailure } from "../deploy/recover.js";
import { ANNOTATIONS } from "../deploy/render-manifests.js";
import { ConfigError, StageError, UsageError } from "../errors.js";
import { readDeployment } from "../deploy/read-deployment.js";
import { acquireDeployLock, deployLockHolder } from "../kube/deploy-lock.js";
import { podForService } from "../kube/pod-for-service.js";
import { redactUrl } from "../output/redact.js";
import { forwardPort } from "../kube/port-forward.js";
import type { CommandContext } from "./context.js";

export interface VerifyOptions extends EnvironmentOptions {
  /** Reach the app here (an Ingress URL) instead of through a port-forward. */
  url?: string | undefined;
  /** Roll back when a check fails (the default). */
  rollback: boolean;
  /** JUnit XML report. */
  junit: string;
}

export interface VerifyResult {
  environment: string;
  namespace: string;
  target: string;
  commit: string | undefined;
  results: CheckResult[];
  junitFile: string;
}

/**
 * Runs the app's contract (the same checks as `pipeline test`) against the
 * release that serves in an environment: through a port-forward to one of
 * its pods via the API server, or through `--url`. When a check fails it
 * rolls back to the previous revision (unless --no-rollback) and exits 1.
 */
export async function verify(options: VerifyOptions, ctx: CommandContext): Promise<VerifyResult> {
  const { reporter } = ctx;
  const config = await ctx.config();
  if (options.url !== undefined && !/^https?:\/\/[^/]+/.test(options.url)) {
    throw new UsageError(
      `--url ${redactUrl(options.url)} is not an http(s) URL such as https://counter.example.com`,
    );
  }
  const checks = await loadContract(config.app.contractPath);
  const target = await connectEnvironment(config, options, {
    env: ctx.env,
    reporter,
  });
  const { kubeConfig, namespace } = target;
  const name = config.deploy.deploymentName;
  const deployment = await readDeployment(kubeConfig, namespace, name);
  if (!deployment) {
    throw new ConfigError(
      `nothing to verify: there is no Deployment ${name} in namespace ${namespace}; run \`pipeline deploy --env ${target.name}\` first`,
    );
  }
  const commit = deployment.metadata?.annotations?.[ANNOTATIONS.commit];
  const junitFile = path.resolve(ctx.cwd, options.junit);

  let results: CheckResult[];
  let via: string;
  if (options.url) {
    const baseUrl = options.url.replace(/\/+$/, "");
    // Credentials in the URL (user:pass@, ?token=) are used, never printed.
    via = redactUrl(baseUrl);
    reporter.progress(`running ${checks.length} contract checks against ${via}`);
    results = await runContractChecks(checks, { baseUrl, expectedCommit: commit });
  } else {
    const { pod, port } = await podForService(kubeConfig, namespace, name);
    await using forward = await forwardPort(kubeConfig, { namespace, pod, port });
    via = `pod ${namespace}/${pod}:${port} through a port-forward`;
    reporter.progress(`running ${checks.length} contract checks against ${via}`);
    results = await runContractChecks(checks, { baseUrl: forward.url, expectedCommit: commit });
  }
  for (const result of results) {
    reporter.progress(
      `${result.passed ? "ok  " : "FAIL"} ${result.name}${result.failure ? `: ${result.failure}` : ""}`,
    );
  }
  await writeJunitReport(junitFile, `verify ${target.name}`, results);

  const failed = results.filter((r) => !r.passed);
  const base = { environment: target.name, namespace, target: via, commit, results, junitFile };
  if (failed.length > 0) {
    const report =
      `${failed.length} of ${results.length} contract checks failed against ${target.name} (${via}):\n  ` +
      failed.map((r) => `${r.name}: ${r.failure}`).join("\n  ");
    if (!options.rollback) {
      throw new StageError(
        `${report}\nnot rolling back (--no-rollback); JUnit report: ${junitFile}`,
      );
    }
    reporter.warn(report);
    await using lock = await acquireDeployLock(kubeConfig, {
      namespace,
      holder: `${deployLockHolder(ctx.env)} (verify, rolling back)`,
      waitMs: config.deploy.lockTimeoutSeconds * 1000,
      reporter,
      signal: ctx.signal,
    });
    void lock;
    const outcome = await rollBackAfterFailure(target, name, {
      reporter,
      timeoutMs: config.deploy.rolloutTimeoutSeconds * 1000,
    });
    throw new StageError(`${report}\n${outcome.summary}\nJUnit report: ${junitFile}`);
  }
  const result: VerifyResult = base;
  reporter.result(
    `${results.length} contract checks passed against ${target.name} (${via})` +
      (commit ? `, commit ${commit.slice(0, 12)}` : "") +
      `\nJUnit report: ${junitFile}`,
    result,
  );
  return result;
}
