import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { DeployFixture } from "../support/deploy-fixture.js";

/**
 * The real app and its Redis (a StatefulSet with append-only persistence on a
 * PersistentVolumeClaim, k8s/redis.yaml), deployed by the shipped bin to a
 * fresh namespace on the testbed. Visits counted before the Redis pod is
 * deleted are still there once the StatefulSet has brought redis-0 back,
 * read through the app's NodePort on 127.0.0.1 as a visitor would.
 */
describe("Redis data survives the loss of its pod, on a real cluster @slow", function () {
  this.timeout(900_000);
  let fixture: DeployFixture | undefined;
  const namespace = `reliability-${randomBytes(3).toString("hex")}`;
  const VISITS = 40;

  before(async function () {
    this.timeout(1_800_000);
    fixture = await DeployFixture.create((line) =>
      process.stderr.write(`      [fixture] ${line}\n`),
    );
  });
  after(async () => {
    if (!fixture) return;
    await fixture.deleteNamespace(namespace);
    await fixture[Symbol.asyncDispose]();
  });

  async function counts(base: string): Promise<{ status: number; visits?: number }> {
    try {
      const response = await fetch(`${base}/api/visits`, { signal: AbortSignal.timeout(3_000) });
      const body = (await response.json()) as { visits?: number };
      return { status: response.status, visits: body.visits };
    } catch {
      return { status: 0 };
    }
  }

  async function redisPod() {
    return fixture!
      .core()
      .readNamespacedPod({ name: "redis-0", namespace })
      .catch(() => undefined);
  }

  it("keeps every counted visit when redis-0 is deleted and comes back", async () => {
    const f = fixture!;
    const project = await f.project(namespace, { replicas: 1 });
    const run = await f.run(["deploy", "--env", "test", "--image", f.images.v1.ref], project, {
      GIT_COMMIT: f.images.v1.commit,
    });
    expect(run.code, run.stderr).to.equal(0);
    const base = await f.visitorBase(namespace);

    for (let i = 1; i <= VISITS; i++) {
      const response = await fetch(`${base}/api/visits`, {
        method: "POST",
        signal: AbortSignal.timeout(5_000),
      });
      expect(response.status).to.equal(200);
      expect(((await response.json()) as { visits: number }).visits).to.equal(i);
    }
    expect(await counts(base)).to.deep.equal({ status: 200, visits: VISITS });

    const before = await redisPod();
    const oldUid = before?.metadata?.uid;
    expect(oldUid).to.be.a("string");

    // A visitor reading the counts throughout: what does the outage look like from outside?
    const seen: { at: number; status: number; visits?: number }[] = [];
    let watching = true;
    const started = performance.now();
    const watcher = (async () => {
      while (watching && seen.length < 2_000) {
        seen.push({ at: performance.now() - started, ...(await counts(base)) });
        await sleep(200);
      }
    })();

    await f.core().deleteNamespacedPod({ name: "redis-0", namespace });
    let readyAt = -1;
    while (performance.now() - started < 180_000) {
      const pod = await redisPod();
      const ready = pod?.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
      if (pod?.metadata?.uid && pod.metadata.uid !== oldUid && ready) {
        readyAt = performance.now() - started;
        break;
      }
      await sleep(500);
    }
    expect(readyAt, "redis-0 came back Ready").to.be.above(0);

    // The app reconnects by itself; give it a bound.
    let servingAt = -1;
    while (performance.now() - started < readyAt + 30_000) {
      const now = await counts(base);
      if (now.status === 200) {
        servingAt = performance.now() - started;
        expect(now.visits, "the visits counted before the pod was deleted").to.equal(VISITS);
        break;
      }
      await sleep(200);
    }
    watching = false;
    await watcher;
    expect(servingAt, "the app answered 200 again").to.be.above(0);

    const after = await redisPod();
    const report = {
      visits: VISITS,
      redisReadyAfterMs: Math.round(readyAt),
      appServingAfterMs: Math.round(servingAt),
      reads: seen.length,
      readsNot200: seen.filter((s) => s.status !== 200).length,
      statuses: [...new Set(seen.map((s) => s.status))],
      sameClaim:
        before?.spec?.volumes?.find((v) => v.name === "data")?.persistentVolumeClaim?.claimName ===
        after?.spec?.volumes?.find((v) => v.name === "data")?.persistentVolumeClaim?.claimName,
    };
    console.log(`      redis pod deleted on the cluster: ${JSON.stringify(report)}`);
    expect(report.sameClaim, "the new pod mounts the same claim").to.equal(true);
    // Every read that got an answer saw all the visits; none saw a reset counter.
    for (const s of seen.filter((s) => s.status === 200)) expect(s.visits).to.equal(VISITS);
    // Reads in between get a 503, or no answer once readiness has taken the app
    // pod out of the Service; both are reported, neither is a lost visit.

    // And counting goes on from there.
    const next = await fetch(`${base}/api/visits`, { method: "POST" });
    expect(((await next.json()) as { visits: number }).visits).to.equal(VISITS + 1);
  });
});
