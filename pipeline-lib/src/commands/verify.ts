import path from "node:path";
import { loadContract, runContractChecks, type CheckResult } from "../contract/contract-checks.js";
import { writeJunitReport } from "../contract/junit-report.js";
import { connectEnvironment, type EnvironmentOptions } from "../deploy/environment-target.js";
import { rollBackAfterFailure } from "../deploy/recover.js";
import { ANNOTATIONS } from "../deploy/render-manifests.js";
import { ConfigError, StageError, UsageError } from "../errors.js";
import { readDeployment } from "../deploy/read-deployment.js";
import { acquireDeployLock, deployLockHolder } from "../kube/deploy-lock.js";
import { listRevisions } from "../kube/revisions.js";
import { repairUnfinishedDeploy } from "../deploy/deploy-journal.js";
import { podForService } from "../kube/pod-for-service.js";
import { redactUrl } from "../output/redact.js";
import { forwardPort } from "../kube/port-forward.js";
import { readArtifact } from "../artifact/build-artifact.js";
import { builderId, readCiEnv } from "../ci/ci-env.js";
import { signerFromEnv } from "../evidence/keys.js";
import { splitImage } from "../evidence/gate.js";
import { recordEvidence } from "../evidence/registry-evidence.js";
import { verificationPredicate } from "../evidence/statements.js";
import { resolveRegistryTarget } from "../registry/registry-target.js";
import type { CommandContext } from "./context.js";

export interface VerifyOptions extends EnvironmentOptions {
  /** Reach the app here (an Ingress URL) instead of through a port-forward. */
  url?: string | undefined;
  /** Roll back when a check fails (the default). */
  rollback: boolean;
  /** JUnit XML report. */
  junit: string;
  /** The build artifact: when it records a pushed image, that image must be what serves. */
  artifact?: string | undefined;
  /** Do nothing when the build artifact says its image was reused (see deploy). */
  unlessReused?: boolean | undefined;
}

export interface VerifyResult {
  environment: string;
  namespace: string;
  target: string;
  commit: string | undefined;
  image: string | undefined;
  results: CheckResult[];
  junitFile: string;
  /** True when a signed verification summary was stored beside the image. */
  recorded: boolean;
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
  const artifactFile = path.resolve(ctx.cwd, options.artifact ?? "build.json");
  const built = await readArtifact(artifactFile).catch(() => undefined);
  if (options.unlessReused && built?.reused) {
    reporter.result(
      `${built.imageRef ?? built.repository} was reused: it passed ${options.env} when it was built; not verifying it again`,
      { skipped: "reused", image: built.imageRef },
    );
    return {
      environment: options.env,
      namespace: "",
      target: "",
      commit: built.imageCommit,
      image: built.imageRef,
      results: [],
      junitFile: "",
      recorded: false,
    };
  }
  const checks = await loadContract(config.app.contractPath);
  const target = await connectEnvironment(config, options, {
    env: ctx.env,
    reporter,
  });
  const { kubeConfig, namespace } = target;
  const name = config.deploy.deploymentName;
  const timeoutMs = config.deploy.rolloutTimeoutSeconds * 1000;
  // Held from the check to any rollback, so that what is checked is what is
  // rolled back, and no deploy starts in between.
  await using lock = await acquireDeployLock(kubeConfig, {
    namespace,
    holder: `${deployLockHolder(ctx.env)} (verify)`,
    waitMs: config.deploy.lockTimeoutSeconds * 1000,
    reporter,
    signal: ctx.signal,
  });
  await repairUnfinishedDeploy(target, name, { reporter, timeoutMs });
  const deployment = await readDeployment(kubeConfig, namespace, name);
  if (!deployment) {
    throw new ConfigError(
      `nothing to verify: there is no Deployment ${name} in namespace ${namespace}; run \`pipeline deploy --env ${target.name}\` first`,
    );
  }
  const notes = deployment.metadata?.annotations ?? {};
  // /version reports the commit the image was built from, which a merge commit
  // that reused develop's image does not change.
  const commit = notes[ANNOTATIONS.imageCommit] ?? notes[ANNOTATIONS.commit];
  const serving = notes[ANNOTATIONS.image];
  if (built?.digest && serving && !serving.endsWith(`@${built.digest}`)) {
    throw new StageError(
      `${target.name} serves ${serving}, not ${built.imageRef ?? built.digest} that ${artifactFile} records; ` +
        "another deploy replaced it, so this run verifies nothing and rolls nothing back",
    );
  }
  const junitFile = path.resolve(ctx.cwd, options.junit);

  let results: CheckResult[];
  let via: string;
  if (options.url) {
    const baseUrl = options.url.replace(/\/+$/, "");
    // Credentials in the URL (user:pass@, ?token=) are used, never printed.
    via = redactUrl(baseUrl);
    reporter.progress(`running ${checks.length} contract checks against ${via}`);
    results = await runContractChecks(checks, { baseUrl, expectedCommit: commit, live: true });
  } else {
    const { pod, port } = await podForService(kubeConfig, namespace, name);
    await using forward = await forwardPort(kubeConfig, { namespace, pod, port });
    via = `pod ${namespace}/${pod}:${port} through a port-forward`;
    reporter.progress(`running ${checks.length} contract checks against ${via}`);
    results = await runContractChecks(checks, {
      baseUrl: forward.url,
      expectedCommit: commit,
      live: true,
    });
  }
  for (const result of results) {
    reporter.progress(
      `${result.passed ? "ok  " : "FAIL"} ${result.name}${result.failure ? `: ${result.failure}` : ""}`,
    );
  }
  await writeJunitReport(junitFile, `verify ${target.name}`, results);

  const failed = results.filter((r) => !r.passed);
  const base = {
    environment: target.name,
    namespace,
    target: via,
    commit,
    image: serving,
    results,
    junitFile,
  };
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
    // Back to what this release replaced: never an older release, and never
    // over someone else's (the lock is ours, re-checked just before).
    const revisions = await listRevisions(kubeConfig, namespace, name);
    const current = revisions.find((r) => r.current)?.revision;
    const recorded = Number(notes[ANNOTATIONS.replacesRevision]);
    const previousRevision =
      Number.isInteger(recorded) && recorded > 0
        ? recorded
        : revisions.filter((r) => current !== undefined && r.revision < current).at(-1)?.revision;
    await lock.confirmHeld();
    const outcome = await rollBackAfterFailure(target, name, {
      reporter,
      timeoutMs,
      previousRevision,
      currentRevision: current,
    });
    throw new StageError(`${report}\n${outcome.summary}\nJUnit report: ${junitFile}`);
  }
  const recorded = serving ? await recordVerification(ctx, target, serving, results) : false;
  const result: VerifyResult = { ...base, recorded };
  reporter.result(
    `${results.length} contract checks passed against ${target.name} (${via})` +
      (commit ? `, commit ${commit.slice(0, 12)}` : "") +
      (recorded ? `\nsigned verification summary stored beside ${serving}` : "") +
      `\nJUnit report: ${junitFile}`,
    result,
  );
  return result;
}

/**
 * Signs a SLSA verification summary for the digest that passed and stores it
 * beside the image: what a later deploy gate asks for ("verified in test").
 * Without the signing key it says what that means and records nothing.
 */
async function recordVerification(
  ctx: CommandContext,
  target: { name: string; namespace: string },
  image: string,
  results: CheckResult[],
): Promise<boolean> {
  const config = await ctx.config();
  const signer = await signerFromEnv(config, ctx.env);
  if (!signer) {
    ctx.reporter.warn(
      `no signing key (${config.evidence.signingKeyEnv}): this verification in ${target.name} is not recorded ` +
        "as evidence, so a gate that requires it will refuse this image",
    );
    return false;
  }
  const { repository, digest } = splitImage(image);
  const store = resolveRegistryTarget(config, ctx.env, {}, repository).artifacts;
  ctx.reporter.progress(`signing the verification summary for ${image}`);
  await recordEvidence(
    store,
    digest,
    [
      {
        kind: "verification",
        predicate: verificationPredicate({
          repository,
          digest,
          verifierId: builderId(ctx.env),
          environment: target.name,
          namespace: target.namespace,
          checks: results,
          buildUrl: readCiEnv(ctx.env).buildUrl,
          verifiedAt: new Date().toISOString(),
        }),
      },
    ],
    signer,
  );
  return true;
}
