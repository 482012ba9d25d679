// The doors' side of the shards: piscina owns the worker threads; each shard is
// one long-lived piscina task holding a MessagePort, so a request costs a message,
// not a task. Requests to a shard are sent in one batch per event-loop turn, and
// replies come back batched the same way, matched by request id.
//
// When a worker dies, piscina replaces it; the shard's in-flight requests are
// rejected with `shard_unavailable` (a commit may or may not have landed, so the
// client retries with the same idempotency key) and the shard is attached again.

import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ConfigSnapshot } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import { shard_queue_max } from '../protocol/limits.js';
import type { AttachShardTask, ShardInput, ShardOp, ShardOperations, ShardReply } from './shard-messages.js';

interface Pending {
  resolve(value: any): void;
  reject(err: unknown): void;
}

/** Milliseconds to wait before attaching a shard again after its worker died. */
const reattach_delay_ms = 50;

/**
 * How long closing waits for shards still opening their store, then for their tasks to
 * end, before the workers are stopped regardless.
 */
const close_wait_ms = 10_000;

class ShardLink {
  port: MessagePort | undefined;
  readonly pending = new Map<number, Pending>();
  outbox: ShardInput[] = [];
  nextId = 1;
  attached = false;
  /** Settles once the shard serves (its store open) or its task has ended. */
  serving: Promise<void> = Promise.resolve();
  markServing: () => void = () => {};
  /** Settles when the shard's attach task ends, one way or another. */
  task: Promise<void> = Promise.resolve();
}

const within = (ms: number, p: Promise<unknown>): Promise<unknown> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void p.finally(() => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });

export interface ShardPoolOptions {
  dataDir: string;
  shards: number;
  threads: number;
  config: ConfigSnapshot;
  /** Life of a payment code, ms; absent: the default. */
  paymentCodeTtlMs?: number;
  /**
   * Called when a batch of replies arrives, before any of its requests is resolved:
   * the engine drops its LMDB read snapshot there, so that a read following an
   * acknowledged write sees it (see `receive`).
   */
  onReplies?: () => void;
}

export class ShardPool {
  private readonly pool: Piscina;
  private readonly links: ShardLink[];
  private config: ConfigSnapshot;
  private closing = false;
  private flushScheduled = false;
  private readonly dirty = new Set<ShardLink>();

  constructor(private readonly options: ShardPoolOptions) {
    this.config = options.config;
    const threads = options.threads;
    this.pool = new Piscina({
      filename: new URL('./shard-worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: options.shards,
      idleTimeout: Infinity,
      // Sync atomics would keep an idle worker from ever reading its port.
      atomics: 'async',
      // Shards spread evenly over threads: each attach goes to the least busy worker.
      loadBalancer: (_task, workers) => {
        let best = null;
        for (const w of workers) if (best === null || w.currentUsage < best.currentUsage) best = w;
        return best;
      },
    });
    this.links = Array.from({ length: options.shards }, () => new ShardLink());
    for (let s = 0; s < options.shards; s++) this.attach(s);
  }

  get shardCount(): number {
    return this.links.length;
  }

  depths(): number[] {
    return this.links.map((l) => l.pending.size);
  }

  private attach(shard: number): void {
    const link = this.links[shard]!;
    const { port1, port2 } = new MessageChannel();
    link.port = port1;
    link.attached = true;
    link.serving = new Promise((resolve) => (link.markServing = resolve));
    port1.on('message', (batch: ShardReply[]) => this.receive(link, batch));
    const task: AttachShardTask = { shard, dataDir: this.options.dataDir, config: this.config, port: port2 };
    if (this.options.paymentCodeTtlMs !== undefined) task.paymentCodeTtlMs = this.options.paymentCodeTtlMs;
    link.task = this.pool
      .run(task, { transferList: [port2] as any })
      .then(
        () => this.detached(shard, undefined),
        (err: unknown) => this.detached(shard, err),
      );
  }

  private detached(shard: number, err: unknown): void {
    const link = this.links[shard]!;
    link.markServing();
    link.attached = false;
    link.port?.close();
    link.port = undefined;
    const lost = new KopilkaError('shard_unavailable', `shard ${shard} restarted; retry with the same idempotency key`);
    for (const p of link.pending.values()) p.reject(lost);
    link.pending.clear();
    link.outbox = [];
    if (!this.closing) {
      if (err !== undefined) console.error(`kopilka: shard ${shard} worker failed, attaching again:`, err);
      setTimeout(() => this.attach(shard), reattach_delay_ms).unref();
    }
  }

  private receive(link: ShardLink, batch: ShardReply[]): void {
    // lmdb-js keeps a thread's read snapshot until a setTimeout(0); a reply can arrive
    // before it lapses, and a read right after an acknowledged write (identify after
    // register, evaluate after blockCard) would not see the write.
    this.options.onReplies?.();
    for (let i = 0; i < batch.length; i++) {
      const reply = batch[i]!;
      if (reply.kind === 'serving') {
        link.markServing();
        continue;
      }
      const p = link.pending.get(reply.id);
      if (p === undefined) continue;
      link.pending.delete(reply.id);
      if (reply.kind === 'result') p.resolve(reply.result);
      else if (reply.kind === 'metrics') p.resolve(reply.metrics);
      else p.reject(new KopilkaError(reply.error.code, reply.error.message, reply.error.field));
    }
  }

  request<O extends ShardOp>(shard: number, op: O, guestId: string, body: ShardOperations[O]['request']): Promise<ShardOperations[O]['result']> {
    const link = this.links[shard]!;
    if (this.closing) return Promise.reject(new KopilkaError('shutting_down', 'kopilka is shutting down'));
    if (!link.attached) return Promise.reject(new KopilkaError('shard_unavailable', `shard ${shard} is restarting; retry`));
    if (link.pending.size >= shard_queue_max) {
      return Promise.reject(new KopilkaError('overloaded', `shard ${shard} has ${shard_queue_max} requests queued; retry later`));
    }
    const id = link.nextId++;
    return new Promise((resolve, reject) => {
      link.pending.set(id, { resolve, reject });
      link.outbox.push({ kind: 'request', id, op, guestId, body, receivedAt: Date.now() });
      this.schedule(link);
    });
  }

  /** Gives every shard the new configuration; each swaps it in one step. */
  setConfig(config: ConfigSnapshot): void {
    this.config = config;
    for (const link of this.links) {
      link.outbox.push({ kind: 'config', config });
      this.schedule(link);
    }
  }

  /** Metrics of every shard thread, as prom-client JSON, for aggregation. */
  async metrics(): Promise<unknown[]> {
    const answers = this.links.map((link) => {
      if (!link.attached) return Promise.resolve(undefined);
      const id = link.nextId++;
      return new Promise<unknown>((resolve, reject) => {
        link.pending.set(id, { resolve, reject });
        link.outbox.push({ kind: 'metrics', id });
        this.schedule(link);
      }).catch(() => undefined);
    });
    const byThread = new Map<number, unknown>();
    for (const answer of await Promise.all(answers)) {
      if (answer !== undefined) {
        const { threadId, metrics } = answer as { threadId: number; metrics: unknown };
        byThread.set(threadId, metrics);
      }
    }
    return [...byThread.values()];
  }

  private schedule(link: ShardLink): void {
    this.dirty.add(link);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const link of this.dirty) {
      if (link.outbox.length === 0 || link.port === undefined) continue;
      const batch = link.outbox;
      link.outbox = [];
      link.port.postMessage(batch);
    }
    this.dirty.clear();
  };

  /** Waits for every in-flight request to be answered, or `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.links.some((l) => l.pending.size > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Stops the shards. A worker stopped inside a native call (a shard still opening its
   * LMDB store) aborts the whole process, so each shard is first let finish opening, then
   * its port is closed and its task let end; only then are the workers stopped.
   */
  async close(): Promise<void> {
    this.closing = true;
    await within(close_wait_ms, Promise.all(this.links.map((l) => l.serving)));
    for (const link of this.links) link.port?.close();
    await within(close_wait_ms, Promise.all(this.links.map((l) => l.task)));
    await this.pool.destroy();
  }
}
