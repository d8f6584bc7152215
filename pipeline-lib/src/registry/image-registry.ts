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
