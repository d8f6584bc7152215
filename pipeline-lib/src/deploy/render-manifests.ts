import type { KubernetesObject } from "@kubernetes/client-node";
import type { EnvironmentConfig, PipelineConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import type { ManifestObject } from "./read-manifests.js";

/** Annotations that `pipeline deploy` writes on the app's Deployment. */
export const ANNOTATIONS = {
  changeCause: "kubernetes.io/change-cause",
  image: "pipeline-lib.dev/image",
  commit: "pipeline-lib.dev/commit",
  buildUrl: "pipeline-lib.dev/build-url",
  triggeredBy: "pipeline-lib.dev/triggered-by",
  deployedAt: "pipeline-lib.dev/deployed-at",
  /** The commit the image was built from (its provenance); `commit` is the one that deployed it. */
  imageCommit: "pipeline-lib.dev/image-commit",
  /** The signed evidence the deploy gate accepted, in one line. */
  evidence: "pipeline-lib.dev/evidence",
  /** The revision that served when the deploy started: what a failed verify goes back to. */
  replacesRevision: "pipeline-lib.dev/replaces-revision",
} as const;

export const VERSION_LABEL = "app.kubernetes.io/version";

/** What this release is: it lands in labels and annotations, and in `history`. */
export interface ReleaseInfo {
  /** `repository@sha256:…` (a tag before the @ is allowed). */
  image: string;
  /** The commit that deployed it (a merge commit on master, say). */
  commit: string | undefined;
  /** The commit the image was built from, from its signed provenance; may differ from `commit`. */
  imageCommit?: string | undefined;
  /** What the deploy gate accepted, in one line, for `history`. */
  evidence?: string | undefined;
  buildUrl: string | undefined;
  triggeredBy: string;
  deployedAt: string;
}

export interface RenderInput {
  config: Pick<PipelineConfig, "app" | "deploy">;
  environmentName: string;
  environment: EnvironmentConfig;
  release: ReleaseInfo;
  /**
   * A kubernetes.io/dockerconfigjson Secret for `registry`: every workload with
   * an image from that registry pulls with it.
   */
  pullSecret?: PullSecret;
}

export interface PullSecret {
  name: string;
  /** The registry host it holds credentials for: `127.0.0.1:5000`. */
  registry: string;
  dockerConfigJson: string;
}

export interface RenderedRelease {
  namespace: string;
  /** In apply order. */
  objects: KubernetesObject[];
  deploymentName: string;
}

/** Kinds that live outside namespaces: a deploy to one namespace never touches them. */
const CLUSTER_SCOPED = new Set([
  "Namespace",
  "Node",
  "PersistentVolume",
  "StorageClass",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "IngressClass",
  "PriorityClass",
  "MutatingWebhookConfiguration",
  "ValidatingWebhookConfiguration",
  "APIService",
  "RuntimeClass",
]);

/** Helm's install order: what others refer to comes first. */
const APPLY_ORDER = [
  "NetworkPolicy",
  "ResourceQuota",
  "LimitRange",
  "PodDisruptionBudget",
  "ServiceAccount",
  "Secret",
  "ConfigMap",
  "PersistentVolumeClaim",
  "Role",
  "RoleBinding",
  "Service",
  "DaemonSet",
  "Pod",
  "ReplicaSet",
  "StatefulSet",
  "Deployment",
  "HorizontalPodAutoscaler",
  "Job",
  "CronJob",
  "Ingress",
];

const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);

type Json = Record<string, unknown>;
interface Container extends Json {
  name: string;
  image?: string;
  env?: { name: string; value?: string }[];
  resources?: { requests?: Json; limits?: Json };
}

const IMAGE_BY_DIGEST = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

/**
 * Renders the manifests folder for one environment. Pure: plain data in,
 * plain data out, and every problem is a ConfigError naming the manifest.
 * The environments differ only through the config, never through copied YAML.
 */
export function renderManifests(
  manifests: readonly ManifestObject[],
  input: RenderInput,
): RenderedRelease {
  const { config, environment, release } = input;
  const namespace = environment.namespace;
  const deploymentName = config.deploy.deploymentName;
  if (!IMAGE_BY_DIGEST.test(release.image)) {
    throw new ConfigError(
      `image ${release.image} has no digest; deploy only pushed images by digest ` +
        `(repository@sha256:…, as \`pipeline push\` records in build.json)`,
    );
  }
  const objects: Json[] = [];
  let deployment: Json | undefined;
  for (const { source, object } of manifests) {
    if (CLUSTER_SCOPED.has(object.kind ?? "")) {
      throw new ConfigError(
        `${source}: ${object.kind}/${object.metadata?.name} is cluster-scoped; a deploy to namespace ` +
          `${namespace} applies only namespaced objects (the namespace itself is created for you)`,
      );
    }
    const declared = object.metadata?.namespace;
    if (declared && declared !== namespace) {
      throw new ConfigError(
        `${source}: ${object.kind}/${object.metadata?.name} names namespace ${declared}; remove ` +
          `metadata.namespace, the environment sets it (${namespace})`,
      );
    }
    const copy = structuredClone(object) as Json & { metadata: Json };
    copy.metadata.namespace = namespace;
    if (copy.kind === "HorizontalPodAutoscaler" && targetsDeployment(copy, deploymentName)) {
      if (!environment.autoscaling) continue;
      setAutoscaling(copy, environment.autoscaling);
    }
    if (WORKLOADS.has(String(copy.kind))) replaceImages(copy, config.deploy.images);
    if (input.pullSecret && WORKLOADS.has(String(copy.kind))) {
      addPullSecret(
        copy,
        input.pullSecret,
        copy.metadata.name === deploymentName ? release.image : undefined,
      );
    }
    if (copy.kind === "StatefulSet" && environment.storageClass) {
      for (const claim of (spec(copy).volumeClaimTemplates as Json[] | undefined) ?? []) {
        ((claim.spec ??= {}) as Json).storageClassName = environment.storageClass;
      }
    }
    if (copy.kind === "PersistentVolumeClaim" && environment.storageClass) {
      spec(copy).storageClassName = environment.storageClass;
    }
    if (copy.kind === "Service" && copy.metadata.name === deploymentName && environment.service) {
      setServiceType(copy, environment.service);
    }
    if (copy.kind === "Ingress") {
      setIngressHost(copy, environment.host);
      if (environment.loadBalancer) setAlb(copy, environment.loadBalancer);
    }
    if (copy.kind === "Deployment" && copy.metadata.name === deploymentName) deployment = copy;
    objects.push(copy);
  }
  if (!deployment) {
    const found = manifests
      .filter((m) => m.object.kind === "Deployment")
      .map((m) => m.object.metadata?.name);
    throw new ConfigError(
      `the manifests have no Deployment named ${deploymentName} (found: ${found.join(", ") || "none"}); ` +
        `set deploy.deployment in the config to the app's Deployment`,
    );
  }
  renderAppDeployment(deployment, input);
  if (input.pullSecret) objects.push(pullSecretObject(input.pullSecret, namespace, deployment));
  return {
    namespace,
    deploymentName,
    objects: sortForApply(objects),
  };
}

function renderAppDeployment(deployment: Json, input: RenderInput): void {
  const { config, environment, release } = input;
  const name = String((deployment.metadata as Json).name);
  const template = (spec(deployment).template ??= {}) as Json;
  const podSpec = (template.spec ??= {}) as Json;
  const containers = (podSpec.containers as Container[] | undefined) ?? [];
  const container = containers.find((c) => c.name === config.deploy.containerName);
  if (!container) {
    throw new ConfigError(
      `Deployment ${name} has no container named ${config.deploy.containerName} ` +
        `(found: ${containers.map((c) => c.name).join(", ") || "none"}); set deploy.container in the config`,
    );
  }
  container.image = release.image;
  if (environment.loadBalancer) {
    drainBehindAlb(podSpec, container, environment.loadBalancer.deregistrationDelaySeconds);
  }
  if (environment.resources) {
    const resources = (container.resources ??= {});
    for (const kind of ["requests", "limits"] as const) {
      const values = environment.resources[kind];
      if (values) resources[kind] = { ...resources[kind], ...stripUndefined(values) };
    }
  }
  const extraEnv = Object.entries(environment.env);
  if (extraEnv.length > 0) {
    const list = (container.env ??= []);
    for (const [key, value] of extraEnv) {
      const existing = list.find((e) => e.name === key);
      if (existing) {
        existing.value = value;
        delete (existing as Json).valueFrom;
      } else list.push({ name: key, value });
    }
  }
  if (environment.autoscaling) delete spec(deployment).replicas;
  else spec(deployment).replicas = environment.replicas;

  // The version label says which commit runs; a label value allows 63 characters.
  const version = labelValue(
    release.imageCommit ?? release.commit ?? digestOf(release.image).slice("sha256:".length, 19),
  );
  labels(deployment)[VERSION_LABEL] = version;
  labels(template)[VERSION_LABEL] = version;

  const cause =
    `deploy ${release.image}` +
    (release.commit ? ` (commit ${release.commit.slice(0, 12)})` : "") +
    ` by ${release.triggeredBy}` +
    (release.buildUrl ? ` ${release.buildUrl}` : "");
  Object.assign(annotations(deployment), {
    [ANNOTATIONS.changeCause]: cause,
    [ANNOTATIONS.image]: release.image,
    [ANNOTATIONS.triggeredBy]: release.triggeredBy,
    [ANNOTATIONS.deployedAt]: release.deployedAt,
    ...(release.commit ? { [ANNOTATIONS.commit]: release.commit } : {}),
    ...(release.buildUrl ? { [ANNOTATIONS.buildUrl]: release.buildUrl } : {}),
    ...(release.imageCommit ? { [ANNOTATIONS.imageCommit]: release.imageCommit } : {}),
    ...(release.evidence ? { [ANNOTATIONS.evidence]: release.evidence } : {}),
  });
}

/** Refers the workload's pods to the pull secret when one of their images comes from its registry. */
function addPullSecret(workload: Json, secret: PullSecret, appImage: string | undefined): void {
  const podSpec = ((spec(workload).template ??= {}) as Json).spec as Json | undefined;
  if (!podSpec) return;
  const images = ["initContainers", "containers"].flatMap((list) =>
    ((podSpec[list] as Container[] | undefined) ?? []).map((c) => c.image ?? ""),
  );
  if (appImage) images.push(appImage);
  if (!images.some((image) => image.startsWith(`${secret.registry}/`))) return;
  const secrets = ((podSpec.imagePullSecrets as { name: string }[] | undefined) ??= []);
  if (!secrets.some((s) => s.name === secret.name)) secrets.push({ name: secret.name });
}

function pullSecretObject(secret: PullSecret, namespace: string, deployment: Json): Json {
  const appLabels = labels(deployment);
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/dockerconfigjson",
    metadata: {
      name: secret.name,
      namespace,
      labels: Object.fromEntries(Object.entries(appLabels).filter(([k]) => k !== VERSION_LABEL)),
    },
    data: { ".dockerconfigjson": Buffer.from(secret.dockerConfigJson).toString("base64") },
  };
}

function replaceImages(workload: Json, images: Record<string, string>): void {
  const podSpec = (spec(workload).template as Json | undefined)?.spec as Json | undefined;
  for (const list of ["initContainers", "containers"]) {
    for (const container of (podSpec?.[list] as Container[] | undefined) ?? []) {
      const replacement = container.image ? images[container.image] : undefined;
      if (replacement) container.image = replacement;
    }
  }
}

function setAutoscaling(
  hpa: Json,
  autoscaling: NonNullable<EnvironmentConfig["autoscaling"]>,
): void {
  const hpaSpec = spec(hpa);
  hpaSpec.minReplicas = autoscaling.minReplicas;
  hpaSpec.maxReplicas = autoscaling.maxReplicas;
  hpaSpec.metrics = [
    {
      type: "Resource",
      resource: {
        name: "cpu",
        target: {
          type: "Utilization",
          averageUtilization: autoscaling.targetCPUUtilizationPercentage,
        },
      },
    },
  ];
}

function setServiceType(service: Json, setting: NonNullable<EnvironmentConfig["service"]>): void {
  const serviceSpec = spec(service);
  serviceSpec.type = setting.type;
  const ports = (serviceSpec.ports as Json[] | undefined) ?? [];
  if (setting.type === "ClusterIP") for (const port of ports) delete port.nodePort;
  else if (setting.nodePort !== undefined && ports[0]) ports[0].nodePort = setting.nodePort;
}

/**
 * The AWS Load Balancer Controller's annotations: HTTPS on 443 with the
 * ACM certificate and HTTP redirected to it, and the target group's
 * deregistration delay (the default, 300 s, keeps old pods in rotation far
 * longer than their preStop sleep).
 */
function setAlb(ingress: Json, alb: NonNullable<EnvironmentConfig["loadBalancer"]>): void {
  const metadata = ingress.metadata as Json;
  const notes = (metadata.annotations ??= {}) as Record<string, string>;
  notes["alb.ingress.kubernetes.io/target-group-attributes"] =
    `deregistration_delay.timeout_seconds=${alb.deregistrationDelaySeconds}`;
  if (alb.certificateArn) {
    notes["alb.ingress.kubernetes.io/certificate-arn"] = alb.certificateArn;
    notes["alb.ingress.kubernetes.io/listen-ports"] = '[{"HTTP": 80}, {"HTTPS": 443}]';
    notes["alb.ingress.kubernetes.io/ssl-redirect"] = "443";
  }
}

/**
 * Pods behind an ALB: the preStop sleep outlasts the deregistration delay
 * (plus the few seconds the controller takes to deregister the target), and
 * the grace period covers the sleep and the app's own shutdown.
 */
function drainBehindAlb(podSpec: Json, container: Container, delaySeconds: number): void {
  const sleep = delaySeconds + 5;
  const lifecycle = ((container as Json).lifecycle ??= {}) as Json;
  const current = ((lifecycle.preStop as Json | undefined)?.sleep as Json | undefined)?.seconds;
  if (typeof current !== "number" || current < sleep)
    lifecycle.preStop = { sleep: { seconds: sleep } };
  const grace = Number(podSpec.terminationGracePeriodSeconds ?? 30);
  const needed = sleep + 25;
  if (grace < needed) podSpec.terminationGracePeriodSeconds = needed;
}

function setIngressHost(ingress: Json, host: string | undefined): void {
  for (const rule of (spec(ingress).rules as Json[] | undefined) ?? []) {
    if (host) rule.host = host;
    else delete rule.host;
  }
  for (const tls of (spec(ingress).tls as Json[] | undefined) ?? []) {
    if (host) tls.hosts = [host];
  }
}

function targetsDeployment(hpa: Json, name: string): boolean {
  const target = spec(hpa).scaleTargetRef as Json | undefined;
  return target?.kind === "Deployment" && target.name === name;
}

function sortForApply(objects: Json[]): Json[] {
  const rank = (o: Json) => {
    const i = APPLY_ORDER.indexOf(String(o.kind));
    return i < 0 ? APPLY_ORDER.length : i;
  };
  // Array.prototype.sort is stable: the folder's order holds within a kind.
  return [...objects].sort((a, b) => rank(a) - rank(b));
}

function spec(object: Json): Json {
  return (object.spec ??= {}) as Json;
}
function labels(object: Json): Record<string, string> {
  const metadata = (object.metadata ??= {}) as Json;
  return (metadata.labels ??= {}) as Record<string, string>;
}
function annotations(object: Json): Record<string, string> {
  const metadata = (object.metadata ??= {}) as Json;
  return (metadata.annotations ??= {}) as Record<string, string>;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The digest part of `repository@sha256:…`. */
export function digestOf(image: string): string {
  return image.slice(image.indexOf("@") + 1);
}

/** A valid label value: up to 63 of [A-Za-z0-9_.-], starting and ending alphanumeric. */
function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9_.-]+/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}
