import { connectEnvironment, type EnvironmentOptions } from "../deploy/environment-target.js";
import { repairUnfinishedDeploy } from "../deploy/deploy-journal.js";
import { rollBackAndWait } from "../deploy/recover.js";
import { acquireDeployLock, deployLockHolder } from "../kube/deploy-lock.js";
import type { CommandContext } from "./context.js";

export interface RollbackOptions extends EnvironmentOptions {
  /** The revision to return to; the one before the current by default. */
  toRevision?: number | undefined;
}

export interface RollbackResult {
  environment: string;
  namespace: string;
  deployment: string;
  from: number;
  to: number;
}

/** `kubectl rollout undo` for the app's Deployment, under the deploy lock, waiting until healthy. */
export async function rollback(
  options: RollbackOptions,
  ctx: CommandContext,
): Promise<RollbackResult> {
  const { reporter } = ctx;
  const config = await ctx.config();
  const target = await connectEnvironment(config, options, {
    env: ctx.env,
    reporter,
  });
  const name = config.deploy.deploymentName;
  await using lock = await acquireDeployLock(target.kubeConfig, {
    namespace: target.namespace,
    holder: `${deployLockHolder(ctx.env)} (rollback)`,
    waitMs: config.deploy.lockTimeoutSeconds * 1000,
    reporter,
    signal: ctx.signal,
  });
  void lock;
  const timeoutMs = config.deploy.rolloutTimeoutSeconds * 1000;
  // A deploy that was killed half-way is put back first; then the rollback asked for.
  const repaired = await repairUnfinishedDeploy(target, name, { reporter, timeoutMs });
  if (repaired && options.toRevision === undefined) {
    reporter.progress("the unfinished deploy was undone; rolling back one more revision as asked");
  }
  const { from, to } = await rollBackAndWait(target, name, {
    reporter,
    timeoutMs: config.deploy.rolloutTimeoutSeconds * 1000,
    toRevision: options.toRevision,
  });
  const result = {
    environment: target.name,
    namespace: target.namespace,
    deployment: name,
    from,
    to,
  };
  reporter.result(
    `rolled back ${target.name} (${target.namespace}/${name}) from revision ${from} to ${to}; healthy`,
    result,
  );
  return result;
}
