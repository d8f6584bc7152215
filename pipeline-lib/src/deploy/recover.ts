import { StageError, UsageError } from "../errors.js";
import type { Reporter } from "../output/reporter.js";
import { NothingToRollBack, rollbackDeployment } from "../kube/revisions.js";
import { waitForRollout } from "../kube/wait-for-rollout.js";
import type { EnvironmentTarget } from "./environment-target.js";

/** The rollback happened, but the revision it returned to did not become healthy. Exit code 1. */
export class UnhealthyAfterRollback extends StageError {}

export interface RollBackOptions {
  reporter: Reporter;
  timeoutMs: number;
  /** The revision to return to; the one before the current by default. */
  toRevision?: number | undefined;
}

/**
 * `kubectl rollout undo`, then a wait until the revision rolled back to is
 * healthy. Resolves to the revisions it went from and to; a rollback that
 * cannot happen (NothingToRollBack) or that ends unhealthy throws.
 */
export async function rollBackAndWait(
  target: EnvironmentTarget,
  deploymentName: string,
  { reporter, timeoutMs, toRevision }: RollBackOptions,
): Promise<{ from: number; to: number }> {
  const where = `${target.namespace}/${deploymentName}`;
  const result = await rollbackDeployment(target.kubeConfig, target.namespace, deploymentName, {
    ...(toRevision !== undefined ? { toRevision } : {}),
  });
  const { fromRevision: from, toRevision: to } = result;
  if (result.warning) reporter.warn(result.warning);
  reporter.progress(
    `rolled back ${where} from revision ${from} to ${to}; waiting until it is healthy`,
  );
  try {
    // A rollback must finish even when the deploy was interrupted: no signal here.
    await waitForRollout(target.kubeConfig, {
      namespace: target.namespace,
      name: deploymentName,
      timeoutMs,
      reporter,
    });
  } catch (error) {
    throw new UnhealthyAfterRollback(
      `rolled back ${where} from revision ${from} to ${to}, but revision ${to} is not healthy: ` +
        (error as Error).message,
      { cause: error },
    );
  }
  return { from, to };
}

/**
 * After a failed rollout or a failed verification: back to the revision that
 * served when this deploy started (`previousRevision`, recorded before
 * anything was applied; never "the highest revision below the current one",
 * which after a replay of the serving release is an older release) and
 * healthy again. Never throws: the caller's failure is the one to report, and
 * the summary returned says what state this left; `settled` is false only
 * when a rollback was needed and did not end healthy.
 */
export async function rollBackAfterFailure(
  target: EnvironmentTarget,
  deploymentName: string,
  options: Omit<RollBackOptions, "toRevision"> & {
    /** The revision that served before; undefined when this was the first deploy. */
    previousRevision: number | undefined;
    /** The revision that runs now, the failed one. */
    currentRevision?: number | undefined;
  },
): Promise<{ summary: string; settled: boolean }> {
  const where = `${target.namespace}/${deploymentName}`;
  const { reporter, previousRevision, currentRevision } = options;
  if (previousRevision === undefined) {
    return {
      settled: true,
      summary:
        `nothing to roll back to: this was the first deploy of ${where}, so the failed release ` +
        `stays in place for you to inspect (kubectl -n ${target.namespace} get pods)`,
    };
  }
  if (currentRevision !== undefined && currentRevision === previousRevision) {
    return {
      settled: true,
      summary:
        `nothing rolled back: revision ${previousRevision} served before this deploy and is the one ` +
        `that failed (the same release deployed again); rolling back would put an older release back`,
    };
  }
  reporter.progress(
    `rolling back deployment ${where} to revision ${previousRevision}, which served before this deploy`,
  );
  try {
    const { from, to } = await rollBackAndWait(target, deploymentName, {
      ...options,
      toRevision: previousRevision,
    });
    const summary = `rolled back ${where} from revision ${from} to ${to}, which is healthy and serving`;
    reporter.progress(summary);
    return { summary, settled: true };
  } catch (error) {
    if (error instanceof NothingToRollBack || error instanceof UsageError) {
      return {
        settled: true,
        summary:
          `could not roll back: revision ${previousRevision}, which served before this deploy, is gone ` +
          `(its ReplicaSet was pruned by spec.revisionHistoryLimit); the failed release stays in place ` +
          `(kubectl -n ${target.namespace} get pods)`,
      };
    }
    const summary =
      error instanceof UnhealthyAfterRollback
        ? error.message
        : `the rollback of ${where} failed: ${(error as Error).message}`;
    reporter.warn(summary);
    return { summary, settled: false };
  }
}
