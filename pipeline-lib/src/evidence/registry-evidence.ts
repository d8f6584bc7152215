import { StageError } from "../errors.js";
import type { OciArtifactStore, StoredManifest } from "../registry/image-registry.js";
import { appendAttestations, readAttestations, type AppendResult } from "./cosign-layout.js";
import { signStatement, verifyEnvelope, type EvidenceSigner, type TrustedKey } from "./envelope.js";
import { summarizeEvidence, type EvidenceSummary } from "./policy.js";
import { PREDICATE_TYPES, statement, type EvidenceKind } from "./statements.js";

/** Reads what the registry holds for `digest` and checks every piece against the trusted keys. */
export async function readEvidence(
  store: OciArtifactStore,
  digest: string,
  trusted: readonly TrustedKey[],
): Promise<EvidenceSummary> {
  const layers = await readAttestations(store, digest);
  return summarizeEvidence(
    digest,
    layers.map((layer) => ({
      predicateType: layer.predicateType,
      check: verifyEnvelope(layer.envelope, trusted),
    })),
  );
}

/**
 * Signs one statement per predicate about `digest` and stores them beside the
 * image (cosign's layout). The image's manifest must be in the repository.
 */
export async function recordEvidence(
  store: OciArtifactStore,
  digest: string,
  predicates: readonly { kind: EvidenceKind; predicate: Record<string, unknown> }[],
  signer: EvidenceSigner,
  /** The image's manifest, when the caller has read it already. */
  manifest?: StoredManifest,
): Promise<AppendResult> {
  const image = manifest?.digest === digest ? manifest : await store.getManifest(digest);
  if (!image) {
    throw new StageError(
      `${store.repository}@${digest} is not in the registry; push the image before recording evidence about it`,
    );
  }
  const envelopes = [];
  for (const { kind, predicate } of predicates) {
    const signed = await signStatement(
      statement(store.repository, digest, kind, predicate),
      signer,
    );
    envelopes.push({ predicateType: PREDICATE_TYPES[kind], envelope: signed });
  }
  return appendAttestations(
    store,
    { digest, mediaType: image.mediaType, size: image.bytes.length },
    envelopes,
  );
}
