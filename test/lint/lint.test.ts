import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ExitCode } from "../../pipeline-lib/src/errors.js";
import type { Finding } from "../../pipeline-lib/src/lint/finding.js";
import { main } from "../../pipeline-lib/src/main.js";
import { groovyJar, lintContext, lintFindings } from "../support/lint-context.js";

const FIXTURES = "test/lint/fixtures";

type Expected = Pick<Finding, "rule" | "line" | "severity">;
const error = (rule: string, line: number): Expected => ({ rule, line, severity: "error" });
const warning = (rule: string, line: number): Expected => ({ rule, line, severity: "warning" });

/** Each fixture breaks one rule and gives exactly that finding; the good ones give none. */
const FIXTURE_FINDINGS: Record<string, Expected[]> = {
  "good.Dockerfile": [],
  "latest-base.Dockerfile": [error("dockerfile/pinned-base-image", 3)],
  "untagged-arg-base.Dockerfile": [error("dockerfile/pinned-base-image", 3)],
  "root-user.Dockerfile": [error("dockerfile/non-root-user", 8)],
  "no-user.Dockerfile": [error("dockerfile/non-root-user", 3)],
  "good-multistage.Dockerfile": [],
  "root-in-parent-stage.Dockerfile": [error("dockerfile/non-root-user", 4)],
  "npm-install.Dockerfile": [error("dockerfile/npm-ci", 6)],
  "remote-add.Dockerfile": [error("dockerfile/no-remote-add", 7)],
  "secret-env.Dockerfile": [error("dockerfile/no-secret-in-env", 5)],
  "missing-labels.Dockerfile": [error("dockerfile/oci-labels", 3)],
  "syntax.Dockerfile": [error("dockerfile/syntax", 5)],
  "good.yaml": [],
  "no-probes.yaml": [error("k8s/probes", 26)],
  "field-typo.yaml": [error("k8s/unknown-field", 28)],
  "schema-type.yaml": [error("k8s/schema", 31)],
  "latest-image.yaml": [error("k8s/image-tag", 27)],
  "untagged-image.yaml": [error("k8s/image-tag", 27)],
  "no-run-as-non-root.yaml": [error("k8s/run-as-non-root", 20)],
  "no-read-only-root-filesystem.yaml": [error("k8s/read-only-root-filesystem", 46)],
  "no-memory-limit.yaml": [error("k8s/resources", 40)],
  "missing-labels.yaml": [warning("k8s/recommended-labels", 6)],
  "Jenkinsfile.good": [],
  "Jenkinsfile.missing-brace": [error("jenkinsfile/groovy-syntax", 19)],
  "Jenkinsfile.one-line-when": [error("jenkinsfile/one-block-per-line", 11)],
  "Jenkinsfile.unknown-command": [error("jenkinsfile/unknown-command", 7)],
  "good.sh": [],
  "unquoted-variable.sh": [warning("shell/SC2086", 5)],
};

describe("pipeline lint", function () {
  let env: NodeJS.ProcessEnv;
  before(async function () {
    // A fresh machine fetches Groovy from Maven Central first.
    this.timeout(300_000);
    env = { ...process.env, PIPELINE_GROOVY_JAR: await groovyJar() };
  });

  describe("one finding per fixture", () => {
    for (const [name, expected] of Object.entries(FIXTURE_FINDINGS)) {
      it(`${name}: ${expected.map((e) => `${e.rule} line ${e.line}`).join(", ") || "nothing"}`, async () => {
        const file = `${FIXTURES}/${name}`;
        const { result, failed } = await lintFindings({ paths: [file] }, lintContext(env));
        const found = result.findings.map(({ rule, line, severity }) => ({ rule, line, severity }));
        expect(found, JSON.stringify(result.findings, null, 2)).to.deep.equal(expected);
        expect(result.findings.every((f) => f.file === file && f.message.length > 0)).to.be.true;
        expect(failed).to.equal(expected.some((e) => e.severity === "error"));
      });
    }
  });

  it("names the line of a Groovy syntax error and the commands the CLI has", async () => {
    const { result } = await lintFindings(
      {
        paths: [`${FIXTURES}/Jenkinsfile.missing-brace`, `${FIXTURES}/Jenkinsfile.unknown-command`],
      },
      lintContext(env),
    );
    const messages = result.findings.map((f) => `${f.file}:${f.line} ${f.message}`);
    expect(messages).to.deep.equal([
      `${FIXTURES}/Jenkinsfile.missing-brace:19 Groovy 2.4.21: expecting '}', found ''`,
      `${FIXTURES}/Jenkinsfile.unknown-command:7 pipeline nosuchcommand: no such command ` +
        "(the CLI has build, test, push, attest, evidence, promote, deploy, verify, rollback, history, lint, notify, run, cached)",
    ]);
  });

  it("suggests the field a typo meant", async () => {
    const { result } = await lintFindings(
      { paths: [`${FIXTURES}/field-typo.yaml`] },
      lintContext(env),
    );
    expect(result.findings[0]!.message)
      .to.include('unknown field "imagePullPolcy"')
      .and.include('did you mean "imagePullPolicy"?');
  });

  it("the project's own tree gives no findings (TypeScript left out)", async function () {
    this.timeout(60_000);
    const { result, failed } = await lintFindings({ skip: ["typescript"] }, lintContext(env));
    expect(result.findings).to.deep.equal([]);
    expect(failed).to.be.false;
    expect(Object.keys(result.durations).sort()).to.deep.equal([
      "dockerfile",
      "jenkinsfiles",
      "manifests",
      "shell",
    ]);
  });

  it("warnings fail only with --warnings-as-errors or past --max-warnings", async () => {
    const paths = [`${FIXTURES}/missing-labels.yaml`, `${FIXTURES}/unquoted-variable.sh`];
    expect((await lintFindings({ paths }, lintContext(env))).failed).to.be.false;
    expect((await lintFindings({ paths, maxWarnings: 2 }, lintContext(env))).failed).to.be.false;
    expect((await lintFindings({ paths, maxWarnings: 1 }, lintContext(env))).failed).to.be.true;
    expect((await lintFindings({ paths, warningsAsErrors: true }, lintContext(env))).failed).to.be
      .true;
  });

  it("writes a checkstyle report for Jenkins' Warnings NG plugin", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "lint-report-"));
    try {
      const output = path.join(dir, "reports", "lint.xml");
      const ctx = lintContext(env);
      await lintFindings(
        { paths: [`${FIXTURES}/secret-env.Dockerfile`], format: "checkstyle", output },
        ctx,
      );
      expect(await readFile(output, "utf8")).to.equal(
        [
          '<?xml version="1.0" encoding="UTF-8"?>',
          '<checkstyle version="8.0">',
          `  <file name="${FIXTURES}/secret-env.Dockerfile">`,
          `    <error line="5" severity="error" message="ENV NPM_TOKEN looks like a secret; it stays in the image's history — pass it at run time, or as a build secret" source="dockerfile/no-secret-in-env"/>`,
          "  </file>",
          "</checkstyle>",
          "",
        ].join("\n"),
      );
      // The console still gets the human report.
      expect(ctx.reporter.results[0]!.summary).to.include(
        `${FIXTURES}/secret-env.Dockerfile:5 dockerfile/no-secret-in-env`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("without Groovy or shellcheck: an error that says how to get them, a warning when allowed", async () => {
    const missing = {
      ...env,
      PIPELINE_GROOVY_JAR: "/nonexistent/groovy-all.jar",
      PATH: "/nonexistent",
    };
    const paths = [`${FIXTURES}/Jenkinsfile.good`, `${FIXTURES}/good.sh`];
    const strict = await lintFindings({ paths }, lintContext(missing));
    expect(strict.failed).to.be.true;
    expect(strict.result.findings.map((f) => [f.rule, f.severity])).to.deep.equal([
      ["shell/shellcheck-unavailable", "error"],
      ["jenkinsfile/groovy-unavailable", "error"],
    ]);
    expect(strict.result.findings[0]!.message).to.include("apt-get install -y shellcheck");
    expect(strict.result.findings[1]!.message).to.include("bash infra/groovy/ensure-groovy.sh");

    const noJava = await lintFindings(
      { paths: [`${FIXTURES}/Jenkinsfile.good`] },
      lintContext({ ...env, PATH: "/nonexistent", JAVA_HOME: undefined }),
    );
    expect(noJava.result.findings[0]!.message).to.match(/^Java is missing/);

    const allowed = await lintFindings({ paths, allowMissingTools: true }, lintContext(missing));
    expect(allowed.failed).to.be.false;
    expect(allowed.result.findings.map((f) => f.severity)).to.deep.equal(["warning", "warning"]);
  });

  it("exits 1 on a finding, 0 on none and 2 on bad usage", async () => {
    let err = "";
    const output = { writeOut: () => undefined, writeErr: (t: string) => (err += t) };
    const exit = (...argv: string[]) => main(["lint", ...argv], { output });
    expect(await exit(`${FIXTURES}/npm-install.Dockerfile`)).to.equal(ExitCode.StageFailed);
    expect(err).to.include("lint failed: 1 error and 0 warnings in 1 file");
    expect(await exit(`${FIXTURES}/good.Dockerfile`)).to.equal(ExitCode.Success);
    expect(await exit("README.md")).to.equal(ExitCode.Usage);
    expect(err).to.include("cannot tell what README.md is");
    expect(await exit("--server-dry-run")).to.equal(ExitCode.Usage);
    expect(err).to.include("--server-dry-run needs --env");
  });
});
