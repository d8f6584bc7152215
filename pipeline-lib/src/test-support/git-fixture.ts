import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/** A throwaway git repository with the given files committed. */
export class GitFixture implements AsyncDisposable {
  private constructor(readonly dir: string) {}

  static async create(files: Record<string, string>): Promise<GitFixture> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "pipeline-fixture-"));
    const fixture = new GitFixture(dir);
    fixture.git("init", "-q", "-b", "develop");
    await fixture.write(files);
    fixture.commit("initial");
    return fixture;
  }

  async write(files: Record<string, string>): Promise<void> {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(this.dir, name)), { recursive: true });
      await writeFile(path.join(this.dir, name), content);
    }
  }

  commit(message: string): string {
    this.git("add", "-A");
    this.git(
      "-c",
      "user.name=test",
      "-c",
      "user.email=test@example.com",
      "commit",
      "-q",
      "--allow-empty",
      "-m",
      message,
    );
    return this.git("rev-parse", "HEAD");
  }

  git(...args: string[]): string {
    return execFileSync("git", args, { cwd: this.dir, encoding: "utf8" }).trim();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
