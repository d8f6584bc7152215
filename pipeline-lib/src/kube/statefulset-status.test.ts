import { expect } from "chai";
import type * as k8s from "@kubernetes/client-node";
import { evaluateStatefulSet } from "./statefulset-status.js";

const statefulSet = (
  status: k8s.V1StatefulSetStatus,
  { generation = 2, replicas = 1, onDelete = false } = {},
): k8s.V1StatefulSet => ({
  metadata: { name: "redis", generation },
  spec: {
    replicas,
    selector: {},
    serviceName: "redis",
    template: {},
    ...(onDelete ? { updateStrategy: { type: "OnDelete" } } : {}),
  },
  status,
});

const crashing: k8s.V1Pod = {
  metadata: { name: "redis-0" },
  status: {
    containerStatuses: [
      {
        name: "redis",
        image: "redis",
        imageID: "",
        ready: false,
        restartCount: 4,
        state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s" } },
      },
    ],
  },
};

describe("evaluateStatefulSet (kubectl rollout status statefulset)", () => {
  const cases: [string, k8s.V1StatefulSet, k8s.V1Pod[], string, RegExp][] = [
    [
      "every replica on the update revision and ready",
      statefulSet({
        replicas: 1,
        observedGeneration: 2,
        updatedReplicas: 1,
        readyReplicas: 1,
        currentRevision: "r2",
        updateRevision: "r2",
      }),
      [],
      "complete",
      /^rolled out: 1\/1 updated, 1 ready$/,
    ],
    [
      "the controller has not seen the new spec",
      statefulSet({ replicas: 1, observedGeneration: 1, updatedReplicas: 1, readyReplicas: 1 }),
      [],
      "progressing",
      /waiting for the controller/,
    ],
    [
      "the new revision's pod is not ready yet",
      statefulSet({
        replicas: 1,
        observedGeneration: 2,
        updatedReplicas: 1,
        readyReplicas: 0,
        currentRevision: "r1",
        updateRevision: "r2",
      }),
      [],
      "progressing",
      /^1\/1 updated, 0 ready; waiting for the pods of revision r2$/,
    ],
    [
      "the old revision still serves",
      statefulSet({
        replicas: 1,
        observedGeneration: 2,
        updatedReplicas: 0,
        readyReplicas: 1,
        currentRevision: "r1",
        updateRevision: "r2",
      }),
      [],
      "progressing",
      /^0\/1 updated, 1 ready/,
    ],
    [
      "a pod that crash-loops fails it at once",
      statefulSet({ replicas: 1, observedGeneration: 2, updatedReplicas: 1, readyReplicas: 0 }),
      [crashing],
      "failed",
      /^pod redis-0: container redis is CrashLoopBackOff: back-off 40s$/,
    ],
    [
      "OnDelete: ready is enough (the pods change when someone deletes them)",
      statefulSet(
        {
          replicas: 1,
          observedGeneration: 2,
          updatedReplicas: 0,
          readyReplicas: 1,
          currentRevision: "r1",
          updateRevision: "r2",
        },
        { onDelete: true },
      ),
      [],
      "complete",
      /^rolled out/,
    ],
  ];
  for (const [title, object, pods, state, message] of cases) {
    it(title, () => {
      const status = evaluateStatefulSet(object, pods);
      expect(status.state).to.equal(state);
      expect(status.message).to.match(message);
    });
  }
});
