import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

/** The Node.js image tests build on and the Redis image they run beside. */
export interface BaseImages {
  readonly node: string;
  readonly redis: string;
}

const SCRIPT = "infra/images/build-local-images.sh";
let resolving: Promise<BaseImages> | undefined;

/**
 * Resolved on the first call, so call it in a `before` hook, never at import:
 * `npm run test:fast` loads every test file and must not reach for Docker.
 * NODE_IMAGE and REDIS_IMAGE win (`npm test` exports them); without them the
 * repository's build-local-images.sh picks an official image already in the
 * engine or builds a local stand-in. Either way no test ever pulls.
 */
export function baseImages(): Promise<BaseImages> {
  return (resolving ??= resolveBaseImages());
}

async function resolveBaseImages(): Promise<BaseImages> {
  if (!process.env.NODE_IMAGE || !process.env.REDIS_IMAGE) {
    const exports = await runScript(findScript());
    for (const match of exports.matchAll(/^export (NODE_IMAGE|REDIS_IMAGE)=(\S+)$/gm)) {
      // Child processes (the CLI under test, the server) see the same choice.
      process.env[match[1]!] ||= match[2]!;
    }
  }
  const node = process.env.NODE_IMAGE;
  const redis = process.env.REDIS_IMAGE;
  if (!node || !redis) throw new Error(`${SCRIPT} --env named no NODE_IMAGE / REDIS_IMAGE`);
  return { node, redis };
}

/** The script of the repository this package sits in. */
function findScript(): string {
  for (let dir = import.meta.dirname; ; dir = path.dirname(dir)) {
    const script = path.join(dir, SCRIPT);
    if (existsSync(script)) return script;
    if (path.dirname(dir) === dir) {
      throw new Error(`set NODE_IMAGE and REDIS_IMAGE: no ${SCRIPT} above ${import.meta.dirname}`);
    }
  }
}

function runScript(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Its progress goes to our stderr: a first run builds images for minutes.
    const child = spawn("bash", [script, "--env"], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`${script} --env exited with ${code}`)),
    );
  });
}
