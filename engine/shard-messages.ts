// The boundary between the doors' thread and a shard is a message, never a shared
// object: a shard could live in another process and the doors would not notice.
// Messages travel in batches (one postMessage per event-loop turn per shard).

import type { ConfigSnapshot } from '../protocol/config.js';
import type { ErrorBody } from '../protocol/errors.js';
import type { MergeOutcome, MergeResult, Operations } from '../protocol/types.js';

/**
 * Phase 2 of a merge (engine/guest-merge.ts), sent by the engine to the shard of the guest
 * who stays once phase 1 is durable; never by a door. Answers with `outcome`.
 */
export interface MergeInRequest {
  mergeId: string;
  outcome: MergeOutcome;
}

/** Operations between the engine and its shards only, beside the doors' ones. */
export interface InternalOperations {
  mergeIn: { request: MergeInRequest; result: MergeResult };
}

export type ShardOperations = Operations & InternalOperations;
export type ShardOp = keyof ShardOperations;

/** A request for one guest, routed to the shard that owns it. */
export interface ShardRequest {
  kind: 'request';
  /** Matches the reply; unique per shard connection. */
  id: number;
  op: ShardOp;
  /** The owning guest; absent for `register`, which the shard allocates. */
  guestId: string;
  body: ShardOperations[ShardOp]['request'];
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
  | { kind: 'result'; id: number; result: ShardOperations[ShardOp]['result'] }
  | { kind: 'error'; id: number; error: ErrorBody }
  | { kind: 'metrics'; id: number; metrics: unknown }
  /** The shard has opened its store and listens: a worker may be stopped from now on without cutting a native call. */
  | { kind: 'serving' };

/** What a piscina task hands a worker to make it serve one shard. */
export interface AttachShardTask {
  shard: number;
  dataDir: string;
  config: ConfigSnapshot;
  port: import('node:worker_threads').MessagePort;
  /** Life of the payment codes the shard issues, ms; absent: the default (protocol/limits.ts). */
  paymentCodeTtlMs?: number;
}
