import path from "node:path";
import { readArtifact, type BuildArtifact } from "../artifact/build-artifact.js";
import { readCiEnv, triggeredBy } from "../ci/ci-env.js";
import { connectEnvironment, type EnvironmentOptions } from "../deploy/environment-target.js";
import { pullSecretFor } from "../deploy/pull-secret.js";
import { readManifests } from "../deploy/read-manifests.js";
import {
  CanaryFailed,
  removeCanary,
  runCanary,
  type CanaryLoad,
  type ServiceRef,
} from "../deploy/canary.js";
import { appendOutcome, describeStep, type CanaryRecord } from "../deploy/canary-record.js";
import { loadContract } from "../contract/contract-checks.js";
import type { PipelineConfig, StrategyConfig } from "../config/schema.js";
import type * as k8s from "@kubernetes/client-node";
import { clearJournal, repairUnfinishedDeploy, writeJournal } from "../deploy/deploy-journal.js";
import { rollBackAfterFailure } from "../deploy/recover.js";
import { ANNOTATIONS, renderManifests, type ReleaseInfo } from "../deploy/render-manifests.js";
import { ConfigError, InterruptedError, StageError, UsageError } from "../errors.js";
import { checkImageEvidence, describeEvidence, refusal } from "../evidence/gate.js";
import type { RegistryTargetDeps } from "../registry/registry-target.js";
import { ApplyRejected, applyObjects } from "../kube/apply.js";
import {
  applySetFor,
  handOverReplicas,
  memberGroupKinds,
  pruneApplySet,
  recordedGroupKinds,
  withMembership,
  writeParent,
} from "../kube/applyset.js";
import { ensurePodSecurity, readNamespaceLabels } from "../deploy/pod-security.js";
import { acquireDeployLock, deployLockHolder } from "../kube/deploy-lock.js";
import { DeploymentNotFound, listRevisions } from "../kube/revisions.js";
import { waitForRollout } from "../kube/wait-for-rollout.js";
import { waitForStatefulSet } from "../kube/wait-for-statefulset.js";
import { systemClock, type Clock } from "../output/reporter.js";
import type { CommandContext } from "./context.js";

/** The AWS Load Balancer Controller injects its pod readiness gate in namespaces with this label. */
export const READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject";

export interface DeployOptions extends EnvironmentOptions {
  /** `repository@sha256:…`; by default the pushed image that the build artifact records. */
  image?: string | undefined;
  artifact: string;
  /** Check everything (config, cluster, a server-side dry run) and change nothing. */
  dryRun: boolean;
  /**
   * Do nothing when the build artifact says its image was reused: the prod
   * pipeline's "Deploy to test" runs only for an image built on master.
   */
  unlessReused?: boolean | undefined;
  /** Overrides the environment's `strategy.type` for this deploy (a canary takes the config's steps, else the defaults). */
  strategy?: "rolling" | "canary" | undefined;
}

export interface DeployDeps {
  clock: Clock;
  /** How the evidence is read from the image's registry (tests pass their own fetch). */
  registry: RegistryTargetDeps;
}

export interface DeployResult {
  environment: string;
  namespace: string;
  deployment: string;
  image: string;
  commit: string | undefined;
  /** The Deployment's revision that now serves. */
  revision: number | undefined;
  previousRevision: number | undefined;
  objects: string[];
  /** The signed evidence the gate accepted, in one line. */
  evidence: string;
  /** Objects of the app's ApplySet that left the manifests and were deleted. */
  pruned?: string[];
  /** The canary this release went through before it was promoted. */
  canary?: CanaryRecord;
  dryRun: boolean;
  durationMs: number;
}

/**
 * Puts one pushed image, by digest, into an environment's namespace:
 * 1. checks the config, the cluster and the rendered objects (a server-side
 *    dry run) and exits 2 with nothing changed when any of it is wrong;
 * 2. takes the environment's deploy lock, ensures the namespace and applies
 *    everything with server-side apply under one field manager;
 * 3. waits as `kubectl rollout status` does, failing fast on pods that
 *    cannot start;
 * 4. on failure or interruption, rolls back to the previous revision and
 *    waits until it is healthy, then fails with a report naming the pod,
 *    its reason and its last log lines.
 */
export async function deploy(
  options: DeployOptions,
  ctx: CommandContext,
  deps: Partial<DeployDeps> = {},
): Promise<DeployResult> {
  const { reporter, signal } = ctx;
  const clock = deps.clock ?? systemClock;
  const started = clock.now();
  const config = await ctx.config();

  // 1. Check first: nothing below changes anything until the dry run passed.
  const artifact = options.image ? undefined : await readArtifactFor(ctx, options.artifact);
  const image = options.image ?? pushedImageOf(artifact!, options.artifact);
  if (options.unlessReused && artifact?.reused) {
    const skipped: DeployResult = {
      environment: options.env,
      namespace: "",
      deployment: config.deploy.deploymentName,
      image,
      commit: artifact.gitCommit,
      revision: undefined,
      previousRevision: undefined,
      objects: [],
      evidence: "",
      dryRun: options.dryRun,
      durationMs: 0,
    };
    reporter.result(
      `${image} was reused: the build that made it passed ${options.env} already (its signed evidence says so); not deploying it again`,
      { ...skipped, skipped: "reused" },
    );
    return skipped;
  }
  const ci = readCiEnv(ctx.env);
  const release: ReleaseInfo = {
    image,
    commit: artifact?.gitCommit ?? ci.gitCommit,
    buildUrl: ci.buildUrl ?? artifact?.buildUrl,
    triggeredBy: triggeredBy(ctx.env),
    deployedAt: new Date(clock.now()).toISOString(),
  };
  const target = await connectEnvironment(config, options, {
    env: ctx.env,
    reporter,
  });
  // The gate: no Jenkinsfile, --image flag or hand-run command goes around it.
  reporter.progress(
    `checking the signed evidence of ${image} against what ${target.name} requires`,
  );
  const gate = await checkImageEvidence(config, ctx.env, target.name, image, deps.registry);
  if (!gate.verdict.ok) {
    throw new StageError(
      `refusing to deploy to ${target.name}; nothing was applied: ${refusal(gate)}`,
    );
  }
  release.imageCommit = gate.summary.builtFrom?.commit;
  release.evidence = describeEvidence(gate.summary);
  reporter.progress(`evidence accepted: ${release.evidence}`);
  const manifests = await readManifests(config.deploy.manifestsDir);
  const pullSecret = await pullSecretFor(config, image, ctx.env, { reporter });
  const rendered = renderManifests(manifests, {
    config,
    environmentName: target.name,
    environment: target.environment,
    release,
    ...(pullSecret ? { pullSecret } : {}),
  });
  const names = rendered.objects.map((o) => `${o.kind}/${o.metadata?.name}`);
  const { kubeConfig, namespace } = target;
  const strategy = strategyFor(target.environment.strategy, options.strategy);
  // The canary's load checks are named in the config: a wrong name fails here, changing nothing.
  const load = strategy.type === "canary" ? await canaryLoad(config, strategy) : undefined;
  const liveLabels = await readNamespaceLabels(kubeConfig, namespace);
  const exists = liveLabels !== undefined;
  if (target.environment.loadBalancer && !liveLabels?.[READINESS_GATE_LABEL]) {
    // Without the controller's readiness gate a rollout may take old pods away
    // before the ALB has registered the new ones.
    reporter.warn(
      `namespace ${namespace} lacks the label ${READINESS_GATE_LABEL}=enabled, so the AWS Load Balancer ` +
        'Controller injects no pod readiness gate; the cluster admin sets it (k8s/access/, README "EKS")',
    );
  }
  // A namespace that does not exist yet cannot hold a dry run; the objects are
  // then checked in `default`, which validates them just the same.
  const checkIn = exists ? namespace : "default";
  reporter.progress(
    `checking ${names.length} objects with a server-side dry run in namespace ${checkIn}` +
      (exists ? "" : ` (${namespace} does not exist yet)`),
  );
  try {
    await applyObjects(
      kubeConfig,
      rendered.objects.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: checkIn } })),
      { dryRun: true },
    );
  } catch (error) {
    if (!(error instanceof ApplyRejected)) throw error;
    throw new ConfigError(
      `the API server rejects the rendered manifests for ${target.name}; nothing was applied: ` +
        (error as Error).message,
      { cause: error },
    );
  }
  const base = {
    environment: target.name,
    namespace,
    deployment: rendered.deploymentName,
    image,
    commit: release.commit,
    objects: names,
    evidence: release.evidence,
  };
  if (options.dryRun) {
    const result: DeployResult = {
      ...base,
      revision: undefined,
      previousRevision: undefined,
      dryRun: true,
      durationMs: clock.now() - started,
    };
    reporter.result(
      `dry run: ${names.length} objects for ${target.name} pass the API server's checks and the image's evidence ` +
        `is accepted (${release.evidence}); nothing was changed\n  ` +
        names.join("\n  ") +
        `\n${describeStrategy(strategy)}`,
      result,
    );
    return result;
  }
  if (signal.aborted) throw new InterruptedError("interrupted before anything was applied");

  // 2. One deploy per namespace at a time.
  // With the Pod Security labels of the environment's level ("restricted" by default).
  await ensurePodSecurity(kubeConfig, namespace, target.environment.podSecurity, liveLabels);
  await using lock = await acquireDeployLock(kubeConfig, {
    namespace,
    holder: `${release.triggeredBy}, ${deployLockHolder(ctx.env)}`,
    waitMs: config.deploy.lockTimeoutSeconds * 1000,
    reporter,
    signal,
  }).catch((error: unknown) => {
    if (!signal.aborted) throw error;
    throw new InterruptedError(
      `interrupted while waiting for the deploy lock of ${namespace}; the release was not applied`,
      { cause: error },
    );
  });
  // A lost lock (someone took it over) stops the wait like an interruption.
  const stop = AbortSignal.any([signal, lock.lost]);
  const timeoutMs = config.deploy.rolloutTimeoutSeconds * 1000;
  const name = rendered.deploymentName;

  /** Runs the canary; resolves with its record when every step passed, else throws with the numbers. */
  async function canaryPhase(): Promise<CanaryRecord> {
    const settings = strategy;
    const record: CanaryRecord = {
      image,
      commit: release.commit,
      by: `${release.triggeredBy}, ${deployLockHolder(ctx.env)}`,
      startedAt: new Date(clock.now()).toISOString(),
      plannedSteps: settings.steps.length,
      steps: [],
    };
    let outcome;
    try {
      outcome = await runCanary({
        target,
        strategy: settings,
        deployment: appDeployment!,
        appPort: config.app.port,
        ignoreRoutes: [
          config.app.health.readiness,
          config.app.health.liveness,
          settings.analysis.metricsPath,
        ],
        record,
        service: serviceOf(rendered.objects, appDeployment!),
        load,
        reporter,
        signal: stop,
        lockLost: lock.lost,
        confirmHeld: () => lock.confirmHeld(),
        stallMs: timeoutMs,
        clock,
      });
    } catch (error) {
      if (lock.lost.aborted && !signal.aborted) {
        throw new StageError(
          `the deploy lock of ${namespace} was lost during the canary of ${image}; leaving the canary to the ` +
            `deploy that holds it now: ${(lock.lost.reason as Error).message}`,
          { cause: error },
        );
      }
      if (signal.aborted) {
        throw new InterruptedError(
          `the deploy was interrupted during the canary of ${image}; the canary was removed and revision ` +
            `${serving!.revision} serves alone`,
          { cause: error },
        );
      }
      throw error;
    }
    if (!outcome.passed) {
      throw new CanaryFailed(
        `the canary of ${image} ${outcome.record.outcome === "inconclusive" ? "was inconclusive" : "failed"}; ` +
          `it was removed and revision ${serving!.revision} (${serving!.images[0]}) serves alone, nothing was promoted:\n  ` +
          outcome.record.steps
            .map((step) => describeStep(step, settings.steps.length))
            .join("\n  "),
      );
    }
    reporter.progress(
      `the canary of ${image} passed ${outcome.record.steps.length} steps: promoting it to every replica`,
    );
    return outcome.record;
  }

  /**
   * After the promotion's rollout: the canary pods go, and its outcome is
   * recorded. Never throws: a failed rollout still has to roll back, and a
   * canary left behind is removed by the next deploy, verify or rollback.
   */
  async function endPromotedCanary(outcome: "promoted" | "failed", summary: string): Promise<void> {
    if (!canary) return;
    try {
      await removeCanary(target, name, reporter);
      await appendOutcome(kubeConfig, namespace, name, {
        ...canary,
        outcome,
        summary,
        endedAt: new Date(clock.now()).toISOString(),
      });
    } catch (error) {
      reporter.warn(
        `could not remove the canary of ${image} or record it (${(error as Error).message}); ` +
          "the next deploy, verify or rollback removes it",
      );
    }
  }

  // A deploy whose process was killed left its journal: put back what served first.
  await repairUnfinishedDeploy(target, name, { reporter, timeoutMs });
  const before = await listRevisions(kubeConfig, namespace, name).catch((error: unknown) => {
    if (error instanceof DeploymentNotFound) return [];
    throw error;
  });
  const serving = before.find((r) => r.current);
  const previousRevision = serving?.revision;
  const appDeployment: k8s.V1Deployment | undefined = rendered.objects.find(
    (o) => o.kind === "Deployment" && o.metadata?.name === name,
  );
  let canary: CanaryRecord | undefined;
  if (strategy.type === "canary" && appDeployment) {
    if (!serving) {
      reporter.progress(
        `no release serves in ${target.name} yet, so there is nothing to compare a canary with: rolling out`,
      );
    } else if (serving.images[0] === image) {
      reporter.progress(
        `${image} serves already (revision ${serving.revision}): no canary, applying as it is`,
      );
    } else {
      canary = await canaryPhase();
    }
  }
  if (serving) {
    // What this deploy replaces, for a verify that fails later: it rolls back
    // to this revision, and to nothing when the deploy replaced nothing.
    const deployment = rendered.objects.find(
      (o) => o.kind === "Deployment" && o.metadata?.name === name,
    );
    if (deployment) {
      deployment.metadata = {
        ...deployment.metadata,
        annotations: {
          ...deployment.metadata?.annotations,
          [ANNOTATIONS.replacesRevision]: String(serving.revision),
        },
      };
    }
    await lock.confirmHeld();
    await writeJournal(kubeConfig, namespace, name, {
      previousRevision: serving.revision,
      previousImage: serving.images[0],
      image,
      holder: `${release.triggeredBy}, ${deployLockHolder(ctx.env)}`,
      startedAt: release.deployedAt,
    });
  }
  reporter.progress(
    `applying ${names.length} objects to ${namespace} (server-side apply, field manager pipeline-lib)` +
      (previousRevision ? `; revision ${previousRevision} serves now` : "; first deploy"),
  );
  // The app's objects form an ApplySet: the parent first records every kind
  // this deploy and the last one had, so that a deploy killed half-way still
  // prunes them next time.
  const set = applySetFor(config.app.name, namespace);
  const members = withMembership(rendered.objects, set);
  const kinds = memberGroupKinds(members);
  const recordedKinds = await recordedGroupKinds(kubeConfig, set);
  await lock.confirmHeld();
  await writeParent(kubeConfig, set, [...recordedKinds, ...kinds]);
  const app = members.find((o) => o.kind === "Deployment" && o.metadata?.name === name);
  if (app && !(app as { spec?: { replicas?: number } }).spec?.replicas) {
    if (await handOverReplicas(kubeConfig, app)) {
      reporter.progress(
        "autoscaling takes over: spec.replicas keeps its live value (handed to the autoscaler, not reset to 1)",
      );
    }
  }
  await applyObjects(kubeConfig, members);

  // 3. Wait for the rollout; 4. roll back when it fails or is interrupted.
  try {
    // Fails when the rollout stops moving, not while it is still progressing;
    // rolloutMaxSeconds is only the last guard.
    await waitForRollout(kubeConfig, {
      namespace,
      name: rendered.deploymentName,
      timeoutMs: Math.max(config.deploy.rolloutMaxSeconds * 1000, timeoutMs),
      stallMs: timeoutMs,
      reporter,
      signal: stop,
    });
  } catch (error) {
    if (lock.lost.aborted && !signal.aborted) {
      // Someone else holds the namespace now: leave it to them, roll nothing back.
      throw new StageError(
        `the deploy lock of ${namespace} was lost while waiting for the rollout of ${image}; ` +
          `not rolling back over another deploy: ${(lock.lost.reason as Error).message}`,
        { cause: error },
      );
    }
    const interrupted = signal.aborted;
    if (canary)
      await endPromotedCanary(
        "failed",
        `the rollout after the canary failed: ${(error as Error).message}`,
      );
    const failed = await listRevisions(kubeConfig, namespace, name).catch(() => []);
    await lock.confirmHeld();
    const outcome = await rollBackAfterFailure(target, name, {
      reporter,
      timeoutMs,
      previousRevision,
      currentRevision: failed.find((r) => r.current)?.revision,
    });
    if (serving && outcome.settled) await clearJournal(kubeConfig, namespace, name);
    const why = interrupted
      ? "the deploy was interrupted"
      : `the rollout of ${image} failed: ${(error as Error).message}`;
    const message = `${why}\n${outcome.summary}`;
    throw interrupted
      ? new InterruptedError(message, { cause: error })
      : new StageError(message, { cause: error });
  }

  if (serving) await clearJournal(kubeConfig, namespace, name);
  if (canary)
    await endPromotedCanary("promoted", `promoted after ${canary.steps.length} passed steps`);
  // A data store released with the app (Redis) is awaited and reported too; it
  // is not rolled back with the app (README, "The Redis StatefulSet").
  for (const statefulSet of members.filter((o) => o.kind === "StatefulSet")) {
    try {
      await waitForStatefulSet(kubeConfig, {
        namespace,
        name: String(statefulSet.metadata?.name),
        stallMs: timeoutMs,
        reporter,
        signal: stop,
      });
    } catch (error) {
      throw new StageError(
        `${image} serves in ${target.name}, but ${(error as Error).message}; a data store is not rolled ` +
          `back with the app: look at its pods (kubectl -n ${namespace} get pods) and deploy again`,
        { cause: error },
      );
    }
  }
  // Objects that left the manifests (an HPA when autoscaling is turned off, say) go.
  await lock.confirmHeld();
  const pruned = await pruneApplySet(kubeConfig, set, [...recordedKinds, ...kinds], members);
  await writeParent(kubeConfig, set, kinds);
  if (pruned.length > 0) reporter.progress(`pruned what left the manifests: ${pruned.join(", ")}`);
  const after = await listRevisions(kubeConfig, namespace, name);
  const revision = after.find((r) => r.current)?.revision;
  const result: DeployResult = {
    ...base,
    revision,
    previousRevision,
    pruned,
    ...(canary ? { canary } : {}),
    dryRun: false,
    durationMs: clock.now() - started,
  };
  reporter.result(
    `deployed ${image} to ${target.name} (namespace ${namespace}) as revision ${revision ?? "?"}` +
      (previousRevision && previousRevision !== revision ? ` (was ${previousRevision})` : "") +
      (canary ? ` after a canary of ${canary.steps.length} passed steps` : "") +
      ` in ${(result.durationMs / 1000).toFixed(1)}s`,
    result,
  );
  return result;
}

async function readArtifactFor(ctx: CommandContext, file: string): Promise<BuildArtifact> {
  return readArtifact(path.resolve(ctx.cwd, file));
}

function pushedImageOf(artifact: BuildArtifact, file: string): string {
  if (!artifact.imageRef) {
    throw new UsageError(
      `${file} records no pushed image: run \`pipeline push\` first, or pass --image <repository@sha256:…>`,
    );
  }
  return artifact.imageRef;
}

/** The environment's strategy, its type replaced by --strategy when given (a canary then takes the config's steps, or the defaults). */
export function strategyFor(
  configured: StrategyConfig,
  override: "rolling" | "canary" | undefined,
): StrategyConfig {
  return override ? { ...configured, type: override } : configured;
}

/** The named read-only checks of the app's contract, or a ConfigError naming what exists. */
async function canaryLoad(
  config: PipelineConfig,
  strategy: StrategyConfig,
): Promise<CanaryLoad | undefined> {
  if (!strategy.load) return undefined;
  const checks = await loadContract(config.app.contractPath);
  const known = new Map(checks.map((c) => [c.name, c]));
  const missing = strategy.load.checks.filter((n) => !known.has(n));
  if (missing.length > 0) {
    throw new ConfigError(
      `strategy.load.checks names ${missing.map((n) => JSON.stringify(n)).join(", ")}, which the contract ` +
        `(${config.app.contract}) does not have; its checks: ${checks.map((c) => JSON.stringify(c.name)).join(", ")}`,
    );
  }
  return {
    checks: strategy.load.checks.map((n) => known.get(n)!),
    ratePerSecond: strategy.load.ratePerSecond,
    concurrency: strategy.load.concurrency,
  };
}

/** The rendered Service in front of the app's pods (its selector matches their labels), and its first port. */
function serviceOf(
  objects: readonly k8s.KubernetesObject[],
  app: k8s.V1Deployment,
): ServiceRef | undefined {
  const labels = app.spec?.template?.metadata?.labels ?? {};
  for (const object of objects) {
    if (object.kind !== "Service") continue;
    const spec = (object as k8s.V1Service).spec;
    const selector = Object.entries(spec?.selector ?? {});
    const port = spec?.ports?.[0];
    if (selector.length > 0 && port && selector.every(([k, v]) => labels[k] === v)) {
      return { name: String(object.metadata?.name), port: port.name ?? port.port };
    }
  }
  return undefined;
}

/** One line for --dry-run: how this deploy would replace the release. */
export function describeStrategy(strategy: StrategyConfig): string {
  if (strategy.type === "rolling")
    return "strategy: rolling (every pod replaced as the Deployment's strategy says)";
  const steps = strategy.steps.map((s) => `${s.weight}% for ${s.seconds} s`).join(", then ");
  const load = strategy.load
    ? `, with a read-only load of ${strategy.load.checks.length} ${strategy.load.checks.length === 1 ? "check" : "checks"} at up to ${strategy.load.ratePerSecond}/s`
    : "";
  return `strategy: canary (${steps}, then promoted${load}; when a release serves already)`;
}
