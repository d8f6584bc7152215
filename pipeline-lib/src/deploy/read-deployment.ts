import * as k8s from "@kubernetes/client-node";
import { statusCodeOf } from "../kube/kube-api-error.js";

/** The Deployment, or undefined when it does not exist; other API errors propagate. */
export async function readDeployment(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  name: string,
): Promise<k8s.V1Deployment | undefined> {
  try {
    return await kubeConfig
      .makeApiClient(k8s.AppsV1Api)
      .readNamespacedDeployment({ name, namespace });
  } catch (error) {
    if (statusCodeOf(error) === 404) return undefined;
    throw error;
  }
}
