// The audit: re-derives every balance from the journal alone and checks every
// invariant of the ledger over an LMDB data folder. Read-only; one pass over the
// journal, then one over the guests. `npm run verify` prints each difference.

import type { GuestState, Store } from './store.js';
import { SYSTEM_ACCOUNTS, depositAccount, guestShard, guestStates, journalNumberOf, ledgerOf, mergeIdOf } from './store.js';

const isTransit = (name: string): boolean => name === 'transit' || name.startsWith('transit:');
/** A system account of a points ledger other than the program's (`liability:<a>`, `redemption:<a>`, `breakage:<a>`). */
const isOtherPoints = (name: string): boolean => /^(liability|redemption|breakage):./.test(name);

export interface Difference {
  what: string;
  where: string;
  expected?: number | string;
  found?: number | string;
}

export interface VerifyReport {
  entries: number;
  postings: number;
  guests: number;
  differences: Difference[];
}

/** Differences reported at the most; the count of entries checked is still exact. */
const differences_max = 1_000;

function hasPointsAccount(state: GuestState): boolean {
  const p = state.points as Partial<GuestState['points']> | null | undefined;
  return typeof p === 'object' && p !== null && Number.isSafeInteger(p.balance) && Array.isArray(p.lots) && Array.isArray(p.holds);
}

export function verifyStore(store: Store): VerifyReport {
  const differences: Difference[] = [];
  const report = (d: Difference): void => {
    if (differences.length < differences_max) differences.push(d);
  };
  const balances = new Map<string, number>();
  const chainLength = new Map<string, number>();
  let entries = 0;
  let postings = 0;
  let lastKey: [number, number] | undefined;

  for (const { key, value: entry } of store.transactions.getRange({})) {
    const [shard, n] = key as [number, number];
    entries++;
    if (lastKey !== undefined && lastKey[0] === shard && n !== lastKey[1] + 1) {
      report({ what: 'journal numbers are consecutive', where: `shard ${shard}`, expected: lastKey[1] + 1, found: n });
    }
    lastKey = [shard, n];
    if (guestShard(entry.guestId) !== shard) report({ what: "an entry lives in its guest's shard", where: entry.transactionId, expected: shard, found: guestShard(entry.guestId) });
    chainLength.set(entry.guestId, (chainLength.get(entry.guestId) ?? 0) + 1);
    for (const [debit, credit, amount] of entry.postings) {
      postings++;
      if (!Number.isSafeInteger(amount) || amount <= 0) report({ what: 'a posting moves a positive whole amount', where: entry.transactionId, found: amount });
      const d = debit.startsWith('g:') ? debit : `${shard}:${debit}`;
      const c = credit.startsWith('g:') ? credit : `${shard}:${credit}`;
      balances.set(d, (balances.get(d) ?? 0) - amount);
      balances.set(c, (balances.get(c) ?? 0) + amount);
    }
  }

  // Each ledger (the program's points, one per deposit account, one per other points
  // account) sums to zero on its own: their units differ.
  const sums = new Map<string, number>();
  for (const [account, v] of balances) {
    const ledger = ledgerOf(account.startsWith('g:') ? account : account.slice(account.indexOf(':') + 1));
    sums.set(ledger, (sums.get(ledger) ?? 0) + v);
  }
  for (const [ledger, sum] of sums) {
    if (sum !== 0) report({ what: `the ${ledger === 'points' ? 'points' : `account ${ledger}`} ledger sums to zero`, where: 'all accounts', expected: 0, found: sum });
  }

  for (const { key: shard, value } of store.system.getRange({})) {
    for (const account of SYSTEM_ACCOUNTS) {
      const derived = balances.get(`${shard}:${account}`) ?? 0;
      if (derived !== value[account]) report({ what: 'system balance equals its postings', where: `shard ${shard} ${account}`, expected: derived, found: value[account] });
    }
    for (const [account, found] of [...Object.entries(value.money ?? {}), ...Object.entries(value.points ?? {}), ...Object.entries(value.transit ?? {})]) {
      const derived = balances.get(`${shard}:${account}`) ?? 0;
      if (derived !== found) report({ what: 'system balance equals its postings', where: `shard ${shard} ${account}`, expected: derived, found });
    }
  }
  for (const account of balances.keys()) {
    if (account.startsWith('g:')) continue;
    const at = account.indexOf(':');
    const shard = account.slice(0, at);
    const name = account.slice(at + 1);
    const known = SYSTEM_ACCOUNTS.includes(name as (typeof SYSTEM_ACCOUNTS)[number]) || name === 'transit' || /^(deposits|deposit_paid|transit|liability|redemption|breakage):./.test(name);
    if (!known) report({ what: 'postings name known accounts', where: account });
    const stored = store.system.get(Number(shard));
    const kept = isTransit(name) ? stored?.transit : isOtherPoints(name) ? stored?.points : stored?.money;
    if (stored === undefined) report({ what: 'a system account with postings is stored', where: account });
    else if (!SYSTEM_ACCOUNTS.includes(name as (typeof SYSTEM_ACCOUNTS)[number]) && kept?.[name] === undefined) {
      report({ what: 'a system account with postings is stored', where: account });
    }
  }

  verifyMerges(store, balances, report);

  // Every guest deposit (or points account other than the program's) with postings is in its guest's balance.
  for (const key of balances.keys()) {
    const at = key.indexOf(':', 2);
    if (!key.startsWith('g:') || at < 0) continue;
    const guestId = key.slice(2, at);
    const account = key.slice(at + 1);
    const state = store.states.get(guestId);
    if (state?.accounts?.[account] === undefined && state?.pointsAccounts?.[account] === undefined) {
      report({ what: 'an account with postings is in its balance', where: `guest ${guestId} ${account}` });
    }
  }

  let guests = 0;
  const merged = new Set<string>();
  for (const { key: guestId, value: state } of guestStates(store)) {
    guests++;
    const where = `guest ${guestId}`;
    // A record broken on disk is reported, not followed into a crash of the audit.
    if (!hasPointsAccount(state)) {
      report({ what: "a guest's state holds its points account (balance, lots, holds)", where, found: JSON.stringify(state.points ?? null) });
      continue;
    }
    if (state.mergedInto !== undefined) {
      merged.add(guestId);
      verifyMergedAway(store, guestId, state, report);
    }
    const { points } = state;
    verifyPointsAccount(points, balances.get(`g:${guestId}`) ?? 0, where, report);
    verifyOtherPoints(guestId, state, balances, report);
    // Deposits: each equals its postings and stays at or above its floor, 0.
    for (const [account, found] of Object.entries(state.accounts ?? {})) {
      const key = depositAccount(guestId, account);
      if (!balances.has(key)) continue; // a count account: no ledger
      const derived = balances.get(key)!;
      if (derived !== found) report({ what: 'deposit equals its postings', where: `${where} ${account}`, expected: derived, found });
      if (found < 0) report({ what: 'a deposit never goes below 0', where: `${where} ${account}`, found });
    }
    if ((chainLength.get(guestId) ?? 0) !== state.seq) report({ what: "the guest's entries number its transactions", where, expected: state.seq, found: chainLength.get(guestId) ?? 0 });
    for (const hold of points.holds) {
      const rec = store.holds.get(hold.id);
      if (rec?.status !== 'open') report({ what: 'a hold in a balance is open', where: `${where} ${hold.id}`, found: rec?.status ?? 'missing' });
    }
  }

  // Every card names a guest that has not been merged away (a merge re-points them all).
  if (merged.size > 0) {
    for (const { key: card, value } of store.cards.getRange({})) {
      const guestId = typeof value === 'string' ? value : value.guestId;
      if (merged.has(guestId)) report({ what: 'a merged-away guest holds no card', where: `card ${card}`, found: guestId });
    }
    for (const { key: phone, value: guestId } of store.phones.getRange({})) {
      if (merged.has(guestId)) report({ what: 'a merged-away guest holds no phone', where: `phone ${phone}`, found: guestId });
    }
  }

  // Promotion id → what checks spent of its budget less what their refunds gave back.
  const budgetsSpent = new Map<string, number>();
  for (const { key, value: p } of store.checks.getRange({})) {
    const [shard, n] = key as [number, number];
    const transactionId = `${p.guestId}.${n}`;
    const check = store.transactions.get([shard, n]);
    if (check === undefined || check.kind !== 'check') {
      report({ what: 'a check exists for its progress', where: transactionId });
      continue;
    }
    // What the check was worth after our promotions' discount: all a refund can return.
    const paid = check.total - (check.discount ?? 0);
    if (p.returned > paid) report({ what: 'no more returned than committed', where: transactionId, expected: paid, found: p.returned });
    if (p.accrualReversed > check.accrued) report({ what: 'no more accrual reversed than accrued', where: transactionId, expected: check.accrued, found: p.accrualReversed });
    if (p.spentRestored > check.spent) report({ what: 'no more points restored than spent', where: transactionId, expected: check.spent, found: p.spentRestored });
    const moved = check.pointsMoved ?? [];
    for (let i = 0; i < moved.length; i++) {
      const back = p.pointsReversed?.[i] ?? 0;
      if (back > moved[i]!.amount) report({ what: 'no more accrual reversed than accrued', where: `${transactionId} ${moved[i]!.id}`, expected: moved[i]!.amount, found: back });
    }
    const closed = p.status === 'returned' || p.status === 'cancelled';
    if ((closed && p.returned !== paid) || (!closed && p.returned === paid && paid > 0)) {
      report({ what: 'a check is returned exactly when all its money is', where: transactionId, found: `${p.status} ${p.returned}/${paid}` });
    }
    const uses = check.budgets ?? [];
    for (let i = 0; i < uses.length; i++) {
      const u = uses[i]!;
      const back = p.budgetsRestored?.[i] ?? 0;
      if (back > u.amount) report({ what: 'no more given back to a budget than the check spent', where: `${transactionId} ${u.promotion}`, expected: u.amount, found: back });
      budgetsSpent.set(u.promotion, (budgetsSpent.get(u.promotion) ?? 0) + u.amount - back);
    }
  }
  verifyBudgets(store, budgetsSpent, report);

  for (const { value } of store.idempotency.getRange({})) {
    const id = value.result.transactionId;
    if (value.result.outcome === 'ok' && store.checks.get([guestShard(id), journalNumberOf(id)]) === undefined) {
      report({ what: 'an acknowledged commit has its check', where: value.result.transactionId });
    }
  }

  return { entries, postings, guests, differences };
}

/**
 * Every promotion's budget record holds what the checks spent of it less what their
 * refunds gave back (journal entries' `budgets`, check progress's `budgetsRestored`),
 * and a budget some check spent has its record.
 */
function verifyBudgets(store: Store, spent: ReadonlyMap<string, number>, report: (d: Difference) => void): void {
  for (const { key: promotion, value } of store.budgets.getRange({})) {
    const derived = spent.get(promotion) ?? 0;
    if (value.spent !== derived) report({ what: "a budget's spent equals what its checks spent less what refunds gave back", where: `promotion ${promotion}`, expected: derived, found: value.spent });
  }
  for (const [promotion, derived] of spent) {
    if (!store.budgets.doesExist(promotion)) report({ what: "a budget's spent equals what its checks spent less what refunds gave back", where: `promotion ${promotion}`, expected: derived, found: 'missing' });
  }
}

/**
 * Merges (guest-merge.ts): the transit accounts of all shards together hold, ledger by
 * ledger, exactly what transfers still `out` hold, and only those are pending.
 */
function verifyMerges(store: Store, balances: Map<string, number>, report: (d: Difference) => void): void {
  const inTransit = new Map<string, number>();
  const add = (ledger: string, v: number): void => void inTransit.set(ledger, (inTransit.get(ledger) ?? 0) + v);
  for (const { key: mergeId, value: m } of store.merges.getRange({})) {
    const where = `merge ${mergeId}`;
    if (mergeId !== mergeIdOf(m.from)) report({ what: 'a transfer is named after its guest', where, found: m.from });
    const pending = store.pendingMerges.doesExist([guestShard(m.into), m.into, mergeId]);
    if (pending !== (m.status === 'out')) report({ what: 'exactly the transfers still out are pending', where, found: `${m.status}, ${pending ? '' : 'not '}pending` });
    if (store.states.get(m.from)?.mergedInto !== m.into) report({ what: 'a merged-away guest names its transfer', where, expected: m.into, found: store.states.get(m.from)?.mergedInto ?? 'none' });
    const lots = m.lots.reduce((sum, l) => sum + l.remaining, 0);
    if (m.points >= 0 ? lots !== m.points : m.lots.length > 0) report({ what: "a transfer's lots add up to its points", where, expected: m.points, found: lots });
    for (const [account, moved] of Object.entries(m.pointsAccounts ?? {})) {
      const sum = moved.lots.reduce((s, l) => s + l.remaining, 0);
      if (moved.points >= 0 ? sum !== moved.points : moved.lots.length > 0) report({ what: "a transfer's lots add up to its points", where: `${where} ${account}`, expected: moved.points, found: sum });
    }
    if (m.status !== 'out') continue;
    add('points', m.points);
    for (const [account, amount] of Object.entries(m.deposits)) add(account, amount);
    for (const [account, moved] of Object.entries(m.pointsAccounts ?? {})) add(account, moved.points);
  }
  for (const [account, v] of balances) {
    if (account.startsWith('g:')) continue;
    const name = account.slice(account.indexOf(':') + 1);
    if (isTransit(name)) add(ledgerOf(name), -v);
  }
  for (const [ledger, left] of inTransit) {
    if (left !== 0) report({ what: 'transit accounts hold what pending transfers hold', where: ledger === 'points' ? 'points' : `account ${ledger}`, expected: 0, found: left });
  }
  for (const key of store.pendingMerges.getKeys({})) {
    const [, , mergeId] = key as [number, string, string];
    if (store.merges.get(mergeId)?.status !== 'out') report({ what: 'a pending transfer is out', where: `merge ${mergeId}` });
  }
}

/** A guest merged away keeps its journal and nothing else: no points, lots, holds, deposit money or counters. */
function verifyMergedAway(store: Store, guestId: string, state: GuestState, report: (d: Difference) => void): void {
  const where = `guest ${guestId}`;
  const { points } = state;
  if (points.balance !== 0 || points.lots.length > 0 || points.holds.length > 0) {
    report({ what: 'a merged-away guest has no points', where, found: `${points.balance} in ${points.lots.length} lots, ${points.holds.length} holds` });
  }
  for (const [account, v] of Object.entries(state.accounts ?? {})) if (v !== 0) report({ what: 'a merged-away guest has no deposit money', where: `${where} ${account}`, found: v });
  if (Object.keys(state.counters ?? {}).length > 0) report({ what: 'a merged-away guest has no counters', where });
  for (const [account, acc] of Object.entries(state.pointsAccounts ?? {})) {
    if (acc.balance !== 0 || acc.lots.length > 0) report({ what: 'a merged-away guest has no points', where: `${where} ${account}`, found: `${acc.balance} in ${acc.lots.length} lots` });
  }
  if (store.merges.get(mergeIdOf(guestId))?.into !== state.mergedInto) report({ what: 'a merged-away guest has its transfer', where, expected: state.mergedInto });
}

/** A points account (the program's or another): its balance equals its postings (`derived`), its lots hold points and add up to it, and a debt has none. */
function verifyPointsAccount(acc: GuestState['points'], derived: number, where: string, report: (d: Difference) => void): void {
  if (derived !== acc.balance) report({ what: 'balance equals its postings', where, expected: derived, found: acc.balance });
  let lots = 0;
  for (const lot of acc.lots) {
    lots += lot.remaining;
    if (!(lot.remaining > 0)) report({ what: 'every lot holds points', where, found: lot.remaining });
  }
  if (acc.balance >= 0 && lots !== acc.balance) report({ what: 'lots add up to the balance', where, expected: acc.balance, found: lots });
  if (acc.balance < 0 && acc.lots.length > 0) report({ what: 'a debt leaves no lots', where, found: acc.lots.length });
}

/**
 * A guest's points accounts other than the program's, as the program's is checked: each
 * balance equals its postings, its lots hold points and add up to it (a debt has none),
 * and it holds no holds (holds are the program's only).
 */
function verifyOtherPoints(guestId: string, state: GuestState, balances: Map<string, number>, report: (d: Difference) => void): void {
  for (const [account, acc] of Object.entries(state.pointsAccounts ?? {})) {
    const where = `guest ${guestId} ${account}`;
    verifyPointsAccount(acc, balances.get(depositAccount(guestId, account)) ?? 0, where, report);
    if (acc.holds.length > 0) report({ what: "holds are the program's only", where, found: acc.holds.length });
    if (state.accounts?.[account] !== undefined) report({ what: 'an account is points or money, not both', where });
  }
}
