// The audit: re-derives every balance from the journal alone and checks every
// invariant of the ledger over an LMDB data folder. Read-only; one pass over the
// journal, then one over the guests. `npm run verify` prints each difference.

import type { Store } from './store.js';
import { SYSTEM_ACCOUNTS, guestShard, journalNumberOf } from './store.js';

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

  let sum = 0;
  for (const v of balances.values()) sum += v;
  if (sum !== 0) report({ what: 'the points ledger sums to zero', where: 'all accounts', expected: 0, found: sum });

  for (const { key: shard, value } of store.system.getRange({})) {
    for (const account of SYSTEM_ACCOUNTS) {
      const derived = balances.get(`${shard}:${account}`) ?? 0;
      if (derived !== value[account]) report({ what: 'system balance equals its postings', where: `shard ${shard} ${account}`, expected: derived, found: value[account] });
    }
  }
  for (const account of balances.keys()) {
    if (account.startsWith('g:')) continue;
    const [shard, name] = account.split(':') as [string, string];
    if (!SYSTEM_ACCOUNTS.includes(name as (typeof SYSTEM_ACCOUNTS)[number])) report({ what: 'postings name known accounts', where: account });
    if (store.system.get(Number(shard)) === undefined) report({ what: 'a system account with postings is stored', where: account });
  }

  let guests = 0;
  for (const { key: guestId, value: state } of store.states.getRange({})) {
    guests++;
    const where = `guest ${guestId}`;
    const derived = balances.get(`g:${guestId}`) ?? 0;
    const { points } = state;
    if (derived !== points.balance) report({ what: 'balance equals its postings', where, expected: derived, found: points.balance });
    let lots = 0;
    for (const lot of points.lots) {
      lots += lot.remaining;
      if (!(lot.remaining > 0)) report({ what: 'every lot holds points', where, found: lot.remaining });
    }
    if (points.balance >= 0 && lots !== points.balance) report({ what: 'lots add up to the balance', where, expected: points.balance, found: lots });
    if (points.balance < 0 && points.lots.length > 0) report({ what: 'a debt leaves no lots', where, found: points.lots.length });
    if ((chainLength.get(guestId) ?? 0) !== state.seq) report({ what: "the guest's entries number its transactions", where, expected: state.seq, found: chainLength.get(guestId) ?? 0 });
    for (const hold of points.holds) {
      const rec = store.holds.get(hold.id);
      if (rec?.status !== 'open') report({ what: 'a hold in a balance is open', where: `${where} ${hold.id}`, found: rec?.status ?? 'missing' });
    }
  }

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
    if ((p.status === 'returned' && p.returned !== paid) || (p.status !== 'returned' && p.returned === paid && paid > 0)) {
      report({ what: 'a check is returned exactly when all its money is', where: transactionId, found: `${p.status} ${p.returned}/${paid}` });
    }
  }

  for (const { value } of store.idempotency.getRange({})) {
    const id = value.result.transactionId;
    if (value.result.outcome === 'ok' && store.checks.get([guestShard(id), journalNumberOf(id)]) === undefined) {
      report({ what: 'an acknowledged commit has its check', where: value.result.transactionId });
    }
  }

  return { entries, postings, guests, differences };
}
