import * as k8s from "@kubernetes/client-node";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";

/** One object of k8s/access/, as the security tests apply it. */
export interface AccessObject extends k8s.KubernetesObject {
  roleRef?: { name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** The environments k8s/access/ gives an identity of their own. */
export const DEPLOYER_ENVIRONMENTS = ["test", "production"] as const;
export type DeployerEnvironment = (typeof DEPLOYER_ENVIRONMENTS)[number];

/** The ServiceAccount (in `pipeline-system`) that deploys to one environment. */
export const deployerServiceAccount = (environment: DeployerEnvironment) =>
  `pipeline-deployer-${environment}`;

/**
 * Every file of k8s/access/ (in name order, as `kubectl apply -f k8s/access/`
 * takes them) for fresh namespaces: `test`, `production` and `pipeline-system`
 * become the given names, and the ClusterRoles and the EKS groups get a
 * suffix, so nothing an admin applied is touched.
 */
export async function renderAccess(
  root: string,
  names: Record<string, string>,
  suffix: string,
): Promise<AccessObject[]> {
  const dir = path.join(root, "k8s/access");
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const rename = (name: string) => names[name] ?? name;
  const objects: AccessObject[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(path.join(dir, file), "utf8"))) {
      const object = doc.toJS() as AccessObject | null;
      if (!object) continue;
      const metadata = object.metadata!;
      if (object.kind === "Namespace") metadata.name = rename(metadata.name!);
      if (object.kind === "ClusterRole") metadata.name = `${metadata.name}-${suffix}`;
      if (metadata.namespace) metadata.namespace = rename(metadata.namespace);
      if (object.roleRef) object.roleRef.name = `${object.roleRef.name}-${suffix}`;
      for (const subject of object.subjects ?? []) {
        if (subject.namespace) subject.namespace = rename(subject.namespace);
        if (subject.kind === "Group") subject.name = `${subject.name}-${suffix}`;
      }
      objects.push(object);
    }
  }
  // Namespaces first: a file that sorts before deployer.yaml may bind in them.
  return [
    ...objects.filter((o) => o.kind === "Namespace"),
    ...objects.filter((o) => o.kind !== "Namespace"),
  ];
}

/**
 * A token (TokenRequest, one hour) for the deployer ServiceAccount of
 * `environment` (test by default) in `namespace` (the renamed `pipeline-system`).
 * `boundTo` ties it to a Secret of that namespace: deleting the Secret revokes it.
 */
export async function mintDeployerToken(
  admin: k8s.KubeConfig,
  namespace: string,
  environment: DeployerEnvironment = "test",
  { boundTo }: { boundTo?: { name: string; uid: string } } = {},
): Promise<string> {
  const response = await admin.makeApiClient(k8s.CoreV1Api).createNamespacedServiceAccountToken({
    name: deployerServiceAccount(environment),
    namespace,
    body: {
      spec: {
        audiences: [],
        expirationSeconds: 3600,
        ...(boundTo ? { boundObjectRef: { apiVersion: "v1", kind: "Secret", ...boundTo } } : {}),
      },
    },
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
  return kubeconfigWith(admin, { token }, server);
}

/**
 * A kubeconfig whose user runs a credential plugin for its token, as the one
 * `aws eks update-kubeconfig` writes runs `aws eks get-token`.
 */
export function execKubeconfig(admin: k8s.KubeConfig, command: string, args: string[]): string {
  return kubeconfigWith(admin, {
    exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command, args },
  });
}

function kubeconfigWith(
  admin: k8s.KubeConfig,
  user: object,
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
    users: [{ name: "pipeline-deployer", user }],
    contexts: [{ name: "deployer", context: { cluster: "cluster", user: "pipeline-deployer" } }],
    "current-context": "deployer",
  });
}
