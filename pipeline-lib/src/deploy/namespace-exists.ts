import * as k8s from "@kubernetes/client-node";
import { statusCodeOf } from "../kube/kube-api-error.js";

/** Whether the namespace exists; other API errors propagate. */
export async function namespaceExists(kubeConfig: k8s.KubeConfig, name: string): Promise<boolean> {
  try {
    await kubeConfig.makeApiClient(k8s.CoreV1Api).readNamespace({ name });
    return true;
  } catch (error) {
    if (statusCodeOf(error) === 404) return false;
    throw error;
  }
}
