import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { UsageError } from "../errors.js";
import { redactUrl } from "../output/redact.js";
import { KubeApiError, toKubeApiError } from "./kube-api-error.js";
import { requestOptions } from "./kube-json-client.js";

/** The cluster a command talks to: a loaded kubeconfig, switched to one context. */
export interface KubeTarget {
  readonly kubeConfig: k8s.KubeConfig;
  readonly context: string;
  /** The API server's URL, for messages. */
  readonly server: string;
}

export interface LoadKubeTargetOptions {
  /** A kubeconfig file (`--kubeconfig`); otherwise KUBECONFIG, ~/.kube/config, then in-cluster. */
  kubeconfig?: string;
  /** A context of that kubeconfig (`--context`); otherwise its current context. */
  context?: string;
  env: NodeJS.ProcessEnv;
}

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";
const HOW_TO_GET_ONE =
  "pass --kubeconfig <file> or set KUBECONFIG (for EKS: aws eks update-kubeconfig --name <cluster>)";

/**
 * Loads the kubeconfig the way kubectl finds it: an explicit file, then the
 * files of KUBECONFIG (missing ones ignored, the first current-context wins),
 * then ~/.kube/config, then the pod's service account when running in a
 * cluster. Users with an `exec` section (EKS's `aws eks get-token`) are run by
 * client-node when a request needs a token, so nothing here runs them.
 */
export function loadKubeTarget(options: LoadKubeTargetOptions): KubeTarget {
  const kubeConfig = loadKubeConfig(options);
  const context = options.context ?? kubeConfig.getCurrentContext();
  const known = kubeConfig.getContexts().map((c) => c.name);
  if (!context) {
    throw new UsageError(
      `the kubeconfig sets no current-context; pass --context with one of: ${known.join(", ") || "none"}`,
    );
  }
  if (!kubeConfig.getContextObject(context)) {
    throw new UsageError(
      `context ${context} is not in the kubeconfig; known contexts: ${known.join(", ") || "none"}`,
    );
  }
  kubeConfig.setCurrentContext(context);
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster?.server) {
    const name = kubeConfig.getContextObject(context)?.cluster;
    throw new UsageError(
      `context ${context} names cluster ${name}, which the kubeconfig does not define (or gives no server)`,
    );
  }
  return { kubeConfig, context, server: cluster.server };
}

function loadKubeConfig({ kubeconfig, env }: LoadKubeTargetOptions): k8s.KubeConfig {
  if (kubeconfig) {
    if (!existsSync(kubeconfig)) {
      throw new UsageError(`kubeconfig ${kubeconfig} does not exist; ${HOW_TO_GET_ONE}`);
    }
    return fromFiles([kubeconfig]);
  }
  if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(path.delimiter).filter(Boolean);
    const existing = files.filter((file) => existsSync(file));
    if (existing.length === 0) {
      throw new UsageError(
        `KUBECONFIG=${env.KUBECONFIG} names no file that exists; ` +
          `point it at a kubeconfig, or unset it to use ~/.kube/config`,
      );
    }
    return fromFiles(existing);
  }
  const home = env.HOME || os.homedir();
  const homeConfig = path.join(home, ".kube", "config");
  if (existsSync(homeConfig)) return fromFiles([homeConfig]);
  if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    // A Jenkins agent running as a pod: its service account is the identity.
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromCluster();
    return kubeConfig;
  }
  throw new UsageError(
    `no kubeconfig: ${homeConfig} does not exist, KUBECONFIG is not set and this is not a pod ` +
      `in a cluster; ${HOW_TO_GET_ONE}`,
  );
}

function fromFiles(files: string[]): k8s.KubeConfig {
  const merged = new k8s.KubeConfig();
  files.forEach((file, index) => {
    try {
      if (index === 0) merged.loadFromFile(file);
      else {
        const next = new k8s.KubeConfig();
        next.loadFromFile(file);
        merged.mergeConfig(next, true);
      }
    } catch (cause) {
      throw new UsageError(`cannot load kubeconfig ${file}: ${messageOf(cause)}`, { cause });
    }
  });
  return merged;
}

export interface ApiServerInfo {
  /** The server's version, e.g. v1.34.4. */
  version: string;
  /** Who the credentials authenticate as, when the server says (SelfSubjectReview, 1.28+). */
  user?: string;
}

/**
 * Proves the API server answers and accepts the credentials before anything
 * is changed: the version, then who we are. Fails with a UsageError (exit 2,
 * nothing changed) that names the server and what went wrong.
 */
export async function assertApiReachable(
  target: KubeTarget,
  { timeoutMs = 10_000, signal }: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ApiServerInfo> {
  const where = `the Kubernetes API server ${redactUrl(target.server)} (context ${target.context})`;
  const options = requestOptions(signal, timeoutMs);
  let version: string;
  try {
    const code = await target.kubeConfig.makeApiClient(k8s.VersionApi).getCode(options);
    version = code.gitVersion;
  } catch (error) {
    throw unreachable(where, error, timeoutMs, target.kubeConfig);
  }
  try {
    const review = await target.kubeConfig
      .makeApiClient(k8s.AuthenticationV1Api)
      .createSelfSubjectReview(
        { body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" } },
        options,
      );
    return { version, user: review.status?.userInfo?.username };
  } catch (error) {
    const converted = toKubeApiError(error);
    // An older server, or a role that may not ask: the version call already proved the rest.
    if (converted instanceof KubeApiError && [403, 404].includes(converted.code)) {
      return { version };
    }
    throw unreachable(where, error, timeoutMs, target.kubeConfig);
  }
}

function unreachable(
  where: string,
  error: unknown,
  timeoutMs: number,
  kubeConfig?: k8s.KubeConfig,
): UsageError {
  const cause = toKubeApiError(error);
  if (cause instanceof KubeApiError) {
    const hint =
      cause.code === 401
        ? refusedCredentials(kubeConfig)
        : cause.code === 403
          ? "; the credentials are valid but may not do this"
          : "";
    return new UsageError(`${where} answered HTTP ${cause.code}: ${cause.message}${hint}`, {
      cause,
    });
  }
  if (isTimeout(error)) {
    return new UsageError(
      `${where} did not answer within ${timeoutMs} ms; check the server address and that this machine can reach it (VPN, security group)`,
      { cause: error },
    );
  }
  const reason = networkReason(error);
  const hint = /CERT|SIGNATURE|SELF_SIGNED|certificate/.test(reason)
    ? "; check the kubeconfig's certificate-authority for this cluster"
    : /\bspawn\b.*\bENOENT\b/.test(reason)
      ? "; the kubeconfig's exec credential plugin could not run: is it installed and on the PATH?"
      : "; check that the cluster is running and the kubeconfig's server address (the local testbed: npm run testbed:up)";
  return new UsageError(`cannot reach ${where}: ${reason}${hint}`, { cause: error });
}

/** What to do when the API server refused the kubeconfig's credentials (HTTP 401). */
function refusedCredentials(kubeConfig: k8s.KubeConfig | undefined): string {
  const user = kubeConfig?.getCurrentUser();
  if (user?.exec) {
    const { command: given } = user.exec as { command?: unknown };
    const command = typeof given === "string" ? given : "exec";
    return (
      `; the token from the kubeconfig's credential plugin (${command}) was refused: check the ` +
      "identity it runs as (for EKS: aws sts get-caller-identity, AWS_PROFILE, the agent's role) and that the " +
      "cluster has an access entry for it (docs/ACCESS.md)"
    );
  }
  const expires = tokenExpiry(user?.token);
  if (expires && expires.getTime() <= Date.now()) {
    return (
      `; the kubeconfig's token expired at ${expires.toISOString()}: mint a new one ` +
      "(kubectl -n pipeline-system create token pipeline-deployer-<environment>) and replace the kubeconfig " +
      "(in Jenkins: the credential kubeconfig-<environment>), or use a user that refreshes its own token " +
      "(on EKS: aws eks update-kubeconfig; docs/ACCESS.md)"
    );
  }
  if (user?.token) {
    return (
      "; the kubeconfig's token was refused although it has not expired: it was revoked (its ServiceAccount " +
      "or bound object deleted) or is for another cluster; mint a new one (docs/ACCESS.md)"
    );
  }
  return "; the credentials were refused: refresh them (for EKS: aws sso login, or check AWS_PROFILE)";
}

/** When a JWT bearer token expires (reads `exp` only; never prints the token). */
export function tokenExpiry(token: string | undefined): Date | undefined {
  const payload = token?.split(".")[1];
  if (!payload) return undefined;
  try {
    const { exp } = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as {
      exp?: unknown;
    };
    return typeof exp === "number" ? new Date(exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}

function isTimeout(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.name === "TimeoutError") return true;
  }
  return false;
}

/** The innermost useful words of a network error: fetch wraps the socket's error as its cause. */
function networkReason(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error && parts.length < 4; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    const text = code && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
    if (!parts.some((p) => p.includes(text))) parts.push(text);
  }
  return parts.join(": ") || String(error);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
