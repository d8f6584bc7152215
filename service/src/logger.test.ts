import { expect } from "chai";
import { spawn } from "node:child_process";

const LOGGER = new URL("./logger.ts", import.meta.url).href;

/** Runs `body` in a child process with `createLogger("info")` as `logger`; returns its stdout. */
function runWithLogger(body: string): Promise<{ code: number | null; stdout: string }> {
  const script = `import { createLogger } from ${JSON.stringify(LOGGER)};\nconst logger = createLogger("info");\n${body}`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout })));
}

describe("the production logger", function () {
  this.timeout(20_000);

  it("writes every line to stdout as JSON, also when the process exits right after logging", async () => {
    const { code, stdout } = await runWithLogger(`
      for (let i = 0; i < 5000; i++) logger.info({ requestId: "r" + i, method: "GET", path: "/", status: 200, durationMs: 0.4 }, "request");
      logger.fatal("last words");
      process.exit(3);
    `);
    expect(code).to.equal(3);
    const lines = stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).to.have.length(5001);
    expect(lines[4999]).to.include({
      level: "info",
      service: "visit-counter",
      requestId: "r4999",
      msg: "request",
    });
    expect(lines[5000]).to.include({ level: "fatal", msg: "last words" });
  });

  it("writes a line at once when the service is idle", async () => {
    const { stdout } = await runWithLogger(`
      logger.info("first");
      await new Promise((resolve) => setTimeout(resolve, 300));
      logger.info("second");
      await new Promise((resolve) => setTimeout(resolve, 300));
      process.kill(process.pid, "SIGKILL");
    `);
    // SIGKILL runs no exit handler: what arrived was written while the process was idle.
    expect(stdout).to.include('"msg":"first"').and.to.include('"msg":"second"');
  });
});
