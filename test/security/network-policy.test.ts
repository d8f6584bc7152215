import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { DeployFixture } from "../support/deploy-fixture.js";

/** The labels that k8s/network-policy.yaml lets reach Redis. */
const APP_LABELS = {
  "app.kubernetes.io/name": "visit-counter",
  "app.kubernetes.io/component": "web",
};
const POLICY = "redis-from-visit-counter-only";
/** Tries a probe makes, a second apart: the enforcer adds a new pod's address to its rules a moment after the pod starts. */
const TRIES = 8;

interface ProbeResult {
  /** The probe pod's phase: Succeeded when one PING got PONG, Failed when none did. */
  phase: string;
  log: string;
}

/**
 * The NetworkPolicy in k8s/network-policy.yaml, enforced on a real cluster (on
 * the testbed, by kube-router's firewall, which `enforceNetworkPolicy` adds):
 * the shipped bin deploys the app and
 * Redis to a fresh namespace, then pods running `redis-cli PING` against the
 * `redis` Service show who gets through. A pod without the app's labels is
 * refused; a pod with them, and the app itself, reach Redis; and once the
 * policy is deleted the same unlabelled pod gets PONG, so the refusal was the
 * policy's doing. Every pod meets Pod Security "restricted", which the deploy
 * labels the namespace with.
 */
describe("NetworkPolicy: only the app's pods reach Redis, on a real cluster @slow", function () {
  this.timeout(900_000);
  let fixture: DeployFixture | undefined;
  const namespace = `netpol-${randomBytes(3).toString("hex")}`;
  let redisImage = "";
  let pullSecrets: k8s.V1LocalObjectReference[] = [];
  let probes = 0;

  before(async function () {
    // A cold first run builds kube-router (minutes on 2 cores) besides the fixture's images.
    this.timeout(1_800_000);
    fixture = await DeployFixture.create((line) =>
      process.stderr.write(`      [fixture] ${line}\n`),
    );
    // The testbed enforces NetworkPolicy only when asked (kube-router's
    // firewall, built on first use); testbed.sh's progress lines go to stderr.
    await fixture.cluster.enforceNetworkPolicy();
    const project = await fixture.project(namespace, { replicas: 1 });
    const run = await fixture.run(
      ["deploy", "--env", "test", "--image", fixture.images.v1.ref],
      project,
      { GIT_COMMIT: fixture.images.v1.commit },
    );
    expect(run.code, `exit ${run.code}\n${run.stderr}`).to.equal(0);
    // The probes run the image and pull secret that the deploy gave Redis.
    const redis = await fixture.core().readNamespacedPod({ name: "redis-0", namespace });
    redisImage = redis.spec!.containers[0]!.image!;
    pullSecrets = redis.spec!.imagePullSecrets ?? [];
  });
  after(async () => {
    if (!fixture) return;
    await fixture.deleteNamespace(namespace);
    await fixture[Symbol.asyncDispose]();
  });

  /**
   * A pod with these labels that PINGs Redis through its Service, up to
   * {@link TRIES} times, and exits 0 at the first PONG; its log shows every try.
   */
  async function probe(labels: Record<string, string>): Promise<ProbeResult> {
    const core = fixture!.core();
    const name = `probe-${++probes}`;
    const script = [
      `for i in $(seq ${TRIES}); do`,
      "  out=$(timeout 3 redis-cli -h redis -p 6379 PING 2>&1); rc=$?",
      '  echo "try $i: exit $rc: $out"',
      '  [ "$out" = PONG ] && exit 0',
      "  sleep 1",
      "done",
      "exit 1",
    ].join("\n");
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels: { ...labels, "pipeline-test/probe": "redis" } },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          imagePullSecrets: pullSecrets,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 999,
            runAsGroup: 999,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: "probe",
              image: redisImage,
              imagePullPolicy: "IfNotPresent",
              command: ["sh", "-c", script],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
            },
          ],
        },
      },
    });
    const deadline = Date.now() + 120_000;
    let phase = "";
    while (Date.now() < deadline) {
      const pod = await core.readNamespacedPod({ name, namespace });
      phase = pod.status?.phase ?? "";
      if (phase === "Succeeded" || phase === "Failed") break;
      await sleep(500);
    }
    const log = await core.readNamespacedPodLog({ name, namespace, container: "probe" });
    return { phase, log };
  }

  it("refuses a pod without the app's labels", async () => {
    const result = await probe({ "app.kubernetes.io/name": "intruder" });
    console.log(`      unlabelled pod, policy in place:\n${indent(result.log)}`);
    expect(result.phase, result.log).to.equal("Failed");
    expect(result.log).not.to.contain("PONG");
    // Refused or timed out at the connection, after the Service's name resolved.
    const tries = result.log.trim().split("\n");
    expect(tries).to.have.length(TRIES);
    for (const line of tries) {
      expect(line).to.match(/Connection refused|exit 124/);
      expect(line).not.to.match(/Name or service not known|Temporary failure in name resolution/);
    }
  });

  it("lets a pod with the app's labels, and the app itself, reach Redis", async () => {
    const result = await probe(APP_LABELS);
    console.log(`      pod with the app's labels, policy in place:\n${indent(result.log)}`);
    expect(result.phase, result.log).to.equal("Succeeded");
    expect(result.log).to.match(/exit 0: PONG/);

    // The app counts visits in Redis, through the NodePort on 127.0.0.1.
    const base = await fixture!.visitorBase(namespace);
    const ready = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) });
    expect(ready.status).to.equal(200);
    const visit = await fetch(`${base}/api/visits`, {
      method: "POST",
      signal: AbortSignal.timeout(5_000),
    });
    expect(visit.status).to.equal(200);
    expect(((await visit.json()) as { visits: number }).visits).to.equal(1);
  });

  it("lets the same unlabelled pod in once the NetworkPolicy is deleted (the control)", async () => {
    const networking = fixture!.cluster.kubeConfig.makeApiClient(k8s.NetworkingV1Api);
    const policies = await networking.listNamespacedNetworkPolicy({ namespace });
    expect(policies.items.map((p) => p.metadata?.name)).to.deep.equal([POLICY]);
    await networking.deleteNamespacedNetworkPolicy({ name: POLICY, namespace });

    const result = await probe({ "app.kubernetes.io/name": "intruder" });
    console.log(`      unlabelled pod, policy deleted:\n${indent(result.log)}`);
    expect(result.phase, result.log).to.equal("Succeeded");
    expect(result.log).to.match(/exit 0: PONG/);
  });
});

function indent(text: string): string {
  return text
    .trim()
    .split("\n")
    .map((line) => `        ${line}`)
    .join("\n");
}
