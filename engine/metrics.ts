// The doors' thread metrics. Latency is the server-side decision time: from the
// request decoded to the answer encoded, so it excludes the network and the
// client. Buckets are fine around a millisecond because that is the promise.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { OPS, type CommitResult, type Op } from '../protocol/types.js';
import { RequestAccumulators, RequestDurationHistogram, withSlot } from './request-metrics.js';

export type Door = 'grpc' | 'grpc_stream' | 'ws' | 'http';

export type RequestLabels = { readonly door: Door; readonly op: string };

/**
 * One frozen label object per door and op, made once, so the hot path allocates none;
 * each carries (unseen by prom-client) the slot of its counts (request-metrics.ts).
 */
export function requestLabels(door: Door): Readonly<Record<Op | 'unknown', RequestLabels>> {
  const out = {} as Record<Op | 'unknown', RequestLabels>;
  for (const op of [...OPS, 'unknown' as const]) out[op] = Object.freeze(withSlot({ door, op }));
  return Object.freeze(out);
}

export const DECISION_BUCKETS_S = [
  0.00001, 0.00002, 0.00003, 0.00004, 0.00005, 0.000075, 0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075,
  0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1,
];

export class EngineMetrics {
  readonly registry = new Registry();
  /** The hot path's counts; the request metrics below read them at scrape time. */
  private readonly acc = new RequestAccumulators(DECISION_BUCKETS_S);
  readonly requests: Counter<'door' | 'op'> = new Counter({
    name: 'kopilka_requests_total',
    help: 'Requests answered, by door and operation.',
    labelNames: ['door', 'op'] as const,
    registers: [this.registry],
    collect: () => this.acc.publishRequests(this.requests),
  });
  readonly errors: Counter<'door' | 'op' | 'code'> = new Counter({
    name: 'kopilka_errors_total',
    help: 'Requests answered with an error, by door, operation and error code.',
    labelNames: ['door', 'op', 'code'] as const,
    registers: [this.registry],
    collect: () => this.acc.publishErrors(this.errors),
  });
  readonly outcomes: Counter<'outcome'> = new Counter({
    name: 'kopilka_commit_outcomes_total',
    help: 'Commits answered, by outcome (ok, exists, insufficient_points, ...).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
    collect: () => this.acc.publishOutcomes(this.outcomes),
  });
  readonly duration = new RequestDurationHistogram(
    {
      name: 'kopilka_request_duration_seconds',
      help: 'Server-side time from request decoded to answer encoded, by door and operation.',
      registers: [this.registry],
    },
    this.acc,
  );
  readonly configVersion = new Gauge({
    name: 'kopilka_config_version',
    help: 'Configuration version the engine runs.',
    registers: [this.registry],
    aggregator: 'max',
  });
  readonly shardQueue: Gauge<'shard'>;
  readonly guests: Gauge;

  /** A request answered with a result; `started` is when it was decoded (performance.now()). */
  answered(labels: RequestLabels, started: number, result: unknown): void {
    this.answeredIn(labels, (performance.now() - started) / 1000, result);
  }

  /** A request answered with an error. */
  failed(labels: RequestLabels, started: number, code: string): void {
    this.failedIn(labels, (performance.now() - started) / 1000, code);
  }

  /** `answered` with the decision time already measured, in seconds. */
  answeredIn(labels: RequestLabels, seconds: number, result: unknown): void {
    this.acc.request(labels, seconds);
    if (labels.op === 'commit') this.acc.outcome((result as CommitResult).outcome);
  }

  /** `failed` with the decision time already measured, in seconds. */
  failedIn(labels: RequestLabels, seconds: number, code: string): void {
    this.acc.request(labels, seconds);
    this.acc.error(labels, code);
  }

  constructor(shardDepth: () => number[], guestsCount: () => number) {
    collectDefaultMetrics({ register: this.registry, prefix: 'kopilka_' });
    this.shardQueue = new Gauge({
      name: 'kopilka_shard_queue_depth',
      help: 'Requests sent to a shard and not yet answered.',
      labelNames: ['shard'] as const,
      registers: [this.registry],
      collect() {
        const depth = shardDepth();
        for (let i = 0; i < depth.length; i++) this.set({ shard: String(i) }, depth[i]!);
      },
    });
    this.guests = new Gauge({
      name: 'kopilka_guests',
      help: 'Guests registered.',
      registers: [this.registry],
      collect() {
        this.set(guestsCount());
      },
    });
  }
}
