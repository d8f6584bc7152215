import { StageError } from "../errors.js";
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
 * After a failed rollout or a failed verification: back to the previous
 * revision and healthy again. Never throws: the caller's failure is the one
 * to report, and the summary returned says what state this left.
 */
export async function rollBackAfterFailure(
  target: EnvironmentTarget,
  deploymentName: string,
  options: Omit<RollBackOptions, "toRevision">,
): Promise<{ summary: string }> {
  const where = `${target.namespace}/${deploymentName}`;
  const { reporter } = options;
  reporter.progress(`rolling back deployment ${where} to its previous revision`);
  try {
    const { from, to } = await rollBackAndWait(target, deploymentName, options);
    const summary = `rolled back ${where} from revision ${from} to ${to}, which is healthy and serving`;
    reporter.progress(summary);
    return { summary };
  } catch (error) {
    if (error instanceof NothingToRollBack) {
      return {
        summary:
          `nothing to roll back to: this was the first deploy of ${where}, so the failed release ` +
          `stays in place for you to inspect (kubectl -n ${target.namespace} get pods)`,
      };
    }
    const summary =
      error instanceof UnhealthyAfterRollback
        ? error.message
        : `the rollback of ${where} failed: ${(error as Error).message}`;
    reporter.warn(summary);
    return { summary };
  }
}
