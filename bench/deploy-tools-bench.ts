/**
 * `pipeline deploy` against `kubectl` and Helm, in one run on the testbed (or
 * the cluster KUBECONFIG names), with the same image, the same rendered
 * manifests and the same replica count (issue 20, point 3):
 * - a good release: `pipeline deploy` + `pipeline verify`, against
 *   `kubectl apply` + `kubectl rollout status`, and against
 *   `helm upgrade --install --wait`;
 * - a crashing release, from the start of the command until the previous
 *   revision serves again: `pipeline deploy` (which rolls back by itself),
 *   against `kubectl apply` + `rollout status` (which fails) + `rollout undo`
 *   + `rollout status`, and against `helm upgrade --install --atomic --wait
 *   --timeout 5m`.
 *
 *   npx tsx bench/deploy-tools-bench.ts [rounds]   # default 3 rounds
 *   npx tsx bench/deploy-tools-bench.ts 3 --good-only   # the good release alone (no 5-minute Helm wait)
 *
 * About 3 minutes of setup (the fixture's images, Helm built into the cache
 * the first time: several minutes more), then about 9 minutes a round: Helm's
 * --atomic waits out its 5 minute timeout and kubectl its Deployment's
 * progress deadline (120 s) before either rolls back.
 *
 * Each tool works in a namespace of its own (bench-tools-*, created and
 * deleted here). The kubectl and Helm arms apply exactly what our renderer
 * makes of k8s/ for the test environment of that namespace (Helm from a
 * throwaway chart whose one template is that YAML); the arms take turns within
 * each round, the order rotating, so the machine's noise falls on all alike.
 * After every command the bench checks that it did what it claims (the new
 * image rolled out and answering /version through the NodePort; after a crash,
 * the previous image back, its pods Ready and answering) and fails otherwise.
 * Prints a Markdown table; bench/RESULTS.md keeps the last one measured.
 */
import type * as k8s from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { DeployFixture, type PushedImage } from "../test/support/deploy-fixture.js";
import { loadConfig } from "../pipeline-lib/src/config/load-config.js";
import { podSecurityLabels } from "../pipeline-lib/src/deploy/pod-security.js";
import { pullSecretFor } from "../pipeline-lib/src/deploy/pull-secret.js";
import { readManifests } from "../pipeline-lib/src/deploy/read-manifests.js";
import { renderManifests } from "../pipeline-lib/src/deploy/render-manifests.js";
import { runProcess, type ProcessRun } from "../pipeline-lib/src/test-support/run-process.js";
import { median, ROOT, run } from "./lib.js";

const goodOnly = process.argv.includes("--good-only");
const roundsArg = process.argv.slice(2).find((arg) => !arg.startsWith("--"));
const rounds = Number(roundsArg ?? 3);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`rounds must be ≥ 1, not ${roundsArg}`);
/** kubectl has no crash detection of its own: the fair wait is the Deployment's progressDeadlineSeconds (120 s in k8s/). */
const KUBECTL_TIMEOUT = "5m";
/** A second kubectl row: a hand-picked short timeout, as someone who knows the app starts in seconds might use. */
const KUBECTL_SHORT_TIMEOUT = "30s";
const HELM_TIMEOUT = "5m";
const DEPLOYMENT = "visit-counter";
const REPLICAS = 2;

const say = (line: string) => process.stderr.write(`[deploy-tools-bench] ${line}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function kubectlPath(): string {
  if (process.env.KUBECTL) return process.env.KUBECTL;
  const cache =
    process.env.PIPELINE_CACHE ??
    path.join(
      process.env.XDG_CACHE_HOME ?? path.join(process.env.HOME ?? "/root", ".cache"),
      "pipeline-lib",
    );
  const testbed = path.join(cache, "testbed");
  const built = existsSync(testbed)
    ? readdirSync(testbed)
        .filter((name) => name.startsWith("k8s-"))
        .map((name) => path.join(testbed, name, "bin/kubectl"))
        .filter((file) => existsSync(file))
    : [];
  return built.at(-1) ?? "kubectl";
}

say("building Helm into the cache if it is not there (infra/helm/ensure-helm.sh)");
const helm = (
  await run("bash", [path.join(ROOT, "infra/helm/ensure-helm.sh")], { maxBuffer: 1 << 20 })
).stdout.trim();
const kubectl = kubectlPath();
const versions = {
  helm: (await run(helm, ["version", "--short"])).stdout.trim(),
  kubectl: (await run(kubectl, ["version", "--client", "-o", "json"])).stdout,
};
const kubectlVersion = (JSON.parse(versions.kubectl) as { clientVersion: { gitVersion: string } })
  .clientVersion.gitVersion;
say(`helm ${versions.helm} (${helm}); kubectl ${kubectlVersion} (${kubectl})`);

await using fixture = await DeployFixture.create(say);
const id = randomBytes(3).toString("hex");
const arms = ["pipeline", "kubectl", "helm"] as const;
type Arm = (typeof arms)[number];
const namespaces = Object.fromEntries(
  arms.map((arm) => [arm, `bench-tools-${id}-${arm}`]),
) as Record<Arm, string>;
const projects = Object.fromEntries(
  await Promise.all(arms.map(async (arm) => [arm, await fixture.project(namespaces[arm])])),
) as Record<Arm, string>;
const toolEnv: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  KUBECONFIG: fixture.kubeconfigFile,
  // Helm's own folders, thrown away with the fixture's.
  HELM_CACHE_HOME: path.join(fixture.work, "helm/cache"),
  HELM_CONFIG_HOME: path.join(fixture.work, "helm/config"),
  HELM_DATA_HOME: path.join(fixture.work, "helm/data"),
  KUBECACHEDIR: path.join(fixture.work, "kube-cache"),
};
const tool = (command: string, args: string[]) => runProcess(command, args, { env: toolEnv });

let cleaned = false;
async function cleanUp(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  say(`deleting ${Object.values(namespaces).join(", ")}`);
  await Promise.all(Object.values(namespaces).map((ns) => fixture.deleteNamespace(ns)));
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    say(`${signal}: cleaning up`);
    void cleanUp()
      .then(() => fixture[Symbol.asyncDispose]())
      .finally(() => process.exit(130));
  });
}

// ---- the same rendered manifests for kubectl and Helm ---------------------------------
let releaseCount = 0;
/** Our renderer's output for the test environment of `arm`'s namespace, as `pipeline deploy` renders it. */
async function renderedYaml(arm: Arm, image: PushedImage): Promise<string> {
  const config = await loadConfig({ cwd: projects[arm], env: fixture.env });
  const environment = config.environments.test!;
  const pullSecret = await pullSecretFor(config, image.ref, fixture.env);
  const rendered = renderManifests(await readManifests(config.deploy.manifestsDir), {
    config,
    environmentName: "test",
    environment,
    release: {
      image: image.ref,
      commit: image.commit,
      imageCommit: image.commit,
      buildUrl: undefined,
      triggeredBy: "deploy-tools-bench",
      deployedAt: new Date().toISOString(),
    },
    ...(pullSecret ? { pullSecret } : {}),
  });
  // YAML 1.1, as kubectl and Helm read it: Redis's "no" stays a string, not false.
  return rendered.objects.map((o) => stringify(o, { version: "1.1" })).join("---\n");
}

async function kubectlFile(image: PushedImage): Promise<string> {
  const file = path.join(fixture.work, `kubectl-${++releaseCount}.yaml`);
  await writeFile(file, await renderedYaml("kubectl", image));
  return file;
}

/** A throwaway chart whose one template is the rendered YAML, nothing templated. */
async function helmChart(image: PushedImage): Promise<string> {
  const dir = path.join(fixture.work, `chart-${++releaseCount}`);
  await mkdir(path.join(dir, "templates"), { recursive: true });
  const yaml = await renderedYaml("helm", image);
  if (yaml.includes("{{"))
    throw new Error("the rendered manifests hold {{, which Helm would template");
  await writeFile(
    path.join(dir, "Chart.yaml"),
    `apiVersion: v2\nname: visit-counter\nversion: 0.1.${releaseCount}\nappVersion: "${image.commit.slice(0, 12)}"\n`,
  );
  await writeFile(path.join(dir, "templates/release.yaml"), yaml);
  return dir;
}

// ---- the arms --------------------------------------------------------------------------
function expect(step: ProcessRun, what: string, ok: boolean): ProcessRun {
  if ((step.code === 0) !== ok)
    throw new Error(
      `${what} exited ${step.code}, expected ${ok ? "0" : "a failure"}:\n${step.stdout}\n${step.stderr}`,
    );
  return step;
}

interface Timed {
  ms: number;
  /** For the notes: how long the failing wait took (kubectl). */
  failedWaitMs?: number;
}

async function pipelineDeploy(image: PushedImage, ok: boolean) {
  return expect(
    await fixture.run(["deploy", "--env", "test", "--image", image.ref], projects.pipeline, {
      GIT_COMMIT: image.commit,
    }),
    `pipeline deploy of ${image.ref}`,
    ok,
  );
}

const good: Record<Arm, (image: PushedImage) => Promise<Timed & { deployMs?: number }>> = {
  async pipeline(image) {
    const t0 = performance.now();
    const deployed = await pipelineDeploy(image, true);
    expect(
      await fixture.run(["verify", "--env", "test"], projects.pipeline),
      "pipeline verify",
      true,
    );
    return { ms: performance.now() - t0, deployMs: deployed.ms };
  },
  async kubectl(image) {
    const file = await kubectlFile(image);
    const ns = namespaces.kubectl;
    const t0 = performance.now();
    expect(await tool(kubectl, ["apply", "-n", ns, "-f", file]), "kubectl apply", true);
    expect(
      await tool(kubectl, [
        "rollout",
        "status",
        "-n",
        ns,
        `deployment/${DEPLOYMENT}`,
        `--timeout=${KUBECTL_TIMEOUT}`,
      ]),
      "kubectl rollout status",
      true,
    );
    return { ms: performance.now() - t0 };
  },
  helm: (image) => helmUpgrade(image, { atomic: false }),
};

/** `helm upgrade --install --wait` of a chart of the image; with atomic, a release that must fail and roll back. */
async function helmUpgrade(image: PushedImage, { atomic }: { atomic: boolean }): Promise<Timed> {
  const chart = await helmChart(image);
  const t0 = performance.now();
  const args = ["upgrade", "--install", DEPLOYMENT, chart, "-n", namespaces.helm];
  expect(
    await tool(helm, [
      ...args,
      ...(atomic ? ["--atomic"] : []),
      "--wait",
      "--timeout",
      HELM_TIMEOUT,
    ]),
    atomic ? "helm upgrade --install --atomic" : "helm upgrade --install --wait",
    !atomic,
  );
  return { ms: performance.now() - t0 };
}

async function kubectlCrash(image: PushedImage, timeout: string): Promise<Timed> {
  const file = await kubectlFile(image);
  const ns = namespaces.kubectl;
  const status = ["rollout", "status", "-n", ns, `deployment/${DEPLOYMENT}`];
  const t0 = performance.now();
  expect(await tool(kubectl, ["apply", "-n", ns, "-f", file]), "kubectl apply", true);
  const failed = expect(
    await tool(kubectl, [...status, `--timeout=${timeout}`]),
    "kubectl rollout status of the crashing release",
    false,
  );
  expect(
    await tool(kubectl, ["rollout", "undo", "-n", ns, `deployment/${DEPLOYMENT}`]),
    "kubectl rollout undo",
    true,
  );
  expect(
    await tool(kubectl, [...status, `--timeout=${KUBECTL_TIMEOUT}`]),
    "kubectl rollout status after undo",
    true,
  );
  return { ms: performance.now() - t0, failedWaitMs: failed.ms };
}

const crashArms = ["pipeline", "kubectl", "kubectl-short", "helm"] as const;
type CrashArm = (typeof crashArms)[number];
const armNamespace = (arm: CrashArm): string =>
  namespaces[arm === "kubectl-short" ? "kubectl" : arm];
const crash: Record<CrashArm, (image: PushedImage) => Promise<Timed>> = {
  async pipeline(image) {
    return { ms: (await pipelineDeploy(image, false)).ms };
  },
  kubectl: (image) => kubectlCrash(image, KUBECTL_TIMEOUT),
  "kubectl-short": (image) => kubectlCrash(image, KUBECTL_SHORT_TIMEOUT),
  helm: (image) => helmUpgrade(image, { atomic: true }),
};

// ---- did it do what it claims ------------------------------------------------------------
const apps = fixture.apps();
const core = fixture.core();

/** Whether the Deployment runs `image` only, every replica updated, Ready and available, no old pod left. */
async function rolledOut(ns: string, image: PushedImage): Promise<string | undefined> {
  const d = await apps.readNamespacedDeployment({ name: DEPLOYMENT, namespace: ns });
  const running = d.spec?.template.spec?.containers.find((c) => c.name === DEPLOYMENT)?.image;
  if (running !== image.ref) return `the Deployment runs ${running}, not ${image.ref}`;
  const s = d.status ?? {};
  if ((s.observedGeneration ?? 0) < (d.metadata?.generation ?? 0))
    return "its spec is not observed yet";
  if (d.spec?.replicas !== REPLICAS)
    return `it wants ${d.spec?.replicas} replicas, not ${REPLICAS}`;
  const counts = [s.replicas, s.updatedReplicas, s.readyReplicas, s.availableReplicas];
  if (counts.some((n) => n !== REPLICAS))
    return `replicas/updated/ready/available are ${counts.map((n) => n ?? 0).join("/")}`;
  const pods = await core.listNamespacedPod({
    namespace: ns,
    labelSelector: "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=web",
  });
  const live = pods.items.filter((p: k8s.V1Pod) => !p.metadata?.deletionTimestamp);
  const wrong = live.filter(
    (p) =>
      p.spec?.containers[0]?.image !== image.ref ||
      !p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  );
  if (live.length !== REPLICAS || wrong.length > 0)
    return `${live.length} pods, ${wrong.length} not Ready on ${image.ref}`;
  return undefined;
}

/** Checks (not timed) that `image` is what serves in `ns`; answers whether it was already so at the command's exit. */
async function checkServing(ns: string, image: PushedImage, what: string): Promise<boolean> {
  const atExit = await rolledOut(ns, image);
  let problem = atExit;
  for (let i = 0; problem && i < 60; i++) {
    await sleep(500);
    problem = await rolledOut(ns, image);
  }
  if (problem) throw new Error(`${what}: in ${ns}, ${problem}, 30 s after the command exited`);
  const port = await fixture.nodePort(ns);
  let wrong = "";
  for (let i = 0, good = 0; good < 6; i++) {
    // A Service created a moment ago may not be on kube-proxy's rules yet: refused, then served.
    const body = await fetch(`http://127.0.0.1:${port}/version`)
      .then((response) => response.json() as Promise<{ commit?: string }>)
      .catch((error: unknown) => ({
        commit: `none (${String((error as Error).cause ?? error)})`,
      }));
    if (body.commit === image.commit) good++;
    else {
      good = 0;
      wrong = String(body.commit);
    }
    if (i > 60) throw new Error(`${what}: ${ns} still answers /version with commit ${wrong}`);
    if (good < 6) await sleep(wrong ? 250 : 0);
  }
  return atExit === undefined;
}

// ---- the run ------------------------------------------------------------------------------
interface Sample {
  ms: number;
  doneAtExit: boolean;
  deployMs?: number;
  failedWaitMs?: number;
}
const goodSamples = new Map<Arm, Sample[]>(arms.map((a) => [a, []]));
const crashSamples = new Map<CrashArm, Sample[]>(crashArms.map((a) => [a, []]));
const loads: number[] = [];
const startedAt = new Date();

try {
  for (const ns of Object.values(namespaces)) {
    await core.createNamespace({
      body: { metadata: { name: ns, labels: podSecurityLabels() } },
    });
  }
  say(`first release of v1 in ${Object.values(namespaces).join(", ")} (not timed)`);
  let current = fixture.images.v1;
  for (const arm of arms) {
    await good[arm](current);
    await checkServing(namespaces[arm], current, `${arm}: first release`);
  }
  for (let round = 0; round < rounds; round++) {
    loads.push(loadavg()[0]!);
    const next = current === fixture.images.v1 ? fixture.images.next : fixture.images.v1;
    for (const arm of arms.map((_, i) => arms[(i + round) % arms.length]!)) {
      const result = await good[arm](next);
      const doneAtExit = await checkServing(namespaces[arm], next, `${arm}: good release`);
      goodSamples.get(arm)!.push({ ...result, doneAtExit });
      say(
        `round ${round + 1}/${rounds} good release, ${arm}: ${seconds(result.ms)}` +
          (doneAtExit ? "" : " (not fully rolled out at exit)"),
      );
    }
    current = next;
    if (goodOnly) continue;
    for (const arm of crashArms.map((_, i) => crashArms[(i + round) % crashArms.length]!)) {
      const result = await crash[arm](fixture.images.crash);
      const doneAtExit = await checkServing(armNamespace(arm), current, `${arm}: crashing release`);
      crashSamples.get(arm)!.push({ ...result, doneAtExit });
      say(
        `round ${round + 1}/${rounds} crashing release, ${arm}: ${seconds(result.ms)} until the previous revision serves` +
          (result.failedWaitMs
            ? ` (rollout status failed after ${seconds(result.failedWaitMs)})`
            : "") +
          (doneAtExit ? "" : " (not fully rolled back at exit)"),
      );
    }
  }
  loads.push(loadavg()[0]!);
} finally {
  await cleanUp();
}

// ---- the table ------------------------------------------------------------------------------
const med = (samples: Sample[], key: "ms" | "deployMs" | "failedWaitMs" = "ms") =>
  median(samples.map((s) => s[key] ?? 0));
const cell = (samples: Sample[], key: "ms" | "deployMs" = "ms") => {
  const values = samples.map((s) => s[key] ?? 0).sort((a, b) => a - b);
  return `${(median(values) / 1000).toFixed(1)} s (min ${(values[0]! / 1000).toFixed(1)}, max ${(values.at(-1)! / 1000).toFixed(1)})`;
};
const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const done = (samples: Sample[]) =>
  `${samples.filter((s) => s.doneAtExit).length}/${samples.length}`;

const g = (arm: Arm) => goodSamples.get(arm)!;
const c = (arm: CrashArm) => crashSamples.get(arm)!;
const gk = med(g("kubectl"));
const gh = med(g("helm"));
const ck = goodOnly ? NaN : med(c("kubectl"));
const ch = goodOnly ? NaN : med(c("helm"));
const rows: [string, Sample[], number, number, "ms" | "deployMs"][] = [
  ["good: `pipeline deploy` + `pipeline verify`", g("pipeline"), gk, gh, "ms"],
  ["good: `pipeline deploy` alone", g("pipeline"), gk, gh, "deployMs"],
  ["good: `kubectl apply` + `kubectl rollout status`", g("kubectl"), gk, gh, "ms"],
  ["good: `helm upgrade --install --wait`", g("helm"), gk, gh, "ms"],
  ["crash → previous serves: `pipeline deploy` (rolls back itself)", c("pipeline"), ck, ch, "ms"],
  [
    `crash → previous serves: \`kubectl apply\` + \`rollout status --timeout=${KUBECTL_TIMEOUT}\` (fails at the progress deadline) + \`rollout undo\` + \`rollout status\``,
    c("kubectl"),
    ck,
    ch,
    "ms",
  ],
  [
    `crash → previous serves: the same with \`rollout status --timeout=${KUBECTL_SHORT_TIMEOUT}\``,
    c("kubectl-short"),
    ck,
    ch,
    "ms",
  ],
  [
    `crash → previous serves: \`helm upgrade --install --atomic --wait --timeout ${HELM_TIMEOUT}\``,
    c("helm"),
    ck,
    ch,
    "ms",
  ],
];
const lines = [
  `${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC, ${cpus().length} × ${cpus()[0]?.model.trim() ?? "CPU"}, ` +
    `${fixture.cluster.description}, kubectl ${kubectlVersion}, Helm ${versions.helm}, Node ${process.version}`,
  `load average (1 min) before each round and at the end: ${loads.map((l) => l.toFixed(2)).join(", ")}`,
  "",
  `| ${rounds} rounds, ${REPLICAS} replicas, one namespace per tool | median (min, max) | ÷ kubectl | ÷ Helm | fully rolled out at exit |`,
  "|---|---|---|---|---|",
  ...rows
    .filter(([, samples]) => samples.length > 0)
    .map(
      ([label, samples, kRef, hRef, key]) =>
        `| ${label} | ${cell(samples, key)} | ${x(med(samples, key), kRef)} | ${x(med(samples, key), hRef)} | ${key === "ms" ? done(samples) : "—"} |`,
    ),
  "",
  `Target 1, a good release within 1.3× of bare kubectl: pipeline deploy + verify is ${x(med(g("pipeline")), gk)} ` +
    `(deploy alone ${x(med(g("pipeline"), "deployMs"), gk)}): ${med(g("pipeline")) <= 1.3 * gk ? "met" : "missed"}.`,
];
if (!goodOnly)
  lines.push(
    `kubectl's failing \`rollout status\`: median ${seconds(med(c("kubectl"), "failedWaitMs"))} with --timeout=${KUBECTL_TIMEOUT}, ` +
      `${seconds(med(c("kubectl-short"), "failedWaitMs"))} with --timeout=${KUBECTL_SHORT_TIMEOUT}.`,
    `Target 2, a crashing release back on the previous revision at least 5× faster than Helm's --atomic: ` +
      `Helm takes ${x(ch, med(c("pipeline")))} as long as pipeline: ${ch >= 5 * med(c("pipeline")) ? "met" : "missed"}; ` +
      `kubectl ${x(ck, med(c("pipeline")))} (${x(med(c("kubectl-short")), med(c("pipeline")))} with --timeout=${KUBECTL_SHORT_TIMEOUT}).`,
  );
process.stdout.write(`${lines.join("\n")}\n`);
