// What a shard does for its guests: it is their only writer. Every method here
// runs inside an LMDB write transaction, so each sees every write before it, a
// guest's operations apply one after another in arrival order, and an operation's
// postings, journal entry, idempotency record and state land all or none. Every
// check for refusal comes before the first write: a refused or failing
// operation leaves nothing behind. Reads need no actor: see guest-reader.ts.

import assert from 'node:assert';
import { hold_timeout_seconds_default, type ConfigSnapshot } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import type {
  AdjustOutcome,
  AdjustRequest,
  AdjustResult,
  AppliedPromotion,
  CancelRequest,
  CancelResult,
  CheckLine,
  CommitOutcome,
  CommitRequest,
  CommitResult,
  EvaluateRequest,
  EvaluateResult,
  MergeRequest,
  MergeResult,
  PointsReversal,
  RefundOutcome,
  RefundRequest,
  RefundResult,
  RegisterRequest,
  RegisterResult,
  TopUpOutcome,
  TopUpRequest,
  TopUpResult,
} from '../protocol/types.js';
import { type WindowKeys, accrualKey, budgetSpend, compiledRulesOf, decideCheck, hasPromotions, recordUsage, windowKeys } from './check-decision.js';
import { type Clock, accountOfUnit, appliedPromotions, budgetsLeft, checkCurrency, evaluateCheck, payFromOf, readState } from './guest-reader.js';
import { assertUsable, presentedCard } from './cards.js';
import type { ConvertedCommitRequest } from './currency-rates.js';
import type { Evaluation } from './rules/model.js';
import { GuestRegistry } from './guest-registry.js';
import { type MergeHost, type MergeInRequest, completeMerge, completePendingMerges, guestMergedError, mergeOut } from './guest-merge.js';
import { localMidnightAfter } from './local-time.js';
import {
  type Hold,
  type PointsAccount,
  addHold,
  emptyAccount,
  availableOf,
  credit,
  dropExpiredHolds,
  expire,
  holds_per_guest_max,
  removeHold,
  spend,
  takeBack,
} from './points-account.js';
import {
  type BudgetUse,
  type CardRecord,
  type CheckProgress,
  type EffectMove,
  type GuestState,
  type HoldRecord,
  type IdempotencyRecord,
  type Posting,
  type PromotionUse,
  type Store,
  type SystemAccount,
  type SystemBalances,
  type TransactionRecord,
  SYSTEM_ACCOUNTS,
  depositAccount,
  guestAccount,
  guestShard,
  lastJournalNumber,
  journalNumberOf,
} from './store.js';

/**
 * Money of units `from`..`to` of a discounted line worth `net` for `quantity` units:
 * cumulative floors, so the units of a line returned one by one add up to its net.
 */
function unitsShare(net: number, quantity: number, from: number, to: number): number {
  return Math.floor((net * to) / quantity) - Math.floor((net * from) / quantity);
}

/** What a line of a check without our discount cost: its sum after the POS's own discount (as the check's total counts it). */
function paidForLine(l: CheckLine): number {
  return Math.max(0, l.quantity * l.unitPrice - (l.posDiscount ?? 0));
}

/** The system accounts of a points ledger other than the program's: `liability:<a>`, `redemption:<a>`, `breakage:<a>`. */
const OTHER_POINTS_SYSTEM = /^(liability|redemption|breakage):/;

/**
 * Moves a shard system account: the program's points ledger's by field, merges' in
 * `transit`, the other points ledgers' in `points`, the money ledgers' in `money`.
 */
function moveSystemAccount(balances: SystemBalances, account: string, by: number): void {
  if ((SYSTEM_ACCOUNTS as readonly string[]).includes(account)) balances[account as SystemAccount] += by;
  else if (account === 'transit' || account.startsWith('transit:')) {
    const transit = (balances.transit ??= {});
    transit[account] = (transit[account] ?? 0) + by;
  } else if (OTHER_POINTS_SYSTEM.test(account)) {
    const points = (balances.points ??= {});
    points[account] = (points[account] ?? 0) + by;
  } else {
    const money = (balances.money ??= {});
    money[account] = (money[account] ?? 0) + by;
  }
}

/** Points of a check's promotions that go into lots of their own (their own delay or life). */
function promotionLotPoints(ev: Evaluation | null, account: string): number {
  let sum = 0;
  for (const a of ev?.accruals ?? []) if (a.account === account && (a.delayDays !== 0 || a.expiryDays !== 0)) sum += a.amount;
  return sum;
}

/**
 * Points each promotion of a check accrued into the program's account by fixed per-check
 * accruals. An evaluation's accrual names its promotion, account, delay and expiry, not
 * the effect that made it: it counts as fixed when every accrual effect of its promotion
 * with that account, delay and expiry is fixed (a promotion that mixes a fixed and a
 * proportional accrual into the same lot has them all taken back in proportion).
 */
function fixedPointsOf(config: ConfigSnapshot, ev: Evaluation): Map<string, number> {
  const fixed = compiledRulesOf(config).fixedAccruals;
  const out = new Map<string, number>();
  for (const a of ev.accruals) {
    if (a.account !== config.program.id || fixed.get(accrualKey(a.promotion, a.account, a.delayDays, a.expiryDays)) !== true) continue;
    out.set(a.promotion, (out.get(a.promotion) ?? 0) + a.amount);
  }
  return out;
}

/** Adds `amount` (of which `fixed` per check) to the move of `id`, keeping first-seen order. */
function addMove(moves: Map<string, EffectMove>, id: string, amount: number, fixed: number): void {
  const m = moves.get(id) ?? { id, amount: 0 };
  m.amount += amount;
  if (fixed !== 0) m.fixed = (m.fixed ?? 0) + fixed;
  moves.set(id, m);
}

/**
 * What a check's promotions put on accounts other than the program's points, per
 * account: accruals (fixed per check as `fixedPointsOf` tells them apart) and top-ups
 * (always per check). Accounts of unit `points` other than the program's are not here:
 * they hold lots (`pointsAccrualsOf`).
 */
function accountMovesOf(config: ConfigSnapshot, ev: Evaluation): EffectMove[] {
  const program = config.program.id;
  const { rules, fixedAccruals: fixed } = compiledRulesOf(config);
  const unitOf = (account: string): string | undefined => rules.accounts.get(account)?.unit;
  const moves = new Map<string, EffectMove>();
  const kept = (account: string, amount: number): boolean => account !== program && amount !== 0 && unitOf(account) !== 'points';
  for (const a of ev.accruals) {
    if (!kept(a.account, a.amount)) continue;
    const isFixed = fixed.get(accrualKey(a.promotion, a.account, a.delayDays, a.expiryDays)) === true;
    addMove(moves, a.account, a.amount, isFixed ? a.amount : 0);
  }
  for (const a of ev.actions) if (a.kind === 'top_up' && kept(a.account, a.amount)) addMove(moves, a.account, a.amount, a.amount);
  for (const m of moves.values()) if (unitOf(m.id) === 'money') m.money = true;
  return [...moves.values()];
}

/** One lot a check's promotions put on a points account other than the program's. */
interface OtherPointsLot {
  account: string;
  amount: number;
  activatesAt: number;
  expiresAt: number;
}

/**
 * What a check's promotions put on points accounts other than the program's: per account
 * the amount and its fixed per-check part (as `accountMovesOf` tells them apart; top-ups
 * are per check), and the lots to credit. An accrual with its own delay or life makes a
 * lot of its own, as into the program's account; the rest (top-ups included) activate
 * and expire as the program's points do (`programTimes`). A negative top-up (a debit)
 * is not applied: taking points is a spend from available lots, which needs the check's
 * own refusal (`insufficient_points`), not a promotion's side effect.
 */
function pointsAccrualsOf(
  config: ConfigSnapshot,
  ev: Evaluation,
  now: number,
  programTimes: { activatesAt: number; expiresAt: number },
): { moves: EffectMove[]; lots: OtherPointsLot[] } {
  const program = config.program.id;
  const { rules, fixedAccruals: fixed } = compiledRulesOf(config);
  const tz = config.organization.timeZone;
  const kept = (account: string, amount: number): boolean => account !== program && amount > 0 && rules.accounts.get(account)?.unit === 'points';
  const moves = new Map<string, EffectMove>();
  const lots: OtherPointsLot[] = [];
  for (const a of ev.accruals) {
    if (!kept(a.account, a.amount)) continue;
    const isFixed = fixed.get(accrualKey(a.promotion, a.account, a.delayDays, a.expiryDays)) === true;
    addMove(moves, a.account, a.amount, isFixed ? a.amount : 0);
    const own = a.delayDays !== 0 || a.expiryDays !== 0;
    lots.push({ account: a.account, amount: a.amount, ...(own ? ownLotTimes(a, now, tz) : programTimes) });
  }
  for (const a of ev.actions) {
    if (a.kind !== 'top_up' || !kept(a.account, a.amount)) continue;
    addMove(moves, a.account, a.amount, a.amount);
    lots.push({ account: a.account, amount: a.amount, ...programTimes });
  }
  return { moves: [...moves.values()], lots };
}

/**
 * The activation and expiry of a promotion's accrual with its own delay or life (a lot of
 * its own): local midnights after `now`, 0 where it sets none.
 */
function ownLotTimes(a: { delayDays: number; expiryDays: number }, now: number, tz: string): { activatesAt: number; expiresAt: number } {
  return {
    activatesAt: a.delayDays > 0 ? localMidnightAfter(now, tz, 0, a.delayDays) : 0,
    expiresAt: a.expiryDays > 0 ? localMidnightAfter(now, tz, 0, a.delayDays + a.expiryDays) : 0,
  };
}

/** The guest's account in the ledger of a points account other than the program's (as a deposit's: `g:<guestId>:<a>`). */
const otherPointsAccount = (guestId: string, account: string): string => depositAccount(guestId, account);

/**
 * Burns what expired on the guest's points accounts other than the program's. Returns the
 * accounts after (the same object when nothing burnt), the postings to breakage and what
 * burnt per account (negative).
 */
function expireOtherPoints(guestId: string, accounts: Record<string, PointsAccount> | undefined, now: number): { accounts: Record<string, PointsAccount> | undefined; postings: Posting[]; burnt: EffectMove[] } {
  const postings: Posting[] = [];
  const burnt: EffectMove[] = [];
  let out = accounts;
  if (accounts === undefined) return { accounts, postings, burnt };
  for (const [account, acc] of Object.entries(accounts)) {
    const e = expire(acc, now);
    if (e.burned === 0) continue;
    if (out === accounts) out = { ...accounts };
    out![account] = e.acc;
    postings.push([otherPointsAccount(guestId, account), `breakage:${account}`, e.burned]);
    burnt.push({ id: account, amount: -e.burned });
  }
  return { accounts: out, postings, burnt };
}

/**
 * What a check's promotions moved each counter by. An increment names its promotion and
 * counter, not its effect; a promotion that applied adds exactly `by` for each per-check
 * counter effect, so that sum is the fixed part and the rest came per unit.
 */
function counterMovesOf(config: ConfigSnapshot, ev: Evaluation): EffectMove[] {
  const byPromotion = new Map<string, { counter: string; by: number }>();
  for (const c of ev.counters) {
    const key = `${c.promotion}\u0001${c.counter}`;
    const sum = byPromotion.get(key) ?? { counter: c.counter, by: 0 };
    sum.by += c.by;
    byPromotion.set(key, sum);
  }
  const perCheck = compiledRulesOf(config).perCheckCounters;
  const moves = new Map<string, EffectMove>();
  for (const [key, { counter, by }] of byPromotion) addMove(moves, counter, by, perCheck.get(key) ?? 0);
  return [...moves.values()].filter((m) => m.amount !== 0 || (m.fixed ?? 0) !== 0);
}

/**
 * What refunds reverse of a move once as much of the check is returned as `share`
 * knows: its proportional part by cumulative floors (in its sign), its fixed part only
 * when the whole check is (`full`).
 */
function reversalTarget(m: EffectMove, share: (whole: number) => number, full: boolean): number {
  const fixed = m.fixed ?? 0;
  const proportional = m.amount - fixed;
  return (proportional < 0 ? -share(-proportional) : share(proportional)) + (full ? fixed : 0);
}

/** Guests whose lots one sweep burns; the rest wait for the next sweep. */
export const expiry_sweep_guests_max = 1_000;

/** A journal entry as an operation makes it; `append` adds what the journal knows. */
export type JournalEntry = Omit<TransactionRecord, 'guestId' | 'prevTx' | 'transactionId' | 'balanceAfter' | 'configVersion' | 'at'>;
type Entry = JournalEntry;

export class GuestActor {
  constructor(
    private readonly store: Store,
    private readonly shard: number,
    private config: ConfigSnapshot,
    private readonly clock: Clock = Date.now,
  ) {}

  /** Last journal number written, or -1 before the first look at the journal. */
  private journal = -1;

  /** The batch running now (see `inBatch`), or undefined when each operation stands alone. */
  private batch: { journalChecked: boolean; system: SystemBalances | undefined } | undefined;

  /**
   * Runs several operations inside one LMDB write transaction (the caller's) and
   * does once per batch what would otherwise be done once per operation: the
   * journal counter is checked against the journal once, and the shard's system
   * record is read once and written once, at the end. If `work` throws, nothing of
   * the batch is written here and the caller's transaction must abort.
   */
  inBatch<T>(work: () => T): T {
    this.batch = { journalChecked: false, system: undefined };
    try {
      const result = work();
      if (this.batch.system !== undefined) this.store.system.putSync(this.shard, this.batch.system);
      return result;
    } finally {
      this.batch = undefined;
    }
  }

  setConfig(config: ConfigSnapshot): void {
    // One reference swap: a check started under the old version finishes under it.
    this.config = config;
  }

  get configVersion(): number {
    return this.config.version;
  }

  get currentConfig(): ConfigSnapshot {
    return this.config;
  }

  // ---- registration -----------------------------------------------------------

  /** Guests and cards (engine/guest-registry.ts); made on first use, holds nothing but references. */
  private registry: GuestRegistry | undefined;

  /** The door routed the request here by the card's hash, or by its phone (see guest-registry.ts). */
  registerInTransaction(req: RegisterRequest, createdAt: string): RegisterResult {
    this.registry ??= new GuestRegistry(this.store, this.shard, () => this.config, this.clock);
    return this.registry.register(req, createdAt);
  }

  // ---- housekeeping -------------------------------------------------------------

  /**
   * The guest's state with time's effects applied and written: lots past their
   * expiry burn (a journal entry of their own, so each burns exactly once) and
   * holds past their timeout void. Every write path starts here. `live`: the operation
   * came by card, and a guest merged away since the doors resolved it is refused with
   * `guest_merged` before any write (the engine sends it again for the guest the card
   * names now); a merged guest's state is empty, so there is nothing to burn or void.
   */
  private touch(guestId: string, now: number, live = false): GuestState {
    assert.equal(guestShard(guestId), this.shard, 'a shard only writes its own guests');
    let state = readState(this.store, guestId);
    if (live && state.mergedInto !== undefined) throw guestMergedError(guestId, state.mergedInto);
    const dropped = dropExpiredHolds(state.points, now);
    for (const h of dropped.expired) this.resolveHold(h.id, 'expired');
    const burnt = expire(dropped.acc, now);
    // The other points accounts burn in the same entry: one sweep, one entry per guest.
    const others = expireOtherPoints(guestId, state.pointsAccounts, now);
    if (burnt.burned > 0 || others.postings.length > 0) {
      const postings: Posting[] = burnt.burned > 0 ? [[guestAccount(guestId), 'breakage', burnt.burned]] : [];
      const next: GuestState = { ...state, points: burnt.acc };
      if (others.accounts !== undefined) next.pointsAccounts = others.accounts;
      state = this.append(guestId, next, now, {
        kind: 'expiry',
        time: new Date(now).toISOString(),
        outlet: '',
        idempotencyKey: '',
        total: 0,
        spent: 0,
        accrued: -burnt.burned,
        postings: [...postings, ...others.postings],
        ...(others.burnt.length === 0 ? {} : { pointsMoved: others.burnt }),
      });
    } else if (dropped.expired.length > 0) {
      state = { ...state, points: dropped.acc };
      this.store.states.putSync(guestId, state);
    }
    return state;
  }

  /**
   * The card a write came by, read again inside its write transaction: the doors resolved
   * it from committed state before routing, and a card blocked or replaced since is refused
   * here as the doors refuse it (the errors `card_blocked`, `card_replaced`, so the
   * request's idempotency key stays unused), before anything is written. A card with no
   * record is not refused here: the doors refuse unknown cards, and no card is ever deleted.
   */
  private usableCard(card: string): CardRecord | undefined {
    const record = presentedCard(this.store, card);
    if (record !== undefined) assertUsable(record);
    return record;
  }

  /** Burns the lots of up to `expiry_sweep_guests_max` guests whose expiry has come. */
  sweepExpiries(): number {
    const now = this.clock();
    const due = new Set<string>();
    const keys: Array<[number, number, string]> = [];
    for (const key of this.store.expiries.getKeys({ start: [this.shard, 0, ''], end: [this.shard, now + 1, ''] })) {
      const k = key as [number, number, string];
      if (!due.has(k[2]) && due.size >= expiry_sweep_guests_max) break;
      due.add(k[2]);
      keys.push(k);
    }
    for (const guestId of due) if (this.store.states.get(guestId) !== undefined) this.touch(guestId, now);
    for (const k of keys) this.store.expiries.removeSync(k);
    return due.size;
  }

  /**
   * Writes a journal entry for the guest and the state after it, and applies its
   * postings to the shard's system accounts. Returns the state written.
   */
  private append(guestId: string, state: GuestState, now: number, entry: Entry): GuestState {
    assertBalanced(entry.postings);
    const n = this.nextJournalNumber();
    this.journal = n;
    const seq = state.seq + 1;
    const next: GuestState = { ...state, seq, lastTx: n };
    const record: TransactionRecord = {
      ...entry,
      guestId,
      prevTx: state.lastTx,
      // The id names the guest (so its shard) and the journal entry: "<guestId>.<n>".
      transactionId: `${guestId}.${n}`,
      balanceAfter: next.points.balance,
      configVersion: this.config.version,
      at: now,
    };
    this.store.transactions.putSync([this.shard, n], record);
    this.store.states.putSync(guestId, next);
    this.moveSystem(entry.postings);
    return next;
  }

  /**
   * The next journal number. Kept in memory (this thread is the shard's only
   * writer) but checked against the journal inside the write transaction: if
   * the entry it names is missing, a transaction aborted, and the counter is read
   * again from the journal, so an abort leaves no gap.
   */
  private nextJournalNumber(): number {
    if (this.batch?.journalChecked !== true) {
      if (this.journal < 0 || (this.journal > 0 && !this.store.transactions.doesExist([this.shard, this.journal]))) {
        this.journal = lastJournalNumber(this.store, this.shard);
      }
      if (this.batch !== undefined) this.batch.journalChecked = true;
    }
    return this.journal + 1;
  }

  /** Applies the postings' system-account sides to the shard's one system record. */
  private moveSystem(postings: readonly Posting[]): void {
    let balances: SystemBalances | undefined = this.batch?.system;
    for (const [debit, creditTo, amount] of postings) {
      if (!debit.startsWith('g:')) moveSystemAccount((balances ??= this.systemBalances()), debit, -amount);
      if (!creditTo.startsWith('g:')) moveSystemAccount((balances ??= this.systemBalances()), creditTo, amount);
    }
    if (balances === undefined) return;
    // In a batch the record is written once, when the batch ends.
    if (this.batch !== undefined) this.batch.system = balances;
    else this.store.system.putSync(this.shard, balances);
  }

  private systemBalances(): SystemBalances {
    return { liability: 0, redemption: 0, breakage: 0, ...this.store.system.get(this.shard) };
  }

  private lotTimes(now: number): { activatesAt: number; expiresAt: number } {
    const p = this.config.program;
    const tz = this.config.organization.timeZone;
    const delay = p.activationDelayDays ?? 0;
    const months = p.expiryMonths ?? 0;
    return {
      activatesAt: delay > 0 ? localMidnightAfter(now, tz, 0, delay) : 0,
      expiresAt: months > 0 ? localMidnightAfter(now, tz, months, 0) : 0,
    };
  }

  private scheduleExpiry(guestId: string, expiresAt: number): void {
    if (expiresAt !== 0) this.store.expiries.putSync([this.shard, expiresAt, guestId], null);
  }

  private resolveHold(holdId: string, status: HoldRecord['status'], transactionId?: string): void {
    const rec = this.store.holds.get(holdId);
    if (rec === undefined) return;
    assert.equal(rec.status, 'open', 'a hold resolves once');
    this.store.holds.putSync(holdId, transactionId === undefined ? { ...rec, status } : { ...rec, status, transactionId });
  }

  // ---- merges (engine/guest-merge.ts) --------------------------------------------

  private host: MergeHost | undefined;

  /** What the merge functions may do here: this actor's journal, holds and expiry agenda. */
  private mergeHost(): MergeHost {
    this.host ??= {
      store: this.store,
      shard: this.shard,
      config: () => this.config,
      touch: (guestId, now) => this.touch(guestId, now),
      append: (guestId, state, now, entry) => this.append(guestId, state, now, entry),
      resolveHold: (holdId, status) => this.resolveHold(holdId, status),
      scheduleExpiry: (guestId, expiresAt) => this.scheduleExpiry(guestId, expiresAt),
      nextJournalNumber: () => this.nextJournalNumber(),
    };
    return this.host;
  }

  /** Phase 1 of a merge, in the shard of the guest merged away (and phase 2 too when the guest who stays is here). */
  mergeInTransaction(fromGuestId: string, req: MergeRequest): MergeResult {
    return mergeOut(this.mergeHost(), fromGuestId, req, this.clock());
  }

  /** Phase 2 of a merge, in the shard of the guest who stays; a transfer already landed answers as it did. */
  completeMergeInTransaction(req: MergeInRequest): MergeResult {
    return completeMerge(this.mergeHost(), req, this.clock());
  }

  /** Lands up to `limit` transfers into this shard's guests still `out`; returns how many. */
  completePendingMergesInTransaction(limit?: number): number {
    return completePendingMerges(this.mergeHost(), this.clock(), limit);
  }

  // ---- evaluate with a hold ------------------------------------------------------

  evaluateWithHoldInTransaction(guestId: string, req: EvaluateRequest): EvaluateResult {
    const now = this.clock();
    // A hold holds the program's points: one on another account would need its own posting,
    // voiding, expiry, merging and audit, so it is refused as a commit's holdId with
    // pointsAccount is, before anything is written (an unknown account is refused first).
    if (payFromOf(this.config, req.pointsAccount) !== undefined) {
      throw new KopilkaError('invalid_field', `pointsAccount cannot be given with hold: a hold holds the program's points (${this.config.program.id}); evaluate without hold to see another account`, 'pointsAccount');
    }
    checkCurrency(this.config, req.currency);
    const card = this.usableCard(req.card);
    const state = this.touch(guestId, now, true);
    const result = evaluateCheck(this.store, this.config, guestId, state, req, now, card?.kind);
    if (result.pointsToSpend === 0) return result;
    if (state.points.holds.length >= holds_per_guest_max) {
      throw new KopilkaError('too_many_holds', `a guest may have at most ${holds_per_guest_max} open holds; commit or cancel one`);
    }
    const holdSeq = state.holdSeq + 1;
    const timeout = (this.config.program.holdTimeoutSeconds ?? hold_timeout_seconds_default) * 1000;
    const hold: Hold = { id: `${guestId}.h${holdSeq}`, amount: result.pointsToSpend, expiresAt: now + timeout };
    this.store.holds.putSync(hold.id, { guestId, amount: hold.amount, expiresAt: hold.expiresAt, status: 'open' });
    this.store.states.putSync(guestId, { ...state, holdSeq, points: addHold(state.points, hold) });
    return { ...result, holdId: hold.id, holdExpiresAt: new Date(hold.expiresAt).toISOString() };
  }

  /** The open hold `holdId` of this guest, or why it cannot be used. */
  private openHold(guestId: string, holdId: string, now: number): Hold | 'hold_not_found' | 'hold_already_resolved' | 'hold_expired' {
    const rec = this.store.holds.get(holdId);
    if (rec === undefined || rec.guestId !== guestId) return 'hold_not_found';
    if (rec.status === 'expired' || (rec.status === 'open' && rec.expiresAt <= now)) return 'hold_expired';
    if (rec.status !== 'open') return 'hold_already_resolved';
    return { id: holdId, amount: rec.amount, expiresAt: rec.expiresAt };
  }

  cancelInTransaction(guestId: string, req: CancelRequest): CancelResult {
    const now = this.clock();
    if (this.store.states.get(guestId) === undefined) return { outcome: 'hold_not_found', holdId: req.holdId, guestId, available: 0 };
    const state = this.touch(guestId, now);
    const hold = this.openHold(guestId, req.holdId, now);
    if (typeof hold === 'string') return { outcome: hold, holdId: req.holdId, guestId, available: availableOf(state.points, now) };
    const points = removeHold(state.points, hold.id);
    this.store.states.putSync(guestId, { ...state, points });
    this.resolveHold(hold.id, 'voided');
    return { outcome: 'ok', holdId: req.holdId, guestId, available: availableOf(points, now) };
  }

  // ---- commit --------------------------------------------------------------------

  commitInTransaction(guestId: string, req: ConvertedCommitRequest): CommitResult {
    const key: [string, string] = [req.outlet, req.idempotencyKey];
    // A converted check is keyed as the client sent it: a retry after a rate change is the same check.
    const conversion = req.conversion;
    const sentCurrency = conversion?.currency ?? req.currency;
    const linesKey = linesFingerprint(conversion?.lines ?? req.lines);
    const pointsSpent = req.pointsSpent ?? 0;
    const holdId = req.holdId ?? '';
    const depositKey = req.deposit === undefined ? '' : `${req.deposit.account}:${req.deposit.amount}`;
    // As sent: naming the program's account differs from naming none (the body differs).
    const pointsAccountKey = req.pointsAccount ?? '';
    // Before the key is looked up, as the doors refuse a blocked card before routing a retry.
    const card = this.usableCard(req.card);
    const seen = this.store.idempotency.get(key);
    if (seen !== undefined) return replayCommit(seen, req, sentCurrency, linesKey, pointsSpent, holdId, depositKey, pointsAccountKey);
    if (req.deposit !== undefined) accountOfUnit(this.config, req.deposit.account, 'money', 'deposit.account');
    const program = this.config.program;
    // Points from another points account than the program's; the program's own id means the program's.
    const payFrom = payFromOf(this.config, req.pointsAccount);
    if (payFrom !== undefined && holdId !== '') {
      throw new KopilkaError('invalid_field', `pointsAccount cannot be given with holdId: a hold holds the program's points (${program.id}); name no other account to post it`, 'pointsAccount');
    }

    checkCurrency(this.config, req.currency);
    const now = this.clock();
    let state = this.touch(guestId, now, true);
    // Decided again here, on the state and budgets as this transaction sees them.
    const d = decideCheck({
      config: this.config,
      guestId,
      state,
      profile: hasPromotions(this.config) ? this.store.guests.get(guestId) : undefined,
      check: { outlet: req.outlet, lines: req.lines, pointsToSpend: pointsSpent, ...(payFrom === undefined ? {} : { payFrom }) },
      time: req.time,
      now,
      budgets: () => budgetsLeft(this.store, this.config),
      // The kind of the card as read in this transaction, for promotions' card_type conditions.
      ...(card === undefined ? {} : { cardType: card.kind }),
    });
    let hold: Hold | undefined;
    let outcome: CommitOutcome | undefined;
    if (holdId !== '') {
      const h = this.openHold(guestId, holdId, now);
      if (typeof h === 'string') outcome = h;
      else if (pointsSpent > h.amount) outcome = 'points_over_hold';
      else hold = h;
    }
    // The cap is a property of the check (and the promotions it gets): reported before the balance.
    if (outcome === undefined && pointsSpent > d.pointsCap) outcome = 'points_over_limit';
    const source = payFrom === undefined ? state.points : (state.pointsAccounts?.[payFrom.account] ?? emptyAccount());
    const spent = outcome === undefined ? spend(source, pointsSpent, now, hold) : undefined;
    if (outcome === undefined && spent === undefined) outcome = 'insufficient_points';
    const dep = req.deposit;
    if (outcome === undefined && dep !== undefined) {
      // The deposit pays money: at most what is left after the discount and the points.
      if (dep.amount > d.moneyToPay) outcome = 'deposit_over_check';
      else if ((state.accounts?.[dep.account] ?? 0) < dep.amount) outcome = 'insufficient_funds';
    }

    let result: CommitResult;
    if (outcome !== undefined || spent === undefined) {
      result = this.commitResult(outcome ?? 'insufficient_points', '', guestId, d.total, 0, 0, state.points.balance, 0, []);
    } else {
      const n = this.nextJournalNumber();
      const tz = this.config.organization.timeZone;
      const times = this.lotTimes(now);
      // The paying account after the spend: the program's, or another whose lots change apart.
      let pointsAccounts = state.pointsAccounts;
      if (payFrom !== undefined && pointsSpent > 0) pointsAccounts = { ...pointsAccounts, [payFrom.account]: spent.acc };
      const afterSpend = payFrom === undefined ? spent.acc : state.points;
      let points: PointsAccount = credit(afterSpend, d.accrue - promotionLotPoints(d.evaluation, program.id), { n, ...times });
      const expiries = new Set<number>([times.expiresAt]);
      // A promotion's accrual with its own delay or life is a lot of its own.
      for (const a of d.evaluation?.accruals ?? []) {
        if (a.account !== program.id || (a.delayDays === 0 && a.expiryDays === 0)) continue;
        const own = ownLotTimes(a, now, tz);
        points = credit(points, a.amount, { n, ...own });
        expiries.add(own.expiresAt);
      }
      const postings: Posting[] = [];
      if (pointsSpent > 0) {
        postings.push(payFrom === undefined ? [guestAccount(guestId), 'redemption', pointsSpent] : [otherPointsAccount(guestId, payFrom.account), `redemption:${payFrom.account}`, pointsSpent]);
      }
      if (d.accrue > 0) postings.push(['liability', guestAccount(guestId), d.accrue]);
      const applied = d.evaluation === null ? [] : appliedPromotions(d.evaluation, program.id);
      let next: GuestState = { ...state, points };
      let budgets: BudgetUse[] = [];
      let fixedAccrued = 0;
      // What refunds need to undo the promotions' other effects (see `refund`).
      let accountsMoved: EffectMove[] = [];
      let countersMoved: EffectMove[] = [];
      let pointsMoved: EffectMove[] = [];
      let usage: PromotionUse[] = [];
      if (d.evaluation !== null) {
        // Accruals and top-ups into other points accounts: lots of their own, in each account's ledger.
        const other = pointsAccrualsOf(this.config, d.evaluation, now, times);
        pointsMoved = other.moves;
        for (const lot of other.lots) {
          const acc = pointsAccounts?.[lot.account] ?? emptyAccount();
          pointsAccounts = { ...pointsAccounts, [lot.account]: credit(acc, lot.amount, { n, activatesAt: lot.activatesAt, expiresAt: lot.expiresAt }) };
          expiries.add(lot.expiresAt);
        }
        for (const m of pointsMoved) postings.push([`liability:${m.id}`, otherPointsAccount(guestId, m.id), m.amount]);
        const fixed = fixedPointsOf(this.config, d.evaluation);
        for (const v of fixed.values()) fixedAccrued += v;
        next = { ...next, ...recordUsage(state, d.evaluation, d.windows!) };
        budgets = this.spendBudgets(d.evaluation, fixed);
        accountsMoved = accountMovesOf(this.config, d.evaluation);
        countersMoved = counterMovesOf(this.config, d.evaluation);
        usage = d.evaluation.usage.map((u) => ({ promotion: u.promotion, units: u.units, points: u.points }));
        next = { ...next, accounts: this.accrueToAccounts(guestId, next.accounts ?? {}, accountsMoved, postings) };
      }
      const counted = usage.length > 0 || d.discount > 0;
      if (dep !== undefined) {
        next = { ...next, accounts: { ...(next.accounts ?? {}), [dep.account]: (next.accounts?.[dep.account] ?? 0) - dep.amount } };
        postings.push([depositAccount(guestId, dep.account), `deposit_paid:${dep.account}`, dep.amount]);
      }
      if (pointsAccounts !== undefined) next = { ...next, pointsAccounts };
      state = this.append(guestId, next, now, {
        kind: 'check',
        time: req.time,
        outlet: req.outlet,
        idempotencyKey: req.idempotencyKey,
        total: d.total,
        spent: pointsSpent,
        accrued: d.accrue,
        postings,
        lines: req.lines,
        taken: spent.taken,
        ...(payFrom === undefined ? {} : { pointsAccount: payFrom.account }),
        ...(pointsMoved.length === 0 ? {} : { pointsMoved }),
        ...(hold === undefined ? {} : { holdId: hold.id }),
        ...(d.discount === 0 ? {} : { discount: d.discount, lineNets: d.lineNets }),
        ...(applied.length === 0 ? {} : { promotions: applied }),
        ...(budgets.length === 0 ? {} : { budgets }),
        ...(fixedAccrued === 0 ? {} : { fixedAccrued }),
        ...(accountsMoved.length === 0 ? {} : { accountsMoved }),
        ...(countersMoved.length === 0 ? {} : { countersMoved }),
        ...(usage.length === 0 ? {} : { usage }),
        ...(counted ? { windows: d.windows! } : {}),
        ...(dep === undefined ? {} : { deposit: dep }),
      });
      assert.equal(state.lastTx, n, 'the check is the journal entry its lot names');
      if (d.accrue > 0 || pointsMoved.length > 0) for (const at of expiries) this.scheduleExpiry(guestId, at);
      const transactionId = `${guestId}.${n}`;
      if (hold !== undefined) this.resolveHold(hold.id, 'posted', transactionId);
      const progress: CheckProgress = {
        guestId, n, status: 'committed', returned: 0, returnedQty: req.lines.map(() => 0), accrualReversed: 0, spentRestored: 0,
      };
      // Keyed by journal number: appended, so a commit adds no random page here.
      this.store.checks.putSync([this.shard, n], progress);
      result = this.commitResult('ok', transactionId, guestId, d.total, pointsSpent, d.accrue, state.points.balance, d.discount, applied);
      if (dep !== undefined) result = { ...result, depositPaid: dep.amount, depositBalance: state.accounts?.[dep.account] ?? 0 };
    }
    if (conversion !== undefined) result = { ...result, checkCurrency: conversion.currency, rate: conversion.rate };
    // A refused commit is remembered too: the same key keeps its first answer.
    const record: IdempotencyRecord = { card: req.card, time: req.time, currency: sentCurrency, lines: linesKey, pointsSpent, holdId, result };
    if (depositKey !== '') record.deposit = depositKey;
    if (pointsAccountKey !== '') record.pointsAccount = pointsAccountKey;
    this.store.idempotency.putSync(key, record);
    return result;
  }

  /**
   * Counts what the check gave against its promotions' budgets. The decision above
   * already left out any promotion whose budget (as this transaction reads it)
   * could not cover it, and no other write transaction runs until this one ends.
   * Returns what it spent of each, for the check's journal entry (refunds give it
   * back); `fixed`: each promotion's fixed per-check accrual points, the part of a
   * points budget given back only with the whole check.
   */
  private spendBudgets(ev: Evaluation, fixed: ReadonlyMap<string, number>): BudgetUse[] {
    const uses: BudgetUse[] = [];
    for (const [promotion, amount, limit, unit] of budgetSpend(this.config, ev)) {
      const spent = (this.store.budgets.get(promotion)?.spent ?? 0) + amount;
      assert.ok(spent <= limit, `promotion ${promotion} would overspend its budget`);
      this.store.budgets.putSync(promotion, { spent });
      const part = unit === 'points' ? Math.min(amount, fixed.get(promotion) ?? 0) : 0;
      uses.push(part > 0 ? { promotion, amount, fixed: part } : { promotion, amount });
    }
    return uses;
  }

  /**
   * Gives promotions' budgets back what a check spent of them, as far as the check is
   * returned now: its share of the money returned (`share`: cumulative floors, so the
   * return that completes the check gives back exactly the rest), and a points
   * budget's fixed part only with that return. A budget never goes below 0 spent.
   * Returns what has been given back of each use after this refund.
   */
  private restoreBudgets(uses: readonly BudgetUse[], before: readonly number[] | undefined, share: (whole: number) => number, full: boolean): number[] {
    const after: number[] = [];
    for (let i = 0; i < uses.length; i++) {
      const u = uses[i]!;
      const fixed = u.fixed ?? 0;
      const given = before?.[i] ?? 0;
      const target = share(u.amount - fixed) + (full ? fixed : 0);
      const back = target - given;
      const rec = back > 0 ? this.store.budgets.get(u.promotion) : undefined;
      if (rec !== undefined) this.store.budgets.putSync(u.promotion, { spent: Math.max(0, rec.spent - back) });
      after.push(Math.max(given, target));
    }
    return after;
  }

  private commitResult(
    outcome: CommitOutcome,
    transactionId: string,
    guestId: string,
    total: number,
    spent: number,
    accrued: number,
    balance: number,
    discount: number,
    promotions: AppliedPromotion[],
  ): CommitResult {
    return { outcome, transactionId, guestId, configVersion: this.config.version, total, spent, accrued, balance, discount, promotions, depositPaid: 0, depositBalance: 0 };
  }

  /**
   * A check's promotions' accruals and top-ups into accounts other than the
   * program's points (`accountMovesOf`): money ones are deposit money (posted against
   * the shard's `deposits:<a>`, like a top-up), count ones just add up. Returns the
   * new balances.
   */
  private accrueToAccounts(guestId: string, accounts: Record<string, number>, moves: readonly EffectMove[], postings: Posting[]): Record<string, number> {
    if (moves.length === 0) return accounts;
    const out = { ...accounts };
    for (const m of moves) {
      if (m.amount === 0) continue;
      out[m.id] = (out[m.id] ?? 0) + m.amount;
      if (m.money === true) postings.push(moneyPosting(guestId, m.id, m.amount));
    }
    return out;
  }

  // ---- deposits --------------------------------------------------------------------

  /** Money put on a guest's deposit: a posting from the shard's `deposits:<a>`, idempotent by key. */
  topUpInTransaction(guestId: string, req: TopUpRequest): TopUpResult {
    const key: [string, string] = [req.outlet, req.idempotencyKey];
    this.usableCard(req.card);
    const seen = this.store.topUpKeys.get(key);
    if (seen !== undefined) {
      let outcome: TopUpOutcome = 'exists';
      if (seen.card !== req.card) outcome = 'exists_with_different_card';
      else if (seen.account !== req.account) outcome = 'exists_with_different_account';
      else if (seen.amount !== req.amount) outcome = 'exists_with_different_amount';
      return { ...seen.result, outcome };
    }
    accountOfUnit(this.config, req.account, 'money', 'account');
    const now = this.clock();
    let state = this.touch(guestId, now, true);
    const balance = (state.accounts?.[req.account] ?? 0) + req.amount;
    state = this.append(guestId, { ...state, accounts: { ...(state.accounts ?? {}), [req.account]: balance } }, now, {
      kind: 'top_up',
      time: new Date(now).toISOString(),
      outlet: req.outlet,
      idempotencyKey: req.idempotencyKey,
      total: req.amount,
      spent: 0,
      accrued: 0,
      postings: [moneyPosting(guestId, req.account, req.amount)],
      deposit: { account: req.account, amount: req.amount },
      operator: req.operator,
    });
    const result: TopUpResult = { outcome: 'ok', transactionId: `${guestId}.${state.lastTx}`, guestId, account: req.account, balance };
    this.store.topUpKeys.putSync(key, { card: req.card, account: req.account, amount: req.amount, result });
    return result;
  }

  // ---- manual adjustment -----------------------------------------------------------

  adjustInTransaction(guestId: string, req: AdjustRequest): AdjustResult {
    const key: [string, string] = [req.outlet, req.idempotencyKey];
    this.usableCard(req.card);
    const seen = this.store.adjustKeys.get(key);
    if (seen !== undefined) {
      let outcome: AdjustOutcome = 'exists';
      if (seen.card !== req.card) outcome = 'exists_with_different_card';
      else if (seen.points !== req.points) outcome = 'exists_with_different_points';
      else if (seen.reason !== req.reason) outcome = 'exists_with_different_reason';
      if (outcome === 'exists' && seen.result.outcome !== 'ok') return seen.result;
      return { ...seen.result, outcome };
    }
    const now = this.clock();
    let state = this.touch(guestId, now, true);
    let result: AdjustResult;
    const g = guestAccount(guestId);
    // Added points are a lot like an accrual's; taken points come from available lots, earliest expiry first.
    const taken = req.points < 0 ? spend(state.points, -req.points, now) : undefined;
    if (req.points < 0 && taken === undefined) {
      result = { outcome: 'insufficient_points', transactionId: '', guestId, balance: state.points.balance };
    } else {
      const times = this.lotTimes(now);
      const points = req.points > 0 ? credit(state.points, req.points, { n: this.nextJournalNumber(), activatesAt: 0, expiresAt: times.expiresAt }) : taken!.acc;
      const posting: Posting = req.points > 0 ? ['liability', g, req.points] : [g, 'liability', -req.points];
      state = this.append(guestId, { ...state, points }, now, {
        kind: 'adjustment',
        time: new Date(now).toISOString(),
        outlet: req.outlet,
        idempotencyKey: req.idempotencyKey,
        total: 0,
        spent: 0,
        accrued: req.points,
        postings: [posting],
        reason: req.reason,
        operator: req.operator,
        ...(taken === undefined ? {} : { taken: taken.taken }),
      });
      if (req.points > 0) this.scheduleExpiry(guestId, times.expiresAt);
      result = { outcome: 'ok', transactionId: `${guestId}.${state.lastTx}`, guestId, balance: state.points.balance };
    }
    this.store.adjustKeys.putSync(key, { card: req.card, points: req.points, reason: req.reason, result });
    return result;
  }

  // ---- refund --------------------------------------------------------------------

  refundInTransaction(guestId: string, req: RefundRequest): RefundResult {
    const key: [string, string] = [req.outlet, req.idempotencyKey];
    const linesKey = refundLinesFingerprint(req);
    const amount = req.amount ?? 0;
    const seen = this.store.refundKeys.get(key);
    if (seen !== undefined) {
      let outcome: RefundOutcome = 'exists';
      if (seen.transactionId !== req.transactionId) outcome = 'exists_with_different_transaction';
      else if (seen.lines !== linesKey) outcome = 'exists_with_different_lines';
      else if (seen.amount !== amount) outcome = 'exists_with_different_amount';
      else if ((seen.cancel ?? false) !== (req.cancel === true)) outcome = 'exists_with_different_cancel';
      if (outcome === 'exists' && seen.result.outcome !== 'ok') return seen.result;
      return { ...seen.result, outcome };
    }
    const result = this.refund(guestId, req);
    this.store.refundKeys.putSync(key, { transactionId: req.transactionId, lines: linesKey, amount, ...(req.cancel === true ? { cancel: true } : {}), result });
    return result;
  }

  private refund(guestId: string, req: RefundRequest): RefundResult {
    const now = this.clock();
    const refused = (outcome: RefundOutcome, balance: number, status: RefundResult['checkStatus']): RefundResult => ({
      outcome, refundId: '', transactionId: req.transactionId, guestId, returned: 0, accrualReversed: 0, spentRestored: 0, writtenOff: 0, balance, checkStatus: status, depositRestored: 0,
    });
    const n = journalNumberOf(req.transactionId);
    const progress = this.store.checks.get([this.shard, n]);
    if (progress === undefined || progress.guestId !== guestId) {
      return refused('transaction_not_found', this.store.states.get(guestId)?.points.balance ?? 0, '');
    }
    // A merged-away guest's points, deposits and lots now live with another guest, maybe
    // in another shard: reversing its checks there is not done; the refund is refused and
    // remembered (adjust the guest who stays by hand). See engine/guest-merge.ts.
    if (this.store.states.get(guestId)?.mergedInto !== undefined) return refused('guest_merged', 0, progress.status);
    const check = this.store.transactions.get([this.shard, progress.n]);
    assert.ok(check !== undefined && check.kind === 'check' && check.lines !== undefined, 'a check progress names its check');
    const lines = check.lines;
    // A refund returns what the check was worth after our promotions' discount, not its list price.
    const paid = check.total - (check.discount ?? 0);
    if (progress.status === 'returned' || progress.status === 'cancelled') return refused('already_returned', readState(this.store, guestId).points.balance, progress.status);
    // A cancellation undoes the whole check as if it never happened: only before any return.
    if (req.cancel === true && (progress.returned > 0 || progress.returnedQty.some((q) => q > 0))) return refused('cancel_after_return', readState(this.store, guestId).points.balance, progress.status);

    // What this refund returns, in money and units.
    const returnedQty = [...progress.returnedQty];
    let money = 0;
    if (req.lines !== undefined) {
      for (let i = 0; i < req.lines.length; i++) {
        const { line, quantity } = req.lines[i]!;
        const committed = lines[line];
        if (committed === undefined) throw new KopilkaError('invalid_field', `lines[${i}].line must name a line of the check (0..${lines.length - 1})`, `lines[${i}].line`);
        if (returnedQty[line]! + quantity > committed.quantity) return refused('refund_exceeds_check', readState(this.store, guestId).points.balance, progress.status);
        const before = returnedQty[line]!;
        returnedQty[line]! += quantity;
        // A line is worth what was paid for it: after our promotions' discount (lineNets) or, without one, after the POS's own.
        const worth = check.lineNets === undefined ? paidForLine(committed) : check.lineNets[line]!;
        money += unitsShare(worth, committed.quantity, before, before + quantity);
      }
    } else if (req.amount !== undefined) {
      money = req.amount;
    } else {
      money = paid - progress.returned;
      for (let i = 0; i < lines.length; i++) returnedQty[i] = lines[i]!.quantity;
    }
    if (money > paid - progress.returned) return refused('refund_exceeds_check', readState(this.store, guestId).points.balance, progress.status);

    // Cumulative shares, floored, so that the last refund of a check reverses exactly what is left.
    const returnedAfter = progress.returned + money;
    const full = returnedAfter === paid;
    // In BigInt: points × money passes 2^53 on large checks, and the floor must be exact.
    const share = (whole: number): number =>
      full || paid === 0 ? whole : Number((BigInt(whole) * BigInt(returnedAfter)) / BigInt(paid));
    // A promotion's fixed per-check accrual belongs to no part of the check: it goes back only with the whole of it.
    const fixedAccrued = check.fixedAccrued ?? 0;
    const accrualDelta = share(check.accrued - fixedAccrued) + (full ? fixedAccrued : 0) - progress.accrualReversed;
    const restoreDelta = share(check.spent) - progress.spentRestored;

    let state = this.touch(guestId, now);
    let points = state.points;
    const g = guestAccount(guestId);
    const postings: Posting[] = [];
    const policy = this.config.program.refundDebtPolicy ?? 'negative';
    // The points account the check paid from: the program's, or another (its own ledger).
    const paidFrom = check.pointsAccount;
    let pointsAccounts = state.pointsAccounts;
    // Spent points come back first, each with the expiry of the lot it was taken from.
    if (restoreDelta > 0) {
      let restored = paidFrom === undefined ? points : (pointsAccounts?.[paidFrom] ?? emptyAccount());
      let skip = progress.spentRestored;
      let left = restoreDelta;
      for (const t of check.taken ?? []) {
        const alreadyBack = Math.min(skip, t.amount);
        skip -= alreadyBack;
        const give = Math.min(left, t.amount - alreadyBack);
        if (give <= 0) continue;
        restored = credit(restored, give, { n: t.n, activatesAt: t.activatesAt, expiresAt: t.expiresAt });
        this.scheduleExpiry(guestId, t.expiresAt);
        left -= give;
        if (left === 0) break;
      }
      assert.equal(left, 0, 'a refund restores no more than the check spent');
      if (paidFrom === undefined) {
        points = restored;
        postings.push(['redemption', g, restoreDelta]);
      } else {
        pointsAccounts = { ...pointsAccounts, [paidFrom]: restored };
        postings.push([`redemption:${paidFrom}`, otherPointsAccount(guestId, paidFrom), restoreDelta]);
      }
    }
    // Then the accrual is taken back: from its own lot first, then from any.
    const back = takeBack(points, accrualDelta, progress.n, policy);
    points = back.acc;
    if (back.taken > 0) postings.push([g, 'liability', back.taken]);
    // The accruals into other points accounts go back alike, each in its ledger: in
    // proportion, fixed per-check ones (and top-ups) with the whole check, what the guest
    // already spent a debt or written off as `refundDebtPolicy` says for the program's.
    const pointsBack = check.pointsMoved === undefined ? undefined : reversePointsMoves(guestId, check.pointsMoved, progress, pointsAccounts, share, full, policy, postings);
    if (pointsBack !== undefined) pointsAccounts = pointsBack.accounts;
    // A restored lot whose expiry has passed burns at once.
    const burnt = expire(points, now);
    points = burnt.acc;
    if (burnt.burned > 0) postings.push([g, 'breakage', burnt.burned]);
    const othersBurnt = expireOtherPoints(guestId, pointsAccounts, now);
    pointsAccounts = othersBurnt.accounts;
    postings.push(...othersBurnt.postings);

    // Money the check paid from a deposit goes back to the deposit, in the same proportion.
    const dep = check.deposit;
    const depositDelta = dep === undefined ? 0 : share(dep.amount) - (progress.depositRestored ?? 0);
    let accounts = state.accounts;
    if (dep !== undefined && depositDelta > 0) {
      accounts = { ...(accounts ?? {}), [dep.account]: (accounts?.[dep.account] ?? 0) + depositDelta };
      postings.push([`deposit_paid:${dep.account}`, depositAccount(guestId, dep.account), depositDelta]);
    }

    const budgetsRestored = check.budgets === undefined ? undefined : this.restoreBudgets(check.budgets, progress.budgetsRestored, share, full);

    // The promotions' accruals and top-ups into other accounts go back like the points'
    // accrual: in proportion, fixed per-check ones with the whole check. Unlike points,
    // such an account has no debt, whatever `refundDebtPolicy` says: a deposit is money
    // the guest holds (verify holds every deposit at or above 0) and a count account
    // counts things given (mugs, visits) that a negative count cannot take back. So what
    // the guest already used is clamped, and recorded per account as written off.
    const accountsBack = check.accountsMoved === undefined ? undefined : reverseMoves(check.accountsMoved, progress.accountsReversed, accounts ?? {}, share, full);
    if (accountsBack !== undefined) {
      accounts = accountsBack.balances;
      for (const c of accountsBack.changed) if (c.money === true) postings.push(moneyPosting(guestId, c.id, c.amount));
    }
    // Counters move back the same way (per-unit increments in proportion, per-check ones
    // with the whole check), never below 0.
    const countersBack = check.countersMoved === undefined ? undefined : reverseMoves(check.countersMoved, progress.countersReversed, state.counters ?? {}, share, full);
    // A cancel undoes the check's uses of its promotions in the windows still current. A
    // return, partial or whole, does not: the guest did use the promotion on a sale that
    // happened, and a window's limit counts uses, not what was kept.
    const uncounted = req.cancel === true && check.windows !== undefined ? uncountUsage(state, check, check.windows, windowKeys(now, this.config.organization.timeZone)) : {};

    const status = req.cancel === true ? 'cancelled' : full ? 'returned' : 'partially_returned';
    const nextState: GuestState = {
      ...state,
      points,
      ...(pointsAccounts === undefined ? {} : { pointsAccounts }),
      ...(accounts === undefined ? {} : { accounts }),
      ...(countersBack === undefined ? {} : { counters: countersBack.balances }),
      ...uncounted,
    };
    state = this.append(guestId, nextState, now, {
      kind: 'refund',
      time: new Date(now).toISOString(),
      outlet: req.outlet,
      idempotencyKey: req.idempotencyKey,
      total: money,
      spent: -restoreDelta,
      accrued: -back.taken - burnt.burned,
      postings,
      refundOf: req.transactionId,
      ...(paidFrom === undefined || restoreDelta === 0 ? {} : { pointsAccount: paidFrom }),
      ...(pointsBack === undefined || pointsBack.changed.length === 0 ? {} : { pointsMoved: pointsBack.changed }),
      ...(accountsBack === undefined || accountsBack.changed.length === 0 ? {} : { accountsMoved: accountsBack.changed }),
      ...(countersBack === undefined || countersBack.changed.length === 0 ? {} : { countersMoved: countersBack.changed }),
    });
    const pointsReversed = pointsBack === undefined ? [] : pointsReversals(check.pointsMoved!, progress, pointsBack);
    this.store.checks.putSync([this.shard, n], {
      ...progress,
      status,
      returned: returnedAfter,
      returnedQty,
      accrualReversed: progress.accrualReversed + accrualDelta,
      spentRestored: progress.spentRestored + restoreDelta,
      ...(dep === undefined ? {} : { depositRestored: (progress.depositRestored ?? 0) + depositDelta }),
      ...(budgetsRestored === undefined ? {} : { budgetsRestored }),
      ...(accountsBack === undefined
        ? {}
        : { accountsReversed: accountsBack.reversed, accountsWrittenOff: accountsBack.short.map((s, i) => (progress.accountsWrittenOff?.[i] ?? 0) + s) }),
      ...(countersBack === undefined ? {} : { countersReversed: countersBack.reversed }),
      ...(pointsBack === undefined
        ? {}
        : { pointsReversed: pointsBack.reversed, pointsWrittenOff: pointsBack.short.map((v, i) => (progress.pointsWrittenOff?.[i] ?? 0) + v) }),
    });
    return {
      outcome: 'ok',
      refundId: `${guestId}.${state.lastTx}`,
      transactionId: req.transactionId,
      guestId,
      returned: money,
      accrualReversed: back.taken,
      spentRestored: restoreDelta,
      writtenOff: accrualDelta - back.taken,
      balance: state.points.balance,
      checkStatus: status,
      depositRestored: depositDelta,
      ...(pointsReversed.length === 0 ? {} : { pointsReversed }),
    };
  }
}

/**
 * What one refund took back of each points account other than the program's, from the
 * check's progress before it and what `reversePointsMoves` recorded (targets reversed,
 * short included, and what fell short now): the step of each target less what fell short
 * is taken back, what fell short is written off. Accounts this refund moved nothing of
 * are left out, so a refund of a check without such accruals answers none.
 */
function pointsReversals(moves: readonly EffectMove[], before: CheckProgress, back: { reversed: number[]; short: number[] }): PointsReversal[] {
  const out: PointsReversal[] = [];
  for (let i = 0; i < moves.length; i++) {
    const writtenOff = back.short[i]!;
    const reversed = back.reversed[i]! - (before.pointsReversed?.[i] ?? 0) - writtenOff;
    if (reversed === 0 && writtenOff === 0) continue;
    out.push({ account: moves[i]!.id, reversed, writtenOff });
  }
  return out;
}

/**
 * Moves a check's `moves` (of accounts or counters) back toward their `reversalTarget`s.
 * A move taken back never takes a balance below 0, nor lowers one already below it: what
 * it cannot take is short. Returns the new balances, what has been reversed of each move
 * after this refund (its target, short or not), what this refund fell short by on each,
 * and each balance this refund changed, by how much (signed).
 */
function reverseMoves(
  moves: readonly EffectMove[],
  before: readonly number[] | undefined,
  balances: Record<string, number>,
  share: (whole: number) => number,
  full: boolean,
): { balances: Record<string, number>; reversed: number[]; short: number[]; changed: EffectMove[] } {
  let out = balances;
  const reversed: number[] = [];
  const short: number[] = [];
  const changed: EffectMove[] = [];
  for (let i = 0; i < moves.length; i++) {
    const m = moves[i]!;
    const target = reversalTarget(m, share, full);
    const delta = target - (before?.[i] ?? 0);
    reversed.push(target);
    const cur = out[m.id] ?? 0;
    // delta > 0: the check added, take back what there is; delta < 0: the check took, give back.
    const change = delta > 0 ? -Math.min(delta, Math.max(0, cur)) : -delta;
    short.push(delta > 0 ? delta + change : 0);
    if (change === 0) continue;
    if (out === balances) out = { ...balances };
    out[m.id] = cur + change;
    changed.push(m.money === true ? { id: m.id, amount: change, money: true } : { id: m.id, amount: change });
  }
  return { balances: out, reversed, short, changed };
}

/**
 * Takes back a check's accruals into points accounts other than the program's toward their
 * `reversalTarget`s, each from its lot first (`preferN`: the check's journal number), then
 * from any, as the program's accrual is. What no lot covers becomes a debt (`negative`) or
 * is let go (`clamp`): short. Pushes the postings; returns the accounts after, the target
 * reversed of each move (short included), what fell short on each now, and the changes.
 */
function reversePointsMoves(
  guestId: string,
  moves: readonly EffectMove[],
  progress: CheckProgress,
  accounts: Record<string, PointsAccount> | undefined,
  share: (whole: number) => number,
  full: boolean,
  policy: 'negative' | 'clamp',
  postings: Posting[],
): { accounts: Record<string, PointsAccount> | undefined; reversed: number[]; short: number[]; changed: EffectMove[] } {
  let out = accounts;
  const reversed: number[] = [];
  const short: number[] = [];
  const changed: EffectMove[] = [];
  for (let i = 0; i < moves.length; i++) {
    const m = moves[i]!;
    const target = reversalTarget(m, share, full);
    const delta = target - (progress.pointsReversed?.[i] ?? 0);
    assert.ok(delta >= 0, 'refunds reverse a points accrual toward its target, never back');
    reversed.push(target);
    if (delta === 0) {
      short.push(0);
      continue;
    }
    const back = takeBack(out?.[m.id] ?? emptyAccount(), delta, progress.n, policy);
    out = { ...out, [m.id]: back.acc };
    short.push(delta - back.taken);
    if (back.taken === 0) continue;
    postings.push([otherPointsAccount(guestId, m.id), `liability:${m.id}`, back.taken]);
    changed.push({ id: m.id, amount: -back.taken });
  }
  return { accounts: out, reversed, short, changed };
}

/**
 * A cancelled check's uses un-counted from the guest's per-promotion windows, and its
 * discount from `discountChecks`, in each window it was counted in (`was`) that is still
 * current: the guest's window is still that one and it is the window of `now`. A use in
 * a window gone by is history and stays; the total window never ends, so a use always
 * leaves it. Counts never go below 0.
 */
function uncountUsage(state: GuestState, check: TransactionRecord, was: WindowKeys, now: WindowKeys): Pick<GuestState, 'promotions' | 'discountChecks'> {
  const down = (v: number, by: number): number => Math.max(0, v - by);
  const out: Pick<GuestState, 'promotions' | 'discountChecks'> = {};
  if (check.usage !== undefined && state.promotions !== undefined) {
    const promotions = { ...state.promotions };
    for (const u of check.usage) {
      const w = promotions[u.promotion];
      if (w === undefined) continue;
      const day = w.day === was.day && was.day === now.day;
      const week = w.week === was.week && was.week === now.week;
      const month = w.month === was.month && was.month === now.month;
      promotions[u.promotion] = {
        ...w,
        usesDay: day ? down(w.usesDay, 1) : w.usesDay,
        usesWeek: week ? down(w.usesWeek, 1) : w.usesWeek,
        usesMonth: month ? down(w.usesMonth, 1) : w.usesMonth,
        usesTotal: down(w.usesTotal, 1),
        unitsDay: day ? down(w.unitsDay, u.units) : w.unitsDay,
        unitsMonth: month ? down(w.unitsMonth, u.units) : w.unitsMonth,
        accruedDay: day ? down(w.accruedDay, u.points) : w.accruedDay,
        accruedMonth: month ? down(w.accruedMonth, u.points) : w.accruedMonth,
      };
    }
    out.promotions = promotions;
  }
  const dc = state.discountChecks;
  if ((check.discount ?? 0) > 0 && dc !== undefined) {
    out.discountChecks = {
      ...dc,
      checksDay: dc.day === was.day && was.day === now.day ? down(dc.checksDay, 1) : dc.checksDay,
      checksMonth: dc.month === was.month && was.month === now.month ? down(dc.checksMonth, 1) : dc.checksMonth,
    };
  }
  return out;
}

/** A promotion's money put on (amount > 0) or taken from (< 0) the guest's account `account`, against the shard's `deposits:<account>`. */
function moneyPosting(guestId: string, account: string, amount: number): Posting {
  return amount > 0 ? [`deposits:${account}`, depositAccount(guestId, account), amount] : [depositAccount(guestId, account), `deposits:${account}`, -amount];
}

function assertBalanced(postings: readonly Posting[]): void {
  for (const [debit, creditTo, amount] of postings) {
    assert.ok(Number.isSafeInteger(amount) && amount > 0, 'a posting moves a positive whole amount');
    assert.notEqual(debit, creditTo, 'a posting moves between two accounts');
  }
}

/** The same key again: the first answer if the body is the same, else which field differs. */
function replayCommit(
  seen: IdempotencyRecord,
  req: CommitRequest,
  currency: string,
  linesKey: string,
  pointsSpent: number,
  holdId: string,
  depositKey: string,
  pointsAccountKey: string,
): CommitResult {
  let outcome: CommitOutcome = 'exists';
  if (seen.card !== req.card) outcome = 'exists_with_different_card';
  else if (seen.time !== req.time) outcome = 'exists_with_different_time';
  else if (seen.currency !== currency) outcome = 'exists_with_different_currency';
  else if (seen.lines !== linesKey) outcome = 'exists_with_different_lines';
  else if (seen.pointsSpent !== pointsSpent) outcome = 'exists_with_different_points_spent';
  else if ((seen.holdId ?? '') !== holdId) outcome = 'exists_with_different_hold';
  else if ((seen.deposit ?? '') !== depositKey) outcome = 'exists_with_different_deposit';
  else if ((seen.pointsAccount ?? '') !== pointsAccountKey) outcome = 'exists_with_different_points_account';
  // A refused first attempt answers with its refusal again: a failed key stays failed.
  if (outcome === 'exists' && seen.result.outcome !== 'ok') return seen.result;
  return { ...seen.result, outcome };
}

function linesFingerprint(lines: readonly CheckLine[]): string {
  let s = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    s += `${l.itemCode}\u0001${l.category ?? ''}\u0001${l.quantity}\u0001${l.unitPrice}`;
    // The POS's own promotion, only when given: lines without it keep their old fingerprint.
    if (l.posDiscount !== undefined || l.posPromotion !== undefined) s += `\u0001${l.posDiscount ?? 0}\u0001${l.posPromotion === true ? 1 : 0}`;
    s += '\u0002';
  }
  return s;
}

function refundLinesFingerprint(req: RefundRequest): string {
  if (req.lines === undefined) return '';
  return req.lines.map((l) => `${l.line}:${l.quantity}`).join(',');
}
