// A worker thread serving shards. piscina runs one long-lived `attach` task per
// shard: the task hands over a MessagePort and resolves only when the shard is
// closed, so requests flow over the port without piscina's per-task cost.

import { MessagePort, threadId } from 'node:worker_threads';
import { KopilkaError, toErrorBody } from '../protocol/errors.js';
import type {
  AdjustRequest,
  BalanceRequest,
  CancelRequest,
  RefundRequest,
  CommitRequest,
  EvaluateRequest,
  IdentifyRequest,
  MergeRequest,
  RegisterRequest,
  TopUpRequest,
} from '../protocol/types.js';
import { GuestActor, expiry_sweep_guests_max } from './guest-actor.js';

/** How often a shard looks for lots whose expiry has come. */
const expiry_sweep_interval_ms = 60_000;
import { GuestReader } from './guest-reader.js';
import { GuestRegistry } from './guest-registry.js';
import type { AddCardRequest, BlockCardRequest, PaymentCodeRequest, UnblockCardRequest, UpdateGuestRequest } from '../protocol/types.js';
import { type ShardMetrics, createShardMetrics } from './shard-metrics.js';
import { merges_landed_per_transaction_max } from './guest-merge.js';
import type { AttachShardTask, MergeInRequest, ShardInput, ShardOp, ShardOperations, ShardReply, ShardRequest } from './shard-messages.js';
import { type Store, openStore } from './store.js';

type Result = ShardOperations[ShardOp]['result'];

// One store per thread: lmdb-js shares the environment between the shards of a thread.
let store: Store | undefined;
let metrics: ShardMetrics | undefined;

export default async function attach(task: AttachShardTask): Promise<void> {
  store ??= openStore(task.dataDir);
  metrics ??= createShardMetrics();
  const actor = new GuestActor(store, task.shard, task.config);
  const registry = new GuestRegistry(store, task.shard, () => actor.currentConfig, Date.now, { paymentCodeTtlMs: task.paymentCodeTtlMs });
  await landPendingMerges(store, actor);
  const shard = new ShardServer(task.shard, store, metrics, task.port, actor, registry);
  await shard.closed;
}

/**
 * Before the shard serves: transfers into its guests that merges moved out of other shards
 * but that never landed (the process stopped between the phases, or this worker died
 * before the engine's `mergeIn` reached it). The port holds requests until the server
 * listens, so none is served before these land.
 */
async function landPendingMerges(store: Store, actor: GuestActor): Promise<void> {
  for (;;) {
    const landed = await store.root.childTransaction(() => actor.inBatch(() => actor.completePendingMergesInTransaction()));
    if (landed < merges_landed_per_transaction_max) return;
  }
}

class ShardServer {
  readonly closed: Promise<void>;
  private outbox: ShardReply[] = [];
  /** Writes of the batch being read; they run together in one transaction callback. */
  private writes: Array<{ id: number; op: ShardOp; run: () => Result }> = [];
  private readonly reader: GuestReader;
  private sweepTimer: NodeJS.Timeout;
  private stopped = false;
  private flushScheduled = false;

  constructor(
    private readonly shard: number,
    private readonly store: Store,
    private readonly metrics: ShardMetrics,
    private readonly port: MessagePort,
    private readonly actor: GuestActor,
    private readonly registry: GuestRegistry,
  ) {
    this.reader = new GuestReader(store);
    this.closed = new Promise((resolve) =>
      port.once('close', () => {
        this.stopped = true;
        clearTimeout(this.sweepTimer);
        resolve();
      }),
    );
    this.sweepTimer = setTimeout(this.sweep, 0);
    port.on('message', (batch: ShardInput[]) => {
      for (let i = 0; i < batch.length; i++) this.handle(batch[i]!);
      if (this.writes.length > 0) this.commitWrites();
    });
    port.postMessage([{ kind: 'serving' } satisfies ShardReply]);
  }

  private handle(msg: ShardInput): void {
    if (msg.kind === 'request') this.request(msg);
    else if (msg.kind === 'config') this.actor.setConfig(msg.config);
    else void this.sendMetrics(msg.id);
  }

  private request(req: ShardRequest): void {
    try {
      switch (req.op) {
        // Reads come here only from doors that do not share this LMDB environment.
        case 'identify':
          return this.reply(req.id, this.reader.identify(this.actor.currentConfig, req.guestId, req.body as IdentifyRequest));
        case 'evaluate': {
          const body = req.body as EvaluateRequest;
          if (body.hold === true) {
            this.writes.push({ id: req.id, op: 'evaluate', run: () => this.actor.evaluateWithHoldInTransaction(req.guestId, body) });
            return;
          }
          return this.reply(req.id, this.reader.evaluate(this.actor.currentConfig, req.guestId, body));
        }
        case 'cancel':
          this.writes.push({ id: req.id, op: 'cancel', run: () => this.actor.cancelInTransaction(req.guestId, req.body as CancelRequest) });
          return;
        case 'adjust':
          this.writes.push({ id: req.id, op: 'adjust', run: () => this.actor.adjustInTransaction(req.guestId, req.body as AdjustRequest) });
          return;
        case 'topUp':
          this.writes.push({ id: req.id, op: 'topUp', run: () => this.actor.topUpInTransaction(req.guestId, req.body as TopUpRequest) });
          return;
        case 'refund':
          this.writes.push({ id: req.id, op: 'refund', run: () => this.actor.refundInTransaction(req.guestId, req.body as RefundRequest) });
          return;
        case 'balance':
          return this.reply(req.id, this.reader.balance(this.actor.currentConfig, req.guestId, req.body as BalanceRequest));
        case 'register': {
          const at = new Date(req.receivedAt).toISOString();
          this.writes.push({ id: req.id, op: 'register', run: () => this.actor.registerInTransaction(req.body as RegisterRequest, at) });
          return;
        }
        case 'commit':
          this.writes.push({ id: req.id, op: 'commit', run: () => this.actor.commitInTransaction(req.guestId, req.body as CommitRequest) });
          return;
        // A merge's two phases (engine/guest-merge.ts): here for the guest merged away, then for the guest who stays.
        case 'merge':
          this.writes.push({ id: req.id, op: 'merge', run: () => this.actor.mergeInTransaction(req.guestId, req.body as MergeRequest) });
          return;
        case 'mergeIn':
          this.writes.push({ id: req.id, op: 'mergeIn', run: () => this.actor.completeMergeInTransaction(req.body as MergeInRequest) });
          return;
        case 'updateGuest':
        case 'addCard':
        case 'blockCard':
        case 'unblockCard':
        case 'paymentCode':
          this.writes.push({ id: req.id, op: req.op, run: this.guestCardWrite(req) });
          return;
      }
    } catch (err) {
      this.fail(req.id, err);
    }
  }

  /** A write on a guest's profile or cards (engine/guest-registry.ts), to run in the batch's transaction. */
  private guestCardWrite(req: ShardRequest): () => Result {
    const r = this.registry;
    switch (req.op) {
      case 'updateGuest':
        return () => r.updateGuest(req.guestId, req.body as UpdateGuestRequest);
      case 'addCard': {
        const at = new Date(req.receivedAt).toISOString();
        return () => r.addCard(req.guestId, req.body as AddCardRequest, at);
      }
      case 'blockCard':
        return () => r.blockCard(req.guestId, req.body as BlockCardRequest);
      case 'unblockCard':
        return () => r.unblockCard(req.guestId, req.body as UnblockCardRequest);
      case 'paymentCode':
        return () => r.paymentCode(req.guestId, req.body as PaymentCodeRequest);
      default:
        throw new Error(`${req.op} is not a write on guests and cards`);
    }
  }

  /**
   * The writes of one incoming batch run in one transaction callback, in arrival
   * order, and share one LMDB transaction (one fsync) with whatever else this
   * thread writes in the same turn. Answers go out only once that transaction is
   * flushed to disk, never before. A write refused with a coded error is answered
   * with it and leaves nothing behind (the actor checks everything before its first
   * write); any other exception may come after writes, so it aborts the whole
   * batch and every write of it fails with `internal`, to be retried. lmdb-js runs the
   * callbacks of many `transaction` calls in one LMDB transaction and commits what a
   * throwing callback wrote before it threw; a child transaction is undone on its own.
   */
  private commitWrites(): void {
    const writes = this.writes;
    this.writes = [];
    const started = performance.now();
    const outcomes: Array<{ ok: true; result: Result } | { ok: false; err: unknown }> = [];
    this.store.root
      .childTransaction(() => {
        this.actor.inBatch(() => {
          for (const w of writes) {
            try {
              outcomes.push({ ok: true, result: w.run() });
            } catch (err) {
              if (!(err instanceof KopilkaError)) throw err;
              outcomes.push({ ok: false, err });
            }
          }
        });
      })
      .then(() => this.store.root.flushed)
      .then(
        () => {
          const seconds = (performance.now() - started) / 1000;
          for (let i = 0; i < writes.length; i++) {
            const o = outcomes[i]!;
            this.metrics.durableWrite.observe({ op: writes[i]!.op }, seconds);
            if (o.ok) this.reply(writes[i]!.id, o.result);
            else this.fail(writes[i]!.id, o.err);
          }
        },
        (err: unknown) => {
          console.error(`kopilka: a write transaction of shard ${this.shard} aborted`, err);
          for (const w of writes) this.fail(w.id, err);
        },
      );
  }

  /**
   * Burns expired lots on time even for guests nobody touches, and lands transfers of
   * merges still `out` into this shard's guests (a `mergeIn` lost with a restarted
   * worker). A full sweep means more are due: the next one follows at once instead of
   * after the interval.
   */
  private readonly sweep = (): void => {
    this.store.root
      .childTransaction(() => {
        const landed = this.actor.completePendingMergesInTransaction();
        const swept = this.actor.sweepExpiries();
        return landed >= merges_landed_per_transaction_max || swept >= expiry_sweep_guests_max;
      })
      .then(
        (full) => (full ? 0 : expiry_sweep_interval_ms),
        (err: unknown) => {
          console.error(`kopilka: expiry sweep of shard ${this.shard} failed`, err);
          return expiry_sweep_interval_ms;
        },
      )
      .then((delay) => {
        if (this.stopped) return;
        this.sweepTimer = setTimeout(this.sweep, delay);
        this.sweepTimer.unref();
      });
  };

  private async sendMetrics(id: number): Promise<void> {
    this.metrics.configVersion.set({ shard: String(this.shard) }, this.actor.configVersion);
    const metrics = await this.metrics.registry.getMetricsAsJSON();
    // Tagged with the thread: shards of one thread share a registry, counted once.
    this.push({ kind: 'metrics', id, metrics: { threadId, metrics } });
  }

  private reply(id: number, result: Result): void {
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
