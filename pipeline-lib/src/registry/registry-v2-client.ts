import { createHash } from "node:crypto";
import { StageError } from "../errors.js";
import { isLoopbackRegistry, type RepositoryReference } from "../reference/image-reference.js";
import type {
  ImageRegistry,
  OciArtifactStore,
  StoredManifest,
  TagResult,
} from "./image-registry.js";
import { MANIFEST_MEDIA_TYPES } from "./manifest-media-types.js";
import type { RegistryAuthProvider } from "./registry-auth-provider.js";

export type Fetch = typeof fetch;

export interface RegistryV2ClientOptions {
  ref: RepositoryReference;
  auth: RegistryAuthProvider;
  fetch?: Fetch;
  /** Defaults to `http` for loopback registries (as the Docker Engine does) and `https` otherwise. */
  scheme?: "http" | "https";
  /** Per request; a registry that hangs should fail the stage, not the Jenkins timeout. */
  timeoutMs?: number;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const ACCEPT = MANIFEST_MEDIA_TYPES.join(", ");
/** Tries of an idempotent request that the registry answered with a 5xx. */
const RETRIES_ON_5XX = 4;

/**
 * The manifest endpoints of the Registry v2 API (Distribution, Harbor, Docker
 * Hub, ECR's v2 endpoint), with the Basic and Bearer token challenges.
 */
export class RegistryV2Client implements ImageRegistry, OciArtifactStore {
  readonly repository: string;
  readonly #ref: RepositoryReference;
  readonly #auth: RegistryAuthProvider;
  readonly #fetch: Fetch;
  readonly #base: string;
  readonly #timeoutMs: number;
  /** The last Authorization header that worked; reused until the registry asks again. */
  #authorization: string | undefined;

  constructor(options: RegistryV2ClientOptions) {
    this.#ref = options.ref;
    this.#auth = options.auth;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    const scheme = options.scheme ?? (isLoopbackRegistry(options.ref.apiHost) ? "http" : "https");
    this.#base = `${scheme}://${options.ref.apiHost}/v2/${options.ref.path}`;
    this.repository = options.ref.repository;
  }

  async resolveTag(tag: string): Promise<string | undefined> {
    const response = await this.#send("HEAD", `manifests/${tag}`, { headers: { accept: ACCEPT } });
    if (response.status === 404) return undefined;
    await this.#expectOk(response, `look up tag ${tag}`);
    const digest = response.headers.get("docker-content-digest");
    if (digest) return digest;
    // Some registries omit the header on HEAD; the digest is the hash of the bytes.
    const manifest = await this.#getManifest(tag);
    return manifest && sha256(manifest.bytes);
  }

  async tagManifest(digest: string, tag: string): Promise<TagResult> {
    const previous = await this.resolveTag(tag);
    if (previous === digest) return { change: "unchanged" };
    const manifest = await this.#getManifest(digest);
    if (!manifest) {
      throw new StageError(`manifest ${digest} is not in ${this.repository}; push it first`);
    }
    if (sha256(manifest.bytes) !== digest) {
      throw new StageError(
        `registry ${this.#ref.registry} served a manifest for ${digest} in ${this.repository} ` +
          `whose bytes hash to ${sha256(manifest.bytes)}; refusing to tag it`,
      );
    }
    // The exact bytes with their exact media type, so the tag names the same digest.
    const response = await this.#send("PUT", `manifests/${tag}`, {
      headers: { "content-type": manifest.mediaType },
      body: manifest.bytes,
    });
    await this.#expectOk(response, `tag ${digest} as ${tag}`);
    const stored = response.headers.get("docker-content-digest");
    if (stored && stored !== digest) {
      throw new StageError(
        `registry ${this.#ref.registry} stored tag ${tag} of ${this.repository} as ${stored}, not ${digest}`,
      );
    }
    return previous ? { change: "moved", previousDigest: previous } : { change: "created" };
  }

  async getManifest(reference: string): Promise<StoredManifest | undefined> {
    const manifest = await this.#getManifest(reference);
    if (!manifest) return undefined;
    const digest = sha256(manifest.bytes);
    if (reference.startsWith("sha256:") && digest !== reference) {
      throw new StageError(
        `registry ${this.#ref.registry} served manifest ${reference} of ${this.repository} with bytes that hash to ${digest}`,
      );
    }
    return { ...manifest, digest };
  }

  async putManifest(
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
  ): Promise<{ digest: string; referrers: boolean }> {
    const response = await this.#send("PUT", `manifests/${reference}`, {
      headers: { "content-type": mediaType },
      body: bytes,
    });
    await this.#expectOk(response, `store manifest ${reference}`);
    await response.body?.cancel();
    // OCI 1.1: a registry that indexed the manifest's subject says so.
    return { digest: sha256(bytes), referrers: response.headers.has("oci-subject") };
  }

  async getBlob(digest: string): Promise<Uint8Array> {
    const response = await this.#send("GET", `blobs/${digest}`, { headers: {} });
    await this.#expectOk(response, `get blob ${digest}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (sha256(bytes) !== digest) {
      throw new StageError(
        `registry ${this.#ref.registry} served blob ${digest} of ${this.repository} with bytes that hash to ${sha256(bytes)}`,
      );
    }
    return bytes;
  }

  async listTags(): Promise<string[]> {
    const tags: string[] = [];
    let next: string | undefined = "tags/list?n=1000";
    for (let page = 0; next && page < 100; page++) {
      const response = await this.#send("GET", next, { headers: { accept: "application/json" } });
      if (response.status === 404) return tags;
      await this.#expectOk(response, "list tags");
      const body = (await response.json()) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      // RFC 5988 pagination: Link: </v2/<name>/tags/list?last=…&n=…>; rel="next"
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(response.headers.get("link") ?? "")?.[1];
      next = link ? new URL(link, this.#base).toString() : undefined;
    }
    return tags;
  }

  async pushBlob(bytes: Uint8Array): Promise<string> {
    const digest = sha256(bytes);
    const head = await this.#send("HEAD", `blobs/${digest}`, { headers: {} });
    if (head.ok) return digest;
    const start = await this.#send("POST", "blobs/uploads/", { headers: {} });
    await this.#expectOk(start, `start a blob upload`);
    await start.body?.cancel();
    const location = start.headers.get("location");
    if (!location) {
      throw new StageError(`registry ${this.#ref.registry} started an upload without a Location`);
    }
    const url = new URL(location, this.#base);
    url.searchParams.set("digest", digest);
    const put = await this.#send("PUT", url.toString(), {
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
    });
    await this.#expectOk(put, `upload blob ${digest}`);
    await put.body?.cancel();
    return digest;
  }

  async #getManifest(
    reference: string,
  ): Promise<{ bytes: Uint8Array; mediaType: string } | undefined> {
    const response = await this.#send("GET", `manifests/${reference}`, {
      headers: { accept: ACCEPT },
    });
    if (response.status === 404) return undefined;
    await this.#expectOk(response, `get manifest ${reference}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const mediaType =
      response.headers.get("content-type")?.split(";")[0]?.trim() || mediaTypeOf(bytes);
    if (!mediaType) {
      throw new StageError(
        `registry ${this.#ref.registry} served manifest ${reference} of ${this.repository} without a media type`,
      );
    }
    return { bytes, mediaType };
  }

  /**
   * One request, answering at most one auth challenge. Reads (GET, HEAD) and
   * manifest and upload PUTs, which are idempotent, are tried again on a
   * 5xx, which a registry under concurrent writes answers now and then
   * (Distribution's filesystem driver reading a tag being rewritten).
   */
  async #send(
    method: string,
    path: string,
    init: { headers: Record<string, string>; body?: Uint8Array },
  ): Promise<Response> {
    const idempotent = method === "GET" || method === "HEAD" || method === "PUT";
    for (let attempt = 1; ; attempt++) {
      const response = await this.#sendOnce(method, path, init);
      if (!idempotent || response.status < 500 || attempt >= RETRIES_ON_5XX) return response;
      await response.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt + Math.random() * 100));
    }
  }

  async #sendOnce(
    method: string,
    path: string,
    { body, headers }: { headers: Record<string, string>; body?: Uint8Array },
  ): Promise<Response> {
    // An upload's Location is a whole URL; everything else is relative to the repository.
    const url = /^https?:\/\//.test(path) ? path : `${this.#base}/${path}`;
    const attempt = (authorization: string | undefined) =>
      this.#fetchOrThrow(url, {
        method,
        headers: { ...headers, ...(authorization ? { authorization } : {}) },
        ...(body ? { body } : {}),
      });
    let response = await attempt(this.#authorization);
    if (response.status !== 401) return response;
    const challenge = parseChallenge(response.headers.get("www-authenticate"));
    await response.body?.cancel();
    const authorization = await this.#answer(challenge, `${method} ${path}`);
    response = await attempt(authorization);
    if (response.status === 401) {
      throw new StageError(
        `registry ${this.#ref.registry} refused the credentials from ${this.#auth.description} ` +
          `for ${method} ${this.repository}: ${await errorText(response)}`,
      );
    }
    this.#authorization = authorization;
    return response;
  }

  async #answer(challenge: Challenge | undefined, what: string): Promise<string> {
    const credentials = await this.#auth.credentials();
    const scheme = challenge?.scheme.toLowerCase();
    if (scheme === "basic" || (scheme === undefined && credentials)) {
      if (!credentials) {
        throw new StageError(
          `registry ${this.#ref.registry} requires a login for ${what} of ${this.repository}, ` +
            `but registry.auth.provider is none; configure basic or ecr auth`,
        );
      }
      return basic(credentials.username, credentials.password);
    }
    if (scheme === "bearer" && challenge?.params.realm) {
      return `Bearer ${await this.#token(challenge.params, credentials)}`;
    }
    throw new StageError(
      `registry ${this.#ref.registry} asked for authentication this client does not support ` +
        `(${challenge?.scheme ?? "no WWW-Authenticate header"}) for ${what} of ${this.repository}`,
    );
  }

  /** The token flow of the Docker registry auth spec (GET realm?service&scope). */
  async #token(
    params: Record<string, string>,
    credentials: { username: string; password: string } | undefined,
  ): Promise<string> {
    const url = new URL(params.realm!);
    if (params.service) url.searchParams.set("service", params.service);
    for (const scope of (params.scope ?? "").split(" ").filter(Boolean)) {
      url.searchParams.append("scope", scope);
    }
    const response = await this.#fetchOrThrow(url.toString(), {
      method: "GET",
      headers: credentials
        ? { authorization: basic(credentials.username, credentials.password) }
        : {},
    });
    if (!response.ok) {
      throw new StageError(
        `the token service of registry ${this.#ref.registry} (${url.origin}) refused the credentials ` +
          `from ${this.#auth.description} for ${this.repository}: ${await errorText(response)}`,
      );
    }
    const json = (await response.json().catch(() => ({}))) as {
      token?: string;
      access_token?: string;
    };
    const token = json.token ?? json.access_token;
    if (!token) {
      throw new StageError(
        `the token service of registry ${this.#ref.registry} (${url.origin}) answered without a token`,
      );
    }
    return token;
  }

  async #fetchOrThrow(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.#fetch(url, { ...init, signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new StageError(
        `cannot reach registry ${this.#ref.registry} (${init.method} ${url}): ${reason}`,
        { cause: error },
      );
    }
  }

  async #expectOk(response: Response, what: string): Promise<void> {
    if (response.ok) return;
    throw new StageError(
      `registry ${this.#ref.registry} failed to ${what} in ${this.repository}: ` +
        `${await errorText(response)}`,
    );
  }
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function mediaTypeOf(bytes: Uint8Array): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(bytes).toString("utf8")) as { mediaType?: unknown };
    return typeof parsed.mediaType === "string" ? parsed.mediaType : undefined;
  } catch {
    return undefined;
  }
}

/** `Bearer realm="…",service="…",scope="…"` ⇒ scheme and parameters. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const [, key, quoted, bare] of match[2]!.matchAll(/([A-Za-z_]+)=(?:"([^"]*)"|([^,\s]*))/g)) {
    params[key!.toLowerCase()] = quoted ?? bare ?? "";
  }
  return { scheme: match[1]!, params };
}

/** The status and the registry's error codes, e.g. `401 UNAUTHORIZED: authentication required`. */
async function errorText(response: Response): Promise<string> {
  const status = `${response.status} ${response.statusText}`.trim();
  const text = await response.text().catch(() => "");
  try {
    const { errors } = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    if (errors?.length) {
      return `${status} (${errors.map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ")})`;
    }
  } catch {
    // Not the registry's JSON error format; fall through to the raw text.
  }
  const snippet = text.trim().slice(0, 200);
  return snippet ? `${status} (${snippet})` : status;
}
