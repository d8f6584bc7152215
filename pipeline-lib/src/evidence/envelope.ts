import { bundleFromJSON, envelopeToJSON, type SerializedEnvelope } from "@sigstore/bundle";
import { DSSEBundleBuilder, type Signer as SigstoreSigner } from "@sigstore/sign";
import { toSignedEntity, toTrustMaterial, Verifier } from "@sigstore/verify";
import type { TrustedRoot } from "@sigstore/protobuf-specs";
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import type { Statement } from "./statements.js";

/** The DSSE payload type of an in-toto statement, as cosign and every in-toto tool write it. */
export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
const IN_TOTO_STATEMENT_TYPES = new Set([
  "https://in-toto.io/Statement/v1",
  "https://in-toto.io/Statement/v0.1",
]);

/**
 * What signs evidence. The private key never has to be in this process: a
 * key file (`keyFileSigner`) implements it with node:crypto, and an AWS KMS
 * signer implements the same two members with KMS `Sign` (ECDSA_SHA_256,
 * MessageType RAW), which returns the same DER signature.
 */
export interface EvidenceSigner {
  /** The public key, PEM (SPKI), that verifies what this signer signs. */
  readonly publicKeyPem: string;
  /** An ECDSA P-256 / SHA-256 signature (DER) over `data`. */
  sign(data: Buffer): Promise<Buffer>;
}

/** The key id we write into envelopes: the SHA-256 of the public key's DER (SPKI), hex. */
export function keyIdOf(publicKey: KeyObject | string): string {
  const key = typeof publicKey === "string" ? createPublicKey(publicKey) : publicKey;
  return createHash("sha256")
    .update(key.export({ type: "spki", format: "der" }))
    .digest("hex");
}

/**
 * Signs an in-toto statement into a DSSE envelope (JSON, as cosign stores it
 * in an attestation layer), through sigstore's own DSSE bundle builder.
 */
export async function signStatement(
  statement: Statement,
  signer: EvidenceSigner,
): Promise<SerializedEnvelope> {
  const keyid = keyIdOf(signer.publicKeyPem);
  const sigstoreSigner: SigstoreSigner = {
    sign: async (data) => ({
      signature: await signer.sign(data),
      key: { $case: "publicKey", publicKey: signer.publicKeyPem, hint: keyid },
    }),
  };
  const bundle = await new DSSEBundleBuilder({ signer: sigstoreSigner, witnesses: [] }).create({
    data: Buffer.from(JSON.stringify(statement)),
    type: IN_TOTO_PAYLOAD_TYPE,
  });
  return envelopeToJSON(bundle.content.dsseEnvelope);
}

/** A public key the config trusts, with the id envelopes name it by. */
export interface TrustedKey {
  readonly keyId: string;
  readonly key: KeyObject;
  /** Where it came from, for messages: a file path and the key's place in it. */
  readonly source: string;
}

export type EnvelopeCheck =
  { ok: true; statement: Statement; keyId: string; source: string } | { ok: false; reason: string };

const NO_ROOT: TrustedRoot = {
  mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/**
 * Checks a DSSE envelope's signature against the trusted keys (sigstore's
 * verifier, keys only: no transparency log, no timestamp authority), then
 * parses its in-toto statement. Cosign writes an empty key id, so every
 * trusted key is tried; ours name the key they were signed with.
 */
export function verifyEnvelope(envelope: unknown, trusted: readonly TrustedKey[]): EnvelopeCheck {
  const parsed = envelope as Partial<SerializedEnvelope> | undefined;
  if (!parsed || typeof parsed.payload !== "string" || !Array.isArray(parsed.signatures)) {
    return { ok: false, reason: "not a DSSE envelope" };
  }
  if (parsed.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    return { ok: false, reason: `payload type ${String(parsed.payloadType)} is not in-toto` };
  }
  if (trusted.length === 0) return { ok: false, reason: "no trusted keys are configured" };
  const named = new Set(parsed.signatures.map((s) => s?.keyid).filter(Boolean));
  const unnamed = parsed.signatures.some((s) => !(s as { keyid?: string } | null)?.keyid);
  const candidates = unnamed ? trusted : trusted.filter((k) => named.has(k.keyId));
  if (candidates.length === 0) {
    return {
      ok: false,
      reason: `signed by key ${[...named].join(", ")}, which the config does not trust`,
    };
  }
  for (const candidate of candidates) {
    if (!signedBy(parsed as SerializedEnvelope, candidate)) continue;
    let statement: Statement | null;
    try {
      statement = JSON.parse(Buffer.from(parsed.payload, "base64").toString("utf8")) as Statement;
    } catch {
      return { ok: false, reason: "the signed payload is not JSON" };
    }
    // cosign v2 still writes Statement v0.1, which has the same fields.
    if (!IN_TOTO_STATEMENT_TYPES.has(String(statement?._type)) || !statement?.predicateType) {
      return { ok: false, reason: "the signed payload is not an in-toto Statement" };
    }
    return { ok: true, statement, keyId: candidate.keyId, source: candidate.source };
  }
  return {
    ok: false,
    reason:
      named.size > 0
        ? "the signature does not match the payload (tampered, or signed over other bytes)"
        : "no trusted key verifies the signature (an untrusted key, or a tampered payload)",
  };
}

/** True when one of the envelope's signatures (unnamed, or naming this key) verifies with the key. */
function signedBy(envelope: SerializedEnvelope, key: TrustedKey): boolean {
  const hint = key.keyId;
  const verifier = new Verifier(
    toTrustMaterial(NO_ROOT, () => ({ publicKey: key.key, validFor: () => true })),
    { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
  );
  const signatures = envelope.signatures.filter(
    (s): s is SerializedEnvelope["signatures"][number] =>
      typeof s === "object" &&
      s !== null &&
      typeof s.sig === "string" &&
      (!s.keyid || s.keyid === hint),
  );
  // sigstore's bundle holds exactly one signature: try each that may be this key's.
  return signatures.some((signature) => {
    try {
      const bundle = bundleFromJSON({
        mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
        verificationMaterial: {
          publicKey: { hint },
          tlogEntries: [],
          timestampVerificationData: { rfc3161Timestamps: [] },
        },
        dsseEnvelope: { ...envelope, signatures: [signature] },
      });
      verifier.verify(toSignedEntity(bundle));
      return true;
    } catch {
      // A malformed or non-matching signature is not this key's; the caller says why.
      return false;
    }
  });
}
