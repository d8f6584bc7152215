import { expect } from "chai";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "../config/load-config.js";
import { DEFAULT_REQUIREMENTS, requirementsFor } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { rejection } from "../test-support/rejection.js";
import { makeSigningKey, type SigningKeyFiles } from "../test-support/signing-key.js";
import {
  IN_TOTO_PAYLOAD_TYPE,
  keyIdOf,
  signStatement,
  verifyEnvelope,
  type EvidenceSigner,
  type TrustedKey,
} from "./envelope.js";
import { describeEvidence, refusal, splitImage, type GateResult } from "./gate.js";
import { keyFileSigner, loadTrustedKeys, signerFromEnv } from "./keys.js";
import { evaluateEvidence, summarizeEvidence, type CheckedLayer } from "./policy.js";
import {
  BUILD_TYPE,
  PREDICATE_TYPES,
  kindOf,
  provenancePredicate,
  statement,
  subjectDigest,
  testResultPredicate,
  verificationPredicate,
  type BuildFacts,
  type CheckOutcome,
  type Statement,
} from "./statements.js";

const REPOSITORY = "127.0.0.1:5000/visit-counter";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const OTHER_DIGEST = `sha256:${"cd".repeat(32)}`;
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const SOURCE_URL = "https://git.example.com/team/visit-counter";
const BUILD_URL = "https://jenkins.example.com/job/visit-counter/job/develop/42/";
const VERIFY_URL = "https://jenkins.example.com/job/visit-counter/job/develop/43/";
const BASE_IMAGE_DIGEST = `sha256:${"ef".repeat(32)}`;
const LOCKFILE_SHA = "12".repeat(32);
const VERIFIED_AT = "2025-01-02T04:00:00.000Z";

const FACTS: BuildFacts = {
  repository: REPOSITORY,
  digest: DIGEST,
  builderId: "https://jenkins.example.com/job/visit-counter/",
  buildUrl: BUILD_URL,
  buildNumber: "42",
  sourceUrl: SOURCE_URL,
  branch: "develop",
  commit: COMMIT,
  treeHash: "fedcba9876543210fedcba9876543210fedcba98",
  baseImages: [{ name: "node:24-alpine", digest: BASE_IMAGE_DIGEST }],
  lockfile: { path: "package-lock.json", sha256: LOCKFILE_SHA },
  imageId: `sha256:${"99".repeat(32)}`,
  startedOn: "2025-01-02T03:00:00.000Z",
  finishedOn: "2025-01-02T03:04:05.000Z",
};

const PASSED_CHECKS: CheckOutcome[] = [
  { name: "GET /healthz answers 200", passed: true, durationMs: 12.4 },
  { name: "GET / counts visits", passed: true, durationMs: 30.6 },
];
const ONE_FAILED_CHECK: CheckOutcome[] = [
  { name: "GET /healthz answers 200", passed: true, durationMs: 12 },
  { name: "GET / counts visits", passed: false, durationMs: 31, failure: "expected 2, got 1" },
];

function provenance(digest = DIGEST, facts: Partial<BuildFacts> = {}): Statement {
  return statement(
    REPOSITORY,
    digest,
    "provenance",
    provenancePredicate({ ...FACTS, digest, ...facts }),
  );
}

function testResults(checks: readonly CheckOutcome[] = PASSED_CHECKS): Statement {
  return statement(
    REPOSITORY,
    DIGEST,
    "tests",
    testResultPredicate({
      checks,
      buildUrl: BUILD_URL,
      imageId: FACTS.imageId,
      finishedAt: "2025-01-02T03:10:00.000Z",
    }),
  );
}

function verification(
  environment: string,
  checks: readonly CheckOutcome[] = PASSED_CHECKS,
): Statement {
  return statement(
    REPOSITORY,
    DIGEST,
    "verification",
    verificationPredicate({
      repository: REPOSITORY,
      digest: DIGEST,
      verifierId: "https://jenkins.example.com/job/visit-counter/",
      environment,
      namespace: environment,
      checks,
      buildUrl: VERIFY_URL,
      verifiedAt: VERIFIED_AT,
    }),
  );
}

/** A layer whose envelope a trusted key verified, without signing anything. */
function verified(s: Statement): CheckedLayer {
  return {
    predicateType: s.predicateType,
    check: { ok: true, statement: s, keyId: "k", source: "s" },
  };
}

describe("signed evidence", () => {
  let dir: string;
  let configFile: string;
  let oldKey: SigningKeyFiles;
  let newKey: SigningKeyFiles;
  let strangerKey: SigningKeyFiles;
  let oldSigner: EvidenceSigner;
  let newSigner: EvidenceSigner;
  let strangerSigner: EvidenceSigner;
  let trustedOld: TrustedKey[];

  function configFor(trustedKeys: string[]) {
    return {
      evidence: { trustedKeys, signingKeyEnv: "PIPELINE_SIGNING_KEY" },
      root: dir,
      file: configFile,
    };
  }

  /** The envelope with its statement's predicate changed and its signatures kept. */
  function tampered<T extends { payload: string }>(envelope: T): T {
    const signed = JSON.parse(
      Buffer.from(envelope.payload, "base64").toString("utf8"),
    ) as Statement;
    const changed = {
      ...signed,
      predicate: { ...signed.predicate, result: "PASSED", forged: true },
    };
    return {
      ...envelope,
      payload: Buffer.from(JSON.stringify(changed)).toString("base64"),
    };
  }

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "pipeline-evidence-"));
    configFile = path.join(dir, "pipeline.config.yaml");
    oldKey = await makeSigningKey(dir, "old");
    newKey = await makeSigningKey(dir, "new");
    strangerKey = await makeSigningKey(path.join(dir, "elsewhere"), "stranger");
    oldSigner = await keyFileSigner(oldKey.privateKeyFile);
    newSigner = await keyFileSigner(newKey.privateKeyFile);
    strangerSigner = await keyFileSigner(strangerKey.privateKeyFile);
    trustedOld = await loadTrustedKeys(configFor([oldKey.publicKeyFile]));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe("signStatement and verifyEnvelope", () => {
    it("signs an in-toto statement that the trusted public key verifies back to the same statement", async () => {
      const signed = provenance();
      const envelope = await signStatement(signed, oldSigner);

      expect(envelope.payloadType).to.equal(IN_TOTO_PAYLOAD_TYPE);
      expect(IN_TOTO_PAYLOAD_TYPE).to.equal("application/vnd.in-toto+json");
      expect(envelope.signatures).to.have.length(1);
      expect(envelope.signatures[0]?.keyid).to.equal(keyIdOf(oldKey.publicKeyPem));
      expect(keyIdOf(oldKey.publicKeyPem)).to.match(/^[0-9a-f]{64}$/);
      expect(JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8"))).to.deep.equal(
        signed,
      );

      const check = verifyEnvelope(envelope, trustedOld);
      expect(check).to.deep.equal({
        ok: true,
        statement: signed,
        keyId: keyIdOf(oldKey.publicKeyPem),
        source: oldKey.publicKeyFile,
      });
    });

    it("survives a JSON round trip, as the envelope does when stored in a registry layer", async () => {
      const envelope = await signStatement(testResults(), oldSigner);
      const check = verifyEnvelope(JSON.parse(JSON.stringify(envelope)), trustedOld);
      expect(check.ok).to.equal(true);
      if (check.ok) expect(check.statement).to.deep.equal(testResults());
    });

    it("names the key id when the config does not trust the key that signed", async () => {
      const envelope = await signStatement(provenance(), strangerSigner);
      const check = verifyEnvelope(envelope, trustedOld);
      expect(check.ok).to.equal(false);
      if (!check.ok) {
        expect(check.reason).to.include(keyIdOf(strangerKey.publicKeyPem));
        expect(check.reason).to.include("does not trust");
      }
    });

    it("refuses a payload changed after signing, because the signature does not match", async () => {
      const envelope = await signStatement(testResults(ONE_FAILED_CHECK), oldSigner);
      const check = verifyEnvelope(tampered(envelope), trustedOld);
      expect(check.ok).to.equal(false);
      if (!check.ok) expect(check.reason).to.include("does not match");
    });

    it("tries every trusted key when the envelope's key id is empty, as cosign writes it", async () => {
      const envelope = await signStatement(provenance(), oldSigner);
      const cosignStyle = {
        ...envelope,
        signatures: envelope.signatures.map((s) => ({ ...s, keyid: "" })),
      };
      const trustedBoth = await loadTrustedKeys(
        configFor([newKey.publicKeyFile, oldKey.publicKeyFile]),
      );
      const check = verifyEnvelope(cosignStyle, trustedBoth);
      expect(check.ok).to.equal(true);
      if (check.ok) {
        expect(check.keyId).to.equal(keyIdOf(oldKey.publicKeyPem));
        expect(check.statement).to.deep.equal(provenance());
      }
    });

    it("says no trusted key verifies an envelope without a key id that an untrusted key signed", async () => {
      const envelope = await signStatement(provenance(), strangerSigner);
      const cosignStyle = {
        ...envelope,
        signatures: envelope.signatures.map((s) => ({ ...s, keyid: "" })),
      };
      const check = verifyEnvelope(cosignStyle, trustedOld);
      expect(check.ok).to.equal(false);
      if (!check.ok) expect(check.reason).to.include("no trusted key verifies");
    });

    it("says no trusted key verifies a tampered envelope without a key id", async () => {
      const envelope = await signStatement(provenance(), oldSigner);
      const cosignStyle = tampered({
        ...envelope,
        signatures: envelope.signatures.map((s) => ({ ...s, keyid: "" })),
      });
      const check = verifyEnvelope(cosignStyle, trustedOld);
      expect(check.ok).to.equal(false);
      if (!check.ok) expect(check.reason).to.include("no trusted key verifies");
    });

    for (const [title, value] of [
      ["undefined", undefined],
      ["null", null],
      ["a string", "not an envelope"],
      ["an object without a payload", { payloadType: IN_TOTO_PAYLOAD_TYPE, signatures: [] }],
      ["an object without signatures", { payloadType: IN_TOTO_PAYLOAD_TYPE, payload: "e30=" }],
    ] as const) {
      it(`says ${title} is not a DSSE envelope`, () => {
        expect(verifyEnvelope(value, trustedOld)).to.deep.equal({
          ok: false,
          reason: "not a DSSE envelope",
        });
      });
    }

    it("refuses an envelope whose payload type is not in-toto, naming that type", async () => {
      const envelope = await signStatement(provenance(), oldSigner);
      const check = verifyEnvelope({ ...envelope, payloadType: "text/plain" }, trustedOld);
      expect(check.ok).to.equal(false);
      if (!check.ok) {
        expect(check.reason).to.include("text/plain");
        expect(check.reason).to.include("not in-toto");
      }
    });

    it("verifies nothing when no trusted keys are configured", async () => {
      const envelope = await signStatement(provenance(), oldSigner);
      const check = verifyEnvelope(envelope, []);
      expect(check.ok).to.equal(false);
      if (!check.ok) expect(check.reason).to.include("no trusted keys are configured");
    });
  });

  describe("loadTrustedKeys", () => {
    it("accepts envelopes signed by either key of a file holding the old and the new key", async () => {
      const rotation = path.join(dir, "rotation.pub");
      await writeFile(rotation, `${oldKey.publicKeyPem}\n${newKey.publicKeyPem}`);
      const trusted = await loadTrustedKeys(configFor([rotation]));

      expect(trusted.map((k) => k.keyId)).to.deep.equal([
        keyIdOf(oldKey.publicKeyPem),
        keyIdOf(newKey.publicKeyPem),
      ]);
      expect(trusted.map((k) => k.source)).to.deep.equal([rotation, rotation]);

      const byOld = verifyEnvelope(await signStatement(provenance(), oldSigner), trusted);
      const byNew = verifyEnvelope(await signStatement(provenance(), newSigner), trusted);
      const byStranger = verifyEnvelope(await signStatement(provenance(), strangerSigner), trusted);
      expect(byOld.ok && byOld.keyId).to.equal(keyIdOf(oldKey.publicKeyPem));
      expect(byNew.ok && byNew.keyId).to.equal(keyIdOf(newKey.publicKeyPem));
      expect(byStranger.ok).to.equal(false);
    });

    it("resolves a relative file against the config file's folder", async () => {
      const trusted = await loadTrustedKeys(configFor([path.basename(oldKey.publicKeyFile)]));
      expect(trusted).to.have.length(1);
      expect(trusted[0]?.keyId).to.equal(keyIdOf(oldKey.publicKeyPem));
      expect(trusted[0]?.source).to.equal(oldKey.publicKeyFile);
    });

    it("takes a PEM public key written inline in the config", async () => {
      const trusted = await loadTrustedKeys(configFor([newKey.publicKeyPem]));
      expect(trusted).to.have.length(1);
      expect(trusted[0]?.keyId).to.equal(keyIdOf(newKey.publicKeyPem));
      expect(trusted[0]?.source).to.equal("inline key");
      const check = verifyEnvelope(await signStatement(provenance(), newSigner), trusted);
      expect(check.ok).to.equal(true);
    });

    it("collects the keys of every entry, in order", async () => {
      const trusted = await loadTrustedKeys(configFor([oldKey.publicKeyFile, newKey.publicKeyPem]));
      expect(trusted.map((k) => k.keyId)).to.deep.equal([
        keyIdOf(oldKey.publicKeyPem),
        keyIdOf(newKey.publicKeyPem),
      ]);
    });

    it("trusts nothing when the list is empty", async () => {
      expect(await loadTrustedKeys(configFor([]))).to.deep.equal([]);
    });

    it("names a trusted-keys file that cannot be read", async () => {
      const missing = path.join(dir, "missing.pub");
      const error = await rejection(loadTrustedKeys(configFor([missing])));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(missing);
      expect(error.message).to.include(configFile);
      expect(error.message).to.include("cannot read");
    });

    it("names a file that holds no PEM public key", async () => {
      const privateOnly = path.join(dir, "private-only.pem");
      await writeFile(privateOnly, "just some notes, no key here\n");
      const error = await rejection(loadTrustedKeys(configFor([privateOnly])));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(privateOnly);
      expect(error.message).to.include("no PEM public key");
    });

    it("refuses a file that holds only the private key", async () => {
      const error = await rejection(loadTrustedKeys(configFor([oldKey.privateKeyFile])));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(oldKey.privateKeyFile);
      expect(error.message).to.include("no PEM public key");
    });

    it("refuses an RSA public key, saying evidence is signed with P-256", async () => {
      const rsa = path.join(dir, "rsa.pub");
      const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      await writeFile(rsa, publicKey.export({ type: "spki", format: "pem" }));
      const error = await rejection(loadTrustedKeys(configFor([rsa])));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(rsa);
      expect(error.message).to.include("rsa");
      expect(error.message).to.include("P-256");
    });

    it("refuses a P-384 public key, naming its curve and P-256", async () => {
      const p384 = path.join(dir, "p384.pub");
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
      await writeFile(p384, publicKey.export({ type: "spki", format: "pem" }));
      const error = await rejection(loadTrustedKeys(configFor([p384])));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(p384);
      expect(error.message).to.include("secp384r1");
      expect(error.message).to.include("P-256");
    });

    it("refuses a PEM block that is not a valid public key", async () => {
      const broken = path.join(dir, "broken.pub");
      await writeFile(
        broken,
        "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n",
      );
      const error = await rejection(loadTrustedKeys(configFor([broken])));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(broken);
      expect(error.message).to.include("not a valid public key");
    });
  });

  describe("keyFileSigner and signerFromEnv", () => {
    it("signs with the key file's private key and exposes its public half", () => {
      expect(oldSigner.publicKeyPem).to.equal(oldKey.publicKeyPem);
      expect(keyIdOf(oldSigner.publicKeyPem)).to.not.equal(keyIdOf(newSigner.publicKeyPem));
    });

    it("refuses a file that is not a private key, saying how to make one with openssl", async () => {
      const notAKey = path.join(dir, "not-a-key.txt");
      await writeFile(notAKey, "hello\n");
      const error = await rejection(keyFileSigner(notAKey));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(notAKey);
      expect(error.message).to.include("openssl");
    });

    it("refuses a public key given as the signing key", async () => {
      const error = await rejection(keyFileSigner(oldKey.publicKeyFile));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include("openssl");
    });

    it("refuses a signing key that is not P-256", async () => {
      const p384 = path.join(dir, "p384.key");
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
      await writeFile(p384, privateKey.export({ type: "pkcs8", format: "pem" }));
      const error = await rejection(keyFileSigner(p384));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(p384);
      expect(error.message).to.include("P-256");
    });

    it("names a signing key file that cannot be read", async () => {
      const missing = path.join(dir, "missing.key");
      const error = await rejection(keyFileSigner(missing));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(missing);
    });

    it("gives no signer when the signing key variable is unset or empty", async () => {
      const config = configFor([]);
      expect(await signerFromEnv(config, {})).to.equal(undefined);
      expect(await signerFromEnv(config, { PIPELINE_SIGNING_KEY: "" })).to.equal(undefined);
    });

    it("gives a signer over the file the configured variable names", async () => {
      const config = { evidence: { trustedKeys: [], signingKeyEnv: "TEAM_SIGNING_KEY" } };
      expect(await signerFromEnv(config, { PIPELINE_SIGNING_KEY: oldKey.privateKeyFile })).to.equal(
        undefined,
      );
      const signer = await signerFromEnv(config, { TEAM_SIGNING_KEY: newKey.privateKeyFile });
      expect(signer?.publicKeyPem).to.equal(newKey.publicKeyPem);
      const check = verifyEnvelope(
        await signStatement(provenance(), signer!),
        await loadTrustedKeys(configFor([newKey.publicKeyFile])),
      );
      expect(check.ok).to.equal(true);
    });
  });

  describe("summarizeEvidence and evaluateEvidence", () => {
    const production = DEFAULT_REQUIREMENTS.production;

    it("accepts for production signed provenance, passed tests and a passed verification in test", async () => {
      const layers: CheckedLayer[] = [];
      for (const s of [provenance(), testResults(), verification("test")]) {
        const envelope = await signStatement(s, oldSigner);
        layers.push({
          predicateType: s.predicateType,
          check: verifyEnvelope(envelope, trustedOld),
        });
      }
      const summary = summarizeEvidence(DIGEST, layers);

      expect(summary.digest).to.equal(DIGEST);
      expect(summary.rejected).to.deep.equal([]);
      expect(summary.accepted.map((a) => a.kind)).to.deep.equal([
        "provenance",
        "tests",
        "verification",
      ]);
      expect(summary.accepted.every((a) => a.keyId === keyIdOf(oldKey.publicKeyPem))).to.equal(
        true,
      );
      expect(summary.tests).to.deep.equal({
        result: "PASSED",
        passed: 2,
        failed: 0,
        buildUrl: BUILD_URL,
      });
      expect(evaluateEvidence(summary, production)).to.deep.equal({ ok: true, missing: [] });
      expect(evaluateEvidence(summary, production, { sourceUrl: SOURCE_URL }).ok).to.equal(true);
    });

    it("refuses for production an image that carries only provenance, saying what to run", () => {
      const summary = summarizeEvidence(DIGEST, [verified(provenance())]);
      const verdict = evaluateEvidence(summary, production);

      expect(verdict.ok).to.equal(false);
      expect(verdict.missing).to.have.length(2);
      const [tests, verifiedInTest] = verdict.missing;
      expect(tests).to.include("signed test results");
      expect(tests).to.include("pipeline test");
      expect(verifiedInTest).to.include("a passed verification in test");
      expect(verifiedInTest).to.include("pipeline verify --env test");
    });

    it("accepts for test an image that carries only provenance", () => {
      const summary = summarizeEvidence(DIGEST, [verified(provenance())]);
      expect(evaluateEvidence(summary, DEFAULT_REQUIREMENTS.test)).to.deep.equal({
        ok: true,
        missing: [],
      });
    });

    it("asks for provenance when an image carries nothing", () => {
      const summary = summarizeEvidence(DIGEST, []);
      expect(summary.builtFrom).to.equal(undefined);
      expect(summary.tests).to.equal(undefined);
      expect(summary.verifiedIn).to.deep.equal([]);
      const verdict = evaluateEvidence(summary, DEFAULT_REQUIREMENTS.test);
      expect(verdict.ok).to.equal(false);
      expect(verdict.missing).to.have.length(1);
      expect(verdict.missing[0]).to.include("signed build provenance");
    });

    it("rejects a statement about another digest, naming both, and does not count it", () => {
      const summary = summarizeEvidence(DIGEST, [verified(provenance(OTHER_DIGEST))]);

      expect(summary.accepted).to.deep.equal([]);
      expect(summary.builtFrom).to.equal(undefined);
      expect(summary.rejected).to.have.length(1);
      expect(summary.rejected[0]?.kind).to.equal("provenance");
      expect(summary.rejected[0]?.reason).to.include(OTHER_DIGEST);
      expect(summary.rejected[0]?.reason).to.include(DIGEST);
      const verdict = evaluateEvidence(summary, DEFAULT_REQUIREMENTS.test);
      expect(verdict.ok).to.equal(false);
      expect(verdict.missing[0]).to.include("signed build provenance");
    });

    it("says the signed test results say FAILED when a check failed", () => {
      const summary = summarizeEvidence(DIGEST, [
        verified(provenance()),
        verified(testResults(ONE_FAILED_CHECK)),
        verified(verification("test")),
      ]);
      expect(summary.tests).to.deep.include({ result: "FAILED", passed: 1, failed: 1 });
      const verdict = evaluateEvidence(summary, production);
      expect(verdict.ok).to.equal(false);
      expect(verdict.missing).to.deep.equal(["passed tests: the signed test results say FAILED"]);
    });

    it("takes the latest test results when there are several", () => {
      const summary = summarizeEvidence(DIGEST, [
        verified(testResults(ONE_FAILED_CHECK)),
        verified(testResults()),
      ]);
      expect(summary.tests?.result).to.equal("PASSED");
    });

    it("does not count a verification in production towards a verification in test", () => {
      const summary = summarizeEvidence(DIGEST, [
        verified(provenance()),
        verified(testResults()),
        verified(verification("production")),
      ]);
      expect(summary.verifiedIn.map((v) => v.environment)).to.deep.equal(["production"]);
      const verdict = evaluateEvidence(summary, production);
      expect(verdict.ok).to.equal(false);
      expect(verdict.missing).to.have.length(1);
      expect(verdict.missing[0]).to.include("a passed verification in test");
    });

    it("does not count a failed verification in test", () => {
      const summary = summarizeEvidence(DIGEST, [
        verified(provenance()),
        verified(testResults()),
        verified(verification("test", ONE_FAILED_CHECK)),
      ]);
      expect(summary.verifiedIn).to.deep.equal([]);
      const verdict = evaluateEvidence(summary, production);
      expect(verdict.ok).to.equal(false);
      expect(verdict.missing[0]).to.include("a passed verification in test");
    });

    it("names both repositories when the provenance is from another repository", () => {
      const other = "https://git.example.com/someone/fork";
      const summary = summarizeEvidence(DIGEST, [
        verified(provenance(DIGEST, { sourceUrl: other })),
      ]);
      const verdict = evaluateEvidence(summary, DEFAULT_REQUIREMENTS.test, {
        sourceUrl: SOURCE_URL,
      });
      expect(verdict.ok).to.equal(false);
      expect(verdict.missing).to.have.length(1);
      expect(verdict.missing[0]).to.include(SOURCE_URL);
      expect(verdict.missing[0]).to.include(other);
    });

    it("puts a layer whose check failed in rejected, with its reason", async () => {
      const envelope = await signStatement(testResults(), oldSigner);
      const summary = summarizeEvidence(DIGEST, [
        verified(provenance()),
        {
          predicateType: PREDICATE_TYPES.tests,
          check: verifyEnvelope(tampered(envelope), trustedOld),
        },
        { predicateType: PREDICATE_TYPES.verification, check: { ok: false, reason: "made up" } },
        { predicateType: undefined, check: { ok: false, reason: "unreadable" } },
      ]);
      expect(summary.accepted.map((a) => a.kind)).to.deep.equal(["provenance"]);
      expect(summary.tests).to.equal(undefined);
      expect(summary.rejected).to.have.length(3);
      expect(summary.rejected[0]?.kind).to.equal("tests");
      expect(summary.rejected[0]?.reason).to.include("does not match");
      expect(summary.rejected[1]).to.deep.equal({ kind: "verification", reason: "made up" });
      expect(summary.rejected[2]).to.deep.equal({ kind: "attestation", reason: "unreadable" });
    });

    it("ignores a verified statement of a predicate type that is not ours", () => {
      const foreign: Statement = {
        ...provenance(),
        predicateType: "https://example.com/some-other-predicate/v1",
      };
      const summary = summarizeEvidence(DIGEST, [verified(foreign)]);
      expect(summary.accepted).to.deep.equal([]);
      expect(summary.rejected).to.deep.equal([]);
    });

    it("reads where the image was built from and where it was verified", () => {
      const summary = summarizeEvidence(DIGEST, [
        verified(provenance()),
        verified(verification("test")),
      ]);
      expect(summary.builtFrom).to.deep.equal({
        commit: COMMIT,
        repository: SOURCE_URL,
        ref: "develop",
        buildUrl: BUILD_URL,
        builder: FACTS.builderId,
      });
      expect(summary.verifiedIn).to.deep.equal([
        { environment: "test", namespace: "test", buildUrl: VERIFY_URL, at: VERIFIED_AT },
      ]);
    });
  });

  describe("requirementsFor", () => {
    const yaml = (requires: string) => `app:
  name: visit-counter
image:
  repository: ${REPOSITORY}
environments:
  test:
    namespace: test
  production:
    namespace: production
${requires}`;

    it("requires only provenance in test when the config says nothing", () => {
      expect(requirementsFor("test", undefined)).to.deep.equal({
        provenance: true,
        sbom: false,
        tests: false,
        verifiedIn: [],
      });
    });

    it("requires provenance, passed tests and a verification in test for production by default", () => {
      expect(requirementsFor("production", undefined)).to.deep.equal({
        provenance: true,
        sbom: false,
        tests: true,
        verifiedIn: ["test"],
      });
      const config = parseConfig(yaml(""), { file: configFile, env: {} });
      expect(requirementsFor("production", config.environments.production)).to.deep.equal(
        DEFAULT_REQUIREMENTS.production,
      );
    });

    it("lets an environment's own requires win over the defaults", () => {
      const config = parseConfig(
        yaml(`    requires:
      sbom: true
      verifiedIn: [test]
`),
        { file: configFile, env: {} },
      );
      expect(requirementsFor("production", config.environments.production)).to.deep.equal({
        provenance: true,
        sbom: true,
        tests: false,
        verifiedIn: ["test"],
      });
      expect(requirementsFor("test", config.environments.test)).to.deep.equal(
        DEFAULT_REQUIREMENTS.test,
      );
    });
  });

  describe("the deploy gate's messages", () => {
    const IMAGE = `${REPOSITORY}:tree-0123@${DIGEST}`;

    function gate(layers: CheckedLayer[]): GateResult {
      const summary = summarizeEvidence(DIGEST, layers);
      const requirements = DEFAULT_REQUIREMENTS.production;
      return {
        image: IMAGE,
        environment: "production",
        requirements,
        summary,
        verdict: evaluateEvidence(summary, requirements),
      };
    }

    it("splits a tagged image reference with a registry port into repository and digest", () => {
      const hex = "0a".repeat(32);
      expect(splitImage(`127.0.0.1:5000/app:tag@sha256:${hex}`)).to.deep.equal({
        repository: "127.0.0.1:5000/app",
        digest: `sha256:${hex}`,
      });
      expect(splitImage(`127.0.0.1:5000/app@sha256:${hex}`)).to.deep.equal({
        repository: "127.0.0.1:5000/app",
        digest: `sha256:${hex}`,
      });
    });

    for (const image of [
      "127.0.0.1:5000/app:tag",
      "127.0.0.1:5000/app@sha256:abc",
      `127.0.0.1:5000/app@sha512:${"0a".repeat(32)}`,
    ]) {
      it(`refuses ${image.slice(0, 40)} as not named by digest`, () => {
        expect(() => splitImage(image))
          .to.throw(ConfigError)
          .with.property("message")
          .that.includes("not named by digest");
      });
    }

    it("describes an image without evidence as having no signed evidence", () => {
      expect(describeEvidence(summarizeEvidence(DIGEST, []))).to.equal("no signed evidence");
    });

    it("describes the commit, the tests and the verification of a fully evidenced image", () => {
      const text = describeEvidence(
        summarizeEvidence(DIGEST, [
          verified(provenance()),
          verified(testResults()),
          verified(verification("test")),
        ]),
      );
      expect(text).to.include(COMMIT.slice(0, 12));
      expect(text).to.include("develop");
      expect(text).to.include(BUILD_URL);
      expect(text).to.include("tests PASSED (2 passed, 0 failed)");
      expect(text).to.include("verified in test");
      expect(text).to.include(VERIFY_URL);
      expect(text).to.not.include("\n");
    });

    it("refuses in one line naming the image, the environment and each missing item", () => {
      const result = gate([verified(provenance())]);
      const line = refusal(result);
      expect(line).to.not.include("\n");
      expect(line).to.include(IMAGE);
      expect(line).to.include("production");
      expect(result.verdict.missing).to.have.length(2);
      for (const missing of result.verdict.missing) expect(line).to.include(missing);
      expect(line).to.not.include("not accepted:");
    });

    it("adds what was not accepted, and why, to the refusal", async () => {
      const forged = tampered(await signStatement(testResults(), strangerSigner));
      const result = gate([
        verified(provenance()),
        { predicateType: PREDICATE_TYPES.tests, check: verifyEnvelope(forged, trustedOld) },
        verified(verification("test")),
        {
          predicateType: PREDICATE_TYPES.provenance,
          check: { ok: true, statement: provenance(OTHER_DIGEST), keyId: "k", source: "s" },
        },
      ]);
      const line = refusal(result);
      expect(line).to.not.include("\n");
      expect(line).to.include("not accepted:");
      expect(line).to.include(`tests: signed by key ${keyIdOf(strangerKey.publicKeyPem)}`);
      expect(line).to.include(`provenance: it is about ${OTHER_DIGEST}, not ${DIGEST}`);
      expect(line).to.include("signed test results");
    });
  });

  describe("in-toto statements", () => {
    it("writes SLSA provenance with the source commit, the base image and the lockfile", () => {
      const predicate = provenancePredicate(FACTS) as {
        buildDefinition: {
          buildType: string;
          externalParameters: { source: { repository: string; ref: string; commit: string } };
          resolvedDependencies: Record<string, unknown>[];
        };
        runDetails: { builder: { id: string }; metadata: Record<string, unknown> };
      };
      const definition = predicate.buildDefinition;
      expect(definition.buildType).to.equal(BUILD_TYPE);
      expect(definition.externalParameters.source).to.deep.equal({
        repository: SOURCE_URL,
        ref: "develop",
        commit: COMMIT,
      });
      expect(definition.resolvedDependencies).to.deep.include({
        uri: `git+${SOURCE_URL}@refs/heads/develop`,
        digest: { gitCommit: COMMIT },
      });
      expect(definition.resolvedDependencies).to.deep.include({
        uri: "node:24-alpine",
        digest: { sha256: "ef".repeat(32) },
        annotations: { role: "base image" },
      });
      expect(definition.resolvedDependencies).to.deep.include({
        name: "package-lock.json",
        digest: { sha256: LOCKFILE_SHA },
      });
      expect(predicate.runDetails.builder.id).to.equal(FACTS.builderId);
      expect(predicate.runDetails.metadata).to.deep.equal({
        invocationId: BUILD_URL,
        startedOn: FACTS.startedOn,
        finishedOn: FACTS.finishedOn,
      });
    });

    it("leaves the git dependency out of provenance when the commit is unknown", () => {
      const predicate = provenancePredicate({
        ...FACTS,
        commit: undefined,
        lockfile: undefined,
      }) as {
        buildDefinition: { resolvedDependencies: { uri?: string }[] };
      };
      expect(predicate.buildDefinition.resolvedDependencies.map((d) => d.uri)).to.deep.equal([
        "node:24-alpine",
      ]);
    });

    it("says PASSED only when every check passed and there was at least one", () => {
      const result = (checks: CheckOutcome[]) =>
        testResultPredicate({ checks, buildUrl: undefined, imageId: undefined, finishedAt: "t" })
          .result;
      expect(result(PASSED_CHECKS)).to.equal("PASSED");
      expect(result(ONE_FAILED_CHECK)).to.equal("FAILED");
      expect(result([])).to.equal("FAILED");
    });

    it("lists passed and failed checks with their rounded durations", () => {
      const predicate = testResultPredicate({
        checks: ONE_FAILED_CHECK,
        buildUrl: BUILD_URL,
        imageId: undefined,
        finishedAt: "t",
      });
      expect(predicate.passedTests).to.deep.equal(["GET /healthz answers 200"]);
      expect(predicate.failedTests).to.deep.equal(["GET / counts visits"]);
      expect(predicate.url).to.equal(BUILD_URL);
      expect(predicate).to.not.have.property("imageId");
      expect(predicate.tests).to.deep.equal([
        { name: "GET /healthz answers 200", outcome: "passed", durationMs: 12 },
        {
          name: "GET / counts visits",
          outcome: "failed",
          durationMs: 31,
          failure: "expected 2, got 1",
        },
      ]);
    });

    it("writes a verification summary naming the environment and the image", () => {
      const predicate = verification("test").predicate;
      expect(predicate.verificationResult).to.equal("PASSED");
      expect(predicate.environment).to.equal("test");
      expect(predicate.resourceUri).to.equal(`${REPOSITORY}@${DIGEST}`);
      expect(verification("test", ONE_FAILED_CHECK).predicate.verificationResult).to.equal(
        "FAILED",
      );
    });

    it("names one subject by its sha256 digest and reads it back", () => {
      const s = provenance();
      expect(s._type).to.equal("https://in-toto.io/Statement/v1");
      expect(s.subject).to.deep.equal([{ name: REPOSITORY, digest: { sha256: "ab".repeat(32) } }]);
      expect(s.predicateType).to.equal(PREDICATE_TYPES.provenance);
      expect(subjectDigest(s)).to.equal(DIGEST);
      expect(subjectDigest({ ...s, subject: [...s.subject, ...s.subject] })).to.equal(undefined);
      expect(subjectDigest({ ...s, subject: [] })).to.equal(undefined);
    });

    it("knows the kind of each of its predicate types and no other", () => {
      expect(kindOf(PREDICATE_TYPES.provenance)).to.equal("provenance");
      expect(kindOf(PREDICATE_TYPES.sbom)).to.equal("sbom");
      expect(kindOf(PREDICATE_TYPES.tests)).to.equal("tests");
      expect(kindOf(PREDICATE_TYPES.verification)).to.equal("verification");
      expect(kindOf("https://example.com/other")).to.equal(undefined);
    });
  });
});
