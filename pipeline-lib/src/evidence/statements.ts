/**
 * The evidence pipeline-lib signs, as in-toto Statements v1 about one image
 * digest: plain data in, plain data out. Each predicate is a published
 * format, so the tools people already run can read it:
 * - provenance: SLSA Provenance v1, written when the image is pushed;
 * - sbom: CycloneDX 1.6 JSON, what the image contains;
 * - tests: in-toto Test Result v0.1, the contract checks `pipeline test` ran
 *   against that image (with each check's duration as an extension);
 * - verification: SLSA Verification Summary v1, written only when
 *   `pipeline verify` passed in an environment (which environment,
 *   namespace and checks are extensions).
 */
export const PREDICATE_TYPES = {
  provenance: "https://slsa.dev/provenance/v1",
  sbom: "https://cyclonedx.org/bom",
  tests: "https://in-toto.io/attestation/test-result/v0.1",
  verification: "https://slsa.dev/verification_summary/v1",
} as const;
export type EvidenceKind = keyof typeof PREDICATE_TYPES;
export const EVIDENCE_KINDS = Object.keys(PREDICATE_TYPES) as EvidenceKind[];

/** The `buildType` of our provenance and the `verifier.id` / `policy.uri` of our summaries. */
export const BUILD_TYPE = "https://pipeline-lib.dev/build/docker/v1";
export const VERIFY_POLICY = "https://pipeline-lib.dev/verify/contract/v1";

export interface Statement {
  /** We write v1; cosign v2 writes v0.1, which has the same fields. */
  _type: "https://in-toto.io/Statement/v1" | "https://in-toto.io/Statement/v0.1";
  subject: { name: string; digest: Record<string, string> }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

export function kindOf(predicateType: string): EvidenceKind | undefined {
  return EVIDENCE_KINDS.find((k) => PREDICATE_TYPES[k] === predicateType);
}

/** `127.0.0.1:5000/app` and `sha256:<hex>` ⇒ the one subject every statement names. */
export function statement(
  repository: string,
  digest: string,
  kind: EvidenceKind,
  predicate: Record<string, unknown>,
): Statement {
  return {
    _type: "https://in-toto.io/Statement/v1",
    subject: [{ name: repository, digest: { sha256: hexOf(digest) } }],
    predicateType: PREDICATE_TYPES[kind],
    predicate,
  };
}

/** The digest a statement is about, `sha256:<hex>`, when it names exactly one. */
export function subjectDigest(s: Statement): string | undefined {
  const hex = s.subject.length === 1 ? s.subject[0]?.digest.sha256 : undefined;
  return hex ? `sha256:${hex}` : undefined;
}

export interface BuildFacts {
  repository: string;
  digest: string;
  /** Who built it: the Jenkins job URL, or `local:<user>@<host>` outside Jenkins. */
  builderId: string;
  buildUrl: string | undefined;
  buildNumber: string | undefined;
  /** The source: repository URL, ref (branch) and commit. */
  sourceUrl: string | undefined;
  branch: string | undefined;
  commit: string | undefined;
  treeHash: string;
  /** Base images resolved at build time, by digest when known. */
  baseImages: { name: string; digest: string | undefined }[];
  /** The lockfile's SHA-256 (hex), the app's resolved npm dependencies. */
  lockfile: { path: string; sha256: string } | undefined;
  /** The local image id (its config digest), tying this statement to what `test` ran. */
  imageId: string | undefined;
  startedOn: string;
  finishedOn: string;
}

/** SLSA Provenance v1 for one pushed image. */
export function provenancePredicate(f: BuildFacts): Record<string, unknown> {
  const dependencies: Record<string, unknown>[] = [];
  if (f.sourceUrl && f.commit) {
    dependencies.push({
      uri: `git+${f.sourceUrl}${f.branch ? `@refs/heads/${f.branch}` : ""}`,
      digest: { gitCommit: f.commit },
    });
  }
  for (const base of f.baseImages) {
    dependencies.push({
      uri: base.name,
      ...(base.digest ? { digest: { sha256: hexOf(base.digest) } } : {}),
      annotations: { role: "base image" },
    });
  }
  if (f.lockfile)
    dependencies.push({ name: f.lockfile.path, digest: { sha256: f.lockfile.sha256 } });
  return {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: {
        source: { repository: f.sourceUrl, ref: f.branch, commit: f.commit },
        treeHash: f.treeHash,
      },
      internalParameters: { ...(f.imageId ? { imageId: f.imageId } : {}) },
      resolvedDependencies: dependencies,
    },
    runDetails: {
      builder: { id: f.builderId },
      metadata: {
        ...(f.buildUrl ? { invocationId: f.buildUrl } : {}),
        startedOn: f.startedOn,
        finishedOn: f.finishedOn,
      },
    },
  };
}

export interface CheckOutcome {
  name: string;
  passed: boolean;
  durationMs: number;
  failure?: string | undefined;
}

/** in-toto Test Result v0.1 for the contract checks run against one image. */
export function testResultPredicate(input: {
  checks: readonly CheckOutcome[];
  buildUrl: string | undefined;
  imageId: string | undefined;
  finishedAt: string;
}): Record<string, unknown> {
  const passed = input.checks.filter((c) => c.passed).map((c) => c.name);
  const failed = input.checks.filter((c) => !c.passed).map((c) => c.name);
  return {
    result: failed.length === 0 && passed.length > 0 ? "PASSED" : "FAILED",
    configuration: [{ name: "contract checks", uri: "pipeline test" }],
    ...(input.buildUrl ? { url: input.buildUrl } : {}),
    passedTests: passed,
    warnedTests: [],
    failedTests: failed,
    // Extensions: what each check took, where and when it ran.
    tests: input.checks.map((c) => ({
      name: c.name,
      outcome: c.passed ? "passed" : "failed",
      durationMs: Math.round(c.durationMs),
      ...(c.failure ? { failure: c.failure } : {}),
    })),
    ...(input.imageId ? { imageId: input.imageId } : {}),
    finishedAt: input.finishedAt,
  };
}

/** SLSA Verification Summary v1: this digest passed `pipeline verify` in one environment. */
export function verificationPredicate(input: {
  repository: string;
  digest: string;
  verifierId: string;
  environment: string;
  namespace: string;
  checks: readonly CheckOutcome[];
  buildUrl: string | undefined;
  verifiedAt: string;
}): Record<string, unknown> {
  return {
    verifier: { id: input.verifierId },
    timeVerified: input.verifiedAt,
    resourceUri: `${input.repository}@${input.digest}`,
    policy: { uri: VERIFY_POLICY },
    verificationResult:
      input.checks.length > 0 && input.checks.every((c) => c.passed) ? "PASSED" : "FAILED",
    verifiedLevels: [],
    slsaVersion: "1.0",
    // Extensions: where it was verified, by which build, with which checks.
    environment: input.environment,
    namespace: input.namespace,
    ...(input.buildUrl ? { buildUrl: input.buildUrl } : {}),
    checks: input.checks.map((c) => ({
      name: c.name,
      outcome: c.passed ? "passed" : "failed",
      durationMs: Math.round(c.durationMs),
    })),
  };
}

function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, "");
}
