import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { MemoryReporter } from "../output/reporter.js";
import { GitFixture } from "../test-support/git-fixture.js";
import { runProcess } from "../test-support/run-process.js";
import { WebhookReceiver, type Answer } from "../test-support/webhook-receiver.js";
import type { CommandContext } from "./context.js";
import { notify, type NotifyDeps, type NotifyOptions } from "./notify.js";

const DIGEST = `sha256:${"c".repeat(64)}`;
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
/** Fast retries for tests: the same rules, shorter waits. */
const QUICK = { attempts: 4, firstDelayMs: 20, timeoutMs: 300, maxRetryAfterMs: 200 };

function context(
  env: NodeJS.ProcessEnv,
  cwd: string,
): CommandContext & { reporter: MemoryReporter } {
  return {
    reporter: new MemoryReporter(),
    env,
    cwd,
    config: () => Promise.reject(new Error("notify needs no config")),
    signal: new AbortController().signal,
  };
}

/** Everything the command said, lines and results, as one text. */
function said(reporter: MemoryReporter): string {
  return [
    ...reporter.lines,
    ...reporter.results.map((r) => `${r.summary} ${JSON.stringify(r.data)}`),
  ].join("\n");
}

describe("pipeline notify", () => {
  let dir: string;
  let artifact: string;
  const receivers: WebhookReceiver[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "pipeline-notify-"));
    artifact = path.join(dir, "build.json");
    await writeFile(
      artifact,
      JSON.stringify({
        schemaVersion: 1,
        app: "visit-counter",
        repository: "registry.example.com/visit-counter",
        treeHash: "f".repeat(40),
        tags: ["tree-ffff"],
        builtAt: "2026-01-01T00:00:00Z",
        reused: false,
        gitCommit: COMMIT,
        digest: DIGEST,
        imageRef: `registry.example.com/visit-counter@${DIGEST}`,
      }),
    );
  });
  after(async () => {
    for (const receiver of receivers) await receiver[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  async function receiver(...answers: Answer[]) {
    const started = await WebhookReceiver.start(...answers);
    receivers.push(started);
    return started;
  }

  const jenkinsEnv = (url: string): NodeJS.ProcessEnv => ({
    SLACK_WEBHOOK_URL: url,
    GIT_COMMIT: COMMIT,
    CHANGE_AUTHOR: "alice",
    CHANGE_TITLE: "Count visits per path",
    BRANCH_NAME: "PR-12",
    BUILD_URL: "https://jenkins.example.com/job/visit-counter/job/PR-12/7/",
    BUILD_NUMBER: "7",
    BUILD_START: String(Date.parse("2026-01-01T10:00:00Z")),
  });
  const options = (more: Partial<NotifyOptions> = {}): NotifyOptions => ({
    status: "failure",
    artifact,
    ...more,
  });
  const deps = (more: Partial<NotifyDeps> = {}): Partial<NotifyDeps> => ({
    policy: QUICK,
    now: () => Date.parse("2026-01-01T10:03:07Z"),
    ...more,
  });

  it("posts one Block Kit message with the environment, commit, author, image, build, duration and failing stage", async () => {
    const slack = await receiver({ status: 200 });
    const ctx = context(jenkinsEnv(slack.url), dir);
    const result = await notify(options({ stage: "Deploy to test", env: "test" }), ctx, deps());

    expect(result).to.include({ sent: true, delivered: true, attempts: 1, httpStatus: 200 });
    expect(slack.requests).to.have.length(1);
    const [request] = slack.requests;
    expect(request!.method).to.equal("POST");
    expect(request!.path).to.equal(slack.secretPath);
    expect(request!.headers["content-type"]).to.match(/^application\/json/);
    const message = JSON.parse(request!.body) as { text: string; blocks: { type: string }[] };
    expect(message.text).to.equal(":x: visit-counter in test failed at Deploy to test");
    expect(message.blocks.map((b) => b.type)).to.deep.equal([
      "header",
      "section",
      "section",
      "context",
    ]);
    const body = request!.body;
    for (const fact of [
      "*Failed stage*\\nDeploy to test",
      "*Environment*\\ntest",
      "*Branch*\\nPR-12",
      "*Commit*\\n`0123456789ab` Count visits per path",
      "*Author*\\nalice",
      `*Image*\\n\`registry.example.com/visit-counter@${DIGEST}\``,
      "*Duration*\\n3 min 7 s",
      "<https://jenkins.example.com/job/visit-counter/job/PR-12/7/|Build #7>",
    ]) {
      expect(body).to.include(fact);
    }
    expect(ctx.reporter.results[0]!.summary).to.equal(
      "notified Slack: :x: visit-counter in test failed at Deploy to test (1 attempt)",
    );
    expect(said(ctx.reporter)).to.not.include(slack.secretPath);
  });

  it("success and fixed leave out the failing stage; FAILED_STAGE names it on a failure", async () => {
    const slack = await receiver({ status: 200 });
    const env = { ...jenkinsEnv(slack.url), FAILED_STAGE: "Verify" };
    await notify(options({ status: "success", env: "production" }), context(env, dir), deps());
    await notify(options({ status: "fixed" }), context(env, dir), deps());
    await notify(options({ status: "failure" }), context(env, dir), deps());
    const texts = slack.requests.map((r) => (JSON.parse(r.body) as { text: string }).text);
    expect(texts).to.deep.equal([
      ":white_check_mark: visit-counter in production succeeded",
      ":large_green_circle: visit-counter is fixed",
      ":x: visit-counter failed at Verify",
    ]);
    expect(slack.requests[0]!.body).to.not.include("Failed stage");
    expect(slack.requests[2]!.body).to.include("*Failed stage*\\nVerify");
  });

  it("an aborted run (nobody approved in time) says so, and where it was stopped", async () => {
    const slack = await receiver({ status: 200 });
    const env = { ...jenkinsEnv(slack.url), FAILED_STAGE: "Approval" };
    await notify(options({ status: "aborted", env: "production" }), context(env, dir), deps());
    const body = slack.requests[0]!.body;
    expect((JSON.parse(body) as { text: string }).text).to.equal(
      ":no_entry_sign: visit-counter in production was aborted at Approval",
    );
    expect(body).to.include("*Stopped at*\\nApproval");
    expect(body).to.not.include("Failed stage");
  });

  it("takes the author and subject from git, and the duration from --duration or BUILD_DURATION", async () => {
    await using repo = await GitFixture.create({ "a.txt": "a" });
    const slack = await receiver({ status: 200 });
    const env = { SLACK_WEBHOOK_URL: slack.url, BUILD_DURATION: "12 min and counting" };
    await notify(
      options({ status: "success", artifact: path.join(dir, "none.json") }),
      context(env, repo.dir),
      deps(),
    );
    await notify(
      options({ status: "success", duration: 45, artifact: path.join(dir, "none.json") }),
      context(env, repo.dir),
      deps(),
    );
    const [first, second] = slack.requests.map((r) => r.body);
    expect(first).to.include(
      `*Commit*\\n\`${repo.git("rev-parse", "HEAD").slice(0, 12)}\` initial`,
    );
    expect(first).to.include("*Author*\\ntest");
    expect(first).to.include("*Duration*\\n12 min");
    expect(first).to.not.include("Image");
    expect(second).to.include("*Duration*\\n45 s");
  });

  it("escapes what Slack's mrkdwn would read as markup", async () => {
    const slack = await receiver({ status: 200 });
    const env = { ...jenkinsEnv(slack.url), CHANGE_AUTHOR: "<!channel> & co" };
    await notify(options(), context(env, dir), deps());
    expect(slack.requests[0]!.body).to.include("*Author*\\n&lt;!channel&gt; &amp; co");
  });

  it("a 500 twice, then 200: delivered on the third attempt, after backing off", async () => {
    const slack = await receiver({ status: 500 }, { status: 500 }, { status: 200 });
    const ctx = context(jenkinsEnv(slack.url), dir);
    const result = await notify(options(), ctx, deps());
    expect(result).to.include({ delivered: true, attempts: 3 });
    expect(slack.requests).to.have.length(3);
    expect(new Set(slack.requests.map((r) => r.body)).size).to.equal(1);
    // 20 ms, then 40 ms between the tries.
    expect(slack.requests[1]!.at - slack.requests[0]!.at).to.be.at.least(18);
    expect(slack.requests[2]!.at - slack.requests[1]!.at).to.be.at.least(38);
    expect(ctx.reporter.results[0]!.summary).to.match(/\(3 attempts\)$/);
  });

  it("a 500 every time: not delivered, a warning with the status and the number of attempts, no error", async () => {
    const slack = await receiver({ status: 500, body: "internal error" });
    const ctx = context(jenkinsEnv(slack.url), dir);
    const result = await notify(options(), ctx, deps());
    expect(result).to.include({ sent: true, delivered: false, attempts: 4, httpStatus: 500 });
    expect(slack.requests).to.have.length(4);
    expect(ctx.reporter.lines).to.include(
      "warning: the Slack notification was not delivered after 4 attempts: " +
        `HTTP 500 Internal Server Error: internal error (webhook at http://127.0.0.1:${new URL(slack.url).port}; the pipeline carries on)`,
    );
    expect(said(ctx.reporter)).to.not.include(slack.secretPath);
  });

  it("a 429 waits as long as Retry-After asks, up to a cap", async () => {
    const slack = await receiver(
      { status: 429, headers: { "retry-after": "30" } },
      { status: 200 },
    );
    const waits: number[] = [];
    const sleep = (ms: number) => {
      waits.push(ms);
      return Promise.resolve();
    };
    const result = await notify(options(), context(jenkinsEnv(slack.url), dir), deps({ sleep }));
    expect(result).to.include({ delivered: true, attempts: 2 });
    expect(waits).to.deep.equal([QUICK.maxRetryAfterMs]);
  });

  it("a 4xx other than 429 is not retried: Slack's word for it is in the warning", async () => {
    const slack = await receiver({ status: 404, body: "no_service" });
    const ctx = context(jenkinsEnv(slack.url), dir);
    const result = await notify(options(), ctx, deps());
    expect(result).to.include({ delivered: false, attempts: 1, httpStatus: 404 });
    expect(ctx.reporter.lines.join("\n")).to.include(
      "after 1 attempt: HTTP 404 Not Found: no_service",
    );
  });

  it("a receiver that never answers: a warning once the tries time out, within the bounded time", async () => {
    const slack = await receiver("hang");
    const ctx = context(jenkinsEnv(slack.url), dir);
    const started = Date.now();
    const result = await notify(options(), ctx, deps());
    const elapsed = Date.now() - started;
    expect(result).to.include({ delivered: false, attempts: 4 });
    expect(slack.requests).to.have.length(4);
    // 4 × 300 ms timeouts + 20 + 40 + 80 ms of backoff.
    expect(elapsed).to.be.within(1_300, 3_000);
    expect(ctx.reporter.lines.join("\n")).to.include("after 4 attempts: no answer within 0.3 s");
    expect(said(ctx.reporter)).to.not.include(slack.secretPath);
  });

  it("nobody listening: the connection error is retried and named, without the URL", async () => {
    const slack = await receiver({ status: 200 });
    const url = slack.url;
    await slack[Symbol.asyncDispose]();
    const ctx = context(jenkinsEnv(url), dir);
    const result = await notify(options(), ctx, deps());
    expect(result).to.include({ delivered: false, attempts: 4 });
    expect(ctx.reporter.lines.join("\n")).to.include("ECONNREFUSED");
    expect(said(ctx.reporter)).to.not.include(slack.secretPath);
  });

  it("no SLACK_WEBHOOK_URL: one line saying so, and nothing sent", async () => {
    const ctx = context({ BUILD_URL: "https://jenkins.example.com/1/" }, dir);
    const result = await notify(options(), ctx, deps());
    expect(result).to.include({ sent: false, delivered: false });
    expect(ctx.reporter.lines).to.deep.equal([]);
    expect(ctx.reporter.results.map((r) => r.summary)).to.deep.equal([
      "SLACK_WEBHOOK_URL is not set; no Slack notification sent",
    ]);
  });

  it("a SLACK_WEBHOOK_URL that is not an http(s) URL: a warning that does not repeat it", async () => {
    const secret = "hooks.slack.com/services/T1/B2/notaurl";
    const ctx = context({ SLACK_WEBHOOK_URL: secret }, dir);
    const result = await notify(options(), ctx, deps());
    expect(result).to.include({ sent: false });
    expect(ctx.reporter.lines).to.deep.equal([
      "warning: SLACK_WEBHOOK_URL is not an http(s) URL; no Slack notification sent",
    ]);
    expect(said(ctx.reporter)).to.not.include("notaurl");
  });
});

describe("pipeline notify, as Jenkins runs it: a real process", function () {
  this.timeout(20_000);

  /** main() in a child process with tsx, so no build is needed: real env, real exit code. */
  function pipeline(args: string[], env: NodeJS.ProcessEnv) {
    const main = path.join(import.meta.dirname, "../main.ts");
    const script = `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(process.argv.slice(1));`;
    return runProcess(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script, "--", ...args],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } },
    );
  }

  it("a webhook that always fails: exit 0, a warning naming the status and the attempts, never the URL", async () => {
    await using slack = await WebhookReceiver.start({ status: 503, body: "try later" });
    const started = Date.now();
    const run = await pipeline(["notify", "--status", "failure", "--stage", "Push"], {
      SLACK_WEBHOOK_URL: slack.url,
      BUILD_URL: "https://jenkins.example.com/job/x/1/",
    });
    expect(run.code).to.equal(0);
    expect(slack.requests).to.have.length(4);
    // The default policy: 0.5 s, 1 s, 2 s between the four tries.
    expect(Date.now() - started).to.be.within(3_500, 15_000);
    expect(run.stderr).to.match(
      /warning: the Slack notification was not delivered after 4 attempts: HTTP 503 Service Unavailable: try later/,
    );
    expect(run.stdout).to.equal("Slack notification not delivered\n");
    expect(run.stdout + run.stderr).to.not.include(slack.secretPath);
    expect(run.stdout + run.stderr).to.not.include("secret");
  });

  it("no webhook: exit 0 and one line", async () => {
    const run = await pipeline(["notify", "--status", "success"], {});
    expect(run.code).to.equal(0);
    expect(run.stdout).to.equal("SLACK_WEBHOOK_URL is not set; no Slack notification sent\n");
    expect(run.stderr).to.equal("");
  });
});

describe("pipeline notify, a webhook that never answers, default timeouts @slow", function () {
  this.timeout(60_000);

  it("gives up after 4 tries of 5 s each and exits 0 with a warning", async () => {
    await using slack = await WebhookReceiver.start("hang");
    const ctx = context({ SLACK_WEBHOOK_URL: slack.url }, tmpdir());
    const started = Date.now();
    const result = await notify({ status: "success", artifact: "/nonexistent/build.json" }, ctx);
    const elapsed = Date.now() - started;
    expect(result).to.include({ delivered: false, attempts: 4 });
    expect(elapsed).to.be.within(23_000, 30_000);
    expect(ctx.reporter.lines.join("\n")).to.include("no answer within 5 s");
    expect(said(ctx.reporter)).to.not.include(slack.secretPath);
  });
});
