import { createHash } from "node:crypto";
import type { Fetch } from "../registry/registry-v2-client.js";

export interface FakeRegistryOptions {
  /** `basic` like Distribution with htpasswd; `bearer` like Docker Hub's token service. */
  auth: "basic" | "bearer" | "none";
  username?: string;
  password?: string;
  /** Leave Docker-Content-Digest off HEAD answers, as some registries do. */
  omitHeadDigest?: boolean;
  /** Serve these bytes instead of the stored ones for GETs by digest (a lying registry). */
  corruptManifests?: boolean;
}

export interface RecordedRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  accept: string | undefined;
  body: Uint8Array | undefined;
}

const TOKEN_REALM = "https://auth.fake.invalid/token";

/**
 * An in-memory Registry v2 manifest API behind a `fetch` function, for unit
 * tests of the auth flows and of edge cases a real Distribution will not show.
 */
export class FakeRegistry {
  readonly manifests = new Map<string, { bytes: Uint8Array; mediaType: string }>();
  readonly tags = new Map<string, string>();
  readonly requests: RecordedRequest[] = [];
  readonly #options: Required<FakeRegistryOptions>;

  constructor(options: FakeRegistryOptions) {
    this.#options = {
      username: "user",
      password: "pass",
      omitHeadDigest: false,
      corruptManifests: false,
      ...options,
    };
  }

  /** Stores a manifest; the JSON is indented oddly on purpose, so re-serialising it would change the digest. */
  addManifest(content: object, mediaType: string, tag?: string): string {
    const bytes = new TextEncoder().encode(JSON.stringify({ mediaType, ...content }, null, 3));
    const digest = sha256(bytes);
    this.manifests.set(digest, { bytes, mediaType });
    if (tag) this.tags.set(tag, digest);
    return digest;
  }

  readonly fetch: Fetch = async (input, init = {}) => {
    const url = new URL(
      typeof input === "string" ? input : input instanceof URL ? input : input.url,
    );
    const headers = new Headers(init.headers);
    const method = init.method ?? "GET";
    const body = init.body ? new Uint8Array(init.body as Uint8Array) : undefined;
    this.requests.push({
      method,
      url: url.toString(),
      authorization: headers.get("authorization") ?? undefined,
      contentType: headers.get("content-type") ?? undefined,
      accept: headers.get("accept") ?? undefined,
      body,
    });
    await Promise.resolve();
    if (url.href.startsWith(TOKEN_REALM)) return this.#token(url, headers);
    const match = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (!match) return json(404, { errors: [{ code: "NOT_FOUND", message: url.pathname }] });
    const [, name, reference] = match as unknown as [string, string, string];
    const denied = this.#authorize(headers, name, method === "PUT" ? "pull,push" : "pull");
    if (denied) return denied;
    if (method === "PUT") {
      const digest = sha256(body!);
      this.manifests.set(digest, { bytes: body!, mediaType: headers.get("content-type")! });
      if (!reference.startsWith("sha256:")) this.tags.set(reference, digest);
      return new Response(null, { status: 201, headers: { "docker-content-digest": digest } });
    }
    const digest = reference.startsWith("sha256:") ? reference : this.tags.get(reference);
    const manifest = digest && this.manifests.get(digest);
    if (!digest || !manifest) {
      return json(404, { errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] });
    }
    const responseHeaders: Record<string, string> = { "content-type": manifest.mediaType };
    if (!(method === "HEAD" && this.#options.omitHeadDigest)) {
      responseHeaders["docker-content-digest"] = digest;
    }
    const bytes = this.#options.corruptManifests
      ? new TextEncoder().encode(`${new TextDecoder().decode(manifest.bytes)} `)
      : manifest.bytes;
    return new Response(method === "HEAD" ? null : bytes, {
      status: 200,
      headers: responseHeaders,
    });
  };

  #authorize(headers: Headers, name: string, actions: string): Response | undefined {
    const { auth, username, password } = this.#options;
    const given = headers.get("authorization");
    if (auth === "none") return undefined;
    if (auth === "basic") {
      if (given === basic(username, password)) return undefined;
      return json(
        401,
        { errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] },
        { "www-authenticate": 'Basic realm="fake"' },
      );
    }
    const scope = `repository:${name}:${actions}`;
    if (
      given === `Bearer token-for(${scope})` ||
      given === `Bearer token-for(repository:${name}:pull,push)`
    ) {
      return undefined;
    }
    return json(
      401,
      { errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] },
      {
        "www-authenticate": `Bearer realm="${TOKEN_REALM}",service="fake.invalid",scope="${scope}"`,
      },
    );
  }

  #token(url: URL, headers: Headers): Response {
    const { username, password } = this.#options;
    if (headers.get("authorization") !== basic(username, password)) {
      return json(401, { details: "incorrect username or password" });
    }
    if (url.searchParams.get("service") !== "fake.invalid") return json(400, {});
    return json(200, { token: `token-for(${url.searchParams.getAll("scope").join(" ")})` });
  }
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

function json(status: number, body: object, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}
