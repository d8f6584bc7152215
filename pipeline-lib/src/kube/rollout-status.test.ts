import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import {
  evaluateRollout,
  newReplicaSet,
  podFailure,
  type RolloutState,
  type RolloutStatus,
} from "./rollout-status.js";

const UID = "deployment-uid";

interface DeploymentShape {
  replicas?: number;
  generation?: number;
  observedGeneration?: number;
  updated?: number;
  ready?: number;
  available?: number;
  total?: number;
  revision?: string;
  progressing?: { reason: string; message?: string };
}

function deployment(shape: DeploymentShape = {}): k8s.V1Deployment {
  const { replicas = 3, generation = 2, observedGeneration = generation } = shape;
  return {
    metadata: {
      name: "app",
      namespace: "test",
      uid: UID,
      generation,
      annotations: { "deployment.kubernetes.io/revision": shape.revision ?? "2" },
    },
    spec: { replicas, selector: { matchLabels: { app: "app" } }, template: {} },
    status: {
      observedGeneration,
      replicas: shape.total ?? shape.updated ?? replicas,
      updatedReplicas: shape.updated ?? replicas,
      readyReplicas: shape.ready ?? replicas,
      availableReplicas: shape.available ?? replicas,
      conditions: shape.progressing
        ? [{ type: "Progressing", status: "False", ...shape.progressing }]
        : [{ type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" }],
    },
  };
}

function replicaSet(name: string, revision: string, hash: string, owner = UID): k8s.V1ReplicaSet {
  return {
    metadata: {
      name,
      labels: { app: "app", "pod-template-hash": hash },
      annotations: { "deployment.kubernetes.io/revision": revision },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "app", uid: owner }],
    },
  };
}

const OLD_RS = replicaSet("app-old", "1", "old");
const NEW_RS = replicaSet("app-new", "2", "new");
const OTHER_RS = replicaSet("other-2", "2", "other", "another-uid");

type Waiting = { reason: string; message?: string };

function pod(
  name: string,
  hash: string,
  {
    ready = false,
    waiting,
    initWaiting,
    lastExit,
    terminating = false,
  }: {
    ready?: boolean;
    waiting?: Waiting;
    initWaiting?: Waiting;
    lastExit?: number;
    terminating?: boolean;
  } = {},
): k8s.V1Pod {
  const status = (state: Waiting | undefined, containerName: string): k8s.V1ContainerStatus => ({
    name: containerName,
    image: "app:1",
    imageID: "",
    ready,
    restartCount: lastExit === undefined ? 0 : 3,
    state: state ? { waiting: state } : { running: {} },
    lastState:
      lastExit === undefined
        ? {}
        : { terminated: { exitCode: lastExit, reason: "Error", containerID: "" } },
  });
  return {
    metadata: {
      name,
      labels: { app: "app", "pod-template-hash": hash },
      ...(terminating ? { deletionTimestamp: new Date() } : {}),
    },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      containerStatuses: [status(waiting, "app")],
      ...(initWaiting ? { initContainerStatuses: [status(initWaiting, "migrate")] } : {}),
    },
  };
}

interface Case {
  name: string;
  deployment: k8s.V1Deployment;
  pods?: k8s.V1Pod[];
  state: RolloutState;
  message: RegExp;
  expect?: Partial<RolloutStatus>;
}

const cases: Case[] = [
  {
    name: "a spec change the controller has not seen yet",
    deployment: deployment({ generation: 3, observedGeneration: 2 }),
    pods: [pod("app-old-a", "new", { waiting: { reason: "CrashLoopBackOff" } })],
    state: "progressing",
    message: /waiting for the deployment controller to see generation 3 \(it has seen 2\)/,
  },
  {
    name: "everything updated, ready and available",
    deployment: deployment(),
    pods: [pod("app-new-a", "new", { ready: true })],
    state: "complete",
    message: /^rolled out revision 2: 3\/3 updated, 3 ready, 3 available$/,
    expect: { revision: 2, replicaSet: "app-new", waitingFor: undefined },
  },
  {
    name: "fewer updated replicas than desired",
    deployment: deployment({ updated: 1, ready: 1, available: 1, total: 3 }),
    state: "progressing",
    message: /1\/3 updated, 1 ready, 1 available; waiting for 2 more updated replica\(s\)/,
  },
  {
    name: "fewer updated replicas, with a new pod starting",
    deployment: deployment({ updated: 2, ready: 2, available: 2, total: 3 }),
    pods: [
      pod("app-new-a", "new", { ready: true }),
      pod("app-new-b", "new", { waiting: { reason: "ContainerCreating" } }),
    ],
    state: "progressing",
    message: /2\/3 updated.*waiting for pod app-new-b to become ready \(ContainerCreating\)/,
    expect: { waitingFor: "app-new-b" },
  },
  {
    name: "old replicas still terminating",
    deployment: deployment({ total: 4 }),
    state: "progressing",
    message: /3\/3 updated, 3 ready, 3 available; waiting for 1 old replica\(s\) to terminate/,
  },
  {
    name: "updated replicas not available yet",
    deployment: deployment({ ready: 2, available: 2 }),
    pods: [
      pod("app-new-a", "new", { ready: true }),
      pod("app-new-b", "new", { ready: false }),
      pod("app-new-c", "new", { ready: true }),
    ],
    state: "progressing",
    message:
      /3\/3 updated, 2 ready, 2 available; waiting for pod app-new-b to become ready \(running, not ready\)/,
  },
  {
    name: "ready but not yet available (minReadySeconds)",
    deployment: deployment({ ready: 3, available: 1 }),
    pods: [pod("app-new-a", "new", { ready: true })],
    state: "progressing",
    message: /waiting for 2 updated replica\(s\) to become available/,
  },
  {
    name: "the progress deadline passed",
    deployment: deployment({
      ready: 0,
      available: 0,
      progressing: {
        reason: "ProgressDeadlineExceeded",
        message: 'ReplicaSet "app-new" has timed out progressing.',
      },
    }),
    state: "failed",
    message: /^exceeded its progress deadline \(600s\): ReplicaSet "app-new" has timed out/,
    expect: { deadlineExceeded: true },
  },
  {
    name: "a new pod in CrashLoopBackOff",
    deployment: deployment({ ready: 2, available: 2 }),
    pods: [
      pod("app-new-a", "new", {
        waiting: {
          reason: "CrashLoopBackOff",
          message: "back-off 10s restarting failed container",
        },
        lastExit: 1,
      }),
    ],
    state: "failed",
    message:
      /pod app-new-a of revision 2: container app is CrashLoopBackOff: back-off 10s restarting failed container; last run exited with code 1 \(Error\)/,
    expect: {
      failure: {
        pod: "app-new-a",
        container: "app",
        initContainer: false,
        reason: "CrashLoopBackOff",
        message: "back-off 10s restarting failed container; last run exited with code 1 (Error)",
        restartCount: 3,
      },
    },
  },
  {
    name: "an old pod in CrashLoopBackOff does not fail the new revision",
    deployment: deployment({ ready: 2, available: 2, total: 4 }),
    pods: [
      pod("app-old-a", "old", { waiting: { reason: "CrashLoopBackOff" } }),
      pod("app-new-a", "new", { ready: true }),
    ],
    state: "progressing",
    message: /waiting for 1 old replica\(s\) to terminate/,
  },
  {
    name: "a terminating new pod is ignored",
    deployment: deployment(),
    pods: [pod("app-new-gone", "new", { terminating: true, waiting: { reason: "ErrImagePull" } })],
    state: "complete",
    message: /rolled out/,
  },
  {
    name: "an init container that cannot start",
    deployment: deployment({ ready: 0, available: 0 }),
    pods: [
      pod("app-new-a", "new", {
        waiting: { reason: "PodInitializing" },
        initWaiting: { reason: "CreateContainerConfigError", message: 'secret "db" not found' },
      }),
    ],
    state: "failed",
    message: /init container migrate is CreateContainerConfigError: secret "db" not found/,
  },
  ...[
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerError",
    "RunContainerError",
  ].map((reason): Case => ({
    name: `a new pod waiting with ${reason}`,
    deployment: deployment({ ready: 0, available: 0 }),
    pods: [pod("app-new-a", "new", { waiting: { reason, message: "the details" } })],
    state: "failed",
    message: new RegExp(`container app is ${reason}: the details$`),
  })),
];

describe("evaluateRollout", function () {
  for (const c of cases) {
    it(`${c.state}: ${c.name}`, function () {
      const status = evaluateRollout(c.deployment, {
        replicaSets: [OLD_RS, NEW_RS, OTHER_RS],
        pods: c.pods,
      });
      expect(status.state).to.equal(c.state);
      expect(status.message).to.match(c.message);
      if (c.expect) expect(status).to.deep.include(c.expect);
    });
  }

  it("reports the counts of a rollout and defaults spec.replicas to 1", function () {
    const d = deployment({ updated: 0, ready: 0, available: 0, total: 0 });
    delete d.spec!.replicas;
    expect(evaluateRollout(d)).to.deep.include({
      state: "progressing",
      desired: 1,
      updated: 0,
      ready: 0,
      available: 0,
    });
  });
});

describe("newReplicaSet", function () {
  it("is the owned ReplicaSet whose revision the Deployment carries", function () {
    expect(newReplicaSet(deployment(), [OTHER_RS, OLD_RS, NEW_RS])?.metadata?.name).to.equal(
      "app-new",
    );
    expect(newReplicaSet(deployment({ revision: "1" }), [NEW_RS, OLD_RS])?.metadata?.name).to.equal(
      "app-old",
    );
    expect(newReplicaSet(deployment({ revision: "7" }), [NEW_RS, OLD_RS])).to.equal(undefined);
  });
});

describe("podFailure", function () {
  it("is undefined for a pod that is starting or running", function () {
    expect(podFailure(pod("a", "new", { waiting: { reason: "ContainerCreating" } }))).to.equal(
      undefined,
    );
    expect(podFailure(pod("a", "new", { ready: true }))).to.equal(undefined);
    expect(podFailure({ metadata: { name: "pending" } })).to.equal(undefined);
  });
});
