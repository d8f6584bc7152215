import { execSync } from "node:child_process";
import { cp, mkdir } from "node:fs/promises";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");

/**
 * A clone of the committed tree in its own git repository (branch develop),
 * so that edits in the work tree while the suite runs cannot change the build
 * inputs under it. It also gets what `npm ci` builds and git ignores: the
 * service's contract module, which pipeline.config.yaml names for `pipeline test`.
 */
export async function snapshotRepository(into: string): Promise<string> {
  const repo = path.join(into, "repo");
  await mkdir(repo);
  execSync(`git archive --format=tar HEAD | tar -x -C ${JSON.stringify(repo)}`, { cwd: ROOT });
  const git = (args: string) => execSync(`git ${args}`, { cwd: repo, stdio: "ignore" });
  git("init -q -b develop");
  git("add -A");
  git("-c user.name=test -c user.email=test@example.com commit -q -m snapshot");
  await cp(path.join(ROOT, "service/dist"), path.join(repo, "service/dist"), { recursive: true });
  return repo;
}
