import Docker from "dockerode";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { readArtifact } from "../artifact/build-artifact.js";
import { builderId } from "../ci/ci-env.js";
import type { PipelineConfig } from "../config/schema.js";
import { ConfigError, StageError, UsageError } from "../errors.js";
import type { EvidenceSigner } from "../evidence/envelope.js";
import { signerFromEnv } from "../evidence/keys.js";
import { recordEvidence } from "../evidence/registry-evidence.js";
import { imageSbom } from "../evidence/sbom.js";
import {
  provenancePredicate,
  testResultPredicate,
  type EvidenceKind,
} from "../evidence/statements.js";
import { resolveRegistryTarget, type RegistryTargetDeps } from "../registry/registry-target.js";
import type { CommandContext } from "./context.js";

export interface AttestOptions {
  artifact: string;
}

export interface AttestDeps extends RegistryTargetDeps {
  docker: Docker;
  /** Replaces the key file signer (an AWS KMS signer, say). */
  signer: EvidenceSigner;
}

export interface AttestResult {
  image: string;
  recorded: EvidenceKind[];
  added: number;
  skipped: number;
  referrers: boolean;
}

/**
 * Signs the evidence of a pushed image and stores it beside the image:
 * provenance (where and from what it was built), its SBOM, and the contract
 * checks `pipeline test` ran against it. Runs only where the signing key is
 * bound (develop and master, never a pull request). A reused image carries
 * the evidence of the build that made it; nothing is signed again.
 */
export async function attest(
  options: AttestOptions,
  ctx: CommandContext,
  deps: Partial<AttestDeps> = {},
): Promise<AttestResult> {
  const { reporter } = ctx;
  const config = await ctx.config();
  const file = path.resolve(ctx.cwd, options.artifact);
  const artifact = await readArtifact(file);
  if (!artifact.digest || !artifact.imageRef) {
    throw new UsageError(`${file} records no pushed image: run \`pipeline push\` first`);
  }
  const image = artifact.imageRef;
  if (artifact.reused) {
    reporter.result(
      `${image} was reused from the registry; its evidence is the one its first build signed, nothing to sign`,
      { image, recorded: [], added: 0, skipped: 0, referrers: false, reused: true },
    );
    return { image, recorded: [], added: 0, skipped: 0, referrers: false };
  }
  const signer = deps.signer ?? (await signerFromEnv(config, ctx.env));
  if (!signer) {
    throw new ConfigError(
      `no signing key: set ${config.evidence.signingKeyEnv} to the private key file ` +
        '(Jenkins: the file credential pipeline-signing-key, bound on develop and master only; README, "Signing keys")',
    );
  }
  if (!artifact.imageId) {
    throw new UsageError(
      `${file} records no local image id; run \`pipeline build\` on this agent first`,
    );
  }
  const target = resolveRegistryTarget(config, ctx.env, deps, artifact.repository);
  const store = target.artifacts;

  // The pushed manifest must be the image that was built and tested here.
  reporter.progress(
    `checking that ${image} is the image ${artifact.imageId.slice(0, 19)} built here`,
  );
  const manifest = await store.getManifest(artifact.digest);
  if (!manifest)
    throw new StageError(`${image} is not in the registry; run \`pipeline push\` again`);
  const configDigest = (
    JSON.parse(Buffer.from(manifest.bytes).toString("utf8")) as { config?: { digest?: string } }
  ).config?.digest;
  if (configDigest !== artifact.imageId) {
    throw new StageError(
      `${image} has image config ${configDigest ?? "none"}, not ${artifact.imageId}, the image built and tested here; ` +
        "refusing to sign evidence for it",
    );
  }

  const docker = deps.docker ?? new Docker();
  const predicates: { kind: EvidenceKind; predicate: Record<string, unknown> }[] = [];
  // The SBOM reads the image through the engine meanwhile: the slowest piece.
  reporter.progress(`reading what ${artifact.imageId.slice(0, 19)} contains for its SBOM`);
  const sbom = imageSbom(
    docker,
    artifact.imageId,
    { name: artifact.repository, digest: artifact.digest, version: artifact.version },
    // The same image gives the same SBOM, so attesting again stores nothing twice.
    { timestamp: new Date(artifact.builtAt), serialNumber: uuidFrom(artifact.digest) },
  );
  sbom.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
  reporter.progress("writing the build provenance");
  predicates.push({
    kind: "provenance",
    predicate: provenancePredicate({
      repository: artifact.repository,
      digest: artifact.digest,
      builderId: builderId(ctx.env),
      buildUrl: artifact.buildUrl,
      buildNumber: artifact.buildNumber,
      sourceUrl: config.app.sourceUrl,
      branch: artifact.branch,
      commit: artifact.gitCommit,
      treeHash: artifact.treeHash,
      baseImages: await baseImages(docker, config),
      lockfile: await lockfile(config),
      imageId: artifact.imageId,
      startedOn: artifact.builtAt,
      finishedOn: artifact.pushedAt ?? artifact.builtAt,
    }),
  });
  predicates.push({ kind: "sbom", predicate: await sbom });
  if (artifact.tests && artifact.tests.imageId === artifact.imageId) {
    predicates.push({
      kind: "tests",
      predicate: testResultPredicate({
        checks: artifact.tests.checks,
        buildUrl: artifact.buildUrl,
        imageId: artifact.imageId,
        finishedAt: artifact.tests.finishedAt,
      }),
    });
  } else {
    reporter.warn(
      `${file} records no \`pipeline test\` run against ${artifact.imageId.slice(0, 19)}; ` +
        "no test results are signed, so production will not accept this image",
    );
  }

  reporter.progress(`signing ${predicates.length} statements and storing them beside ${image}`);
  const stored = await recordEvidence(store, artifact.digest, predicates, signer, manifest);
  const recorded = predicates.map((p) => p.kind);
  const result: AttestResult = { image, recorded, ...stored };
  reporter.result(
    `signed ${recorded.join(", ")} for ${image}: ${stored.added} added, ${stored.skipped} already there` +
      ` (${store.repository}:${artifact.digest.replace(":", "-")}.att${stored.referrers ? ", and as OCI referrers" : ""})`,
    result,
  );
  return result;
}

async function baseImages(
  docker: Docker,
  config: PipelineConfig,
): Promise<{ name: string; digest: string | undefined }[]> {
  const names = Object.entries(config.image.buildArgs)
    .filter(([name]) => /_IMAGE$/.test(name))
    .map(([, value]) => value);
  const found = [];
  for (const name of names) {
    const info = await docker
      .getImage(name)
      .inspect()
      .catch(() => undefined);
    const repoDigest = info?.RepoDigests?.[0]?.split("@")[1];
    found.push({ name, digest: repoDigest ?? info?.Id });
  }
  return found;
}

async function lockfile(
  config: PipelineConfig,
): Promise<{ path: string; sha256: string } | undefined> {
  const file = path.join(config.image.contextDir, "package-lock.json");
  const bytes = await readFile(file).catch(() => undefined);
  return (
    bytes && { path: "package-lock.json", sha256: createHash("sha256").update(bytes).digest("hex") }
  );
}

/** A stable `urn:uuid:` (RFC 4122 layout) derived from a digest. */
function uuidFrom(digest: string): string {
  const hex = createHash("sha256").update(digest).digest("hex");
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
