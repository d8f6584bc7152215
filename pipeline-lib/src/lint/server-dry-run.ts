import type { PipelineConfig } from "../config/schema.js";
import { connectEnvironment, type EnvironmentOptions } from "../deploy/environment-target.js";
import { namespaceExists } from "../deploy/namespace-exists.js";
import { renderManifests } from "../deploy/render-manifests.js";
import { applyObjects, ApplyRejected, objectRef } from "../kube/apply.js";
import type { Reporter } from "../output/reporter.js";
import type { Finding } from "./finding.js";
import type { ParsedManifest } from "./manifest-rules.js";

/** No image is pulled in a dry run; the digest only has to look like one. */
const PLACEHOLDER_DIGEST = `sha256:${"0".repeat(64)}`;

/**
 * Renders the manifests for the environment as `pipeline deploy` would and
 * asks its API server to validate, default and admit every object without
 * storing any (dryRun=All, strict field validation): admission policies such
 * as Pod Security show up here and nowhere offline.
 */
export async function serverDryRun(
  config: PipelineConfig,
  manifests: readonly ParsedManifest[],
  options: EnvironmentOptions,
  { env, reporter, signal }: { env: NodeJS.ProcessEnv; reporter: Reporter; signal?: AbortSignal },
): Promise<Finding[]> {
  const target = await connectEnvironment(config, options, { env, reporter });
  const rendered = renderManifests(manifests, {
    config,
    environmentName: target.name,
    environment: target.environment,
    release: {
      image: `${config.image.repository}@${PLACEHOLDER_DIGEST}`,
      commit: undefined,
      buildUrl: undefined,
      triggeredBy: "pipeline lint",
      deployedAt: new Date().toISOString(),
    },
  });
  const sourceOf = (ref: string) => {
    const found = manifests.find(
      (m) =>
        objectRef({
          ...m.object,
          metadata: { ...m.object.metadata, namespace: rendered.namespace },
        }) === ref,
    );
    const [file = config.deploy.manifests, line = "1"] = (found?.source ?? "").split(/:(?=\d+$)/);
    return { file: file || config.deploy.manifests, line: Number(line) || 1 };
  };
  if (!(await namespaceExists(target.kubeConfig, rendered.namespace))) {
    return [
      {
        file: config.deploy.manifests,
        line: 1,
        rule: "k8s/server-dry-run",
        severity: "warning",
        message: `namespace ${rendered.namespace} does not exist on ${target.cluster}; nothing was dry-run (the first deploy creates it)`,
      },
    ];
  }
  reporter.progress(
    `server-side dry run of ${rendered.objects.length} objects in namespace ${rendered.namespace}`,
  );
  try {
    await applyObjects(target.kubeConfig, rendered.objects, { dryRun: true, signal });
    return [];
  } catch (error) {
    if (!(error instanceof ApplyRejected)) throw error;
    return error.rejections.map((r) => ({
      ...sourceOf(r.ref),
      rule: "k8s/server-dry-run",
      severity: "error" as const,
      message: `the API server of ${target.cluster} would reject ${r.ref}: ${r.message}`,
    }));
  }
}
