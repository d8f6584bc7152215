import * as k8s from "@kubernetes/client-node";
import { makeSigningKey } from "../../pipeline-lib/src/test-support/signing-key.js";
import { expect } from "chai";
import type { Command } from "commander";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { acquireCluster, type Cluster } from "../../infra/testbed/cluster.js";
import { createProgram, type Handlers } from "../../pipeline-lib/src/cli.js";
import { applyObjects } from "../../pipeline-lib/src/kube/apply.js";
import { redactUrls } from "../../pipeline-lib/src/output/redact.js";
import { KubeJsonClient } from "../../pipeline-lib/src/kube/kube-json-client.js";
import { stageDefinitions } from "../../pipeline-lib/src/stages/stage-definitions.js";
import {
  startRegistryServer,
  type StartedRegistryServer,
} from "../../pipeline-lib/src/test-support/registry-server.js";
import {
  runPipelineBin,
  type ProcessRun,
} from "../../pipeline-lib/src/test-support/run-process.js";
import { WebhookReceiver } from "../../pipeline-lib/src/test-support/webhook-receiver.js";
import { freePort } from "../support/free-port.js";
import { groovyJar } from "../support/lint-context.js";
import {
  everyObjectIn,
  filesChangedSince,
  LeakScanner,
  type MarkedSecret,
} from "../support/leak-scan.js";
import { mintDeployerToken, renderAccess, tokenKubeconfig } from "../support/deployer-access.js";
import { snapshotRepository } from "../support/snapshot-repository.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

/**
 * Secrets reach the CLI only through the environment or files (a kubeconfig),
 * never through its arguments: a command line is visible to every user of the
 * machine (`ps`, /proc/<pid>/cmdline) and is echoed into Jenkins' build log.
 */
describe("secrets never travel on the command line", () => {
  const noop = () => Promise.resolve();
  const handlers = new Proxy({}, { get: () => noop }) as Handlers;
  const program = createProgram(handlers);
  const all = (command: Command): Command[] => [
    command,
    ...command.commands.flatMap((c) => all(c)),
  ];

  it("no option of any command is named like a password, token, secret, webhook or key", () => {
    const options = all(program).flatMap((command) =>
      command.options.map((option) => ({ command: command.name(), flags: option.flags })),
    );
    expect(options.length, "the walk found the options").to.be.greaterThan(20);
    const offending = options.filter((o) => /password|token|secret|webhook|key/i.test(o.flags));
    expect(
      offending.map((o) => `pipeline ${o.command} ${o.flags}`),
      "take it from an environment variable or a file instead: a command line shows in ps and in Jenkins' log",
    ).to.deep.equal([]);
  });

  it("no command takes a positional argument named like one either", () => {
    const args = all(program).flatMap((command) =>
      command.registeredArguments.map((a) => `pipeline ${command.name()} <${a.name()}>`),
    );
    expect(args.filter((a) => /password|token|secret|webhook|key/i.test(a))).to.deep.equal([]);
  });
});

interface Run extends ProcessRun {
  label: string;
}

/** The `pipeline …` arguments of a dev stage's command, as its Jenkinsfile runs them. */
function stageArgs(id: string): string[] {
  const stage = stageDefinitions.dev.find((s) => s.id === id);
  if (!stage) throw new Error(`the dev pipeline has no stage ${id}`);
  const call = /npx --no-install pipeline ([^&|;]+)/.exec(stage.command);
  if (!call) throw new Error(`stage ${id} runs no pipeline command: ${stage.command}`);
  const args = call[1]!.trim().split(/\s+/);
  if (args.some((a) => /["'$`]/.test(a))) {
    throw new Error(`stage ${id}: cannot split ${stage.command} without a shell`);
  }
  return args;
}

/**
 * The dev pipeline's shipping and deploying stages, run locally through the
 * shipped bin with distinctive fake secrets (and a real registry password and
 * a real cluster token), then a search of everything they produced for any of
 * them. The one place a secret must be is the pull Secret's data, which the
 * cluster needs to pull the image: it is left out of the search, and checked
 * to hold the password, which shows the search would have found it.
 */
describe("no secret leaks from the dev pipeline's build, test, push, deploy, verify and notify @slow", function () {
  this.timeout(1_200_000);
  const suffix = randomBytes(3).toString("hex");
  const marker = `LEAKCHECK${randomBytes(4).toString("hex")}`;
  const names = {
    test: `leak-test-${suffix}`,
    production: `leak-prod-${suffix}`,
    "pipeline-system": `leak-system-${suffix}`,
  };
  const password = `pw-${marker}-${randomBytes(9).toString("base64url")}`;
  const wrongPassword = `pw-wrong-${marker}-${randomBytes(6).toString("hex")}`;
  const awsKeyId = `AKIA${marker.toUpperCase()}`.slice(0, 20);
  const awsSecret = `${randomBytes(12).toString("base64url")}${marker}${randomBytes(6).toString("hex")}`;
  const webhookPath = `/services/T0${marker}/B0${marker}/${randomBytes(12).toString("hex")}`;
  const buildUrlPassword = `jenkins-${marker}-${randomBytes(4).toString("hex")}`;
  const serverUrlPassword = `kube-${marker}-${randomBytes(4).toString("hex")}`;
  const verifyUrlPassword = `ingress-${marker}-${randomBytes(4).toString("hex")}`;

  let cluster: Cluster;
  let admin: k8s.KubeConfig;
  let registry: StartedRegistryServer;
  let receiver: WebhookReceiver;
  let failingReceiver: WebhookReceiver;
  let work: string;
  let repo: string;
  let token: string;
  let deployerFile: string;
  let env: NodeJS.ProcessEnv;
  let access: k8s.KubernetesObject[] = [];
  let secrets: MarkedSecret[] = [];
  const runs: Run[] = [];
  const started = Date.now();
  /** When the set-up ended: files changed since then are what the pipeline wrote. */
  let firstRun = Infinity;

  const webhookUrl = (r: WebhookReceiver) =>
    `http://127.0.0.1:${new URL(r.url).port}${webhookPath}`;

  const pipeline = async (label: string, args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const result = await runPipelineBin(args, { cwd: repo, env: { ...env, ...extra } });
    const run = { label, ...result };
    runs.push(run);
    process.stderr.write(
      `      [leak-check] pipeline ${redactUrls(args.join(" "))}: exit ${run.code} in ${(run.ms / 1000).toFixed(1)}s\n`,
    );
    return run;
  };
  const ok = (run: Run) =>
    expect(run.code, `${run.label}: exit ${run.code}\n${run.stderr}`).to.equal(0);

  before(async function () {
    this.timeout(1_800_000);
    cluster = await acquireCluster();
    admin = cluster.kubeConfig;
    registry = await startRegistryServer({ password });
    receiver = await WebhookReceiver.start({ status: 200 });
    failingReceiver = await WebhookReceiver.start({ status: 500 });
    work = await mkdtemp(path.join(os.tmpdir(), "pipeline-leak-"));
    await cluster.trustRegistry(registry.host);
    await cluster.loadImage(process.env.REDIS_IMAGE ?? "redis:7-bookworm");
    repo = await snapshotRepository(work);

    access = await renderAccess(ROOT, names, suffix);
    await applyObjects(admin, access);
    token = await mintDeployerToken(admin, names["pipeline-system"]);
    deployerFile = path.join(work, "deployer.kubeconfig");
    await writeFile(deployerFile, tokenKubeconfig(admin, token), { mode: 0o600 });

    const signingKey = await makeSigningKey(path.join(work, "keys"));
    const keyBody = (await readFile(signingKey.privateKeyFile, "utf8")).split("\n")[1]!;
    secrets = [
      { name: "the signing key (PIPELINE_SIGNING_KEY's file)", value: keyBody },
      { name: "REGISTRY_PASSWORD", value: password, base64: true },
      { name: "registry user:password", value: `${registry.username}:${password}`, base64: true },
      { name: "the wrong REGISTRY_PASSWORD", value: wrongPassword, base64: true },
      { name: "AWS_ACCESS_KEY_ID", value: awsKeyId },
      { name: "AWS_SECRET_ACCESS_KEY", value: awsSecret },
      { name: "SLACK_WEBHOOK_URL's path", value: webhookPath },
      { name: "the kubeconfig token", value: token, base64: true },
      { name: "the kubeconfig token's signature", value: token.split(".").at(-1)! },
      { name: "BUILD_URL's password", value: buildUrlPassword },
      { name: "a kubeconfig server URL's password", value: serverUrlPassword },
      { name: "verify --url's password", value: verifyUrlPassword },
      { name: "the marker", value: marker },
    ];
    env = {
      ...process.env,
      IMAGE_REPOSITORY: `${registry.host}/visit-counter`,
      REGISTRY_AUTH: "basic",
      REGISTRY_USERNAME: registry.username,
      REGISTRY_PASSWORD: password,
      AWS_ACCESS_KEY_ID: awsKeyId,
      AWS_SECRET_ACCESS_KEY: awsSecret,
      SLACK_WEBHOOK_URL: webhookUrl(receiver),
      KUBECONFIG: deployerFile,
      TEST_NAMESPACE: names.test,
      TEST_HOST: `${names.test}.test.local`,
      TEST_STORAGE_CLASS: "standard",
      BUILD_NUMBER: "7",
      BUILD_URL: `https://jenkins:${buildUrlPassword}@jenkins.example.com/job/visit-counter/7/`,
      TESTCONTAINERS_RYUK_DISABLED: "true",
      PIPELINE_TRIGGERED_BY: "leak-check",
      PIPELINE_GROOVY_JAR: await groovyJar(),
      ...signingKey.env,
    };
    // The snapshot's files (service/dist copied into it) are older than this.
    await sleep(100);
    firstRun = Date.now();
  });

  after(async () => {
    const client = admin ? KubeJsonClient.forConfig(admin) : undefined;
    for (const object of access.filter((o) => o.kind === "ClusterRole")) {
      await client
        ?.request(
          "DELETE",
          `/apis/rbac.authorization.k8s.io/v1/clusterroles/${object.metadata!.name}`,
        )
        .catch(() => undefined);
    }
    for (const namespace of Object.values(names)) {
      await admin
        ?.makeApiClient(k8s.CoreV1Api)
        .deleteNamespace({ name: namespace })
        .catch(() => undefined);
    }
    await registry?.[Symbol.asyncDispose]();
    await receiver?.[Symbol.asyncDispose]();
    await failingReceiver?.[Symbol.asyncDispose]();
    if (work) await rm(work, { recursive: true, force: true });
    if (runs.length) {
      process.stderr.write(
        `      [leak-check] ${runs.length} runs, ${((Date.now() - started) / 1000).toFixed(0)}s in all\n`,
      );
    }
  });

  it("ships and deploys with every secret in play, and fails cleanly with wrong or unreachable ones", async () => {
    // The dev pipeline's stages, as its definitions run them.
    ok(await pipeline("build", stageArgs("build")));
    ok(await pipeline("integration tests", stageArgs("integration-tests")));
    ok(await pipeline("push", stageArgs("push")));
    ok(await pipeline("attest", stageArgs("attest")));
    ok(await pipeline("deploy", stageArgs("deploy-test")));
    ok(await pipeline("verify", stageArgs("verify-test")));
    ok(await pipeline("history", ["history", "--env", "test"]));
    ok(await pipeline("notify success", ["notify", "--status", "success", "--env", "test"]));
    expect(receiver.requests, "the webhook really received the message").to.have.length(1);
    expect(receiver.requests[0]!.path).to.equal(webhookPath);
    const lintRun = await pipeline("lint", [...stageArgs("lint"), "--skip", "typescript"]);
    expect(lintRun.code, lintRun.stderr).to.be.oneOf([0, 1]);

    // Failures: their messages are where a secret most easily slips out.
    const wrong = await pipeline("push with a wrong password", ["push"], {
      REGISTRY_PASSWORD: wrongPassword,
    });
    expect(wrong.code, wrong.stderr).to.equal(1);
    const closed = await freePort();
    const unreachable = path.join(work, "unreachable.kubeconfig");
    await writeFile(
      unreachable,
      tokenKubeconfig(admin, token, `https://leak:${serverUrlPassword}@127.0.0.1:${closed}`),
      { mode: 0o600 },
    );
    const away = await pipeline(
      "deploy to an unreachable API server",
      ["deploy", "--env", "test"],
      {
        KUBECONFIG: unreachable,
      },
    );
    expect(away.code, away.stderr).to.equal(2);
    expect(away.stderr, "the server is named, its credentials redacted").to.include(
      `https://***@127.0.0.1:${closed}`,
    );
    const viaUrl = await pipeline("verify --url with credentials", [
      "verify",
      "--env",
      "test",
      "--no-rollback",
      "--junit",
      "reports/verify-url.xml",
      "--url",
      `http://leak:${verifyUrlPassword}@127.0.0.1:${closed}/`,
    ]);
    expect(viaUrl.code, viaUrl.stderr).to.equal(1);
    expect(viaUrl.stderr).to.include(`http://***@127.0.0.1:${closed}`);
    ok(
      await pipeline("notify failure, webhook failing", ["notify", "--status", "failure"], {
        SLACK_WEBHOOK_URL: webhookUrl(failingReceiver),
        FAILED_STAGE: "Push",
      }),
    );
    expect(failingReceiver.requests.length, "notify retried").to.be.greaterThan(1);
  });

  it("finds none of them in any output, file, image or object on the cluster", async () => {
    expect(runs.length, "the pipeline ran first").to.be.greaterThan(10);
    const scanner = new LeakScanner(secrets);
    for (const run of runs) {
      scanner.scan(`stdout of ${run.label}`, run.stdout);
      scanner.scan(`stderr of ${run.label}`, run.stderr);
    }
    for (const request of [...receiver.requests, ...failingReceiver.requests]) {
      scanner.scan("the message posted to the webhook", request.body);
    }

    // Files: build.json, the JUnit and lint reports, any log written.
    const files = await filesChangedSince(repo, firstRun);
    const relative = files.map((f) => path.relative(repo, f));
    expect(relative).to.include.members([
      "build.json",
      "reports/contract-tests.xml",
      "reports/verify.xml",
      "reports/lint.xml",
    ]);
    for (const file of files) {
      scanner.scan(`file ${path.relative(repo, file)}`, await readFile(file, "utf8"));
    }
    const dockerConfig = path.join(os.homedir(), ".docker/config.json");
    scanner.scan("~/.docker/config.json", await readFile(dockerConfig, "utf8").catch(() => ""));

    // The image: its config (env, labels, build args) and every layer's history.
    const artifact = JSON.parse(await readFile(path.join(repo, "build.json"), "utf8")) as {
      repository: string;
      tags: string[];
      imageRef: string;
    };
    const image = `${artifact.repository}:${artifact.tags[0]}`;
    const docker = (...args: string[]) => execFileSync("docker", args, { encoding: "utf8" });
    scanner.scan(`docker image inspect ${image}`, docker("image", "inspect", image));
    scanner.scan(`docker history --no-trunc ${image}`, docker("history", "--no-trunc", image));

    // The cluster: every object in the namespaces, read back through the API, and the app's logs.
    let pullSecretData: Record<string, string> | undefined;
    for (const namespace of Object.values(names)) {
      for (const { ref, object } of await everyObjectIn(admin, namespace)) {
        let scanned: object = object;
        if (object.kind === "Secret" && object.metadata?.name === "visit-counter-registry") {
          const { data, ...rest } = object as k8s.V1Secret;
          pullSecretData = data;
          scanned = rest;
        }
        scanner.scan(`${ref} in namespace ${namespace}`, JSON.stringify(scanned));
      }
    }
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const pods = await core.listNamespacedPod({ namespace: names.test });
    for (const pod of pods.items) {
      for (const container of pod.spec?.containers ?? []) {
        const log = await core.readNamespacedPodLog({
          name: pod.metadata!.name!,
          namespace: names.test,
          container: container.name,
        });
        scanner.scan(`log of pod ${pod.metadata!.name}/${container.name}`, String(log));
      }
    }

    // The Deployment, on its own: its annotations and its pods' environment.
    const deployment = await admin
      .makeApiClient(k8s.AppsV1Api)
      .readNamespacedDeployment({ name: "visit-counter", namespace: names.test });
    const template = deployment.spec!.template;
    const env = template.spec!.containers.flatMap((c) => c.env ?? []);
    expect(
      scanner.find(
        JSON.stringify([deployment.metadata?.annotations, template.metadata?.annotations, env]),
      ),
      "the Deployment's annotations and env",
    ).to.deep.equal([]);
    expect(
      deployment.metadata?.annotations?.["pipeline-lib.dev/build-url"],
      "BUILD_URL is recorded, without its credentials",
    ).to.equal("https://***@jenkins.example.com/job/visit-counter/7/");

    // The one legitimate copy: the pull Secret's data holds the credentials the
    // nodes pull with. That the search finds them there shows it would anywhere else.
    expect(pullSecretData, "the pull Secret exists").to.not.equal(undefined);
    const dockerConfigJson = Buffer.from(
      pullSecretData![".dockerconfigjson"]!,
      "base64",
    ).toString();
    expect(scanner.find(dockerConfigJson)).to.include.members([
      "REGISTRY_PASSWORD (as given)",
      "registry user:password (base64)",
    ]);

    expect(scanner.scanned.length).to.be.greaterThan(40);
    process.stderr.write(
      `      [leak-check] searched ${scanner.scanned.length} places (${files.length} files written: ${relative.join(", ")})\n`,
    );
    expect(scanner.leaks, `secrets found in what the pipeline produced`).to.deep.equal([]);
  });
});
