import { requirementsFor, type EnvironmentName, type PipelineConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { resolveRegistryTarget, type RegistryTargetDeps } from "../registry/registry-target.js";
import { loadTrustedKeys } from "./keys.js";
import {
  evaluateEvidence,
  summarizeEvidence,
  type EvidenceRequirements,
  type EvidenceSummary,
  type EvidenceVerdict,
} from "./policy.js";
import { readEvidence } from "./registry-evidence.js";

export interface GateResult {
  image: string;
  environment: EnvironmentName;
  requirements: EvidenceRequirements;
  summary: EvidenceSummary;
  verdict: EvidenceVerdict;
}

/** `repo@sha256:…` ⇒ its repository and digest (a tag before the @ is dropped). */
export function splitImage(image: string): { repository: string; digest: string } {
  const at = image.lastIndexOf("@");
  const digest = image.slice(at + 1);
  if (at < 0 || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new ConfigError(`image ${image} is not named by digest (repository@sha256:…)`);
  }
  const name = image.slice(0, at);
  const lastSlash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  return { repository: colon > lastSlash ? name.slice(0, colon) : name, digest };
}

/**
 * The deploy gate: reads the image's signed evidence from its repository and
 * holds it to what the environment requires (pure evaluation in policy.ts).
 */
export async function checkImageEvidence(
  config: PipelineConfig,
  env: NodeJS.ProcessEnv,
  environment: EnvironmentName,
  image: string,
  deps: RegistryTargetDeps = {},
): Promise<GateResult> {
  const requirements = requirementsFor(environment, config.environments[environment]);
  const { repository, digest } = splitImage(image);
  const needsAny =
    requirements.provenance ||
    requirements.sbom ||
    requirements.tests ||
    requirements.verifiedIn.length > 0;
  const trusted =
    needsAny || config.evidence.trustedKeys.length > 0 ? await loadTrustedKeys(config) : [];
  if (!needsAny && trusted.length === 0) {
    // Nothing required and nothing to trust: nothing to read.
    const summary = summarizeEvidence(digest, []);
    return { image, environment, requirements, summary, verdict: { ok: true, missing: [] } };
  }
  if (needsAny && trusted.length === 0) {
    throw new ConfigError(
      `${config.file}: evidence.trustedKeys is empty, so no evidence can be trusted and ${environment} ` +
        'accepts no image; list the team\'s public key there (README, "Signing keys")',
    );
  }
  const store = resolveRegistryTarget(config, env, deps, repository).artifacts;
  const summary = await readEvidence(store, digest, trusted);
  const verdict = evaluateEvidence(summary, requirements, { sourceUrl: config.app.sourceUrl });
  return { image, environment, requirements, summary, verdict };
}

/** One line: what the image carries, for the log, the Deployment and `history`. */
export function describeEvidence(summary: EvidenceSummary): string {
  const parts: string[] = [];
  const built = summary.builtFrom;
  if (built) {
    parts.push(
      `built from ${built.commit?.slice(0, 12) ?? "?"}${built.ref ? ` (${built.ref})` : ""}` +
        (built.buildUrl ? ` by ${built.buildUrl}` : built.builder ? ` by ${built.builder}` : ""),
    );
  }
  if (summary.accepted.some((a) => a.kind === "sbom")) parts.push("SBOM");
  if (summary.tests)
    parts.push(
      `tests ${summary.tests.result} (${summary.tests.passed} passed, ${summary.tests.failed} failed)`,
    );
  for (const v of summary.verifiedIn) {
    parts.push(
      `verified in ${v.environment}${v.buildUrl ? ` by ${v.buildUrl}` : ""}${v.at ? ` at ${v.at}` : ""}`,
    );
  }
  return parts.length > 0 ? parts.join("; ") : "no signed evidence";
}

/** The one-line refusal: what is missing or wrong, and how to get it. */
export function refusal(gate: GateResult): string {
  const rejected = gate.summary.rejected.map((r) => `${r.kind}: ${r.reason}`);
  return (
    `${gate.image} lacks what ${gate.environment} requires: ${gate.verdict.missing.join("; ")}` +
    (rejected.length > 0 ? ` (not accepted: ${rejected.join("; ")})` : "")
  );
}
