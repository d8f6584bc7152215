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
 * still serves it by the tag.
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

export interface StoredLayer {
  predicateType: string | undefined;
  envelope: unknown;
}

/** Every attestation layer stored for a digest (none when there is no `.att` tag). */
export async function readAttestations(
  store: OciArtifactStore,
  digest: string,
): Promise<StoredLayer[]> {
  const manifest = await store.getManifest(attestationTag(digest));
  if (!manifest) return [];
  const parsed = parseManifest(manifest.bytes, `${store.repository}:${attestationTag(digest)}`);
  const layers: StoredLayer[] = [];
  for (const layer of parsed.layers) {
    if (layer.mediaType !== ATTESTATION_LAYER_TYPE) continue;
    const bytes = await store.getBlob(layer.digest);
    let envelope: unknown;
    try {
      envelope = JSON.parse(Buffer.from(bytes).toString("utf8"));
    } catch {
      envelope = undefined;
    }
    layers.push({ predicateType: layer.annotations?.predicateType, envelope });
  }
  return layers;
}

export interface AppendResult {
  /** Envelopes added now; those whose statement was stored already are skipped. */
  added: number;
  skipped: number;
  /** The attestation manifest's digest after the change. */
  manifestDigest: string;
  /** True when the registry indexed the manifest as a referrer of the image (OCI 1.1). */
  referrers: boolean;
}

/**
 * Adds envelopes to the digest's attestation manifest. Idempotent: a statement
 * already stored (same payload) is not added twice. Safe against a second run
 * appending at the same time: after writing, it reads the tag back and, when
 * the other run's write replaced its own, writes again on top of it.
 */
export async function appendAttestations(
  store: OciArtifactStore,
  subject: { digest: string; mediaType: string; size: number },
  envelopes: readonly { predicateType: string; envelope: SerializedEnvelope }[],
  { attempts = 8, settleMs = 400 }: { attempts?: number; settleMs?: number } = {},
): Promise<AppendResult> {
  const tag = attestationTag(subject.digest);
  if (envelopes.length === 0) {
    const current = await store.getManifest(tag);
    return { added: 0, skipped: 0, manifestDigest: current?.digest ?? "", referrers: false };
  }
  const fresh = envelopes.map(({ predicateType, envelope }) => {
    const bytes = Buffer.from(JSON.stringify(envelope));
    return {
      bytes,
      descriptor: {
        mediaType: ATTESTATION_LAYER_TYPE,
        digest: sha256(bytes),
        size: bytes.length,
        annotations: {
          [COSIGN_SIGNATURE]: "",
          predicateType,
          [PAYLOAD_SHA256]: sha256(Buffer.from(envelope.payload, "base64")),
        },
      } satisfies Descriptor,
    };
  });
  for (const layer of fresh) await store.pushBlob(layer.bytes);

  for (let attempt = 1; ; attempt++) {
    const current = await store.getManifest(tag);
    const layers = current ? parseManifest(current.bytes, `${store.repository}:${tag}`).layers : [];
    const stored = new Set(layers.map((l) => l.annotations?.[PAYLOAD_SHA256] ?? l.digest));
    const toAdd = fresh.filter((f) => !stored.has(f.descriptor.annotations[PAYLOAD_SHA256]));
    if (toAdd.length === 0) {
      return {
        added: 0,
        skipped: fresh.length,
        manifestDigest: current!.digest,
        referrers: false,
      };
    }
    const all = [...layers, ...toAdd.map((f) => f.descriptor)];
    const config = Buffer.from(
      JSON.stringify({
        architecture: "",
        created: "0001-01-01T00:00:00Z",
        history: all.map(() => ({ created: "0001-01-01T00:00:00Z" })),
        os: "",
        rootfs: { type: "layers", diff_ids: all.map((l) => l.digest) },
        config: {},
      }),
    );
    const configDigest = await store.pushBlob(config);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: all,
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const { digest, referrers } = await store.putManifest(tag, bytes, OCI_MANIFEST);
    // Read back, once at once and once after a pause: a concurrent writer that
    // read the tag before this write may replace it with its own list a moment
    // later. Registry v2 has no compare-and-swap on tags, so this narrows the
    // window to a writer that stalls longer than the pause; each retry adds
    // what is missing again, on top of what the other run wrote.
    const keptAll = async () => {
      const after = await store.getManifest(tag);
      const kept = new Set(
        (after ? parseManifest(after.bytes, tag).layers : []).map(
          (l) => l.annotations?.[PAYLOAD_SHA256],
        ),
      );
      return toAdd.every((f) => kept.has(f.descriptor.annotations[PAYLOAD_SHA256]));
    };
    const settle = () =>
      new Promise((resolve) => setTimeout(resolve, settleMs + Math.random() * settleMs));
    if ((await keptAll()) && (await settle(), await keptAll())) {
      return {
        added: toAdd.length,
        skipped: fresh.length - toAdd.length,
        manifestDigest: digest,
        referrers,
      };
    }
    if (attempt >= attempts) {
      throw new StageError(
        `another run kept replacing ${store.repository}:${tag} while this one added its evidence ` +
          `(${attempts} attempts); run the stage again`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50 * attempt + Math.random() * 100));
  }
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
