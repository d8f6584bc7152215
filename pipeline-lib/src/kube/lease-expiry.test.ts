import { expect } from "chai";
import {
  leaseDurationMs,
  mayTakeOver,
  observeLease,
  unchangedForMs,
  type LeaseObservation,
  type LeaseRecord,
} from "./lease-expiry.js";

/** A wall-clock time `offsetMs` from a fixed instant, as a Lease holds it. */
function at(offsetMs: number): string {
  return new Date(Date.UTC(2030, 0, 1) + offsetMs).toISOString().replace("Z", "000Z");
}

const MIN = 60_000;

function record(renewOffsetMs: number, extra: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    holderIdentity: "jenkins https://ci/job/app/41/",
    leaseDurationSeconds: 30,
    acquireTime: at(0),
    renewTime: at(renewOffsetMs),
    leaseTransitions: 2,
    ...extra,
  };
}

/** Observes each [monotonic time, record] reading in turn; returns the last observation. */
function observeAll(readings: [number, LeaseRecord][]): LeaseObservation {
  let observation: LeaseObservation | undefined;
  for (const [now, seen] of readings) observation = observeLease(observation, seen, now);
  return observation!;
}

describe("kube lease expiry: by when this process saw the lease change, not by the holder's clock", () => {
  const cases: {
    title: string;
    readings: [number, LeaseRecord][];
    now: number;
    fallbackMs?: number;
    expected: boolean;
  }[] = [
    {
      title: "a lease first seen just now, renewTime 5 minutes in the past: not yet",
      readings: [[1000, record(-5 * MIN)]],
      now: 1001,
      expected: false,
    },
    {
      title: "a lease first seen just now, renewTime 5 minutes in the future: not yet",
      readings: [[1000, record(+5 * MIN)]],
      now: 1001,
      expected: false,
    },
    {
      title: "unchanged for exactly its lease duration: not yet",
      readings: [[1000, record(-5 * MIN)]],
      now: 31_000,
      expected: false,
    },
    {
      title: "unchanged for longer than its lease duration, renewTime in the past: take over",
      readings: [
        [1000, record(-5 * MIN)],
        [20_000, record(-5 * MIN)],
      ],
      now: 31_001,
      expected: true,
    },
    {
      title: "unchanged for longer than its lease duration, renewTime 5 minutes ahead: take over",
      readings: [
        [1000, record(+5 * MIN)],
        [20_000, record(+5 * MIN)],
      ],
      now: 31_001,
      expected: true,
    },
    {
      title: "a holder 5 minutes behind that keeps renewing: never",
      readings: [
        [0, record(-5 * MIN)],
        [10_000, record(-5 * MIN + 10_000)],
        [20_000, record(-5 * MIN + 20_000)],
        [30_000, record(-5 * MIN + 30_000)],
      ],
      now: 59_000,
      expected: false,
    },
    {
      title: "a renewal moving renewTime backwards (its clock was set back) is still a change",
      readings: [
        [0, record(0)],
        [25_000, record(-MIN)],
      ],
      now: 50_000,
      expected: false,
    },
    {
      title: "a new holder restarts the wait",
      readings: [
        [0, record(0)],
        [25_000, record(0, { holderIdentity: "pipeline B", leaseTransitions: 3 })],
      ],
      now: 50_000,
      expected: false,
    },
    {
      title: "a change of leaseTransitions alone restarts the wait",
      readings: [
        [0, record(0)],
        [25_000, record(0, { leaseTransitions: 3 })],
      ],
      now: 50_000,
      expected: false,
    },
    {
      title: "goes by the holder's lease duration: 60 s unchanged for 45 s is not yet",
      readings: [[0, record(0, { leaseDurationSeconds: 60 })]],
      now: 45_000,
      fallbackMs: 3000,
      expected: false,
    },
    {
      title: "goes by ours when the Lease has no duration",
      readings: [[0, record(0, { leaseDurationSeconds: undefined })]],
      now: 3001,
      fallbackMs: 3000,
      expected: true,
    },
    {
      title: "nobody holds it: at once",
      readings: [[0, record(0, { holderIdentity: "" })]],
      now: 0,
      expected: true,
    },
  ];
  for (const { title, readings, now, fallbackMs = 30_000, expected } of cases) {
    it(title, () => {
      expect(mayTakeOver(observeAll(readings), now, fallbackMs)).to.equal(expected);
    });
  }

  it("keeps the time a record was first seen while it stays the same", () => {
    const first = observeLease(undefined, record(0), 100);
    const again = observeLease(first, { ...record(0) }, 5000);
    expect(again.at).to.equal(100);
    expect(unchangedForMs(again, 7000)).to.equal(6900);
    const changed = observeLease(again, record(10_000), 9000);
    expect(changed.at).to.equal(9000);
    expect(unchangedForMs(changed, 9000)).to.equal(0);
  });

  it("lease duration: the record's seconds, else the fallback", () => {
    expect(leaseDurationMs({ leaseDurationSeconds: 15 }, 30_000)).to.equal(15_000);
    expect(leaseDurationMs({}, 30_000)).to.equal(30_000);
    expect(leaseDurationMs({ leaseDurationSeconds: 0 }, 30_000)).to.equal(30_000);
  });
});
