/**
 * The canary's judgement, as plain functions over plain data: what each pod's
 * request histogram said at the start of a step and now, which pods are the
 * canary, and the thresholds of `strategy.analysis`. No I/O here; the canary
 * runner (canary.ts) scrapes and calls these.
 */

/** One sample line of the Prometheus text exposition format. */
export interface ExpositionSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the sample lines of the Prometheus text format (version 0.0.4, which
 * prom-client and every Prometheus client library serve): `name{l="v",…} value
 * [timestamp]`, with `\\`, `\"` and `\n` escapes in label values. Comments and
 * blank lines are skipped; a line that does not parse is skipped too (the
 * series it held is then missing, which can only make a step wait for data,
 * never pass it). Written here because the npm parser for this format
 * (parse-prometheus-text-format 1.1.1) merges every labelled series of a
 * histogram into one and drops their _count.
 */
export function parseExposition(text: string): ExpositionSample[] {
  const samples: ExpositionSample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const sample = parseSampleLine(line);
    if (sample) samples.push(sample);
  }
  return samples;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseSampleLine(line: string): ExpositionSample | undefined {
  const name = NAME.exec(line)?.[0];
  if (!name) return undefined;
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith("{")) {
    rest = rest.slice(1).trimStart();
    while (!rest.startsWith("}")) {
      const label = LABEL_NAME.exec(rest)?.[0];
      if (!label) return undefined;
      rest = rest.slice(label.length).trimStart();
      if (!rest.startsWith('="')) return undefined;
      rest = rest.slice(2);
      let value = "";
      let i = 0;
      for (; i < rest.length && rest[i] !== '"'; i++) {
        if (rest[i] === "\\" && i + 1 < rest.length) {
          const next = rest[++i];
          value += next === "n" ? "\n" : next;
        } else {
          value += rest[i];
        }
      }
      if (i >= rest.length) return undefined;
      labels[label] = value;
      rest = rest.slice(i + 1).trimStart();
      if (rest.startsWith(",")) rest = rest.slice(1).trimStart();
      else if (!rest.startsWith("}")) return undefined;
    }
    rest = rest.slice(1);
  }
  const fields = rest.trim().split(/\s+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === "") return undefined;
  const value = parseValue(fields[0]!);
  return value === undefined ? undefined : { name, labels, value };
}

function parseValue(text: string): number | undefined {
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}

/** Which histogram holds the app's requests, and what to leave out of it. */
export interface HistogramSpec {
  /** The histogram's name without _bucket/_count (http_request_duration_seconds). */
  histogram: string;
  statusLabel: string;
  routeLabel: string;
  /** Route label values never counted: the health checks, the metrics path. */
  ignoreRoutes: ReadonlySet<string>;
}

/** One labelled series of the request histogram: its cumulative buckets and count. */
export interface RequestSeries {
  status: string;
  /** Upper bound (seconds; Infinity for +Inf) → cumulative count, in rising order. */
  buckets: [number, number][];
  count: number;
}

/** A pod's request histogram at one moment, by series (its labels less `le`). */
export type RequestHistogram = Map<string, RequestSeries>;

/** The request histogram in one pod's metrics, ignored routes left out. */
export function requestHistogram(text: string, spec: HistogramSpec): RequestHistogram {
  const series: RequestHistogram = new Map();
  const entry = (labels: Record<string, string>) => {
    const { le: _le, ...rest } = labels;
    const key = Object.keys(rest)
      .sort()
      .map((k) => `${k}=${JSON.stringify(rest[k])}`)
      .join(",");
    let found = series.get(key);
    if (!found) {
      found = { status: rest[spec.statusLabel] ?? "", buckets: [], count: 0 };
      series.set(key, found);
    }
    return found;
  };
  for (const sample of parseExposition(text)) {
    const route = sample.labels[spec.routeLabel];
    if (route !== undefined && spec.ignoreRoutes.has(route)) continue;
    if (sample.name === `${spec.histogram}_bucket`) {
      const le = parseValue(sample.labels.le ?? "");
      if (le === undefined || Number.isNaN(le)) continue;
      entry(sample.labels).buckets.push([le, sample.value]);
    } else if (sample.name === `${spec.histogram}_count`) {
      entry(sample.labels).count = sample.value;
    }
  }
  for (const s of series.values()) s.buckets.sort((a, b) => a[0] - b[0]);
  return series;
}

/**
 * What a pod served between two reads of its histogram. A counter that went
 * down means the process restarted (its counters began at zero again), so
 * everything it reports now was served since: as Prometheus' increase() does,
 * never a negative rate.
 */
export function increaseSince(
  before: RequestHistogram | undefined,
  after: RequestHistogram,
): RequestHistogram {
  const result: RequestHistogram = new Map();
  let reset = false;
  if (before) {
    for (const [key, earlier] of before) {
      const later = after.get(key);
      if (!later || later.count < earlier.count) reset = true;
    }
  }
  for (const [key, later] of after) {
    const earlier = reset ? undefined : before?.get(key);
    if (!earlier) {
      result.set(key, { ...later, buckets: later.buckets.map(([le, c]) => [le, c]) });
      continue;
    }
    const at = new Map(earlier.buckets);
    result.set(key, {
      status: later.status,
      count: later.count - earlier.count,
      buckets: later.buckets.map(([le, c]) => [le, Math.max(0, c - (at.get(le) ?? 0))]),
    });
  }
  return result;
}

/** The requests one side (canary or stable) served in a window. */
export interface TrackStats {
  pods: number;
  requests: number;
  /** Answers with a 5xx status. */
  errors: number;
  /** errors / requests; undefined without requests. */
  errorRate: number | undefined;
  /** The 99th percentile of the request duration, in seconds, as histogram_quantile computes it. */
  p99Seconds: number | undefined;
}

/** Adds up the increases of one side's pods. */
export function trackStats(increases: RequestHistogram[]): TrackStats {
  let requests = 0;
  let errors = 0;
  const buckets = new Map<number, number>();
  for (const histogram of increases) {
    for (const series of histogram.values()) {
      requests += series.count;
      if (/^5\d\d$/.test(series.status)) errors += series.count;
      for (const [le, count] of series.buckets) buckets.set(le, (buckets.get(le) ?? 0) + count);
    }
  }
  const merged = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  return {
    pods: increases.length,
    requests,
    errors,
    errorRate: requests > 0 ? errors / requests : undefined,
    p99Seconds: histogramQuantile(0.99, merged),
  };
}

/**
 * Prometheus' histogram_quantile: the bucket the rank falls in, with linear
 * interpolation inside it (from 0 for the first bucket); a rank in the +Inf
 * bucket answers the highest finite bound. Undefined without observations.
 */
export function histogramQuantile(q: number, buckets: [number, number][]): number | undefined {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (buckets.length < 2 || total <= 0 || buckets.at(-1)![0] !== Infinity) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      if (count === below) return le;
      return lower + ((le - lower) * (rank - below)) / (count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}

/** The thresholds of `strategy.analysis`. */
export interface Thresholds {
  minRequests: number;
  maxErrorRateIncrease: number;
  maxP99IncreaseMs: number;
}

export type Judgement =
  | { kind: "pass"; summary: string }
  | { kind: "fail"; summary: string; failures: string[] }
  | { kind: "too-little-data"; summary: string };

/**
 * Canary against stable over the same window. Too few requests on either
 * side is never a pass: the caller waits, and at the end calls it
 * inconclusive.
 */
export function judge(canary: TrackStats, stable: TrackStats, limits: Thresholds): Judgement {
  const summary = `canary ${describeTrack(canary)}; stable ${describeTrack(stable)}`;
  const short = [
    canary.requests < limits.minRequests ? `canary ${canary.requests}` : undefined,
    stable.requests < limits.minRequests ? `stable ${stable.requests}` : undefined,
  ].filter((s): s is string => s !== undefined);
  if (short.length > 0) {
    return {
      kind: "too-little-data",
      summary: `${summary}; too little traffic to judge: ${short.join(", ")} of the ${limits.minRequests} requests each side needs`,
    };
  }
  const failures: string[] = [];
  const canaryRate = canary.errorRate ?? 0;
  const stableRate = stable.errorRate ?? 0;
  if (canaryRate - stableRate > limits.maxErrorRateIncrease) {
    failures.push(
      `5xx share ${percent(canaryRate)} against stable's ${percent(stableRate)} ` +
        `(at most ${(limits.maxErrorRateIncrease * 100).toFixed(1)} points more allowed)`,
    );
  }
  if (canary.p99Seconds !== undefined && stable.p99Seconds !== undefined) {
    const rise = (canary.p99Seconds - stable.p99Seconds) * 1000;
    if (rise > limits.maxP99IncreaseMs) {
      failures.push(
        `p99 latency ${ms(canary.p99Seconds)} against stable's ${ms(stable.p99Seconds)} ` +
          `(+${Math.round(rise)} ms; at most +${limits.maxP99IncreaseMs} ms allowed)`,
      );
    }
  }
  return failures.length > 0 ? { kind: "fail", summary, failures } : { kind: "pass", summary };
}

export function describeTrack(stats: TrackStats): string {
  const rate = stats.errorRate === undefined ? "-" : percent(stats.errorRate);
  const p99 = stats.p99Seconds === undefined ? "-" : ms(stats.p99Seconds);
  return `${stats.requests} requests, ${rate} 5xx, p99 ${p99}`;
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

function ms(seconds: number): string {
  return `${Math.round(seconds * 1000)} ms`;
}

/**
 * Canary pods for a step: the count that makes them `weight` percent of the
 * pods, beside every stable pod (none is taken away, so capacity never
 * drops): 25% beside 3 stable pods is 1, 50% beside 3 is 3. At least 1.
 */
export function canaryReplicas(stableReplicas: number, weight: number): number {
  if (weight <= 0 || weight >= 100) throw new RangeError(`weight ${weight} is not in 1..99`);
  return Math.max(1, Math.round((stableReplicas * weight) / (100 - weight)));
}
