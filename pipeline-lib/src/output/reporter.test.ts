import { expect } from "chai";
import { PassThrough } from "node:stream";
import { ConsoleReporter, type Clock, type OutputStream } from "./reporter.js";

/** A stream that records what was written, and claims to be a terminal when told to. */
function capture(tty: boolean, columns = 200): OutputStream & { text: () => string } {
  const stream = new PassThrough() as PassThrough & OutputStream & { text: () => string };
  let text = "";
  stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
  stream.isTTY = tty;
  stream.columns = columns;
  stream.text = () => text;
  return stream;
}

function manualClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000;
  return { now: () => now, advance: (ms) => (now += ms) };
}

async function flush(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

// Escape sequences for a terminal: colour (SGR) and cursor movement.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[/;

describe("ConsoleReporter", () => {
  it("writes plain lines without any escape sequence when stderr is not a terminal", async () => {
    const stderr = capture(false);
    const clock = manualClock();
    const reporter = new ConsoleReporter({ stage: "deploy", stderr, clock, env: {} });
    reporter.status("Deployment test/app: 0/2 ready");
    clock.advance(1500);
    reporter.status("Deployment test/app: 1/2 ready");
    reporter.progress("rolled out");
    reporter.warn("careful");
    await flush();
    expect(stderr.text()).to.equal(
      "[deploy +0.0s] Deployment test/app: 0/2 ready\n" +
        "[deploy +1.5s] Deployment test/app: 1/2 ready\n" +
        "[deploy +1.5s] rolled out\n" +
        "[deploy +1.5s] warning: careful\n",
    );
  });

  it("is plain in CI even on a terminal, and with NO_COLOR has no colour", async () => {
    const ci = capture(true);
    new ConsoleReporter({ stage: "build", stderr: ci, env: { CI: "true" } }).status("step 1/3");
    const noColor = capture(true);
    const reporter = new ConsoleReporter({
      stage: "build",
      stderr: noColor,
      env: { NO_COLOR: "1" },
    });
    reporter.progress("a line");
    reporter.warn("a warning");
    await flush();
    expect(ci.text()).to.match(/^\[build \+\d+\.\ds\] step 1\/3\n$/);
    expect(noColor.text()).not.to.match(ANSI);
  });

  it("updates a status line in place on a terminal, then keeps the last one when progress moves on", async () => {
    const stderr = capture(true);
    const clock = manualClock();
    const reporter = new ConsoleReporter({
      stage: "deploy",
      stderr,
      clock,
      env: { NO_COLOR: "1" },
    });
    reporter.status("waiting for pod a (ContainerCreating)");
    clock.advance(3000);
    reporter.status("waiting for pod a (ContainerCreating)");
    reporter.warn("slow pull");
    reporter.status("waiting for pod b (ContainerCreating)");
    reporter.progress("rolled out revision 2");
    await flush();
    const up = "\x1b[1A\r\x1b[2K";
    expect(stderr.text()).to.equal(
      "[deploy +0.0s] waiting for pod a (ContainerCreating)\n" +
        // The same status again: redrawn in place, with how long it has waited.
        `${up}[deploy +3.0s] waiting for pod a (ContainerCreating) (3s)\n` +
        // A warning goes above the status line, which is drawn again below it.
        `${up}[deploy +3.0s] warning: slow pull\n` +
        "[deploy +3.0s] waiting for pod a (ContainerCreating) (3s)\n" +
        `${up}[deploy +3.0s] waiting for pod b (ContainerCreating)\n` +
        "[deploy +3.0s] rolled out revision 2\n",
    );
  });

  it("cuts a status line to the terminal's width so that redrawing it leaves nothing behind", async () => {
    const stderr = capture(true, 40);
    const reporter = new ConsoleReporter({ stage: "push", stderr, env: { FORCE_COLOR: "1" } });
    reporter.status(`pushing ${"x".repeat(100)}`);
    reporter.progress("done");
    await flush();
    const first = stderr.text().split("\n")[0]!;
    // eslint-disable-next-line no-control-regex
    expect(first.replace(/\x1b\[[0-9;]*m/g, "").length).to.be.at.most(39);
    expect(first).to.match(ANSI, "FORCE_COLOR colours the prefix");
    expect(first.endsWith("…")).to.equal(true);
  });

  it("prints the result to stdout, as JSON with --json", async () => {
    const stdout = capture(false);
    const stderr = capture(true);
    const reporter = new ConsoleReporter({ stage: "x", json: true, stdout, stderr, env: {} });
    reporter.status("busy");
    reporter.result("human summary", { ok: true });
    await flush();
    expect(JSON.parse(stdout.text())).to.deep.equal({ ok: true });
  });
});
