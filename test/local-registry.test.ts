import { expect } from "chai";
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./support/free-port.js";

const exec = promisify(execFile);
const SCRIPT = path.resolve(import.meta.dirname, "../infra/registry/local-registry.sh");

describe("infra/registry/local-registry.sh @slow", function () {
  this.timeout(60_000);
  let cache: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    cache = await mkdtemp(path.join(os.tmpdir(), "local-registry-"));
    env = { ...process.env, PIPELINE_CACHE: cache, LOCAL_REGISTRY_PORT: String(await freePort()) };
  });
  after(async () => {
    await exec("bash", [SCRIPT, "down"], { env }).catch(() => undefined);
    await rm(cache, { recursive: true, force: true });
  });

  it("starts a Registry v2 with basic auth on 127.0.0.1, idempotently, and stops it", async () => {
    const url = `http://127.0.0.1:${env.LOCAL_REGISTRY_PORT}/v2/`;
    const up = await exec("bash", [SCRIPT, "up"], { env });
    expect(up.stdout).to.include(
      `export IMAGE_REPOSITORY=127.0.0.1:${env.LOCAL_REGISTRY_PORT}/visit-counter`,
    );

    expect((await fetch(url)).status, "anonymous requests are refused").to.equal(401);
    const password = (await readFile(path.join(cache, "registry/password"), "utf8")).trim();
    const auth = `Basic ${Buffer.from(`pipeline:${password}`).toString("base64")}`;
    expect((await fetch(url, { headers: { authorization: auth } })).status).to.equal(200);

    const again = await exec("bash", [SCRIPT, "up"], { env });
    expect(again.stderr).to.match(/already running/);
    expect((await exec("bash", [SCRIPT, "status"], { env })).stderr).to.match(
      /running on 127\.0\.0\.1/,
    );

    await exec("bash", [SCRIPT, "down"], { env });
    const stopped = await exec("bash", [SCRIPT, "status"], { env }).then(
      () => undefined,
      (error: { code?: number }) => error.code,
    );
    expect(stopped, "status exits 3 once it is down").to.equal(3);
    await fetch(url).then(
      () => expect.fail(`${url} still answers after down`),
      () => undefined,
    );
  });

  it("after a reboot, a process that took the old pid's number neither fools `up` nor is killed by `down`", async () => {
    // A machine killed or restored from a snapshot keeps the pid file, and
    // the number goes to some other process.
    const other = spawn("sleep", ["600"], { stdio: "ignore" });
    try {
      const pidfile = path.join(cache, "registry/registry.pid");
      await mkdir(path.dirname(pidfile), { recursive: true });
      for (const stale of [
        `${other.pid}\n`, // as this script wrote it before
        `${other.pid} 1 00000000-0000-0000-0000-000000000000\n`, // another boot
      ]) {
        await writeFile(pidfile, stale);
        const up = await exec("bash", [SCRIPT, "up"], { env });
        expect(up.stderr, stale).to.match(/starting docker-registry/);
        const url = `http://127.0.0.1:${env.LOCAL_REGISTRY_PORT}/v2/`;
        expect((await fetch(url)).status, `${stale}: the registry answers`).to.equal(401);
        await exec("bash", [SCRIPT, "down"], { env });
        expect(other.exitCode, `${stale}: down left the other process alone`).to.equal(null);
        expect(() => process.kill(other.pid!, 0)).not.to.throw();
      }
    } finally {
      other.kill("SIGKILL");
    }
  });
});
