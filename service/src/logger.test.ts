import { expect } from "chai";
import { spawn } from "node:child_process";

const LOGGER = new URL("./logger.ts", import.meta.url).href;

/** Runs `body` in a child process with `createLogger("info")` as `logger`; returns its stdout. */
function runWithLogger(body: string): Promise<{ code: number | null; stdout: string }> {
  const script = `import { createLogger, drainLogger } from ${JSON.stringify(LOGGER)};\nconst logger = createLogger("info");\n${body}`;
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

  it("drainLogger: lines logged while a long write is in flight come out whole and in order before the exit", async () => {
    // A 1 MB line is still being written to the pipe when the next lines are
    // logged; the exit's synchronous flush alone wrote them over it (seen:
    // "second" and "third" first, then 62 kB of the first line, cut).
    // Without drainLogger this fails (seen: a broken line of 146,267 characters first).
    const script = `
      logger.info({ big: "x".repeat(1_000_000) }, "first");
      logger.info("second");
      logger.info("third");
      await drainLogger(logger);
      process.exit(0);
    `;
    const messages = (stdout: string) =>
      stdout
        .trimEnd()
        .split("\n")
        .map((line) => {
          try {
            return String((JSON.parse(line) as { msg?: unknown }).msg);
          } catch {
            return `a broken line of ${line.length} characters`;
          }
        });
    for (let run = 0; run < 3; run++) {
      const { code, stdout } = await runWithLogger(script);
      expect(code).to.equal(0);
      expect(messages(stdout), `run ${run + 1}`).to.deep.equal(["first", "second", "third"]);
    }
  });
});
