// The LMDB layout. One environment holds every shard's guests: each shard is
// written by one thread, but a commit's idempotency record, the guest's balance and
// the card index must change in one transaction, and one check's idempotency key
// must be unique across all shards. LMDB serializes write transactions across
// threads, so checking and writing inside one transaction is exact; measured, one
// shared environment writes at 96% of the rate of one environment per shard.

import { open, type Database, type RootDatabase } from 'lmdb';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { withRules, type ConfigSnapshot, type StoredConfigSnapshot } from '../protocol/config.js';
import type { AdjustResult, AppliedPromotion, DepositPayment, TopUpResult, CheckLine, CheckStatus, CommitResult, MergeResult, RefundResult, TransactionView } from '../protocol/types.js';
import type { Lot, PointsAccount, Taken } from './points-account.js';
import type { CardKind, CardStatus } from '../protocol/types.js';

/**
 * Who a guest is: written at registration and by profile changes, read to identify.
 * The optional fields are absent until set (records written before they existed lack them).
 */
export interface GuestProfile {
  id: string;
  name: string;
  phone: string;
  /** Every card bound to the guest, in binding order, blocked and replaced ones included. */
  cards: string[];
  createdAt: string;
  email?: string;
  /** `YYYY-MM-DD` or `--MM-DD`. */
  birthday?: string;
  document?: string;
  address?: string;
  tags?: string[];
  consent?: boolean;
  /**
   * Discount account id → the guest's level in it, basis points (set by updateGuest);
   * an account not here gives the guest its default level. Absent when none is set.
   */
  discounts?: Record<string, number>;
}

/** A card: whose it is and whether it may be used. See engine/cards.ts. */
export interface CardRecord {
  guestId: string;
  kind: CardKind;
  status: CardStatus;
  /** ISO 8601 UTC; "" for cards stored before records had it. */
  issuedAt: string;
  /** Why it was blocked (blockCard), while blocked. */
  blockReason?: string;
}

/**
 * A `cards` value as any kopilka stored it: before cards had kinds and statuses the
 * value was the guest id alone. Read through `readCard` (engine/cards.ts).
 */
export type StoredCard = CardRecord | string;

/** A payment code's record: the guest and the card it stands for, until `expiresAt` (epoch ms). */
export interface PaymentCodeRecord {
  guestId: string;
  card: string;
  expiresAt: number;
}

/**
 * What a commit changes, kept apart from the profile: a few bytes, so one read
 * decides a check and a batch of commits over many guests dirties few pages.
 */
export interface GuestState {
  /** Number of the guest's transactions. */
  seq: number;
  /** Journal number (in this shard) of the guest's last transaction, whose id is `<guestId>.<lastTx>`; 0 for none. */
  lastTx: number;
  /** Number of holds placed so far; the next hold is `<guestId>.h<holds + 1>`. */
  holdSeq: number;
  points: PointsAccount;
  /** Promotion id → what the guest got of it in the current local windows (limits per guest). */
  promotions?: Record<string, PromotionWindows>;
  /** Checks with a discount in the current local day and month (settings.discountsPerGuest). */
  discountChecks?: { day: number; month: number; checksDay: number; checksMonth: number };
  /** Counter id → value (visits, mugs), moved by promotions' counter effects. */
  counters?: Record<string, number>;
  /** Account id → balance of the promotions' accounts other than the program's points. */
  accounts?: Record<string, number>;
  /**
   * Account id → the guest's points on a points account other than the program's (one per
   * partner of a coalition, say): lots, activation and expiry as `points`, each account a
   * ledger of its own. Holds are the program's only: `holds` here stays empty. Absent until
   * something is accrued into one.
   */
  pointsAccounts?: Record<string, PointsAccount>;
  /**
   * The guest this one was merged into (engine/guest-merge.ts): its state is empty for
   * good (deposits kept at 0 so their ledgers still name it) and writes for it are refused.
   */
  mergedInto?: string;
}

/**
 * A promotion's use by one guest. Each window is stamped with its key (local day
 * number, ISO week number, year × 12 + month − 1); a count stamped with another key
 * is from a past window and counts as 0.
 */
export interface PromotionWindows {
  day: number;
  week: number;
  month: number;
  usesDay: number;
  usesWeek: number;
  usesMonth: number;
  usesTotal: number;
  unitsDay: number;
  unitsMonth: number;
  accruedDay: number;
  accruedMonth: number;
}

/**
 * What a promotion's budget has given away, in the budget's unit. All shards write
 * it inside their write transactions, and LMDB runs one write transaction at a time
 * across every thread of the environment: a commit reads and raises it with no other
 * commit in between, so a budget is never overspent however many shards commit at
 * once — without a lock or a round trip of our own.
 */
export interface BudgetRecord {
  spent: number;
}

/**
 * One double-entry posting: `amount` (> 0) moves from `debit` to `credit`; both
 * accounts are of one ledger. An account's balance is its credits minus its
 * debits, so the balances of a ledger always sum to zero.
 * - The points ledger: guest accounts `g:<guestId>`; the shard's own `liability`
 *   (points issued), `redemption` (points spent) and `breakage` (points expired).
 * - One money ledger per deposit account `<a>`: guest accounts `g:<guestId>:<a>`;
 *   the shard's own `deposits:<a>` (money taken in advance) and `deposit_paid:<a>`
 *   (money of deposits spent on checks).
 * - One points ledger per points account `<a>` other than the program's: guest accounts
 *   `g:<guestId>:<a>`; the shard's own `liability:<a>`, `redemption:<a>` and
 *   `breakage:<a>`, as the program's ledger has them.
 * - In each ledger, the shard's `transit` (points) or `transit:<a>` (deposit `<a>`):
 *   what a merge moves between the shards of two guests (engine/guest-merge.ts).
 */
export type Posting = [debit: string, credit: string, amount: number];

export const SYSTEM_ACCOUNTS = ['liability', 'redemption', 'breakage'] as const;
export type SystemAccount = (typeof SYSTEM_ACCOUNTS)[number];
export type SystemBalances = Record<SystemAccount, number> & {
  /** The money ledgers' system accounts (`deposits:<a>`, `deposit_paid:<a>`), absent until used. */
  money?: Record<string, number>;
  /**
   * The system accounts of the points ledgers other than the program's (`liability:<a>`,
   * `redemption:<a>`, `breakage:<a>`), absent until used.
   */
  points?: Record<string, number>;
  /**
   * What merges moved through this shard (engine/guest-merge.ts): `transit` in the points
   * ledger, `transit:<a>` in deposit `<a>`'s. A merge credits them in the shard of the guest
   * merged away and debits them in the shard of the guest who stays, so across all shards
   * they sum to what transfers not yet landed hold. Absent until used.
   */
  transit?: Record<string, number>;
};

export const depositAccount = (guestId: string, account: string): string => `g:${guestId}:${account}`;

/** The ledger an account belongs to: `points`, or the deposit account's id. */
export function ledgerOf(account: string): string {
  if (account.startsWith('g:')) {
    const at = account.indexOf(':', 2);
    return at < 0 ? 'points' : account.slice(at + 1);
  }
  const at = account.indexOf(':');
  return at < 0 ? 'points' : account.slice(at + 1);
}

export function systemBalance(store: Store, shard: number, account: SystemAccount): number {
  return store.system.get(shard)?.[account] ?? 0;
}
export const guestAccount = (guestId: string): string => `g:${guestId}`;

/** A journal entry: immutable once written; corrections are new entries that reverse. A refund names its check in `refundOf`. */
export interface TransactionRecord extends Omit<TransactionView, 'original'> {
  guestId: string;
  idempotencyKey: string;
  configVersion: number;
  /** Journal number of the same guest's previous transaction; 0 for none. */
  prevTx: number;
  /** Server time of the entry, epoch ms. */
  at: number;
  postings: Posting[];
  /** A check's lines, as committed (refunds return them). */
  lines?: CheckLine[];
  /** Our promotions' discount on a check, minor units; absent when none. */
  discount?: number;
  /** With a discount: each line's sum after it (a refund returns what was paid, not the list price). */
  lineNets?: number[];
  /** Promotions a check applied: discount (minor units) and points each gave. */
  promotions?: AppliedPromotion[];
  /** What a check spent of promotions' budgets (refunds give it back); absent when none. */
  budgets?: BudgetUse[];
  /**
   * Points of a check's `accrued` from promotions' fixed per-check accruals: refunds take
   * them back only with the return that completes the check (or a cancel); absent when none.
   */
  fixedAccrued?: number;
  /**
   * What a check's promotions put on accounts other than the program's points (their
   * accruals and top-ups, per account, in its unit); on a refund, what it took back
   * (negative) or gave back. Absent when none.
   */
  accountsMoved?: EffectMove[];
  /** What a check's promotions moved each counter by; on a refund, what it moved back. Absent when none. */
  countersMoved?: EffectMove[];
  /**
   * What a check counted in its promotions' per-guest windows (`GuestState.promotions`):
   * one use of each, its units and points; a cancel un-counts them. Absent when none.
   */
  usage?: PromotionUse[];
  /** The local windows a check's `usage` (and its discount, in `discountChecks`) was counted in. */
  windows?: { day: number; week: number; month: number };
  /** Money of a check paid from a deposit, or put on one by a top-up. */
  deposit?: DepositPayment;
  /** Lots a check's spend took, in order (a refund gives them back with their expiry). */
  taken?: Taken[];
  /**
   * The points account other than the program's that a check paid from (its `spent` and
   * `taken` are that account's), or that a refund gave spent points back to; absent: the
   * program's.
   */
  pointsAccount?: string;
  /**
   * What a check's promotions accrued (and topped up) into points accounts other than the
   * program's, per account; on a refund, what it took back (negative), and on an expiry
   * what burnt (negative). Absent when none.
   */
  pointsMoved?: EffectMove[];
  /** The hold a check posted. */
  holdId?: string;
  /** A refund's check. */
  refundOf?: string;
  /** An adjustment's reason and who made it. */
  reason?: string;
  operator?: string;
  /** The transfer of a `merge_out` or `merge_in` entry. */
  mergeId?: string;
}

/** How far a committed check has been returned. Changed only by refunds. */
export interface CheckProgress {
  guestId: string;
  /** Journal number of the check. */
  n: number;
  status: CheckStatus;
  /** Money returned so far, minor units. */
  returned: number;
  /** Units returned so far, per line. */
  returnedQty: number[];
  accrualReversed: number;
  spentRestored: number;
  /** Deposit money given back so far, minor units; absent before any. */
  depositRestored?: number;
  /** Per entry of the check's `budgets`, what refunds gave back to it so far; absent before any. */
  budgetsRestored?: number[];
  /**
   * Per entry of the check's `accountsMoved`, what refunds reversed of it so far (in its
   * sign; what was written off included); absent before any.
   */
  accountsReversed?: number[];
  /**
   * Per entry of the check's `accountsMoved`, what refunds could not take back because the
   * guest had already used it (an account never goes below 0); absent before any.
   */
  accountsWrittenOff?: number[];
  /** Per entry of the check's `countersMoved`, what refunds moved back of it so far (in its sign); absent before any. */
  countersReversed?: number[];
  /** Per entry of the check's `pointsMoved`, what refunds reversed of it so far (written off included); absent before any. */
  pointsReversed?: number[];
  /** Per entry of the check's `pointsMoved`, what refunds let go under `refundDebtPolicy: clamp`; absent before any. */
  pointsWrittenOff?: number[];
}

/**
 * What a committed check moved of one account or counter (`id`) by its promotions:
 * `amount` in all (negative: down), of which `fixed` came from per-check effects
 * (fixed accruals, top-ups, per-check counter increments), which refunds reverse only
 * with the whole check; the rest goes back in proportion to the money returned.
 */
export interface EffectMove {
  id: string;
  amount: number;
  fixed?: number;
  /** A money account's: posted in its ledger (`g:<guestId>:<id>` against `deposits:<id>`), so its refunds are too. */
  money?: true;
}

/** What a committed check counted of one promotion in the guest's windows (besides one use). */
export interface PromotionUse {
  promotion: string;
  units: number;
  points: number;
}

/** What one committed check spent of one promotion's budget, in the budget's unit. */
export interface BudgetUse {
  promotion: string;
  amount: number;
  /** The part of `amount` that fixed per-check accruals spent (a points budget): given back only when the whole check is. */
  fixed?: number;
}

export interface HoldRecord {
  guestId: string;
  amount: number;
  expiresAt: number;
  status: 'open' | 'posted' | 'voided' | 'expired';
  /** The check that posted it. */
  transactionId?: string;
}

/**
 * A merge's transfer (engine/guest-merge.ts), keyed by its id `<from guest>.m1`: written
 * by phase 1 in the shard of the guest merged away, landed by phase 2 in the shard of the
 * guest who stays. While `out` its contents sit on the transit accounts.
 */
export interface MergeRecord {
  mergeId: string;
  /** The guest merged away. */
  from: string;
  /** The guest who stays. */
  into: string;
  status: 'out' | 'done';
  outlet: string;
  idempotencyKey: string;
  /** Points moved: the from guest's balance, negative for a debt. */
  points: number;
  /** The lots the points were made of, with their activation and expiry (none for a debt). */
  lots: Lot[];
  /** Deposit account → money moved (each > 0). */
  deposits: Record<string, number>;
  /** Points account other than the program's → its points (negative for a debt) and lots; absent when none. */
  pointsAccounts?: Record<string, { points: number; lots: Lot[] }>;
  /** Count accounts (no ledger) → value moved. */
  counts: Record<string, number>;
  /** Counter → value moved. */
  counters: Record<string, number>;
  /** The from guest's holds that the merge voided. */
  holdsVoided: string[];
  /** Cards re-pointed to the into guest, in the from guest's binding order. */
  cardsMoved: string[];
  /** The `merge_out` entry; and, once done, the `merge_in` entry. */
  outTx: string;
  inTx?: string;
  /** The into guest's points right after phase 2: what `merge` answers. */
  balance?: number;
  /** Server time of phase 1 and phase 2, epoch ms. */
  at: number;
  doneAt?: number;
}

/** What a merge's key remembers: the body (cards as stored), the guest merged away, the answer. */
export interface MergeKeyRecord {
  card: string;
  from: string;
  /** The guest the `from` card named: its shard answers retries. */
  fromGuestId: string;
  /** The answer; for a transfer its balance is read from the MergeRecord. */
  result: MergeResult;
}

export interface TopUpKeyRecord {
  card: string;
  account: string;
  amount: number;
  result: TopUpResult;
}

export interface AdjustKeyRecord {
  card: string;
  points: number;
  reason: string;
  result: AdjustResult;
}

export interface RefundKeyRecord {
  transactionId: string;
  lines: string;
  amount: number;
  /** A cancellation of the check, not a refund. */
  cancel?: boolean;
  result: RefundResult;
}

/** What a commit's key remembers: the body's fingerprint and the answer. */
export interface IdempotencyRecord {
  card: string;
  time: string;
  currency: string;
  lines: string;
  pointsSpent: number;
  holdId: string;
  /** `<account>:<amount>` of a deposit payment; absent without one. */
  deposit?: string;
  /** The points account named to pay from (`pointsAccount`); absent when the request named none. */
  pointsAccount?: string;
  result: CommitResult;
}

export interface Store {
  root: RootDatabase;
  guests: Database<GuestProfile, string>;
  states: Database<GuestState, string>;
  /** card number → its record (or, as stored before, the guest id); read by the doors' thread to route a request. */
  cards: Database<StoredCard, string>;
  /** The phone's digits (no +) → guest id: one guest per phone. Written in the guest's shard's write transaction. */
  phones: Database<string, string>;
  /** Payment code → what it stands for, until it expires. */
  paymentCodes: Database<PaymentCodeRecord, string>;
  /** [shard, expiresAt, code] → codes to delete once expired (each issue deletes a few). */
  paymentCodeExpiries: Database<null, [number, number, string]>;
  /** [outlet, idempotency key] → record. */
  idempotency: Database<IdempotencyRecord, [string, string]>;
  /**
   * [shard, n] → transaction: each shard's journal, appended in order. Appending
   * keeps a commit's journal write on the last page instead of a random one; a
   * guest's history is the chain of `prevTx` from `GuestRecord.lastTx`.
   */
  transactions: Database<TransactionRecord, [number, number]>;
  /** Counters and the last configuration the engine ran. */
  meta: Database<unknown, string>;
  /** [shard, journal number] of a check → how far it has been returned. */
  checks: Database<CheckProgress, [number, number]>;
  /** holdId → the hold and how it resolved (see `HoldRecords`: they live beside their guest's state). */
  holds: HoldRecords;
  /** [outlet, idempotency key] of a refund → record. */
  refundKeys: Database<RefundKeyRecord, [string, string]>;
  /** [outlet, idempotency key] of an adjustment → record. */
  adjustKeys: Database<AdjustKeyRecord, [string, string]>;
  /** [outlet, idempotency key] of a deposit top-up → record. */
  topUpKeys: Database<TopUpKeyRecord, [string, string]>;
  /** shard → its system accounts' balances: the shard's side of every posting, one record so a commit reads and writes it once. */
  system: Database<SystemBalances, number>;
  /** [shard, expiresAt, guestId] → lots to burn at that time (the expiry sweep's agenda). */
  expiries: Database<null, [number, number, string]>;
  /** Promotion id → what its budget has given away. */
  budgets: Database<BudgetRecord, string>;
  /** mergeId (`<from guest>.m1`) → the transfer. A guest is merged away at most once. */
  merges: Database<MergeRecord, string>;
  /** [outlet, idempotency key] of a merge → record. */
  mergeKeys: Database<MergeKeyRecord, [string, string]>;
  /** [into shard, into guest, mergeId] → transfers still `out`: what that shard must land (at attach, before a guest is merged away, at each sweep). */
  pendingMerges: Database<null, [number, string, string]>;
  close(): Promise<void>;
}

/**
 * Hold records share the `states` B-tree, keyed by the hold id `<guestId>.h<n>`: '.'
 * sorts below every character of a guest id, so a guest's holds sit right after its
 * state, on the same leaf page as a rule. Placing, posting or voiding a hold also
 * rewrites the guest's state, so it dirties that page and no other: one random page
 * per commit instead of two (the holds of one guest are few: at most
 * `holds_per_guest_max` open, and every hold ever placed keeps its record).
 * Guest ids never contain '.', which is how a key tells the two apart (`isGuestKey`).
 * Holds placed before this layout stay in the database `holds` and are read there.
 */
export class HoldRecords {
  constructor(
    private readonly beside: Database<HoldRecord, string>,
    private readonly legacy: Database<HoldRecord, string>,
  ) {}

  get(holdId: string): HoldRecord | undefined {
    return this.beside.get(holdId) ?? this.legacy.get(holdId);
  }

  putSync(holdId: string, record: HoldRecord): void {
    assert.ok(!isGuestKey(holdId), `${holdId} is not a hold id`);
    this.beside.putSync(holdId, record);
    if (this.legacy.get(holdId) !== undefined) this.legacy.removeSync(holdId);
  }

  /** Every hold record, in no particular order. */
  *all(): Iterable<{ key: string; value: HoldRecord }> {
    for (const entry of this.beside.getRange({})) if (!isGuestKey(entry.key)) yield entry;
    yield* this.legacy.getRange({});
  }
}

/** A key of the `states` database that names a guest (not one of its holds). */
export const isGuestKey = (key: string): boolean => !key.includes('.');

/** Every guest's state (the `states` database without the hold records beside them). */
export function* guestStates(store: Store): Iterable<{ key: string; value: GuestState }> {
  for (const entry of store.states.getRange({})) if (isGuestKey(entry.key)) yield entry;
}

export const META_CONFIG = 'config';
export const META_SHARDS = 'shards';
export const metaGuestCounter = (shard: number): string => `guests:${shard}`;

/** Encoder options of every database: plain msgpack maps, not records (see openStore). */
function plainValues(): { encoder: { useRecords: false; mapsAsObjects: true } } {
  return { encoder: { useRecords: false, mapsAsObjects: true } };
}

export function openStore(dataDir: string): Store {
  const path = join(dataDir, 'lmdb');
  mkdirSync(path, { recursive: true });
  // No shared msgpack structures: with lmdb 3.5.6 a transaction that aborts after
  // writing a record of a new shape leaves the encoder ahead of the disk, and later
  // records of that shape cannot be read after a restart (the simulation found it:
  // `npm run sim -- --seed 37 --steps 6 --aborts`). Plain records cost bytes, not safety.
  // Without shared structures a msgpackr record carries its own definition, which the
  // reader parses again for every value: plain maps are as small and decode a quarter
  // faster (1.8 vs 2.5 us for a journal entry), which verify and every read feel.
  // Values written as records before still read.
  const root = open({ path, maxDbs: 32, compression: false, ...plainValues() });
  const store: Store = {
    root,
    guests: root.openDB<GuestProfile, string>({ name: 'guests', ...plainValues() }),
    states: root.openDB<GuestState, string>({ name: 'states', ...plainValues() }),
    cards: root.openDB<StoredCard, string>({ name: 'cards', ...plainValues() }),
    phones: root.openDB<string, string>({ name: 'phones', ...plainValues() }),
    paymentCodes: root.openDB<PaymentCodeRecord, string>({ name: 'payment-codes', ...plainValues() }),
    paymentCodeExpiries: root.openDB<null, [number, number, string]>({ name: 'payment-code-expiries', ...plainValues() }),
    idempotency: root.openDB<IdempotencyRecord, [string, string]>({ name: 'idempotency', ...plainValues() }),
    transactions: root.openDB<TransactionRecord, [number, number]>({ name: 'transactions', ...plainValues() }),
    meta: root.openDB<unknown, string>({ name: 'meta', ...plainValues() }),
    checks: root.openDB<CheckProgress, [number, number]>({ name: 'checks', ...plainValues() }),
    holds: new HoldRecords(
      root.openDB<HoldRecord, string>({ name: 'states', ...plainValues() }),
      root.openDB<HoldRecord, string>({ name: 'holds', ...plainValues() }),
    ),
    refundKeys: root.openDB<RefundKeyRecord, [string, string]>({ name: 'refund-keys', ...plainValues() }),
    adjustKeys: root.openDB<AdjustKeyRecord, [string, string]>({ name: 'adjust-keys', ...plainValues() }),
    topUpKeys: root.openDB<TopUpKeyRecord, [string, string]>({ name: 'top-up-keys', ...plainValues() }),
    system: root.openDB<SystemBalances, number>({ name: 'system', ...plainValues() }),
    expiries: root.openDB<null, [number, number, string]>({ name: 'expiries', ...plainValues() }),
    budgets: root.openDB<BudgetRecord, string>({ name: 'budgets', ...plainValues() }),
    merges: root.openDB<MergeRecord, string>({ name: 'merges', ...plainValues() }),
    mergeKeys: root.openDB<MergeKeyRecord, [string, string]>({ name: 'merge-keys', ...plainValues() }),
    pendingMerges: root.openDB<null, [number, string, string]>({ name: 'pending-merges', ...plainValues() }),
    close: () => root.close(),
  };
  return store;
}

export function loadConfig(store: Store): ConfigSnapshot | undefined {
  const saved = store.meta.get(META_CONFIG) as StoredConfigSnapshot | undefined;
  // Versions remembered before promotions existed have no rules: they run without any.
  return saved === undefined ? undefined : withRules(saved);
}

/** The last journal number of a shard, 0 when empty. */
export function lastJournalNumber(store: Store, shard: number): number {
  for (const key of store.transactions.getKeys({ start: [shard, Number.MAX_SAFE_INTEGER], end: [shard, 0], reverse: true, limit: 1 })) {
    return (key as [number, number])[1];
  }
  return 0;
}

/** A guest id names its shard: "<shard>-<n>". */
export function guestShard(guestId: string): number {
  return parseInt(guestId, 10);
}

/** The journal number inside a transaction id "<guestId>.<n>". */
export function journalNumberOf(transactionId: string): number {
  return Number(transactionId.slice(transactionId.lastIndexOf('.') + 1));
}

/** A guest is merged away at most once: the id of its one transfer (engine/guest-merge.ts). */
export const mergeIdOf = (fromGuestId: string): string => `${fromGuestId}.m1`;

/** The guest a transaction id ("<guestId>.<n>"), hold id ("<guestId>.h<n>") or merge id ("<guestId>.m1") belongs to. */
export function guestOfId(id: string): string {
  return id.slice(0, id.lastIndexOf('.'));
}
