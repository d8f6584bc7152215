import { expect } from "chai";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);
const LIB = path.resolve(import.meta.dirname, "lib.sh");

/** Runs `source lib.sh; SCRIPT` in bash; its stdout, or the exit code when it fails. */
async function bash(script: string): Promise<{ code: number; stdout: string }> {
  return exec("bash", ["-c", `set -euo pipefail; source "$LIB"; ${script}`], {
    env: { ...process.env, LIB },
  }).then(
    ({ stdout }) => ({ code: 0, stdout: stdout.trim() }),
    (error: { code?: number; stdout?: string }) => ({
      code: error.code ?? -1,
      stdout: (error.stdout ?? "").trim(),
    }),
  );
}

/** A process that is not ours: what a reboot hands the number of a component to. */
function impostor(): ChildProcess & { pid: number } {
  const child = spawn("sleep", ["600"], { stdio: "ignore" });
  if (child.pid === undefined) throw new Error("sleep did not start");
  return child as ChildProcess & { pid: number };
}

describe("infra/lib.sh pid files: a process that took a dead one's number is not ours", function () {
  let dir: string;
  let file: string;
  let other: ChildProcess & { pid: number };
  let bootId: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "pidfile-"));
    file = path.join(dir, "component.pid");
    bootId = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
  });
  beforeEach(() => {
    other = impostor();
  });
  afterEach(() => {
    other.kill("SIGKILL");
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("names a process it recorded, with its start time and the boot", async () => {
    const written = await bash(`pidfile_write "${file}" ${other.pid}; pidfile_pid "${file}"`);
    expect(written).to.deep.equal({ code: 0, stdout: String(other.pid) });
    const [pid, start, boot] = (await readFile(file, "utf8")).trim().split(" ");
    expect(pid).to.equal(String(other.pid));
    expect(start).to.match(/^\d+$/);
    expect(boot).to.equal(bootId);
  });

  it("does not name a live process whose start time differs (its number was reused)", async () => {
    const real = await bash(`proc_start_time ${other.pid}`);
    const reused = `${other.pid} ${Number(real.stdout) - 1} ${bootId}\n`;
    await writeFile(file, reused);
    expect(await bash(`pidfile_pid "${file}"`)).to.deep.equal({ code: 1, stdout: "" });
  });

  it("does not name a process recorded in another boot (a reboot or a restored machine)", async () => {
    const start = (await bash(`proc_start_time ${other.pid}`)).stdout;
    await writeFile(file, `${other.pid} ${start} 00000000-0000-0000-0000-000000000000\n`);
    expect(await bash(`pidfile_pid "${file}"`)).to.deep.equal({ code: 1, stdout: "" });
  });

  it("does not name a process that has exited, even before it is reaped", async () => {
    // A zombie: the child of a perl that neither waits for it nor exits (bash
    // would reap its own children).
    const zombie = path.join(dir, "zombie");
    const result = await bash(
      `perl -e '$|=1; my $p = fork; unless ($p) { sleep 1; exit 0 } print "$p\\n"; sleep 30' >"${zombie}" 2>/dev/null & parent=$!; ` +
        `until [[ -s "${zombie}" ]]; do sleep 0.05; done; p=$(cat "${zombie}"); ` +
        `pidfile_write "${file}" $p; [[ $(pidfile_pid "${file}") == "$p" ]] || { echo "not named while it ran"; exit 3; }; ` +
        `until [[ $(awk '{print $3}' /proc/$p/stat) == Z ]]; do sleep 0.05; done; ` +
        `rc=0; pidfile_pid "${file}" || rc=$?; kill -0 $p && kill $parent; exit $rc`,
    );
    expect(result).to.deep.equal({ code: 1, stdout: "" });
  });

  it("reads a pid file of the older, one-field kind by the process's name", async () => {
    await writeFile(file, `${other.pid}\n`);
    expect(await bash(`pidfile_pid "${file}" sleep`), "named sleep: ours").to.deep.equal({
      code: 0,
      stdout: String(other.pid),
    });
    expect(await bash(`pidfile_pid "${file}" coredns`), "named coredns: not ours").to.deep.equal({
      code: 1,
      stdout: "",
    });
    expect(await bash(`pidfile_pid "${file}"`), "no name to check: not ours").to.deep.equal({
      code: 1,
      stdout: "",
    });
  });

  it("does not name anything from a missing, empty or garbled file", async () => {
    expect(await bash(`pidfile_pid "${dir}/missing.pid"`)).to.deep.equal({ code: 1, stdout: "" });
    await writeFile(file, "");
    expect(await bash(`pidfile_pid "${file}"`)).to.deep.equal({ code: 1, stdout: "" });
    await writeFile(file, "not-a-pid 12 x\n");
    expect(await bash(`pidfile_pid "${file}"`)).to.deep.equal({ code: 1, stdout: "" });
  });
});
