import * as k8s from "@kubernetes/client-node";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";

/** One object of k8s/access/deployer.yaml, as the security tests apply it. */
export interface AccessObject extends k8s.KubernetesObject {
  roleRef?: { name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/**
 * k8s/access/ for fresh namespaces : `test`, `production` and `pipeline-system` become the given names, and
 * the ClusterRole gets a suffix, so nothing an admin applied is touched.
 */
export async function renderAccess(
  root: string,
  names: Record<string, string>,
  suffix: string,
): Promise<AccessObject[]> {
  const text = await readFile(path.join(root, "k8s/access/deployer.yaml"), "utf8");
  const rename = (name: string) => names[name] ?? name;
  return parseAllDocuments(text).map((doc) => {
    const object = doc.toJS() as AccessObject;
    const metadata = object.metadata!;
    if (object.kind === "Namespace") metadata.name = rename(metadata.name!);
    if (object.kind === "ClusterRole") metadata.name = `${metadata.name}-${suffix}`;
    if (metadata.namespace) metadata.namespace = rename(metadata.namespace);
    if (object.roleRef) object.roleRef.name = `${object.roleRef.name}-${suffix}`;
    for (const subject of object.subjects ?? []) {
      if (subject.namespace) subject.namespace = rename(subject.namespace);
    }
    return object;
  });
}

/** A token (TokenRequest, one hour) for the ServiceAccount `pipeline-deployer` in `namespace`. */
export async function mintDeployerToken(admin: k8s.KubeConfig, namespace: string): Promise<string> {
  const response = await admin.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccountToken({
    name: "pipeline-deployer",
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = response.status?.token;
  if (!token) throw new Error("the TokenRequest returned no token");
  return token;
}

/** A kubeconfig holding nothing but the API server, its CA and a bearer token. */
export function tokenKubeconfig(
  admin: k8s.KubeConfig,
  token: string,
  server = admin.getCurrentCluster()!.server,
): string {
  const cluster = admin.getCurrentCluster()!;
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "cluster",
        cluster: {
          server,
          ...(cluster.caData ? { "certificate-authority-data": cluster.caData } : {}),
          ...(cluster.caFile ? { "certificate-authority": cluster.caFile } : {}),
        },
      },
    ],
    users: [{ name: "pipeline-deployer", user: { token } }],
    contexts: [{ name: "deployer", context: { cluster: "cluster", user: "pipeline-deployer" } }],
    "current-context": "deployer",
  });
}
