import type * as k8s from "@kubernetes/client-node";
import { KubeJsonClient } from "./kube-json-client.js";

/**
 * Sets (or, with null, removes) one annotation of a Deployment with a merge
 * patch under its own field manager, apart from the apply's `pipeline-lib`:
 * a later server-side apply that does not name it leaves it alone. For the
 * records a deploy keeps beside the release (its journal, a canary's steps).
 */
export async function annotateDeployment(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  name: string,
  fieldManager: string,
  key: string,
  value: string | null,
): Promise<void> {
  const path = `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}`;
  await KubeJsonClient.forConfig(kubeConfig).request("PATCH", path, {
    query: { fieldManager },
    contentType: "application/merge-patch+json",
    body: { metadata: { annotations: { [key]: value } } },
  });
}
