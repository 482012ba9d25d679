// The boundary between the doors' thread and a shard is a message, never a shared
// object: a shard could live in another process and the doors would not notice.
// Messages travel in batches (one postMessage per event-loop turn per shard).

import type { ConfigSnapshot } from '../protocol/config.js';
import type { ErrorBody } from '../protocol/errors.js';
import type { Op, Operations } from '../protocol/types.js';

/** A request for one guest, routed to the shard that owns it. */
export interface ShardRequest {
  kind: 'request';
  /** Matches the reply; unique per shard connection. */
  id: number;
  op: Op;
  /** The owning guest; absent for `register`, which the shard allocates. */
  guestId: string;
  body: Operations[Op]['request'];
  /** Time the door received the request (ms since epoch), used as registration time. */
  receivedAt: number;
}

export interface ShardConfig {
  kind: 'config';
  config: ConfigSnapshot;
}

export interface ShardMetricsAsk {
  kind: 'metrics';
  id: number;
}

export type ShardInput = ShardRequest | ShardConfig | ShardMetricsAsk;

export type ShardReply =
  | { kind: 'result'; id: number; result: Operations[Op]['result'] }
  | { kind: 'error'; id: number; error: ErrorBody }
  | { kind: 'metrics'; id: number; metrics: unknown };

/** What a piscina task hands a worker to make it serve one shard. */
export interface AttachShardTask {
  shard: number;
  dataDir: string;
  config: ConfigSnapshot;
  port: import('node:worker_threads').MessagePort;
  /** Life of the payment codes the shard issues, ms; absent: the default (protocol/limits.ts). */
  paymentCodeTtlMs?: number;
}
