import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { loadContract, runContractChecks, type ContractCheck } from "./contract-checks.js";

describe("contract checks", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "contract-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("run every check, never stopping at the first failure, and say why each failed", async () => {
    const seen: string[] = [];
    const checks: ContractCheck[] = [
      { name: "fails", run: () => Promise.reject(new Error("saw 500")) },
      {
        name: "passes and sees the target",
        run: (t) => {
          seen.push(`${t.baseUrl} ${t.expectedCommit} ${t.timeoutMs}`);
          return Promise.resolve();
        },
      },
      { name: "breaks", run: () => Promise.reject(new TypeError("fetch failed")) },
    ];
    const results = await runContractChecks(checks, {
      baseUrl: "http://127.0.0.1:1",
      expectedCommit: "abc",
    });
    expect(results.map((r) => [r.name, r.passed, r.failure])).to.deep.equal([
      ["fails", false, "saw 500"],
      ["passes and sees the target", true, undefined],
      ["breaks", false, "TypeError: fetch failed"],
    ]);
    expect(seen).to.deep.equal(["http://127.0.0.1:1 abc 5000"]);
  });

  it("never repeat the credentials of a target URL in a failure (verify --url https://user:pass@…)", async () => {
    const checks: ContractCheck[] = [
      {
        name: "fetches",
        run: (t) => t.fetch(`${t.baseUrl}/healthz`).then(() => undefined),
      },
    ];
    const [result] = await runContractChecks(checks, {
      baseUrl: "http://someone:hunter2@127.0.0.1:1",
      expectedCommit: "abc",
    });
    expect(result!.passed).to.equal(false);
    expect(result!.failure).not.to.include("hunter2");
    expect(result!.failure).to.include("http://***@127.0.0.1:1/healthz");
  });

  it("load the app's module, and name the file and the fix when it is wrong", async () => {
    const good = path.join(dir, "good.js");
    await writeFile(good, `export const checks = [{ name: "x", run: async () => {} }];\n`);
    expect((await loadContract(good)).map((c) => c.name)).to.deep.equal(["x"]);

    const cases: [string | undefined, RegExp][] = [
      [undefined, /set app\.contract/],
      [path.join(dir, "missing.js"), /missing\.js \(app\.contract\) does not exist; build it/],
    ];
    const empty = path.join(dir, "empty.js");
    await writeFile(empty, "export const checks = [];\n");
    cases.push([empty, /must export `checks`/]);
    const broken = path.join(dir, "broken.js");
    await writeFile(broken, "export const checks = [{ name: 1 }];\n");
    cases.push([broken, /checks\[0\] is not a/]);
    const syntax = path.join(dir, "syntax.js");
    await writeFile(syntax, "export const = ;\n");
    cases.push([syntax, /failed to load/]);
    for (const [file, message] of cases) {
      const error = await loadContract(file).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, String(file)).to.be.instanceOf(ConfigError);
      expect((error as Error).message).to.match(message);
    }
  });
});
