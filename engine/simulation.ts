// The ledger's seeded deterministic simulation (TigerBeetle's VOPR habit). One
// seed picks the program's settings and every step: guests registering, checks
// committed with and without holds, holds cancelled or left to time out, retries
// with the same idempotency key, refunds by lines, amount or the rest, checks
// cancelled, top-ups of a deposit (`wallet`) and checks paid partly from it, a
// partner's points account (`partner`) a promotion accrues into, checks evaluated
// and paid from it (`pointsAccount`) and its accruals reversed by refunds,
// guests merged (phase 2 now and then left to recovery: a later step, a sweep or
// a restart), the clock jumping minutes to months, expiry sweeps, restarts and
// crashes. Requests by card go to the guest the card names now, as the doors
// route them; now and then to the guest it named before a merge, which the
// shard refuses with `guest_merged` and the door sends again. Each step runs
// on real shard actors over a real LMDB folder, inside one write transaction as
// the shard worker runs it, and on the reference model (simulation/model.ts);
// after every step the two must agree on every answer and every balance, and the
// audit (verify.ts) must find nothing. The same seed replays the same run, so a
// failure is named by its seed and step.
//
//   const r = await simulate({ seed: 7, steps: 1_000, dataDir: '/tmp/sim-7' });
//   if (!r.ok) console.log(`seed ${r.failure.seed} fails at step ${r.failure.step}: ${r.failure.message}`);

import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { BonusProgramConfig, ConfigSnapshot } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import type {
  AdjustRequest,
  CheckLine,
  CommitRequest,
  CommitResult,
  DepositPayment,
  MergeOutcome,
  MergeRequest,
  MergeResult,
  RefundRequest,
  RefundResult,
  TopUpRequest,
  TopUpResult,
} from '../protocol/types.js';
import { check_total_minor_max, unit_price_minor_max } from '../protocol/limits.js';
import {
  validateAdjust,
  validateCancel,
  validateCommit,
  validateEvaluate,
  validateMerge,
  validateRefund,
  validateRegister,
  validateTopUp,
} from '../protocol/validate.js';
import { demoSnapshot } from './demo-config.js';
import { cardShard } from './engine.js';
import { GuestActor } from './guest-actor.js';
import { GuestReader } from './guest-reader.js';
import { merges_landed_per_transaction_max } from './guest-merge.js';
import { validateRules } from './rules/validate.js';
import { type ExpectedEntry, type MGuest, LedgerModel, ModelError, ModelViolation } from './simulation/model.js';
import { Prng } from './simulation/prng.js';
import { storeDigest } from './simulation/store-digest.js';
import { SYSTEM_ACCOUNTS, type Store, guestOfId, guestShard, openStore, systemBalance } from './store.js';
import { verifyStore } from './verify.js';

export interface SimulationOptions {
  seed: number;
  /** Steps to run; a failure at step k replays with `steps: k`. */
  steps: number;
  /** An empty folder for the run's LMDB environment; the caller removes it. */
  dataDir: string;
  /** Shards (one actor each, one LMDB environment); default 1..3, from the seed. */
  shards?: number;
  /** Receives one line per step: what was done and what the engine answered. */
  log?: (line: string) => void;
  /**
   * Also abort write transactions while the store and the actors live on (an
   * LMDB error the worker survives), besides crashes that kill the shard.
   * Default false so that seeds keep replaying the runs they always did; CI runs
   * a set of seeds with it on. (It found that shared msgpack structures in lmdb
   * 3.5.6 do not survive an abort, `--seed 37 --steps 6 --aborts`; the store no
   * longer uses them.)
   */
  aborts?: boolean;
}

export interface SimulationFailure {
  /** 1-based: `steps: step` replays the run up to and including the failing step. */
  step: number;
  seed: number;
  message: string;
}

export interface SimulationStats {
  seed: number;
  shards: number;
  steps: number;
  settings: { timeZone: string; start: string; program: BonusProgramConfig };
  /** Steps run, by kind. */
  kinds: Record<string, number>;
  /** Answers, by operation and outcome (or error code). */
  outcomes: Record<string, number>;
  /** Write transactions crashed after the actor wrote (each followed by a restart). */
  crashes: number;
  /** Write transactions aborted with the actors kept (only with `aborts`). */
  aborts: number;
  /** Restarts of every kind: chosen steps, after each crash, and the final one. */
  restarts: number;
  guests: number;
  journalEntries: number;
  holds: number;
  checks: number;
  /** The shards' system accounts, summed. */
  system: { liability: number; redemption: number; breakage: number };
  /**
   * How far the run went into the corners: most lots and open holds one guest had, guests
   * ever in debt, points written off, guests merged away, transfers landed by recovery
   * (a restart or a sweep, not the engine's phase 2), the largest deposit.
   */
  reach: {
    lotsMax: number; openHoldsMax: number; guestsInDebt: number; writtenOff: number; merged: number; recovered: number; depositMax: number;
    /** Checks committed paying points of the partner's account, and partner points refunds took back or wrote off. */
    partnerPaid: number; partnerReversed: number;
  };
  clock: string;
}

export interface SimulationResult {
  ok: boolean;
  failure?: SimulationFailure;
  stats: SimulationStats;
  /** Each guest's final balance, by guest id. */
  balances: Record<string, number>;
  /** SHA-256 of every step and answer: equal digests mean identical runs. */
  digest: string;
}

/** Outlets a run spreads its keys over: keys are unique per outlet, so a second outlet makes collisions meaningful. */
const OUTLETS = ['outlet-1', 'outlet-2'] as const;
const CURRENCY = 'RUB';
const ITEMS = ['latte', 'tea', 'croissant', 'beans-250g', 'sandwich'] as const;
/** The simulated configuration's one deposit account (unit money); the program's own account is not one. */
const WALLET = 'wallet';
/** The simulated configuration's partner points account (unit points, its own point value and ledger), which a promotion accrues into. */
const PARTNER = 'partner';
/** Probability that a commit or a read-only evaluate names a points account to pay from. */
const points_account_probability = 0.25;
/** Probability that a request by the card of a guest merged away goes to that guest first (routed before the merge). */
const stale_route_probability = 0.2;
/** Probability that the engine's phase 2 of a cross-shard merge is lost (the process died between): recovery lands it. */
const merge_in_lost_probability = 0.4;
const minute_ms = 60_000;
const day_ms = 86_400_000;
/** The longest single jump of the clock in a fast run: past any hold and across several monthly expiries. */
const clock_jump_ms_max = 150 * day_ms;
/** The longest jump in a slow run: points pile up in many lots, holds mostly live. */
const slow_clock_jump_ms_max = 2 * day_ms;
/** Time zones a run may use: whole-hour, half-hour with DST (Lord Howe), no DST, and a US DST zone. */
const TIME_ZONES = ['Europe/Moscow', 'UTC', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'] as const;
/** Probability that a write step's transaction is crashed after the actor wrote. */
const crash_probability = 0.03;
/** Probability that a write step's transaction is aborted with the actor kept (only with `aborts`). */
const abort_probability = 0.02;

type StepKind =
  | 'register'
  | 'register_again'
  | 'commit'
  | 'hold'
  | 'commit_hold'
  | 'cancel'
  | 'retry_commit'
  | 'refund'
  | 'retry_refund'
  | 'adjust'
  | 'retry_adjust'
  | 'advance'
  | 'advance_to_edge'
  | 'sweep'
  | 'read'
  | 'restart'
  | 'reconfigure'
  | 'top_up'
  | 'retry_top_up'
  | 'merge'
  | 'merge_in'
  | 'retry_merge';

/** An answer as data: a value, or the code of a coded error. */
type Answer = { value: unknown } | { error: string };

/** One operation, run on the engine and on the model alike. */
interface Action {
  op: string;
  label: string;
  /** Runs in a write transaction (and so may crash); reads run outside one. */
  writes: boolean;
  engine(): unknown;
  model(): unknown;
  /** Bookkeeping once engine and model agreed; not run when the step crashed. */
  after?(value: unknown): void;
  /** What the client (or the door) sends next once engine and model agreed: a request sent again, a merge's phase 2. */
  next?(got: Answer): Action | undefined;
}

/** The log line between a run's last step and its final restart and retries. */
export const end_of_steps_line = 'end of steps: a final restart, then every acknowledged request sent again';

/** A difference between the engine and the model, or a broken invariant. */
class Divergence extends Error {}

/** Thrown inside a write transaction after the actor wrote: LMDB must abort it whole. */
class SimulatedCrash extends Error {}

export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const sim = new Simulation(options);
  let failure: SimulationFailure | undefined;
  let step = 0;
  try {
    sim.checkInvariants();
    for (step = 1; step <= options.steps; step++) await sim.step(step);
    // Logged (not hashed), so that a reader of the log, and a test replaying a prefix, can tell the run's steps from what follows them.
    options.log?.(end_of_steps_line);
    await sim.restart(); // the final state survives a restart too
    sim.checkAll();
    await sim.retryEverything(options.steps + 1);
  } catch (err) {
    const message = err instanceof Divergence || err instanceof ModelViolation ? err.message : `unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    failure = { step: Math.min(step, options.steps), seed: options.seed, message };
    options.log?.(`FAILED at step ${failure.step}: ${message}`);
  } finally {
    await sim.close();
  }
  return { ok: failure === undefined, ...(failure === undefined ? {} : { failure }), stats: sim.stats(Math.min(step, options.steps)), balances: sim.balances(), digest: sim.digest() };
}

/** The program's settings for one run, drawn from its seed. */
function programOf(prng: Prng): BonusProgramConfig {
  const program: BonusProgramConfig = {
    id: 'bonus',
    name: 'Simulated bonus',
    accrualBp: prng.chance(0.7) ? prng.pick([100, 500, 1000, 2500, 10_000]) : prng.int(0, 10_000),
    payMaxBp: prng.chance(0.7) ? prng.pick([0, 3000, 5000, 10_000]) : prng.int(0, 10_000),
    pointValueMinor: prng.pick([1, 10, 100, 100, 137, 1000]),
  };
  varySettings(prng, program);
  return program;
}

/** The lifecycle settings a run (and a reconfiguration within it) varies. */
function varySettings(prng: Prng, program: BonusProgramConfig): void {
  const delay = prng.chance(0.5) ? 0 : prng.int(1, 30);
  const months = prng.chance(0.3) ? 0 : prng.int(1, 12);
  const timeout = prng.chance(0.3) ? undefined : prng.logInt(10, 86_400);
  const policy = prng.pick(['negative', 'clamp', undefined] as const);
  if (delay === 0) delete program.activationDelayDays;
  else program.activationDelayDays = delay;
  if (months === 0) delete program.expiryMonths;
  else program.expiryMonths = months;
  if (timeout === undefined) delete program.holdTimeoutSeconds;
  else program.holdTimeoutSeconds = timeout;
  if (policy === undefined) delete program.refundDebtPolicy;
  else program.refundDebtPolicy = policy;
}

interface SentCommit {
  guestId: string;
  req: CommitRequest;
}

interface HeldCheck {
  holdId: string;
  guestId: string;
  amount: number;
  lines: CheckLine[];
}

class Simulation {
  private readonly prng: Prng;
  private readonly seed: number;
  private readonly shardCount: number;
  private readonly dataDir: string;
  private readonly log: ((line: string) => void) | undefined;
  private readonly aborts: boolean;
  private readonly start: number;
  /** This run's shape, from the seed: how many guests share the traffic, how fast time runs. */
  private readonly guestsMax: number;
  private readonly jumpMax: number;
  /** Holds placed far more often than resolved, and time slower: open holds pile up to their bound. */
  private readonly holdHeavy: boolean;
  /** Checks up to the door's largest, where points × money passes 2^53. */
  private readonly bigMoney: boolean;
  private now: number;
  private config: ConfigSnapshot;
  private store: Store;
  private actors: GuestActor[] = [];
  private reader: GuestReader;
  private readonly model: LedgerModel;
  private readonly hash = createHash('sha256');

  // What the clients sent, so that they can send it again.
  private readonly sentCommits: SentCommit[] = [];
  private readonly sentRefunds: RefundRequest[] = [];
  private readonly sentAdjusts: AdjustRequest[] = [];
  private readonly sentTopUps: TopUpRequest[] = [];
  private readonly sentMerges: MergeRequest[] = [];
  private readonly cardsTried: string[] = [];
  private readonly heldChecks: HeldCheck[] = [];
  private readonly checkIds: string[] = [];
  private keys = 0;
  private cards = 0;

  // What the engine acknowledged, kept apart from the model: the invariants below hold whatever the model says.
  private readonly acknowledged = new Map<string, CommitResult>();
  private readonly acknowledgedById = new Map<string, CommitResult>();
  private readonly acknowledgedRequests: SentCommit[] = [];
  private readonly acknowledgedRefunds: Array<{ req: RefundRequest; result: RefundResult }> = [];
  private readonly acknowledgedTopUps: Array<{ req: TopUpRequest; result: TopUpResult }> = [];
  /** Merges the engine answered `ok` to (after both phases, as its door does). */
  private readonly acknowledgedMerges: Array<{ req: MergeRequest; result: MergeResult }> = [];
  private readonly refunded = new Map<string, { returned: number; restored: number; reversed: number; deposit: number }>();
  private readonly checkEntries = new Map<string, number>();
  private readonly seenHolds = new Map<string, { status: string; transactionId: string | undefined }>();
  private readonly lastSeen: number[];
  private readonly history = new Map<string, ExpectedEntry[]>();

  private readonly kinds: Record<string, number> = {};
  private readonly outcomes: Record<string, number> = {};
  private readonly reach = { lotsMax: 0, openHoldsMax: 0, debtors: new Set<string>(), writtenOff: 0, recovered: 0, depositMax: 0, partnerPaid: 0, partnerReversed: 0 };
  /** A merge's phase 1 re-pointed cards: the cards and profiles are compared after the step. */
  private cardsMoved = false;
  private crashes = 0;
  private abortCount = 0;
  private restarts = 0;

  constructor(options: SimulationOptions) {
    if (!Number.isSafeInteger(options.seed)) throw new TypeError('options.seed must be a safe integer');
    if (!Number.isSafeInteger(options.steps) || options.steps < 0) throw new TypeError('options.steps must be a non-negative integer');
    if (options.shards !== undefined && (!Number.isSafeInteger(options.shards) || options.shards < 1)) throw new TypeError('options.shards must be a positive integer');
    this.seed = options.seed;
    this.prng = new Prng(options.seed);
    this.shardCount = options.shards ?? this.prng.int(1, 3);
    this.dataDir = options.dataDir;
    this.log = options.log;
    this.aborts = options.aborts ?? false;
    this.guestsMax = this.prng.pick([3, 40, 40, 200]);
    this.jumpMax = this.prng.pick([slow_clock_jump_ms_max, clock_jump_ms_max, clock_jump_ms_max]);
    this.holdHeavy = this.prng.chance(0.25);
    this.bigMoney = this.prng.chance(0.15);
    this.start = Date.UTC(2025, 0, 1) + this.prng.int(0, 3 * 365) * day_ms + this.prng.int(0, day_ms - 1);
    this.now = this.start;
    const program = programOf(this.prng);
    if (this.bigMoney) {
      // Balances stay far below 2^53 over a long run: at most 10% accrual, 1 point = 1.00 or more.
      program.accrualBp = Math.min(program.accrualBp, 1000);
      program.pointValueMinor = Math.max(program.pointValueMinor, 100);
    }
    const snapshot = demoSnapshot('simulation-terminal', 1, program);
    snapshot.organization = { ...snapshot.organization, timeZone: this.prng.pick(TIME_ZONES) };
    // One deposit account, and one partner's points account with one promotion accruing a
    // share of the money paid into it: the program's arithmetic stays the program's alone
    // (no discount, base accrual on every line), the partner's is the model's to restate.
    const partnerValue = this.prng.pick(this.bigMoney ? [100, 250] : [1, 50, 100, 250]);
    const partnerBp = this.prng.pick(this.bigMoney ? [100, 500, 1000] : [100, 500, 1000, 2500]);
    const rules = validateRules({
      settings: { baseAccrualOnPromotionalLines: true },
      accounts: [{ id: WALLET, unit: 'money' }, { id: PARTNER, unit: 'points', pointValueMinor: partnerValue }],
      promotions: [{ id: 'partner-share', name: 'Partner: a share of the money paid', status: 'active', effects: [{ kind: 'accrual', account: PARTNER, percentBp: partnerBp }] }],
    });
    if (!rules.ok) throw new Error(`the simulation's rules do not validate: ${JSON.stringify(rules.errors)}`);
    snapshot.rules = rules.config;
    this.config = snapshot;
    this.model = new LedgerModel(this.shardCount, this.config, (card) => cardShard(card, this.shardCount));
    this.lastSeen = new Array<number>(this.shardCount).fill(0);
    this.store = openStore(this.dataDir);
    this.reader = this.attach();
    this.log?.(`seed ${this.seed}: ${this.shardCount} shard(s), up to ${this.guestsMax} guests,${this.holdHeavy ? ' hold-heavy,' : ''}${this.bigMoney ? ' big checks,' : ''} clock jumps up to ${this.jumpMax / day_ms} days, ${this.config.organization.timeZone}, from ${iso(this.start)}, program ${JSON.stringify(this.config.program)}, ${PARTNER} points at ${partnerValue} accruing ${partnerBp} bp`);
  }

  /** New actors over the open store, as a restarted worker makes them. */
  private attach(): GuestReader {
    this.actors = Array.from({ length: this.shardCount }, (_, shard) => new GuestActor(this.store, shard, this.config, () => this.now));
    this.reader = new GuestReader(this.store, () => this.now);
    return this.reader;
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  // ---- one step ---------------------------------------------------------------------

  async step(n: number): Promise<void> {
    const kind = this.chooseKind();
    this.kinds[kind] = (this.kinds[kind] ?? 0) + 1;
    switch (kind) {
      case 'advance':
        this.advance(this.prng.logInt(minute_ms, this.jumpMax));
        break;
      case 'advance_to_edge':
        this.advanceToEdge();
        break;
      case 'restart':
        this.say(n, 'restart: close the store, open it again, new actors');
        await this.restart();
        break;
      case 'reconfigure':
        this.reconfigure(n);
        break;
      default:
        await this.act(n, this.action(kind));
    }
    this.checkInvariants();
  }

  private chooseKind(): StepKind {
    // Guests merged away are no longer served: newcomers take their place.
    const guests = this.model.guests.size - this.model.merges.size;
    if (guests === 0) return this.prng.weighted([['register', 9], ['advance', 1]]);
    const open = this.openHeldChecks().length;
    const heavy = this.holdHeavy;
    const transfersOut = this.transfersOut().length;
    return this.prng.weighted<StepKind>([
      ['register', guests < Math.min(3, this.guestsMax) ? 30 : guests < this.guestsMax ? 4 : 0],
      ['register_again', 1],
      ['commit', 24],
      ['hold', heavy ? 40 : 9],
      ['commit_hold', open > 0 ? (heavy ? 3 : 9) : 1],
      ['cancel', open > 0 ? (heavy ? 1 : 4) : 1],
      ['retry_commit', this.sentCommits.length > 0 ? 7 : 0],
      ['refund', this.checkIds.length > 0 ? 12 : 1],
      ['retry_refund', this.sentRefunds.length > 0 ? 4 : 0],
      ['adjust', 2],
      ['retry_adjust', this.sentAdjusts.length > 0 ? 1 : 0],
      ['advance', heavy ? 1 : 6],
      ['advance_to_edge', heavy ? 1 : 3],
      ['sweep', 3 + this.shardCount],
      ['read', 4],
      ['restart', 0.7],
      ['reconfigure', 0.4],
      ['top_up', 3],
      ['retry_top_up', this.sentTopUps.length > 0 ? 1 : 0],
      ['merge', guests >= 2 ? 1.5 : 0],
      ['merge_in', transfersOut > 0 ? 1 : this.model.merges.size > 0 ? 0.2 : 0],
      ['retry_merge', this.sentMerges.length > 0 ? 0.6 : 0],
    ]);
  }

  private transfersOut(): string[] {
    const out: string[] = [];
    for (const m of this.model.merges.values()) if (m.status === 'out') out.push(m.mergeId);
    return out;
  }

  private say(n: number, line: string): void {
    this.hash.update(`${n} ${line}\n`);
    this.log?.(`#${n} ${line}`);
  }

  private advance(ms: number): void {
    this.now += ms;
    this.hash.update(`clock ${this.now}\n`);
    this.log?.(`   clock +${ms} ms → ${iso(this.now)}`);
  }

  /** Moves the clock to just before, at or just after the next hold timeout, activation or expiry: where off-by-ones live. */
  private advanceToEdge(): void {
    const edges: number[] = [];
    for (const g of this.model.guests.values()) {
      for (const h of g.holds) edges.push(h.expiresAt);
      for (const l of g.lots) edges.push(l.activatesAt, l.expiresAt);
    }
    // Lots in transit too: a transfer that lands after its lots' expiry burns them at once.
    for (const m of this.model.merges.values()) if (m.status === 'out') for (const l of m.lots) edges.push(l.expiresAt);
    const ahead = edges.filter((t) => t > this.now + 1).sort((a, b) => a - b);
    if (ahead.length === 0) return this.advance(this.prng.logInt(minute_ms, this.jumpMax));
    const target = ahead[Math.min(ahead.length - 1, Math.floor(this.prng.next() ** 2 * ahead.length))]! + this.prng.pick([-1, 0, 0, 1]);
    this.advance(target - this.now);
  }

  async restart(): Promise<void> {
    const before = storeDigest(this.store);
    await this.store.close();
    this.store = openStore(this.dataDir);
    this.attach();
    this.restarts++;
    const after = storeDigest(this.store);
    if (after !== before) throw new Divergence('a restart changed the stored state');
    // Before a shard serves, it lands the transfers that merges left out for its guests (shard-worker.ts `landPendingMerges`).
    for (let shard = 0; shard < this.shardCount; shard++) {
      // A shard with nothing pending lands nothing: its write transaction (an fsync) is left out, the model still asked.
      let pending = false;
      for (const _ of this.store.pendingMerges.getKeys({ start: [shard, '', ''], end: [shard, '\uffff', ''], limit: 1 })) pending = true;
      if (!pending) {
        const want = this.model.landPending(shard, this.now);
        if (want !== 0) throw new Divergence(`shard ${shard} has no pending transfer at its start, the model lands ${want}`);
        continue;
      }
      for (;;) {
        const landed = this.store.root.transactionSync(() => this.inBatches(() => this.actors[shard]!.completePendingMergesInTransaction()));
        const want = this.model.landPending(shard, this.now);
        if (landed !== want) throw new Divergence(`shard ${shard} landed ${landed} pending transfer(s) at its start, the model ${want}`);
        if (landed > 0) {
          this.reach.recovered += landed;
          this.hash.update(`landed ${shard} ${landed}\n`);
          this.log?.(`   shard ${shard} landed ${landed} pending transfer(s) at its start`);
        }
        if (landed < merges_landed_per_transaction_max) break;
      }
    }
  }

  private reconfigure(n: number): void {
    const program = { ...this.config.program };
    varySettings(this.prng, program);
    if (this.prng.chance(0.3)) program.accrualBp = this.prng.int(0, this.bigMoney ? 1000 : 10_000);
    this.config = { ...this.config, version: this.config.version + 1, program };
    for (const a of this.actors) a.setConfig(this.config);
    this.model.config = this.config;
    this.say(n, `reconfigure to version ${this.config.version}: ${JSON.stringify(program)}`);
  }

  /** Runs `work` inside every actor's batch, as a shard worker runs a batch of writes. */
  private inBatches<T>(work: () => T): T {
    return this.actors.reduce<() => T>((inner, actor) => () => actor.inBatch(inner), work)();
  }

  /** Runs one action on the engine (perhaps crashing its transaction) and on the model, compares, and runs what follows it. */
  private async act(n: number, action: Action, faults = true): Promise<void> {
    const fault = action.writes && faults ? (this.prng.chance(crash_probability) ? 'crash' : this.aborts && this.prng.chance(abort_probability) ? 'abort' : undefined) : undefined;
    if (fault !== undefined) return this.crash(n, action, fault);
    const got = action.writes ? this.store.root.transactionSync(() => this.inBatches(() => answer(action.engine))) : answer(action.engine);
    const want = modelAnswer(action.model);
    const outcome = 'value' in got ? outcomeOf(action.op, got.value) : got.error;
    const shown = 'value' in got && typeof got.value === 'number' ? String(got.value) : outcome;
    this.say(n, `${action.label} → ${shown}`);
    this.hash.update(JSON.stringify(got));
    this.outcomes[`${action.op} ${outcome}`] = (this.outcomes[`${action.op} ${outcome}`] ?? 0) + 1;
    if (!isDeepStrictEqual(got, want)) {
      throw new Divergence(`${action.label}: the engine answered ${JSON.stringify(got)}, the model expects ${JSON.stringify(want)}`);
    }
    if ('value' in got) action.after?.(got.value);
    const follow = action.next?.(got);
    if (follow !== undefined) await this.act(n, follow, faults);
  }

  /**
   * The step's transaction throws after the actor wrote: LMDB aborts it and nothing
   * of the step may be visible. A crash then restarts the shards as a dead worker
   * would; an abort (opt-in) keeps the actors, as a worker that survives a failed
   * transaction does.
   */
  private async crash(n: number, action: Action, fault: 'crash' | 'abort'): Promise<void> {
    this.say(n, `${action.label} → ${fault} inside the transaction`);
    const before = storeDigest(this.store);
    try {
      this.store.root.transactionSync(() =>
        this.inBatches(() => {
          answer(action.engine);
          throw new SimulatedCrash(fault);
        }),
      );
    } catch (err) {
      if (!(err instanceof SimulatedCrash)) throw err;
    }
    if (storeDigest(this.store) !== before) throw new Divergence(`${action.label}: a ${fault}ed transaction left writes behind`);
    if (fault === 'crash') {
      this.crashes++;
      await this.restart();
    } else {
      this.abortCount++;
    }
  }

  // ---- actions ----------------------------------------------------------------------

  private action(kind: StepKind): Action {
    switch (kind) {
      case 'register':
        return this.register(`card-${++this.cards}`);
      case 'register_again':
        return this.register(this.cardsTried.length > 0 ? this.prng.pick(this.cardsTried) : `card-${++this.cards}`);
      case 'commit':
        return this.commit();
      case 'hold':
        return this.hold();
      case 'commit_hold':
        return this.commitHold();
      case 'cancel':
        return this.cancel();
      case 'retry_commit':
        return this.retryCommit();
      case 'refund':
        return this.refund();
      case 'retry_refund':
        return this.retryRefund();
      case 'adjust':
        return this.adjust();
      case 'retry_adjust':
        return this.retryAdjust();
      case 'sweep':
        return this.sweep();
      case 'read':
        return this.read();
      case 'top_up':
        return this.topUp();
      case 'retry_top_up':
        return this.retryTopUp();
      case 'merge':
        return this.merge();
      case 'merge_in':
        return this.lateMergeIn();
      case 'retry_merge':
        return this.retryMerge();
      default:
        throw new Error(`no action for ${kind}`);
    }
  }

  private register(card: string): Action {
    this.cardsTried.push(card);
    const req = validateRegister({ outlet: OUTLETS[0], card, name: `Guest ${card}` });
    const shard = cardShard(card, this.shardCount);
    const at = iso(this.now);
    return {
      op: 'register',
      label: `register ${card} (shard ${shard})`,
      writes: true,
      engine: () => this.actors[shard]!.registerInTransaction(req, at),
      model: () => this.model.register(req),
    };
  }

  private randomGuest(): MGuest {
    return this.prng.pick([...this.model.guests.values()]);
  }

  /** The guest a card names now: where the doors route a request by card. */
  private holderOf(card: string): MGuest {
    return this.model.guest(this.model.cards.get(card)!);
  }

  /**
   * A request by `picked`'s card: `to` is the guest the card names now, whose state the
   * request is made for; `guestId` where it goes, which now and then, for a guest merged
   * away, is that guest (the doors resolved the card before the merge): refused with
   * `guest_merged`, and sent again (Action.next).
   */
  private byCard(picked: MGuest): { card: string; to: MGuest; guestId: string } {
    const to = this.holderOf(picked.card);
    const stale = to.id !== picked.id && this.prng.chance(stale_route_probability);
    return { card: picked.card, to, guestId: stale ? picked.id : to.id };
  }

  /** Sends a request refused with `guest_merged` again, to the guest its card names now (engine.ts `rerouted`). */
  private static rerouted(got: Answer, again: () => Action): Action | undefined {
    return 'error' in got && got.error === 'guest_merged' ? again() : undefined;
  }

  private lines(): CheckLine[] {
    const count = 1 + Math.floor(this.prng.next() ** 2 * 5);
    // Large checks stay within the door's limit: 5 lines × 2 units × unit_price_minor_max = check_total_minor_max.
    const priceMax = this.bigMoney ? unit_price_minor_max : 500_000;
    const quantityMax = this.bigMoney ? 2 : 6;
    return Array.from({ length: count }, () => {
      const line: CheckLine = {
        itemCode: this.prng.pick(ITEMS),
        quantity: 1 + Math.floor(this.prng.next() ** 3 * quantityMax),
        unitPrice: this.prng.chance(0.02) ? 0 : this.prng.logInt(100, priceMax),
      };
      if (this.prng.chance(0.5)) line.category = this.prng.pick(['coffee', 'food']);
      return line;
    });
  }

  /** Points to ask for (of the partner's account with `account` PARTNER): often none, often what fits, sometimes just over the cap or the balance. */
  private pointsFor(g: MGuest, lines: CheckLine[], account?: string): number {
    const partner = account === PARTNER;
    const acc = partner ? (g.pointsAccounts?.[PARTNER] ?? { balance: 0, lots: [], holds: [] }) : g;
    const available = this.model.view(acc, this.now, 0).available;
    const p = this.config.program;
    const pointValue = partner ? this.config.rules.accounts.find((a) => a.id === PARTNER)!.pointValueMinor : p.pointValueMinor;
    const total = lines.reduce((s, l) => s + l.quantity * l.unitPrice, 0);
    const cap = Math.floor((Math.floor((total * p.payMaxBp) / 10_000) * 100) / pointValue);
    const fits = Math.min(available, cap);
    switch (this.prng.weighted([['none', 4], ['some', 2], ['all', 1], ['over_cap', 1], ['over_balance', 1], ['any', 1]])) {
      case 'none':
        return 0;
      case 'some':
        return fits > 0 ? this.prng.int(1, fits) : 0;
      case 'all':
        return fits;
      case 'over_cap':
        return cap + this.prng.int(1, 100);
      case 'over_balance':
        return Math.max(0, acc.balance) + this.prng.int(1, 100);
      default:
        return this.prng.int(0, 2 * Math.max(100, acc.balance));
    }
  }

  /** A points account to name: mostly the partner's, now and then the program's own id, a deposit or nothing known (refused). */
  private pointsAccountToName(): string {
    return this.prng.weighted([[PARTNER, 12], [this.config.program.id, 2], [WALLET, 1], ['nowhere', 1]]);
  }

  private newKey(prefix: string): string {
    return `${prefix}${++this.keys}`;
  }

  /** Money to pay from the wallet: mostly none, some or all of what fits; now and then more than the check leaves or the wallet holds, or an account that is no deposit. */
  private depositFor(g: MGuest, lines: CheckLine[], pointsSpent: number): DepositPayment | undefined {
    const balance = g.accounts?.[WALLET] ?? 0;
    if (!this.prng.chance(balance > 0 ? 0.3 : 0.03)) return undefined;
    const total = lines.reduce((s, l) => s + l.quantity * l.unitPrice, 0);
    const toPay = total - Math.min(total, Math.ceil((pointsSpent * this.config.program.pointValueMinor) / 100));
    const fits = Math.min(balance, toPay);
    const amount = (n: number): number => Math.max(1, Math.min(check_total_minor_max, n));
    switch (this.prng.weighted([['some', 5], ['all', 2], ['over_check', 1], ['over_balance', 1], ['not_a_deposit', 0.2]])) {
      case 'some':
        return { account: WALLET, amount: fits > 1 ? this.prng.int(1, fits) : 1 };
      case 'all':
        return { account: WALLET, amount: amount(fits) };
      case 'over_check':
        return { account: WALLET, amount: amount(toPay + this.prng.int(1, 100)) };
      case 'over_balance':
        return { account: WALLET, amount: amount(balance + this.prng.int(1, 100)) };
      default:
        return { account: this.config.program.id, amount: 1 };
    }
  }

  private commitRequest(card: string, lines: CheckLine[], pointsSpent: number, holdId?: string, deposit?: DepositPayment, pointsAccount?: string): CommitRequest {
    return validateCommit({
      outlet: this.prng.pick(OUTLETS),
      // Now and then a key the outlet used before, for another check: the first answer stands.
      idempotencyKey: this.sentCommits.length > 0 && this.prng.chance(0.03) ? this.prng.pick(this.sentCommits).req.idempotencyKey : this.newKey('c'),
      time: iso(this.now),
      currency: this.prng.chance(0.01) ? 'USD' : CURRENCY,
      card,
      lines,
      pointsSpent,
      ...(holdId === undefined ? {} : { holdId }),
      ...(deposit === undefined ? {} : { deposit }),
      ...(pointsAccount === undefined ? {} : { pointsAccount }),
    });
  }

  private commitAction(guestId: string, req: CommitRequest, label: string): Action {
    this.sentCommits.push({ guestId, req });
    const shard = this.model.guest(guestId).shard;
    return {
      op: 'commit',
      label: `${label} ${guestId} key ${req.outlet}/${req.idempotencyKey} total ${req.lines.reduce((s, l) => s + l.quantity * l.unitPrice, 0)} spend ${req.pointsSpent}${req.holdId === undefined ? '' : ` hold ${req.holdId}`}${req.deposit === undefined ? '' : ` deposit ${req.deposit.account} ${req.deposit.amount}`}${req.pointsAccount === undefined ? '' : ` from ${req.pointsAccount}`}`,
      writes: true,
      engine: () => this.actors[shard]!.commitInTransaction(guestId, req),
      model: () => this.model.commit(guestId, req, this.now),
      after: (value) => this.afterCommit(guestId, req, value as CommitResult),
      next: (got) => Simulation.rerouted(got, () => this.commitAction(this.holderOf(req.card).id, req, `${label}, sent again`)),
    };
  }

  private commit(): Action {
    const { card, to, guestId } = this.byCard(this.randomGuest());
    const lines = this.lines();
    const account = this.prng.chance(points_account_probability) ? this.pointsAccountToName() : undefined;
    const points = this.pointsFor(to, lines, account);
    return this.commitAction(guestId, this.commitRequest(card, lines, points, undefined, this.depositFor(to, lines, points), account), 'commit');
  }

  /** Checks the engine's commit answer against what it acknowledged before, independently of the model. */
  private afterCommit(guestId: string, req: CommitRequest, result: CommitResult): void {
    const key = `${req.outlet}/${req.idempotencyKey}`;
    const first = this.acknowledged.get(key);
    if (result.outcome === 'ok') {
      if (first !== undefined) throw new Divergence(`key ${key} was applied twice: ${first.transactionId} and ${result.transactionId}`);
      this.acknowledged.set(key, result);
      this.acknowledgedRequests.push({ guestId, req });
      this.acknowledgedById.set(result.transactionId, result);
      this.checkIds.push(result.transactionId);
      if (req.pointsAccount === PARTNER && result.spent > 0) this.reach.partnerPaid++;
      if (req.holdId !== undefined) {
        const held = this.heldChecks.find((h) => h.holdId === req.holdId);
        if (held !== undefined && result.spent > held.amount) throw new Divergence(`hold ${req.holdId} of ${held.amount} posted ${result.spent}`);
      }
    } else if (first !== undefined) {
      if (result.transactionId !== first.transactionId) throw new Divergence(`a retry of ${key} answered ${result.transactionId}, not ${first.transactionId}`);
      if (result.outcome === 'exists' && !isDeepStrictEqual(result, { ...first, outcome: 'exists' })) {
        throw new Divergence(`a retry of ${key} answered ${JSON.stringify(result)}, not the first answer ${JSON.stringify(first)}`);
      }
    }
  }

  private hold(): Action {
    // Often the guest of the last hold again, asking for little: holds pile up towards the per-guest bound.
    const last = this.heldChecks[this.heldChecks.length - 1];
    const { card, to: g, guestId } = this.byCard(last !== undefined && this.prng.chance(0.5) ? this.model.guest(last.guestId) : this.randomGuest());
    const lines = this.lines();
    const pointsToSpend = this.prng.chance(0.5) ? this.prng.int(1, 1 + Math.floor(this.model.view(g, this.now, 0).available / 8)) : this.pointsFor(g, lines);
    // Now and then a points account: the program's holds as ever, another is refused (holds are the program's).
    const account = this.prng.chance(0.05) ? this.pointsAccountToName() : undefined;
    const req = validateEvaluate({
      outlet: this.prng.pick(OUTLETS), time: iso(this.now), currency: this.prng.chance(0.01) ? 'USD' : CURRENCY, card, lines, pointsToSpend, hold: true,
      ...(account === undefined ? {} : { pointsAccount: account }),
    });
    return this.holdAction(guestId, req, lines);
  }

  private holdAction(guestId: string, req: ReturnType<typeof validateEvaluate>, lines: CheckLine[], label = 'evaluate with hold'): Action {
    const shard = guestShard(guestId);
    return {
      op: 'hold',
      label: `${label} ${guestId} spend ${req.pointsToSpend}${req.pointsAccount === undefined ? '' : ` from ${req.pointsAccount}`}`,
      writes: true,
      engine: () => this.actors[shard]!.evaluateWithHoldInTransaction(guestId, req),
      model: () => this.model.evaluateWithHold(guestId, req, this.now),
      after: (value) => {
        const r = value as { holdId: string; pointsToSpend: number };
        if (r.holdId !== '') this.heldChecks.push({ holdId: r.holdId, guestId, amount: r.pointsToSpend, lines });
      },
      next: (got) => Simulation.rerouted(got, () => this.holdAction(this.holderOf(req.card).id, req, lines, 'evaluate with hold, sent again,')),
    };
  }

  private openHeldChecks(): HeldCheck[] {
    return this.heldChecks.filter((h) => this.model.holds.get(h.holdId)?.status === 'open');
  }

  /** A hold id to use: mostly an open one, sometimes one already resolved, now and then one that never was. */
  private pickHold(): { holdId: string; held?: HeldCheck } {
    const open = this.openHeldChecks();
    const r = this.prng.next();
    if (open.length > 0 && r < 0.8) {
      const held = this.prng.pick(open);
      return { holdId: held.holdId, held };
    }
    if (this.heldChecks.length > 0 && r < 0.93) {
      const held = this.prng.pick(this.heldChecks);
      return { holdId: held.holdId, held };
    }
    const g = this.randomGuest();
    return { holdId: this.prng.chance(0.5) ? `${g.id}.h${g.holdSeq + this.prng.int(1, 3)}` : `${g.shard}-999999.h1` };
  }

  private commitHold(): Action {
    const { holdId, held } = this.pickHold();
    const owner = held === undefined ? this.model.guests.get(guestOfId(holdId)) : this.model.guest(held.guestId);
    // Now and then another guest's card presents the hold: it is not theirs.
    // A hold of a guest merged away is presented by a card that names another guest now: not theirs.
    const { card, to, guestId } = this.byCard(owner === undefined || this.prng.chance(0.1) ? this.randomGuest() : owner);
    const amount = held?.amount ?? 100;
    const spend = this.prng.weighted([['part', 7], ['all', 2], ['over', 1]]);
    const points = spend === 'all' ? amount : spend === 'over' ? amount + this.prng.int(1, 50) : this.prng.int(0, amount);
    const lines = held !== undefined && this.prng.chance(0.9) ? held.lines : this.lines();
    // Now and then another points account with the hold: refused, the key left free.
    const account = this.prng.chance(0.04) ? this.pointsAccountToName() : undefined;
    return this.commitAction(guestId, this.commitRequest(card, lines, points, holdId, this.depositFor(to, lines, points), account), 'commit with hold');
  }

  private cancel(): Action {
    const { holdId } = this.pickHold();
    const req = validateCancel({ outlet: this.prng.pick(OUTLETS), holdId });
    // The door routes a cancel by the guest named in the hold id.
    const guestId = guestOfId(holdId);
    const shard = parseInt(guestId, 10);
    return {
      op: 'cancel',
      label: `cancel ${holdId}`,
      writes: true,
      engine: () => this.actors[shard]!.cancelInTransaction(guestId, req),
      model: () => this.model.cancel(guestId, req, this.now),
    };
  }

  private retryCommit(): Action {
    const sent = this.prng.pick(this.sentCommits);
    const req: CommitRequest = { ...sent.req };
    let change = 'same body';
    if (this.prng.chance(0.3)) {
      change = this.prng.pick(['card', 'time', 'currency', 'lines', 'pointsSpent', 'holdId', 'deposit', 'pointsAccount'] as const);
      switch (change) {
        case 'card':
          req.card = this.randomGuest().card;
          break;
        case 'time':
          req.time = iso(Date.parse(req.time) + 1000);
          break;
        case 'currency':
          req.currency = 'USD';
          break;
        case 'lines':
          req.lines = this.lines();
          break;
        case 'pointsSpent':
          req.pointsSpent = (req.pointsSpent ?? 0) + 1;
          break;
        case 'holdId':
          if (req.holdId === undefined) req.holdId = `${sent.guestId}.h1`;
          else delete req.holdId;
          break;
        case 'deposit':
          if (req.deposit === undefined) req.deposit = { account: WALLET, amount: this.prng.int(1, 1_000) };
          else if (this.prng.chance(0.5)) delete req.deposit;
          else req.deposit = { ...req.deposit, amount: req.deposit.amount + 1 };
          break;
        case 'pointsAccount':
          if (req.pointsAccount === undefined) req.pointsAccount = this.prng.pick([PARTNER, this.config.program.id]);
          else delete req.pointsAccount;
          break;
      }
    }
    // The door routes by the card presented.
    return this.commitAction(this.holderOf(req.card).id, validateCommit(req), `retry (${change}) of commit`);
  }

  private refund(): Action {
    let transactionId: string;
    const r = this.prng.next();
    if (this.checkIds.length > 0 && r < 0.9) {
      transactionId = this.prng.pick(this.checkIds);
      // Checks of guests merged away are refused (guest_merged): mostly another check is tried, so refunds keep landing.
      if (this.model.guests.get(guestOfId(transactionId))?.mergedInto !== undefined && this.prng.chance(0.7)) transactionId = this.prng.pick(this.checkIds);
    } else if (r < 0.95) {
      // Not a check of this guest: another entry of theirs, another guest's check in the shard, or a number not yet written.
      const g = this.randomGuest();
      const n = this.prng.chance(0.5) ? Math.max(1, g.lastTx) : this.prng.int(1, this.model.journal[g.shard]! + 3);
      transactionId = `${g.id}.${n}`;
    } else transactionId = `${this.prng.int(0, this.shardCount - 1)}-999999.1`;
    const check = this.model.checks.get(transactionId);
    const body: Record<string, unknown> = { outlet: this.prng.pick(OUTLETS), transactionId };
    // Now and then a refund key used before, for another refund: the first answer stands.
    body.idempotencyKey = this.sentRefunds.length > 0 && this.prng.chance(0.05) ? this.prng.pick(this.sentRefunds).idempotencyKey : this.newKey('r');
    const how = this.prng.weighted([['lines', 35], ['amount', 35], ['rest', 30], ['cancel', 15]]);
    if (how === 'cancel') body.cancel = true;
    else if (how === 'lines') {
      const count = check?.lines.length ?? 1;
      const picked = new Set<number>();
      const want = this.prng.int(1, count);
      while (picked.size < want) picked.add(this.prng.int(0, count - 1));
      if (this.prng.chance(0.03)) picked.add(count); // a line the check does not have
      body.lines = [...picked].map((line) => {
        const left = check === undefined || line >= check.lines.length ? 1 : check.lines[line]!.quantity - check.returnedQty[line]!;
        return { line, quantity: this.prng.chance(0.1) ? left + 1 : this.prng.int(1, Math.max(1, left)) };
      });
    } else if (how === 'amount') {
      const left = check === undefined ? 1_000 : check.total - check.returned;
      const r = this.prng.next();
      if (r < 0.1) body.amount = left + this.prng.int(1, 100);
      else if (r < 0.4 && check !== undefined) {
        // A round share of the check (a half, two thirds…), where a proportion lands on a whole number.
        const d = this.prng.pick([2, 3, 4, 5, 10]);
        body.amount = Math.max(1, Math.min(left, Math.floor((check.total * this.prng.int(1, d - 1)) / d)));
      } else body.amount = this.prng.logInt(1, Math.max(1, left));
    }
    return this.refundAction(validateRefund(body), how);
  }

  private refundAction(req: RefundRequest, how: string): Action {
    this.sentRefunds.push(req);
    // The door routes a refund by the guest named in the transaction id.
    const guestId = guestOfId(req.transactionId);
    const shard = parseInt(guestId, 10);
    const what = req.cancel === true ? 'cancel' : req.lines !== undefined ? `lines ${JSON.stringify(req.lines)}` : req.amount !== undefined ? `amount ${req.amount}` : 'the rest';
    return {
      op: req.cancel === true ? 'cancel check' : 'refund',
      label: `refund (${how}) ${req.transactionId} key ${req.outlet}/${req.idempotencyKey} ${what}`,
      writes: true,
      engine: () => this.actors[shard]!.refundInTransaction(guestId, req),
      model: () => this.model.refund(guestId, req, this.now),
      after: (value) => this.afterRefund(req, value as RefundResult),
    };
  }

  /** Refunds never return more than the check committed, whatever the model says. */
  private afterRefund(req: RefundRequest, result: RefundResult): void {
    if (result.outcome !== 'ok') return;
    this.acknowledgedRefunds.push({ req, result });
    this.reach.writtenOff += result.writtenOff;
    for (const r of result.pointsReversed ?? []) this.reach.partnerReversed += r.reversed + r.writtenOff;
    const check = this.acknowledgedById.get(result.transactionId);
    if (check === undefined) throw new Divergence(`refund ${result.refundId} of ${result.transactionId}, which no commit acknowledged`);
    const sum = this.refunded.get(result.transactionId) ?? { returned: 0, restored: 0, reversed: 0, deposit: 0 };
    sum.returned += result.returned;
    sum.restored += result.spentRestored;
    sum.reversed += result.accrualReversed + result.writtenOff;
    sum.deposit += result.depositRestored;
    this.refunded.set(result.transactionId, sum);
    if (sum.returned > check.total) throw new Divergence(`${result.transactionId}: ${sum.returned} returned of a ${check.total} check`);
    if (sum.deposit > check.depositPaid) throw new Divergence(`${result.transactionId}: ${sum.deposit} given back to the deposit of ${check.depositPaid} paid from it`);
    if (result.checkStatus === 'cancelled' && (sum.restored !== check.spent || sum.deposit !== check.depositPaid || sum.returned !== check.total)) {
      throw new Divergence(`${result.transactionId}: cancelled, yet ${JSON.stringify(sum)} of ${JSON.stringify(check)} was undone`);
    }
    if (sum.restored > check.spent) throw new Divergence(`${result.transactionId}: ${sum.restored} points restored of ${check.spent} spent`);
    if (sum.reversed > check.accrued) throw new Divergence(`${result.transactionId}: ${sum.reversed} points reversed of ${check.accrued} accrued`);
  }

  private retryRefund(): Action {
    const req: RefundRequest = { ...this.prng.pick(this.sentRefunds) };
    let change = 'same body';
    if (this.prng.chance(0.3)) {
      change = this.prng.pick(['transaction', 'lines', 'amount', 'cancel'] as const);
      if (change === 'transaction' && this.checkIds.length > 0) req.transactionId = this.prng.pick(this.checkIds);
      else if (change === 'cancel') {
        delete req.lines;
        delete req.amount;
        if (req.cancel === true) delete req.cancel;
        else req.cancel = true;
      } else if (change === 'lines') {
        delete req.amount;
        delete req.cancel;
        req.lines = [{ line: 0, quantity: (req.lines?.[0]?.quantity ?? 0) + 1 }];
      } else {
        delete req.lines;
        delete req.cancel;
        req.amount = (req.amount ?? 0) + 1;
      }
    }
    return this.refundAction(validateRefund(req), `retry, ${change}`);
  }

  /** A manual adjustment: mostly points added, sometimes taken (more than available now and then). */
  private adjust(): Action {
    const { card, to: g, guestId } = this.byCard(this.randomGuest());
    const available = this.model.view(g, this.now, 0).available;
    const points = this.prng.chance(0.6)
      ? this.prng.logInt(1, 100_000)
      : -(this.prng.chance(0.8) && available > 0 ? this.prng.int(1, available) : available + this.prng.int(1, 100));
    const req = validateAdjust({
      outlet: this.prng.pick(OUTLETS),
      idempotencyKey: this.sentAdjusts.length > 0 && this.prng.chance(0.05) ? this.prng.pick(this.sentAdjusts).idempotencyKey : this.newKey('a'),
      card,
      points,
      reason: this.prng.pick(['goodwill', 'correction', 'complaint']),
      operator: 'simulation',
    });
    return this.adjustAction(guestId, req, 'adjust');
  }

  private adjustAction(guestId: string, req: AdjustRequest, label: string): Action {
    this.sentAdjusts.push(req);
    const shard = this.model.guest(guestId).shard;
    return {
      op: 'adjust',
      label: `${label} ${guestId} key ${req.outlet}/${req.idempotencyKey} points ${req.points} (${req.reason})`,
      writes: true,
      engine: () => this.actors[shard]!.adjustInTransaction(guestId, req),
      model: () => this.model.adjust(guestId, req, this.now),
      next: (got) => Simulation.rerouted(got, () => this.adjustAction(this.holderOf(req.card).id, req, `${label}, sent again,`)),
    };
  }

  private retryAdjust(): Action {
    const req = { ...this.prng.pick(this.sentAdjusts) };
    let change = 'same body';
    if (this.prng.chance(0.3)) {
      change = this.prng.pick(['card', 'points', 'reason'] as const);
      if (change === 'card') req.card = this.randomGuest().card;
      else if (change === 'points') req.points += req.points > 0 ? 1 : -1; // never 0, which the door refuses
      else req.reason = `${req.reason}!`;
    }
    // The door routes by the card presented.
    return this.adjustAction(this.model.cards.get(req.card)!, validateAdjust(req), `retry (${change}) of adjust`);
  }

  // ---- deposits -------------------------------------------------------------------

  /** Money put on the wallet: amounts from a coin to a large check; now and then a key used before, or an account that is no deposit. */
  private topUp(): Action {
    const { card, guestId } = this.byCard(this.randomGuest());
    const req = validateTopUp({
      outlet: this.prng.pick(OUTLETS),
      idempotencyKey: this.sentTopUps.length > 0 && this.prng.chance(0.05) ? this.prng.pick(this.sentTopUps).idempotencyKey : this.newKey('t'),
      card,
      account: this.prng.chance(0.03) ? this.config.program.id : WALLET,
      amount: this.prng.chance(0.7) ? this.prng.logInt(100, 200_000) : this.prng.logInt(1, this.bigMoney ? check_total_minor_max : 5_000_000),
      operator: 'simulation',
    });
    return this.topUpAction(guestId, req, 'top-up');
  }

  private topUpAction(guestId: string, req: TopUpRequest, label: string): Action {
    this.sentTopUps.push(req);
    const shard = guestShard(guestId);
    return {
      op: 'topUp',
      label: `${label} ${guestId} key ${req.outlet}/${req.idempotencyKey} ${req.account} ${req.amount}`,
      writes: true,
      engine: () => this.actors[shard]!.topUpInTransaction(guestId, req),
      model: () => this.model.topUp(guestId, req, this.now),
      after: (value) => {
        const r = value as TopUpResult;
        if (r.outcome === 'ok') this.acknowledgedTopUps.push({ req, result: r });
      },
      next: (got) => Simulation.rerouted(got, () => this.topUpAction(this.holderOf(req.card).id, req, `${label}, sent again,`)),
    };
  }

  private retryTopUp(): Action {
    const req = { ...this.prng.pick(this.sentTopUps) };
    let change = 'same body';
    if (this.prng.chance(0.3)) {
      change = this.prng.pick(['card', 'account', 'amount'] as const);
      if (change === 'card') req.card = this.randomGuest().card;
      else if (change === 'account') req.account = req.account === WALLET ? this.config.program.id : WALLET;
      else req.amount += 1;
    }
    return this.topUpAction(this.holderOf(req.card).id, validateTopUp(req), `retry (${change}) of top-up`);
  }

  // ---- merges ---------------------------------------------------------------------

  /**
   * Two guests merged: the guest merged away often one with something to move (open
   * holds, a debt, a deposit, several lots); the guest who stays any, in its shard or
   * another; now and then the same guest on both sides (two of its cards), or a `from`
   * card resolved before an earlier merge took its guest away.
   */
  private merge(): Action {
    const live = [...this.model.guests.values()].filter((g) => g.mergedInto === undefined);
    // Guests with a transfer still on its way to them: merged away, they pass it on (guest-merge.ts `landIncoming`).
    const receiving = new Set<string>();
    for (const m of this.model.merges.values()) if (m.status === 'out') receiving.add(m.into);
    const rich = live.filter((g) => g.holds.length > 0 || g.balance < 0 || (g.accounts?.[WALLET] ?? 0) > 0 || g.lots.length >= 3 || receiving.has(g.id));
    const passing = live.filter((g) => receiving.has(g.id));
    const r = this.prng.next();
    const from = passing.length > 0 && r < 0.4 ? this.prng.pick(passing) : rich.length > 0 && r < 0.7 ? this.prng.pick(rich) : this.prng.pick(live);
    const into = this.prng.chance(0.05) ? from : this.prng.pick(live);
    const merged = [...this.model.guests.values()].filter((g) => g.mergedInto !== undefined);
    const stale = merged.length > 0 && this.prng.chance(0.05) ? this.prng.pick(merged) : undefined;
    const req = validateMerge({
      outlet: this.prng.pick(OUTLETS),
      idempotencyKey: this.sentMerges.length > 0 && this.prng.chance(0.03) ? this.prng.pick(this.sentMerges).idempotencyKey : this.newKey('m'),
      card: this.prng.pick(into.cards),
      from: stale?.card ?? this.prng.pick(from.cards),
    });
    return this.mergeAction(req, 'merge', { stale: stale?.id });
  }

  /**
   * Phase 1 in the shard of the guest merged away (for a key seen before, of the guest it
   * named then), as engine.ts `merge` routes it; for a transfer to another shard, phase 2
   * follows at once (Action.next) unless the process "died" between: then recovery lands
   * it. `expect`: the answer a final retry must give.
   */
  private mergeAction(req: MergeRequest, label: string, opts: { stale?: string; expect?: MergeResult } = {}): Action {
    if (opts.expect === undefined) this.sentMerges.push(req);
    const seen = this.store.mergeKeys.get([req.outlet, req.idempotencyKey]);
    const fromGuestId = seen?.fromGuestId ?? opts.stale ?? this.holderOf(req.from).id;
    const shard = guestShard(fromGuestId);
    const answered = (r: MergeResult): void => {
      if (opts.expect !== undefined) {
        if (!isDeepStrictEqual(r, { ...opts.expect, outcome: 'exists' })) throw new Divergence(`a retry of merge ${opts.expect.mergeId} answered ${JSON.stringify(r)}`);
      } else if (r.outcome === 'ok') this.acknowledgedMerges.push({ req, result: r });
    };
    return {
      op: opts.expect === undefined ? 'merge' : 'final retry of merge',
      label: `${label} ${req.from} (${fromGuestId}) into ${req.card} (${this.model.cards.get(req.card) ?? '?'}) key ${req.outlet}/${req.idempotencyKey}`,
      writes: true,
      engine: () => this.actors[shard]!.mergeInTransaction(fromGuestId, req),
      model: () => this.model.mergeOut(fromGuestId, req, this.now),
      after: (value) => {
        const r = value as MergeResult;
        this.cardsMoved = true;
        if (r.mergeId === '' || guestShard(r.guestId) === shard) answered(r);
      },
      next: (got) => {
        if ('error' in got) return Simulation.rerouted(got, () => this.mergeAction(req, `${label}, sent again,`, { expect: opts.expect }));
        const r = got.value as MergeResult;
        if (r.mergeId === '' || guestShard(r.guestId) === shard) return undefined;
        if (opts.expect === undefined && this.prng.chance(merge_in_lost_probability)) {
          this.log?.(`   phase 2 of ${r.mergeId} not sent: the process "died" between the phases`);
          return undefined;
        }
        return this.mergeInAction(r.mergeId, r.guestId, r.outcome, answered, opts.expect === undefined ? 'mergeIn' : 'final retry of merge');
      },
    };
  }

  /** Phase 2 in the shard of the guest who stays: lands the transfer once, however often asked. */
  private mergeInAction(mergeId: string, into: string, outcome: MergeOutcome, answered?: (r: MergeResult) => void, op = 'mergeIn'): Action {
    const shard = guestShard(into);
    return {
      op,
      label: `phase 2 of ${mergeId} into ${into} (${outcome})`,
      writes: true,
      engine: () => this.actors[shard]!.completeMergeInTransaction({ mergeId, outcome }),
      model: () => this.model.mergeIn(mergeId, outcome, this.now),
      after: (value) => answered?.(value as MergeResult),
    };
  }

  /** A phase 2 arriving late: mostly for a transfer still out, now and then for one already landed. */
  private lateMergeIn(): Action {
    const out = this.transfersOut();
    const mergeId = out.length > 0 && this.prng.chance(0.85) ? this.prng.pick(out) : this.prng.pick([...this.model.merges.keys()]);
    return this.mergeInAction(mergeId, this.model.merges.get(mergeId)!.into, this.prng.pick(['ok', 'exists'] as const));
  }

  private retryMerge(): Action {
    const req = { ...this.prng.pick(this.sentMerges) };
    let change = 'same body';
    if (this.prng.chance(0.3)) {
      const field = this.prng.pick(['card', 'from'] as const);
      req[field] = this.randomGuest().card;
      change = field;
    }
    return this.mergeAction(validateMerge(req), `retry (${change}) of merge`);
  }

  /** The shard worker's sweep: transfers still out into the shard's guests land, then expired lots burn, in one transaction. */
  private sweep(): Action {
    const shard = this.prng.int(0, this.shardCount - 1);
    return {
      op: 'sweep',
      label: `expiry sweep of shard ${shard}`,
      writes: true,
      engine: () => ({ landed: this.actors[shard]!.completePendingMergesInTransaction(), swept: this.actors[shard]!.sweepExpiries() }),
      model: () => ({ landed: this.model.landPending(shard, this.now), swept: this.model.sweep(shard, this.now) }),
      after: (value) => {
        this.reach.recovered += (value as { landed: number }).landed;
      },
    };
  }

  /** Reads from the last written state, as the doors' thread answers them. */
  private read(): Action {
    const g = this.holderOf(this.randomGuest().card);
    if (this.prng.chance(0.5)) {
      const lines = this.lines();
      const account = this.prng.chance(points_account_probability) ? this.pointsAccountToName() : undefined;
      const req = validateEvaluate({
        outlet: OUTLETS[0], time: iso(this.now), currency: CURRENCY, card: g.card, lines, pointsToSpend: this.pointsFor(g, lines, account),
        ...(account === undefined ? {} : { pointsAccount: account }),
      });
      return {
        op: 'evaluate',
        label: `evaluate ${g.id}${account === undefined ? '' : ` from ${account}`}`,
        writes: false,
        engine: () => this.reader.evaluate(this.actors[g.shard]!.currentConfig, g.id, req),
        model: () => this.model.evaluateRead(g.id, req, this.now),
      };
    }
    const days = this.prng.int(0, 60);
    const limit = this.prng.int(0, 5);
    return {
      op: 'balance',
      label: `balance ${g.id} (expiring within ${days} days, last ${limit})`,
      writes: false,
      engine: () => {
        const b = this.reader.balance(this.actors[g.shard]!.currentConfig, g.id, { outlet: OUTLETS[0], card: g.card, limit, expiringWithinDays: days });
        return { ...b, outcome: 'ok', transactions: b.transactions.map((t) => ({ transactionId: t.transactionId, kind: t.kind, balanceAfter: t.balanceAfter })) };
      },
      model: () => {
        const entries = limit === 0 ? [] : (this.history.get(g.id) ?? []).slice(-limit).reverse();
        return {
          guestId: g.id,
          ...this.model.view(g, this.now, days * day_ms),
          outcome: 'ok',
          transactions: entries.map((e) => ({ transactionId: e.transactionId, kind: e.kind, balanceAfter: e.balanceAfter })),
          // The wallet once topped up (0 included), then the partner's points account once used, each sorted by account; the simulated configurations count nothing.
          accounts: [
            ...Object.entries(g.accounts ?? {})
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([account, balance]) => ({ account, unit: 'money', balance })),
            ...Object.entries(g.pointsAccounts ?? {})
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([account, acc]) => {
                const v = this.model.view(acc, this.now, days * day_ms);
                return { account, unit: 'points', balance: v.balance, available: v.available, pending: v.pending, expiring: v.expiring };
              }),
          ],
        };
      },
    };
  }

  /**
   * After the last step (and a restart): every acknowledged commit and refund sent
   * again with its key and body answers `exists` with the first answer, and
   * nothing is written.
   */
  async retryEverything(n: number): Promise<void> {
    const before = storeDigest(this.store);
    for (const { req } of this.acknowledgedRequests) {
      const first = this.acknowledged.get(`${req.outlet}/${req.idempotencyKey}`)!;
      // Routed by its card, which may name another guest since a merge: the key answers wherever it arrives.
      const action = this.commitAction(this.holderOf(req.card).id, req, 'final retry of commit');
      await this.act(n, { ...action, op: 'final retry of commit', after: (value) => {
        if (!isDeepStrictEqual(value, { ...first, outcome: 'exists' })) throw new Divergence(`a retry of commit ${first.transactionId} answered ${JSON.stringify(value)}`);
      } }, false);
    }
    for (const { req, result } of this.acknowledgedRefunds) {
      const action = this.refundAction(req, 'final retry');
      await this.act(n, { ...action, op: 'final retry of refund', after: (value) => {
        if (!isDeepStrictEqual(value, { ...result, outcome: 'exists' })) throw new Divergence(`a retry of refund ${result.refundId} answered ${JSON.stringify(value)}`);
      } }, false);
    }
    for (const { req, result } of this.acknowledgedTopUps) {
      const action = this.topUpAction(this.holderOf(req.card).id, req, 'final retry of top-up');
      await this.act(n, { ...action, op: 'final retry of top-up', after: (value) => {
        if (!isDeepStrictEqual(value, { ...result, outcome: 'exists' })) throw new Divergence(`a retry of top-up ${result.transactionId} answered ${JSON.stringify(value)}`);
      } }, false);
    }
    // Every transfer landed at the final restart: a retry lands nothing and answers as the first time.
    for (const { req, result } of this.acknowledgedMerges) await this.act(n, this.mergeAction(req, 'final retry of merge', { expect: result }), false);
    if (storeDigest(this.store) !== before) throw new Divergence('retries of acknowledged commits, refunds, top-ups and merges wrote something');
    this.checkAll();
  }

  // ---- invariants -------------------------------------------------------------------

  /** After every step: the audit is clean and the engine's state is the model's, entry by entry. */
  checkInvariants(): void {
    const report = verifyStore(this.store);
    if (report.differences.length > 0) throw new Divergence(`the audit found ${report.differences.length} difference(s): ${JSON.stringify(report.differences.slice(0, 5))}`);
    if (report.guests !== this.model.guests.size) throw new Divergence(`${report.guests} guests stored, the model has ${this.model.guests.size}`);
    this.checkJournal();
    this.checkGuests();
    this.checkSystem();
    this.checkOtherPointsLedgers();
    this.checkHoldsResolveOnce();
    for (const id of this.model.dirtyHolds) this.checkHold(id);
    for (const id of this.model.dirtyChecks) this.checkCheck(id);
    for (const id of this.model.dirtyMerges) this.checkMerge(id);
    if (this.model.dirtyMerges.size > 0) this.checkPendingMerges();
    if (this.cardsMoved) this.checkCards();
    this.model.dirtyHolds.clear();
    this.model.dirtyChecks.clear();
    this.model.dirtyMerges.clear();
    this.cardsMoved = false;
  }

  /** At the end and after restarts: every hold and check, not only the ones a step changed. */
  checkAll(): void {
    this.checkInvariants();
    for (const id of this.model.holds.keys()) this.checkHold(id);
    for (const id of this.model.checks.keys()) this.checkCheck(id);
    for (const id of this.model.merges.keys()) this.checkMerge(id);
    this.checkPendingMerges();
    this.checkCards();
    const keys = new Set<string>();
    for (const { value } of this.store.transactions.getRange({})) if (value.kind === 'check') keys.add(`${value.outlet}/${value.idempotencyKey}`);
    const acked = [...this.acknowledged.keys()].sort();
    if (!isDeepStrictEqual([...keys].sort(), acked)) throw new Divergence(`the journal's check keys differ from the acknowledged ones`);
  }

  /** The entries appended since the last step are the ones the model appended; each acknowledged key has one check entry. */
  private checkJournal(): void {
    const expected = this.model.appended;
    this.model.appended = [];
    const found: ExpectedEntry[] = [];
    for (let shard = 0; shard < this.shardCount; shard++) {
      for (const { key, value } of this.store.transactions.getRange({ start: [shard, this.lastSeen[shard]! + 1], end: [shard, Number.MAX_SAFE_INTEGER] })) {
        const [, n] = key as [number, number];
        this.lastSeen[shard] = n;
        found.push({ shard, n, guestId: value.guestId, kind: value.kind, transactionId: value.transactionId, balanceAfter: value.balanceAfter });
        if (value.kind !== 'check') continue;
        const k = `${value.outlet}/${value.idempotencyKey}`;
        const count = (this.checkEntries.get(k) ?? 0) + 1;
        this.checkEntries.set(k, count);
        if (count > 1) throw new Divergence(`key ${k} has ${count} check entries in the journal`);
        if (this.acknowledged.get(k)?.transactionId !== value.transactionId) throw new Divergence(`check entry ${value.transactionId} (key ${k}) was never acknowledged`);
      }
    }
    const order = (a: ExpectedEntry, b: ExpectedEntry): number => a.shard - b.shard || a.n - b.n;
    expected.sort(order);
    if (!isDeepStrictEqual(found, expected)) throw new Divergence(`the journal grew by ${JSON.stringify(found)}, the model expects ${JSON.stringify(expected)}`);
    for (const e of expected) {
      const h = this.history.get(e.guestId) ?? [];
      h.push(e);
      this.history.set(e.guestId, h);
    }
  }

  private checkGuests(): void {
    const policy = this.config.program.refundDebtPolicy ?? 'negative';
    for (const g of this.model.guests.values()) {
      const s = this.store.states.get(g.id);
      if (s === undefined) throw new Divergence(`guest ${g.id} is not stored`);
      const got = {
        seq: s.seq, lastTx: s.lastTx, holdSeq: s.holdSeq, balance: s.points.balance, lots: s.points.lots, holds: s.points.holds, accounts: s.accounts, mergedInto: s.mergedInto,
        pointsAccounts: s.pointsAccounts,
      };
      const want = {
        seq: g.seq, lastTx: g.lastTx, holdSeq: g.holdSeq, balance: g.balance, lots: g.lots, holds: g.holds, accounts: g.accounts, mergedInto: g.mergedInto,
        pointsAccounts: g.pointsAccounts,
      };
      if (!isDeepStrictEqual(got, want)) throw new Divergence(`guest ${g.id}: stored ${JSON.stringify(got)}, the model has ${JSON.stringify(want)}`);
      if (s.points.balance < 0 && !g.debtAllowed) throw new Divergence(`guest ${g.id} is at ${s.points.balance} with no debt allowed (policy ${policy})`);
      // The partner's account has the program's floor: below 0 only by a debt a refund (negative policy) or a merge left.
      for (const [account, acc] of Object.entries(s.pointsAccounts ?? {})) {
        if (acc.balance < 0 && !g.otherDebtAllowed) throw new Divergence(`guest ${g.id} is at ${acc.balance} on ${account} with no debt allowed (policy ${policy})`);
        if (acc.holds.length > 0) throw new Divergence(`guest ${g.id} has holds on ${account}: holds are the program's`);
      }
      this.reach.lotsMax = Math.max(this.reach.lotsMax, s.points.lots.length);
      this.reach.openHoldsMax = Math.max(this.reach.openHoldsMax, s.points.holds.length);
      if (s.points.balance < 0) this.reach.debtors.add(g.id);
      this.reach.depositMax = Math.max(this.reach.depositMax, s.accounts?.[WALLET] ?? 0);
    }
  }

  private checkSystem(): void {
    for (let shard = 0; shard < this.shardCount; shard++) {
      for (const account of SYSTEM_ACCOUNTS) {
        const got = systemBalance(this.store, shard, account);
        const want = this.model.system[shard]![account];
        if (got !== want) throw new Divergence(`shard ${shard} ${account}: stored ${got}, the model has ${want}`);
      }
      // The deposit ledgers' and the merges' transit accounts, each created by its first posting.
      const stored = this.store.system.get(shard);
      const want = this.model.system[shard]!;
      for (const book of ['money', 'transit', 'points'] as const) {
        if (!isDeepStrictEqual(stored?.[book], want[book])) throw new Divergence(`shard ${shard} ${book} accounts: stored ${JSON.stringify(stored?.[book])}, the model has ${JSON.stringify(want[book])}`);
      }
    }
  }

  /**
   * Each points ledger other than the program's sums to zero across the shards, read from
   * the store alone (whatever the model says): the guests' balances on it, its shard
   * accounts (`liability:`, `redemption:`, `breakage:`) and its transit account.
   */
  private checkOtherPointsLedgers(): void {
    for (const a of this.config.rules.accounts) {
      if (a.unit !== 'points' || a.id === this.config.program.id) continue;
      let sum = 0;
      for (const { value } of this.store.states.getRange({})) sum += value.pointsAccounts?.[a.id]?.balance ?? 0;
      for (let shard = 0; shard < this.shardCount; shard++) {
        const sys = this.store.system.get(shard);
        for (const kind of ['liability', 'redemption', 'breakage'] as const) sum += sys?.points?.[`${kind}:${a.id}`] ?? 0;
        sum += sys?.transit?.[`transit:${a.id}`] ?? 0;
      }
      if (sum !== 0) throw new Divergence(`the ${a.id} points ledger sums to ${sum}, not 0`);
    }
  }

  /** A transfer as stored is the model's, field for field. */
  private checkMerge(id: string): void {
    const got = this.store.merges.get(id);
    const want = this.model.merges.get(id);
    if (!isDeepStrictEqual(got, want)) throw new Divergence(`transfer ${id}: stored ${JSON.stringify(got)}, the model has ${JSON.stringify(want)}`);
  }

  /** Exactly the transfers still out are pending, under their into guest's shard. */
  private checkPendingMerges(): void {
    const got = [...this.store.pendingMerges.getKeys({})].map((k) => JSON.stringify(k)).sort();
    const want = [...this.model.merges.values()].filter((m) => m.status === 'out').map((m) => JSON.stringify([guestShard(m.into), m.into, m.mergeId])).sort();
    if (!isDeepStrictEqual(got, want)) throw new Divergence(`pending transfers: stored ${got.join(' ')}, the model has ${want.join(' ')}`);
  }

  /** Every card names the guest the model says (never one merged away), and every profile lists the model's cards. */
  private checkCards(): void {
    for (const [card, guestId] of this.model.cards) {
      const stored = this.store.cards.get(card);
      const got = typeof stored === 'string' ? stored : stored?.guestId;
      if (got !== guestId) throw new Divergence(`card ${card} names ${got ?? 'no guest'}, the model ${guestId}`);
    }
    for (const g of this.model.guests.values()) {
      const got = this.store.guests.get(g.id)?.cards;
      if (!isDeepStrictEqual(got, g.cards)) throw new Divergence(`guest ${g.id} lists cards ${JSON.stringify(got)}, the model ${JSON.stringify(g.cards)}`);
    }
  }

  /** A hold posted, voided or expired never changes again: watched from the store alone. */
  private checkHoldsResolveOnce(): void {
    let count = 0;
    for (const { key, value } of this.store.holds.all()) {
      count++;
      const id = key as string;
      const seen = this.seenHolds.get(id);
      if (seen !== undefined && seen.status !== 'open' && (seen.status !== value.status || seen.transactionId !== value.transactionId)) {
        throw new Divergence(`hold ${id} resolved again: ${seen.status} ${seen.transactionId ?? ''} → ${value.status} ${value.transactionId ?? ''}`);
      }
      this.seenHolds.set(id, { status: value.status, transactionId: value.transactionId });
    }
    if (count < this.seenHolds.size) throw new Divergence(`${this.seenHolds.size - count} hold record(s) vanished`);
  }

  private checkHold(id: string): void {
    const got = this.store.holds.get(id);
    const want = this.model.holds.get(id);
    if (!isDeepStrictEqual(got, want)) throw new Divergence(`hold ${id}: stored ${JSON.stringify(got)}, the model has ${JSON.stringify(want)}`);
  }

  private checkCheck(id: string): void {
    const c = this.model.checks.get(id)!;
    const got = this.store.checks.get([this.model.guest(c.guestId).shard, c.n]);
    const want = {
      guestId: c.guestId, n: c.n, status: c.status, returned: c.returned, returnedQty: c.returnedQty, accrualReversed: c.accrualReversed, spentRestored: c.spentRestored,
      ...(c.depositRestored === undefined ? {} : { depositRestored: c.depositRestored }),
      ...(c.pointsReversed === undefined ? {} : { pointsReversed: c.pointsReversed, pointsWrittenOff: c.pointsWrittenOff }),
    };
    if (!isDeepStrictEqual(got, want)) throw new Divergence(`check ${id}: stored ${JSON.stringify(got)}, the model has ${JSON.stringify(want)}`);
    if (c.returned > c.total) throw new Divergence(`check ${id}: ${c.returned} returned of ${c.total}`);
  }

  // ---- results ----------------------------------------------------------------------

  stats(steps: number): SimulationStats {
    const system = { liability: 0, redemption: 0, breakage: 0 };
    for (const s of this.model.system) {
      system.liability += s.liability;
      system.redemption += s.redemption;
      system.breakage += s.breakage;
    }
    return {
      seed: this.seed,
      shards: this.shardCount,
      steps,
      settings: { timeZone: this.config.organization.timeZone, start: iso(this.start), program: this.config.program },
      kinds: sorted(this.kinds),
      outcomes: sorted(this.outcomes),
      crashes: this.crashes,
      aborts: this.abortCount,
      restarts: this.restarts,
      guests: this.model.guests.size,
      journalEntries: this.model.journal.reduce((a, b) => a + b, 0),
      holds: this.model.holds.size,
      checks: this.model.checks.size,
      system,
      reach: {
        lotsMax: this.reach.lotsMax, openHoldsMax: this.reach.openHoldsMax, guestsInDebt: this.reach.debtors.size, writtenOff: this.reach.writtenOff,
        merged: this.model.merges.size, recovered: this.reach.recovered, depositMax: this.reach.depositMax,
        partnerPaid: this.reach.partnerPaid, partnerReversed: this.reach.partnerReversed,
      },
      clock: iso(this.now),
    };
  }

  balances(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const id of [...this.model.guests.keys()].sort()) out[id] = this.model.guest(id).balance;
    return out;
  }

  digest(): string {
    return this.hash.copy().digest('hex');
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function answer(fn: () => unknown): Answer {
  try {
    return { value: fn() };
  } catch (err) {
    // Coded errors are answers (the door sends them back); anything else is a bug and aborts the transaction.
    if (err instanceof KopilkaError) return { error: err.code };
    throw err;
  }
}

function modelAnswer(fn: () => unknown): Answer {
  try {
    return { value: fn() };
  } catch (err) {
    if (err instanceof ModelError) return { error: err.code };
    throw err;
  }
}

/** The word a step's answer is counted under: its outcome, or for an evaluate with hold whether it held. */
function outcomeOf(op: string, value: unknown): string {
  if (op === 'hold') return (value as { holdId: string }).holdId === '' ? 'no hold' : 'held';
  return (value as { outcome?: string } | number).constructor === Object ? ((value as { outcome?: string }).outcome ?? 'ok') : 'ok';
}

function sorted(record: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(record).sort()) out[k] = record[k]!;
  return out;
}
