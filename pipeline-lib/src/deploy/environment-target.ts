import type * as k8s from "@kubernetes/client-node";
import {
  ENVIRONMENT_NAMES,
  type EnvironmentConfig,
  type EnvironmentName,
  type PipelineConfig,
} from "../config/schema.js";
import { UsageError } from "../errors.js";
import { assertApiReachable, loadKubeTarget } from "../kube/kube-target.js";
import { redactUrl } from "../output/redact.js";
import type { Reporter } from "../output/reporter.js";

/** Options every environment command takes: which one, and which cluster. */
export interface EnvironmentOptions {
  /** `test` or `production`: a key of `environments` in the config. */
  env: string;
  /** A kubeconfig file; KUBECONFIG or ~/.kube/config otherwise. */
  kubeconfig?: string | undefined;
  /** A kubeconfig context; the environment's `kubeContext`, else the current one. */
  context?: string | undefined;
}

/** One environment of the config, on the cluster it lives in. */
export interface EnvironmentTarget {
  readonly name: EnvironmentName;
  readonly environment: EnvironmentConfig;
  readonly namespace: string;
  readonly kubeConfig: k8s.KubeConfig;
  /** For messages: `context pipeline-testbed (https://127.0.0.1:6443)`. */
  readonly cluster: string;
}

/** The environment the config defines under that name; a UsageError listing the others if none. */
export function selectEnvironment(
  config: Pick<PipelineConfig, "environments" | "file">,
  name: string,
): { name: EnvironmentName; environment: EnvironmentConfig } {
  const defined = ENVIRONMENT_NAMES.filter((n) => config.environments[n] !== undefined);
  const known = (ENVIRONMENT_NAMES as readonly string[]).includes(name);
  const environment = known ? config.environments[name as EnvironmentName] : undefined;
  if (!environment) {
    throw new UsageError(
      `unknown environment "${name}": ${config.file} defines ${defined.join(", ") || "no environments"}; ` +
        `use --env ${defined[0] ?? "test"}` +
        (known ? ` or add environments.${name} to the config` : ""),
    );
  }
  return { name: name as EnvironmentName, environment };
}

/**
 * Selects the environment, loads the kubeconfig and checks that the API
 * server answers. Every failure here is a UsageError (exit 2): nothing has
 * been changed yet.
 */
export async function connectEnvironment(
  config: Pick<PipelineConfig, "environments" | "file">,
  options: EnvironmentOptions,
  { env, reporter }: { env: NodeJS.ProcessEnv; reporter: Reporter },
): Promise<EnvironmentTarget> {
  const { name, environment } = selectEnvironment(config, options.env);
  const context = options.context ?? environment.kubeContext;
  const target = loadKubeTarget({
    env,
    ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    ...(context ? { context } : {}),
  });
  const cluster = `context ${target.context} (${redactUrl(target.server)})`;
  reporter.progress(`environment ${name}: namespace ${environment.namespace} on ${cluster}`);
  await assertApiReachable(target);
  return {
    name,
    environment,
    namespace: environment.namespace,
    kubeConfig: target.kubeConfig,
    cluster,
  };
}
