import { execFileSync } from "node:child_process";
import path from "node:path";

/**
 * The base images every test builds on or runs beside. `npm test` exports
 * NODE_IMAGE and REDIS_IMAGE; a test file run on its own asks
 * infra/images/build-local-images.sh, which picks an official image already in
 * the engine or builds a local stand-in. Either way no test ever pulls, so no
 * test depends on reaching a registry.
 */
function resolveBaseImages(): { node: string; redis: string } {
  if (!process.env.NODE_IMAGE || !process.env.REDIS_IMAGE) {
    const script = path.resolve(import.meta.dirname, "../../infra/images/build-local-images.sh");
    const exports = execFileSync("bash", [script, "--env"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    for (const match of exports.matchAll(/^export (NODE_IMAGE|REDIS_IMAGE)=(\S+)$/gm)) {
      // Child processes (the CLI under test, the server) see the same choice.
      process.env[match[1]!] ??= match[2]!;
    }
  }
  const node = process.env.NODE_IMAGE;
  const redis = process.env.REDIS_IMAGE;
  if (!node || !redis)
    throw new Error("build-local-images.sh --env named no NODE_IMAGE / REDIS_IMAGE");
  return { node, redis };
}

export const { node: NODE_IMAGE, redis: REDIS_IMAGE } = resolveBaseImages();
