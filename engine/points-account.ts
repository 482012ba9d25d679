// A guest's points account: its balance, the lots the balance is made of, and the
// holds placed on it. Pure functions of (account, amounts, time) returning a new
// account and what moved; the actor turns what moved into postings and writes.
//
// Invariants (checked by `npm run verify` and the simulation after every step):
//   - balance = Σ lot.remaining when balance ≥ 0; a negative balance (a debt left
//     by a refund of points already spent) has no lots, and new points pay it first;
//   - every lot.remaining > 0;
//   - Σ live holds ≤ available.
// Lots are kept in spending order: earliest expiry first, "never" last, then by
// the journal number of the accrual that made them.

import assert from 'node:assert';

/** Lots one account may hold; beyond it the two latest-expiring lots are merged. */
export const lots_per_account_max = 256;
/** Open holds per guest. */
export const holds_per_guest_max = 16;

export interface Lot {
  /** Journal number of the transaction that made the lot (accrual or restore). */
  n: number;
  remaining: number;
  /** Epoch ms from which the points may be spent; 0 = at once. */
  activatesAt: number;
  /** Epoch ms at which what remains burns; 0 = never. */
  expiresAt: number;
}

export interface Hold {
  id: string;
  amount: number;
  expiresAt: number;
}

export interface PointsAccount {
  balance: number;
  lots: Lot[];
  holds: Hold[];
}

/** Points taken from one lot, remembered so that a refund restores them with their expiry. */
export interface Taken {
  n: number;
  amount: number;
  activatesAt: number;
  expiresAt: number;
}

export const emptyAccount = (): PointsAccount => ({ balance: 0, lots: [], holds: [] });

const live = (expiresAt: number, now: number): boolean => expiresAt === 0 || expiresAt > now;

function spendOrder(a: Lot, b: Lot): number {
  const ea = a.expiresAt === 0 ? Number.MAX_SAFE_INTEGER : a.expiresAt;
  const eb = b.expiresAt === 0 ? Number.MAX_SAFE_INTEGER : b.expiresAt;
  return ea - eb || a.activatesAt - b.activatesAt || a.n - b.n;
}

export interface BalanceView {
  balance: number;
  available: number;
  pending: number;
  held: number;
  expiring: number;
}

/** What the guest may spend now and what is pending, held and soon expiring (within `horizonMs`). */
export function view(acc: PointsAccount, now: number, horizonMs: number): BalanceView {
  let active = 0;
  let pending = 0;
  let expiring = 0;
  for (const lot of acc.lots) {
    if (!live(lot.expiresAt, now)) continue; // burns at the next sweep
    if (lot.activatesAt > now) pending += lot.remaining;
    else {
      active += lot.remaining;
      if (lot.expiresAt !== 0 && lot.expiresAt <= now + horizonMs) expiring += lot.remaining;
    }
  }
  let held = 0;
  for (const h of acc.holds) if (h.expiresAt > now) held += h.amount;
  return { balance: acc.balance, available: Math.max(0, active - held), pending, held, expiring };
}

export function availableOf(acc: PointsAccount, now: number): number {
  return view(acc, now, 0).available;
}

/** Burns what remains of lots expired by `now`: the amount goes to breakage. */
export function expire(acc: PointsAccount, now: number): { acc: PointsAccount; burned: number; lots: Taken[] } {
  let burned = 0;
  const gone: Taken[] = [];
  const lots: Lot[] = [];
  for (const lot of acc.lots) {
    if (live(lot.expiresAt, now)) lots.push(lot);
    else {
      burned += lot.remaining;
      gone.push({ n: lot.n, amount: lot.remaining, activatesAt: lot.activatesAt, expiresAt: lot.expiresAt });
    }
  }
  if (burned === 0) return { acc, burned, lots: gone };
  return { acc: { ...acc, balance: acc.balance - burned, lots }, burned, lots: gone };
}

/** Drops holds whose time ran out; they resolve as expired. */
export function dropExpiredHolds(acc: PointsAccount, now: number): { acc: PointsAccount; expired: Hold[] } {
  const expired = acc.holds.filter((h) => h.expiresAt <= now);
  if (expired.length === 0) return { acc, expired };
  return { acc: { ...acc, holds: acc.holds.filter((h) => h.expiresAt > now) }, expired };
}

/** Adds points as a lot; a debt is paid first. */
export function credit(acc: PointsAccount, amount: number, lot: Omit<Lot, 'remaining'>): PointsAccount {
  assert.ok(Number.isSafeInteger(amount) && amount >= 0, 'credit amounts are non-negative integers');
  if (amount === 0) return acc;
  const debt = acc.balance < 0 ? Math.min(-acc.balance, amount) : 0;
  const remaining = amount - debt;
  let lots = acc.lots;
  if (remaining > 0) {
    // Points that activate and expire together are one lot, whatever check made
    // them: a guest's lots stay as few as the days they were earned on.
    const existing = lots.findIndex((l) => l.expiresAt === lot.expiresAt && l.activatesAt === lot.activatesAt);
    if (existing >= 0) {
      lots = lots.map((l, i) => (i === existing ? { ...l, remaining: l.remaining + remaining } : l));
    } else {
      lots = [...lots, { ...lot, remaining }].sort(spendOrder);
      if (lots.length > lots_per_account_max) lots = mergeLatest(lots);
    }
  }
  return { ...acc, balance: acc.balance + amount, lots };
}

/** Keeps the lot count bounded: the two latest-expiring lots become one, taking the earlier expiry (never later than promised). */
function mergeLatest(lots: Lot[]): Lot[] {
  const a = lots[lots.length - 2]!;
  const b = lots[lots.length - 1]!;
  const merged: Lot = {
    n: Math.min(a.n, b.n),
    remaining: a.remaining + b.remaining,
    activatesAt: Math.max(a.activatesAt, b.activatesAt),
    expiresAt: a.expiresAt === 0 ? b.expiresAt : b.expiresAt === 0 ? a.expiresAt : Math.min(a.expiresAt, b.expiresAt),
  };
  return [...lots.slice(0, -2), merged].sort(spendOrder);
}

/**
 * Spends `amount` from active lots, earliest expiry first. `ownHold` is the hold
 * this spend posts: its amount counts as available to it. Undefined when the
 * available points do not cover the amount.
 */
export function spend(acc: PointsAccount, amount: number, now: number, ownHold?: Hold): { acc: PointsAccount; taken: Taken[] } | undefined {
  assert.ok(Number.isSafeInteger(amount) && amount >= 0, 'spend amounts are non-negative integers');
  const holds = ownHold === undefined ? acc.holds : acc.holds.filter((h) => h.id !== ownHold.id);
  if (amount === 0) return { acc: { ...acc, holds }, taken: [] };
  if (availableOf({ ...acc, holds }, now) < amount) return undefined;
  let left = amount;
  const taken: Taken[] = [];
  const lots: Lot[] = [];
  for (const lot of acc.lots) {
    if (left > 0 && lot.activatesAt <= now && live(lot.expiresAt, now)) {
      const take = Math.min(left, lot.remaining);
      left -= take;
      taken.push({ n: lot.n, amount: take, activatesAt: lot.activatesAt, expiresAt: lot.expiresAt });
      if (lot.remaining > take) lots.push({ ...lot, remaining: lot.remaining - take });
    } else {
      lots.push(lot);
    }
  }
  assert.equal(left, 0, 'available points cover the spend');
  return { acc: { balance: acc.balance - amount, lots, holds }, taken };
}

/**
 * Takes back `amount` points a refund reverses: from lot `preferN` first (the
 * accrual being reversed), then from any lot earliest expiry first, pending ones
 * included. What no lot covers is a debt (`negative`) or is let go and reported
 * (`clamp`).
 */
export function takeBack(
  acc: PointsAccount,
  amount: number,
  preferN: number,
  policy: 'negative' | 'clamp',
): { acc: PointsAccount; taken: number; short: number } {
  assert.ok(Number.isSafeInteger(amount) && amount >= 0, 'amounts are non-negative integers');
  let left = amount;
  let lots = acc.lots.map((l) => ({ ...l }));
  const order = [...lots.filter((l) => l.n === preferN), ...lots.filter((l) => l.n !== preferN)];
  for (const lot of order) {
    if (left === 0) break;
    const take = Math.min(left, lot.remaining);
    lot.remaining -= take;
    left -= take;
  }
  lots = lots.filter((l) => l.remaining > 0);
  const covered = amount - left;
  const taken = policy === 'negative' ? amount : covered;
  return { acc: { ...acc, balance: acc.balance - taken, lots }, taken, short: left };
}

export function addHold(acc: PointsAccount, hold: Hold): PointsAccount {
  return { ...acc, holds: [...acc.holds, hold] };
}

export function removeHold(acc: PointsAccount, holdId: string): PointsAccount {
  return { ...acc, holds: acc.holds.filter((h) => h.id !== holdId) };
}
