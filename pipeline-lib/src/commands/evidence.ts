import path from "node:path";
import { readArtifact } from "../artifact/build-artifact.js";
import { ENVIRONMENT_NAMES, type EnvironmentName } from "../config/schema.js";
import { StageError, UsageError } from "../errors.js";
import { checkImageEvidence, describeEvidence, type GateResult } from "../evidence/gate.js";
import type { RegistryTargetDeps } from "../registry/registry-target.js";
import type { CommandContext } from "./context.js";

export interface EvidenceOptions {
  /** `repository@sha256:…`; by default the pushed image in the build artifact. */
  image?: string | undefined;
  artifact: string;
  /** Also judge it against this environment's requirements (exit 1 when it falls short). */
  env?: string | undefined;
}

export interface EvidenceReport {
  image: string;
  summary: GateResult["summary"];
  environment?: EnvironmentName;
  verdict?: GateResult["verdict"];
}

/**
 * Prints the signed evidence the registry holds for an image, each piece
 * checked against the trusted keys: what was accepted (provenance, SBOM, test
 * results, verifications) and what was not, and why. With `--env`, also
 * whether that environment's deploy gate would let it through.
 */
export async function evidence(
  options: EvidenceOptions,
  ctx: CommandContext,
  deps: RegistryTargetDeps = {},
): Promise<EvidenceReport> {
  const config = await ctx.config();
  const image = options.image ?? (await imageFromArtifact(ctx, options.artifact));
  if (
    options.env !== undefined &&
    !(ENVIRONMENT_NAMES as readonly string[]).includes(options.env)
  ) {
    throw new UsageError(
      `--env ${options.env} is not an environment; use ${ENVIRONMENT_NAMES.join(" or ")}`,
    );
  }
  const environment = (options.env ?? "production") as EnvironmentName;
  ctx.reporter.progress(`reading the evidence stored for ${image}`);
  const gate = await checkImageEvidence(config, ctx.env, environment, image, deps);
  const { summary } = gate;
  const lines = [
    `${image}`,
    `  ${describeEvidence(summary)}`,
    ...summary.accepted.map(
      (a) =>
        `  accepted  ${a.kind.padEnd(12)} ${a.statement.predicateType}  key ${a.keyId.slice(0, 16)}`,
    ),
    ...summary.rejected.map((r) => `  REJECTED  ${r.kind.padEnd(12)} ${r.reason}`),
  ];
  if (options.env !== undefined) {
    lines.push(
      gate.verdict.ok
        ? `  ${environment}: the deploy gate accepts it`
        : `  ${environment}: the deploy gate refuses it: ${gate.verdict.missing.join("; ")}`,
    );
  }
  const report: EvidenceReport = {
    image,
    summary,
    ...(options.env !== undefined ? { environment, verdict: gate.verdict } : {}),
  };
  ctx.reporter.result(lines.join("\n"), {
    image,
    digest: summary.digest,
    description: describeEvidence(summary),
    accepted: summary.accepted.map((a) => ({
      kind: a.kind,
      predicateType: a.statement.predicateType,
      keyId: a.keyId,
      // An SBOM lists hundreds of packages: its size here, its body in the registry.
      predicate:
        a.kind === "sbom"
          ? { components: (a.statement.predicate.components as unknown[] | undefined)?.length ?? 0 }
          : a.statement.predicate,
    })),
    rejected: summary.rejected,
    builtFrom: summary.builtFrom,
    tests: summary.tests,
    verifiedIn: summary.verifiedIn,
    ...(report.verdict ? { environment, verdict: report.verdict } : {}),
  });
  if (report.verdict && !report.verdict.ok) {
    throw new StageError(`${image} does not meet what ${environment} requires`);
  }
  return report;
}

async function imageFromArtifact(ctx: CommandContext, file: string): Promise<string> {
  const artifact = await readArtifact(path.resolve(ctx.cwd, file));
  if (!artifact.imageRef) {
    throw new UsageError(
      `${file} records no pushed image: run \`pipeline push\` first, or pass --image`,
    );
  }
  return artifact.imageRef;
}
