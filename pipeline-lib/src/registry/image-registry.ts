/** What happened to a tag when it was pointed at a manifest. */
export interface TagResult {
  /** `created`: the tag is new; `moved`: it pointed elsewhere before; `unchanged`: nothing to do. */
  readonly change: "created" | "moved" | "unchanged";
  /** The digest the tag pointed to before, when it was moved. */
  readonly previousDigest?: string;
}

/**
 * The registry operations the pipeline needs beyond `docker push`, for one
 * repository: look a tag up (build --reuse, push's confirmation) and add a tag
 * to an existing manifest without pulling it (promote).
 */
export interface ImageRegistry {
  /** For messages: `127.0.0.1:5000/visit-counter`. */
  readonly repository: string;
  /** The manifest digest the tag points to, or undefined if there is no such tag. */
  resolveTag(tag: string): Promise<string | undefined>;
  /** Points `tag` at the manifest `digest`, which must already be in the repository. */
  tagManifest(digest: string, tag: string): Promise<TagResult>;
}

/** A manifest as the registry stores it: the exact bytes, their media type and digest. */
export interface StoredManifest {
  readonly bytes: Uint8Array;
  readonly mediaType: string;
  readonly digest: string;
}

/**
 * Raw Registry v2 access for what travels beside an image in its repository
 * (signed evidence in cosign's layout): manifests by tag or digest, and blobs.
 */
export interface OciArtifactStore {
  readonly repository: string;
  getManifest(reference: string): Promise<StoredManifest | undefined>;
  /** Stores a manifest under a tag or its digest; `referrers` is true when the registry indexed its `subject` (OCI 1.1). */
  putManifest(
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
  ): Promise<{ digest: string; referrers: boolean }>;
  getBlob(digest: string): Promise<Uint8Array>;
  /** The repository's tags (every page of the tags list). */
  listTags(): Promise<string[]>;
  /** Uploads a blob unless the repository has it; returns its digest. */
  pushBlob(bytes: Uint8Array): Promise<string>;
}
