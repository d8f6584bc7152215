import * as k8s from "@kubernetes/client-node";
import { KubeApiError, parseStatus } from "./kube-api-error.js";

/** How long one request may take before it is abandoned, unless the caller says otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface JsonRequest {
  query?: Record<string, string | undefined>;
  /** Sent as JSON, exactly as given. */
  body?: unknown;
  /** Defaults to application/json; patches name their own. */
  contentType?: string;
  signal?: AbortSignal;
  /** Defaults to DEFAULT_REQUEST_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** An answer as it came, whatever its status: what the API server's proxy passes on from a pod. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Tells processResponse to hand the answer back as it came. */
const RAW = "pipeline-lib:raw";

/** The REST location of an object, from the API server's discovery. */
export interface ResourceLocation {
  /** e.g. /apis/apps/v1/namespaces/test/deployments/app */
  path: string;
  namespaced: boolean;
}

/** KubeJsonClient.forConfig's clients, one per KubeConfig. */
const clients = new WeakMap<k8s.KubeConfig, KubeJsonClient>();

/**
 * Plain JSON requests to the API server, with the kubeconfig's authentication
 * (certificates, tokens, exec plugins such as `aws eks get-token`).
 *
 * The typed clients of client-node pass request bodies through their models,
 * which silently drop every field the models do not know (a misspelt field, a
 * field newer than the library), and turn times into JavaScript `Date`s, which
 * cannot express a Lease's microseconds. Applying manifests and copying a pod
 * template back during a rollback must send exactly what they were given, so
 * they go through here; reading status goes through the typed clients.
 */
export class KubeJsonClient extends k8s.KubernetesObjectApi {
  /**
   * One client per KubeConfig, so that the API discovery it caches (which
   * resource serves a kind) is fetched once per run, not once per call.
   */
  static forConfig(kubeConfig: k8s.KubeConfig): KubeJsonClient {
    let client = clients.get(kubeConfig);
    if (!client) clients.set(kubeConfig, (client = kubeConfig.makeApiClient(KubeJsonClient)));
    return client;
  }

  /** The first discovery of each apiVersion, which callers at the same moment share. */
  readonly #discovery = new Map<string, Promise<k8s.V1APIResource | undefined>>();

  /**
   * client-node's discovery caches an apiVersion's resources once they have
   * come back; callers that ask at the same moment (a dry run's objects, all
   * checked at once) wait for the first one's request instead of each making
   * its own. A failed discovery is asked again by the next caller.
   */
  protected override async resource(
    apiVersion: string,
    kind: string,
    options?: k8s.Configuration,
  ): Promise<k8s.V1APIResource | undefined> {
    const first = this.#discovery.get(apiVersion);
    if (first) {
      await first.catch(() => undefined);
      return super.resource(apiVersion, kind, options);
    }
    const discovered = super.resource(apiVersion, kind, options);
    this.#discovery.set(apiVersion, discovered);
    discovered.catch(() => this.#discovery.delete(apiVersion));
    return discovered;
  }

  async request<T>(method: k8s.HttpMethod, path: string, request: JsonRequest = {}): Promise<T> {
    const context = this.configuration.baseServer.makeRequestContext(path, method);
    context.setHeaderParam("Accept", "application/json");
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) context.setQueryParam(name, value);
    }
    if (request.body !== undefined) {
      context.setHeaderParam("Content-Type", request.contentType ?? "application/json");
      context.setBody(JSON.stringify(request.body));
    }
    context.setSignal(requestSignal(request.signal, request.timeoutMs));
    return (await this.requestPromise(context)) as T;
  }

  /**
   * A request whose answer comes back as it is, any status included: for the
   * API server's proxy to pods and Services, where a 500 is the app's answer.
   */
  async requestRaw(
    method: k8s.HttpMethod,
    path: string,
    request: Omit<JsonRequest, "body" | "contentType"> & { accept?: string } = {},
  ): Promise<RawResponse> {
    const context = this.configuration.baseServer.makeRequestContext(path, method);
    context.setHeaderParam("Accept", request.accept ?? "*/*");
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) context.setQueryParam(name, value);
    }
    context.setSignal(requestSignal(request.signal, request.timeoutMs));
    return (await this.requestPromise(context, RAW)) as unknown as RawResponse;
  }

  /** Where `object` lives; throws when the server does not serve its apiVersion and kind. */
  async locate(object: k8s.KubernetesObject): Promise<ResourceLocation> {
    const { apiVersion = "v1", kind, metadata } = object;
    if (!kind) throw new Error("the object has no kind");
    const resource = await this.resource(apiVersion, kind);
    if (!resource) {
      throw new Error(`the API server does not serve kind ${kind} in apiVersion ${apiVersion}`);
    }
    const root = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const parts = [root];
    if (resource.namespaced) {
      if (!metadata?.namespace)
        throw new Error(`${kind} is namespaced but has no metadata.namespace`);
      parts.push("namespaces", encodeURIComponent(metadata.namespace));
    }
    parts.push(resource.name);
    if (metadata?.name) parts.push(encodeURIComponent(metadata.name));
    return { path: parts.join("/"), namespaced: resource.namespaced };
  }

  /** Plain JSON for success; a `KubeApiError` with the server's Status for anything else. */
  protected override async processResponse<T extends k8s.KubernetesObject>(
    response: k8s.ResponseContext,
    type?: string,
  ): Promise<T> {
    const text = await response.body.text();
    if (type === RAW) {
      const raw: RawResponse = {
        status: response.httpStatusCode,
        headers: response.headers,
        body: text,
      };
      return raw as unknown as T;
    }
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299) {
      return (text ? JSON.parse(text) : {}) as T;
    }
    throw new KubeApiError(response.httpStatusCode, parseStatus(text));
  }
}

/**
 * Request options for the typed clients: `signal` cancels the request, and no
 * request waits longer than `timeoutMs` for an API server that stopped answering.
 */
export function requestOptions(
  signal?: AbortSignal,
  timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): k8s.ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(requestSignal(signal, timeoutMs));
          return new k8s.Observable(Promise.resolve(context));
        },
        post: (response) => new k8s.Observable(Promise.resolve(response)),
      },
    ],
    // "replace", the default, would drop client-node's own User-Agent middleware.
    middlewareMergeStrategy: "append",
  };
}

function requestSignal(signal: AbortSignal | undefined, timeoutMs?: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}
