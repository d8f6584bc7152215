import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DeployFixture, ROOT, type Run } from "../support/deploy-fixture.js";
import {
  DEPLOYER_ENVIRONMENTS,
  deployerServiceAccount,
  execKubeconfig,
  mintDeployerToken,
  renderAccess,
  tokenKubeconfig,
  type AccessObject,
  type DeployerEnvironment,
} from "../support/deployer-access.js";
import {
  ensurePodSecurity,
  readNamespaceLabels,
} from "../../pipeline-lib/src/deploy/pod-security.js";
import { StageError } from "../../pipeline-lib/src/errors.js";
import { applyObjects } from "../../pipeline-lib/src/kube/apply.js";
import { KubeApiError } from "../../pipeline-lib/src/kube/kube-api-error.js";
import { KubeJsonClient, type JsonRequest } from "../../pipeline-lib/src/kube/kube-json-client.js";

const ok = (run: Run) => expect(run.code, `exit ${run.code}\n${run.stderr}`).to.equal(0);
const json = <T>(run: Run): T => JSON.parse(run.stdout) as T;
const lastLine = (text: string) => text.trim().split("\n").at(-1) ?? "";

/** The HTTP code the API server answers `method path` with for these credentials. */
async function answer(
  kubeConfig: k8s.KubeConfig,
  method: k8s.HttpMethod,
  apiPath: string,
  request: JsonRequest = {},
): Promise<{ code: number; message: string }> {
  try {
    await KubeJsonClient.forConfig(kubeConfig).request(method, apiPath, request);
    return { code: 200, message: "" };
  } catch (error) {
    if (error instanceof KubeApiError) return { code: error.code, message: error.message };
    throw error;
  }
}

/**
 * A credential plugin in the manner of `aws eks get-token`: prints an
 * ExecCredential whose token lasts a minute, and logs each run.
 */
const GET_TOKEN = `
import { appendFileSync, readFileSync } from "node:fs";
const [tokenFile, log] = process.argv.slice(2);
appendFileSync(log, new Date().toISOString() + "\\n");
process.stdout.write(JSON.stringify({
  apiVersion: "client.authentication.k8s.io/v1beta1",
  kind: "ExecCredential",
  status: {
    token: readFileSync(tokenFile, "utf8").trim(),
    expirationTimestamp: new Date(Date.now() + 60_000).toISOString(),
  },
}));
`;

interface ContainerSecurity {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type?: string };
}

/**
 * Security as it is enforced, on a real cluster: Jenkins' identities from
 * k8s/access/, one per environment, deploy, verify, roll back and read history
 * through the shipped bin, each in its own namespace, and can do nothing else,
 * and the namespaces they deploy to run only pods that meet Pod Security
 * "restricted". Test's identity holds a token in its kubeconfig (as
 * `kubeconfig-test` does outside EKS); production's runs a credential plugin
 * for a short-lived token, as EKS's `aws eks get-token` does.
 */
describe("least-privilege deployer and Pod Security 'restricted', on a real cluster @slow", function () {
  this.timeout(900_000);
  const suffix = randomBytes(3).toString("hex");
  const names = {
    test: `sec-test-${suffix}`,
    production: `sec-prod-${suffix}`,
    "pipeline-system": `sec-system-${suffix}`,
  };
  let fixture: DeployFixture;
  let admin: k8s.KubeConfig;
  /** Each environment's deployer, and its kubeconfig file. */
  const deployers = {} as Record<DeployerEnvironment, k8s.KubeConfig>;
  const deployerFiles = {} as Record<DeployerEnvironment, string>;
  /** One line per run of production's credential plugin. */
  let getTokenLog: string;
  let project: string;
  let access: AccessObject[] = [];
  const extraNamespaces: string[] = [];

  before(async function () {
    this.timeout(1_800_000);
    fixture = await DeployFixture.create((line) =>
      process.stderr.write(`      [fixture] ${line}\n`),
    );
    admin = fixture.cluster.kubeConfig;
    access = await renderAccess(ROOT, names, suffix);
    await applyObjects(admin, access);
    const system = names["pipeline-system"];
    const file = (name: string) => path.join(fixture.work, name);
    const testToken = await mintDeployerToken(admin, system, "test");
    deployerFiles.test = file("deployer-test.kubeconfig");
    await writeFile(deployerFiles.test, tokenKubeconfig(admin, testToken), { mode: 0o600 });
    const productionToken = await mintDeployerToken(admin, system, "production");
    await writeFile(file("production.token"), productionToken, { mode: 0o600 });
    await writeFile(file("get-token.mjs"), GET_TOKEN);
    getTokenLog = file("get-token.log");
    deployerFiles.production = file("deployer-production.kubeconfig");
    await writeFile(
      deployerFiles.production,
      execKubeconfig(admin, process.execPath, [
        file("get-token.mjs"),
        file("production.token"),
        getTokenLog,
      ]),
      { mode: 0o600 },
    );
    for (const environment of DEPLOYER_ENVIRONMENTS) {
      deployers[environment] = new k8s.KubeConfig();
      deployers[environment].loadFromFile(deployerFiles[environment]);
    }
    project = await fixture.project(names.test, {
      production: {
        namespace: names.production,
        autoscaling: { minReplicas: 1, maxReplicas: 2 },
        // Rolling, but a short canary with a read-only load for `--strategy canary`.
        strategy: [
          "      type: rolling",
          "      steps: [{ weight: 25, seconds: 6 }, { weight: 50, seconds: 6 }]",
          "      analysis: { intervalSeconds: 2, minRequests: 10, noDataSeconds: 20 }",
          '      load: { checks: ["GET /version reports the build"], ratePerSecond: 8 }',
        ].join("\n"),
      },
    });
  });
  after(async () => {
    if (!fixture) return;
    const client = KubeJsonClient.forConfig(admin);
    for (const object of access.filter((o) => o.kind === "ClusterRole")) {
      await client
        .request(
          "DELETE",
          `/apis/rbac.authorization.k8s.io/v1/clusterroles/${object.metadata!.name}`,
        )
        .catch(() => undefined);
    }
    for (const namespace of [...Object.values(names), ...extraNamespaces]) {
      await fixture.deleteNamespace(namespace);
    }
    await fixture[Symbol.asyncDispose]();
  });

  /** The shipped bin with `identity`'s kubeconfig and nothing else. */
  const as = (identity: DeployerEnvironment, args: string[], env: NodeJS.ProcessEnv = {}) =>
    fixture.run(args, project, { KUBECONFIG: deployerFiles[identity], ...env });
  /** The shipped bin, for `--env <environment>`, with that environment's deployer. */
  const asDeployer = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const environment = args[args.indexOf("--env") + 1] as DeployerEnvironment;
    expect(DEPLOYER_ENVIRONMENTS).to.include(environment);
    return as(environment, args, env);
  };
  const deployArgs = (environment: string, image: { ref: string }) => [
    "--json",
    "deploy",
    "--env",
    environment,
    "--image",
    image.ref,
  ];
  const deploy = (environment: string, image: { ref: string; commit: string }) =>
    asDeployer(deployArgs(environment, image), { GIT_COMMIT: image.commit });
  const currentCommit = async (environment: string) => {
    const run = await asDeployer(["--json", "history", "--env", environment]);
    ok(run);
    const { revisions } = json<{
      revisions: { revision: number; current: boolean; commit?: string }[];
    }>(run);
    return { revisions, commit: revisions.find((r) => r.current)?.commit };
  };

  it("each environment's token is that environment's ServiceAccount and nothing more", async () => {
    for (const environment of DEPLOYER_ENVIRONMENTS) {
      const review = await deployers[environment]
        .makeApiClient(k8s.AuthenticationV1Api)
        .createSelfSubjectReview({
          body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
        });
      expect(review.status?.userInfo?.username, environment).to.equal(
        `system:serviceaccount:${names["pipeline-system"]}:${deployerServiceAccount(environment)}`,
      );
      expect(review.status?.userInfo?.groups, environment).to.have.members([
        "system:serviceaccounts",
        `system:serviceaccounts:${names["pipeline-system"]}`,
        "system:authenticated",
      ]);
    }
    // Production's came from the credential plugin.
    expect(await readFile(getTokenLog, "utf8")).to.match(/^\d{4}-/);
  });

  it("deploys, verifies, reports a crash, rolls back and lists history with only each environment's token", async () => {
    const { v1, next, crash } = fixture.images;
    const first = await deploy("test", v1);
    ok(first);
    expect(first.stderr).to.match(new RegExp(`server-side dry run in namespace ${names.test}\\b`));
    ok(await deploy("test", next));
    ok(await asDeployer(["verify", "--env", "test"]));

    // A crash: the report needs the pod's log and events; the rollback patches the Deployment.
    const crashed = await deploy("test", crash);
    expect(crashed.code, crashed.stderr).to.equal(1);
    expect(crashed.stderr).to.match(/CrashLoopBackOff/);
    expect(crashed.stderr).to.include("fatal: cannot load settings from the cluster");
    expect(crashed.stderr).to.match(/rolled back .* which is healthy and serving/);
    expect((await currentCommit("test")).commit).to.equal(next.commit);

    const before = (await currentCommit("test")).revisions;
    const firstRevision = before.find((r) => r.commit === v1.commit)!.revision;
    const back = await asDeployer([
      "--json",
      "rollback",
      "--env",
      "test",
      "--to-revision",
      `${firstRevision}`,
    ]);
    ok(back);
    const { revisions, commit } = await currentCommit("test");
    expect(commit).to.equal(v1.commit);
    expect(revisions.length).to.be.at.least(3);
    ok(await asDeployer(["verify", "--env", "test"]));

    // production: another namespace and identity, bound the same way, autoscaled (a
    // HorizontalPodAutoscaler); its credential plugin runs in each process that needs a token.
    const pluginRuns = (await readFile(getTokenLog, "utf8")).split("\n").length;
    ok(await deploy("production", v1));
    ok(await asDeployer(["verify", "--env", "production"]));
    expect((await currentCommit("production")).commit).to.equal(v1.commit);
    expect((await readFile(getTokenLog, "utf8")).split("\n").length).to.be.at.least(pluginRuns + 3);
    // A canary as production's deployer: the canary Deployment created, scaled and
    // deleted, every pod's /metrics read through pods/proxy, the load sent through
    // services/proxy (GET only), its steps recorded on the app's Deployment.
    const canary = await asDeployer([...deployArgs("production", next), "--strategy", "canary"], {
      GIT_COMMIT: next.commit,
    });
    ok(canary);
    expect(json<{ canary: { steps: { verdict: string }[] } }>(canary).canary.steps).to.have.length(
      2,
    );
    expect((await currentCommit("production")).commit).to.equal(next.commit);
    // And back, as the next test expects production to run v1.
    const undone = await asDeployer(["rollback", "--env", "production"]);
    ok(undone);
    expect((await currentCommit("production")).commit).to.equal(v1.commit);

    for (const run of [first, crashed, back, canary, undone]) {
      expect(run.stderr, "no step fell short for want of a right").not.to.match(
        /forbidden|could not release|could not hand/i,
      );
    }
  });

  it("test's token cannot touch production, nor production's test (SelfSubjectAccessReview from each token)", async () => {
    const pullSecret = "visit-counter-registry";
    /** What deploy, rollback, verify and the lock need in `namespace`, and one thing no deployer may. */
    const asks = (namespace: string): [string, k8s.V1ResourceAttributes, boolean][] => [
      ["get its Namespace", { verb: "get", resource: "namespaces", name: namespace }, true],
      [
        "patch deployments",
        { verb: "patch", group: "apps", resource: "deployments", name: "visit-counter" },
        true,
      ],
      ["create deployments", { verb: "create", group: "apps", resource: "deployments" }, true],
      [
        "watch deployments (a rollout's end, as kubectl rollout status sees it)",
        { verb: "watch", group: "apps", resource: "deployments", name: "visit-counter" },
        true,
      ],
      [
        "delete deployments (ApplySet pruning)",
        { verb: "delete", group: "apps", resource: "deployments", name: "visit-counter" },
        true,
      ],
      [
        "patch secrets (the ApplySet parent)",
        { verb: "patch", resource: "secrets", name: "visit-counter-applyset" },
        true,
      ],
      ["create leases", { verb: "create", group: "coordination.k8s.io", resource: "leases" }, true],
      [
        "get secrets (the pull Secret)",
        { verb: "get", resource: "secrets", name: pullSecret },
        true,
      ],
      [
        "patch secrets (the pull Secret)",
        { verb: "patch", resource: "secrets", name: pullSecret },
        true,
      ],
      [
        "create pods/portforward",
        { verb: "create", resource: "pods", subresource: "portforward" },
        true,
      ],
      [
        "get pods/proxy (a canary reads every pod's /metrics)",
        { verb: "get", resource: "pods", subresource: "proxy" },
        true,
      ],
      [
        "get services/proxy (a canary's read-only load)",
        { verb: "get", resource: "services", subresource: "proxy" },
        true,
      ],
      // Through either proxy, only GET and HEAD: a POST would be create.
      ["create pods/proxy", { verb: "create", resource: "pods", subresource: "proxy" }, false],
      [
        "create services/proxy",
        { verb: "create", resource: "services", subresource: "proxy" },
        false,
      ],
      // The control: allowed nowhere, so a review that always said yes would fail here.
      ["list secrets", { verb: "list", resource: "secrets" }, false],
    ];
    const answers: string[] = [];
    const expected: string[] = [];
    for (const identity of DEPLOYER_ENVIRONMENTS) {
      const authorization = deployers[identity].makeApiClient(k8s.AuthorizationV1Api);
      for (const environment of DEPLOYER_ENVIRONMENTS) {
        const namespace = names[environment];
        for (const [what, attributes, deployerMay] of asks(namespace)) {
          const review = await authorization.createSelfSubjectAccessReview({
            body: {
              apiVersion: "authorization.k8s.io/v1",
              kind: "SelfSubjectAccessReview",
              spec: { resourceAttributes: { ...attributes, namespace } },
            },
          });
          const line = `${identity}'s token, ${what} in ${environment}: `;
          answers.push(line + (review.status?.allowed ? "allowed" : "denied"));
          expected.push(line + (deployerMay && identity === environment ? "allowed" : "denied"));
        }
      }
    }
    expect(answers).to.deep.equal(expected);

    // And through the shipped bin: test's kubeconfig cannot deploy to production (an image
    // production's gate accepts: the refusal is the API server's) or read its history, and
    // production's cannot read test's. Production still runs what it ran.
    const { v1, next } = fixture.images;
    const before = await currentCommit("production");
    expect(before.commit).to.equal(v1.commit);
    const refused = [
      await as("test", deployArgs("production", next), { GIT_COMMIT: next.commit }),
      await as("test", ["--json", "history", "--env", "production"]),
      await as("production", ["--json", "history", "--env", "test"]),
    ];
    // The wrong environment's credential is a usage error, with nothing changed.
    expect(refused[0]!.code, refused[0]!.stderr).to.equal(2);
    expect(refused[0]!.stderr).to.include("is KUBECONFIG the credential of this environment");
    for (const run of refused) {
      process.stderr.write(`      [refused, exit ${run.code}] ${lastLine(run.stderr)}\n`);
      expect(run.code, run.stderr).to.not.equal(0);
      expect(run.stderr).to.match(/forbidden/i);
      expect(run.stderr).to.not.match(/refusing to deploy/);
    }
    expect(await currentCommit("production")).to.deep.equal(before);
  });

  it("a revoked token ends in exit 2 and the API server's 401, having changed nothing", async () => {
    // A token bound to a Secret is refused once the Secret is gone: a token that was valid
    // and is no longer, as an expired one.
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const system = names["pipeline-system"];
    const secret = await core.createNamespacedSecret({
      namespace: system,
      body: { metadata: { name: `revocable-${suffix}` } },
    });
    const token = await mintDeployerToken(admin, system, "test", {
      boundTo: { name: secret.metadata!.name!, uid: secret.metadata!.uid! },
    });
    const file = path.join(fixture.work, "revoked.kubeconfig");
    await writeFile(file, tokenKubeconfig(admin, token), { mode: 0o600 });
    const revoked = new k8s.KubeConfig();
    revoked.loadFromFile(file);
    expect((await answer(revoked, "GET", "/version")).code).to.equal(200);
    await core.deleteNamespacedSecret({ namespace: system, name: secret.metadata!.name! });
    let code = 200;
    for (let i = 0; i < 60 && code !== 401; i++) {
      await sleep(500);
      code = (await answer(revoked, "GET", "/version")).code;
    }
    expect(code, "the API server refuses the revoked token").to.equal(401);

    const before = await currentCommit("test");
    const { next } = fixture.images;
    const run = await fixture.run(deployArgs("test", next), project, {
      KUBECONFIG: file,
      GIT_COMMIT: next.commit,
    });
    process.stderr.write(`      [revoked, exit ${run.code}] ${lastLine(run.stderr)}\n`);
    expect(run.code, run.stderr).to.equal(2);
    expect(run.stderr).to.match(/HTTP 401/);
    expect(run.stderr).to.not.match(/at .*\.js:\d+/);
    expect(await currentCommit("test")).to.deep.equal(before);
  });

  it("is refused (403) everything else: other Secrets, kube-system, cluster RBAC, exec, relabelling", async () => {
    const deployer = deployers.test;
    const pods = await deployer.makeApiClient(k8s.CoreV1Api).listNamespacedPod({
      namespace: names.test,
      labelSelector: "app.kubernetes.io/name=visit-counter",
    });
    const pod = pods.items.find((p) => p.status?.phase === "Running")!.metadata!.name!;
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "intruder", namespace: "kube-system" },
      spec: {
        selector: { matchLabels: { app: "intruder" } },
        template: {
          metadata: { labels: { app: "intruder" } },
          spec: { containers: [{ name: "c", image: fixture.images.v1.ref }] },
        },
      },
    };
    const binding = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `intruder-${suffix}` },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: "cluster-admin",
      },
      subjects: [
        {
          kind: "ServiceAccount",
          name: deployerServiceAccount("test"),
          namespace: names["pipeline-system"],
        },
      ],
    };
    const exec = `/api/v1/namespaces/${names.test}/pods/${pod}/exec`;
    const execQuery = { command: "id", container: "visit-counter", stdout: "true" };
    // Dry runs: authorization comes first, and nothing is left behind should it ever pass.
    const dryRun = { dryRun: "All" };
    const attempts: [string, k8s.HttpMethod, string, JsonRequest][] = [
      ["read the Secrets of kube-system", "GET", "/api/v1/namespaces/kube-system/secrets", {}],
      [
        "read the Secrets of its own ServiceAccount's namespace",
        "GET",
        `/api/v1/namespaces/${names["pipeline-system"]}/secrets`,
        {},
      ],
      [
        "list the Secrets of the namespace it deploys to",
        "GET",
        `/api/v1/namespaces/${names.test}/secrets`,
        {},
      ],
      [
        "read production's pull Secret",
        "GET",
        `/api/v1/namespaces/${names.production}/secrets/visit-counter-registry`,
        {},
      ],
      [
        "create a Deployment in kube-system",
        "POST",
        "/apis/apps/v1/namespaces/kube-system/deployments",
        { body: deployment, query: dryRun },
      ],
      [
        "create a ClusterRoleBinding to cluster-admin",
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        { body: binding, query: dryRun },
      ],
      ["exec into the app's pod (POST)", "POST", exec, { query: execQuery }],
      ["exec into the app's pod (WebSocket GET)", "GET", exec, { query: execQuery }],
      [
        "lift its namespace's Pod Security level",
        "PATCH",
        `/api/v1/namespaces/${names.test}`,
        {
          body: { metadata: { labels: { "pod-security.kubernetes.io/enforce": "privileged" } } },
          contentType: "application/merge-patch+json",
        },
      ],
      [
        "create a Pod directly",
        "POST",
        `/api/v1/namespaces/${names.test}/pods`,
        { body: { ...deployment.spec.template, metadata: { name: "direct" } }, query: dryRun },
      ],
    ];
    const answers: string[] = [];
    for (const [what, method, apiPath, request] of attempts) {
      const { code, message } = await answer(deployer, method, apiPath, request);
      answers.push(`${what}: ${code} ${message}`);
    }
    for (const line of answers) expect(line).to.match(/: 403 .*forbidden/);

    // The same exec with the admin's credentials gets past authorization (it then wants an
    // upgrade to a stream): the 403 above is RBAC, not a malformed request.
    const control = await answer(admin, "POST", exec, { query: execQuery });
    expect(control.code, control.message).to.equal(400);
  });

  it("both namespaces enforce 'restricted', and a pod that breaks it is rejected", async () => {
    for (const environment of DEPLOYER_ENVIRONMENTS) {
      const labels = (await readNamespaceLabels(deployers[environment], names[environment]))!;
      expect(labels).to.include({
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
      });
    }
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const image = fixture.images.v1.ref;
    const compliant: k8s.V1SecurityContext = {
      runAsNonRoot: true,
      runAsUser: 1000,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    };
    const pod = (name: string, securityContext: k8s.V1SecurityContext): k8s.V1Pod => ({
      metadata: { name },
      spec: { containers: [{ name: "c", image, securityContext }] },
    });
    // The control: the same pod, compliant, is admitted (a dry run: nothing to clean up).
    await core.createNamespacedPod({
      namespace: names.test,
      body: pod("compliant", compliant),
      dryRun: "All",
    });
    const { runAsNonRoot: _nonRoot, ...withoutNonRoot } = compliant;
    const { allowPrivilegeEscalation: _escalation, ...withoutEscalation } = compliant;
    const violations: [string, k8s.V1SecurityContext, RegExp][] = [
      ["privileged", { ...withoutEscalation, privileged: true }, /privileged/],
      ["root", { ...withoutNonRoot, runAsUser: 0 }, /runAsUser=0/],
    ];
    for (const [what, securityContext, named] of violations) {
      // Even the cluster admin is refused, and not in a dry run: the pod is never created.
      const error = await core
        .createNamespacedPod({
          namespace: names.test,
          body: pod(`violates-${what}`, securityContext),
        })
        .then(
          () => undefined,
          (e: unknown) => e as k8s.ApiException<unknown>,
        );
      expect(error, `a ${what} pod was admitted`).to.not.equal(undefined);
      expect(error!.code).to.equal(403);
      const body = typeof error!.body === "string" ? error!.body : JSON.stringify(error!.body);
      expect(body).to.match(/violates PodSecurity \\?"restricted:latest\\?"/);
      expect(body).to.match(named);
    }
  });

  it("the app and Redis run as non-root, read-only, without capabilities; a write to / fails", async () => {
    const core = deployers.test.makeApiClient(k8s.CoreV1Api);
    const running = (
      await core.listNamespacedPod({
        namespace: names.test,
        labelSelector: "app.kubernetes.io/part-of=visit-counter",
      })
    ).items.filter((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp);
    const app = running.find(
      (p) => p.metadata?.labels?.["app.kubernetes.io/name"] === "visit-counter",
    )!;
    const redis = running.find((p) => p.metadata?.labels?.["app.kubernetes.io/name"] === "redis")!;
    expect(app, "a running app pod").to.not.equal(undefined);
    expect(redis, "a running Redis pod").to.not.equal(undefined);
    for (const pod of [app, redis]) {
      const podContext = pod.spec!.securityContext!;
      for (const container of pod.spec!.containers) {
        const context = container.securityContext as ContainerSecurity;
        const where = `${pod.metadata!.name}/${container.name}`;
        expect(context.runAsNonRoot ?? podContext.runAsNonRoot, where).to.equal(true);
        expect(context.runAsUser ?? podContext.runAsUser, where).to.be.greaterThan(0);
        expect(context.readOnlyRootFilesystem, where).to.equal(true);
        expect(context.allowPrivilegeEscalation, where).to.equal(false);
        expect(context.capabilities, where).to.deep.equal({ drop: ["ALL"] });
        expect((context.seccompProfile ?? podContext.seccompProfile)?.type, where).to.equal(
          "RuntimeDefault",
        );
      }
      expect(pod.spec!.automountServiceAccountToken, pod.metadata!.name).to.equal(false);
    }

    // No exec (the deployer may not): a short-lived pod with the app's image, securityContext
    // and pull secret tries to write to / and says what happened in its log.
    const appContainer = app.spec!.containers[0]!;
    const probe: k8s.V1Pod = {
      metadata: { name: `write-probe-${suffix}` },
      spec: {
        restartPolicy: "Never",
        automountServiceAccountToken: false,
        securityContext: app.spec!.securityContext!,
        imagePullSecrets: app.spec!.imagePullSecrets!,
        containers: [
          {
            name: "probe",
            image: appContainer.image!,
            securityContext: appContainer.securityContext!,
            command: [
              "sh",
              "-c",
              'echo "uid=$(id -u)"; grep CapEff /proc/self/status; ' +
                'if echo x > /probe; then echo "write to / succeeded"; else echo "write to / failed"; fi',
            ],
          },
        ],
      },
    };
    const adminCore = admin.makeApiClient(k8s.CoreV1Api);
    await adminCore.createNamespacedPod({ namespace: names.test, body: probe });
    let phase: string | undefined;
    for (let i = 0; i < 120 && phase !== "Succeeded" && phase !== "Failed"; i++) {
      await sleep(500);
      phase = (
        await adminCore.readNamespacedPod({ namespace: names.test, name: probe.metadata!.name! })
      ).status?.phase;
    }
    expect(phase).to.equal("Succeeded");
    const log = String(
      await core.readNamespacedPodLog({ namespace: names.test, name: probe.metadata!.name! }),
    );
    process.stderr.write(`      [probe log] ${log.trim().replace(/\n/g, " | ")}\n`);
    expect(log).to.match(/^uid=1000$/m);
    expect(log).to.match(/^CapEff:\s+0{16}$/m);
    expect(log).to.match(/Read-only file system/);
    expect(log).to.include("write to / failed");
  });

  it("deploy labels a namespace it creates, and says so when it may not relabel one", async () => {
    const fresh = `sec-fresh-${suffix}`;
    extraNamespaces.push(fresh);
    await ensurePodSecurity(admin, fresh, undefined, undefined);
    expect(await readNamespaceLabels(admin, fresh)).to.include({
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/audit": "restricted",
    });
    await ensurePodSecurity(admin, fresh, "baseline", await readNamespaceLabels(admin, fresh));
    expect(await readNamespaceLabels(admin, fresh)).to.include({
      "pod-security.kubernetes.io/enforce": "baseline",
    });

    // The deployer finds its namespace labelled as asked and leaves it be; asked for less, it stops.
    const deployer = deployers.test;
    const live = await readNamespaceLabels(deployer, names.test);
    await ensurePodSecurity(deployer, names.test, "restricted", live);
    const refused = await ensurePodSecurity(deployer, names.test, "privileged", live).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).to.be.instanceOf(StageError);
    expect((refused as Error).message).to.match(
      new RegExp(
        `namespace ${names.test} does not carry the Pod Security labels of podSecurity: privileged`,
      ),
    );
    expect(
      (await readNamespaceLabels(admin, names.test))!["pod-security.kubernetes.io/enforce"],
    ).to.equal("restricted");
  });
});
