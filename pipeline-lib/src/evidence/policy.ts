import type { EnvelopeCheck } from "./envelope.js";
import { kindOf, subjectDigest, type EvidenceKind, type Statement } from "./statements.js";

/** What an environment requires of an image before `deploy` applies anything. */
export interface EvidenceRequirements {
  provenance: boolean;
  sbom: boolean;
  tests: boolean;
  /** Environments the digest must have passed `pipeline verify` in. */
  verifiedIn: readonly string[];
}

/** One signed statement that a trusted key signed, about this digest. */
export interface AcceptedEvidence {
  kind: EvidenceKind;
  statement: Statement;
  keyId: string;
}

/** What the registry holds for one digest, each piece checked. */
export interface EvidenceSummary {
  digest: string;
  accepted: AcceptedEvidence[];
  /** Pieces that were there but not accepted, and why. */
  rejected: { kind: string; reason: string }[];
  /** From the provenance: the commit the image was built from, where and by whom. */
  builtFrom:
    | { commit?: string; repository?: string; ref?: string; buildUrl?: string; builder?: string }
    | undefined;
  tests: { result: string; passed: number; failed: number; buildUrl?: string } | undefined;
  verifiedIn: { environment: string; namespace?: string; buildUrl?: string; at?: string }[];
}

/** A stored attestation layer: its declared predicate type and the check of its envelope. */
export interface CheckedLayer {
  predicateType: string | undefined;
  check: EnvelopeCheck;
}

/** Sorts what was found for `digest` into accepted and rejected, and reads the facts people ask about. */
export function summarizeEvidence(
  digest: string,
  layers: readonly CheckedLayer[],
): EvidenceSummary {
  const accepted: AcceptedEvidence[] = [];
  const rejected: EvidenceSummary["rejected"] = [];
  for (const { predicateType, check } of layers) {
    const declared = (predicateType && kindOf(predicateType)) ?? predicateType ?? "attestation";
    if (!check.ok) {
      rejected.push({ kind: declared, reason: check.reason });
      continue;
    }
    const kind = kindOf(check.statement.predicateType);
    const about = subjectDigest(check.statement);
    if (!kind) continue; // someone else's predicate: not ours to judge
    if (about !== digest) {
      rejected.push({ kind, reason: `it is about ${about ?? "several images"}, not ${digest}` });
      continue;
    }
    accepted.push({ kind, statement: check.statement, keyId: check.keyId });
  }
  const latest = (kind: EvidenceKind) =>
    accepted.filter((a) => a.kind === kind).at(-1)?.statement.predicate;
  const provenance = latest("provenance") as ProvenanceShape | undefined;
  const tests = latest("tests") as TestsShape | undefined;
  return {
    digest,
    accepted,
    rejected,
    builtFrom: provenance && {
      ...defined({
        commit: provenance.buildDefinition?.externalParameters?.source?.commit,
        repository: provenance.buildDefinition?.externalParameters?.source?.repository,
        ref: provenance.buildDefinition?.externalParameters?.source?.ref,
        buildUrl: provenance.runDetails?.metadata?.invocationId,
        builder: provenance.runDetails?.builder?.id,
      }),
    },
    tests: tests && {
      result: String(tests.result),
      passed: tests.passedTests?.length ?? 0,
      failed: tests.failedTests?.length ?? 0,
      ...defined({ buildUrl: tests.url }),
    },
    verifiedIn: accepted
      .filter((a) => a.kind === "verification")
      .map((a) => a.statement.predicate as VerificationShape)
      .filter((v) => v.verificationResult === "PASSED" && typeof v.environment === "string")
      .map((v) => ({
        environment: v.environment!,
        ...defined({ namespace: v.namespace, buildUrl: v.buildUrl, at: v.timeVerified }),
      })),
  };
}

export interface EvidenceVerdict {
  ok: boolean;
  /** One line per requirement not met, each saying how to meet it. */
  missing: string[];
}

/** Holds a summary to an environment's requirements; pure. */
export function evaluateEvidence(
  summary: EvidenceSummary,
  requirements: EvidenceRequirements,
  { sourceUrl }: { sourceUrl?: string | undefined } = {},
): EvidenceVerdict {
  const missing: string[] = [];
  const has = (kind: EvidenceKind) => summary.accepted.some((a) => a.kind === kind);
  if (requirements.provenance) {
    if (!has("provenance")) {
      missing.push(
        "signed build provenance: push it from a develop or master build with the signing key (`pipeline attest`)",
      );
    } else if (sourceUrl && summary.builtFrom?.repository !== sourceUrl) {
      missing.push(
        `provenance from ${sourceUrl}: this image was built from ${summary.builtFrom?.repository ?? "an unnamed repository"}`,
      );
    }
  }
  if (requirements.sbom && !has("sbom")) {
    missing.push("a signed SBOM: `pipeline attest` writes it with the provenance");
  }
  if (requirements.tests && summary.tests?.result !== "PASSED") {
    missing.push(
      summary.tests
        ? `passed tests: the signed test results say ${summary.tests.result}`
        : "signed test results: run `pipeline test` on this image, then `pipeline attest`",
    );
  }
  for (const environment of requirements.verifiedIn) {
    if (!summary.verifiedIn.some((v) => v.environment === environment)) {
      missing.push(
        `a passed verification in ${environment}: deploy it there and run \`pipeline verify --env ${environment}\` with the signing key`,
      );
    }
  }
  return { ok: missing.length === 0, missing };
}

interface ProvenanceShape {
  buildDefinition?: {
    externalParameters?: { source?: { repository?: string; ref?: string; commit?: string } };
  };
  runDetails?: { builder?: { id?: string }; metadata?: { invocationId?: string } };
}
interface TestsShape {
  result?: unknown;
  passedTests?: unknown[];
  failedTests?: unknown[];
  url?: string;
}
interface VerificationShape {
  verificationResult?: string;
  environment?: string;
  namespace?: string;
  buildUrl?: string;
  timeVerified?: string;
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined && v !== ""),
  ) as Partial<T>;
}
