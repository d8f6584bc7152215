import { expect } from "chai";
import http from "node:http";
import { randomBytes } from "node:crypto";
import {
  DeployFixture,
  type PushedImage,
  type Run,
  type StartedRun,
} from "../support/deploy-fixture.js";

const ok = (run: Run) => expect(run.code, `exit ${run.code}\n${run.stderr}`).to.equal(0);
const verdicts = (run: Run) =>
  run.stderr
    .split("\n")
    .filter((line) => /canary step \d+\/\d+ \(.*\) (passed|failed|inconclusive) after/.test(line));

interface CanaryJson {
  outcome?: string;
  steps: {
    step: number;
    canaryPods: number;
    stablePods: number;
    verdict: string;
    reasons: string[];
  }[];
  summary?: string;
}
interface HistoryJson {
  revisions: { current: boolean; commit?: string; canary?: CanaryJson }[];
  canaries: (CanaryJson & { image: string })[];
}

/**
 * Five paths a visitor takes, one request each, each on a new connection (a
 * kept-alive one would stay on one pod: kube-proxy balances connections),
 * through the NodePort, counting what each path answered.
 */
class Visitors {
  static readonly PATHS = ["/", "/api/visits", "/version", "/healthz", "/readyz"];
  readonly answers: { path: string; status: number }[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(port: number) {
    this.#done = (async () => {
      for (let i = 0; this.#running; i++) {
        const path = Visitors.PATHS[i % Visitors.PATHS.length]!;
        const status = await new Promise<number>((resolve) => {
          const request = http.get(
            { host: "127.0.0.1", port, path, agent: false, timeout: 3000 },
            (response) => {
              response.resume();
              response.on("end", () => resolve(response.statusCode ?? 0));
            },
          );
          request.on("timeout", () => request.destroy());
          request.on("error", () => resolve(0));
        });
        this.answers.push({ path, status });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
  }

  async stop(): Promise<this> {
    this.#running = false;
    await this.#done;
    return this;
  }

  failed(): { path: string; status: number }[] {
    return this.answers.filter((a) => a.status < 200 || a.status >= 500);
  }
}

/**
 * `deploy --env production` with a canary strategy on the testbed: the new
 * release beside the stable one at 1 pod in 4, then half, judged by every
 * pod's own request histogram read through the API server, with visitors
 * looping through the NodePort meanwhile.
 */
describe("a canary in production, judged by the pods' own metrics, on a real cluster @slow", function () {
  this.timeout(900_000);
  const namespace = `canary-${randomBytes(3).toString("hex")}`;
  let fixture: DeployFixture;
  /** The config with the read-only load; and the same without it (no traffic at all). */
  let withLoad: string;
  let withoutLoad: string;
  let faulty: PushedImage;
  let slow: PushedImage;

  const READ_ONLY = '["GET /version reports the build", "GET /api/visits does not count"]';
  /** The strategy block; `checks` the load's (a YAML list), none for no load. */
  const strategy = (checks?: string) =>
    [
      "      type: canary",
      "      steps: [{ weight: 25, seconds: 8 }, { weight: 50, seconds: 8 }]",
      "      analysis: { intervalSeconds: 2, minRequests: 15, noDataSeconds: 6, maxErrorRateIncrease: 0.01, maxP99IncreaseMs: 100 }",
      ...(checks ? [`      load: { checks: ${checks}, ratePerSecond: 8 }`] : []),
    ].join("\n");
  const projectWith = (dirName: string, checks?: string) =>
    fixture.project(`${namespace}-test`, {
      dirName,
      production: { namespace, replicas: 3, nodePort: true, strategy: strategy(checks) },
    });

  before(async function () {
    this.timeout(1_800_000);
    const progress = (line: string) => process.stderr.write(`      [fixture] ${line}\n`);
    fixture = await DeployFixture.create(progress);
    progress("building the faulty (500 on /version) and the slow (+200 ms) releases");
    // The app's own files, changed as a bad commit would: the route and the
    // middleware are wrapped, so the app's own histogram sees what visitors see.
    faulty = await fixture.addVariant("faulty", "4444444444444444444444444444444444444444", [
      "USER root",
      `RUN cd service/dist/routes && mv version.js version-original.js && printf '%s\\n' ` +
        `'import { version as original } from "./version-original.js";' ` +
        `'export * from "./version-original.js";' ` +
        `'export function version(build) { original(build); return (ctx) => ctx.throw(500, "this release breaks /version"); }' > version.js`,
      "USER 1000:1000",
    ]);
    slow = await fixture.addVariant("slow", "5555555555555555555555555555555555555555", [
      "USER root",
      `RUN cd service/dist/http && mv security-headers.js security-headers-original.js && printf '%s\\n' ` +
        `'import { securityHeaders as original } from "./security-headers-original.js";' ` +
        `'export * from "./security-headers-original.js";' ` +
        `'export function securityHeaders(...options) { const inner = original(...options); return async (ctx, next) => { await new Promise((r) => setTimeout(r, 200)); return inner(ctx, next); }; }' > security-headers.js`,
      "USER 1000:1000",
    ]);
    withLoad = await projectWith("with-load", READ_ONLY);
    withoutLoad = await projectWith("without-load");
    progress("the first production release: nothing to compare a canary with, so it rolls out");
    const first = await deploy(withLoad, fixture.images.v1);
    ok(first);
    expect(first.stderr).to.include("nothing to compare a canary with: rolling out");
  });
  after(async () => {
    if (!fixture) return;
    await fixture.deleteNamespace(namespace);
    await fixture[Symbol.asyncDispose]();
  });

  const deploy = (project: string, image: PushedImage, ...extra: string[]) =>
    fixture.run(
      ["--json", "deploy", "--env", "production", "--image", image.ref, ...extra],
      project,
      { GIT_COMMIT: image.commit },
    );
  const history = async () => {
    const run = await fixture.run(["--json", "history", "--env", "production"], withLoad);
    ok(run);
    return JSON.parse(run.stdout) as HistoryJson;
  };
  /** What the app's Deployment runs, whether a canary Deployment exists, and every app pod's image. */
  const cluster = async () => {
    const apps = fixture.apps();
    const stable = await apps.readNamespacedDeployment({ name: "visit-counter", namespace });
    const canary = await apps
      .readNamespacedDeployment({ name: "visit-counter-canary", namespace })
      .then(
        () => true,
        () => false,
      );
    const pods = await fixture.core().listNamespacedPod({
      namespace,
      labelSelector: "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=web",
    });
    return {
      image: stable.spec?.template.spec?.containers[0]?.image,
      readyReplicas: stable.status?.readyReplicas,
      canary,
      podImages: pods.items
        .filter((p) => !p.metadata?.deletionTimestamp)
        .map((p) => p.spec?.containers[0]?.image),
    };
  };
  /** Starts a deploy of `image` and resolves once it analyses its first canary step. */
  const canaryAnalysing = async (image: PushedImage): Promise<StartedRun> => {
    const started = fixture.start(
      ["deploy", "--env", "production", "--image", image.ref],
      withLoad,
      { GIT_COMMIT: image.commit },
    );
    const deadline = Date.now() + 120_000;
    while (!/canary step 1\/2: analysing/.test(started.output()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(started.output()).to.match(/canary step 1\/2: analysing/);
    return started;
  };
  /** Deploys while visitors loop through the NodePort; resolves to both. */
  const deployWithVisitors = async (project: string, image: PushedImage) => {
    // Through the NodePort once kube-proxy serves it (/readyz answers there).
    const visitors = new Visitors(Number(new URL(await fixture.visitorBase(namespace)).port));
    const run = await deploy(project, image);
    await visitors.stop();
    for (const line of verdicts(run)) process.stderr.write(`      [verdict] ${line.trim()}\n`);
    return { run, visitors };
  };

  it("--dry-run says what the canary would do and changes nothing", async () => {
    const before = await cluster();
    const run = await fixture.run(
      ["deploy", "--env", "production", "--dry-run", "--image", fixture.images.next.ref],
      withLoad,
    );
    ok(run);
    expect(run.stdout).to.include(
      "strategy: canary (25% for 8 s, then 50% for 8 s, then promoted, with a read-only load of 2 checks at up to 8/s",
    );
    expect(await cluster()).to.deep.equal(before);
  });

  it("a release that answers 500 on one path in five is stopped at the first step; the stable release served throughout", async () => {
    const { run, visitors } = await deployWithVisitors(withLoad, faulty);
    expect(run.code, run.stderr).to.equal(1);
    const [step] = verdicts(run);
    expect(step).to.match(/canary step 1\/2 \(25%: 1 canary pod beside 3 stable\) failed after/);
    expect(step).to.match(/5xx share \d+\.\d% against stable's 0\.0%/);
    expect(run.stderr).to.match(
      /it was removed and revision \d+ \(.*\) serves alone, nothing was promoted/,
    );
    const after = await cluster();
    expect(after.image).to.equal(fixture.images.v1.ref);
    expect(after.canary, "the canary Deployment is gone").to.equal(false);
    expect(after.podImages.every((image) => image === fixture.images.v1.ref)).to.equal(true);
    // Only the canary's pod could answer 500, and only on /version: no more
    // failures than one pod in four could give, none elsewhere.
    const failed = visitors.failed();
    process.stderr.write(
      `      [visitors] ${visitors.answers.length} requests, ${failed.length} failed (${failed.map((f) => `${f.path} ${f.status}`).join(", ")})\n`,
    );
    expect(visitors.answers.length).to.be.greaterThan(50);
    expect(
      failed.every((f) => f.path === "/version" && f.status === 500),
      JSON.stringify(failed),
    ).to.equal(true);
    expect(failed.length).to.be.at.most(Math.ceil(visitors.answers.length / 4));
    const recorded = (await history()).canaries.at(-1)!;
    expect(recorded.image).to.equal(faulty.ref);
    expect(recorded.outcome).to.equal("failed");
    expect(recorded.steps.map((s) => s.verdict)).to.deep.equal(["failed"]);
  });

  it("a release that adds 200 ms to every answer is stopped by the latency check", async () => {
    const { run } = await deployWithVisitors(withLoad, slow);
    expect(run.code, run.stderr).to.equal(1);
    const [step] = verdicts(run);
    expect(step).to.match(/canary step 1\/2 .* failed after/);
    expect(step).to.match(
      /p99 latency (\d+) ms against stable's \d+ ms \(\+\d+ ms; at most \+100 ms allowed\)/,
    );
    expect(step).to.not.match(/5xx share/);
    const after = await cluster();
    expect(after.image).to.equal(fixture.images.v1.ref);
    expect(after.canary).to.equal(false);
  });

  it("with no traffic at all, the canary ends inconclusive and is rolled back, never promoted", async () => {
    const run = await deploy(withoutLoad, fixture.images.next);
    for (const line of verdicts(run)) process.stderr.write(`      [verdict] ${line.trim()}\n`);
    expect(run.code, run.stderr).to.equal(1);
    const [step] = verdicts(run);
    expect(step).to.match(/canary step 1\/2 .* inconclusive after/);
    expect(step).to.include("no data is never a pass");
    expect(run.stderr).to.include("was inconclusive");
    const after = await cluster();
    expect(after.image).to.equal(fixture.images.v1.ref);
    expect(after.canary).to.equal(false);
    expect((await history()).canaries.at(-1)!.outcome).to.equal("inconclusive");
  });

  it("a good release is promoted step by step to every replica, with no failed request, and history shows each step", async () => {
    const { run, visitors } = await deployWithVisitors(withLoad, fixture.images.next);
    ok(run);
    const result = JSON.parse(run.stdout) as { canary: CanaryJson };
    expect(result.canary.steps.map((s) => [s.canaryPods, s.stablePods, s.verdict])).to.deep.equal([
      [1, 3, "passed"],
      [3, 3, "passed"],
    ]);
    const after = await cluster();
    expect(after.image).to.equal(fixture.images.next.ref);
    expect(after.readyReplicas).to.equal(3);
    expect(after.canary).to.equal(false);
    expect(visitors.failed(), "no visitor saw a failure").to.deep.equal([]);
    const current = (await history()).revisions.find((r) => r.current)!;
    expect(current.commit).to.equal(fixture.images.next.commit);
    expect(current.canary?.outcome).to.equal("promoted");
    expect(current.canary?.steps.map((s) => s.verdict)).to.deep.equal(["passed", "passed"]);
    const text = await fixture.run(["history", "--env", "production"], withLoad);
    expect(text.stdout).to.match(
      /canary step 2\/2 \(50%: 3 canary pods beside 3 stable\) passed after/,
    );
    expect(text.stdout).to.match(/canaries that were not promoted[\s\S]*failed[\s\S]*inconclusive/);
  });

  describe("bad input: exit 2, and neither a canary nor a change to what serves", () => {
    const cases: [string, string, RegExp][] = [
      [
        "a load check the contract does not have",
        '["GET /version reports the build", "GET /verison"]',
        /strategy\.load\.checks names "GET \/verison", which the contract .* does not have; its checks: /,
      ],
      [
        "a load check that writes (POST) is refused before it reaches the app",
        '["two POSTs to /api/visits raise the count by exactly 2"]',
        /the canary's load sends only read-only requests \(GET, HEAD\), and a check sent POST \/api\/visits/,
      ],
    ];
    for (const [what, checks, message] of cases) {
      it(what, async () => {
        const before = await cluster();
        const historyBefore = await fixture.run(
          ["--json", "history", "--env", "production"],
          withLoad,
        );
        const run = await deploy(
          await projectWith(what.replace(/\W+/g, "-"), checks),
          fixture.images.next,
        );
        expect(run.code, run.stderr).to.equal(2);
        expect(run.stderr.trim().split("\n").at(-1)).to.match(message);
        expect(await cluster()).to.deep.equal(before);
        const after = await fixture.run(["--json", "history", "--env", "production"], withLoad);
        expect(JSON.parse(after.stdout)).to.deep.equal(JSON.parse(historyBefore.stdout));
      });
    }
  });

  it("on SIGTERM mid-step (Jenkins' abort or timeout) the canary is removed at once, exit 130, recorded as interrupted", async () => {
    const before = await cluster();
    const started = await canaryAnalysing(fixture.images.v1);
    started.child.kill("SIGTERM");
    const run = await started.done;
    expect(run.code, run.stderr).to.equal(130);
    expect(run.stderr).to.match(
      /interrupted during the canary of .*; the canary was removed and revision \d+ serves alone/,
    );
    const after = await cluster();
    expect(after.canary).to.equal(false);
    expect(after.image).to.equal(before.image);
    const last = (await history()).canaries.at(-1)!;
    expect([last.image, last.outcome]).to.deep.equal([fixture.images.v1.ref, "interrupted"]);
  });

  it("a deploy killed in the middle of a step is resolved by the next run", async () => {
    const started = await canaryAnalysing(fixture.images.v1);
    // As an agent that vanishes: no handler runs, nothing is cleaned up.
    started.child.kill("SIGKILL");
    await started.done;
    expect((await cluster()).canary, "the killed run's canary is left behind").to.equal(true);

    const next = await deploy(withLoad, fixture.images.v1, "--strategy", "rolling");
    ok(next);
    expect(next.stderr).to.match(
      /the canary .* never finished \(its process was killed or lost\); removing it/,
    );
    const after = await cluster();
    expect(after.canary).to.equal(false);
    expect(after.image).to.equal(fixture.images.v1.ref);
    const last = (await history()).canaries.at(-1)!;
    expect(last.outcome).to.equal("interrupted");
    expect(last.image).to.equal(fixture.images.v1.ref);
  });
});
