import { createHash } from "node:crypto";
import type { SerializedEnvelope } from "@sigstore/bundle";
import { StageError } from "../errors.js";
import type { OciArtifactStore } from "../registry/image-registry.js";

/**
 * Evidence stored where cosign (v2) keeps attestations, so `cosign
 * verify-attestation` and `cosign tree` read it as they are: an OCI image
 * manifest tagged `sha256-<hex>.att` in the image's own repository, one DSSE
 * envelope per layer, each layer annotated with its predicate type. The
 * manifest also names the image as its OCI 1.1 `subject`, so a registry with
 * the referrers API lists it there as well; Registry 2.8, which has none,
 * still serves it by the tag. Each statement is also stored under a tag of
 * its own (statementTag), which is what makes concurrent writers safe.
 */
export const ATTESTATION_LAYER_TYPE = "application/vnd.dsse.envelope.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
/** cosign marks each attestation layer with an (empty) signature annotation. */
const COSIGN_SIGNATURE = "dev.cosignproject.cosign/signature";
/** Ours: the SHA-256 of the signed payload, so the same statement is stored once. */
const PAYLOAD_SHA256 = "dev.pipeline-lib/payload-sha256";

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
}

/** cosign's tag for the attestations of `sha256:<hex>`. */
export function attestationTag(digest: string): string {
  return `${digest.replace(":", "-")}.att`;
}

/**
 * Ours, one per statement: `sha256-<hex>.att.<first 16 hex of the payload's
 * SHA-256>`. Written once and never moved, so two runs adding evidence to one
 * digest at once cannot overwrite each other (Registry v2 has no
 * compare-and-swap on a tag), and a registry with immutable tags (ECR) takes
 * them too.
 */
export function statementTag(digest: string, payloadSha256: string): string {
  return `${attestationTag(digest)}.${payloadSha256.replace(/^sha256:/, "").slice(0, 16)}`;
}

export interface StoredLayer {
  predicateType: string | undefined;
  envelope: unknown;
}

/**
 * Every attestation stored for a digest: the layers of cosign's `.att`
 * manifest and of our per-statement manifests, each statement once.
 */
export async function readAttestations(
  store: OciArtifactStore,
  digest: string,
): Promise<StoredLayer[]> {
  const layers = await storedDescriptors(store, digest);
  const stored: StoredLayer[] = [];
  for (const layer of layers) {
    const bytes = await store.getBlob(layer.digest);
    let envelope: unknown;
    try {
      envelope = JSON.parse(Buffer.from(bytes).toString("utf8"));
    } catch {
      envelope = undefined;
    }
    stored.push({ predicateType: layer.annotations?.predicateType, envelope });
  }
  return stored;
}

/** The attestation layers of the `.att` tag and of every per-statement tag, deduplicated. */
async function storedDescriptors(store: OciArtifactStore, digest: string): Promise<Descriptor[]> {
  const prefix = `${attestationTag(digest)}.`;
  const tags = [
    attestationTag(digest),
    ...(await store.listTags()).filter((t) => t.startsWith(prefix)).sort(),
  ];
  const seen = new Set<string>();
  const layers: Descriptor[] = [];
  for (const tag of tags) {
    const manifest = await store.getManifest(tag);
    if (!manifest) continue;
    for (const layer of parseManifest(manifest.bytes, `${store.repository}:${tag}`).layers) {
      if (layer.mediaType !== ATTESTATION_LAYER_TYPE) continue;
      const key = layer.annotations?.[PAYLOAD_SHA256] ?? layer.digest;
      if (seen.has(key) || seen.has(layer.digest)) continue;
      seen.add(key);
      seen.add(layer.digest);
      layers.push(layer);
    }
  }
  return layers;
}

export interface AppendResult {
  /** Envelopes added now; those whose statement was stored already are skipped. */
  added: number;
  skipped: number;
  /** The `.att` manifest's digest after the change ("" when it could not be updated). */
  manifestDigest: string;
  /** True when the registry indexed the manifests as referrers of the image (OCI 1.1). */
  referrers: boolean;
  /** False when cosign's `.att` tag could not be brought up to date (immutable tags, a busy registry). */
  cosignTag: boolean;
}

/**
 * Adds envelopes about a digest. Each statement gets a manifest of its own,
 * under a tag no other statement uses: that write cannot be lost to a
 * concurrent run. Then cosign's `.att` manifest is rewritten as the union of
 * everything stored, best effort: after writing, it is read back, and written
 * again (after a short, growing pause) when a concurrent writer replaced it.
 * Idempotent: a statement already stored (same payload) is not added again.
 */
export async function appendAttestations(
  store: OciArtifactStore,
  subject: { digest: string; mediaType: string; size: number },
  envelopes: readonly { predicateType: string; envelope: SerializedEnvelope }[],
  { attempts = 8, settleMs = 50 }: { attempts?: number; settleMs?: number } = {},
): Promise<AppendResult> {
  const subjectDescriptor: Descriptor = {
    mediaType: subject.mediaType,
    digest: subject.digest,
    size: subject.size,
  };
  const existing = new Set(await store.listTags());
  let added = 0;
  let skipped = 0;
  let referrers = false;
  for (const { predicateType, envelope } of envelopes) {
    const bytes = Buffer.from(JSON.stringify(envelope));
    const payloadSha = sha256(Buffer.from(envelope.payload, "base64"));
    const tag = statementTag(subject.digest, payloadSha);
    if (existing.has(tag)) {
      skipped++;
      continue;
    }
    const layer: Descriptor = {
      mediaType: ATTESTATION_LAYER_TYPE,
      digest: await store.pushBlob(bytes),
      size: bytes.length,
      annotations: { [COSIGN_SIGNATURE]: "", predicateType, [PAYLOAD_SHA256]: payloadSha },
    };
    const stored = await putAttestationManifest(store, tag, [layer], subjectDescriptor);
    referrers ||= stored.referrers;
    added++;
  }

  // cosign reads one manifest: keep `.att` the union of what is stored.
  const tag = attestationTag(subject.digest);
  for (let attempt = 1; attempt <= attempts; attempt++) {
    // The first check after a write reads it back at once; a writer that
    // replaced ours since makes us back off a little and write the union again.
    if (attempt > 2) {
      await new Promise((resolve) => setTimeout(resolve, settleMs * attempt * (1 + Math.random())));
    }
    const all = await storedDescriptors(store, subject.digest);
    const current = await store.getManifest(tag);
    const inTag = new Set(
      (current ? parseManifest(current.bytes, tag).layers : []).map((l) => l.digest),
    );
    if (current && all.every((l) => inTag.has(l.digest))) {
      return { added, skipped, manifestDigest: current.digest, referrers, cosignTag: true };
    }
    try {
      await putAttestationManifest(store, tag, all, subjectDescriptor);
    } catch {
      // An immutable `.att` tag (ECR's tag immutability) refuses the move;
      // our per-statement tags hold everything, cosign sees the older set.
      break;
    }
  }
  const after = await store.getManifest(tag);
  return { added, skipped, manifestDigest: after?.digest ?? "", referrers, cosignTag: false };
}

async function putAttestationManifest(
  store: OciArtifactStore,
  tag: string,
  layers: readonly Descriptor[],
  subject: Descriptor,
): Promise<{ digest: string; referrers: boolean }> {
  const config = Buffer.from(
    JSON.stringify({
      architecture: "",
      created: "0001-01-01T00:00:00Z",
      history: layers.map(() => ({ created: "0001-01-01T00:00:00Z" })),
      os: "",
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
  const configDigest = await store.pushBlob(config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [...layers],
    subject,
  };
  return store.putManifest(tag, Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
}

function parseManifest(bytes: Uint8Array, what: string): ImageManifest {
  try {
    const parsed = JSON.parse(Buffer.from(bytes).toString("utf8")) as ImageManifest;
    if (!Array.isArray(parsed.layers)) throw new Error("no layers");
    return parsed;
  } catch (error) {
    throw new StageError(`${what} is not an image manifest: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}
