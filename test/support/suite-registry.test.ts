import { expect } from "chai";
import {
  startRegistryServer,
  type StartedRegistryServer,
} from "../../pipeline-lib/src/test-support/registry-server.js";
import path from "node:path";
import { startProcess } from "../../pipeline-lib/src/test-support/run-process.js";
import { testRegistry } from "./suite-registry.js";

const answers = async (url: string) =>
  fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) }).then(
    (response) => response.status,
    () => "no answer",
  );

describe("the suite's shared registry @slow", function () {
  this.timeout(60_000);

  it("without one, a file gets a registry of its own, which disposing of stops", async () => {
    const registry = await testRegistry({});
    expect(registry.shared).to.equal(false);
    expect(registry.repository("visit-counter")).to.equal(`${registry.host}/visit-counter`);
    expect(await answers(registry.url)).to.equal(401);
    await registry[Symbol.asyncDispose]();
    expect(await answers(registry.url)).to.equal("no answer");
  });

  describe("with one", () => {
    let server: StartedRegistryServer;
    let env: NodeJS.ProcessEnv;
    before(async () => {
      server = await startRegistryServer();
      env = {
        SUITE_REGISTRY_HOST: server.host,
        SUITE_REGISTRY_USERNAME: server.username,
        SUITE_REGISTRY_PASSWORD: server.password,
      };
    });
    after(async () => server?.stop());

    it("gives each file its own repository path on it, and disposing of one leaves it running", async () => {
      const first = await testRegistry(env);
      const second = await testRegistry(env);
      expect(first.shared).to.equal(true);
      expect([first.host, second.host]).to.deep.equal([server.host, server.host]);
      expect(first.password).to.equal(server.password);
      const [a, b] = [first.repository("visit-counter"), second.repository("visit-counter")];
      expect(a).to.match(new RegExp(`^${server.host}/t-[0-9a-f]{8}/visit-counter$`));
      expect(a).to.not.equal(b);
      // Within one file, its repositories share that path.
      expect(first.repository("redis")).to.equal(a.replace(/visit-counter$/, "redis"));
      await first[Symbol.asyncDispose]();
      expect(await answers(server.url)).to.equal(401);
    });
  });

  it("mocha's global setup starts it and puts it in the environment the workers inherit; teardown stops it, and nothing is left running", async () => {
    // In a process of its own, as mocha's main process: this one already has the suite's.
    const script = `
      const suite = await import(${JSON.stringify(path.join(import.meta.dirname, "suite-registry.ts"))});
      await suite.mochaGlobalSetup();
      const host = process.env.SUITE_REGISTRY_HOST;
      const status = (await fetch("http://" + host + "/v2/")).status;
      const password = process.env.SUITE_REGISTRY_PASSWORD?.length ?? 0;
      await suite.mochaGlobalTeardown();
      console.log(JSON.stringify({ host, status, password, after: process.env.SUITE_REGISTRY_HOST ?? null }));
    `;
    const child = startProcess(process.execPath, [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      script,
    ]);
    // A registry left running after teardown would keep the process (and mocha) alive.
    const timer = setTimeout(() => child.child.kill("SIGKILL"), 30_000);
    const run = await child.done.finally(() => clearTimeout(timer));
    expect(run.code, `still running 30 s after teardown, or failed: ${run.stderr}`).to.equal(0);
    const seen = JSON.parse(run.stdout.trim()) as {
      host: string;
      status: number;
      password: number;
      after: null;
    };
    expect(seen.host).to.match(/^127\.0\.0\.1:\d+$/);
    expect(seen.status).to.equal(401);
    expect(seen.password).to.be.above(16);
    expect(seen.after).to.equal(null);
    expect(await answers(`http://${seen.host}`)).to.equal("no answer");
  });
});
