// The LMDB layout. One environment holds every shard's guests: each shard is
// written by one thread, but a commit's idempotency record, the guest's balance and
// the card index must change in one transaction, and one check's idempotency key
// must be unique across all shards. LMDB serializes write transactions across
// threads, so checking and writing inside one transaction is exact; measured, one
// shared environment writes at 96% of the rate of one environment per shard.

import { open, type Database, type RootDatabase } from 'lmdb';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { withRules, type ConfigSnapshot, type StoredConfigSnapshot } from '../protocol/config.js';
import type { AdjustResult, AppliedPromotion, CheckLine, CheckStatus, CommitResult, RefundResult, TransactionView } from '../protocol/types.js';
import type { PointsAccount, Taken } from './points-account.js';

/** Who a guest is: written at registration and by profile changes, read to identify. */
export interface GuestProfile {
  id: string;
  name: string;
  phone: string;
  cards: string[];
  createdAt: string;
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
 * accounts are of the points ledger. An account's balance is its credits minus
 * its debits, so the balances of a ledger always sum to zero. Guest accounts are
 * `g:<guestId>`; the shard's own are `liability` (points issued), `redemption`
 * (points spent) and `breakage` (points expired).
 */
export type Posting = [debit: string, credit: string, amount: number];

export const SYSTEM_ACCOUNTS = ['liability', 'redemption', 'breakage'] as const;
export type SystemAccount = (typeof SYSTEM_ACCOUNTS)[number];
export type SystemBalances = Record<SystemAccount, number>;

export function systemBalance(store: Store, shard: number, account: SystemAccount): number {
  return store.system.get(shard)?.[account] ?? 0;
}
export const guestAccount = (guestId: string): string => `g:${guestId}`;

/** A journal entry: immutable once written; corrections are new entries that reverse. */
export interface TransactionRecord extends TransactionView {
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
  /** Lots a check's spend took, in order (a refund gives them back with their expiry). */
  taken?: Taken[];
  /** The hold a check posted. */
  holdId?: string;
  /** A refund's check. */
  refundOf?: string;
  /** An adjustment's reason and who made it. */
  reason?: string;
  operator?: string;
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
}

export interface HoldRecord {
  guestId: string;
  amount: number;
  expiresAt: number;
  status: 'open' | 'posted' | 'voided' | 'expired';
  /** The check that posted it. */
  transactionId?: string;
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
  result: CommitResult;
}

export interface Store {
  root: RootDatabase;
  guests: Database<GuestProfile, string>;
  states: Database<GuestState, string>;
  /** card number → guest id; read by the doors' thread to route a request. */
  cards: Database<string, string>;
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
  /** holdId → the hold and how it resolved. */
  holds: Database<HoldRecord, string>;
  /** [outlet, idempotency key] of a refund → record. */
  refundKeys: Database<RefundKeyRecord, [string, string]>;
  /** [outlet, idempotency key] of an adjustment → record. */
  adjustKeys: Database<AdjustKeyRecord, [string, string]>;
  /** shard → its system accounts' balances: the shard's side of every posting, one record so a commit reads and writes it once. */
  system: Database<SystemBalances, number>;
  /** [shard, expiresAt, guestId] → lots to burn at that time (the expiry sweep's agenda). */
  expiries: Database<null, [number, number, string]>;
  /** Promotion id → what its budget has given away. */
  budgets: Database<BudgetRecord, string>;
  close(): Promise<void>;
}

export const META_CONFIG = 'config';
export const META_SHARDS = 'shards';
export const metaGuestCounter = (shard: number): string => `guests:${shard}`;

export function openStore(dataDir: string): Store {
  const path = join(dataDir, 'lmdb');
  mkdirSync(path, { recursive: true });
  const root = open({ path, maxDbs: 16, compression: false });
  // No shared msgpack structures: with lmdb 3.5.6 a transaction that aborts after
  // writing a record of a new shape leaves the encoder ahead of the disk, and later
  // records of that shape cannot be read after a restart (the simulation found it:
  // `npm run sim -- --seed 37 --steps 6 --aborts`). Plain records cost bytes, not safety.
  const store: Store = {
    root,
    guests: root.openDB<GuestProfile, string>({ name: 'guests' }),
    states: root.openDB<GuestState, string>({ name: 'states' }),
    cards: root.openDB<string, string>({ name: 'cards' }),
    idempotency: root.openDB<IdempotencyRecord, [string, string]>({ name: 'idempotency' }),
    transactions: root.openDB<TransactionRecord, [number, number]>({ name: 'transactions' }),
    meta: root.openDB<unknown, string>({ name: 'meta' }),
    checks: root.openDB<CheckProgress, [number, number]>({ name: 'checks' }),
    holds: root.openDB<HoldRecord, string>({ name: 'holds' }),
    refundKeys: root.openDB<RefundKeyRecord, [string, string]>({ name: 'refund-keys' }),
    adjustKeys: root.openDB<AdjustKeyRecord, [string, string]>({ name: 'adjust-keys' }),
    system: root.openDB<SystemBalances, number>({ name: 'system' }),
    expiries: root.openDB<null, [number, number, string]>({ name: 'expiries' }),
    budgets: root.openDB<BudgetRecord, string>({ name: 'budgets' }),
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

/** The guest a transaction id ("<guestId>.<n>") or hold id ("<guestId>.h<n>") belongs to. */
export function guestOfId(id: string): string {
  return id.slice(0, id.lastIndexOf('.'));
}
