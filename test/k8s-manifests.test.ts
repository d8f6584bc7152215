import type {
  KubernetesObject,
  V1Deployment,
  V1PodDisruptionBudget,
  V1Service,
  V1StatefulSet,
} from "@kubernetes/client-node";
import { expect } from "chai";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parseAllDocuments } from "yaml";

const K8S = path.resolve(import.meta.dirname, "../k8s");

type Workload = V1Deployment | V1StatefulSet;

/** As written in YAML: client-node's model names `from` `_from`. */
interface NetworkPolicyYaml extends KubernetesObject {
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    ingress?: { from?: { podSelector?: { matchLabels?: Record<string, string> } }[] }[];
  };
}

async function loadManifests(): Promise<KubernetesObject[]> {
  const manifests: KubernetesObject[] = [];
  for (const file of (await readdir(K8S)).filter((f) => f.endsWith(".yaml"))) {
    for (const doc of parseAllDocuments(await readFile(path.join(K8S, file), "utf8"))) {
      expect(doc.errors, file).to.deep.equal([]);
      manifests.push(doc.toJS() as KubernetesObject);
    }
  }
  return manifests;
}

const podLabels = (w: Workload) => w.spec?.template.metadata?.labels ?? {};

/** The conventions of docs/ARCHITECTURE.md, held against the manifests in k8s/. */
describe("k8s manifests", () => {
  let manifests: KubernetesObject[];
  before(async () => {
    manifests = await loadManifests();
  });
  const ofKind = <T extends KubernetesObject>(...kinds: string[]) =>
    manifests.filter((m) => kinds.includes(m.kind ?? "")) as T[];
  const named = <T extends KubernetesObject>(kind: string, name: string): T => {
    const found = ofKind<T>(kind).find((m) => m.metadata?.name === name);
    if (!found) throw new Error(`k8s/ has no ${kind}/${name}`);
    return found;
  };

  it("label everything with the recommended app.kubernetes.io labels", () => {
    expect(manifests.length).to.be.greaterThan(4);
    for (const m of manifests) {
      expect(m.metadata?.labels, `${m.kind}/${m.metadata?.name}`).to.include.keys(
        "app.kubernetes.io/name",
        "app.kubernetes.io/part-of",
        "app.kubernetes.io/managed-by",
      );
    }
  });

  it("run every container as non-root, read-only, with all capabilities dropped", () => {
    const workloads = ofKind<Workload>("Deployment", "StatefulSet");
    expect(workloads).to.have.length(2);
    for (const w of workloads) {
      const pod = w.spec?.template.spec;
      expect(pod?.securityContext?.runAsNonRoot, w.metadata?.name).to.equal(true);
      expect(pod?.automountServiceAccountToken, w.metadata?.name).to.equal(false);
      for (const c of pod?.containers ?? []) {
        expect(c.securityContext, c.name).to.deep.include({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        });
        expect(c.resources?.limits?.memory, c.name).to.be.a("string");
      }
    }
  });

  it("roll the app out with zero downtime", () => {
    const app = named<V1Deployment>("Deployment", "visit-counter");
    expect(app.spec?.strategy?.rollingUpdate?.maxUnavailable).to.equal(0);
    expect(app.metadata?.labels).to.have.property("app.kubernetes.io/version");
    expect(podLabels(app)).to.have.property("app.kubernetes.io/version");
    const pod = app.spec?.template.spec;
    const container = pod?.containers[0];
    expect(container?.readinessProbe?.httpGet?.path).to.equal("/readyz");
    expect(container?.livenessProbe?.httpGet?.path).to.equal("/healthz");
    expect(container?.startupProbe?.httpGet?.path, "a startup probe guards liveness").to.be.a(
      "string",
    );
    expect(app.spec?.strategy?.rollingUpdate?.maxSurge).to.equal(1);
    expect(pod?.securityContext?.seccompProfile?.type).to.equal("RuntimeDefault");
    const preStop = container?.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(preStop).to.be.greaterThan(0);
    const shutdownMs = Number(container?.env?.find((e) => e.name === "SHUTDOWN_TIMEOUT_MS")?.value);
    expect(
      pod?.terminationGracePeriodSeconds,
      "the grace period covers the preStop sleep and the app's shutdown timeout",
    ).to.be.greaterThan(preStop + shutdownMs / 1000);
  });

  it("select with their Services and PodDisruptionBudget exactly the pods they mean", () => {
    const selectors: [string, Record<string, string>][] = [
      ...ofKind<V1Service>("Service").map((s): [string, Record<string, string>] => [
        `Service/${s.metadata?.name}`,
        s.spec?.selector ?? {},
      ]),
      ...ofKind<V1PodDisruptionBudget>("PodDisruptionBudget").map(
        (p): [string, Record<string, string>] => [
          `PodDisruptionBudget/${p.metadata?.name}`,
          p.spec?.selector?.matchLabels ?? {},
        ],
      ),
    ];
    expect(selectors).to.have.length(3);
    for (const [what, selector] of selectors) {
      expect(Object.keys(selector), what).to.not.be.empty;
      const matches = ofKind<Workload>("Deployment", "StatefulSet").filter((w) =>
        Object.entries(selector).every(([k, v]) => podLabels(w)[k] === v),
      );
      expect(matches, what).to.have.length(1);
    }
  });

  it("expose the app through an Ingress for the AWS Load Balancer Controller, and autoscale it", () => {
    const ingress = named<KubernetesObject & { spec: { ingressClassName?: string } }>(
      "Ingress",
      "visit-counter",
    );
    expect(ingress.spec.ingressClassName).to.equal("alb");
    expect(ingress.metadata?.annotations).to.include({
      "alb.ingress.kubernetes.io/target-type": "ip",
      "alb.ingress.kubernetes.io/healthcheck-path": "/readyz",
    });
    const hpa = named<KubernetesObject & { spec: { scaleTargetRef: { name: string } } }>(
      "HorizontalPodAutoscaler",
      "visit-counter",
    );
    expect(hpa.spec.scaleTargetRef.name).to.equal("visit-counter");
    const redis = named<V1StatefulSet>("StatefulSet", "redis");
    expect(redis.spec?.template.spec?.containers[0]?.args).to.include.members([
      "--appendonly",
      "yes",
    ]);
    expect(redis.spec?.volumeClaimTemplates).to.have.length(1);
  });

  it("let only the app reach Redis", () => {
    const policy = named<NetworkPolicyYaml>("NetworkPolicy", "redis-from-visit-counter-only");
    const redis = named<V1StatefulSet>("StatefulSet", "redis");
    const app = named<V1Deployment>("Deployment", "visit-counter");
    for (const [k, v] of Object.entries(policy.spec.podSelector.matchLabels ?? {})) {
      expect(podLabels(redis)[k]).to.equal(v);
    }
    const from = policy.spec.ingress?.[0]?.from ?? [];
    expect(from).to.have.length(1);
    const allowed = from[0]?.podSelector?.matchLabels ?? {};
    expect(Object.keys(allowed)).to.not.be.empty;
    for (const [k, v] of Object.entries(allowed)) expect(podLabels(app)[k]).to.equal(v);
  });
});
