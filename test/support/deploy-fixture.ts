import * as k8s from "@kubernetes/client-node";
import Docker from "dockerode";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  runPipelineBin,
  startPipelineBin,
  type ProcessRun,
  type StartedProcess,
} from "../../pipeline-lib/src/test-support/run-process.js";
import { firstAnswer } from "./node-port.js";
import { snapshotRepository } from "./snapshot-repository.js";
import { acquireCluster, type Cluster } from "../../infra/testbed/cluster.js";
import { keyFileSigner } from "../../pipeline-lib/src/evidence/keys.js";
import { recordEvidence } from "../../pipeline-lib/src/evidence/registry-evidence.js";
import { provenancePredicate } from "../../pipeline-lib/src/evidence/statements.js";
import type { OciArtifactStore } from "../../pipeline-lib/src/registry/image-registry.js";
import { resolveRegistryTarget } from "../../pipeline-lib/src/registry/registry-target.js";
import {
  makeSigningKey,
  type SigningKeyFiles,
} from "../../pipeline-lib/src/test-support/signing-key.js";
import { testRegistry, type TestRegistry } from "./suite-registry.js";

export const ROOT = path.resolve(import.meta.dirname, "../..");

/**
 * The cluster to deploy to, its kubeconfig written into `work` (for KUBECONFIG),
 * and a real registry on loopback that the cluster is told to trust and pull
 * from: the suite's shared one under a path of the caller's own
 * (`registry.repository(name)`), else one of its own (./suite-registry.ts).
 * Dispose of the registry when done.
 */
export async function clusterWithRegistry(work: string): Promise<{
  cluster: Cluster;
  kubeconfigFile: string;
  registry: TestRegistry;
}> {
  const cluster = await acquireCluster();
  const kubeconfigFile = path.join(work, "kubeconfig");
  await writeFile(kubeconfigFile, cluster.kubeConfig.exportConfig(), { mode: 0o600 });
  const registry = await testRegistry();
  try {
    await cluster.trustRegistry(registry.host);
  } catch (error) {
    await registry[Symbol.asyncDispose]();
    throw error;
  }
  return { cluster, kubeconfigFile, registry };
}

/** An image in the test registry, by digest, and the commit it reports on /version. */
export interface PushedImage {
  ref: string;
  commit: string;
}

export type Run = ProcessRun;

/**
 * Everything a deploy test needs, set up once: the cluster (the testbed unless
 * the environment names one), a real registry on loopback that the cluster
 * pulls from, the service image built and pushed by the shipped CLI, and
 * variants of it that fail in the ways a cluster can reveal:
 * - `next`: the same app, a new commit (a new version to roll out);
 * - `crash`: passes every container test, but exits as soon as it runs in
 *   Kubernetes (it sees KUBERNETES_SERVICE_HOST);
 * - `wrongCommit`: gets ready, but reports another commit than the deploy
 *   recorded (the contract's /version check fails).
 * Each carries signed provenance (the key is `signingKey`, which every project
 * trusts), so the deploy gate lets it into test; v1's comes from `pipeline attest`.
 */
export class DeployFixture implements AsyncDisposable {
  private constructor(
    readonly cluster: Cluster,
    readonly kubeconfigFile: string,
    readonly registry: TestRegistry,
    readonly work: string,
    readonly env: NodeJS.ProcessEnv,
    readonly images: {
      v1: PushedImage;
      next: PushedImage;
      crash: PushedImage;
      wrongCommit: PushedImage;
    },
    readonly redisImage: string,
    readonly signingKey: SigningKeyFiles,
    /** The repository snapshot the CLI built v1 in; its build.json records v1. */
    readonly repo: string,
    /** v1 by its content tag: the FROM of every variant. */
    private readonly base: string,
  ) {}

  /**
   * One more variant of v1 for a test of its own (a canary that fails in a
   * particular way): `lines` appended to `FROM v1`, pushed under `tag` and
   * given signed provenance as the fixture's own variants are.
   */
  async addVariant(tag: string, commit: string, lines: string[]): Promise<PushedImage> {
    const [image] = await signedVariants(this.registry, this.env, this.signingKey, this.base, [
      { tag, commit, lines },
    ]);
    return image!;
  }

  static async create(progress: (line: string) => void = () => undefined): Promise<DeployFixture> {
    const work = await mkdtemp(path.join(os.tmpdir(), "pipeline-deploy-"));
    const { cluster, kubeconfigFile, registry } = await clusterWithRegistry(work).catch(
      async (error: unknown) => {
        await rm(work, { recursive: true, force: true });
        throw error;
      },
    );
    try {
      const repo = await snapshotRepository(work);
      const signingKey = await makeSigningKey(path.join(work, "keys"));
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        IMAGE_REPOSITORY: registry.repository("visit-counter"),
        REGISTRY_AUTH: "basic",
        REGISTRY_USERNAME: registry.username,
        REGISTRY_PASSWORD: registry.password,
        TESTCONTAINERS_RYUK_DISABLED: "true",
        PIPELINE_TRIGGERED_BY: "deploy-test",
        KUBECONFIG: kubeconfigFile,
        ...signingKey.env,
      };
      progress("building, pushing and attesting the service image with the CLI");
      for (const step of [["build"], ["push"], ["attest"]]) {
        const run = await runPipeline(step, { env, cwd: repo });
        if (run.code !== 0) throw new Error(`pipeline ${step[0]} failed:\n${run.stderr}`);
      }
      const artifact = JSON.parse(await readFile(path.join(repo, "build.json"), "utf8")) as {
        imageRef: string;
        gitCommit: string;
        repository: string;
        tags: string[];
      };
      const v1: PushedImage = { ref: artifact.imageRef, commit: artifact.gitCommit };
      const base = `${artifact.repository}:${artifact.tags[0]}`;
      const docker = new Docker();
      const credentials = {
        username: registry.username,
        password: registry.password,
        serveraddress: registry.host,
      };
      progress("building, pushing and signing the next version and the broken variants");
      const [next, crash, wrongCommit] = await signedVariants(registry, env, signingKey, base, [
        { tag: "next", commit: "1111111111111111111111111111111111111111", lines: [] },
        {
          tag: "crash",
          commit: "2222222222222222222222222222222222222222",
          lines: [
            // The container tests pass (no Kubernetes there); in a pod it exits at once.
            `CMD ["sh", "-c", "if [ -n \\"$KUBERNETES_SERVICE_HOST\\" ]; then echo 'fatal: cannot load settings from the cluster' >&2; exit 3; fi; exec node service/dist/server.js"]`,
          ],
        },
        {
          // Reports a commit that no deploy records: its provenance says 3333…, /version 0000….
          tag: "wrong",
          commit: "3333333333333333333333333333333333333333",
          lines: [],
          reports: "0000000000000000000000000000000000000000",
        },
      ]);
      const images = { v1, next: next!, crash: crash!, wrongCommit: wrongCommit! };
      const redisLocal = process.env.REDIS_IMAGE ?? "redis:7-bookworm";
      const redisImage = await buildAndPush(
        docker,
        `${registry.repository("redis")}:7`,
        credentials,
        [`FROM ${redisLocal}`],
      );
      return new DeployFixture(
        cluster,
        kubeconfigFile,
        registry,
        work,
        env,
        images,
        redisImage,
        signingKey,
        repo,
        base,
      );
    } catch (error) {
      await registry[Symbol.asyncDispose]();
      await rm(work, { recursive: true, force: true });
      throw error;
    }
  }

  /** A project folder with a config for one namespace, pointing at the repository's manifests and contract. */
  async project(
    namespace: string,
    overrides: {
      replicas?: number;
      lockTimeoutSeconds?: number;
      rolloutTimeoutSeconds?: number;
      manifests?: string;
      /** Another folder for a second config on the same namespace. */
      dirName?: string;
      /** false: no trusted keys and nothing required in test (a deploy without the gate, for the bench). */
      evidence?: false;
      /** A `production` environment too, in this namespace (autoscaled when asked). */
      production?: ProductionOverrides;
    } = {},
  ): Promise<string> {
    const dir = path.join(this.work, `project-${overrides.dirName ?? namespace}`);
    await mkdir(dir, { recursive: true });
    const config = `
app:
  name: visit-counter
  port: 3000
  contract: ${path.join(ROOT, "service/dist/contract/checks.js")}
image:
  repository: ${this.registry.repository("visit-counter")}
  dockerfile: service/Dockerfile
  context: ${ROOT}
registry:
  auth: { provider: basic, usernameEnv: REGISTRY_USERNAME, passwordEnv: REGISTRY_PASSWORD }
evidence:
  trustedKeys: [${overrides.evidence === false ? "" : this.signingKey.publicKeyFile}]
deploy:
  manifests: ${overrides.manifests ?? path.join(ROOT, "k8s")}
  rolloutTimeoutSeconds: ${overrides.rolloutTimeoutSeconds ?? 120}
  lockTimeoutSeconds: ${overrides.lockTimeoutSeconds ?? 120}
  images:
    redis:7-bookworm: ${this.redisImage}
environments:
  test:
    namespace: ${namespace}
    replicas: ${overrides.replicas ?? 2}
    storageClass: standard
    host: ${namespace}.test.local
    service: { type: NodePort }
${overrides.evidence === false ? "    requires: { provenance: false }\n" : ""}${productionEnvironment(overrides.production)}`;
    await writeFile(path.join(dir, "pipeline.config.yaml"), config);
    return dir;
  }

  /** Runs the shipped bin in a project folder, as Jenkins would. */
  run(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
    return runPipeline(args, { env: { ...this.env, ...env }, cwd });
  }

  /** Starts the bin without waiting, for tests that signal it or race it. */
  start(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): StartedRun {
    return startPipeline(args, { env: { ...this.env, ...env }, cwd });
  }

  core(): k8s.CoreV1Api {
    return this.cluster.kubeConfig.makeApiClient(k8s.CoreV1Api);
  }
  apps(): k8s.AppsV1Api {
    return this.cluster.kubeConfig.makeApiClient(k8s.AppsV1Api);
  }

  /** The NodePort of the app's Service: where a visitor's requests go (127.0.0.1). */
  async nodePort(namespace: string): Promise<number> {
    const service = await this.core().readNamespacedService({ name: "visit-counter", namespace });
    const port = service.spec?.ports?.[0]?.nodePort;
    if (!port) throw new Error(`Service ${namespace}/visit-counter has no nodePort`);
    return port;
  }

  /** The app's address through its NodePort on 127.0.0.1, once /readyz answers 200 there (./node-port.ts). */
  async visitorBase(namespace: string, timeoutMs = 30_000): Promise<string> {
    const base = `http://127.0.0.1:${await this.nodePort(namespace)}`;
    await (await firstAnswer(`${base}/readyz`, timeoutMs)).body?.cancel();
    return base;
  }

  async deleteNamespace(namespace: string): Promise<void> {
    await this.core()
      .deleteNamespace({ name: namespace })
      .catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.registry[Symbol.asyncDispose]();
    await rm(this.work, { recursive: true, force: true });
  }
}

/** The `production` environment of a fixture project. */
export interface ProductionOverrides {
  namespace: string;
  autoscaling?: { minReplicas: number; maxReplicas: number };
  replicas?: number;
  /** A NodePort Service, so that a test can be a visitor on 127.0.0.1. */
  nodePort?: boolean;
  /** The `strategy:` block, as YAML indented for its place under the environment. */
  strategy?: string;
}

function productionEnvironment(production: ProductionOverrides | undefined): string {
  if (!production) return "";
  const { namespace, autoscaling, replicas, nodePort, strategy } = production;
  // Provenance only: these tests are about rollouts, not the production gate
  // (test/evidence/production-gate.test.ts holds production to its defaults).
  return `  production:
    namespace: ${namespace}
    requires: { provenance: true }
    storageClass: standard
    host: ${namespace}.test.local
${autoscaling ? `    autoscaling: { minReplicas: ${autoscaling.minReplicas}, maxReplicas: ${autoscaling.maxReplicas} }\n` : ""}${replicas ? `    replicas: ${replicas}\n` : ""}${nodePort ? "    service: { type: NodePort }\n" : ""}${strategy ? `    strategy:\n${strategy}\n` : ""}`;
}

interface VariantSpec {
  tag: string;
  /** The commit its provenance records (and, unless `reports` says otherwise, its /version). */
  commit: string;
  lines: string[];
  /** The commit /version reports, when it should differ from `commit`. */
  reports?: string;
}

/** Builds each variant `FROM base` with its lines, pushes it and signs its provenance. */
async function signedVariants(
  registry: TestRegistry,
  env: NodeJS.ProcessEnv,
  signingKey: SigningKeyFiles,
  base: string,
  specs: VariantSpec[],
): Promise<PushedImage[]> {
  const docker = new Docker();
  const credentials = {
    username: registry.username,
    password: registry.password,
    serveraddress: registry.host,
  };
  const repository = registry.repository("visit-counter");
  const store = evidenceStore(repository, env);
  const signer = await keyFileSigner(signingKey.privateKeyFile);
  const images: PushedImage[] = [];
  for (const { tag, commit, lines, reports } of specs) {
    const ref = await buildAndPush(docker, `${repository}:${tag}`, credentials, [
      `FROM ${base}`,
      `ENV GIT_COMMIT=${reports ?? commit}`,
      ...(reports ? [] : [`LABEL org.opencontainers.image.revision=${commit}`]),
      ...lines,
    ]);
    const digest = ref.slice(ref.indexOf("@") + 1);
    await recordEvidence(
      store,
      digest,
      [{ kind: "provenance", predicate: fixtureProvenance(repository, digest, commit) }],
      signer,
    );
    images.push({ ref, commit });
  }
  return images;
}

/** Where a repository's evidence lives, reached with the basic auth in REGISTRY_USERNAME / REGISTRY_PASSWORD. */
export function evidenceStore(repository: string, env: NodeJS.ProcessEnv): OciArtifactStore {
  return resolveRegistryTarget(
    {
      image: { repository } as never,
      registry: {
        auth: {
          provider: "basic",
          usernameEnv: "REGISTRY_USERNAME",
          passwordEnv: "REGISTRY_PASSWORD",
        },
      },
    },
    env,
  ).artifacts;
}

/** Signed provenance for a fixture image that was built outside the CLI. */
export function fixtureProvenance(
  repository: string,
  digest: string,
  commit: string,
  { builderId = "deploy-fixture", sourceUrl }: { builderId?: string; sourceUrl?: string } = {},
) {
  const now = new Date().toISOString();
  return provenancePredicate({
    repository,
    digest,
    builderId,
    buildUrl: undefined,
    buildNumber: undefined,
    sourceUrl,
    branch: "develop",
    commit,
    treeHash: "0".repeat(40),
    baseImages: [],
    lockfile: undefined,
    imageId: undefined,
    startedOn: now,
    finishedOn: now,
  });
}

/** Requests a visitor would make, in a loop, counting every failure, until stopped. */
export class RequestLoop {
  ok = 0;
  readonly failures: string[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(url: string, { intervalMs = 50, maxRequests = 20_000 } = {}) {
    this.#done = (async () => {
      for (let i = 0; this.#running && i < maxRequests; i++) {
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
          await response.arrayBuffer();
          if (response.status === 200) this.ok++;
          else this.failures.push(`HTTP ${response.status}`);
        } catch (error) {
          this.failures.push(String((error as Error).cause ?? error));
        }
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
  }

  async stop(): Promise<this> {
    this.#running = false;
    await this.#done;
    return this;
  }
}

export type StartedRun = StartedProcess;

function startPipeline(args: string[], options: { env: NodeJS.ProcessEnv; cwd: string }) {
  return startPipelineBin(args, options);
}

function runPipeline(args: string[], options: { env: NodeJS.ProcessEnv; cwd: string }) {
  return runPipelineBin(args, options);
}

/** `docker build` of a Dockerfile with no context, then a push; resolves to `repository@digest`. */
export async function buildAndPush(
  docker: Docker,
  tagged: string,
  authconfig: { username: string; password: string; serveraddress: string },
  dockerfile: string[],
): Promise<string> {
  execFileSync("docker", ["build", "-q", "-t", tagged, "-"], {
    input: `${dockerfile.join("\n")}\n`,
    stdio: ["pipe", "ignore", "pipe"],
  });
  const [repository, tag] = [
    tagged.slice(0, tagged.lastIndexOf(":")),
    tagged.slice(tagged.lastIndexOf(":") + 1),
  ];
  const stream = await docker.getImage(repository).push({ tag, authconfig });
  let digest: string | undefined;
  let failure: string | undefined;
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (error: Error | null) => (error ? reject(error) : resolve()),
      (event: { aux?: { Digest?: string }; error?: string }) => {
        if (event.aux?.Digest) digest = event.aux.Digest;
        if (event.error) failure = event.error;
      },
    ),
  );
  if (failure || !digest) throw new Error(`push of ${tagged} failed: ${failure ?? "no digest"}`);
  return `${repository}@${digest}`;
}
