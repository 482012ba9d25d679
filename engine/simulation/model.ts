// The simulation's reference model of the ledger: what every answer and every
// balance must be, written from the rules (DESIGN "Ledger", issue 3, the actor's
// documented precedence) in plain in-memory code that shares nothing with the
// engine but the calendar helper and the types. The simulation runs each step on
// both and compares: a difference is a bug in one of them, and the seed finds it
// again.
//
// The model keeps the engine's lazy time: lots past their expiry burn and holds
// past their timeout void only when the guest is touched (a write for that guest,
// or the expiry sweep for guests whose agenda is due), so the states compare
// field by field after every step, journal numbers included.
//
// Deposits (one money account, `wallet`) are a ledger of their own: top-ups from
// the shard's `deposits:<a>`, check payments to `deposit_paid:<a>` and back by
// refunds in the check's cumulative floored proportion. Merges (guest-merge.ts)
// are two phases: phase 1 empties the guest merged away into its shard's transit
// accounts and re-points its cards; phase 2 lands the transfer in the shard of the
// guest who stays, once, whoever asks (the engine, a late message, a retry, the
// shard's recovery at start and in its sweep, or a later merge of that guest).
//
// A partner's points account (unit points, not the program's) holds lots as the
// program's account does, in a ledger of its own (`liability:<a>`, `redemption:<a>`,
// `breakage:<a>`, `transit:<a>`). The only promotions modelled accrue a percentage of
// the money paid (after points) into such an account, on every line: the share paid
// with points is spread over the lines' nets and taken off each, so what the percentage
// applies to is exactly the money left to pay. A check may pay from such an account at
// its own point value within the program's caps; holds stay the program's.

import type { ConfigSnapshot } from '../../protocol/config.js';
import type {
  AdjustOutcome,
  TransactionView,
  AdjustRequest,
  AdjustResult,
  CancelRequest,
  CancelResult,
  CheckLine,
  CheckStatus,
  CommitOutcome,
  CommitRequest,
  CommitResult,
  EvaluateRequest,
  EvaluateResult,
  RefundOutcome,
  RefundRequest,
  RefundResult,
  MergeOutcome,
  MergeRequest,
  MergeResult,
  RegisterRequest,
  RegisterResult,
  TopUpOutcome,
  TopUpRequest,
  TopUpResult,
} from '../../protocol/types.js';
import { localMidnightAfter } from '../local-time.js';
import type { MergeRecord } from '../store.js';

/** Open holds per guest (the engine's `holds_per_guest_max`, restated: a model trusts no constant it checks). */
const model_holds_per_guest_max = 16;
/** Lots per account before the two latest-expiring merge (the engine's `lots_per_account_max`). */
const model_lots_per_account_max = 256;
const hold_timeout_seconds_fallback = 900;
/** Cards one guest may hold (the engine's `guest_cards_max`): a merge past it is refused. */
const model_guest_cards_max = 64;
/** Transfers one recovery transaction lands (the engine's `merges_landed_per_transaction_max`). */
export const model_merges_landed_max = 1_000;

/** A rule of the calendar broken by what the engine would write: a bug, not an answer. */
export class ModelViolation extends Error {}

/** A refusal the engine throws as a coded error rather than answers as an outcome. */
export class ModelError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

export interface MLot {
  /** Journal number of the entry that made it (points joining it later keep it). */
  n: number;
  remaining: number;
  activatesAt: number;
  expiresAt: number;
}

export interface MHold {
  id: string;
  amount: number;
  expiresAt: number;
}

export type HoldStatus = 'open' | 'posted' | 'voided' | 'expired';

/** A points account other than the program's, as the engine stores it (no holds are ever placed on one). */
export interface MPointsAccount {
  balance: number;
  lots: MLot[];
  holds: MHold[];
}

/** What the points functions below work on: the program's account (the guest itself) or another. */
type MAccount = { balance: number; lots: MLot[] };

/** A promotion's accrual into a points account other than the program's, as a check's answer and refunds need it. */
interface MOtherAccrual {
  promotion: string;
  account: string;
  amount: number;
}

export interface MHoldRecord {
  guestId: string;
  amount: number;
  expiresAt: number;
  status: HoldStatus;
  transactionId?: string;
}

export interface MGuest {
  id: string;
  shard: number;
  card: string;
  seq: number;
  lastTx: number;
  holdSeq: number;
  balance: number;
  lots: MLot[];
  holds: MHold[];
  /** Times at which the expiry sweep will look at this guest (the engine's `expiries` index). */
  agenda: Set<number>;
  /** A refund under the `negative` policy (or a debt merged in) left this guest in debt at some point. */
  debtAllowed: boolean;
  /** Deposit balances by account, minor units; absent until the first top-up (the engine's `accounts`). */
  accounts?: Record<string, number>;
  /** Set once the guest is merged away: the guest who got everything. */
  mergedInto?: string;
  /** The cards the guest's profile lists, in binding order (a merge appends the moved ones). */
  cards: string[];
  /** Points accounts other than the program's, absent until first used (the engine's `pointsAccounts`). */
  pointsAccounts?: Record<string, MPointsAccount>;
  /** A refund under `negative` (or a debt merged in) left one of those accounts in debt at some point. */
  otherDebtAllowed: boolean;
}

/** A merge's transfer: the engine's MergeRecord, compared field for field. */
export type MMerge = MergeRecord;

interface MTaken {
  n: number;
  amount: number;
  activatesAt: number;
  expiresAt: number;
}

export interface MCheck {
  transactionId: string;
  guestId: string;
  n: number;
  total: number;
  spent: number;
  accrued: number;
  lines: CheckLine[];
  taken: MTaken[];
  status: CheckStatus;
  returned: number;
  returnedQty: number[];
  accrualReversed: number;
  spentRestored: number;
  /** Part of the check paid from a deposit. */
  deposit?: { account: string; amount: number };
  /** Deposit money given back so far; set by the first refund of a check paid from a deposit. */
  depositRestored?: number;
  /** The points account other than the program's the check paid from. */
  paidFrom?: string;
  /** What the promotions accrued into points accounts other than the program's, per account in first-seen order. */
  otherMoves?: Array<{ id: string; amount: number }>;
  /** Per move, what refunds have reversed toward (what fell short included); set by the first refund. */
  pointsReversed?: number[];
  /** Per move, what refunds fell short by (the `clamp` policy let it go). */
  pointsWrittenOff?: number[];
}

interface CommitKey {
  req: CommitRequest;
  result: CommitResult;
}

interface AdjustKey {
  card: string;
  points: number;
  reason: string;
  result: AdjustResult;
}

interface RefundKey {
  transactionId: string;
  lines: string;
  amount: number;
  cancel: boolean;
  result: RefundResult;
}

interface TopUpKey {
  card: string;
  account: string;
  amount: number;
  result: TopUpResult;
}

interface MergeKey {
  card: string;
  from: string;
  fromGuestId: string;
  result: MergeResult;
}

export interface SystemBalances {
  liability: number;
  redemption: number;
  breakage: number;
  /** The deposit ledgers' shard accounts (`deposits:<a>`, `deposit_paid:<a>`), created by their first posting. */
  money?: Record<string, number>;
  /** The merges' transit accounts (`transit`, `transit:<a>`), created by their first posting. */
  transit?: Record<string, number>;
  /** The other points ledgers' shard accounts (`liability:<a>`, `redemption:<a>`, `breakage:<a>`), created by their first posting. */
  points?: Record<string, number>;
}

/** A journal entry the engine must have appended, in order. */
export interface ExpectedEntry {
  shard: number;
  n: number;
  guestId: string;
  kind: TransactionView['kind'];
  transactionId: string;
  balanceAfter: number;
}

export class LedgerModel {
  readonly guests = new Map<string, MGuest>();
  readonly cards = new Map<string, string>();
  readonly holds = new Map<string, MHoldRecord>();
  readonly checks = new Map<string, MCheck>();
  readonly commitKeys = new Map<string, CommitKey>();
  readonly refundKeys = new Map<string, RefundKey>();
  readonly adjustKeys = new Map<string, AdjustKey>();
  readonly topUpKeys = new Map<string, TopUpKey>();
  readonly merges = new Map<string, MMerge>();
  readonly mergeKeys = new Map<string, MergeKey>();
  readonly system: SystemBalances[];
  /** Last journal number per shard. */
  readonly journal: number[];
  private readonly guestCounter: number[];
  /** Entries appended since the driver last drained them. */
  appended: ExpectedEntry[] = [];
  /** Holds and checks changed since the driver last drained them. */
  dirtyHolds = new Set<string>();
  dirtyChecks = new Set<string>();
  dirtyMerges = new Set<string>();

  constructor(
    readonly shards: number,
    public config: ConfigSnapshot,
    private readonly shardOfCard: (card: string) => number,
  ) {
    this.system = Array.from({ length: shards }, () => ({ liability: 0, redemption: 0, breakage: 0 }));
    this.journal = new Array<number>(shards).fill(0);
    this.guestCounter = new Array<number>(shards).fill(0);
  }

  guest(guestId: string): MGuest {
    const g = this.guests.get(guestId);
    if (g === undefined) throw new Error(`model: no guest ${guestId}`);
    return g;
  }

  /** A guest a request by card was routed to: one merged away since is refused before any write, as the engine's `touch(…, live)` does. */
  private liveGuest(guestId: string): MGuest {
    const g = this.guest(guestId);
    if (g.mergedInto !== undefined) throw new ModelError('guest_merged');
    return g;
  }

  /** The configuration's deposit accounts (unit money). */
  private isDeposit(account: string): boolean {
    return this.config.rules.accounts.some((a) => a.id === account && a.unit === 'money');
  }

  /** Moves a shard account of the deposit ledgers, the other points ledgers or the merges' transit, creating it on its first posting as the engine does. */
  private moveSystem(shard: number, account: string, by: number): void {
    const sys = this.system[shard]!;
    const book =
      account === 'transit' || account.startsWith('transit:')
        ? (sys.transit ??= {})
        : /^(liability|redemption|breakage):/.test(account)
          ? (sys.points ??= {})
          : (sys.money ??= {});
    book[account] = (book[account] ?? 0) + by;
  }

  /**
   * The account `pointsAccount` names, when it is not the program's: absent or the
   * program's id is the program's (undefined); anything that is not a points account of
   * the configuration is refused (the engine's `invalid_field` naming `pointsAccount`).
   */
  private payFromOf(pointsAccount: string | undefined): { account: string; pointValueMinor: number } | undefined {
    if (pointsAccount === undefined || pointsAccount === this.config.program.id) return undefined;
    const a = this.config.rules.accounts.find((x) => x.id === pointsAccount);
    if (a === undefined || a.unit !== 'points') throw new ModelError('invalid_field');
    return { account: a.id, pointValueMinor: a.pointValueMinor };
  }

  /** The guest's points account `account` (not the program's), made empty on first use as the engine does. */
  private otherAccount(g: MGuest, account: string): MPointsAccount {
    g.pointsAccounts ??= {};
    return (g.pointsAccounts[account] ??= { balance: 0, lots: [], holds: [] });
  }

  /** Whether any promotion runs: then every committed check writes the guest's `accounts` (empty at least), as the engine's `recordUsage` does. */
  private get promotionsActive(): boolean {
    return this.config.rules.promotions.some((p) => p.status === 'active');
  }

  /**
   * The promotions' accruals into points accounts other than the program's, in rank
   * order: a percentage of the money paid after points, in that account's points, floored
   * twice (money, then points). Only such promotions are modelled: any other shape is a
   * simulation set up beyond its model.
   */
  private otherAccruals(moneyToPay: number): MOtherAccrual[] {
    const out: MOtherAccrual[] = [];
    const ranked = this.config.rules.promotions.filter((p) => p.status === 'active');
    for (const p of ranked) {
      for (const e of p.effects) {
        const m = e.kind === 'accrual' ? e.match : undefined;
        const plain = m !== undefined && m.items.length + m.categories.length + m.tags.length + m.excludeItems.length + m.excludeCategories.length + m.excludeTags.length === 0;
        if (e.kind !== 'accrual' || e.percentBp === null || !plain || !e.excludePaidWithPoints || e.delayDays !== 0 || e.expiryDays !== 0 || p.condition !== null || p.periods.length > 0) {
          throw new Error(`model: promotion ${p.id} is not one the model knows (a plain percentage accrual into another points account)`);
        }
        const account = this.config.rules.accounts.find((a) => a.id === e.account);
        if (account === undefined || account.unit !== 'points' || account.id === this.config.program.id) throw new Error(`model: promotion ${p.id} accrues into ${e.account}, not a partner's points account`);
        const money = Number((BigInt(moneyToPay) * BigInt(e.percentBp)) / 10_000n);
        const amount = Math.floor((money * 100) / account.pointValueMinor);
        if (amount > 0) out.push({ promotion: p.id, account: account.id, amount });
      }
    }
    return out;
  }

  /** The promotions a check's answer lists: those that gave something, in rank order, none of them a discount or the program's points. */
  private static applied(accruals: readonly MOtherAccrual[]): Array<{ promotion: string; discount: number; points: number }> {
    const out: Array<{ promotion: string; discount: number; points: number }> = [];
    for (const a of accruals) if (!out.some((x) => x.promotion === a.promotion)) out.push({ promotion: a.promotion, discount: 0, points: 0 });
    return out;
  }

  private deposit(g: MGuest, account: string): number {
    return g.accounts?.[account] ?? 0;
  }

  private setDeposit(g: MGuest, account: string, value: number): void {
    g.accounts = { ...(g.accounts ?? {}), [account]: value };
  }

  // ---- arithmetic (program.ts's documented formulas, restated) ------------------

  /** The cap in points of the account paying, worth `pointValue` each (the program's by default). */
  private capOf(total: number, pointValue = this.config.program.pointValueMinor): number {
    const p = this.config.program;
    return Math.floor((Math.floor((total * p.payMaxBp) / 10_000) * 100) / pointValue);
  }

  private moneyToPayOf(total: number, points: number, pointValue = this.config.program.pointValueMinor): number {
    const byPoints = Math.min(total, Math.ceil((points * pointValue) / 100));
    return total - byPoints;
  }

  /** The program's accrual on the money left after `points` worth `pointValue` each: always in the program's points. */
  private accrueOf(total: number, points: number, pointValue = this.config.program.pointValueMinor): number {
    const p = this.config.program;
    const money = Math.floor((this.moneyToPayOf(total, points, pointValue) * p.accrualBp) / 10_000);
    return Math.floor((money * 100) / p.pointValueMinor);
  }

  private lotTimes(now: number): { activatesAt: number; expiresAt: number } {
    const p = this.config.program;
    const tz = this.config.organization.timeZone;
    const delay = p.activationDelayDays ?? 0;
    const months = p.expiryMonths ?? 0;
    const times = {
      activatesAt: delay > 0 ? localMidnightAfter(now, tz, 0, delay) : 0,
      expiresAt: months > 0 ? localMidnightAfter(now, tz, months, 0) : 0,
    };
    // The calendar helper is shared with the engine, so its answers are checked here on their own terms.
    if (delay > 0) checkLocalMidnight(times.activatesAt, tz, now, 0, delay);
    if (months > 0) checkLocalMidnight(times.expiresAt, tz, now, months, 0);
    return times;
  }

  // ---- the points account ---------------------------------------------------------

  /** What a guest's account shows at `now` without anything being written (the reader's view). */
  view(g: MAccount & { holds: MHold[] }, now: number, horizonMs: number): { balance: number; available: number; pending: number; held: number; expiring: number } {
    let active = 0;
    let pending = 0;
    let expiring = 0;
    for (const lot of g.lots) {
      if (lot.expiresAt !== 0 && lot.expiresAt <= now) continue;
      if (lot.activatesAt > now) pending += lot.remaining;
      else {
        active += lot.remaining;
        if (lot.expiresAt !== 0 && lot.expiresAt <= now + horizonMs) expiring += lot.remaining;
      }
    }
    let held = 0;
    for (const h of g.holds) if (h.expiresAt > now) held += h.amount;
    return { balance: g.balance, available: Math.max(0, active - held), pending, held, expiring };
  }

  private available(g: MAccount & { holds: MHold[] }, now: number, exceptHold?: string): number {
    let active = 0;
    for (const lot of g.lots) {
      if (lot.activatesAt <= now && (lot.expiresAt === 0 || lot.expiresAt > now)) active += lot.remaining;
    }
    let held = 0;
    for (const h of g.holds) if (h.id !== exceptHold && h.expiresAt > now) held += h.amount;
    return Math.max(0, active - held);
  }

  private static before(a: MLot, b: MLot): number {
    const ea = a.expiresAt === 0 ? Number.MAX_SAFE_INTEGER : a.expiresAt;
    const eb = b.expiresAt === 0 ? Number.MAX_SAFE_INTEGER : b.expiresAt;
    return ea - eb || a.activatesAt - b.activatesAt || a.n - b.n;
  }

  /** New points: a debt is paid first, the rest joins the lot that activates and expires with it, or starts one. */
  private credit(g: MAccount, amount: number, lot: Omit<MLot, 'remaining'>): void {
    if (amount === 0) return;
    const debt = g.balance < 0 ? Math.min(-g.balance, amount) : 0;
    const rest = amount - debt;
    g.balance += amount;
    if (rest === 0) return;
    const same = g.lots.find((l) => l.expiresAt === lot.expiresAt && l.activatesAt === lot.activatesAt);
    if (same !== undefined) {
      same.remaining += rest;
      return;
    }
    g.lots.push({ ...lot, remaining: rest });
    g.lots.sort(LedgerModel.before);
    if (g.lots.length > model_lots_per_account_max) {
      // The two latest-expiring lots become one with the earlier expiry: never later than promised.
      const b = g.lots.pop()!;
      const a = g.lots.pop()!;
      const expiresAt = a.expiresAt === 0 ? b.expiresAt : b.expiresAt === 0 ? a.expiresAt : Math.min(a.expiresAt, b.expiresAt);
      g.lots.push({ n: Math.min(a.n, b.n), remaining: a.remaining + b.remaining, activatesAt: Math.max(a.activatesAt, b.activatesAt), expiresAt });
      g.lots.sort(LedgerModel.before);
    }
  }

  /** Takes `amount` from active live lots, earliest expiry first; the caller checked availability. */
  private spendLots(g: MAccount, amount: number, now: number): MTaken[] {
    const taken: MTaken[] = [];
    let left = amount;
    for (const lot of g.lots) {
      if (left === 0) break;
      if (lot.activatesAt > now || (lot.expiresAt !== 0 && lot.expiresAt <= now)) continue;
      const take = Math.min(left, lot.remaining);
      lot.remaining -= take;
      left -= take;
      taken.push({ n: lot.n, amount: take, activatesAt: lot.activatesAt, expiresAt: lot.expiresAt });
    }
    if (left !== 0) throw new Error('model: spend beyond the available points');
    g.lots = g.lots.filter((l) => l.remaining > 0);
    g.balance -= amount;
    return taken;
  }

  /** Burns what is left of lots whose expiry has come; returns the points burnt. */
  private burn(g: MAccount, now: number): number {
    let burned = 0;
    g.lots = g.lots.filter((l) => {
      if (l.expiresAt === 0 || l.expiresAt > now) return true;
      burned += l.remaining;
      return false;
    });
    g.balance -= burned;
    return burned;
  }

  private append(g: MGuest, kind: ExpectedEntry['kind']): ExpectedEntry {
    const n = ++this.journal[g.shard]!;
    g.seq++;
    g.lastTx = n;
    // A transaction id names the guest and the journal entry.
    const entry: ExpectedEntry = { shard: g.shard, n, guestId: g.id, kind, transactionId: `${g.id}.${n}`, balanceAfter: g.balance };
    this.appended.push(entry);
    return entry;
  }

  private resolveHold(id: string, status: HoldStatus, transactionId?: string): void {
    const rec = this.holds.get(id)!;
    if (rec.status !== 'open') throw new Error(`model: hold ${id} resolved twice`);
    rec.status = status;
    if (transactionId !== undefined) rec.transactionId = transactionId;
    this.dirtyHolds.add(id);
  }

  /** Time's effects on one guest, as every write for the guest applies them first: one expiry entry for every account that burnt. */
  private touch(g: MGuest, now: number): void {
    for (const h of g.holds) if (h.expiresAt <= now) this.resolveHold(h.id, 'expired');
    g.holds = g.holds.filter((h) => h.expiresAt > now);
    const burned = this.burn(g, now);
    const others = this.burnOthers(g, now);
    if (burned > 0 || others > 0) {
      this.system[g.shard]!.breakage += burned;
      this.append(g, 'expiry');
    }
  }

  /** Burns what expired on the guest's other points accounts, each into its `breakage:<a>`; returns the points burnt. */
  private burnOthers(g: MGuest, now: number): number {
    let all = 0;
    for (const [account, acc] of Object.entries(g.pointsAccounts ?? {})) {
      const burned = this.burn(acc, now);
      if (burned === 0) continue;
      this.moveSystem(g.shard, `breakage:${account}`, burned);
      all += burned;
    }
    return all;
  }

  // ---- operations -----------------------------------------------------------------

  register(req: RegisterRequest): RegisterResult {
    const existing = this.cards.get(req.card);
    if (existing !== undefined) return { outcome: 'exists', guestId: existing, card: req.card };
    const shard = this.shardOfCard(req.card);
    const id = `${shard}-${++this.guestCounter[shard]!}`;
    this.guests.set(id, {
      id, shard, card: req.card, seq: 0, lastTx: 0, holdSeq: 0, balance: 0, lots: [], holds: [], agenda: new Set(), debtAllowed: false, cards: [req.card], otherDebtAllowed: false,
    });
    this.cards.set(req.card, id);
    return { outcome: 'ok', guestId: id, card: req.card };
  }

  evaluateWithHold(guestId: string, req: EvaluateRequest, now: number): EvaluateResult {
    // Holds are the program's: another points account is refused (an unknown one too), before the currency.
    if (this.payFromOf(req.pointsAccount) !== undefined) throw new ModelError('invalid_field');
    if (req.currency !== this.config.organization.currency) throw new ModelError('currency_mismatch');
    const g = this.liveGuest(guestId);
    this.touch(g, now);
    const total = totalOf(req.lines);
    const available = this.available(g, now);
    const pointsMax = Math.min(available, this.capOf(total));
    const pointsToSpend = Math.min(req.pointsToSpend ?? 0, pointsMax);
    const moneyToPay = this.moneyToPayOf(total, pointsToSpend);
    const result: EvaluateResult = {
      configVersion: this.config.version, guestId, total, balance: g.balance, available, pointsMax, pointsToSpend,
      moneyToPay, accrue: this.accrueOf(total, pointsToSpend), holdId: '', holdExpiresAt: '',
      // The simulation's promotions give no discount and no program points: they are listed when they accrue into a partner's account.
      discount: 0, lineDiscounts: [], promotions: LedgerModel.applied(this.otherAccruals(moneyToPay)), messages: [],
    };
    if (pointsToSpend === 0) return result;
    if (g.holds.length >= model_holds_per_guest_max) throw new ModelError('too_many_holds');
    const id = `${guestId}.h${++g.holdSeq}`;
    const expiresAt = now + (this.config.program.holdTimeoutSeconds ?? hold_timeout_seconds_fallback) * 1000;
    g.holds.push({ id, amount: pointsToSpend, expiresAt });
    this.holds.set(id, { guestId, amount: pointsToSpend, expiresAt, status: 'open' });
    this.dirtyHolds.add(id);
    return { ...result, holdId: id, holdExpiresAt: new Date(expiresAt).toISOString() };
  }

  /** What a read-only evaluate answers from the last written state. */
  evaluateRead(guestId: string, req: EvaluateRequest, now: number): EvaluateResult {
    // Another points account answers as its own: its balance, its available points, its cap at its point value.
    const payFrom = this.payFromOf(req.pointsAccount);
    if (req.currency !== this.config.organization.currency) throw new ModelError('currency_mismatch');
    const g = this.guest(guestId);
    const source = payFrom === undefined ? g : (g.pointsAccounts?.[payFrom.account] ?? { balance: 0, lots: [], holds: [] });
    const pointValue = payFrom?.pointValueMinor;
    const total = totalOf(req.lines);
    const available = this.view(source, now, 0).available;
    const pointsMax = Math.min(available, this.capOf(total, pointValue));
    const pointsToSpend = Math.min(req.pointsToSpend ?? 0, pointsMax);
    const moneyToPay = this.moneyToPayOf(total, pointsToSpend, pointValue);
    return {
      configVersion: this.config.version, guestId, total, balance: source.balance, available, pointsMax, pointsToSpend,
      moneyToPay, accrue: this.accrueOf(total, pointsToSpend, pointValue), holdId: '', holdExpiresAt: '',
      discount: 0, lineDiscounts: [], promotions: LedgerModel.applied(this.otherAccruals(moneyToPay)), messages: [],
    };
  }

  private openHold(guestId: string, holdId: string, now: number): MHoldRecord | 'hold_not_found' | 'hold_expired' | 'hold_already_resolved' {
    const rec = this.holds.get(holdId);
    if (rec === undefined || rec.guestId !== guestId) return 'hold_not_found';
    if (rec.status === 'expired' || (rec.status === 'open' && rec.expiresAt <= now)) return 'hold_expired';
    if (rec.status !== 'open') return 'hold_already_resolved';
    return rec;
  }

  cancel(guestId: string, req: CancelRequest, now: number): CancelResult {
    const g = this.guests.get(guestId);
    if (g === undefined) return { outcome: 'hold_not_found', holdId: req.holdId, guestId, available: 0 };
    this.touch(g, now);
    const rec = this.openHold(guestId, req.holdId, now);
    if (typeof rec === 'string') return { outcome: rec, holdId: req.holdId, guestId, available: this.available(g, now) };
    g.holds = g.holds.filter((h) => h.id !== req.holdId);
    this.resolveHold(req.holdId, 'voided');
    return { outcome: 'ok', holdId: req.holdId, guestId, available: this.available(g, now) };
  }

  commit(guestId: string, req: CommitRequest, now: number): CommitResult {
    const key = `${req.outlet}\u0000${req.idempotencyKey}`;
    const seen = this.commitKeys.get(key);
    if (seen !== undefined) return replayCommit(seen, req);
    // The deposit account is checked before the currency (an invalid_field, not remembered).
    if (req.deposit !== undefined && !this.isDeposit(req.deposit.account)) throw new ModelError('invalid_field');
    // Then the points account (an invalid_field too), and another account with a hold: holds are the program's.
    const payFrom = this.payFromOf(req.pointsAccount);
    if (payFrom !== undefined && (req.holdId ?? '') !== '') throw new ModelError('invalid_field');
    if (req.currency !== this.config.organization.currency) throw new ModelError('currency_mismatch');
    const g = this.liveGuest(guestId);
    this.touch(g, now);
    const total = totalOf(req.lines);
    const spend = req.pointsSpent ?? 0;
    const holdId = req.holdId ?? '';
    const pointValue = payFrom?.pointValueMinor;
    // The account paying: the program's (the guest itself), or another one, maybe never used yet.
    const source = payFrom === undefined ? g : (g.pointsAccounts?.[payFrom.account] ?? { balance: 0, lots: [], holds: [] });
    let outcome: CommitOutcome | undefined;
    let hold: MHoldRecord | undefined;
    if (holdId !== '') {
      const rec = this.openHold(guestId, holdId, now);
      if (typeof rec === 'string') outcome = rec;
      else if (spend > rec.amount) outcome = 'points_over_hold';
      else hold = rec;
    }
    if (outcome === undefined && spend > this.capOf(total, pointValue)) outcome = 'points_over_limit';
    if (outcome === undefined && spend > 0 && this.available(source, now, hold === undefined ? undefined : holdId) < spend) outcome = 'insufficient_points';
    const dep = req.deposit;
    // The deposit pays money: at most what is left to pay after the points, at most what it holds.
    if (outcome === undefined && dep !== undefined && dep.amount > this.moneyToPayOf(total, spend, pointValue)) outcome = 'deposit_over_check';
    if (outcome === undefined && dep !== undefined && this.deposit(g, dep.account) < dep.amount) outcome = 'insufficient_funds';

    let result: CommitResult;
    if (outcome !== undefined) {
      result = { outcome, transactionId: '', guestId, configVersion: this.config.version, total, spent: 0, accrued: 0, balance: g.balance, discount: 0, promotions: [], depositPaid: 0, depositBalance: 0 };
    } else {
      if (hold !== undefined) g.holds = g.holds.filter((h) => h.id !== holdId);
      const taken = this.spendLots(source, spend, now);
      const moneyToPay = this.moneyToPayOf(total, spend, pointValue);
      const accrue = this.accrueOf(total, spend, pointValue);
      const n = this.journal[g.shard]! + 1;
      const times = this.lotTimes(now);
      this.credit(g, accrue, { n, ...times });
      // The promotions' accruals into partners' accounts: one lot each, living as the program's points do.
      const accruals = this.otherAccruals(moneyToPay);
      const otherMoves: Array<{ id: string; amount: number }> = [];
      for (const a of accruals) {
        this.credit(this.otherAccount(g, a.account), a.amount, { n, ...times });
        this.moveSystem(g.shard, `liability:${a.account}`, -a.amount);
        const move = otherMoves.find((m) => m.id === a.account);
        if (move === undefined) otherMoves.push({ id: a.account, amount: a.amount });
        else move.amount += a.amount;
      }
      if (this.promotionsActive) g.accounts ??= {};
      if (dep !== undefined) {
        this.setDeposit(g, dep.account, this.deposit(g, dep.account) - dep.amount);
        this.moveSystem(g.shard, `deposit_paid:${dep.account}`, dep.amount);
      }
      const entry = this.append(g, 'check');
      const sys = this.system[g.shard]!;
      if (payFrom === undefined) sys.redemption += spend;
      else if (spend > 0) this.moveSystem(g.shard, `redemption:${payFrom.account}`, spend);
      sys.liability -= accrue;
      if ((accrue > 0 || otherMoves.length > 0) && times.expiresAt !== 0) g.agenda.add(times.expiresAt);
      if (hold !== undefined) this.resolveHold(holdId, 'posted', entry.transactionId);
      this.checks.set(entry.transactionId, {
        transactionId: entry.transactionId, guestId, n, total, spent: spend, accrued: accrue, lines: req.lines.map((l) => ({ ...l })), taken,
        status: 'committed', returned: 0, returnedQty: req.lines.map(() => 0), accrualReversed: 0, spentRestored: 0,
        ...(dep === undefined ? {} : { deposit: { account: dep.account, amount: dep.amount } }),
        ...(payFrom === undefined ? {} : { paidFrom: payFrom.account }),
        ...(otherMoves.length === 0 ? {} : { otherMoves }),
      });
      this.dirtyChecks.add(entry.transactionId);
      result = {
        outcome: 'ok', transactionId: entry.transactionId, guestId, configVersion: this.config.version, total, spent: spend, accrued: accrue, balance: g.balance, discount: 0,
        promotions: LedgerModel.applied(accruals), depositPaid: 0, depositBalance: 0,
      };
      if (dep !== undefined) result = { ...result, depositPaid: dep.amount, depositBalance: this.deposit(g, dep.account) };
    }
    this.commitKeys.set(key, { req: { ...req, lines: req.lines.map((l) => ({ ...l })), ...(req.deposit === undefined ? {} : { deposit: { ...req.deposit } }) }, result });
    return result;
  }

  adjust(guestId: string, req: AdjustRequest, now: number): AdjustResult {
    const key = `${req.outlet}\u0000${req.idempotencyKey}`;
    const seen = this.adjustKeys.get(key);
    if (seen !== undefined) {
      let outcome: AdjustOutcome = 'exists';
      if (seen.card !== req.card) outcome = 'exists_with_different_card';
      else if (seen.points !== req.points) outcome = 'exists_with_different_points';
      else if (seen.reason !== req.reason) outcome = 'exists_with_different_reason';
      if (outcome === 'exists' && seen.result.outcome !== 'ok') return seen.result;
      return { ...seen.result, outcome };
    }
    const g = this.liveGuest(guestId);
    this.touch(g, now);
    let result: AdjustResult;
    if (req.points < 0 && this.available(g, now) < -req.points) {
      result = { outcome: 'insufficient_points', transactionId: '', guestId, balance: g.balance };
    } else {
      const sys = this.system[g.shard]!;
      if (req.points < 0) {
        this.spendLots(g, -req.points, now);
        sys.liability += -req.points;
      } else {
        // Added points are a lot like an accrual's, active at once.
        const { expiresAt } = this.lotTimes(now);
        this.credit(g, req.points, { n: this.journal[g.shard]! + 1, activatesAt: 0, expiresAt });
        if (expiresAt !== 0) g.agenda.add(expiresAt);
        sys.liability -= req.points;
      }
      const entry = this.append(g, 'adjustment');
      result = { outcome: 'ok', transactionId: entry.transactionId, guestId, balance: g.balance };
    }
    this.adjustKeys.set(key, { card: req.card, points: req.points, reason: req.reason, result });
    return result;
  }

  refund(guestId: string, req: RefundRequest, now: number): RefundResult {
    const key = `${req.outlet}\u0000${req.idempotencyKey}`;
    const lines = refundLinesKey(req);
    const amount = req.amount ?? 0;
    const seen = this.refundKeys.get(key);
    if (seen !== undefined) {
      let outcome: RefundOutcome = 'exists';
      if (seen.transactionId !== req.transactionId) outcome = 'exists_with_different_transaction';
      else if (seen.lines !== lines) outcome = 'exists_with_different_lines';
      else if (seen.amount !== amount) outcome = 'exists_with_different_amount';
      else if (seen.cancel !== (req.cancel === true)) outcome = 'exists_with_different_cancel';
      if (outcome === 'exists' && seen.result.outcome !== 'ok') return seen.result;
      return { ...seen.result, outcome };
    }
    const result = this.refundFirst(guestId, req, now);
    this.refundKeys.set(key, { transactionId: req.transactionId, lines, amount, cancel: req.cancel === true, result });
    return result;
  }

  private refundFirst(guestId: string, req: RefundRequest, now: number): RefundResult {
    const refused = (outcome: RefundOutcome, balance: number, status: CheckStatus | ''): RefundResult => ({
      outcome, refundId: '', transactionId: req.transactionId, guestId, returned: 0, accrualReversed: 0, spentRestored: 0, writtenOff: 0, balance, checkStatus: status, depositRestored: 0,
    });
    const check = this.checks.get(req.transactionId);
    if (check === undefined || check.guestId !== guestId) return refused('transaction_not_found', this.guests.get(guestId)?.balance ?? 0, '');
    const g = this.guest(guestId);
    // The points and deposit money to reverse moved with a merge: refused, and remembered under the key.
    if (g.mergedInto !== undefined) return refused('guest_merged', 0, check.status);
    if (check.status === 'returned' || check.status === 'cancelled') return refused('already_returned', g.balance, check.status);
    // A cancellation undoes the whole check: only while no money of it was returned.
    if (req.cancel === true && (check.returned > 0 || check.returnedQty.some((q) => q > 0))) return refused('cancel_after_return', g.balance, check.status);

    const returnedQty = [...check.returnedQty];
    let money: number;
    if (req.lines !== undefined) {
      money = 0;
      for (const { line, quantity } of req.lines) {
        const committed = check.lines[line];
        if (committed === undefined) throw new ModelError('invalid_field');
        if (returnedQty[line]! + quantity > committed.quantity) return refused('refund_exceeds_check', g.balance, check.status);
        returnedQty[line]! += quantity;
        money += quantity * committed.unitPrice;
      }
    } else if (req.amount !== undefined) {
      money = req.amount;
    } else {
      money = check.total - check.returned;
      for (let i = 0; i < check.lines.length; i++) returnedQty[i] = check.lines[i]!.quantity;
    }
    if (money > check.total - check.returned) return refused('refund_exceeds_check', g.balance, check.status);

    // Cumulative proportional shares, floored: the last refund of a check settles the remainder exactly.
    // The floor is of the exact proportion, so it is taken in integers: points × money passes 2^53 on large checks.
    const returnedAfter = check.returned + money;
    const full = returnedAfter === check.total;
    const share = (whole: number): number => (full || check.total === 0 ? whole : Number((BigInt(whole) * BigInt(returnedAfter)) / BigInt(check.total)));
    const accrualDelta = share(check.accrued) - check.accrualReversed;
    const restoreDelta = share(check.spent) - check.spentRestored;

    this.touch(g, now);
    const sys = this.system[g.shard]!;
    const policy = this.config.program.refundDebtPolicy ?? 'negative';
    if (restoreDelta > 0) {
      // Spent points go back to the account the check paid from.
      const restoreTo = check.paidFrom === undefined ? g : this.otherAccount(g, check.paidFrom);
      let skip = check.spentRestored;
      let left = restoreDelta;
      for (const t of check.taken) {
        const alreadyBack = Math.min(skip, t.amount);
        skip -= alreadyBack;
        const give = Math.min(left, t.amount - alreadyBack);
        if (give <= 0) continue;
        this.credit(restoreTo, give, { n: t.n, activatesAt: t.activatesAt, expiresAt: t.expiresAt });
        if (t.expiresAt !== 0) g.agenda.add(t.expiresAt);
        left -= give;
        if (left === 0) break;
      }
      if (left !== 0) throw new Error('model: a refund restores more than the check spent');
      if (check.paidFrom === undefined) sys.redemption -= restoreDelta;
      else this.moveSystem(g.shard, `redemption:${check.paidFrom}`, -restoreDelta);
    }
    const taken = this.takeBack(g, g, accrualDelta, check.n, policy);
    sys.liability += taken;
    // The partners' accruals go back in the same cumulative, floored proportion, each from its own account.
    const pointsReversed: NonNullable<RefundResult['pointsReversed']> = [];
    if (check.otherMoves !== undefined) {
      const targets: number[] = [];
      const short: number[] = [];
      check.otherMoves.forEach((m, i) => {
        const target = share(m.amount);
        const delta = target - (check.pointsReversed?.[i] ?? 0);
        if (delta < 0) throw new ModelViolation(`${check.transactionId}: a refund reverses ${m.id} back from ${check.pointsReversed?.[i]} to ${target}`);
        targets.push(target);
        if (delta === 0) {
          short.push(0);
          return;
        }
        const back = this.takeBack(g, this.otherAccount(g, m.id), delta, check.n, policy);
        short.push(delta - back);
        if (back > 0) this.moveSystem(g.shard, `liability:${m.id}`, back);
        if (back !== 0 || delta !== back) pointsReversed.push({ account: m.id, reversed: back, writtenOff: delta - back });
      });
      check.pointsWrittenOff = short.map((v, i) => (check.pointsWrittenOff?.[i] ?? 0) + v);
      check.pointsReversed = targets;
    }
    const burned = this.burn(g, now);
    sys.breakage += burned;
    this.burnOthers(g, now);
    // Deposit money the check paid goes back in the same cumulative, floored proportion.
    const dep = check.deposit;
    const depositDelta = dep === undefined ? 0 : share(dep.amount) - (check.depositRestored ?? 0);
    if (dep !== undefined && depositDelta > 0) {
      this.setDeposit(g, dep.account, this.deposit(g, dep.account) + depositDelta);
      this.moveSystem(g.shard, `deposit_paid:${dep.account}`, -depositDelta);
    }
    const status: CheckStatus = req.cancel === true ? 'cancelled' : full ? 'returned' : 'partially_returned';
    const entry = this.append(g, 'refund');
    Object.assign(check, {
      status, returned: returnedAfter, returnedQty, accrualReversed: check.accrualReversed + accrualDelta, spentRestored: check.spentRestored + restoreDelta,
    });
    if (dep !== undefined) check.depositRestored = (check.depositRestored ?? 0) + depositDelta;
    this.dirtyChecks.add(check.transactionId);
    return {
      outcome: 'ok', refundId: entry.transactionId, transactionId: req.transactionId, guestId, returned: money, accrualReversed: taken,
      spentRestored: restoreDelta, writtenOff: accrualDelta - taken, balance: g.balance, checkStatus: status, depositRestored: depositDelta,
      ...(pointsReversed.length === 0 ? {} : { pointsReversed }),
    };
  }

  /**
   * Takes back an accrual from `acc` (the guest's program account, the guest itself, or
   * another): its own lot first, then any, earliest expiry first; the rest is debt or let
   * go by policy. A debt is noted on `g`, per kind of account.
   */
  private takeBack(g: MGuest, acc: MAccount, amount: number, ownN: number, policy: 'negative' | 'clamp'): number {
    let left = amount;
    for (const lot of [...acc.lots.filter((l) => l.n === ownN), ...acc.lots.filter((l) => l.n !== ownN)]) {
      if (left === 0) break;
      const take = Math.min(left, lot.remaining);
      lot.remaining -= take;
      left -= take;
    }
    acc.lots = acc.lots.filter((l) => l.remaining > 0);
    const taken = policy === 'negative' ? amount : amount - left;
    acc.balance -= taken;
    if (acc.balance < 0 && policy === 'negative') {
      if (acc === g) g.debtAllowed = true;
      else g.otherDebtAllowed = true;
    }
    return taken;
  }

  // ---- deposits ---------------------------------------------------------------------

  /** Money put on a deposit: the key first (card, account, amount), then the account, then the guest. */
  topUp(guestId: string, req: TopUpRequest, now: number): TopUpResult {
    const key = `${req.outlet}\u0000${req.idempotencyKey}`;
    const seen = this.topUpKeys.get(key);
    if (seen !== undefined) {
      let outcome: TopUpOutcome = 'exists';
      if (seen.card !== req.card) outcome = 'exists_with_different_card';
      else if (seen.account !== req.account) outcome = 'exists_with_different_account';
      else if (seen.amount !== req.amount) outcome = 'exists_with_different_amount';
      return { ...seen.result, outcome };
    }
    if (!this.isDeposit(req.account)) throw new ModelError('invalid_field');
    const g = this.liveGuest(guestId);
    this.touch(g, now);
    const balance = this.deposit(g, req.account) + req.amount;
    this.setDeposit(g, req.account, balance);
    this.moveSystem(g.shard, `deposits:${req.account}`, -req.amount);
    const entry = this.append(g, 'top_up');
    const result: TopUpResult = { outcome: 'ok', transactionId: entry.transactionId, guestId, account: req.account, balance };
    this.topUpKeys.set(key, { card: req.card, account: req.account, amount: req.amount, result });
    return result;
  }

  // ---- merges ---------------------------------------------------------------------

  /**
   * Phase 1, in the shard of `fromGuestId` (the guest the doors resolved `req.from` to):
   * the key seen before answers (landing its transfer if it is out and its guest is in
   * this shard); then the cards; one guest on both sides is `same_guest`; the cards'
   * bound; then the writes. Same-shard merges land at once.
   */
  mergeOut(fromGuestId: string, req: MergeRequest, now: number): MergeResult {
    const key = `${req.outlet}\u0000${req.idempotencyKey}`;
    const seen = this.mergeKeys.get(key);
    if (seen !== undefined) return this.replayMerge(seen, req, this.guest(fromGuestId).shard, now);
    const from = this.guest(fromGuestId);
    if (this.cards.get(req.from) !== fromGuestId) throw new ModelError(from.mergedInto !== undefined ? 'guest_merged' : 'card_not_found');
    const intoId = this.cards.get(req.card);
    if (intoId === undefined) throw new ModelError('card_not_found');
    if (intoId === fromGuestId) {
      const result: MergeResult = { outcome: 'same_guest', mergeId: '', guestId: intoId, balance: from.balance, cardsMoved: 0 };
      this.mergeKeys.set(key, { card: req.card, from: req.from, fromGuestId, result });
      return result;
    }
    const into = this.guest(intoId);
    const moving = from.cards.filter((c) => this.cards.get(c) === fromGuestId);
    if (into.cards.length + moving.length > model_guest_cards_max) throw new ModelError('invalid_field');

    // What the from guest received and has not landed moves on with it.
    for (const m of this.pendingInto(fromGuestId)) this.land(m.mergeId, now);
    const record = this.moveOut(from, into, req, moving, now);
    for (const c of moving) this.cards.set(c, intoId);
    into.cards = [...into.cards, ...moving];
    from.cards = [];
    this.mergeKeys.set(key, { card: req.card, from: req.from, fromGuestId, result: mergeAnswer(record, 'ok') });
    return mergeAnswer(into.shard === from.shard ? this.land(record.mergeId, now) : record, 'ok');
  }

  /** Phase 2, in the shard of the guest who stays: lands the transfer if it is still out, answering with `outcome`. */
  mergeIn(mergeId: string, outcome: MergeOutcome, now: number): MergeResult {
    return mergeAnswer(this.land(mergeId, now), outcome);
  }

  /** Recovery (at a shard's start and in its sweep): lands up to `limit` transfers still out into the shard's guests, in the index's order. */
  landPending(shard: number, now: number, limit = model_merges_landed_max): number {
    const due = [...this.merges.values()]
      .filter((m) => m.status === 'out' && this.guest(m.into).shard === shard)
      .sort((a, b) => compareText(a.into, b.into) || compareText(a.mergeId, b.mergeId))
      .slice(0, limit);
    for (const m of due) this.land(m.mergeId, now);
    return due.length;
  }

  /** Transfers still out into one guest, in the pending index's order. */
  private pendingInto(guestId: string): MMerge[] {
    return [...this.merges.values()].filter((m) => m.status === 'out' && m.into === guestId).sort((a, b) => compareText(a.mergeId, b.mergeId));
  }

  private replayMerge(seen: MergeKey, req: MergeRequest, shard: number, now: number): MergeResult {
    let outcome: MergeOutcome = 'exists';
    if (seen.card !== req.card) outcome = 'exists_with_different_card';
    else if (seen.from !== req.from) outcome = 'exists_with_different_from';
    if (seen.result.mergeId === '') return outcome === 'exists' ? seen.result : { ...seen.result, outcome };
    let record = this.merges.get(seen.result.mergeId)!;
    if (record.status === 'out' && this.guest(record.into).shard === shard) record = this.land(record.mergeId, now);
    return mergeAnswer(record, outcome);
  }

  /** Empties the from guest into its shard's transit accounts: holds voided, one merge_out entry, the transfer out. */
  private moveOut(from: MGuest, into: MGuest, req: MergeRequest, moving: string[], now: number): MMerge {
    this.touch(from, now);
    for (const h of from.holds) this.resolveHold(h.id, 'voided');
    const points = from.balance;
    const lots = from.lots.map((l) => ({ ...l }));
    if (points !== 0) this.moveSystem(from.shard, 'transit', points);
    const deposits: Record<string, number> = {};
    const zeroed: Record<string, number> = {};
    for (const [account, value] of Object.entries(from.accounts ?? {})) {
      if (!this.isDeposit(account)) continue;
      zeroed[account] = 0;
      if (value === 0) continue;
      if (value < 0) throw new ModelViolation(`guest ${from.id}: deposit ${account} at ${value}`);
      deposits[account] = value;
      this.moveSystem(from.shard, `transit:${account}`, value);
    }
    // The partners' accounts move alike, each through its transit account; each is kept, empty.
    const pointsAccounts: Record<string, { points: number; lots: MLot[] }> = {};
    if (from.pointsAccounts !== undefined) {
      const emptied: Record<string, MPointsAccount> = {};
      for (const [account, acc] of Object.entries(from.pointsAccounts)) {
        emptied[account] = { balance: 0, lots: [], holds: [] };
        if (acc.balance === 0) continue;
        pointsAccounts[account] = { points: acc.balance, lots: acc.lots.map((l) => ({ ...l })) };
        this.moveSystem(from.shard, `transit:${account}`, acc.balance);
      }
      from.pointsAccounts = emptied;
    }
    const holdsVoided = from.holds.map((h) => h.id);
    from.balance = 0;
    from.lots = [];
    from.holds = [];
    from.mergedInto = into.id;
    if (Object.keys(zeroed).length > 0) from.accounts = zeroed;
    else delete from.accounts;
    const entry = this.append(from, 'merge_out');
    const record: MMerge = {
      mergeId: `${from.id}.m1`, from: from.id, into: into.id, status: 'out', outlet: req.outlet, idempotencyKey: req.idempotencyKey,
      points, lots, deposits, ...(Object.keys(pointsAccounts).length === 0 ? {} : { pointsAccounts }), counts: {}, counters: {}, holdsVoided, cardsMoved: moving, outTx: entry.transactionId, at: now,
    };
    if (this.merges.has(record.mergeId)) throw new Error(`model: ${from.id} merged away twice`);
    this.merges.set(record.mergeId, record);
    this.dirtyMerges.add(record.mergeId);
    return record;
  }

  /**
   * Phase 2: the into guest gets the lots (with their times, joined into a merge_in lot
   * number), or the debt (taken from its lots, the rest a debt whatever the policy); lots
   * expired in transit burn in the same entry; deposits add up. Once only.
   */
  private land(mergeId: string, now: number): MMerge {
    const record = this.merges.get(mergeId)!;
    if (record.status === 'done') return record;
    const g = this.guest(record.into);
    if (g.mergedInto !== undefined) throw new ModelViolation(`transfer ${mergeId} lands on ${g.id}, merged away`);
    this.touch(g, now);
    const n = this.journal[g.shard]! + 1;
    if (record.points > 0) {
      for (const lot of record.lots) this.credit(g, lot.remaining, { n, activatesAt: lot.activatesAt, expiresAt: lot.expiresAt });
    } else if (record.points < 0) {
      this.takeBack(g, g, -record.points, -1, 'negative');
    }
    if (record.points !== 0) this.moveSystem(g.shard, 'transit', -record.points);
    if (g.balance < 0) g.debtAllowed = true;
    const burned = this.burn(g, now);
    this.system[g.shard]!.breakage += burned;
    // The partners' accounts land alike, each out of its transit account, what expired on the way burnt.
    for (const [account, moved] of Object.entries(record.pointsAccounts ?? {})) {
      const acc = this.otherAccount(g, account);
      if (moved.points > 0) for (const lot of moved.lots) this.credit(acc, lot.remaining, { n, activatesAt: lot.activatesAt, expiresAt: lot.expiresAt });
      else this.takeBack(g, acc, -moved.points, -1, 'negative');
      this.moveSystem(g.shard, `transit:${account}`, -moved.points);
      const lost = this.burn(acc, now);
      if (lost > 0) this.moveSystem(g.shard, `breakage:${account}`, lost);
    }
    for (const [account, amount] of Object.entries(record.deposits)) {
      this.setDeposit(g, account, this.deposit(g, account) + amount);
      this.moveSystem(g.shard, `transit:${account}`, -amount);
    }
    const entry = this.append(g, 'merge_in');
    for (const lot of record.lots) if (lot.expiresAt > now) g.agenda.add(lot.expiresAt);
    for (const moved of Object.values(record.pointsAccounts ?? {})) for (const lot of moved.lots) if (lot.expiresAt > now) g.agenda.add(lot.expiresAt);
    const done: MMerge = { ...record, status: 'done', inTx: entry.transactionId, balance: g.balance, doneAt: now };
    this.merges.set(mergeId, done);
    this.dirtyMerges.add(mergeId);
    return done;
  }

  /** The expiry sweep of one shard: touches every guest whose agenda is due, in the index's key order. */
  sweep(shard: number, now: number): number {
    const due: Array<{ g: MGuest; first: number }> = [];
    for (const g of this.guests.values()) {
      if (g.shard !== shard) continue;
      let first = Infinity;
      for (const t of g.agenda) if (t <= now && t < first) first = t;
      if (first !== Infinity) due.push({ g, first });
    }
    due.sort((a, b) => a.first - b.first || (a.g.id < b.g.id ? -1 : a.g.id > b.g.id ? 1 : 0));
    for (const { g } of due) {
      this.touch(g, now);
      for (const t of [...g.agenda]) if (t <= now) g.agenda.delete(t);
    }
    return due.length;
  }
}

function mergeAnswer(record: MMerge, outcome: MergeOutcome): MergeResult {
  return { outcome, mergeId: record.mergeId, guestId: record.into, balance: record.balance ?? 0, cardsMoved: record.cardsMoved.length };
}

/** Byte order of ASCII keys, as LMDB sorts them. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function totalOf(lines: readonly CheckLine[]): number {
  let total = 0;
  for (const l of lines) total += l.quantity * l.unitPrice;
  return total;
}

function sameLines(a: readonly CheckLine[], b: readonly CheckLine[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.itemCode !== y.itemCode || (x.category ?? '') !== (y.category ?? '') || x.quantity !== y.quantity || x.unitPrice !== y.unitPrice) return false;
  }
  return true;
}

/** The documented precedence of a repeated commit key: card, time, currency, lines, points, hold, deposit, points account. */
function replayCommit(seen: CommitKey, req: CommitRequest): CommitResult {
  const first = seen.req;
  let outcome: CommitOutcome = 'exists';
  if (first.card !== req.card) outcome = 'exists_with_different_card';
  else if (first.time !== req.time) outcome = 'exists_with_different_time';
  else if (first.currency !== req.currency) outcome = 'exists_with_different_currency';
  else if (!sameLines(first.lines, req.lines)) outcome = 'exists_with_different_lines';
  else if ((first.pointsSpent ?? 0) !== (req.pointsSpent ?? 0)) outcome = 'exists_with_different_points_spent';
  else if ((first.holdId ?? '') !== (req.holdId ?? '')) outcome = 'exists_with_different_hold';
  else if (depositKey(first) !== depositKey(req)) outcome = 'exists_with_different_deposit';
  // As sent: naming the program's account is another body than naming none.
  else if ((first.pointsAccount ?? '') !== (req.pointsAccount ?? '')) outcome = 'exists_with_different_points_account';
  if (outcome === 'exists' && seen.result.outcome !== 'ok') return seen.result;
  return { ...seen.result, outcome };
}

function depositKey(req: CommitRequest): string {
  return req.deposit === undefined ? '' : `${req.deposit.account}:${req.deposit.amount}`;
}

function refundLinesKey(req: RefundRequest): string {
  return req.lines === undefined ? '' : req.lines.map((l) => `${l.line}:${l.quantity}`).join(',');
}

const calendars = new Map<string, Intl.DateTimeFormat>();

/** [year, month 1..12, day, hour, minute, second] of `ms` on the wall clock of `timeZone`. */
function wallClock(ms: number, timeZone: string): number[] {
  let f = calendars.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    calendars.set(timeZone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(ms)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return [p.year!, p.month!, p.day!, p.hour!, p.minute!, p.second!];
}

/**
 * `at` must be the first instant of the local day `months` and `days` after the
 * local day of `from` (a day past a short month's end clamps to its last day).
 */
function checkLocalMidnight(at: number, timeZone: string, from: number, months: number, days: number): void {
  const [y, m, d] = wallClock(from, timeZone) as [number, number, number];
  const m0 = m - 1 + months;
  const year = y + Math.floor(m0 / 12);
  const month = m0 % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const want = new Date(Date.UTC(year, month, Math.min(d, lastDay) + days));
  const got = wallClock(at, timeZone);
  const wantDay = [want.getUTCFullYear(), want.getUTCMonth() + 1, want.getUTCDate()];
  const before = wallClock(at - 1, timeZone);
  if (got.join() !== [...wantDay, 0, 0, 0].join() || before.slice(0, 3).join() === wantDay.join()) {
    throw new ModelViolation(
      `${new Date(at).toISOString()} is not local midnight of ${wantDay.join('-')} in ${timeZone} (${months} months ${days} days after ${new Date(from).toISOString()}): it reads ${got.join(',')}`,
    );
  }
}
