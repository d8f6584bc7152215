import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  startRegistryServer,
  type StartedRegistryServer,
} from "../../pipeline-lib/src/test-support/registry-server.js";

/**
 * One registry for a whole `npm test` run, shared by the files that deploy to
 * the cluster, each under a repository path of its own.
 *
 * Why: a push to a registry that has none of an image's layers compresses
 * every layer in the Docker daemon (about 11 CPU-seconds for the service
 * image here), while a push to a registry that holds them already mounts them
 * from the other repository and compresses nothing. With a registry per file,
 * every deploying file paid the full push; the daemon was the suite's largest
 * CPU consumer after the tests themselves.
 *
 * mocha runs `mochaGlobalSetup` once, in its main process, before the first
 * file (.mocharc.cjs requires this module), and the worker processes it forks
 * afterwards inherit the registry's address and credentials through the
 * environment. Running mocha some other way (no global setup), each file
 * starts a registry of its own, as before.
 */
const HOST = "SUITE_REGISTRY_HOST";
const USERNAME = "SUITE_REGISTRY_USERNAME";
const PASSWORD = "SUITE_REGISTRY_PASSWORD";

let shared: StartedRegistryServer | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  // `npm run test:fast` runs where the registry's package may be missing, and
  // none of its files push; the deploying files say what to install.
  if (spawnSync("sh", ["-c", "command -v docker-registry"]).status !== 0) return;
  shared = await startRegistryServer();
  process.env[HOST] = shared.host;
  process.env[USERNAME] = shared.username;
  process.env[PASSWORD] = shared.password;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await shared?.stop();
  for (const name of [HOST, USERNAME, PASSWORD]) delete process.env[name];
}

/** A registry for one test file, and the repositories it may push to. */
export interface TestRegistry extends StartedRegistryServer {
  /** `<host>/<this file's own path>/<name>`: repositories no other file pushes to. */
  repository(name: string): string;
  /** The suite's registry (disposing of it leaves it running), or this file's own. */
  readonly shared: boolean;
}

/**
 * The suite's shared registry when mocha's global setup started one, with a
 * repository path no other caller gets; otherwise a registry of the caller's
 * own. Dispose of it either way: that stops only a registry of one's own.
 */
export async function testRegistry(env: NodeJS.ProcessEnv = process.env): Promise<TestRegistry> {
  const host = env[HOST];
  const username = env[USERNAME];
  const password = env[PASSWORD];
  if (host && username && password) {
    const prefix = `t-${randomBytes(4).toString("hex")}`;
    const keep = () => Promise.resolve();
    return {
      host,
      url: `http://${host}`,
      username,
      password,
      shared: true,
      repository: (name) => `${host}/${prefix}/${name}`,
      log: () => `(the suite's shared registry on ${host}; mocha's main process holds its log)`,
      stop: keep,
      [Symbol.asyncDispose]: keep,
    };
  }
  const own = await startRegistryServer();
  return {
    host: own.host,
    url: own.url,
    username: own.username,
    password: own.password,
    shared: false,
    repository: (name) => `${own.host}/${name}`,
    log: () => own.log(),
    stop: () => own.stop(),
    [Symbol.asyncDispose]: () => own.stop(),
  };
}
