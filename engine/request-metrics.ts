// Request metrics kept as plain numbers, published to prom-client at scrape time.
//
// Why: `EngineMetrics.answered`/`failed` run for every request on the doors'
// thread (tens of thousands a second). prom-client's `Counter.inc(labels)` and
// `Histogram.observe(labels, v)` validate the labels, hash the label object into
// a string and look it up in a map on every call (~4-7% of that thread in a
// profile). Here each (door, op) has a slot, fixed once when its frozen label
// object is made (`requestLabels`), and the hot path only adds to numbers and a
// typed array. Counters get the figures in their `collect()` hook (prom-client
// calls it before `get()`); the duration histogram is a small metric of our
// own whose `get()` returns what prom-client's Histogram returns, so the
// exposition text and the cross-thread aggregation (AggregatorRegistry) see no
// difference.

import type { Counter, Metric, MetricValue, Registry } from 'prom-client';

/** The slot of a label object made by `requestLabels` (non-enumerable, so prom-client never sees it). */
const SLOT: unique symbol = Symbol('kopilka.requestSlot');

type RequestLabelsLike = { readonly door: string; readonly op: string };
type Slotted = RequestLabelsLike & { readonly [SLOT]?: number };

// Slots are per (door, op) and process-wide: label objects are module constants
// of the doors, shared by every EngineMetrics (tests make several engines).
const slotByKey = new Map<string, number>();

function slotOf(door: string, op: string): number {
  const key = `${door}\u0000${op}`;
  let slot = slotByKey.get(key);
  if (slot === undefined) slotByKey.set(key, (slot = slotByKey.size));
  return slot;
}

/** Gives a label object (not yet frozen) its slot. */
export function withSlot<L extends RequestLabelsLike>(labels: L): L {
  Object.defineProperty(labels, SLOT, { value: slotOf(labels.door, labels.op), enumerable: false });
  return labels;
}

/** Index of the bucket holding `v`: the first upper bound `v` does not exceed, else the `+Inf` one. */
function bucketOf(bounds: Float64Array, v: number): number {
  const n = bounds.length;
  let i = 0;
  while (i < n && !(v <= bounds[i]!)) i++;
  return i;
}

class Counted {
  n = 0;
  published = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
}

/** One (door, op): the requests counter, the duration histogram and its error codes. */
class RequestSlot {
  requests = 0;
  requestsPublished = 0;
  /** Observations in the histogram (requests whose duration was a finite number). */
  count = 0;
  sum = 0;
  /** Per-bucket (not cumulative) counts; the last one is `+Inf`. */
  readonly buckets: Float64Array;
  errors: Map<string, Counted> | undefined = undefined;
  constructor(
    readonly labels: { readonly door: string; readonly op: string },
    bucketCount: number,
  ) {
    this.buckets = new Float64Array(bucketCount + 1);
  }
}

/** The accumulators of one EngineMetrics. */
export class RequestAccumulators {
  readonly bounds: Float64Array;
  private readonly slots: (RequestSlot | undefined)[] = [];
  /** Slots in order of first use, as prom-client lists series. */
  readonly used: RequestSlot[] = [];
  /** Error counts of every slot, in order of first use. */
  private readonly errorOrder: Counted[] = [];
  private readonly outcomes = new Map<string, Counted>();
  private readonly outcomeOrder: Counted[] = [];

  constructor(bounds: readonly number[]) {
    this.bounds = Float64Array.from(bounds);
  }

  /** A request answered (with a result or an error) in `seconds`. */
  request(labels: RequestLabelsLike, seconds: number): void {
    const s = this.slotFor(labels);
    s.requests++;
    // prom-client refused a non-finite observation (it threw); we skip it.
    if (seconds - seconds === 0) {
      s.count++;
      s.sum += seconds;
      s.buckets[bucketOf(this.bounds, seconds)]++;
    }
  }

  /** An error answered; `request` counts the request itself. */
  error(labels: RequestLabelsLike, code: string): void {
    const s = this.slotFor(labels);
    const errors = (s.errors ??= new Map());
    let c = errors.get(code);
    if (c === undefined) {
      errors.set(code, (c = new Counted(Object.freeze({ door: s.labels.door, op: s.labels.op, code }))));
      this.errorOrder.push(c);
    }
    c.n++;
  }

  outcome(outcome: string): void {
    let c = this.outcomes.get(outcome);
    if (c === undefined) {
      this.outcomes.set(outcome, (c = new Counted(Object.freeze({ outcome }))));
      this.outcomeOrder.push(c);
    }
    c.n++;
  }

  private slotFor(labels: RequestLabelsLike): RequestSlot {
    let slot = (labels as Slotted)[SLOT];
    // Label objects made elsewhere than `requestLabels`: the slow way, by name.
    if (slot === undefined) slot = slotOf(labels.door, labels.op);
    return this.slots[slot] ?? this.firstUse(slot, labels);
  }

  private firstUse(slot: number, labels: RequestLabelsLike): RequestSlot {
    const s = new RequestSlot(Object.freeze({ door: labels.door, op: labels.op }), this.bounds.length);
    while (this.slots.length < slot) this.slots.push(undefined);
    this.slots[slot] = s;
    this.used.push(s);
    return s;
  }

  // ---- scrape time: counters take the increase since the last scrape ----

  publishRequests(counter: Counter<string>): void {
    for (const s of this.used) {
      const delta = s.requests - s.requestsPublished;
      if (delta > 0) {
        counter.inc(s.labels, delta);
        s.requestsPublished = s.requests;
      }
    }
  }

  publishErrors(counter: Counter<string>): void {
    for (const c of this.errorOrder) publish(counter, c);
  }

  publishOutcomes(counter: Counter<string>): void {
    for (const c of this.outcomeOrder) publish(counter, c);
  }

  /** Empties the duration histogram (prom-client's `Histogram.reset()`). */
  resetDurations(): void {
    for (const s of this.used) {
      s.count = 0;
      s.sum = 0;
      s.buckets.fill(0);
    }
  }
}

function publish(counter: Counter<string>, c: Counted): void {
  const delta = c.n - c.published;
  if (delta > 0) {
    counter.inc(c.labels, delta);
    c.published = c.n;
  }
}

type HistogramValue = MetricValue<string> & { metricName: string; exemplar?: null };

/**
 * The request duration histogram, read from RequestAccumulators. Registered in
 * a prom-client Registry as a metric of its own: `get()` returns exactly the
 * shape of prom-client's `Histogram.get()` (cumulative `_bucket` values with
 * `le` first in the labels, `+Inf`, then `_sum` and `_count`, aggregator sum).
 */
export class RequestDurationHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly bucketName: string;
  private readonly sumName: string;
  private readonly countName: string;

  constructor(
    config: { name: string; help: string; registers: Registry[] },
    private readonly acc: RequestAccumulators,
  ) {
    this.name = config.name;
    this.help = config.help;
    this.bucketName = `${config.name}_bucket`;
    this.sumName = `${config.name}_sum`;
    this.countName = `${config.name}_count`;
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: HistogramValue[]; aggregator: 'sum' }> {
    const bounds = this.acc.bounds;
    const values: HistogramValue[] = [];
    for (const s of this.acc.used) {
      if (s.count === 0) continue; // never observed (or reset): no series, as in prom-client
      const { door, op } = s.labels;
      let cumulative = 0;
      for (let i = 0; i < bounds.length; i++) {
        cumulative += s.buckets[i]!;
        values.push({ value: cumulative, metricName: this.bucketName, exemplar: null, labels: { le: bounds[i]!, door, op } });
      }
      values.push({ value: s.count, metricName: this.bucketName, exemplar: null, labels: { le: '+Inf', door, op } });
      values.push({ value: s.sum, metricName: this.sumName, labels: { door, op } });
      values.push({ value: s.count, metricName: this.countName, labels: { door, op } });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.acc.resetDurations();
  }
}
