import { expect } from "chai";
import path from "node:path";
import { parseConfig } from "../config/load-config.js";
import { defaultStrategy, type EnvironmentConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { readManifests, type ManifestObject } from "./read-manifests.js";
import { renderManifests, type RenderInput } from "./render-manifests.js";

const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");
const DIGEST = `sha256:${"ab".repeat(32)}`;
const IMAGE = `127.0.0.1:5000/visit-counter@${DIGEST}`;
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment --
   rendered manifests are plain YAML data; the assertions read into them freely. */
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const config = parseConfig(
  `
app: { name: visit-counter }
image: { repository: 127.0.0.1:5000/visit-counter }
deploy:
  images: { "redis:7-bookworm": "127.0.0.1:5000/redis@${DIGEST}" }
`,
  { file: path.join(REPO_ROOT, "pipeline.config.yaml"), env: {} },
);

const testEnv: EnvironmentConfig = {
  namespace: "test",
  replicas: 2,
  env: {},
  strategy: defaultStrategy(),
  host: "test.example.com",
  storageClass: "standard",
  service: { type: "NodePort", nodePort: 30080 },
};
const productionEnv: EnvironmentConfig = {
  namespace: "production",
  replicas: 3,
  env: { LOG_LEVEL: "warn" },
  strategy: defaultStrategy(),
  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
  autoscaling: { minReplicas: 3, maxReplicas: 10, targetCPUUtilizationPercentage: 60 },
};

function input(environment: EnvironmentConfig, overrides: Partial<RenderInput> = {}): RenderInput {
  return {
    config,
    environmentName: environment.namespace,
    environment,
    release: {
      image: IMAGE,
      commit: COMMIT,
      buildUrl: "https://jenkins.example.com/job/x/7/",
      triggeredBy: "jenkins (alice)",
      deployedAt: "2026-11-28T01:00:00.000Z",
    },
    ...overrides,
  };
}

describe("renderManifests", () => {
  let manifests: ManifestObject[];
  before(async () => {
    manifests = await readManifests(path.join(REPO_ROOT, "k8s"));
  });
  const find = (objects: Obj[], kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name);

  it("puts every object in the environment's namespace, in apply order", () => {
    const { objects, namespace } = renderManifests(manifests, input(testEnv));
    expect(namespace).to.equal("test");
    expect(objects.every((o) => o.metadata?.namespace === "test")).to.equal(true);
    const kinds = objects.map((o) => o.kind);
    expect(kinds.indexOf("NetworkPolicy")).to.be.lessThan(kinds.indexOf("Deployment"));
    expect(kinds.indexOf("Service")).to.be.lessThan(kinds.indexOf("StatefulSet"));
    expect(kinds.at(-1)).to.equal("Ingress");
  });

  it("sets the image by digest, replicas, version label and change-cause on the app", () => {
    const { objects } = renderManifests(manifests, input(testEnv));
    const app = find(objects, "Deployment", "visit-counter")!;
    expect(app.spec.template.spec.containers[0].image).to.equal(IMAGE);
    expect(app.spec.replicas).to.equal(2);
    expect(app.metadata.labels["app.kubernetes.io/version"]).to.equal(COMMIT);
    expect(app.spec.template.metadata.labels["app.kubernetes.io/version"]).to.equal(COMMIT);
    expect(app.metadata.annotations).to.include({
      "pipeline-lib.dev/commit": COMMIT,
      "pipeline-lib.dev/image": IMAGE,
      "pipeline-lib.dev/triggered-by": "jenkins (alice)",
      "pipeline-lib.dev/build-url": "https://jenkins.example.com/job/x/7/",
    });
    expect(app.metadata.annotations["kubernetes.io/change-cause"]).to.equal(
      `deploy ${IMAGE} (commit 0123456789ab) by jenkins (alice) https://jenkins.example.com/job/x/7/`,
    );
    // The selector never carries the version: it is immutable.
    expect(app.spec.selector.matchLabels).to.not.have.key("app.kubernetes.io/version");
  });

  it("replaces other images by name, sets the storage class, host and Service type", () => {
    const { objects } = renderManifests(manifests, input(testEnv));
    const redis = find(objects, "StatefulSet", "redis")!;
    expect(redis.spec.template.spec.containers[0].image).to.equal(`127.0.0.1:5000/redis@${DIGEST}`);
    expect(redis.spec.volumeClaimTemplates[0].spec.storageClassName).to.equal("standard");
    const ingress = find(objects, "Ingress", "visit-counter")!;
    expect(ingress.spec.rules[0].host).to.equal("test.example.com");
    const service = find(objects, "Service", "visit-counter")!;
    expect(service.spec.type).to.equal("NodePort");
    expect(service.spec.ports[0].nodePort).to.equal(30080);
  });

  it("leaves the autoscaler out unless the environment asks for it", () => {
    const test = renderManifests(manifests, input(testEnv)).objects;
    expect(test.some((o) => o.kind === "HorizontalPodAutoscaler")).to.equal(false);

    const production = renderManifests(manifests, input(productionEnv)).objects as Obj[];
    const hpa = find(production, "HorizontalPodAutoscaler", "visit-counter")!;
    expect(hpa.spec).to.deep.include({ minReplicas: 3, maxReplicas: 10 });
    expect(hpa.spec.metrics[0].resource.target.averageUtilization).to.equal(60);
    const app = find(production, "Deployment", "visit-counter")!;
    expect(app.spec).to.not.have.key("replicas");
    const container = app.spec.template.spec.containers[0];
    expect(container.resources).to.deep.equal({
      requests: { cpu: "100m", memory: "128Mi" },
      limits: { memory: "512Mi" },
    });
    expect(container.env).to.deep.include({ name: "LOG_LEVEL", value: "warn" });
    expect(find(production, "Ingress", "visit-counter")!.spec.rules[0]).to.not.have.key("host");
  });

  it("behind an ALB: HTTPS with the certificate and a redirect, a deregistration delay the preStop outlasts", () => {
    const arn =
      "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789";
    const behindAlb: EnvironmentConfig = {
      ...productionEnv,
      loadBalancer: { certificateArn: arn, deregistrationDelaySeconds: 30 },
    };
    const objects = renderManifests(manifests, input(behindAlb)).objects as Obj[];
    const notes = find(objects, "Ingress", "visit-counter")!.metadata.annotations;
    expect(notes).to.include({
      "alb.ingress.kubernetes.io/certificate-arn": arn,
      "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
      "alb.ingress.kubernetes.io/ssl-redirect": "443",
      "alb.ingress.kubernetes.io/target-group-attributes":
        "deregistration_delay.timeout_seconds=30",
      "alb.ingress.kubernetes.io/target-type": "ip",
    });
    const pod = find(objects, "Deployment", "visit-counter")!.spec.template.spec;
    const sleep = pod.containers[0].lifecycle.preStop.sleep.seconds as number;
    expect(sleep, "the pod outlives its deregistration").to.be.greaterThan(30);
    expect(pod.terminationGracePeriodSeconds).to.be.at.least(sleep + 20);

    // Without a certificate: the delay and the drain, but no HTTPS listener.
    const plain = renderManifests(
      manifests,
      input({ ...productionEnv, loadBalancer: { deregistrationDelaySeconds: 10 } }),
    ).objects as Obj[];
    const plainNotes = find(plain, "Ingress", "visit-counter")!.metadata.annotations;
    expect(plainNotes).to.not.have.key("alb.ingress.kubernetes.io/certificate-arn");
    expect(plainNotes["alb.ingress.kubernetes.io/target-group-attributes"]).to.equal(
      "deregistration_delay.timeout_seconds=10",
    );
    // Elsewhere (the testbed, test): the manifests' own 5 s preStop and 30 s grace.
    const testPod = find(
      renderManifests(manifests, input(testEnv)).objects,
      "Deployment",
      "visit-counter",
    )!.spec.template.spec;
    expect(testPod.containers[0].lifecycle.preStop.sleep.seconds).to.equal(5);
    expect(testPod.terminationGracePeriodSeconds).to.equal(30);
  });

  it("adds the registry pull secret and refers to it from the pods", () => {
    const { objects } = renderManifests(
      manifests,
      input(testEnv, {
        pullSecret: {
          name: "visit-counter-registry",
          registry: "127.0.0.1:5000",
          dockerConfigJson: "{}",
        },
      }),
    );
    const secret = find(objects, "Secret", "visit-counter-registry")!;
    expect(secret.type).to.equal("kubernetes.io/dockerconfigjson");
    expect(secret.data[".dockerconfigjson"]).to.equal(Buffer.from("{}").toString("base64"));
    const app = find(objects, "Deployment", "visit-counter")!;
    expect(app.spec.template.spec.imagePullSecrets).to.deep.equal([
      { name: "visit-counter-registry" },
    ]);
    // Redis comes from the same registry here (deploy.images), so it pulls with it too.
    const redis = find(objects, "StatefulSet", "redis")!;
    expect(redis.spec.template.spec.imagePullSecrets).to.deep.equal([
      { name: "visit-counter-registry" },
    ]);
  });

  it("never changes the manifests it was given (the environments share them)", () => {
    const before = JSON.stringify(manifests);
    renderManifests(manifests, input(productionEnv));
    renderManifests(manifests, input(testEnv));
    expect(JSON.stringify(manifests)).to.equal(before);
  });

  it("refuses, naming the problem: no digest, a cluster-scoped object, a foreign namespace, no app", () => {
    const cases: [RenderInput, ManifestObject[], RegExp][] = [
      [
        input(testEnv, { release: { ...input(testEnv).release, image: "127.0.0.1:5000/app:v1" } }),
        manifests,
        /has no digest; deploy only pushed images by digest/,
      ],
      [
        input(testEnv),
        [
          ...manifests,
          {
            source: "k8s/x.yaml:1",
            object: { apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } },
          },
        ],
        /k8s\/x\.yaml:1: Namespace\/x is cluster-scoped/,
      ],
      [
        input(testEnv),
        [
          ...manifests,
          {
            source: "k8s/y.yaml:3",
            object: {
              apiVersion: "v1",
              kind: "ConfigMap",
              metadata: { name: "y", namespace: "prod" },
            },
          },
        ],
        /k8s\/y\.yaml:3: ConfigMap\/y names namespace prod/,
      ],
      [
        input(testEnv),
        manifests.filter((m) => m.object.kind !== "Deployment"),
        /no Deployment named visit-counter .*set deploy\.deployment/,
      ],
    ];
    for (const [given, objects, message] of cases) {
      expect(() => renderManifests(objects, given)).to.throw(ConfigError, message);
    }
  });
});
