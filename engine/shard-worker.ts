// A worker thread serving shards. piscina runs one long-lived `attach` task per
// shard: the task hands over a MessagePort and resolves only when the shard is
// closed, so requests flow over the port without piscina's per-task cost.

import { MessagePort, threadId } from 'node:worker_threads';
import { toErrorBody } from '../protocol/errors.js';
import type {
  BalanceRequest,
  CommitRequest,
  EvaluateRequest,
  IdentifyRequest,
  Operations,
  Op,
  RegisterRequest,
} from '../protocol/types.js';
import { GuestActor } from './guest-actor.js';
import { type ShardMetrics, createShardMetrics } from './shard-metrics.js';
import type { AttachShardTask, ShardInput, ShardReply, ShardRequest } from './shard-messages.js';
import { type Store, openStore } from './store.js';

// One store per thread: lmdb-js shares the environment between the shards of a thread.
let store: Store | undefined;
let metrics: ShardMetrics | undefined;

export default async function attach(task: AttachShardTask): Promise<void> {
  store ??= openStore(task.dataDir);
  metrics ??= createShardMetrics();
  const shard = new ShardServer(task.shard, store, metrics, task.port, new GuestActor(store, task.shard, task.config));
  await shard.closed;
}

class ShardServer {
  readonly closed: Promise<void>;
  private outbox: ShardReply[] = [];
  private flushScheduled = false;

  constructor(
    private readonly shard: number,
    private readonly store: Store,
    private readonly metrics: ShardMetrics,
    private readonly port: MessagePort,
    private readonly actor: GuestActor,
  ) {
    this.closed = new Promise((resolve) => port.once('close', () => resolve()));
    port.on('message', (batch: ShardInput[]) => {
      for (let i = 0; i < batch.length; i++) this.handle(batch[i]!);
    });
  }

  private handle(msg: ShardInput): void {
    if (msg.kind === 'request') this.request(msg);
    else if (msg.kind === 'config') this.actor.setConfig(msg.config);
    else void this.sendMetrics(msg.id);
  }

  private request(req: ShardRequest): void {
    try {
      switch (req.op) {
        case 'identify':
          return this.reply(req.id, this.actor.identify(req.guestId, req.body as IdentifyRequest));
        case 'evaluate':
          return this.reply(req.id, this.actor.evaluate(req.guestId, req.body as EvaluateRequest));
        case 'balance':
          return this.reply(req.id, this.actor.balance(req.guestId, req.body as BalanceRequest));
        case 'register': {
          const at = new Date(req.receivedAt).toISOString();
          return this.write(req.id, 'register', () => this.actor.registerInTransaction(req.body as RegisterRequest, at));
        }
        case 'commit':
          return this.write(req.id, 'commit', () => this.actor.commitInTransaction(req.guestId, req.body as CommitRequest));
      }
    } catch (err) {
      this.fail(req.id, err);
    }
  }

  /**
   * Writes of one event-loop turn share one LMDB transaction: one fsync per batch.
   * The answer goes out only once the batch is flushed to disk, never before.
   */
  private write(id: number, op: Op, fn: () => Operations[Op]['result']): void {
    const started = performance.now();
    this.store.root
      .transaction(fn)
      .then(async (result) => {
        await this.store.root.flushed;
        this.metrics.durableWrite.observe({ op }, (performance.now() - started) / 1000);
        this.reply(id, result as Operations[Op]['result']);
      })
      .catch((err: unknown) => this.fail(id, err));
  }

  private async sendMetrics(id: number): Promise<void> {
    this.metrics.configVersion.set({ shard: String(this.shard) }, this.actor.configVersion);
    const metrics = await this.metrics.registry.getMetricsAsJSON();
    // Tagged with the thread: shards of one thread share a registry, counted once.
    this.push({ kind: 'metrics', id, metrics: { threadId, metrics } });
  }

  private reply(id: number, result: Operations[Op]['result']): void {
    this.push({ kind: 'result', id, result });
  }

  private fail(id: number, err: unknown): void {
    this.push({ kind: 'error', id, error: toErrorBody(err) });
  }

  private push(reply: ShardReply): void {
    this.outbox.push(reply);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const batch = this.outbox;
    this.outbox = [];
    this.port.postMessage(batch);
  };
}
