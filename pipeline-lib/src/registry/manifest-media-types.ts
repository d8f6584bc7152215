/**
 * Every manifest format we accept. Asking for all of them keeps registries
 * from converting what they store (which would change the digest).
 */
export const MANIFEST_MEDIA_TYPES = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
] as const;
