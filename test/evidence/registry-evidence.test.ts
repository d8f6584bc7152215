import { expect } from "chai";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { DEFAULT_REQUIREMENTS, type PipelineConfig } from "../../pipeline-lib/src/config/schema.js";
import {
  ATTESTATION_LAYER_TYPE,
  attestationTag,
} from "../../pipeline-lib/src/evidence/cosign-layout.js";
import { keyIdOf, type TrustedKey } from "../../pipeline-lib/src/evidence/envelope.js";
import { keyFileSigner, loadTrustedKeys } from "../../pipeline-lib/src/evidence/keys.js";
import { evaluateEvidence, type EvidenceSummary } from "../../pipeline-lib/src/evidence/policy.js";
import { readEvidence, recordEvidence } from "../../pipeline-lib/src/evidence/registry-evidence.js";
import {
  EVIDENCE_KINDS,
  PREDICATE_TYPES,
  provenancePredicate,
  testResultPredicate,
  verificationPredicate,
  type EvidenceKind,
} from "../../pipeline-lib/src/evidence/statements.js";
import type { EvidenceSigner } from "../../pipeline-lib/src/evidence/envelope.js";
import type { OciArtifactStore } from "../../pipeline-lib/src/registry/image-registry.js";
import { resolveRegistryTarget } from "../../pipeline-lib/src/registry/registry-target.js";
import {
  startRegistryServer,
  type StartedRegistryServer,
} from "../../pipeline-lib/src/test-support/registry-server.js";
import { runProcess, type ProcessRun } from "../../pipeline-lib/src/test-support/run-process.js";
import {
  makeSigningKey,
  type SigningKeyFiles,
} from "../../pipeline-lib/src/test-support/signing-key.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";
/** Set it to see every cosign command and what it printed. */
const VERBOSE = process.env.EVIDENCE_TEST_VERBOSE === "1";

interface Image {
  digest: string;
  mediaType: string;
  size: number;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, "");
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Each of `parties` callers waits until all of them have arrived. */
function barrier(parties: number): () => Promise<void> {
  const all = deferred();
  let arrived = 0;
  return () => {
    if (++arrived === parties) all.resolve();
    return all.promise;
  };
}

function verifyAttestation(publicKeyFile: string, type: string, image: string): string[] {
  return [
    "verify-attestation",
    "--key",
    publicKeyFile,
    "--insecure-ignore-tlog",
    "--allow-http-registry",
    "--type",
    type,
    image,
  ];
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** A minimal OCI image (one empty tar layer), pushed through our own store. */
async function pushImage(store: OciArtifactStore, name: string): Promise<Image> {
  const tar = Buffer.alloc(1024); // an empty tar: two zero blocks
  const layer = gzipSync(tar);
  const layerDigest = await store.pushBlob(layer);
  const config = json({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [sha256(tar)] },
    config: { Labels: { "dev.pipeline-lib.test-image": name } },
  });
  const configDigest = await store.pushBlob(config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
  });
  const { digest } = await store.putManifest(name, manifest, OCI_MANIFEST);
  expect(digest).to.equal(sha256(manifest));
  return { digest, mediaType: OCI_MANIFEST, size: manifest.length };
}

async function attManifest(store: OciArtifactStore, digest: string): Promise<Manifest> {
  const stored = await store.getManifest(attestationTag(digest));
  expect(stored, `${attestationTag(digest)} is in the registry`).to.not.equal(undefined);
  return JSON.parse(Buffer.from(stored!.bytes).toString("utf8")) as Manifest;
}

function kinds(summary: EvidenceSummary): EvidenceKind[] {
  return summary.accepted.map((a) => a.kind).sort();
}

const CHECKS = [
  { name: "GET /healthz answers 200", passed: true, durationMs: 12.4 },
  { name: "POST /visits counts", passed: true, durationMs: 30.1 },
];

function provenance(
  repository: string,
  digest: string,
  commit = "0123456789abcdef0123456789abcdef01234567",
) {
  return provenancePredicate({
    repository,
    digest,
    builderId: "https://jenkins.example/job/visit-counter/job/develop/",
    buildUrl: "https://jenkins.example/job/visit-counter/job/develop/7/",
    buildNumber: "7",
    sourceUrl: "https://git.example/team/visit-counter.git",
    branch: "develop",
    commit,
    treeHash: "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    baseImages: [{ name: "node:24-alpine", digest: `sha256:${"ab".repeat(32)}` }],
    lockfile: { path: "package-lock.json", sha256: "cd".repeat(32) },
    imageId: `sha256:${"ef".repeat(32)}`,
    startedOn: "2025-01-01T10:00:00Z",
    finishedOn: "2025-01-01T10:02:00Z",
  });
}

/** The commit named by the provenance cosign signs, to tell it from ours. */
const COSIGN_COMMIT = "fedcba9876543210fedcba9876543210fedcba98";

const SBOM = {
  bomFormat: "CycloneDX",
  specVersion: "1.6",
  version: 1,
  components: [{ type: "library", name: "koa", version: "3.0.0", purl: "pkg:npm/koa@3.0.0" }],
};

function tests(checks = CHECKS) {
  return testResultPredicate({
    checks,
    buildUrl: "https://jenkins.example/job/visit-counter/job/develop/7/",
    imageId: `sha256:${"ef".repeat(32)}`,
    finishedAt: "2025-01-01T10:05:00Z",
  });
}

function verification(repository: string, digest: string, environment = "test") {
  return verificationPredicate({
    repository,
    digest,
    verifierId: "https://pipeline-lib.dev/verify",
    environment,
    namespace: `visit-counter-${environment}`,
    checks: CHECKS,
    buildUrl: "https://jenkins.example/job/visit-counter/job/develop/8/",
    verifiedAt: "2025-01-01T10:10:00Z",
  });
}

function allFour(repository: string, digest: string) {
  return [
    { kind: "provenance" as const, predicate: provenance(repository, digest) },
    { kind: "sbom" as const, predicate: SBOM },
    { kind: "tests" as const, predicate: tests() },
    { kind: "verification" as const, predicate: verification(repository, digest) },
  ];
}

/** Runs the script that builds cosign once (minutes on a fresh machine), showing its progress. */
function ensureCosign(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [path.join(ROOT, "infra/cosign/ensure-cosign.sh")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve(stdout.trim().split("\n").at(-1)!)
        : reject(new Error(`infra/cosign/ensure-cosign.sh exited ${code}`)),
    );
  });
}

describe("evidence in the registry, in cosign's layout, against a real registry and cosign @slow", function () {
  this.timeout(120_000);
  let registry: StartedRegistryServer;
  let work: string;
  let cosignBin: string;
  let cosignEnv: NodeJS.ProcessEnv;
  let store: OciArtifactStore;
  let repository: string;
  let keyA: SigningKeyFiles;
  let keyB: SigningKeyFiles;
  let signerA: EvidenceSigner;
  let signerB: EvidenceSigner;
  let trustA: TrustedKey[];
  let imageA: Image;
  let recordedA: Promise<Awaited<ReturnType<typeof recordEvidence>>> | undefined;
  let images = 0;

  const trust = (...files: string[]) =>
    loadTrustedKeys({
      evidence: { trustedKeys: files, signingKeyEnv: "PIPELINE_SIGNING_KEY" },
      root: work,
      file: path.join(work, "pipeline.config.yaml"),
    });
  const freshImage = () => pushImage(store, `image-${++images}`);
  /** Digest A's four statements, recorded once however many tests need them. */
  const recordA = () =>
    (recordedA ??= recordEvidence(
      store,
      imageA.digest,
      allFour(repository, imageA.digest),
      signerA,
    ));

  let attestedByCosign:
    | Promise<{ before: Manifest; after: Manifest; cosignPub: string; predicate: unknown }>
    | undefined;
  /** `cosign attest` with a key pair cosign generated, once, on digest A (after ours are stored). */
  const attestWithCosign = () =>
    (attestedByCosign ??= (async () => {
      await recordA();
      const before = await attManifest(store, imageA.digest);
      const dir = path.join(work, "cosign-keys");
      await mkdir(dir);
      const generated = await cosign(["generate-key-pair"], dir);
      expect(generated.code, generated.stderr).to.equal(0);
      const predicate = provenance(repository, imageA.digest, COSIGN_COMMIT);
      const predicateFile = path.join(dir, "provenance.json");
      await writeFile(predicateFile, JSON.stringify(predicate));
      const attest = await cosign([
        "attest",
        "--key",
        path.join(dir, "cosign.key"),
        "--type",
        PREDICATE_TYPES.provenance,
        "--predicate",
        predicateFile,
        "--tlog-upload=false",
        "--allow-http-registry",
        "--yes",
        `${repository}@${imageA.digest}`,
      ]);
      expect(attest.code, attest.stderr).to.equal(0);
      const after = await attManifest(store, imageA.digest);
      return { before, after, cosignPub: path.join(dir, "cosign.pub"), predicate };
    })());

  async function cosign(args: string[], cwd = work): Promise<ProcessRun> {
    const run = await runProcess(cosignBin, args, { cwd, env: cosignEnv });
    if (VERBOSE) {
      const head = (text: string) => text.trim().split("\n").slice(0, 3).join("\n    ");
      console.log(
        `  $ cosign ${args.join(" ")}\n  exit ${run.code}\n  stdout:\n    ${head(run.stdout)}\n  stderr:\n    ${head(run.stderr)}`,
      );
    }
    return run;
  }

  before(async function () {
    // Builds cosign from source on a fresh machine (about 7 minutes on 2 cores).
    this.timeout(20 * 60_000);
    cosignBin = await ensureCosign();
    registry = await startRegistryServer();
    work = await mkdtemp(path.join(os.tmpdir(), "registry-evidence-"));
    repository = `${registry.host}/evidence-test`;
    const config: Pick<PipelineConfig, "image" | "registry"> = {
      image: { repository } as PipelineConfig["image"],
      registry: {
        auth: {
          provider: "basic",
          usernameEnv: "REGISTRY_USERNAME",
          passwordEnv: "REGISTRY_PASSWORD",
        },
      },
    };
    store = resolveRegistryTarget(config, {
      REGISTRY_USERNAME: registry.username,
      REGISTRY_PASSWORD: registry.password,
    }).artifacts;
    keyA = await makeSigningKey(path.join(work, "keys"), "a");
    keyB = await makeSigningKey(path.join(work, "keys"), "b");
    signerA = await keyFileSigner(keyA.privateKeyFile);
    signerB = await keyFileSigner(keyB.privateKeyFile);
    trustA = await trust(keyA.publicKeyFile);
    imageA = await pushImage(store, "v1");

    // cosign logs in through a Docker config of its own; nothing touches ~/.docker.
    const dockerConfig = path.join(work, "docker");
    await mkdir(dockerConfig);
    const auth = Buffer.from(`${registry.username}:${registry.password}`).toString("base64");
    await writeFile(
      path.join(dockerConfig, "config.json"),
      JSON.stringify({ auths: { [registry.host]: { auth } } }),
    );
    cosignEnv = {
      ...process.env,
      DOCKER_CONFIG: dockerConfig,
      COSIGN_PASSWORD: "x",
      COSIGN_YES: "true",
      // Sigstore's public services are out of bounds: anything but the loopback registry fails fast.
      HTTPS_PROXY: "http://127.0.0.1:9",
      HTTP_PROXY: "http://127.0.0.1:9",
      NO_PROXY: "127.0.0.1",
      TUF_ROOT: path.join(work, "tuf"),
    };
  });
  after(async () => {
    await registry?.[Symbol.asyncDispose]();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("records provenance, SBOM, tests and verification, and reads them back as production-ready", async () => {
    const stored = await recordA();
    expect(stored).to.include({ added: 4, skipped: 0 });

    const summary = await readEvidence(store, imageA.digest, trustA);
    expect(summary.rejected).to.deep.equal([]);
    expect(kinds(summary)).to.deep.equal([...EVIDENCE_KINDS].sort());
    for (const piece of summary.accepted) {
      expect(piece.keyId).to.equal(keyIdOf(keyA.publicKeyPem));
      expect(piece.statement.subject).to.deep.equal([
        { name: repository, digest: { sha256: hexOf(imageA.digest) } },
      ]);
    }
    expect(summary.accepted.find((a) => a.kind === "sbom")?.statement.predicate).to.deep.equal(
      SBOM,
    );
    expect(summary.builtFrom).to.deep.include({
      commit: "0123456789abcdef0123456789abcdef01234567",
      repository: "https://git.example/team/visit-counter.git",
      ref: "develop",
    });
    expect(summary.tests).to.deep.include({ result: "PASSED", passed: 2, failed: 0 });
    expect(summary.verifiedIn.map((v) => v.environment)).to.deep.equal(["test"]);

    const verdict = evaluateEvidence(summary, DEFAULT_REQUIREMENTS.production, {
      sourceUrl: "https://git.example/team/visit-counter.git",
    });
    expect(verdict).to.deep.equal({ ok: true, missing: [] });
  });

  it("stores a statement once: recording the same provenance again adds nothing", async () => {
    const image = await freshImage();
    const predicates = [
      { kind: "provenance" as const, predicate: provenance(repository, image.digest) },
      { kind: "sbom" as const, predicate: SBOM },
    ];
    const first = await recordEvidence(store, image.digest, predicates, signerA);
    expect(first).to.include({ added: 2, skipped: 0 });

    const again = await recordEvidence(
      store,
      image.digest,
      [{ kind: "provenance", predicate: provenance(repository, image.digest) }],
      signerA,
    );
    expect(again).to.include({ added: 0, skipped: 1 });
    expect(again.manifestDigest, "the tag did not move").to.equal(first.manifestDigest);

    // ECDSA signatures differ from run to run; the statement is what counts.
    const both = await recordEvidence(store, image.digest, predicates, signerA);
    expect(both).to.include({ added: 0, skipped: 2 });

    const manifest = await attManifest(store, image.digest);
    expect(manifest.layers.map((l) => l.annotations?.predicateType)).to.have.members([
      PREDICATE_TYPES.provenance,
      PREDICATE_TYPES.sbom,
    ]);
    const summary = await readEvidence(store, image.digest, trustA);
    expect(kinds(summary)).to.deep.equal(["provenance", "sbom"]);
  });

  describe("two runs recording about one digest at once", () => {
    it("keeps both runs' evidence (5 rounds of two concurrent recordEvidence calls)", async () => {
      const lost: string[] = [];
      for (let round = 1; round <= 5; round++) {
        const image = await freshImage();
        const [one, two] = await Promise.all([
          recordEvidence(
            store,
            image.digest,
            [{ kind: "provenance", predicate: provenance(repository, image.digest) }],
            signerA,
          ),
          recordEvidence(
            store,
            image.digest,
            [{ kind: "verification", predicate: verification(repository, image.digest) }],
            signerA,
          ),
        ]);
        expect(one.added + two.added, `round ${round}: both runs report an addition`).to.equal(2);
        const stored = kinds(await readEvidence(store, image.digest, trustA));
        if (stored.join() !== "provenance,verification") {
          lost.push(`round ${round}: stored ${stored.join(", ") || "nothing"}`);
        }
      }
      expect(lost, "both runs reported success, so both statements must be stored").to.deep.equal(
        [],
      );
    });

    it("keeps both when the second run writes right after the first one's read-back", async () => {
      // A legal interleaving of two independent processes, made deterministic:
      // both read the empty tag; run 1 writes and reads its write back; only then does run 2,
      // still holding the empty list it read, write its own list over it.
      const image = await freshImage();
      const tag = attestationTag(image.digest);
      const bothRead = barrier(2);
      const firstReadBack = deferred();
      const gate = (run: 1 | 2): OciArtifactStore => {
        let tagReads = 0;
        let tagWrites = 0;
        return {
          repository: store.repository,
          getBlob: (digest) => store.getBlob(digest),
          pushBlob: (bytes) => store.pushBlob(bytes),
          listTags: () => store.listTags(),
          async getManifest(reference) {
            const manifest = await store.getManifest(reference);
            if (reference !== tag) return manifest;
            tagReads++;
            if (tagReads === 1) await bothRead();
            if (run === 1 && tagReads === 2) firstReadBack.resolve();
            return manifest;
          },
          async putManifest(reference, bytes, mediaType) {
            if (reference === tag && run === 2 && ++tagWrites === 1) await firstReadBack.promise;
            return store.putManifest(reference, bytes, mediaType);
          },
        };
      };
      const [one, two] = await Promise.all([
        recordEvidence(
          gate(1),
          image.digest,
          [{ kind: "provenance", predicate: provenance(repository, image.digest) }],
          signerA,
        ),
        recordEvidence(
          gate(2),
          image.digest,
          [{ kind: "verification", predicate: verification(repository, image.digest) }],
          signerA,
        ),
      ]);
      expect([one.added, two.added]).to.deep.equal([1, 1]);
      expect(
        kinds(await readEvidence(store, image.digest, trustA)),
        "run 1 returned added: 1, so its provenance must still be stored",
      ).to.deep.equal(["provenance", "verification"]);
    });
  });

  describe("refuses evidence it cannot trust", () => {
    it("signed by a key the config does not trust", async () => {
      const image = await freshImage();
      await recordEvidence(store, image.digest, allFour(repository, image.digest), signerB);

      const summary = await readEvidence(store, image.digest, trustA);
      expect(summary.accepted).to.deep.equal([]);
      expect(summary.rejected).to.have.length(4);
      for (const piece of summary.rejected) {
        expect(piece.reason).to.include(keyIdOf(keyB.publicKeyPem));
        expect(piece.reason).to.include("does not trust");
      }
      expect(summary.rejected.map((r) => r.kind).sort()).to.deep.equal([...EVIDENCE_KINDS].sort());
      const verdict = evaluateEvidence(summary, DEFAULT_REQUIREMENTS.production);
      expect(verdict.ok).to.equal(false);
      expect(verdict.missing.join("\n")).to.include("signed build provenance");

      // Trusting B as well accepts them: the rejection was about the key, nothing else.
      const both = await readEvidence(
        store,
        image.digest,
        await trust(keyA.publicKeyFile, keyB.publicKeyFile),
      );
      expect(kinds(both)).to.deep.equal([...EVIDENCE_KINDS].sort());
    });

    it("whose payload was changed after signing", async () => {
      const image = await freshImage();
      const failing = [
        ...CHECKS,
        { name: "GET /visits survives a Redis restart", passed: false, durationMs: 900 },
      ];
      await recordEvidence(
        store,
        image.digest,
        [
          { kind: "provenance", predicate: provenance(repository, image.digest) },
          { kind: "tests", predicate: tests(failing) },
          { kind: "verification", predicate: verification(repository, image.digest) },
        ],
        signerA,
      );
      const before = await readEvidence(store, image.digest, trustA);
      expect(before.tests).to.deep.include({ result: "FAILED", failed: 1 });

      // Someone with push access rewrites the test result to PASSED, keeping the signature.
      const manifest = await attManifest(store, image.digest);
      const index = manifest.layers.findIndex(
        (l) => l.annotations?.predicateType === PREDICATE_TYPES.tests,
      );
      const original = manifest.layers[index]!;
      const envelope = JSON.parse(
        Buffer.from(await store.getBlob(original.digest)).toString("utf8"),
      ) as { payload: string; payloadType: string; signatures: unknown[] };
      const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8")) as {
        predicate: { result: string; passedTests: string[]; failedTests: string[] };
      };
      expect(statement.predicate.result).to.equal("FAILED");
      statement.predicate.result = "PASSED";
      statement.predicate.passedTests.push(...statement.predicate.failedTests);
      statement.predicate.failedTests = [];
      const forged = json({
        ...envelope,
        payload: Buffer.from(JSON.stringify(statement)).toString("base64"),
      });
      const forgedDigest = await store.pushBlob(forged);
      manifest.layers[index] = { ...original, digest: forgedDigest, size: forged.length };
      await store.putManifest(attestationTag(image.digest), json(manifest), OCI_MANIFEST);

      const summary = await readEvidence(store, image.digest, trustA);
      expect(summary.rejected).to.have.length(1);
      expect(summary.rejected[0]!.kind).to.equal("tests");
      expect(summary.rejected[0]!.reason).to.include("does not match");
      expect(kinds(summary)).to.deep.equal(["provenance", "verification"]);
      expect(summary.tests, "the forged PASSED is not read").to.equal(undefined);
      const verdict = evaluateEvidence(summary, DEFAULT_REQUIREMENTS.production);
      expect(verdict.ok).to.equal(false);
      expect(verdict.missing.join("\n")).to.include("signed test results");
    });

    it("about another digest, copied to this digest's tag", async () => {
      const [target, other] = [await freshImage(), await freshImage()];
      await recordEvidence(store, other.digest, allFour(repository, other.digest), signerA);
      const otherAtt = await store.getManifest(attestationTag(other.digest));
      // The same bytes under the target's tag: every signature is valid, every statement names `other`.
      await store.putManifest(attestationTag(target.digest), otherAtt!.bytes, otherAtt!.mediaType);

      const summary = await readEvidence(store, target.digest, trustA);
      expect(summary.accepted).to.deep.equal([]);
      expect(summary.rejected).to.have.length(4);
      for (const piece of summary.rejected) {
        expect(piece.reason).to.include(other.digest);
        expect(piece.reason).to.include(`not ${target.digest}`);
      }
      expect(evaluateEvidence(summary, DEFAULT_REQUIREMENTS.production).ok).to.equal(false);
      expect(evaluateEvidence(summary, DEFAULT_REQUIREMENTS.test).ok).to.equal(false);

      const original = await readEvidence(store, other.digest, trustA);
      expect(evaluateEvidence(original, DEFAULT_REQUIREMENTS.production).ok).to.equal(true);
    });
  });

  it("stores what cosign expects: an OCI manifest tagged sha256-<hex>.att, one DSSE layer per statement", async () => {
    await recordA();
    const tag = attestationTag(imageA.digest);
    expect(tag).to.equal(`sha256-${hexOf(imageA.digest)}.att`);
    expect(tag).to.match(/^sha256-[0-9a-f]{64}\.att$/);

    const stored = await store.getManifest(tag);
    expect(stored?.mediaType).to.equal(OCI_MANIFEST);
    const manifest = JSON.parse(Buffer.from(stored!.bytes).toString("utf8")) as Manifest;
    expect(manifest.schemaVersion).to.equal(2);
    expect(manifest.mediaType).to.equal(OCI_MANIFEST);
    expect(manifest.config.mediaType).to.equal(OCI_CONFIG);
    expect(manifest.subject).to.deep.equal({
      mediaType: OCI_MANIFEST,
      digest: imageA.digest,
      size: imageA.size,
    });
    const ours = manifest.layers.filter((l) =>
      Object.values<string>(PREDICATE_TYPES).includes(l.annotations?.predicateType ?? ""),
    );
    expect(ours.map((l) => l.annotations?.predicateType).sort()).to.deep.equal(
      Object.values(PREDICATE_TYPES).sort(),
    );
    for (const layer of manifest.layers) {
      expect(layer.mediaType).to.equal(ATTESTATION_LAYER_TYPE);
      expect(layer.annotations).to.have.property("dev.cosignproject.cosign/signature", "");
      expect(layer.annotations?.predicateType).to.be.a("string");
      const blob = await store.getBlob(layer.digest);
      expect(blob.length).to.equal(layer.size);
      const envelope = JSON.parse(Buffer.from(blob).toString("utf8")) as {
        payloadType: string;
        signatures: { keyid: string; sig: string }[];
      };
      expect(envelope.payloadType).to.equal("application/vnd.in-toto+json");
      expect(envelope.signatures).to.have.length(1);
    }
    // The config's diff_ids name the layers, as in the images cosign writes.
    const config = JSON.parse(
      Buffer.from(await store.getBlob(manifest.config.digest)).toString("utf8"),
    ) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).to.deep.equal(manifest.layers.map((l) => l.digest));
  });

  describe("with the real cosign", () => {
    it("cosign verify-attestation accepts each of our statements with our key, and refuses another key", async () => {
      await recordA();
      const image = `${repository}@${imageA.digest}`;
      for (const type of Object.values(PREDICATE_TYPES)) {
        const ok = await cosign(verifyAttestation(keyA.publicKeyFile, type, image));
        expect(ok.code, `${type}:\n${ok.stderr}`).to.equal(0);
        const envelopes = ok.stdout
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as { payload: string });
        expect(envelopes, type).to.have.length(1);
        const statement = JSON.parse(
          Buffer.from(envelopes[0]!.payload, "base64").toString("utf8"),
        ) as { predicateType: string; subject: { digest: { sha256: string } }[] };
        expect(statement.predicateType).to.equal(type);
        expect(statement.subject[0]!.digest.sha256).to.equal(hexOf(imageA.digest));

        const refused = await cosign(verifyAttestation(keyB.publicKeyFile, type, image));
        expect(refused.code, `${type} with key B:\n${refused.stdout}`).to.not.equal(0);
        expect(refused.stderr).to.include("no matching attestations");
        expect(refused.stdout).to.equal("");
      }
    });

    it("cosign attest appends to our .att tag: our statements stay and still verify, both ways", async () => {
      const { before, after, cosignPub } = await attestWithCosign();
      expect(after.layers, "cosign appends to the .att tag").to.have.length(
        before.layers.length + 1,
      );
      expect(after.layers.slice(0, before.layers.length)).to.deep.equal(before.layers);
      const added = after.layers.at(-1)!;
      expect(added.mediaType).to.equal(ATTESTATION_LAYER_TYPE);
      expect(added.annotations).to.deep.include({
        "dev.cosignproject.cosign/signature": "",
        predicateType: PREDICATE_TYPES.provenance,
      });

      // Ours still verify for us; cosign's layer, signed by a key we do not trust, is refused.
      const ours = await readEvidence(store, imageA.digest, trustA);
      expect(kinds(ours)).to.deep.equal([...EVIDENCE_KINDS].sort());
      expect(ours.rejected).to.have.length(1);
      expect(ours.rejected[0]!.reason).to.include("no trusted key verifies the signature");
      expect(evaluateEvidence(ours, DEFAULT_REQUIREMENTS.production).ok).to.equal(true);

      // We append on top of cosign's layer, and cosign verifies its statement and ours.
      const more = await recordEvidence(
        store,
        imageA.digest,
        [
          {
            kind: "verification",
            predicate: verification(repository, imageA.digest, "production"),
          },
        ],
        signerA,
      );
      expect(more).to.include({ added: 1, skipped: 0 });
      const last = await attManifest(store, imageA.digest);
      expect(last.layers.slice(0, after.layers.length)).to.deep.equal(after.layers);
      const image = `${repository}@${imageA.digest}`;
      const theirs = await cosign(verifyAttestation(cosignPub, PREDICATE_TYPES.provenance, image));
      expect(theirs.code, theirs.stderr).to.equal(0);
      expect(theirs.stdout.trim().split("\n")).to.have.length(1);
      const both = await cosign(
        verifyAttestation(keyA.publicKeyFile, PREDICATE_TYPES.verification, image),
      );
      expect(both.code, both.stderr).to.equal(0);
      expect(both.stdout.trim().split("\n"), "test and production").to.have.length(2);
    });

    it("accepts the provenance cosign attest signed, by the key cosign generated", async () => {
      const { predicate, cosignPub } = await attestWithCosign();
      const cosignKeyId = keyIdOf(await readFile(cosignPub, "utf8"));

      const summary = await readEvidence(
        store,
        imageA.digest,
        await trust(keyA.publicKeyFile, cosignPub),
      );
      expect(summary.rejected).to.deep.equal([]);
      const byCosign = summary.accepted.filter((a) => a.keyId === cosignKeyId);
      expect(byCosign.map((a) => a.kind)).to.deep.equal(["provenance"]);
      expect(byCosign[0]!.statement.predicate).to.deep.equal(predicate);
      expect(byCosign[0]!.statement.subject[0]!.digest.sha256).to.equal(hexOf(imageA.digest));
      const byUs = summary.accepted.filter((a) => a.keyId === keyIdOf(keyA.publicKeyPem));
      expect(byUs.length).to.be.at.least(4);

      // Trusting only cosign's key: ours are refused by their key id, cosign's (no key id) accepted.
      const onlyCosign = await readEvidence(store, imageA.digest, await trust(cosignPub));
      expect(kinds(onlyCosign)).to.deep.equal(["provenance"]);
      expect(onlyCosign.builtFrom?.commit).to.equal(COSIGN_COMMIT);
      for (const piece of onlyCosign.rejected) expect(piece.reason).to.include("does not trust");
      expect(evaluateEvidence(onlyCosign, DEFAULT_REQUIREMENTS.test).ok).to.equal(true);
    });
  });
});
