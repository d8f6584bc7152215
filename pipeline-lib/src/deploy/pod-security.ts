import * as k8s from "@kubernetes/client-node";
import type { EnvironmentConfig } from "../config/schema.js";
import { StageError, UsageError } from "../errors.js";
import { ApplyRejected, ensureNamespace } from "../kube/apply.js";
import { statusCodeOf, toKubeApiError } from "../kube/kube-api-error.js";

/** A Pod Security Standard, as the API server's PodSecurity admission enforces it. */
export type PodSecurityLevel = NonNullable<EnvironmentConfig["podSecurity"]>;

/** What an environment gets when its config names no level. */
export const DEFAULT_POD_SECURITY: PodSecurityLevel = "restricted";

/** The namespace labels that enforce `level` (and warn and audit at it), at the server's latest version. */
export function podSecurityLabels(
  level: PodSecurityLevel = DEFAULT_POD_SECURITY,
): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const mode of ["enforce", "warn", "audit"]) {
    labels[`pod-security.kubernetes.io/${mode}`] = level;
    labels[`pod-security.kubernetes.io/${mode}-version`] = "latest";
  }
  return labels;
}

/** The namespace's labels, or undefined when it does not exist; other API errors propagate. */
export async function readNamespaceLabels(
  kubeConfig: k8s.KubeConfig,
  name: string,
): Promise<Record<string, string> | undefined> {
  try {
    const namespace = await kubeConfig.makeApiClient(k8s.CoreV1Api).readNamespace({ name });
    return namespace.metadata?.labels ?? {};
  } catch (error) {
    if (statusCodeOf(error) === 404) return undefined;
    if (statusCodeOf(error) === 403) {
      throw new UsageError(
        `the kubeconfig's identity is forbidden to read namespace ${name} (HTTP 403), so nothing was changed: ` +
          "is KUBECONFIG the credential of this " +
          "environment (kubeconfig-<environment>)? Each environment has its own deployer (docs/ACCESS.md)",
        { cause: toKubeApiError(error) },
      );
    }
    throw toKubeApiError(error);
  }
}

/**
 * Makes sure the namespace exists with the Pod Security labels of `level`.
 * A namespace that already carries them is left alone, so a least-privilege
 * deployer (k8s/access/), which may read its namespaces but not relabel
 * them, deploys to namespaces an admin prepared. `live` is what
 * readNamespaceLabels() returned.
 */
export async function ensurePodSecurity(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  level: PodSecurityLevel | undefined,
  live: Record<string, string> | undefined,
): Promise<void> {
  const wanted = podSecurityLabels(level);
  if (live && Object.entries(wanted).every(([key, value]) => live[key] === value)) return;
  try {
    await ensureNamespace(kubeConfig, namespace, wanted);
  } catch (error) {
    if (statusCodeOf(error instanceof ApplyRejected ? error.cause : error) !== 403) throw error;
    const labels = Object.entries(wanted)
      .map(([key, value]) => `${key}=${value}`)
      .join(" ");
    throw new StageError(
      `namespace ${namespace} ${live ? "does not carry" : "does not exist with"} the Pod Security ` +
        `labels of podSecurity: ${level ?? DEFAULT_POD_SECURITY}, and these credentials may not ` +
        `${live ? "label" : "create"} it; nothing was applied. Ask a cluster admin to apply ` +
        `k8s/access/ or run: kubectl ${live ? "label" : "create"} namespace ${namespace}` +
        (live ? ` --overwrite ${labels}` : ` && kubectl label namespace ${namespace} ${labels}`),
      { cause: error },
    );
  }
}
