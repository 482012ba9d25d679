import { AggregatorRegistry, Counter, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseBuckets, percentileMs } from '../../dist/bench/server-decision-time.js';
import { DECISION_BUCKETS_S, EngineMetrics, requestLabels } from '../../dist/engine/metrics.js';

const HTTP = requestLabels('http');
const WS = requestLabels('ws');
const GRPC = requestLabels('grpc');

function newMetrics(): EngineMetrics {
  return new EngineMetrics(() => [0, 0], () => 0);
}

/** The value of one exposition line, by its exact name and label text; undefined if absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

function lines(text: string, prefix: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

const le = (door: string, op: string, bound: string) => `kopilka_request_duration_seconds_bucket{le="${bound}",door="${door}",op="${op}"}`;

describe('EngineMetrics', () => {
  it('counts requests, durations and errors', async () => {
    const m = newMetrics();
    for (let i = 0; i < 7; i++) m.answered(HTTP.evaluate, performance.now(), { total: 1 });
    for (let i = 0; i < 3; i++) m.failed(HTTP.evaluate, performance.now(), 'invalid_field');
    m.failed(HTTP.evaluate, performance.now(), 'not_found');
    m.failed(WS.unknown, performance.now(), 'unknown_op');
    const text = await m.registry.metrics();
    expect(sample(text, 'kopilka_requests_total{door="http",op="evaluate"}')).toBe(11);
    expect(sample(text, 'kopilka_requests_total{door="ws",op="unknown"}')).toBe(1);
    expect(sample(text, 'kopilka_request_duration_seconds_count{door="http",op="evaluate"}')).toBe(11);
    expect(sample(text, le('http', 'evaluate', '+Inf'))).toBe(11);
    expect(sample(text, 'kopilka_request_duration_seconds_count{door="ws",op="unknown"}')).toBe(1);
    expect(sample(text, 'kopilka_errors_total{door="http",op="evaluate",code="invalid_field"}')).toBe(3);
    expect(sample(text, 'kopilka_errors_total{door="http",op="evaluate",code="not_found"}')).toBe(1);
    expect(sample(text, 'kopilka_errors_total{door="ws",op="unknown",code="unknown_op"}')).toBe(1);
    expect(lines(text, 'kopilka_errors_total{')).toHaveLength(3);
    // Measured from `started`: small and positive here.
    const sum = sample(text, 'kopilka_request_duration_seconds_sum{door="http",op="evaluate"}')!;
    expect(sum).toBeGreaterThanOrEqual(0);
    expect(sum).toBeLessThan(1);
    // Read through the Counter too (as grpc.test does).
    const errors = await m.errors.get();
    expect(errors.values.find((v) => v.labels.code === 'invalid_field')?.value).toBe(3);
  });

  it('puts a value equal to a bound in that bucket, cumulatively, +Inf being the count', async () => {
    const m = newMetrics();
    for (const bound of DECISION_BUCKETS_S) m.answeredIn(GRPC.balance, bound, {});
    m.answeredIn(GRPC.balance, 0, {}); // the first bucket
    m.answeredIn(GRPC.balance, 1.5, {}); // only +Inf
    m.answeredIn(GRPC.balance, 0.00010000001, {}); // just above 0.0001: the 0.00015 bucket
    const text = await m.registry.metrics();
    const n = DECISION_BUCKETS_S.length;
    for (let i = 0; i < n; i++) {
      const bound = DECISION_BUCKETS_S[i]!;
      const expected = i + 1 + 1 + (bound >= 0.00015 ? 1 : 0);
      expect(sample(text, le('grpc', 'balance', String(bound))), `le=${bound}`).toBe(expected);
    }
    expect(sample(text, le('grpc', 'balance', '+Inf'))).toBe(n + 3);
    expect(sample(text, 'kopilka_request_duration_seconds_count{door="grpc",op="balance"}')).toBe(n + 3);
    expect(sample(text, 'kopilka_requests_total{door="grpc",op="balance"}')).toBe(n + 3);
    const expectedSum = DECISION_BUCKETS_S.reduce((a, b) => a + b, 0) + 0 + 1.5 + 0.00010000001;
    expect(sample(text, 'kopilka_request_duration_seconds_sum{door="grpc",op="balance"}')).toBeCloseTo(expectedSum, 12);
    // 24 bounds and +Inf, in order, then sum and count.
    expect(lines(text, 'kopilka_request_duration_seconds_bucket{').map((l) => /le="([^"]+)"/.exec(l)![1])).toEqual([
      ...DECISION_BUCKETS_S.map(String),
      '+Inf',
    ]);
  });

  it('counts commit outcomes', async () => {
    const m = newMetrics();
    m.answeredIn(HTTP.commit, 0.0001, { outcome: 'ok' });
    m.answeredIn(WS.commit, 0.0001, { outcome: 'ok' });
    m.answeredIn(WS.commit, 0.0001, { outcome: 'exists' });
    m.answeredIn(GRPC.commit, 0.0001, { outcome: 'insufficient_points' });
    m.answeredIn(HTTP.evaluate, 0.0001, { outcome: 'not_a_commit' });
    const text = await m.registry.metrics();
    expect(sample(text, 'kopilka_commit_outcomes_total{outcome="ok"}')).toBe(2);
    expect(sample(text, 'kopilka_commit_outcomes_total{outcome="exists"}')).toBe(1);
    expect(sample(text, 'kopilka_commit_outcomes_total{outcome="insufficient_points"}')).toBe(1);
    expect(lines(text, 'kopilka_commit_outcomes_total{')).toHaveLength(3);
  });

  it('does not count twice over two scrapes, and adds what came between', async () => {
    const m = newMetrics();
    m.answeredIn(HTTP.identify, 0.00003, {});
    m.failedIn(HTTP.identify, 0.002, 'not_found');
    m.answeredIn(HTTP.commit, 0.0004, { outcome: 'ok' });
    const first = await m.registry.metrics();
    const second = await m.registry.metrics();
    const requestLines = (text: string) => lines(text, 'kopilka_re').concat(lines(text, 'kopilka_errors'), lines(text, 'kopilka_commit'));
    expect(requestLines(second)).toEqual(requestLines(first));
    expect(requestLines(first).length).toBeGreaterThan(DECISION_BUCKETS_S.length * 2);
    for (const text of [first, second]) {
      expect(sample(text, 'kopilka_requests_total{door="http",op="identify"}')).toBe(2);
      expect(sample(text, 'kopilka_errors_total{door="http",op="identify",code="not_found"}')).toBe(1);
      expect(sample(text, 'kopilka_commit_outcomes_total{outcome="ok"}')).toBe(1);
      expect(sample(text, le('http', 'identify', '0.00003'))).toBe(1);
      expect(sample(text, le('http', 'identify', '+Inf'))).toBe(2);
    }
    // The same figures through getMetricsAsJSON (what the aggregation reads) as well.
    await m.registry.getMetricsAsJSON();
    m.answeredIn(HTTP.identify, 0.00003, {});
    m.failedIn(HTTP.identify, 0.002, 'not_found');
    m.answeredIn(HTTP.commit, 0.0004, { outcome: 'ok' });
    const third = await m.registry.metrics();
    expect(sample(third, 'kopilka_requests_total{door="http",op="identify"}')).toBe(4);
    expect(sample(third, 'kopilka_errors_total{door="http",op="identify",code="not_found"}')).toBe(2);
    expect(sample(third, 'kopilka_commit_outcomes_total{outcome="ok"}')).toBe(2);
    expect(sample(third, le('http', 'identify', '0.00003'))).toBe(2);
    expect(sample(third, le('http', 'identify', '+Inf'))).toBe(4);
    expect(sample(third, 'kopilka_request_duration_seconds_count{door="http",op="identify"}')).toBe(4);
  });

  it('has no series for a label set never used', async () => {
    const m = newMetrics();
    const empty = await m.registry.metrics();
    expect(lines(empty, 'kopilka_requests_total{')).toEqual([]);
    expect(lines(empty, 'kopilka_request_duration_seconds')).toEqual([]);
    expect(lines(empty, 'kopilka_errors_total{')).toEqual([]);
    expect(lines(empty, 'kopilka_commit_outcomes_total{')).toEqual([]);
    expect(empty).toContain('# TYPE kopilka_request_duration_seconds histogram');
    m.answeredIn(WS.balance, 0.0001, {});
    const text = await m.registry.metrics();
    expect(lines(text, 'kopilka_requests_total{')).toEqual(['kopilka_requests_total{door="ws",op="balance"} 1']);
    expect(text).not.toContain('door="http"');
    expect(text).not.toContain('op="identify"');
    expect(lines(text, 'kopilka_request_duration_seconds_bucket{')).toHaveLength(DECISION_BUCKETS_S.length + 1);
    expect(lines(text, 'kopilka_errors_total{')).toEqual([]);
    expect(lines(text, 'kopilka_commit_outcomes_total{')).toEqual([]);
  });

  it('counts label objects made elsewhere than requestLabels with the same series', async () => {
    const m = newMetrics();
    m.answeredIn(HTTP.balance, 0.0001, {});
    m.answeredIn({ door: 'http', op: 'balance' }, 0.0001, {});
    m.failedIn({ door: 'http', op: 'balance' }, 0.0001, 'not_found');
    const text = await m.registry.metrics();
    expect(lines(text, 'kopilka_requests_total{')).toEqual(['kopilka_requests_total{door="http",op="balance"} 3']);
    expect(sample(text, 'kopilka_errors_total{door="http",op="balance",code="not_found"}')).toBe(1);
  });

  it('keeps instances apart', async () => {
    const a = newMetrics();
    const b = newMetrics();
    a.answeredIn(HTTP.balance, 0.0001, {});
    a.answeredIn(HTTP.balance, 0.0001, {});
    b.answeredIn(HTTP.balance, 0.0001, {});
    expect(sample(await a.registry.metrics(), 'kopilka_requests_total{door="http",op="balance"}')).toBe(2);
    expect(sample(await b.registry.metrics(), 'kopilka_requests_total{door="http",op="balance"}')).toBe(1);
  });

  describe('against prom-client itself', () => {
    const REQUEST_METRICS = ['kopilka_requests_total', 'kopilka_errors_total', 'kopilka_commit_outcomes_total', 'kopilka_request_duration_seconds'];

    /** What the metrics were before: prom-client's own Counter and Histogram, fed on every call. */
    function reference() {
      const registry = new Registry();
      const requests = new Counter({ name: 'kopilka_requests_total', help: 'Requests answered, by door and operation.', labelNames: ['door', 'op'], registers: [registry] });
      const errors = new Counter({ name: 'kopilka_errors_total', help: 'Requests answered with an error, by door, operation and error code.', labelNames: ['door', 'op', 'code'], registers: [registry] });
      const outcomes = new Counter({ name: 'kopilka_commit_outcomes_total', help: 'Commits answered, by outcome (ok, exists, insufficient_points, ...).', labelNames: ['outcome'], registers: [registry] });
      const duration = new Histogram({
        name: 'kopilka_request_duration_seconds',
        help: 'Server-side time from request decoded to answer encoded, by door and operation.',
        labelNames: ['door', 'op'],
        buckets: DECISION_BUCKETS_S,
        registers: [registry],
      });
      return { registry, requests, errors, outcomes, duration };
    }

    /** The same calls on both; deterministic pseudo-random durations, bounds among them. */
    function feed(m: EngineMetrics, ref: ReturnType<typeof reference>): void {
      let seed = 12345;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const labelSets = [HTTP.evaluate, HTTP.commit, WS.commit, GRPC.identify, WS.unknown, requestLabels('grpc_stream').balance];
      const outcomesList = ['ok', 'exists', 'insufficient_points'];
      const codes = ['invalid_field', 'not_found', 'internal'];
      for (let i = 0; i < 5000; i++) {
        const labels = labelSets[Math.floor(random() * labelSets.length)]!;
        const r = random();
        const seconds = r < 0.2 ? DECISION_BUCKETS_S[Math.floor(random() * DECISION_BUCKETS_S.length)]! : r < 0.22 ? 2 + random() : random() * random() * random() * 0.01;
        ref.requests.inc(labels);
        ref.duration.observe(labels, seconds);
        if (random() < 0.1) {
          const code = codes[Math.floor(random() * codes.length)]!;
          m.failedIn(labels, seconds, code);
          ref.errors.inc({ door: labels.door, op: labels.op, code });
        } else {
          const outcome = outcomesList[Math.floor(random() * outcomesList.length)]!;
          m.answeredIn(labels, seconds, { outcome });
          if (labels.op === 'commit') ref.outcomes.inc({ outcome });
        }
      }
    }

    it('gives the same exposition text', async () => {
      const m = newMetrics();
      const ref = reference();
      feed(m, ref);
      for (const name of REQUEST_METRICS) {
        const ours = await m.registry.getSingleMetricAsString(name);
        expect(ours).toBe(await ref.registry.getSingleMetricAsString(name));
        expect(ours.split('\n').length).toBeGreaterThan(2);
      }
    });

    it('aggregates across threads the same', async () => {
      const m = newMetrics();
      const ref = reference();
      feed(m, ref);
      type Json = MetricObjectWithValues<MetricValue<string>>[];
      const own = (await m.registry.getMetricsAsJSON()).filter((x) => REQUEST_METRICS.includes(x.name)) as Json;
      const refJson = (await ref.registry.getMetricsAsJSON()) as Json;
      expect(own).toEqual(refJson);
      // As engine.metricsText() does, with a second thread holding the same figures.
      const ours = await AggregatorRegistry.aggregate([own, own]).metrics();
      const theirs = await AggregatorRegistry.aggregate([refJson, refJson]).metrics();
      expect(ours).toBe(theirs);
      expect(sample(ours, le('http', 'evaluate', '+Inf'))).toBe(2 * sample(await m.registry.metrics(), le('http', 'evaluate', '+Inf'))!);
    });

    it('is read by the decision-time bench parser', async () => {
      const m = newMetrics();
      const ref = reference();
      const before = parseBuckets(await m.registry.metrics(), 'http', 'evaluate');
      feed(m, ref);
      const ours = parseBuckets(await m.registry.metrics(), 'http', 'evaluate');
      const theirs = parseBuckets(await ref.registry.metrics(), 'http', 'evaluate');
      expect(ours.size).toBe(DECISION_BUCKETS_S.length + 1);
      expect([...ours]).toEqual([...theirs]);
      expect(percentileMs(before, ours, 50)).toBe(percentileMs(new Map(), theirs, 50));
      expect(percentileMs(before, ours, 99)).toBeGreaterThan(0);
    });
  });
});
