import { expect } from "chai";
import { StageError } from "../errors.js";
import { BasicAuthProvider } from "./basic-auth-provider.js";
import { parseRepository } from "../reference/image-reference.js";
import { NoAuthProvider } from "./no-auth-provider.js";
import type { RegistryAuthProvider } from "./registry-auth-provider.js";
import { parseChallenge, RegistryV2Client, type Fetch } from "./registry-v2-client.js";
import { FakeRegistry, sha256 } from "../test-support/fake-registry.js";
import { rejection } from "../test-support/rejection.js";

const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const PASSWORD = "pw-Th1s-Must-Never-Show";

function basicAuth(password = PASSWORD): RegistryAuthProvider {
  return new BasicAuthProvider({
    serveraddress: "127.0.0.1:5999",
    usernameEnv: "U",
    passwordEnv: "P",
    env: { U: "user", P: password },
  });
}

function client(fake: FakeRegistry | Fetch, auth = basicAuth(), repository = "127.0.0.1:5999/app") {
  return new RegistryV2Client({
    ref: parseRepository(repository),
    auth,
    fetch: typeof fake === "function" ? fake : fake.fetch,
  });
}

function manifest(n: number): object {
  return { schemaVersion: 2, config: { digest: `sha256:${String(n).repeat(64).slice(0, 64)}` } };
}

describe("RegistryV2Client", () => {
  for (const auth of ["basic", "bearer"] as const) {
    describe(`with ${auth} auth`, () => {
      it("resolves a missing tag to undefined and an existing one to its digest", async () => {
        const fake = new FakeRegistry({ auth, password: PASSWORD });
        const digest = fake.addManifest(manifest(1), DOCKER_MANIFEST, "tree-abc");
        const registry = client(fake);
        expect(await registry.resolveTag("nope")).to.equal(undefined);
        expect(await registry.resolveTag("tree-abc")).to.equal(digest);
        // Every manifest read asks for all four manifest formats, so nothing gets converted.
        const reads = fake.requests.filter((r) => r.url.includes("/manifests/"));
        for (const read of reads) {
          expect(read.accept?.split(", ")).to.have.members([
            DOCKER_MANIFEST,
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            OCI_INDEX,
          ]);
        }
      });

      it("tags a manifest with its exact bytes and media type, then reports unchanged", async () => {
        const fake = new FakeRegistry({ auth, password: PASSWORD });
        const digest = fake.addManifest(manifest(1), OCI_INDEX);
        const registry = client(fake);

        expect(await registry.tagManifest(digest, "production")).to.deep.equal({
          change: "created",
        });
        expect(fake.tags.get("production")).to.equal(digest);
        const put = fake.requests.find((r) => r.method === "PUT")!;
        expect(put.url).to.equal("http://127.0.0.1:5999/v2/app/manifests/production");
        expect(put.contentType).to.equal(OCI_INDEX);
        expect(sha256(put.body!)).to.equal(digest);

        const before = fake.requests.length;
        expect(await registry.tagManifest(digest, "production")).to.deep.equal({
          change: "unchanged",
        });
        expect(fake.requests.slice(before).map((r) => r.method)).to.not.include("PUT");
      });

      it("moves a tag that points elsewhere and says where it pointed", async () => {
        const fake = new FakeRegistry({ auth, password: PASSWORD });
        const old = fake.addManifest(manifest(1), DOCKER_MANIFEST, "production");
        const next = fake.addManifest(manifest(2), DOCKER_MANIFEST);
        expect(await client(fake).tagManifest(next, "production")).to.deep.equal({
          change: "moved",
          previousDigest: old,
        });
        expect(fake.tags.get("production")).to.equal(next);
      });

      it("a wrong password fails naming the registry, never the password", async () => {
        const fake = new FakeRegistry({ auth, password: PASSWORD });
        fake.addManifest(manifest(1), DOCKER_MANIFEST, "tree-abc");
        const error = await rejection(
          client(fake, basicAuth("wrong-Secret-123")).resolveTag("tree-abc"),
        );
        expect(error).to.be.instanceOf(StageError);
        expect(error.message).to.include("127.0.0.1:5999").and.include("basic (U/P)");
        for (const secret of [PASSWORD, "wrong-Secret-123"]) {
          expect(error.message).to.not.include(secret);
          expect(String(error.stack)).to.not.include(secret);
        }
      });
    });
  }

  it("follows the Bearer challenge: service and scope to the token realm, Basic credentials there", async () => {
    const fake = new FakeRegistry({ auth: "bearer", password: PASSWORD });
    const digest = fake.addManifest(manifest(1), DOCKER_MANIFEST);
    await client(fake).tagManifest(digest, "release");
    const tokenRequests = fake.requests.filter((r) =>
      r.url.startsWith("https://auth.fake.invalid"),
    );
    // One pull token for the look-ups, one pull,push token when the PUT asks for more.
    expect(tokenRequests.map((r) => new URL(r.url).searchParams.get("scope"))).to.deep.equal([
      "repository:app:pull",
      "repository:app:pull,push",
    ]);
    expect(tokenRequests.every((r) => r.authorization?.startsWith("Basic "))).to.be.true;
    const put = fake.requests.filter((r) => r.method === "PUT");
    expect(put.at(-1)!.authorization).to.equal("Bearer token-for(repository:app:pull,push)");
  });

  it("reuses a working Authorization header instead of answering every challenge again", async () => {
    const fake = new FakeRegistry({ auth: "basic", password: PASSWORD });
    fake.addManifest(manifest(1), DOCKER_MANIFEST, "a");
    const registry = client(fake);
    await registry.resolveTag("a");
    await registry.resolveTag("a");
    expect(fake.requests.map((r) => Boolean(r.authorization))).to.deep.equal([false, true, true]);
  });

  it("without credentials, a registry that wants them gets a clear error", async () => {
    const fake = new FakeRegistry({ auth: "basic" });
    const error = await rejection(client(fake, new NoAuthProvider()).resolveTag("x"));
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.match(
      /127\.0\.0\.1:5999 requires a login .*registry\.auth\.provider is none/,
    );
  });

  it("works anonymously against an open registry", async () => {
    const fake = new FakeRegistry({ auth: "none" });
    const digest = fake.addManifest(manifest(1), DOCKER_MANIFEST, "x");
    expect(await client(fake, new NoAuthProvider()).resolveTag("x")).to.equal(digest);
  });

  it("hashes the manifest when HEAD carries no Docker-Content-Digest", async () => {
    const fake = new FakeRegistry({ auth: "none", omitHeadDigest: true });
    const digest = fake.addManifest(manifest(1), DOCKER_MANIFEST, "x");
    expect(await client(fake, new NoAuthProvider()).resolveTag("x")).to.equal(digest);
  });

  it("refuses to tag a manifest whose served bytes do not match its digest", async () => {
    const fake = new FakeRegistry({ auth: "none", corruptManifests: true });
    const digest = fake.addManifest(manifest(1), DOCKER_MANIFEST);
    const error = await rejection(client(fake, new NoAuthProvider()).tagManifest(digest, "prod"));
    expect(error.message).to.include(`served a manifest for ${digest}`).and.include("refusing");
    expect(fake.tags.has("prod")).to.be.false;
  });

  it("a digest that is not in the repository ⇒ StageError naming digest and repository", async () => {
    const fake = new FakeRegistry({ auth: "none" });
    const missing = `sha256:${"e".repeat(64)}`;
    const error = await rejection(client(fake, new NoAuthProvider()).tagManifest(missing, "prod"));
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.equal(
      `manifest ${missing} is not in 127.0.0.1:5999/app; push it first`,
    );
  });

  it("an unreachable registry ⇒ StageError naming the registry and the reason", async () => {
    const refused: Fetch = () =>
      Promise.reject(
        new TypeError("fetch failed", {
          cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5999"), {
            code: "ECONNREFUSED",
          }),
        }),
      );
    const error = await rejection(client(refused).resolveTag("x"));
    expect(error).to.be.instanceOf(StageError);
    expect(error.message)
      .to.include("cannot reach registry 127.0.0.1:5999")
      .and.include("ECONNREFUSED");
  });

  it("an unexpected status names the registry, the operation and the registry's error code", async () => {
    const failing: Fetch = () =>
      Promise.resolve(
        new Response(
          JSON.stringify({
            errors: [{ code: "DENIED", message: "requested access to the resource is denied" }],
          }),
          {
            status: 403,
            statusText: "Forbidden",
          },
        ),
      );
    const error = await rejection(client(failing).resolveTag("tree-1"));
    expect(error.message).to.equal(
      "registry 127.0.0.1:5999 failed to look up tag tree-1 in 127.0.0.1:5999/app: " +
        "403 Forbidden (DENIED: requested access to the resource is denied)",
    );
  });

  const schemes: [string, string][] = [
    ["127.0.0.1:5999/app", "http://127.0.0.1:5999/v2/app/manifests/t"],
    ["localhost:5000/team/app", "http://localhost:5000/v2/team/app/manifests/t"],
    ["registry.example.com/team/app", "https://registry.example.com/v2/team/app/manifests/t"],
    ["redis", "https://registry-1.docker.io/v2/library/redis/manifests/t"],
  ];
  for (const [repository, url] of schemes) {
    it(`${repository} is reached at ${url}`, async () => {
      const fake = new FakeRegistry({ auth: "none" });
      await client(fake, new NoAuthProvider(), repository).resolveTag("t");
      expect(fake.requests[0]!.url).to.equal(url);
    });
  }
});

describe("parseChallenge", () => {
  const cases: [string, ReturnType<typeof parseChallenge>][] = [
    ['Basic realm="Registry Realm"', { scheme: "Basic", params: { realm: "Registry Realm" } }],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull"',
      {
        scheme: "Bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/redis:pull",
        },
      },
    ],
    [
      "Bearer realm=https://x/token, service=x",
      { scheme: "Bearer", params: { realm: "https://x/token", service: "x" } },
    ],
  ];
  for (const [header, expected] of cases) {
    it(header.slice(0, 40), () => expect(parseChallenge(header)).to.deep.equal(expected));
  }
  it("no header ⇒ undefined", () => expect(parseChallenge(null)).to.equal(undefined));
});
