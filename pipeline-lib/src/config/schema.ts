import { z } from "zod";

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
    /** Where visitors reach the app, for verification after a deploy. */
    url: z.url().optional(),
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
    /** How `pipeline test` runs the image: beside a real Redis, on one network. */
    test: z
      .object({
        redisImage: z.string().min(1).default("redis:7-bookworm"),
        /** The port the app listens on inside its container. */
        appPort: z.number().int().min(1).max(65535).default(3000),
        /** Environment for the app container; REDIS_URL and PORT are set for you. */
        env: z.record(z.string(), z.string()).default({}),
        startupTimeoutSeconds: z.number().int().min(1).default(60),
      })
      .strict()
      .default({
        redisImage: "redis:7-bookworm",
        appPort: 3000,
        env: {},
        startupTimeoutSeconds: 60,
      }),
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
    environments: z
      .object({ test: environment.optional(), production: environment.optional() })
      .strict()
      .default({}),
  })
  .strict();

export type RawPipelineConfig = z.infer<typeof configSchema>;
export type RegistryAuthConfig = z.infer<typeof registryAuthSchema>;
export type EnvironmentConfig = z.infer<typeof environment>;
export type EnvironmentName = "test" | "production";

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
}
