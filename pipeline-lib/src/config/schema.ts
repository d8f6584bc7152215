import { z } from "zod";

const httpPath = z.string().regex(/^\/[^\s]*$/, "must be an absolute URL path such as /readyz");

/** Environment variable names, as Jenkins credential bindings provide them. */
const envVarName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    "must be an environment variable name such as REGISTRY_PASSWORD",
  );

/**
 * An image repository without tag or digest: `registry.example.com/team/app`,
 * `127.0.0.1:5000/app`, `123456789012.dkr.ecr.eu-west-1.amazonaws.com/app`.
 */
const repository = z
  .string()
  .regex(
    /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)+$/,
    "must be a lowercase image repository with a registry host and no tag, such as 127.0.0.1:5000/visit-counter",
  );

/**
 * How `push` and `promote` authenticate. One flat object rather than one shape
 * per provider, so a single config file can switch provider through
 * `${REGISTRY_AUTH}`; each provider reads only its own fields.
 */
export const registryAuthSchema = z
  .object({
    provider: z.enum(["basic", "ecr", "none"]),
    /** basic: the variables holding the credentials, as Jenkins' usernamePassword binding sets them. */
    usernameEnv: envVarName.default("REGISTRY_USERNAME"),
    passwordEnv: envVarName.default("REGISTRY_PASSWORD"),
    /**
     * ecr: falls back to the repository host, then to AWS_REGION / AWS_DEFAULT_REGION
     * (a token works only in its own region, and agents often carry an unrelated one).
     */
    region: z.string().min(1).optional(),
    /** ecr: falls back to the repository host (`<account>.dkr.ecr.<region>.amazonaws.com`). */
    accountId: z
      .string()
      .regex(/^[0-9]{12}$/, "must be a 12-digit AWS account id")
      .optional(),
  })
  .strict();

const quantity = z
  .string()
  .regex(
    /^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/,
    "must be a Kubernetes quantity such as 100m, 0.5, 128Mi or 1Gi",
  );
const resourceList = z.object({ cpu: quantity.optional(), memory: quantity.optional() }).strict();

/**
 * The signed evidence an image must carry before `deploy` applies it to an
 * environment. When absent: production requires provenance, passed tests and
 * a passed verification in test; test requires provenance.
 */
const evidenceRequirements = z
  .object({
    provenance: z.boolean().default(true),
    sbom: z.boolean().default(false),
    tests: z.boolean().default(false),
    verifiedIn: z.array(z.enum(["test", "production"])).default([]),
  })
  .strict();

/**
 * One canary step: the share of the app's pods that run the new release
 * (beside every stable pod, so capacity never drops), and how long their
 * metrics are compared with the stable pods' before the next step.
 */
const canaryStep = z
  .object({
    /** Percent of the serving pods that run the canary: 25 with 3 stable pods is 1 canary pod. */
    weight: z.number().int().min(1).max(99),
    /** The analysis window of this step. */
    seconds: z.number().int().min(1).max(3600).default(60),
  })
  .strict();

/**
 * How a canary is judged, from the Prometheus histogram every pod exports:
 * the canary's 5xx share and p99 latency against the stable pods' over the
 * same window. Health checks and the metrics path itself are never counted.
 */
const canaryAnalysis = z
  .object({
    /** How often every pod's metrics are read. */
    intervalSeconds: z.number().int().min(1).max(300).default(10),
    /** Requests each side (canary and stable) must have served in a step before it is judged. */
    minRequests: z.number().int().min(1).max(1_000_000).default(50),
    /** How long a step waits past its window for minRequests; then it ends inconclusive (rolled back). */
    noDataSeconds: z.number().int().min(0).max(3600).default(120),
    /** The largest rise of the 5xx share allowed: 0.01 lets 1.0% through when stable has 0%. */
    maxErrorRateIncrease: z.number().min(0).max(1).default(0.01),
    /** The largest rise of the p99 latency allowed, in milliseconds. */
    maxP99IncreaseMs: z.number().min(0).max(600_000).default(100),
    /** Where each pod serves its metrics (on app.port). */
    metricsPath: httpPath.default("/metrics"),
    /** The request histogram (seconds) and its labels. */
    histogram: z
      .string()
      .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, "must be a Prometheus metric name")
      .default("http_request_duration_seconds"),
    statusLabel: z.string().min(1).default("status"),
    routeLabel: z.string().min(1).default("route"),
    /** Routes (label values) left out besides the health paths and metricsPath. */
    ignoreRoutes: z.array(z.string().min(1)).default([]),
  })
  .strict();

/**
 * Where an environment without visitors gets its traffic during a canary:
 * the app's own contract checks, by name, sent to the environment's own
 * Service through the API server. Only GET and HEAD may be sent; a check that
 * tries anything else stops the canary.
 */
const canaryLoad = z
  .object({
    checks: z.array(z.string().min(1)).min(1),
    /** Check runs started per second, at most. */
    ratePerSecond: z.number().min(0.1).max(50).default(5),
    /** Check runs in flight at once, at most. */
    concurrency: z.number().int().min(1).max(16).default(4),
  })
  .strict();

/** How `deploy` may replace a release; `deploy --strategy` and the Jenkins steps take the same. */
export const STRATEGY_TYPES = ["rolling", "canary"] as const;

/** A canary's steps when the config names none: a quarter of the pods, then half, two minutes each. */
export const DEFAULT_CANARY_STEPS = [
  { weight: 25, seconds: 120 },
  { weight: 50, seconds: 120 },
];

/**
 * How `deploy` replaces the running release: rolling (all pods, as the
 * Deployment's strategy says) or a canary first. The canary settings stay
 * valid under `type: rolling`, so one variable can switch between the two.
 */
const strategy = z
  .object({
    type: z.enum(STRATEGY_TYPES).default("rolling"),
    steps: z
      .array(canaryStep)
      .min(1)
      .max(10)
      .refine(
        (steps) => steps.every((s, i) => i === 0 || s.weight > steps[i - 1]!.weight),
        "the steps' weights must rise from one step to the next",
      )
      .default(() => DEFAULT_CANARY_STEPS.map((step) => ({ ...step }))),
    analysis: canaryAnalysis.default(() => canaryAnalysis.parse({})),
    load: canaryLoad.optional(),
  })
  .strict();

/** Where one environment lives and how big it is; everything else is in the manifests. */
const environment = z
  .object({
    namespace: z
      .string()
      .regex(
        /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
        "must be a Kubernetes namespace name (RFC 1123 label)",
      )
      .max(63),
    /** The kubeconfig context; the current context when absent. */
    kubeContext: z.string().min(1).optional(),
    replicas: z.number().int().min(1).max(100).default(2),
    /** The app container's resources; the manifests' values when absent. */
    resources: z
      .object({ requests: resourceList.optional(), limits: resourceList.optional() })
      .strict()
      .optional(),
    /** The Ingress host; an Ingress without a host rule answers any host. */
    host: z
      .string()
      .regex(
        /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
        "must be a DNS host name such as counter.example.com",
      )
      .optional(),
    /** storageClassName for every PersistentVolumeClaim template. */
    storageClass: z.string().min(1).optional(),
    /** How the app's Service is exposed; NodePort lets a developer reach it on 127.0.0.1. */
    service: z
      .object({
        type: z.enum(["ClusterIP", "NodePort", "LoadBalancer"]).default("ClusterIP"),
        nodePort: z.number().int().min(30000).max(32767).optional(),
      })
      .strict()
      .optional(),
    /** A HorizontalPodAutoscaler for the app; without it the manifests' HPA is left out. */
    autoscaling: z
      .object({
        minReplicas: z.number().int().min(1).max(100),
        maxReplicas: z.number().int().min(1).max(1000),
        targetCPUUtilizationPercentage: z.number().int().min(1).max(100).default(70),
      })
      .strict()
      .refine((a) => a.maxReplicas >= a.minReplicas, "maxReplicas must be at least minReplicas")
      .optional(),
    /** Where visitors reach the app (the Ingress URL), for `verify --url`. */
    url: z.url().optional(),
    /** Extra environment variables for the app container. */
    env: z.record(z.string(), z.string()).default({}),
    /**
     * The Pod Security Standard the namespace enforces (and warns and audits
     * at): its `pod-security.kubernetes.io/*` labels. `restricted` when absent.
     */
    podSecurity: z.enum(["restricted", "baseline", "privileged"]).optional(),
    /** What the image must carry to be deployed here; see evidenceRequirements. */
    requires: evidenceRequirements.optional(),
    /** rolling (the default) or canary: see the strategy schema and README, "Canary releases". */
    strategy: strategy.default(defaultStrategy),
    /**
     * The AWS Load Balancer Controller's ALB in front of the Ingress (EKS):
     * HTTPS with an ACM certificate and a redirect from HTTP, and a target
     * group deregistration delay that the pods' preStop sleep outlasts, so a
     * rollout never takes a pod away while the ALB still sends it requests.
     */
    loadBalancer: z
      .object({
        /** An ACM certificate ARN; empty or absent: HTTP only. */
        certificateArn: z
          .string()
          .regex(
            /^(arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate\/[0-9a-f-]+)?$/,
            "must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)",
          )
          .optional(),
        deregistrationDelaySeconds: z.number().int().min(0).max(3600).default(30),
      })
      .strict()
      .optional(),
  })
  .strict();

const sidecar = z
  .object({
    /** The network alias the app reaches it by, such as `redis` in redis://redis:6379. */
    name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a DNS label such as redis"),
    image: z.string().min(1),
    /** The port it serves; Testcontainers waits for it unless waitForLog says otherwise. */
    port: z.number().int().min(1).max(65535),
    /** A log line (regular expression) that means it is ready. */
    waitForLog: z.string().min(1).optional(),
    env: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export const configSchema = z
  .object({
    app: z
      .object({
        name: z
          .string()
          .regex(
            /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
            "must be a lowercase DNS label such as visit-counter",
          )
          .max(53),
        /** The OCI `org.opencontainers.image.source` label. */
        sourceUrl: z.url().optional(),
        /** The port the app listens on inside its container. */
        port: z.number().int().min(1).max(65535).default(3000),
        health: z
          .object({
            readiness: httpPath.default("/readyz"),
            liveness: httpPath.default("/healthz"),
          })
          .strict()
          .default({ readiness: "/readyz", liveness: "/healthz" }),
        /**
         * The app's own contract checks: a JavaScript module, relative to the
         * config file, exporting `checks`. `pipeline test` runs them against the
         * container and `pipeline verify` against the deployed release.
         */
        contract: z.string().min(1).optional(),
      })
      .strict(),
    image: z
      .object({
        repository,
        dockerfile: z.string().min(1).default("Dockerfile"),
        /** The build context, relative to the config file. */
        context: z.string().min(1).default("."),
        buildArgs: z.record(z.string(), z.string()).default({}),
      })
      .strict(),
    /** How `pipeline test` runs the image: beside its sidecars, on one network. */
    test: z
      .object({
        /** Containers the app needs, started first on the same network. */
        sidecars: z.array(sidecar).default([]),
        /** Environment for the app container; PORT is set for you. */
        env: z.record(z.string(), z.string()).default({}),
        startupTimeoutSeconds: z.number().int().min(1).default(60),
      })
      .strict()
      .default({ sidecars: [], env: {}, startupTimeoutSeconds: 60 }),
    registry: z
      .object({ auth: registryAuthSchema })
      .strict()
      .default({
        auth: {
          provider: "none",
          usernameEnv: "REGISTRY_USERNAME",
          passwordEnv: "REGISTRY_PASSWORD",
        },
      }),
    /** How `pipeline deploy` renders and rolls out the manifests. */
    deploy: z
      .object({
        /** The folder of plain Kubernetes YAML, relative to the config file. */
        manifests: z.string().min(1).default("k8s"),
        /** The app's Deployment in the manifests, and its container; default app.name. */
        deployment: z.string().min(1).optional(),
        container: z.string().min(1).optional(),
        /**
         * Longest a rollout (or a rollback) may go without progress (no pod of
         * the new revision updated, ready or available) before it counts as
         * failed; the Deployment's progressDeadlineSeconds fails it too.
         */
        rolloutTimeoutSeconds: z.number().int().min(10).max(3600).default(180),
        /** The last guard: the longest a rollout may take, however it progresses. */
        rolloutMaxSeconds: z.number().int().min(10).max(21600).default(1800),
        /** Longest wait for another pipeline's deploy lock on the same namespace. */
        lockTimeoutSeconds: z.number().int().min(0).max(3600).default(600),
        /** Other images in the manifests, replaced by name: `redis:7-bookworm: my.registry/redis@sha256:…`. */
        images: z.record(z.string(), z.string().min(1)).default({}),
      })
      .strict()
      .default({
        manifests: "k8s",
        rolloutTimeoutSeconds: 180,
        rolloutMaxSeconds: 1800,
        lockTimeoutSeconds: 600,
        images: {},
      }),
    environments: z
      .object({ test: environment.optional(), production: environment.optional() })
      .strict()
      .default({}),
    /** Signed evidence: the keys the deploy gate trusts, and where the signing key comes from. */
    evidence: z
      .object({
        /**
         * Public keys (PEM files relative to this file, or PEM text) whose
         * signatures the gate accepts; list several to rotate keys.
         */
        trustedKeys: z.array(z.string().min(1)).default([]),
        /** The variable holding the private key file (a Jenkins file credential). */
        signingKeyEnv: envVarName.default("PIPELINE_SIGNING_KEY"),
      })
      .strict()
      .default({ trustedKeys: [], signingKeyEnv: "PIPELINE_SIGNING_KEY" }),
  })
  .strict();

export type RawPipelineConfig = z.infer<typeof configSchema>;
export type RegistryAuthConfig = z.infer<typeof registryAuthSchema>;
export type EnvironmentConfig = z.infer<typeof environment>;
export type SidecarConfig = z.infer<typeof sidecar>;
export type EvidenceRequirementsConfig = z.infer<typeof evidenceRequirements>;
export type StrategyConfig = z.infer<typeof strategy>;

/** What an environment without `strategy` gets: rolling, with the canary defaults for `--strategy canary`. */
export function defaultStrategy(): StrategyConfig {
  return strategy.parse({});
}

/** What an environment requires when its config says nothing (see evidenceRequirements). */
export const DEFAULT_REQUIREMENTS: Record<EnvironmentName, EvidenceRequirementsConfig> = {
  test: { provenance: true, sbom: false, tests: false, verifiedIn: [] },
  production: { provenance: true, sbom: false, tests: true, verifiedIn: ["test"] },
};

export function requirementsFor(
  environmentName: EnvironmentName,
  environment: EnvironmentConfig | undefined,
): EvidenceRequirementsConfig {
  return environment?.requires ?? DEFAULT_REQUIREMENTS[environmentName];
}
export const ENVIRONMENT_NAMES = ["test", "production"] as const;
export type EnvironmentName = (typeof ENVIRONMENT_NAMES)[number];

/** The validated configuration, with paths resolved against the config file's folder. */
export interface PipelineConfig extends RawPipelineConfig {
  /** Absolute path of the file this came from. */
  readonly file: string;
  /** Absolute folder of the config file; relative paths are resolved against it. */
  readonly root: string;
  readonly image: RawPipelineConfig["image"] & {
    /** Absolute build context folder. */
    readonly contextDir: string;
    /** Absolute Dockerfile path. */
    readonly dockerfilePath: string;
  };
  readonly app: RawPipelineConfig["app"] & {
    /** Absolute path of the contract module, when the config names one. */
    readonly contractPath: string | undefined;
  };
  readonly deploy: RawPipelineConfig["deploy"] & {
    /** Absolute manifests folder. */
    readonly manifestsDir: string;
    /** The app's Deployment and container names (app.name unless set). */
    readonly deploymentName: string;
    readonly containerName: string;
  };
}
