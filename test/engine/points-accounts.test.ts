// Several points accounts of one type (one per partner of a coalition) with exact numbers,
// on one shard's actor over real LMDB files and a clock the test moves. Program: accrue 5%
// of the money paid, pay at most 50% with points, 1 point = 1.00, lots live 1 month.
// Partner A's points are worth 0.50 each, partner B's 1.00. Money in kopecks, points in
// hundredths. After every test verify.ts finds the journal explaining every balance and
// every ledger (the program's and each partner's) summing to zero.

import { afterEach, describe, expect, it } from 'vitest';
import { validateRules } from '../../dist/engine/rules/validate.js';
import type { CheckProgress, GuestState } from '../../dist/engine/store.js';
import type { ConvertedCommitRequest } from '../../dist/engine/currency-rates.js';
import { type Ledger, OUTLET, line, openLedger } from '../helpers/ledger.js';

const DAY = 86_400_000;

/**
 * Partner A accrues 5% of every check (its points at 0.50: 5% of 200.00 = 10.00 = 20
 * points), and 10 points per cake that activate in 2 days and live 10 more; partner B
 * gives 3 points per check (fixed) and tops up 2 more. `wallet` is a deposit.
 */
function rules() {
  const checked = validateRules({
    settings: { baseAccrualOnPromotionalLines: true },
    accounts: [
      { id: 'bonus', unit: 'points', pointValueMinor: 100 },
      { id: 'partnerA', unit: 'points', pointValueMinor: 50 },
      { id: 'partnerB', unit: 'points', pointValueMinor: 100 },
      { id: 'wallet', unit: 'money' },
    ],
    promotions: [
      { id: 'a5', name: 'Partner A: 5%', status: 'active', effects: [{ kind: 'accrual', account: 'partnerA', percentBp: 500 }] },
      { id: 'a-cake', name: 'Partner A: 10 per cake, in 2 days', status: 'active', effects: [{ kind: 'accrual', account: 'partnerA', match: { categories: ['cake'] }, perUnit: 1_000, delayDays: 2, expiryDays: 10 }] },
      { id: 'b3', name: 'Partner B: 3 per check, 2 more', status: 'active', effects: [{ kind: 'accrual', account: 'partnerB', fixed: 300 }, { kind: 'top_up', account: 'partnerB', amount: 200 }] },
    ],
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return checked.config;
}

let opened: ReturnType<typeof openLedger> | undefined;
afterEach(async () => {
  const l = opened!.ledger;
  expect(l.differences()).toEqual([]);
  await opened!.close();
});

let keys = 0;
function open(program: Record<string, unknown> = {}): Ledger {
  opened = openLedger({ expiryMonths: 1, ...program });
  const l = opened.ledger;
  l.actor.setConfig({ ...l.actor.currentConfig, rules: rules() });
  return l;
}

/** A commit as the door hands it over, with the fields of this feature. */
function commit(l: Ledger, guestId: string, lines: ReturnType<typeof line>[], extra: Partial<ConvertedCommitRequest> = {}) {
  const req: ConvertedCommitRequest = {
    outlet: OUTLET, idempotencyKey: `pk${++keys}`, time: new Date(l.now).toISOString(), currency: 'RUB', card: `card-of-${guestId}`, lines, pointsSpent: 0, ...extra,
  };
  return l.tx(() => l.actor.commitInTransaction(guestId, req));
}

const coffee = (price = 20_000) => ({ itemCode: 'LATTE', category: 'coffee', quantity: 1, unitPrice: price });
const cake = { itemCode: 'CAKE', category: 'cake', quantity: 1, unitPrice: 10_000 };
const state = (l: Ledger, g: string): GuestState => l.store.states.get(g)!;
const partner = (l: Ledger, g: string, account: string) => l.balance(g).accounts.find((a) => a.account === account);
const systemPoints = (l: Ledger, account: string): number => l.store.system.get(0)?.points?.[account] ?? 0;

describe('accruals into other points accounts', () => {
  it('land as lots on each account, in its own ledger, and show in the balance', () => {
    const l = open();
    const g = l.register('P1');
    const c = commit(l, g, [coffee()]);
    // The program's 5% of 200.00 = 10 points; partner A 5% = 10.00 at 0.50 = 20 points; partner B 3 + 2.
    expect(c).toMatchObject({ outcome: 'ok', accrued: 1_000, balance: 1_000 });
    expect(partner(l, g, 'partnerA')).toEqual({ account: 'partnerA', unit: 'points', balance: 2_000, available: 2_000, pending: 0, expiring: 0 });
    expect(partner(l, g, 'partnerB')).toEqual({ account: 'partnerB', unit: 'points', balance: 500, available: 500, pending: 0, expiring: 0 });
    // The program's points are untouched by the partners'.
    expect(l.balance(g)).toMatchObject({ balance: 1_000, available: 1_000 });
    const entry = l.store.transactions.get([0, journalOf(c.transactionId)])!;
    expect(entry.postings).toEqual([
      ['liability', `g:${g}`, 1_000],
      ['liability:partnerA', `g:${g}:partnerA`, 2_000],
      ['liability:partnerB', `g:${g}:partnerB`, 500],
    ]);
    expect(entry.pointsMoved).toEqual([{ id: 'partnerA', amount: 2_000 }, { id: 'partnerB', amount: 500, fixed: 500 }]);
    expect(systemPoints(l, 'liability:partnerA')).toBe(-2_000);
    expect(systemPoints(l, 'liability:partnerB')).toBe(-500);
    // Points accrued on one day form one lot per account, whatever check made them.
    commit(l, g, [coffee(10_000)]);
    expect(state(l, g).pointsAccounts!.partnerA!.lots).toHaveLength(1);
    expect(partner(l, g, 'partnerA')!.balance).toBe(3_000);
  });

  it('keep the accrual\'s own activation delay and life, and burn at expiry exactly once', () => {
    const l = open();
    const g = l.register('P2');
    commit(l, g, [cake]);
    // 5% of 100.00 = 5.00 = 10 points, active at once; 10 points per cake pending for 2 days.
    expect(partner(l, g, 'partnerA')).toMatchObject({ balance: 2_000, available: 1_000, pending: 1_000 });
    l.now += 2 * DAY;
    expect(partner(l, g, 'partnerA')).toMatchObject({ available: 2_000, pending: 0, expiring: 2_000 });
    // The cake's lot expires at local midnight 2 + 10 days after the check: 2026-01-27.
    l.now = Date.parse('2026-01-27T00:00:00+03:00');
    expect(l.sweep()).toBe(1);
    expect(partner(l, g, 'partnerA')).toMatchObject({ balance: 1_000, available: 1_000 });
    expect(systemPoints(l, 'breakage:partnerA')).toBe(1_000);
    // The rest lives as the program's points do: a month, to 2026-02-15.
    l.now = Date.parse('2026-02-15T00:00:00+03:00');
    expect(l.sweep()).toBe(1);
    expect(l.sweep()).toBe(0);
    expect(partner(l, g, 'partnerA')).toMatchObject({ balance: 0, available: 0 });
    expect(partner(l, g, 'partnerB')).toMatchObject({ balance: 0 });
    expect(l.balance(g).balance).toBe(0);
    expect(systemPoints(l, 'breakage:partnerA')).toBe(2_000);
    expect(systemPoints(l, 'breakage:partnerB')).toBe(500);
    const expiry = [...l.store.transactions.getRange({})].map((e) => e.value).filter((e) => e.kind === 'expiry');
    expect(expiry.map((e) => e.pointsMoved)).toEqual([[{ id: 'partnerA', amount: -1_000 }], [{ id: 'partnerA', amount: -1_000 }, { id: 'partnerB', amount: -500 }]]);
  });
});

describe('promotions reading other points accounts', () => {
  it('see their balance in balance conditions, as the program\'s', () => {
    const l = open();
    const config = rules();
    const gold = { id: 'a-holders', name: 'Partner A holders: 100.00 off', status: 'active' as const, effects: [{ kind: 'discount', target: 'check', amount: 10_000 }], condition: { kind: 'balance', accounts: ['partnerA'], min: 2_000 } };
    const checked = validateRules({ accounts: config.accounts, promotions: [...config.promotions, gold] });
    if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
    l.actor.setConfig({ ...l.actor.currentConfig, rules: checked.config });
    const g = l.register('P9');
    // No partner A points yet: no discount; the check accrues 20 of them.
    expect(commit(l, g, [coffee()])).toMatchObject({ outcome: 'ok', discount: 0 });
    expect(partner(l, g, 'partnerA')!.balance).toBe(2_000);
    // Now the guest holds 2,000: the next check gets 100.00 off.
    expect(commit(l, g, [coffee()])).toMatchObject({ outcome: 'ok', discount: 10_000 });
  });
});

describe('refunds of accruals into other points accounts', () => {
  it('reverse in proportion; the fixed per-check ones (and top-ups) only with the whole check', () => {
    const l = open();
    const g = l.register('P3');
    const c = commit(l, g, [coffee(), coffee()]);
    expect(partner(l, g, 'partnerA')!.balance).toBe(4_000);
    // A quarter of the money: partner A 1,000 back, partner B keeps its fixed 500.
    const quarter = l.refund(g, c.transactionId, { amount: 10_000, key: 'quarter' });
    // Partner B's fixed accrual is not moved by a partial return: only partner A is answered.
    expect(quarter).toMatchObject({ outcome: 'ok', returned: 10_000, accrualReversed: 500, pointsReversed: [{ account: 'partnerA', reversed: 1_000, writtenOff: 0 }] });
    expect(partner(l, g, 'partnerA')!.balance).toBe(3_000);
    expect(partner(l, g, 'partnerB')!.balance).toBe(500);
    expect(l.store.checks.get([0, journalOf(c.transactionId)])).toMatchObject({ pointsReversed: [1_000, 0], pointsWrittenOff: [0, 0] });
    // The rest: exactly what is left of each.
    const rest = l.refund(g, c.transactionId, { key: 'rest' });
    expect(rest).toMatchObject({
      outcome: 'ok', checkStatus: 'returned',
      pointsReversed: [{ account: 'partnerA', reversed: 3_000, writtenOff: 0 }, { account: 'partnerB', reversed: 500, writtenOff: 0 }],
    });
    expect(partner(l, g, 'partnerA')!.balance).toBe(0);
    expect(partner(l, g, 'partnerB')!.balance).toBe(0);
    expect(l.balance(g).balance).toBe(0);
    // Retries answer what the first refund did, the accounts' figures included, and move nothing.
    expect(l.refund(g, c.transactionId, { amount: 10_000, key: 'quarter' })).toEqual({ ...quarter, outcome: 'exists' });
    expect(l.refund(g, c.transactionId, { key: 'rest' })).toEqual({ ...rest, outcome: 'exists' });
    expect(partner(l, g, 'partnerA')!.balance).toBe(0);
  });

  it('answers no pointsReversed when a refund moves none of the other accounts', () => {
    const l = open();
    const g = l.register('P3b');
    const c = commit(l, g, [coffee(), coffee()]);
    // 0.01 of 400.00: partner A's share floors to 0, partner B's fixed accrual waits for the whole check.
    const r = l.refund(g, c.transactionId, { amount: 1 });
    expect(r).toMatchObject({ outcome: 'ok', returned: 1, accrualReversed: 0 });
    expect(r).not.toHaveProperty('pointsReversed');
    expect(l.store.checks.get([0, journalOf(c.transactionId)])).toMatchObject({ pointsReversed: [0, 0], pointsWrittenOff: [0, 0] });
    // Nor does a refusal.
    expect(l.refund(g, c.transactionId, { amount: 50_000 })).not.toHaveProperty('pointsReversed');
  });

  it.each(['negative', 'clamp'] as const)('takes back points already spent under refundDebtPolicy %s', (policy) => {
    const l = open({ refundDebtPolicy: policy });
    const g = l.register(`P4-${policy}`);
    const c = commit(l, g, [coffee()]);
    // Spend all 20 points of partner A (10.00 of a 100.00 check; the cap is 50.00).
    expect(commit(l, g, [coffee(10_000)], { pointsSpent: 2_000, pointsAccount: 'partnerA' })).toMatchObject({ outcome: 'ok', spent: 2_000 });
    // That check accrued partner A 5% of what was not paid with points (90.00): 4.50 = 9 points.
    expect(partner(l, g, 'partnerA')!.balance).toBe(900);
    const r = l.refund(g, c.transactionId);
    const progress = l.store.checks.get([0, journalOf(c.transactionId)]) as CheckProgress;
    expect(progress.pointsReversed).toEqual([2_000, 500]);
    // The answer says per account what came back and what was let go; a debt counts as taken back.
    expect(r.pointsReversed).toEqual([
      policy === 'negative' ? { account: 'partnerA', reversed: 2_000, writtenOff: 0 } : { account: 'partnerA', reversed: 900, writtenOff: 1_100 },
      { account: 'partnerB', reversed: 500, writtenOff: 0 },
    ]);
    // The program's figures are the program's alone.
    expect(r).toMatchObject({ accrualReversed: 1_000, writtenOff: 0 });
    if (policy === 'negative') {
      // 20 to take back, 9 in lots: a debt of 11, paid first by later points.
      expect(partner(l, g, 'partnerA')).toMatchObject({ balance: -1_100, available: 0 });
      expect(progress.pointsWrittenOff).toEqual([0, 0]);
      commit(l, g, [coffee(30_000)]); // 5% of 300.00 = 30 points, 11 of them to the debt
      expect(partner(l, g, 'partnerA')!.balance).toBe(1_900);
    } else {
      expect(partner(l, g, 'partnerA')).toMatchObject({ balance: 0 });
      expect(progress.pointsWrittenOff).toEqual([1_100, 0]);
    }
  });
});

describe('paying with points of another account', () => {
  it('pays at its point value within the program\'s cap, and refuses beyond the cap or the balance', () => {
    const l = open();
    const g = l.register('P5');
    commit(l, g, [coffee(), coffee(), coffee(), coffee()]); // partner A: 5% of 800.00 = 40.00 = 80 points
    expect(partner(l, g, 'partnerA')!.available).toBe(8_000);
    // A 100.00 check: at most 50% = 50.00, which is 100 points of partner A at 0.50.
    expect(commit(l, g, [coffee(10_000)], { pointsSpent: 8_001, pointsAccount: 'partnerA' })).toMatchObject({ outcome: 'insufficient_points', transactionId: '' });
    const small = [coffee(5_000)]; // 50.00: at most 25.00 = 50 points
    expect(commit(l, g, small, { pointsSpent: 5_001, pointsAccount: 'partnerA' })).toMatchObject({ outcome: 'points_over_limit' });
    expect(partner(l, g, 'partnerA')!.balance).toBe(8_000);
    // 50 points of A pay 25.00; the program accrues 5% of the 25.00 left (1.25), partner A 5% of it too (2.5 points).
    const paid = commit(l, g, small, { pointsSpent: 5_000, pointsAccount: 'partnerA' });
    expect(paid).toMatchObject({ outcome: 'ok', spent: 5_000, accrued: 125 });
    const entry = l.store.transactions.get([0, journalOf(paid.transactionId)])!;
    expect(entry.pointsAccount).toBe('partnerA');
    expect(entry.postings[0]).toEqual([`g:${g}:partnerA`, 'redemption:partnerA', 5_000]);
    // 80 − 50 + 2.5.
    expect(partner(l, g, 'partnerA')!.balance).toBe(3_000 + 250);
    expect(systemPoints(l, 'redemption:partnerA')).toBe(5_000);
    // The program's points paid nothing.
    expect(l.store.system.get(0)!.redemption).toBe(0);
    // The balance's history names the account a check paid from.
    expect(l.balance(g, 30, 1).transactions[0]).toMatchObject({ transactionId: paid.transactionId, spent: 5_000, pointsAccount: 'partnerA' });
    // Its refund gives partner A's points back with their expiry, and takes back its accrual.
    const lotsBefore = state(l, g).pointsAccounts!.partnerA!.lots.map((x) => x.expiresAt);
    expect(l.refund(g, paid.transactionId)).toMatchObject({ outcome: 'ok', spentRestored: 5_000, accrualReversed: 125 });
    expect(partner(l, g, 'partnerA')!.balance).toBe(8_000);
    expect(state(l, g).pointsAccounts!.partnerA!.lots.map((x) => x.expiresAt)).toEqual(lotsBefore);
    expect(systemPoints(l, 'redemption:partnerA')).toBe(0);
  });

  it('answers a retry by its body, the points account included, and refuses what is not a points account', () => {
    const l = open();
    const g = l.register('P6');
    commit(l, g, [coffee(), coffee()]);
    const first = commit(l, g, [coffee(10_000)], { idempotencyKey: 'same', pointsSpent: 1_000, pointsAccount: 'partnerA' });
    expect(first.outcome).toBe('ok');
    expect(commit(l, g, [coffee(10_000)], { idempotencyKey: 'same', pointsSpent: 1_000, pointsAccount: 'partnerA' })).toEqual({ ...first, outcome: 'exists' });
    expect(commit(l, g, [coffee(10_000)], { idempotencyKey: 'same', pointsSpent: 1_000, pointsAccount: 'partnerB' }).outcome).toBe('exists_with_different_points_account');
    expect(commit(l, g, [coffee(10_000)], { idempotencyKey: 'same', pointsSpent: 1_000 }).outcome).toBe('exists_with_different_points_account');
    // Naming the program's account is a body of its own, and pays from the program's points.
    const named = commit(l, g, [coffee(10_000)], { idempotencyKey: 'bonus', pointsSpent: 500, pointsAccount: 'bonus' });
    expect(named).toMatchObject({ outcome: 'ok', spent: 500 });
    expect(l.store.transactions.get([0, journalOf(named.transactionId)])!.pointsAccount).toBeUndefined();
    expect(commit(l, g, [coffee(10_000)], { idempotencyKey: 'bonus', pointsSpent: 500 }).outcome).toBe('exists_with_different_points_account');
    const before = l.store.transactions.getKeysCount();
    for (const account of ['wallet', 'nope']) {
      expect(() => commit(l, g, [coffee(10_000)], { pointsSpent: 100, pointsAccount: account })).toThrow(
        expect.objectContaining({ code: 'invalid_field', field: 'pointsAccount', message: `pointsAccount must name a points account (bonus, partnerA, partnerB), not "${account}"` }),
      );
    }
    const hold = l.hold(g, [coffee(10_000)], 100);
    expect(() => commit(l, g, [coffee(10_000)], { pointsSpent: 100, pointsAccount: 'partnerA', holdId: hold.holdId })).toThrow(expect.objectContaining({ code: 'invalid_field', field: 'pointsAccount' }));
    // Nothing was written, not even the key: it stays free.
    expect(l.store.transactions.getKeysCount()).toBe(before);
    expect(commit(l, g, [coffee(10_000)], { idempotencyKey: 'free', pointsSpent: 100, pointsAccount: 'partnerB' }).outcome).toBe('ok');
  });
});

/** A read-only evaluate as the doors' thread answers it. */
function evaluate(l: Ledger, guestId: string, lines: ReturnType<typeof line>[], pointsToSpend: number, extra: Record<string, unknown> = {}) {
  return l.reader.evaluate(l.actor.currentConfig, guestId, { outlet: OUTLET, time: new Date(l.now).toISOString(), currency: 'RUB', card: `card-of-${guestId}`, lines, pointsToSpend, ...extra });
}

/** An evaluate with a hold, in a write transaction as the shard runs it. */
function evaluateWithHold(l: Ledger, guestId: string, lines: ReturnType<typeof line>[], pointsToSpend: number, extra: Record<string, unknown> = {}) {
  const req = { outlet: OUTLET, time: new Date(l.now).toISOString(), currency: 'RUB', card: `card-of-${guestId}`, lines, pointsToSpend, hold: true, ...extra };
  return l.tx(() => l.actor.evaluateWithHoldInTransaction(guestId, req));
}

describe('evaluating a check paid from another points account', () => {
  it('answers that account\'s balance, available points and cap at its point value, as commit decides', () => {
    const l = open();
    const g = l.register('E1');
    commit(l, g, [coffee(), coffee(), coffee(), coffee()]); // partner A: 80 points; the program 40
    commit(l, g, [cake]); // partner A: 10 more at once, 10 pending for 2 days; the program 5
    expect(partner(l, g, 'partnerA')).toMatchObject({ balance: 10_000, available: 9_000, pending: 1_000 });
    // 100.00: the cap is 50.00, 100 points of A at 0.50; 90 available: 45.00 paid with them.
    expect(evaluate(l, g, [coffee(10_000)], 20_000, { pointsAccount: 'partnerA' })).toMatchObject({
      total: 10_000, balance: 10_000, available: 9_000, pointsMax: 9_000, pointsToSpend: 9_000, moneyToPay: 5_500, accrue: 275,
      promotions: [{ promotion: 'a5', discount: 0, points: 0 }, { promotion: 'b3', discount: 0, points: 0 }],
    });
    // The program's own points for the same check: 45 of them, 1.00 each.
    expect(evaluate(l, g, [coffee(10_000)], 20_000)).toMatchObject({ balance: 4_500, available: 4_500, pointsMax: 4_500, pointsToSpend: 4_500, moneyToPay: 5_500, accrue: 275 });
    // Naming the program's account is the program's.
    expect(evaluate(l, g, [coffee(10_000)], 20_000, { pointsAccount: 'bonus' })).toEqual(evaluate(l, g, [coffee(10_000)], 20_000));
    // 50.00: at most 25.00 = 50 points of A. Evaluate's pointsMax is what commit takes, one more is over the limit.
    const small = [coffee(5_000)];
    const e = evaluate(l, g, small, 9_000, { pointsAccount: 'partnerA' });
    expect(e).toMatchObject({ available: 9_000, pointsMax: 5_000, pointsToSpend: 5_000, moneyToPay: 2_500, accrue: 125 });
    expect(commit(l, g, small, { pointsSpent: e.pointsMax + 1, pointsAccount: 'partnerA' }).outcome).toBe('points_over_limit');
    expect(commit(l, g, small, { pointsSpent: e.pointsToSpend, pointsAccount: 'partnerA' })).toMatchObject({ outcome: 'ok', spent: 5_000, accrued: e.accrue });
    // 90 − 50 + 2.5 (5% of the 25.00 paid in money, at 0.50).
    expect(evaluate(l, g, small, 9_000, { pointsAccount: 'partnerA' })).toMatchObject({ balance: 5_250, available: 4_250, pointsMax: 4_250, pointsToSpend: 4_250 });
  });

  it('answers 0 to spend for an account the guest holds nothing on, and refuses what is not a points account', () => {
    const l = open();
    const g = l.register('E2');
    expect(evaluate(l, g, [coffee(10_000)], 1_000, { pointsAccount: 'partnerB' })).toMatchObject({
      balance: 0, available: 0, pointsMax: 0, pointsToSpend: 0, moneyToPay: 10_000, accrue: 500,
    });
    for (const account of ['wallet', 'nope']) {
      const message = `pointsAccount must name a points account (bonus, partnerA, partnerB), not "${account}"`;
      expect(() => evaluate(l, g, [coffee(10_000)], 100, { pointsAccount: account })).toThrow(expect.objectContaining({ code: 'invalid_field', field: 'pointsAccount', message }));
      // Exactly as commit refuses it.
      expect(() => commit(l, g, [coffee(10_000)], { pointsSpent: 100, pointsAccount: account })).toThrow(expect.objectContaining({ code: 'invalid_field', field: 'pointsAccount', message }));
    }
  });

  it('refuses a hold on another account before writing anything; the program\'s account holds as before', () => {
    const l = open();
    const g = l.register('E3');
    commit(l, g, [coffee(), coffee()]);
    const journal = l.store.transactions.getKeysCount();
    const holdsBefore = [...l.store.holds.all()].length;
    expect(() => evaluateWithHold(l, g, [coffee(10_000)], 1_000, { pointsAccount: 'partnerA' })).toThrow(
      expect.objectContaining({ code: 'invalid_field', field: 'pointsAccount', message: expect.stringMatching(/^pointsAccount cannot be given with hold/) }),
    );
    // An unknown account is refused as unknown, with or without a hold.
    expect(() => evaluateWithHold(l, g, [coffee(10_000)], 1_000, { pointsAccount: 'wallet' })).toThrow(
      expect.objectContaining({ code: 'invalid_field', field: 'pointsAccount', message: expect.stringMatching(/must name a points account/) }),
    );
    // Refused even when nothing would be held: the combination is what is refused.
    expect(() => evaluateWithHold(l, g, [coffee(10_000)], 0, { pointsAccount: 'partnerA' })).toThrow(expect.objectContaining({ code: 'invalid_field', field: 'pointsAccount' }));
    expect(l.store.transactions.getKeysCount()).toBe(journal);
    expect([...l.store.holds.all()].length).toBe(holdsBefore);
    expect(state(l, g).holdSeq).toBe(0);
    const held = evaluateWithHold(l, g, [coffee(10_000)], 1_000, { pointsAccount: 'bonus' });
    expect(held).toMatchObject({ holdId: `${g}.h1`, pointsToSpend: 1_000, balance: 2_000 });
    expect(partner(l, g, 'partnerA')).toMatchObject({ available: 4_000 });
  });
});

describe('verify', () => {
  it('finds a points account that its postings do not explain, lots that do not add up, and a ledger that does not sum to zero', () => {
    const l = open();
    const g = l.register('V1');
    commit(l, g, [coffee()]);
    const good = state(l, g);
    const acc = good.pointsAccounts!.partnerA!;
    l.tx(() => l.store.states.putSync(g, { ...good, pointsAccounts: { ...good.pointsAccounts, partnerA: { ...acc, balance: acc.balance + 1 } } }));
    expect(l.differences()).toEqual(expect.arrayContaining([
      expect.objectContaining({ what: 'balance equals its postings', where: `guest ${g} partnerA`, expected: 2_000, found: 2_001 }),
      expect.objectContaining({ what: 'lots add up to the balance', where: `guest ${g} partnerA` }),
    ]));
    l.tx(() => l.store.states.putSync(g, good));
    const system = l.store.system.get(0)!;
    l.tx(() => l.store.system.putSync(0, { ...system, points: { ...system.points, 'liability:partnerA': -1_999 } }));
    expect(l.differences()).toEqual(expect.arrayContaining([
      expect.objectContaining({ what: 'system balance equals its postings', where: 'shard 0 liability:partnerA', expected: -2_000, found: -1_999 }),
    ]));
    l.tx(() => l.store.system.putSync(0, system));
    expect(l.differences()).toEqual([]);
  });
});

describe('merging guests with other points accounts', () => {
  it('moves each account\'s lots with their expiry, and a debt, through its transit account', () => {
    const l = open();
    const into = l.register('M1');
    const from = l.register('M2');
    commit(l, into, [coffee()]);
    l.now += DAY;
    commit(l, from, [cake]);
    const fromLots = state(l, from).pointsAccounts!.partnerA!.lots;
    const r = l.tx(() => l.actor.mergeInTransaction(from, { outlet: OUTLET, idempotencyKey: 'merge-1', card: 'M1', from: 'M2' }));
    expect(r).toMatchObject({ outcome: 'ok', guestId: into });
    // 20 + 20 of partner A (10 of them still pending), 5 + 5 of partner B.
    expect(partner(l, into, 'partnerA')).toMatchObject({ balance: 4_000, available: 3_000, pending: 1_000 });
    expect(partner(l, into, 'partnerB')).toMatchObject({ balance: 1_000 });
    const intoLots = state(l, into).pointsAccounts!.partnerA!.lots;
    for (const lot of fromLots) expect(intoLots.some((x) => x.expiresAt === lot.expiresAt && x.activatesAt === lot.activatesAt)).toBe(true);
    expect(state(l, from).pointsAccounts).toEqual({ partnerA: { balance: 0, lots: [], holds: [] }, partnerB: { balance: 0, lots: [], holds: [] } });
    expect(l.store.merges.get(`${from}.m1`)!.pointsAccounts).toEqual({ partnerA: { points: 2_000, lots: fromLots }, partnerB: { points: 500, lots: expect.any(Array) } });
    expect(systemPoints(l, 'liability:partnerA')).toBe(-4_000);
    expect(l.store.system.get(0)!.transit).toMatchObject({ 'transit:partnerA': 0, 'transit:partnerB': 0 });
  });

  it('moves a debt of another points account, which the guest who stays pays from its lots', () => {
    const l = open();
    const into = l.register('D1');
    const from = l.register('D2');
    const c = commit(l, from, [coffee()]);
    commit(l, from, [coffee(10_000)], { pointsSpent: 2_000, pointsAccount: 'partnerA' });
    l.refund(from, c.transactionId);
    // 20 to take back, 9 in lots: a debt of 11.
    expect(partner(l, from, 'partnerA')!.balance).toBe(-1_100);
    commit(l, into, [coffee(30_000)]);
    l.tx(() => l.actor.mergeInTransaction(from, { outlet: OUTLET, idempotencyKey: 'merge-d', card: 'D1', from: 'D2' }));
    expect(partner(l, into, 'partnerA')!.balance).toBe(3_000 - 1_100);
    expect(l.store.merges.get(`${from}.m1`)!.pointsAccounts!.partnerA).toEqual({ points: -1_100, lots: [] });
  });
});

function journalOf(transactionId: string): number {
  return Number(transactionId.slice(transactionId.lastIndexOf('.') + 1));
}
