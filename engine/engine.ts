// The engine as the doors see it: authenticate a terminal, answer reads, route
// writes to the shard owning the guest, take new configuration versions.
// Everything here runs on the doors' thread and must stay cheap: a card lookup is
// one LMDB read, a terminal check one Map lookup.

import { createHash } from 'node:crypto';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { ConfigSnapshot, TerminalConfig } from '../protocol/config.js';
import type { CardKind } from '../protocol/types.js';
import { KopilkaError } from '../protocol/errors.js';
import type {
  BalanceRequest,
  CancelRequest,
  CommitRequest,
  EvaluateRequest,
  EvaluateResult,
  IdentifyRequest,
  MergeRequest,
  MergeResult,
  Op,
  Operations,
  RefundRequest,
  RegisterRequest,
} from '../protocol/types.js';
import { GuestReader } from './guest-reader.js';
import { EngineMetrics } from './metrics.js';
import { ShardPool } from './shard-pool.js';
import { compiledRulesOf } from './check-decision.js';
import { assertUsable, cardMasksOf, resolveCard } from './cards.js';
import { type ConvertedCommitRequest, convertCheck, currencyRatesOf } from './currency-rates.js';
import { guestOfPhone, indexOldPhones, phoneKeyOf } from './guest-profile.js';
import { META_CONFIG, META_SHARDS, type Store, guestOfId, guestShard, loadConfig, openStore } from './store.js';

export interface EngineOptions {
  /** Folder of the LMDB environment (`<dataDir>/lmdb`). */
  dataDir: string;
  /** Shards of a new data folder; fixed once guests exist, since a guest id names its shard. Default 4. */
  shards?: number;
  /**
   * Worker threads the shards run on; default 1. Every shard writes the one LMDB
   * environment, whose writes take turns under one lock, so a second writing
   * thread only adds lock hand-offs (measured: fewer commits/s and more CPU per
   * commit); more threads pay once shards have environments of their own.
   */
  threads?: number;
  /** Life of a payment code, ms; default 5 minutes (protocol/limits.ts). Internal: tests shorten it. */
  paymentCodeTtlMs?: number;
}

const shards_default = 4;

/** Ops on a guest's cards and profile: writes, in the guest's shard (engine/guest-registry.ts). */
const GUEST_CARD_WRITES: ReadonlySet<Op> = new Set<Op>(['updateGuest', 'addCard', 'blockCard', 'unblockCard', 'paymentCode']);
/** Ops whose shard decides what a card's status allows (a blocked card may be unblocked, a retried addCard answered). */
const CARD_ANY_STATUS: ReadonlySet<Op> = new Set<Op>(['addCard', 'blockCard', 'unblockCard']);
/**
 * Times a request routed by card is sent again when its guest turns out to have been
 * merged away on the way (`guest_merged`): each time the card names the guest who
 * stays; only merges landing one after another on the same guest need more than one.
 */
const merge_reroutes_max = 4;

export class Engine {
  readonly metrics: EngineMetrics;
  private pool: ShardPool | undefined;
  private current: ConfigSnapshot | undefined;
  private terminalsByHash = new Map<string, TerminalConfig>();
  /** Keys seen valid under the current configuration; cleared at every version. */
  private terminalsByKey = new Map<string, TerminalConfig>();
  private draining = false;
  private readonly shards: number;
  private readonly threads: number;
  private readonly reader: GuestReader;

  private constructor(
    readonly store: Store,
    private readonly options: EngineOptions,
  ) {
    const stored = store.meta.get(META_SHARDS) as number | undefined;
    this.shards = stored ?? options.shards ?? shards_default;
    if (stored === undefined) store.meta.putSync(META_SHARDS, this.shards);
    else if (options.shards !== undefined && options.shards !== stored) {
      console.warn(`kopilka: this data folder has ${stored} shards; ignoring shards=${options.shards}`);
    }
    this.threads = options.threads ?? 1;
    this.reader = new GuestReader(store);
    this.metrics = new EngineMetrics(
      () => this.pool?.depths() ?? [],
      () => (this.store.guests.getStats() as { entryCount: number }).entryCount,
    );
  }

  /** Opens the data folder and, if it holds a configuration, starts serving it at once. */
  static open(options: EngineOptions): Engine {
    const engine = new Engine(openStore(options.dataDir), options);
    // Before any shard runs: phones of guests registered before the phone index.
    indexOldPhones(engine.store);
    const saved = loadConfig(engine.store);
    if (saved !== undefined) engine.applyConfig(saved);
    return engine;
  }

  get config(): ConfigSnapshot | undefined {
    return this.current;
  }

  get shardCount(): number {
    return this.shards;
  }

  /**
   * Takes a configuration version newer than the current one: remembered in LMDB
   * (so a restart without the admin API still serves it) and handed to every shard.
   */
  applyConfig(snapshot: ConfigSnapshot): boolean {
    if (this.current !== undefined && snapshot.version <= this.current.version) return false;
    // Compiled here, once: a version whose rules do not compile is never served
    // (the admin API validates them; this guards a store edited by other means).
    compiledRulesOf(snapshot);
    cardMasksOf(snapshot.organization);
    currencyRatesOf(snapshot.organization);
    const saved = loadConfig(this.store);
    if (saved === undefined || saved.version < snapshot.version) void this.store.meta.put(META_CONFIG, snapshot);
    this.current = snapshot;
    this.terminalsByHash = new Map(snapshot.terminals.map((t) => [t.keySha256, t]));
    this.terminalsByKey = new Map();
    this.metrics.configVersion.set(snapshot.version);
    if (this.pool === undefined) {
      this.pool = new ShardPool({
        dataDir: this.options.dataDir,
        shards: this.shards,
        threads: this.threads,
        config: snapshot,
        paymentCodeTtlMs: this.options.paymentCodeTtlMs,
        // Reads on this thread see every write acknowledged before them (shard-pool.ts `receive`).
        onReplies: () => this.store.root.resetReadTxn(),
      });
    } else {
      this.pool.setConfig(snapshot);
    }
    return true;
  }

  /** The terminal a key belongs to, if it may act for `outlet`; else a coded error. */
  authorize(key: string | undefined, outlet: string): TerminalConfig {
    const terminal = this.terminal(key);
    if (terminal.outletId !== outlet) {
      throw new KopilkaError('forbidden_outlet', `this terminal key is bound to outlet ${terminal.outletId}`, 'outlet');
    }
    return terminal;
  }

  /** The terminal of a key, or `unauthorized`. */
  terminal(key: string | undefined): TerminalConfig {
    if (key === undefined || key.length === 0) throw new KopilkaError('unauthorized', 'a terminal key is required');
    let terminal = this.terminalsByKey.get(key);
    if (terminal === undefined) {
      terminal = this.terminalsByHash.get(createHash('sha256').update(key).digest('hex'));
      if (terminal === undefined) throw new KopilkaError('unauthorized', 'the terminal key is not valid');
      // Only valid keys are cached, so random keys cannot grow the map past the terminals.
      this.terminalsByKey.set(key, terminal);
    }
    return terminal;
  }

  /** Routes a validated request to the shard owning its guest. */
  execute<O extends Op>(op: O, body: Operations[O]['request']): Promise<Operations[O]['result']> {
    try {
      return Promise.resolve(this.run(op, body));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * As `execute`, but a read (identify, evaluate, balance: answered on this thread,
   * see `read`) answers at once, or throws its coded error at once, and only a write
   * returns a promise. A door answers a read inside the callback that brought it:
   * no promise, no microtask, and its reply leaves with the others of the same
   * network read (uWS corks a callback's sends into one write).
   */
  run<O extends Op>(op: O, body: Operations[O]['request']): Operations[O]['result'] | Promise<Operations[O]['result']> {
    if (op === 'evaluate') return this.evaluateIn(body as EvaluateRequest) as Operations[O]['result'] | Promise<Operations[O]['result']>;
    if (op === 'commit') return this.route(op, this.commitIn(body as CommitRequest) as Operations[O]['request'], 0);
    return this.route(op, body, 0);
  }

  // ---- checks in other currencies (engine/currency-rates.ts) ---------------------------

  /**
   * An evaluate, converted first when its check is in a listed other currency; the
   * answer (from this thread, or from the shard for a hold) then names the currency
   * and rate. Converted once, here: a reroute after a merge sends the converted check.
   */
  private evaluateIn(body: EvaluateRequest): EvaluateResult | Promise<EvaluateResult> {
    const converted = this.current === undefined ? undefined : convertCheck(this.current, body);
    if (converted === undefined) return this.route('evaluate', body, 0);
    const applied = { checkCurrency: converted.conversion.currency, rate: converted.conversion.rate };
    const answer = this.route('evaluate', converted.req, 0);
    return answer instanceof Promise ? answer.then((r) => ({ ...r, ...applied })) : { ...answer, ...applied };
  }

  /**
   * A commit, converted when its check is in a listed other currency, carrying what
   * was applied: the shard keys the idempotency record by the check as sent and
   * stores the currency and rate in the answer, so a retry after a rate change is
   * `exists` with the first answer. A conversion only the engine may set: one from
   * a caller is dropped.
   */
  private commitIn(body: CommitRequest): ConvertedCommitRequest {
    const converted = this.current === undefined ? undefined : convertCheck(this.current, body);
    if (converted === undefined) {
      if ((body as ConvertedCommitRequest).conversion === undefined) return body;
      const { conversion: _dropped, ...plain } = body as ConvertedCommitRequest;
      return plain;
    }
    return { ...converted.req, conversion: converted.conversion };
  }

  private route<O extends Op>(op: O, body: Operations[O]['request'], reroutes: number): Operations[O]['result'] | Promise<Operations[O]['result']> {
    if (this.draining) throw new KopilkaError('shutting_down', 'kopilka is shutting down');
    const pool = this.pool;
    if (pool === undefined) throw new KopilkaError('not_configured', 'kopilka has no configuration yet');
    if (op === 'register') return pool.request(this.registerShard(body as RegisterRequest), op, '', body);
    if (op === 'merge') return this.merge(pool, body as MergeRequest, reroutes) as Promise<Operations[O]['result']>;
    // A blocked or replaced card is refused here (guestOf throws), before any shard sees it.
    const guestId = this.guestOf(op, body);
    if (guestId === undefined) throw new KopilkaError('card_not_found', 'the card belongs to no guest', 'card');
    if (op === 'cancel' || op === 'refund') return pool.request(guestShard(guestId), op, guestId, body);
    if (GUEST_CARD_WRITES.has(op) || op === 'commit' || op === 'adjust' || op === 'topUp' || (op === 'evaluate' && (body as EvaluateRequest).hold === true)) {
      const sent = pool.request(guestShard(guestId), op, guestId, body);
      return reroutes >= merge_reroutes_max ? sent : sent.catch((err: unknown) => this.rerouted(err, op, body, reroutes));
    }
    return this.read(op, guestId, body);
  }

  /**
   * A write routed by card whose guest was merged away between the routing and the
   * shard (guest-merge.ts): sent again, the card now naming the guest who stays. The shard
   * refused it before any write, and its idempotency key was not used.
   */
  private rerouted<O extends Op>(err: unknown, op: O, body: Operations[O]['request'], reroutes: number): Operations[O]['result'] | Promise<Operations[O]['result']> {
    if (!(err instanceof KopilkaError) || err.code !== 'guest_merged') throw err;
    return this.route(op, body, reroutes + 1);
  }

  // ---- merges (engine/guest-merge.ts) ---------------------------------------------------

  /**
   * Phase 1 in the shard of the guest merged away; once it is durable, phase 2 in the
   * shard of the guest who stays; the answer only once that is durable too. A key seen
   * before goes to the shard that answered it (its `from` card names another guest now),
   * which answers it again, and phase 2 is asked for again: a retry completes a merge
   * whose second phase was lost. Same-shard merges do both phases in one transaction.
   */
  private async merge(pool: ShardPool, body: MergeRequest, reroutes: number): Promise<MergeResult> {
    const now = Date.now();
    const seen = this.store.mergeKeys.get([body.outlet, body.idempotencyKey]);
    // The cards as stored (a payment code's card, an RFID UID in upper case), so that the key compares cards.
    const into = resolveCard(this.store, body.card, now, 'any');
    const from = resolveCard(this.store, body.from, now, 'any');
    if (into !== undefined) body.card = into.card;
    if (from !== undefined) body.from = from.card;
    let fromGuestId: string;
    if (seen !== undefined) fromGuestId = seen.fromGuestId;
    else {
      if (into === undefined) throw new KopilkaError('card_not_found', 'the card belongs to no guest', 'card');
      assertUsable(into.record, 'card');
      if (from === undefined) throw new KopilkaError('card_not_found', 'the card belongs to no guest', 'from');
      assertUsable(from.record, 'from');
      fromGuestId = from.guestId;
    }
    const shard = guestShard(fromGuestId);
    let out: MergeResult;
    try {
      out = await pool.request(shard, 'merge', fromGuestId, body);
    } catch (err) {
      if (err instanceof KopilkaError && err.code === 'guest_merged' && reroutes < merge_reroutes_max) return this.merge(pool, body, reroutes + 1);
      throw err;
    }
    if (out.mergeId === '' || guestShard(out.guestId) === shard) return out;
    return pool.request(guestShard(out.guestId), 'mergeIn', out.guestId, { mergeId: out.mergeId, outcome: out.outcome });
  }

  /**
   * The guest a request is for: by card, or by the guest id inside a hold or
   * transaction id (a shard beyond this engine's names no guest of ours).
   */
  private guestOf(op: Op, body: Operations[Op]['request']): string | undefined {
    if (op === 'cancel' || op === 'refund') {
      const id = op === 'cancel' ? (body as CancelRequest).holdId : (body as RefundRequest).transactionId;
      const guestId = guestOfId(id);
      return guestShard(guestId) < this.shards ? guestId : undefined;
    }
    return this.cardHolder(op, body as { card?: string; phone?: string });
  }

  // ---- guests and cards (engine/cards.ts, engine/guest-registry.ts) --------------------

  /**
   * The guest of a request's `card` (or, for identify, `phone`): one LMDB read for a
   * card, which gives the guest (so its shard) and the card's status together. A
   * blocked or replaced card is refused here, but for the ops that deal with card
   * status themselves (CARD_ANY_STATUS). The body's `card` becomes the card as stored
   * (a payment code's card, an RFID UID in upper case), so journals and idempotency
   * records name the card, not the code.
   */
  private cardHolder(op: Op, body: { card?: string; phone?: string }): string | undefined {
    this.routedCardKind = undefined;
    if (body.card === undefined) {
      const guestId = body.phone === undefined ? undefined : guestOfPhone(this.store, body.phone);
      if (guestId === undefined) throw new KopilkaError('card_not_found', 'no guest has this phone', 'phone');
      return guestId;
    }
    const found = resolveCard(this.store, body.card, Date.now(), CARD_ANY_STATUS.has(op) ? 'any' : 'active');
    this.routedCardKind = found?.record.kind;
    if (found === undefined) return undefined;
    body.card = found.card;
    return found.guestId;
  }

  /**
   * The kind of the card `cardHolder` resolved last, for a read that follows it at once
   * on this thread (promotions' card_type conditions): the card is not read twice.
   */
  private routedCardKind: CardKind | undefined;

  /**
   * A register's shard: with a phone, that of the guest holding the phone, else the
   * phone's hash, so that two registers with one new phone meet in one shard and make
   * one guest; without, the card's hash, so that one card registered twice meets in
   * one shard (and, inside the write transaction, its index is exact anyway).
   */
  private registerShard(req: RegisterRequest): number {
    if (req.phone === undefined) return cardShard(req.card, this.shards);
    const holder = guestOfPhone(this.store, req.phone);
    if (holder !== undefined && guestShard(holder) < this.shards) return guestShard(holder);
    return cardShard(phoneKeyOf(req.phone), this.shards);
  }

  /** Reads answer here, on the doors' thread, from committed state (see guest-reader.ts). */
  private read<O extends Op>(op: O, guestId: string, body: Operations[O]['request']): Operations[O]['result'] {
    const config = this.current!;
    switch (op) {
      case 'identify':
        return this.reader.identify(config, guestId, body as IdentifyRequest) as Operations[O]['result'];
      case 'evaluate':
        return this.reader.evaluate(config, guestId, body as EvaluateRequest, this.routedCardKind) as Operations[O]['result'];
      case 'balance':
        return this.reader.balance(config, guestId, body as BalanceRequest) as Operations[O]['result'];
      default:
        throw new Error(`${op} is not a read`);
    }
  }

  /** Prometheus text of this thread and every shard thread, aggregated. */
  async metricsText(): Promise<string> {
    const own = await this.metrics.registry.getMetricsAsJSON();
    const shards = (await this.pool?.metrics()) ?? [];
    const all = [own, ...shards] as MetricObjectWithValues<MetricValue<string>>[][];
    return AggregatorRegistry.aggregate(all).metrics();
  }

  /** Stops taking requests and waits for in-flight ones (up to `timeoutMs`). */
  async drain(timeoutMs = 10_000): Promise<void> {
    this.draining = true;
    await this.pool?.drain(timeoutMs);
  }

  async close(): Promise<void> {
    this.draining = true;
    await this.pool?.close();
    await this.store.root.flushed;
    await this.store.close();
  }
}

/** A new card's shard: FNV-1a of the number, so registering one card twice meets in one shard. */
export function cardShard(card: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < card.length; i++) {
    h ^= card.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}
