// Returns and cancels undo everything a check's promotions did besides points:
// accruals and top-ups into money and count accounts (with the money ledger's
// postings), counters, and (a cancel only) the uses counted in the guest's windows.
// verify cross-checks every promotion budget against the checks that spent it.
// Program: accrue 5% of the money paid, pay at most 50% with points, 1 point = 1.00.

import { describe, expect, it } from 'vitest';
import { validateRules } from '../../dist/engine/rules/validate.js';
import type { BonusProgramConfig } from '../../dist/protocol/config.js';
import type { CheckLine } from '../../dist/protocol/types.js';
import { testSnapshot } from '../helpers/engine.js';
import { OUTLET, line, openLedger } from '../helpers/ledger.js';

/** One shard's actor on a real LMDB folder serving `rulesInput`; `close` verifies the ledger first. */
function ledgerWith(rulesInput: unknown, program: Partial<BonusProgramConfig> = {}) {
  const opened = openLedger(program);
  const l = opened.ledger;
  const checked = validateRules(rulesInput);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const s = testSnapshot(2, l.actor.currentConfig.program);
  s.rules = checked.config;
  l.actor.setConfig(s);
  const state = (guestId: string) => l.store.states.get(guestId)!;
  const progress = (transactionId: string) => l.store.checks.get([0, Number(transactionId.slice(transactionId.lastIndexOf('.') + 1))])!;
  const cancel = (guestId: string, transactionId: string) =>
    l.tx(() => l.actor.refundInTransaction(guestId, { outlet: OUTLET, idempotencyKey: `cancel-${transactionId}`, transactionId, cancel: true }));
  let keys = 0;
  const commitWith = (guestId: string, lines: CheckLine[], extra: { pointsSpent?: number; deposit?: { account: string; amount: number } }) =>
    l.tx(() =>
      l.actor.commitInTransaction(guestId, {
        outlet: OUTLET, idempotencyKey: `cw${++keys}`, time: new Date(l.now).toISOString(), currency: 'RUB', card: `card-of-${guestId}`, lines, pointsSpent: extra.pointsSpent ?? 0,
        ...(extra.deposit === undefined ? {} : { deposit: extra.deposit }),
      }),
    );
  const evaluate = (guestId: string, lines: CheckLine[]) =>
    l.reader.evaluate(l.actor.currentConfig, guestId, { outlet: OUTLET, time: new Date(l.now).toISOString(), currency: 'RUB', card: 'x', lines, explain: true });
  return {
    l,
    state,
    progress,
    cancel,
    commitWith,
    evaluate,
    async close() {
      try {
        expect(l.differences()).toEqual([]);
      } finally {
        await opened.close();
      }
    },
  };
}

const DAY = 86_400_000;

// Accounts: `cashback` (money, a deposit with its own ledger) and `stamps` (count).
// - cashback-5: 5% of the money paid into cashback, in proportion;
// - gift: a top-up of 1,000 cashback on a check of 200.00 or more, fixed per check;
// - stamp: 1 stamp per unit of item `b`, in proportion; stamp-bonus: 5 stamps a check with a `b`, fixed;
// - loyalty: counter `visits` +1 a check (per check), counter `cups` +1 per unit of `b` (per unit);
// - redeem: 15 stamps for a `FREE` line (a top-up of −15 when the guest has 15).
const effects = {
  // The program's own 5% accrues on promotional lines too.
  settings: { baseAccrualOnPromotionalLines: true },
  accounts: [
    { id: 'bonus', unit: 'points', pointValueMinor: 100 },
    { id: 'cashback', unit: 'money' },
    { id: 'stamps', unit: 'count' },
  ],
  promotions: [
    { id: 'cashback-5', name: '5% cashback', status: 'active', effects: [{ kind: 'accrual', account: 'cashback', percentBp: 500 }] },
    { id: 'stamp', name: 'A stamp per b', status: 'active', effects: [{ kind: 'accrual', account: 'stamps', match: { items: ['b'] }, perUnit: 1 }] },
    {
      id: 'stamp-bonus', name: '5 stamps a check with b', status: 'active',
      condition: { kind: 'lines', match: { items: ['b'] } },
      effects: [{ kind: 'accrual', account: 'stamps', fixed: 5 }],
    },
    {
      id: 'loyalty', name: 'Visits and cups', status: 'active',
      effects: [{ kind: 'counter', counter: 'visits', by: 1 }, { kind: 'counter', counter: 'cups', by: 1, perUnit: true, match: { items: ['b'] } }],
    },
    { id: 'gift', name: '10.00 on a check of 200.00', status: 'active', condition: { kind: 'check_sum', min: 20_000 }, effects: [{ kind: 'top_up', account: 'cashback', amount: 1_000 }] },
    {
      id: 'redeem', name: '15 stamps for a free one', status: 'active',
      condition: { kind: 'all', of: [{ kind: 'balance', accounts: ['stamps'], min: 15 }, { kind: 'lines', match: { items: ['FREE'] } }] },
      effects: [{ kind: 'top_up', account: 'stamps', amount: -15 }],
    },
  ],
};

// 7,001 + 10 × 2,299 = 29,991 paid. Points: 5% = 1,499. Cashback: 5% = 1,499 in
// proportion + 1,000 gift (fixed) = 2,499. Stamps: 10 per unit + 5 fixed = 15.
// Counters: visits +1 (per check), cups +10 (per unit).
const bigCheck = () => [line(7_001, 1, 'a'), line(2_299, 10, 'b')];

describe('accruals into money and count accounts on returns', () => {
  it('records what the check put on each account and counter, takes back a partial return in proportion and the rest exactly', async () => {
    const { l, state, progress, close } = ledgerWith(effects);
    try {
      const g = l.register('C1');
      const c = l.commit(g, bigCheck());
      expect(c).toMatchObject({ outcome: 'ok', total: 29_991, accrued: 1_499, balance: 1_499 });
      expect(state(g)).toMatchObject({ accounts: { cashback: 2_499, stamps: 15 }, counters: { visits: 1, cups: 10 } });
      const entry = l.store.transactions.get([0, state(g).lastTx])!;
      expect(entry.accountsMoved).toEqual([
        { id: 'cashback', amount: 2_499, fixed: 1_000, money: true },
        { id: 'stamps', amount: 15, fixed: 5 },
      ]);
      expect(entry.countersMoved).toEqual([{ id: 'visits', amount: 1, fixed: 1 }, { id: 'cups', amount: 10 }]);
      expect(entry.postings).toContainEqual(['deposits:cashback', `g:${g}:cashback`, 2_499]);

      // Line a, 7,001 of 29,991: cashback floor(1,499 × 7,001 / 29,991) = 349; stamps and cups
      // floor(10 × 7,001 / 29,991) = 2; the gift, the 5 stamps and the visit stay.
      expect(l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 1 }] })).toMatchObject({ outcome: 'ok', returned: 7_001, accrualReversed: 349, checkStatus: 'partially_returned' });
      expect(state(g)).toMatchObject({ accounts: { cashback: 2_150, stamps: 13 }, counters: { visits: 1, cups: 8 } });
      expect(progress(c.transactionId)).toMatchObject({ accountsReversed: [349, 2], accountsWrittenOff: [0, 0], countersReversed: [0, 2] });
      const r1 = l.store.transactions.get([0, state(g).lastTx])!;
      expect(r1.postings).toContainEqual([`g:${g}:cashback`, 'deposits:cashback', 349]);
      expect(r1.accountsMoved).toEqual([{ id: 'cashback', amount: -349, money: true }, { id: 'stamps', amount: -2 }]);
      expect(r1.countersMoved).toEqual([{ id: 'cups', amount: -2 }]);
      expect(l.differences()).toEqual([]);

      // The rest: 1,150 + the 1,000 gift of cashback, 8 + 5 stamps, 8 cups and the visit.
      expect(l.refund(g, c.transactionId)).toMatchObject({ outcome: 'ok', returned: 22_990, accrualReversed: 1_150, checkStatus: 'returned', balance: 0 });
      expect(state(g)).toMatchObject({ accounts: { cashback: 0, stamps: 0 }, counters: { visits: 0, cups: 0 } });
      expect(progress(c.transactionId)).toMatchObject({ accountsReversed: [2_499, 15], accountsWrittenOff: [0, 0], countersReversed: [1, 10] });
      // The cashback ledger is back where it started: the shard's `deposits:cashback` at 0.
      expect(l.store.system.get(0)?.money?.['deposits:cashback']).toBe(0);
    } finally {
      await close();
    }
  });

  it('gives back what a check took from an account (a negative top-up) and undoes all of it on a cancel', async () => {
    const { l, state, cancel, close } = ledgerWith(effects);
    try {
      const g = l.register('C1');
      l.commit(g, bigCheck());
      // 15 stamps: the next check with a FREE line takes them (−15) and counts a visit.
      const free = l.commit(g, [line(100, 1, 'FREE'), line(10_000, 1, 'x')]);
      expect(free.promotions.map((p) => p.promotion)).toContain('redeem');
      expect(state(g)).toMatchObject({ accounts: { stamps: 0 }, counters: { visits: 2, cups: 10 } });
      const cashback = state(g).accounts!.cashback!;
      // 5% of 10,100 = 505 cashback went on; the cancel takes it back and gives the stamps back.
      expect(cashback).toBe(2_499 + 505);
      expect(cancel(g, free.transactionId)).toMatchObject({ outcome: 'ok', checkStatus: 'cancelled' });
      expect(state(g)).toMatchObject({ accounts: { cashback: 2_499, stamps: 15 }, counters: { visits: 1, cups: 10 } });
    } finally {
      await close();
    }
  });

  // The guest used the check's points, cashback and stamps on a second check; then the
  // first is returned. Points follow `refundDebtPolicy`; an account clamps at 0 under
  // either and records what it could not take back.
  it.each([
    ['negative', { balance: -1_069, writtenOff: 0 }],
    ['clamp', { balance: 0, writtenOff: 1_069 }],
  ] as const)('takes back from a used-up account only what is left, under the %s policy', async (policy, points) => {
    const { l, state, progress, commitWith, close } = ledgerWith(effects, { refundDebtPolicy: policy });
    try {
      const g = l.register('C1');
      const first = l.commit(g, bigCheck());
      // 10,100: 1,499 by points, 2,000 from cashback; 8,601 paid in money otherwise, so 5%
      // of 8,601 = 430 points and 430 cashback; the FREE line takes the 15 stamps.
      const second = commitWith(g, [line(100, 1, 'FREE'), line(10_000, 1, 'x')], { pointsSpent: 1_499, deposit: { account: 'cashback', amount: 2_000 } });
      expect(second).toMatchObject({ outcome: 'ok', spent: 1_499, accrued: 430, balance: 430, depositPaid: 2_000, depositBalance: 929 });
      expect(state(g).accounts).toEqual({ cashback: 929, stamps: 0 });
      // Whole return: 1,499 points (430 left), 2,499 cashback (929 left), 15 stamps (none left).
      const r = l.refund(g, first.transactionId);
      expect(r).toMatchObject({ outcome: 'ok', accrualReversed: 1_499 - points.writtenOff, writtenOff: points.writtenOff, balance: points.balance, checkStatus: 'returned' });
      expect(state(g).accounts).toEqual({ cashback: 0, stamps: 0 });
      expect(progress(first.transactionId)).toMatchObject({ accountsReversed: [2_499, 15], accountsWrittenOff: [1_570, 15] });
      expect(l.store.transactions.get([0, state(g).lastTx])!.postings).toContainEqual([`g:${g}:cashback`, 'deposits:cashback', 929]);
      expect(l.differences()).toEqual([]);
    } finally {
      await close();
    }
  });
});

describe('counters on returns', () => {
  it('moves a per-unit counter back in proportion, cumulatively floored, and a per-check one only with the whole check, never below 0', async () => {
    const { l, state, progress, close } = ledgerWith(effects);
    try {
      const g = l.register('C1');
      // 10 × 2,299 = 22,990: cups +10, visits +1.
      const c = l.commit(g, [line(2_299, 10, 'b')]);
      expect(state(g).counters).toEqual({ visits: 1, cups: 10 });
      // 3 units (6,897 of 22,990): floor(10 × 0.3) = 3 cups back.
      l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 3 }] });
      expect(state(g).counters).toEqual({ visits: 1, cups: 7 });
      // 1,000 more (7,897 in all): floor(10 × 7,897 / 22,990) = 3, nothing more.
      l.refund(g, c.transactionId, { amount: 1_000 });
      expect(state(g).counters).toEqual({ visits: 1, cups: 7 });
      // 4 units more (9,196; 17,093 in all): floor(10 × 17,093 / 22,990) = 7, so 4 more.
      l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 4 }] });
      expect(state(g).counters).toEqual({ visits: 1, cups: 3 });
      expect(progress(c.transactionId).countersReversed).toEqual([0, 7]);
      // The counter moved since by other means (a reset to 1): the rest takes it to 0, not below.
      l.tx(() => l.store.states.putSync(g, { ...state(g), counters: { visits: 1, cups: 1 } }));
      expect(l.refund(g, c.transactionId)).toMatchObject({ outcome: 'ok', returned: 5_897, checkStatus: 'returned' });
      expect(state(g).counters).toEqual({ visits: 0, cups: 0 });
      expect(progress(c.transactionId).countersReversed).toEqual([1, 10]);
    } finally {
      await close();
    }
  });
});

describe('usage windows on a cancel', () => {
  // −10% on the check once a day per guest, counting a visit; at most one discounted check a day.
  const daily = {
    settings: { discountsPerGuest: { day: 1 } },
    accounts: [{ id: 'bonus', unit: 'points', pointValueMinor: 100 }],
    promotions: [
      {
        id: 'daily', name: '−10% once a day', status: 'active',
        effects: [{ kind: 'discount', target: 'check', percentBp: 1000 }, { kind: 'counter', counter: 'visits', by: 1 }],
        limits: { usesPerGuest: { day: 1 } },
      },
    ],
  };
  const soup = () => [line(10_000, 1, 'soup')];

  it('un-counts the uses so a once-a-day promotion applies again the same day; a return does not', async () => {
    const { l, state, cancel, evaluate, close } = ledgerWith(daily);
    try {
      const g = l.register('C1');
      const a = l.commit(g, soup());
      expect(a).toMatchObject({ outcome: 'ok', discount: 1_000 });
      expect(state(g)).toMatchObject({ counters: { visits: 1 }, promotions: { daily: { usesDay: 1, usesTotal: 1 } }, discountChecks: { checksDay: 1 } });
      expect(l.commit(g, soup())).toMatchObject({ outcome: 'ok', discount: 0, promotions: [] });
      expect(cancel(g, a.transactionId)).toMatchObject({ outcome: 'ok', checkStatus: 'cancelled' });
      expect(state(g)).toMatchObject({
        counters: { visits: 0 },
        promotions: { daily: { usesDay: 0, usesWeek: 0, usesMonth: 0, usesTotal: 0 } },
        discountChecks: { checksDay: 0, checksMonth: 0 },
      });
      // The same day, the promotion applies again.
      const b = l.commit(g, soup());
      expect(b).toMatchObject({ outcome: 'ok', discount: 1_000, promotions: [{ promotion: 'daily', discount: 1_000, points: 0 }] });
      // A return, partial or whole, keeps the use: the guest did use the promotion.
      l.refund(g, b.transactionId, { amount: 1_000 });
      expect(evaluate(g, soup()).explanation!.find((v) => v.promotion === 'daily')).toMatchObject({ applied: false, reason: 'limit' });
      l.refund(g, b.transactionId);
      expect(state(g)).toMatchObject({ counters: { visits: 0 }, promotions: { daily: { usesDay: 1, usesTotal: 1 } }, discountChecks: { checksDay: 1 } });
      expect(evaluate(g, soup()).discount).toBe(0);
    } finally {
      await close();
    }
  });

  it("leaves a use in yesterday's window as history, and takes it out of the windows still current", async () => {
    const { l, state, cancel, close } = ledgerWith(daily);
    try {
      const g = l.register('C1');
      const a = l.commit(g, soup());
      expect(a.discount).toBe(1_000);
      // The next day (same week and month): the day window is yesterday's, the others are current.
      l.now += DAY;
      cancel(g, a.transactionId);
      expect(state(g)).toMatchObject({
        counters: { visits: 0 },
        promotions: { daily: { usesDay: 1, usesWeek: 0, usesMonth: 0, usesTotal: 0 } },
        discountChecks: { checksDay: 1, checksMonth: 0 },
      });
      expect(l.commit(g, soup())).toMatchObject({ outcome: 'ok', discount: 1_000 });
    } finally {
      await close();
    }
  });
});

describe('verify and promotion budgets', () => {
  const budgeted = {
    accounts: [{ id: 'bonus', unit: 'points', pointValueMinor: 100 }],
    promotions: [
      { id: 'check-10', name: '−10% on the check', status: 'active', effects: [{ kind: 'discount', target: 'check', percentBp: 1000 }], limits: { budget: { unit: 'money', amount: 50_000 } } },
    ],
  };

  it('reports a budget record that differs from what its checks spent less what refunds gave back', async () => {
    const { l, close } = ledgerWith(budgeted);
    try {
      const g = l.register('C1');
      const a = l.commit(g, [line(7_000, 3)]);
      l.commit(g, [line(10_000)]);
      // 2,100 + 1,000 spent; 1,000 of a's 18,900 returned: floor(2,100 × 1,000 / 18,900) = 111 back.
      l.refund(g, a.transactionId, { amount: 1_000 });
      expect(l.store.budgets.get('check-10')).toEqual({ spent: 2_989 });
      expect(l.differences()).toEqual([]);
      l.tx(() => l.store.budgets.putSync('check-10', { spent: 3_100 }));
      expect(l.differences()).toEqual([
        { what: "a budget's spent equals what its checks spent less what refunds gave back", where: 'promotion check-10', expected: 2_989, found: 3_100 },
      ]);
      // A budget record no check spent from.
      l.tx(() => {
        l.store.budgets.putSync('check-10', { spent: 2_989 });
        l.store.budgets.putSync('gone', { spent: 5 });
      });
      expect(l.differences()).toEqual([{ what: "a budget's spent equals what its checks spent less what refunds gave back", where: 'promotion gone', expected: 0, found: 5 }]);
      l.tx(() => l.store.budgets.removeSync('gone'));
    } finally {
      await close();
    }
  });
});
