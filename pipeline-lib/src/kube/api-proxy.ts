import type * as k8s from "@kubernetes/client-node";
import { ConfigError } from "../errors.js";
import { KubeJsonClient, type RawResponse } from "./kube-json-client.js";

/**
 * Reaching the app's pods and its Service through the API server's proxy
 * (`pods/proxy`, `services/proxy`): no port-forward, no route from the agent
 * to the pods, the same on EKS as on the testbed, and only what RBAC grants
 * (k8s/access/deployer.yaml: get, which is GET and HEAD).
 */

function splitPath(pathAndQuery: string): { path: string; query: Record<string, string> } {
  const url = new URL(pathAndQuery, "http://placeholder");
  return { path: url.pathname, query: Object.fromEntries(url.searchParams) };
}

/** GET `pathAndQuery` from one pod's port, through `pods/<pod>:<port>/proxy`. */
export async function getFromPod(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  pod: string,
  port: number,
  pathAndQuery: string,
  { signal, timeoutMs = 10_000 }: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const { path, query } = splitPath(pathAndQuery);
  return KubeJsonClient.forConfig(kubeConfig).requestRaw(
    "GET",
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}:${port}/proxy${path}`,
    { query, ...(signal ? { signal } : {}), timeoutMs },
  );
}

/** A request the service proxy refused to send: not read-only, or not to the Service. Exit code 2. */
export class NotReadOnly extends ConfigError {}

/** Statuses whose answers have no body (the Response constructor refuses one). */
const NO_BODY = new Set([101, 204, 205, 304]);

/**
 * A `fetch` for the app's contract checks that reaches one Service through
 * `services/<name>:<port>/proxy`: the API server sends each request to one of
 * the Service's ready endpoints, picked at random, so every pod behind the
 * Service gets its share. It sends GET and HEAD only, and only to `baseUrl`;
 * anything else is refused with NotReadOnly before it leaves.
 */
export function serviceProxyFetch(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  service: string,
  port: string | number,
): { baseUrl: string; fetch: typeof fetch } {
  const baseUrl = `http://${service}.${namespace}.svc`;
  const client = KubeJsonClient.forConfig(kubeConfig);
  const proxy = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(service)}:${encodeURIComponent(String(port))}/proxy`;
  const send = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    if (url.origin !== new URL(baseUrl).origin) {
      throw new NotReadOnly(
        `the canary's load may only reach Service ${namespace}/${service}, not ${url.origin}`,
      );
    }
    if (method !== "GET" && method !== "HEAD") {
      throw new NotReadOnly(
        `the canary's load sends only read-only requests (GET, HEAD), and a check sent ${method} ${url.pathname}; ` +
          "name only read-only checks in strategy.load.checks",
      );
    }
    const answer = await client.requestRaw(method, `${proxy}${url.pathname}`, {
      query: Object.fromEntries(url.searchParams),
      ...(init.signal ? { signal: init.signal } : {}),
    });
    const body = method === "HEAD" || NO_BODY.has(answer.status) ? null : answer.body;
    return new Response(body, { status: answer.status, headers: answer.headers });
  };
  return { baseUrl, fetch: send };
}
