/**
 * Pure parsing of image repositories, tags and digests, following the rules of
 * the Docker reference grammar (distribution/reference) so that what we call
 * the registry host is the host the Docker Engine will push to.
 */

/** Where an image repository lives. */
export interface RepositoryReference {
  /** As written, e.g. `127.0.0.1:5000/visit-counter`. */
  readonly repository: string;
  /** The registry as Docker names it: `127.0.0.1:5000`, `docker.io`. */
  readonly registry: string;
  /** The host the Registry v2 API answers on (Docker Hub's differs from its name). */
  readonly apiHost: string;
  /** The repository inside the registry: `visit-counter`, `library/redis`. */
  readonly path: string;
  /** Set when the registry is an Amazon ECR private registry. */
  readonly ecr?: EcrRegistryHost;
}

export interface EcrRegistryHost {
  readonly accountId: string;
  readonly region: string;
}

export const DOCKER_HUB = "docker.io";
const DOCKER_HUB_API = "registry-1.docker.io";
/** The server address Docker itself uses for Docker Hub credentials. */
export const DOCKER_HUB_AUTH_ADDRESS = "https://index.docker.io/v1/";

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const ECR_HOST = /^([0-9]{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Splits `host[:port]/path` the way Docker does: the first component is a
 * registry host only if it contains a `.` or a `:` or is `localhost`;
 * otherwise the repository is on Docker Hub (and one-component names are
 * under `library/`). Throws a plain Error naming the repository if it is not
 * a valid repository without tag or digest.
 */
export function parseRepository(repository: string): RepositoryReference {
  const invalid = (why: string) => new Error(`invalid image repository "${repository}": ${why}`);
  if (repository.includes("@")) throw invalid("it must not contain a digest");
  const slash = repository.indexOf("/");
  const first = slash === -1 ? repository : repository.slice(0, slash);
  const hasHost =
    slash !== -1 && (first.includes(".") || first.includes(":") || first === "localhost");
  const registry = hasHost ? first : DOCKER_HUB;
  let path = hasHost ? repository.slice(slash + 1) : repository;
  if (hasHost && !isValidHost(registry)) throw invalid(`"${registry}" is not a registry host`);
  const components = path.split("/");
  for (const component of components) {
    if (component.includes(":")) throw invalid("it must not contain a tag");
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(`"${component}" is not a lowercase path component`);
    }
  }
  if (registry === DOCKER_HUB && components.length === 1) path = `library/${path}`;
  const ecr = parseEcrHost(registry);
  return {
    repository,
    registry,
    apiHost: registry === DOCKER_HUB ? DOCKER_HUB_API : registry,
    path,
    ...(ecr ? { ecr } : {}),
  };
}

function isValidHost(host: string): boolean {
  // A bracketed IPv6 literal, or DNS-ish labels; either with an optional port.
  return /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?$/.test(
    host,
  );
}

/** `<account>.dkr.ecr.<region>.amazonaws.com` ⇒ account and region. */
export function parseEcrHost(host: string): EcrRegistryHost | undefined {
  const match = ECR_HOST.exec(host.toLowerCase());
  return match ? { accountId: match[1]!, region: match[2]! } : undefined;
}

/** The host without its port: `127.0.0.1`, `[::1]`, `localhost`. */
export function hostname(registry: string): string {
  if (registry.startsWith("[")) return registry.slice(0, registry.indexOf("]") + 1);
  const colon = registry.lastIndexOf(":");
  return colon === -1 ? registry : registry.slice(0, colon);
}

/**
 * Loopback registries are reached over plain HTTP, as the Docker Engine does
 * (it treats 127.0.0.0/8 as insecure); everything else needs TLS.
 */
export function isLoopbackRegistry(registry: string): boolean {
  const host = hostname(registry).toLowerCase();
  return (
    host === "localhost" ||
    host === "[::1]" ||
    /^127\.(?:[0-9]{1,3})\.(?:[0-9]{1,3})\.(?:[0-9]{1,3})$/.test(host)
  );
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function isValidDigest(digest: string): boolean {
  return DIGEST.test(digest);
}
