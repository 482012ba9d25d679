// Promotions decided by the engine end to end: evaluate shows them, commit applies
// them again on committed state, counts their uses per guest and spends their budgets
// exactly, even with commits of many guests on different shards at once.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateRules } from '../../dist/engine/rules/validate.js';
import { validateEvaluate } from '../../dist/protocol/validate.js';
import { verifyStore } from '../../dist/engine/verify.js';
import { CHECK_TIME, auditAfterClose, OUTLET, startEngine, tempDir, testSnapshot } from '../helpers/engine.js';
import { line, openLedger } from '../helpers/ledger.js';

type Started = Awaited<ReturnType<typeof startEngine>>;

/** Beer −20% once a day per guest; a 10% check discount from 10:00 to 14:00 local on weekdays with a money budget. */
function rules(budget: number) {
  const checked = validateRules({
    // The program's own 5% accrues on promotional lines too (their share of the money paid).
    settings: { baseAccrualOnPromotionalLines: true },
    accounts: [{ id: 'bonus', unit: 'points', pointValueMinor: 100 }],
    periods: [{ id: 'lunch', weekdays: [1, 2, 3, 4, 5], times: [{ from: '10:00', to: '14:00' }] }],
    promotions: [
      {
        id: 'beer-20',
        name: 'Beer −20%, once a day',
        status: 'active',
        effects: [{ kind: 'discount', target: 'lines', match: { categories: ['beer'] }, percentBp: 2000 }],
        limits: { usesPerGuest: { day: 1 } },
      },
      {
        id: 'lunch-10',
        name: 'Lunch −10% on the check',
        status: 'active',
        periods: ['lunch'],
        effects: [{ kind: 'discount', target: 'check', percentBp: 1000 }],
        limits: { budget: { unit: 'money', amount: budget } },
      },
      {
        id: 'coffee-points',
        name: '+50 points per coffee',
        status: 'active',
        effects: [{ kind: 'accrual', account: 'bonus', match: { categories: ['coffee'] }, perUnit: 5000 }],
      },
    ],
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return checked.config;
}

const beer = (quantity = 2) => ({ itemCode: 'BEER', category: 'beer', quantity, unitPrice: 25_000 });
const coffee = (quantity = 1) => ({ itemCode: 'LATTE', category: 'coffee', quantity, unitPrice: 20_000 });
// Tuesday 24 November 2026, 12:30 Moscow: inside `lunch`; 18:30: outside.
const LUNCH = CHECK_TIME;
const EVENING = '2026-11-24T18:30:00+03:00';

function check(card: string, lines: unknown[], time = LUNCH, extra: Record<string, unknown> = {}) {
  return { outlet: OUTLET, card, time, currency: 'RUB', lines, ...extra } as any;
}

describe('promotions in evaluate and commit', () => {
  let t: Started;
  beforeAll(async () => {
    t = await startEngine({ shards: 4, threads: 2 });
    const s = testSnapshot(2);
    s.rules = rules(1_000_000);
    expect(t.engine.applyConfig(s)).toBe(true);
    for (const card of ['P-1', 'P-2', 'P-3']) await t.engine.execute('register', { outlet: OUTLET, card });
  });
  afterAll(async () => {
    // Discounted checks, refunds of them and promotion accruals leave the ledger clean.
    try {
      await auditAfterClose(t, (store) => expect(verifyStore(store).differences).toEqual([]));
    } finally {
      await t.close().catch(() => undefined);
    }
  });

  it('evaluate answers the discount per line, the accruals and why each promotion applied or not', async () => {
    const ev = await t.engine.execute('evaluate', check('P-1', [beer(2), coffee(1)], LUNCH, { explain: true }));
    // Beer: 50,000 − 20% = 40,000; then the check −10% of what is left (40,000 + 20,000) = 6,000,
    // spread over the lines in proportion: 4,000 on beer, 2,000 on coffee.
    expect(ev.total).toBe(70_000);
    expect(ev.discount).toBe(16_000);
    expect(ev.lineDiscounts).toEqual([14_000, 2_000]);
    // Program: 5% of 54,000 paid = 2,700 money = 2,700 hundredths; coffee: +5,000.
    expect(ev.accrue).toBe(2_700 + 5_000);
    expect(ev.moneyToPay).toBe(54_000);
    expect(ev.promotions).toEqual([
      { promotion: 'beer-20', discount: 10_000, points: 0 },
      { promotion: 'lunch-10', discount: 6_000, points: 0 },
      { promotion: 'coffee-points', discount: 0, points: 5_000 },
    ]);
    expect(ev.explanation).toHaveLength(3);
    const evening = await t.engine.execute('evaluate', check('P-1', [beer(2)], EVENING, { explain: true }));
    expect(evening.discount).toBe(10_000);
    expect(evening.explanation!.find((v) => v.promotion === 'lunch-10')).toMatchObject({ applied: false, reason: 'period', detail: 'outside_periods' });
    expect(evening.explanation!.find((v) => v.promotion === 'coffee-points')).toMatchObject({ applied: false, reason: 'condition', detail: 'no_matching_lines' });
  });

  it('commit applies what it decides, counts a use per guest per day, and the next check of the day is refused the promotion', async () => {
    const first = await t.engine.execute('commit', { ...check('P-2', [beer(2)], EVENING), idempotencyKey: 'p2-1', pointsSpent: 0 });
    expect(first).toMatchObject({ outcome: 'ok', total: 50_000, discount: 10_000, accrued: 2_000 });
    expect(first.promotions).toEqual([{ promotion: 'beer-20', discount: 10_000, points: 0 }]);
    const ev = await t.engine.execute('evaluate', check('P-2', [beer(2)], EVENING, { explain: true }));
    expect(ev.discount).toBe(0);
    expect(ev.explanation!.find((v) => v.promotion === 'beer-20')).toMatchObject({ applied: false, reason: 'limit', detail: 'uses_per_guest_day' });
    const second = await t.engine.execute('commit', { ...check('P-2', [beer(2)], EVENING), idempotencyKey: 'p2-2', pointsSpent: 0 });
    expect(second).toMatchObject({ outcome: 'ok', discount: 0, accrued: 2_500, promotions: [] });
    // The replay answers the first answer, promotions and all.
    const replay = await t.engine.execute('commit', { ...check('P-2', [beer(2)], EVENING), idempotencyKey: 'p2-1', pointsSpent: 0 });
    expect(replay).toMatchObject({ outcome: 'exists', discount: 10_000, promotions: first.promotions });
    // The next local day the promotion is back.
    const tomorrow = await t.engine.execute('evaluate', check('P-2', [beer(2)], '2026-11-25T18:30:00+03:00'));
    expect(tomorrow.discount).toBe(10_000);
  });

  it('points pay at most the program share of what is left after the discount', async () => {
    await t.engine.execute('adjust', { outlet: OUTLET, card: 'P-1', idempotencyKey: 'p1-gift', points: 1_000_000, reason: 'gift', operator: 'test' } as any);
    const ev = await t.engine.execute('evaluate', check('P-1', [beer(2)], EVENING, { pointsToSpend: 1_000_000 }));
    // 50,000 − 10,000 = 40,000; 50% = 20,000 money = 20,000 hundredths of points at 1 point = 1.00.
    expect(ev.pointsMax).toBe(20_000);
    const over = await t.engine.execute('commit', { ...check('P-1', [beer(2)], EVENING), idempotencyKey: 'p1-over', pointsSpent: 20_001 });
    expect(over.outcome).toBe('points_over_limit');
    const ok = await t.engine.execute('commit', { ...check('P-1', [beer(2)], EVENING), idempotencyKey: 'p1-ok', pointsSpent: 20_000 });
    // Paid 20,000 in money: 5% = 1,000.
    expect(ok).toMatchObject({ outcome: 'ok', discount: 10_000, spent: 20_000, accrued: 1_000 });
  });

  it('refuses a POS discount above the line, a POS flag that is not a boolean and a non-boolean explain', () => {
    // The doors share these validators (test/adapters covers them on each door).
    expect(() => validateEvaluate(check('P-1', [{ ...beer(1), posDiscount: 25_001 }]))).toThrow(expect.objectContaining({ code: 'invalid_field', field: 'lines[0].posDiscount' }));
    expect(() => validateEvaluate(check('P-1', [{ ...beer(1), posDiscount: -1 }]))).toThrow(expect.objectContaining({ field: 'lines[0].posDiscount' }));
    expect(() => validateEvaluate(check('P-1', [{ ...beer(1), posPromotion: 'yes' }]))).toThrow(expect.objectContaining({ code: 'invalid_field', field: 'lines[0].posPromotion' }));
    expect(() => validateEvaluate(check('P-1', [beer(1)], LUNCH, { explain: 1 }))).toThrow(expect.objectContaining({ code: 'invalid_field', field: 'explain' }));
    expect(validateEvaluate(check('P-1', [{ ...beer(1), posDiscount: 0, posPromotion: false }])).lines[0]).toEqual(beer(1));
  });

  it('refunds a discounted check at what was paid: by lines at their discounted worth, the rest exactly', async () => {
    await t.engine.execute('register', { outlet: OUTLET, card: 'P-4' });
    // Lunch: beer 3 × 25,000 −20% = 60,000, coffee 20,000; the check −10% of 80,000 = 8,000
    // spread 6,000 / 2,000: lines worth 54,000 and 18,000; 72,000 paid; 5% = 3,600 + 5,000 coffee points.
    const c = await t.engine.execute('commit', { ...check('P-4', [beer(3), coffee(1)]), idempotencyKey: 'p4', pointsSpent: 0 });
    expect(c).toMatchObject({ outcome: 'ok', total: 95_000, discount: 23_000, accrued: 8_600 });
    // One beer of three: 54,000 / 3 = 18,000; its share of the accrual: 8,600 × 18,000 / 72,000 = 2,150.
    const one = await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'p4-r1', transactionId: c.transactionId, lines: [{ line: 0, quantity: 1 }] } as any);
    expect(one).toMatchObject({ outcome: 'ok', returned: 18_000, accrualReversed: 2_150, checkStatus: 'partially_returned' });
    // More money than is left of what was paid: refused.
    const over = await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'p4-r2', transactionId: c.transactionId, amount: 54_001 } as any);
    expect(over.outcome).toBe('refund_exceeds_check');
    const rest = await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'p4-r3', transactionId: c.transactionId } as any);
    expect(rest).toMatchObject({ outcome: 'ok', returned: 54_000, accrualReversed: 6_450, checkStatus: 'returned' });
  });

  it('takes a line the POS already discounted at what is left of it', async () => {
    const ev = await t.engine.execute('evaluate', check('P-3', [{ ...beer(2), posDiscount: 5_000 }], EVENING));
    // 50,000 − 5,000 = 45,000; beer −20% of 45,000 = 9,000.
    expect(ev.total).toBe(45_000);
    expect(ev.discount).toBe(9_000);
  });
});

describe('promotions in a coalition', () => {
  it("applies a partner's promotion at the partner's outlets only, and place conditions by outlet tags", async () => {
    const t = await startEngine({ shards: 2, threads: 1 });
    try {
      const s = testSnapshot(2);
      s.outlets.push({ id: 'cinema-1', name: 'Cinema', partner: 'cinema', tags: ['mall'] });
      s.terminals.push({ id: 'terminal-cinema', outletId: 'cinema-1', keySha256: 'f'.repeat(64) });
      const checked = validateRules({
        partners: [{ id: 'cinema', settings: {} }],
        promotions: [
          { id: 'popcorn', name: 'Popcorn −50% at the cinema', status: 'active', partner: 'cinema', effects: [{ kind: 'discount', target: 'lines', match: { categories: ['snack'] }, percentBp: 5000 }] },
          { id: 'mall', name: '−10% in malls', status: 'active', condition: { kind: 'place', outletTags: ['mall'] }, effects: [{ kind: 'discount', target: 'check', percentBp: 1000 }] },
        ],
      });
      if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
      s.rules = checked.config;
      t.engine.applyConfig(s);
      await t.engine.execute('register', { outlet: OUTLET, card: 'K-1' });
      const popcorn = [{ itemCode: 'POP', category: 'snack', quantity: 1, unitPrice: 10_000 }];
      const atCinema = await t.engine.execute('evaluate', { ...check('K-1', popcorn, EVENING, { explain: true }), outlet: 'cinema-1' });
      // Popcorn −50% = 5,000; then −10% of the 5,000 left = 500.
      expect(atCinema.discount).toBe(5_500);
      const atCafe = await t.engine.execute('evaluate', check('K-1', popcorn, EVENING, { explain: true }));
      expect(atCafe.discount).toBe(0);
      expect(atCafe.explanation!.find((v) => v.promotion === 'popcorn')).toMatchObject({ applied: false, reason: 'condition', detail: 'other_partner' });
      expect(atCafe.explanation!.find((v) => v.promotion === 'mall')).toMatchObject({ applied: false, reason: 'condition' });
    } finally {
      await t.close();
    }
  });
});

describe('a promotion budget under concurrent commits', () => {
  it('is spent exactly to its limit by many guests on different shards at once, never beyond', async () => {
    const t = await startEngine({ shards: 4, threads: 2 });
    try {
      const s = testSnapshot(2);
      // Each lunch check of 10,000 gets 1,000 off: the budget covers exactly 37.
      s.rules = rules(37_000);
      t.engine.applyConfig(s);
      const guests = Array.from({ length: 60 }, (_, i) => `B-${i}`);
      await Promise.all(guests.map((card) => t.engine.execute('register', { outlet: OUTLET, card })));
      const lunchCheck = [{ itemCode: 'SOUP', category: 'soup', quantity: 1, unitPrice: 10_000 }];
      const results = await Promise.all(
        guests.map((card) => t.engine.execute('commit', { ...check(card, lunchCheck), idempotencyKey: `b-${card}`, pointsSpent: 0 })),
      );
      expect(results.every((r) => r.outcome === 'ok')).toBe(true);
      const discounted = results.filter((r) => r.discount === 1_000);
      expect(discounted).toHaveLength(37);
      expect(results.filter((r) => r.discount === 0)).toHaveLength(23);
      expect(new Set(results.map((r) => r.guestId.split('-')[0])).size).toBeGreaterThan(1);
      const after = await t.engine.execute('evaluate', check('B-0', lunchCheck, LUNCH, { explain: true }));
      expect(after.explanation!.find((v) => v.promotion === 'lunch-10')).toMatchObject({ applied: false, reason: 'budget' });
    } finally {
      await t.close();
    }
  });

  it('keeps what the budget spent across a restart', async () => {
    const tmp = tempDir();
    const dataDir = tmp.dir;
    const first = await startEngine({ dataDir, shards: 2, threads: 1 });
    const s = testSnapshot(2);
    s.rules = rules(2_000);
    first.engine.applyConfig(s);
    const lunchCheck = [{ itemCode: 'SOUP', category: 'soup', quantity: 1, unitPrice: 10_000 }];
    await first.engine.execute('register', { outlet: OUTLET, card: 'R-1' });
    const a = await first.engine.execute('commit', { ...check('R-1', lunchCheck), idempotencyKey: 'r1', pointsSpent: 0 });
    expect(a.discount).toBe(1_000);
    await first.engine.drain(5000);
    await first.engine.close();
    const second = await startEngine({ dataDir, shards: 2, threads: 1 });
    try {
      // The version with its rules is remembered in LMDB: served without the admin API.
      expect(second.engine.config?.version).toBe(2);
      const b = await second.engine.execute('commit', { ...check('R-1', lunchCheck), idempotencyKey: 'r2', pointsSpent: 0 });
      expect(b.discount).toBe(1_000);
      const c = await second.engine.execute('commit', { ...check('R-1', lunchCheck), idempotencyKey: 'r3', pointsSpent: 0 });
      expect(c.discount).toBe(0);
    } finally {
      await second.close();
      tmp.remove();
    }
  });
});

/** One shard's actor on a real LMDB folder (test/helpers/ledger.ts) serving `rulesInput`; `close` verifies the ledger first. */
function ledgerWith(rulesInput: unknown) {
  const opened = openLedger();
  const l = opened.ledger;
  const checked = validateRules(rulesInput);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const s = testSnapshot(2, l.actor.currentConfig.program);
  s.rules = checked.config;
  l.actor.setConfig(s);
  const spent = (promotion: string) => l.store.budgets.get(promotion)?.spent ?? 0;
  const cancel = (guestId: string, transactionId: string) =>
    l.tx(() => l.actor.refundInTransaction(guestId, { outlet: OUTLET, idempotencyKey: `cancel-${transactionId}`, transactionId, cancel: true }));
  return {
    l,
    spent,
    cancel,
    async close() {
      try {
        expect(l.differences()).toEqual([]);
      } finally {
        await opened.close();
      }
    },
  };
}

describe('promotion budgets given back by returns', () => {
  // −10% on the check, from a money budget of 5,000.
  const checkDiscount = {
    accounts: [{ id: 'bonus', unit: 'points', pointValueMinor: 100 }],
    promotions: [
      { id: 'check-10', name: '−10% on the check', status: 'active', effects: [{ kind: 'discount', target: 'check', percentBp: 1000 }], limits: { budget: { unit: 'money', amount: 5_000 } } },
    ],
  };

  it('gives back each partial return its floored share, the rest exactly the remainder, and records what the check spent', async () => {
    const { l, spent, close } = ledgerWith(checkDiscount);
    try {
      const g = l.register('C1');
      // 3 × 7,000 = 21,000; −10% = 2,100 from the budget; 18,900 paid.
      const c = l.commit(g, [line(7_000, 3)]);
      expect(c).toMatchObject({ outcome: 'ok', total: 21_000, discount: 2_100 });
      expect(spent('check-10')).toBe(2_100);
      expect(l.store.transactions.get([0, l.store.states.get(g)!.lastTx])!.budgets).toEqual([{ promotion: 'check-10', amount: 2_100 }]);
      // 1,000 of 18,900 returned: floor(2,100 × 1,000 / 18,900) = 111 back.
      expect(l.refund(g, c.transactionId, { amount: 1_000 })).toMatchObject({ outcome: 'ok', returned: 1_000 });
      expect(spent('check-10')).toBe(2_100 - 111);
      // 2,000 returned in all: floor(2,100 × 2,000 / 18,900) = 222, so 111 more.
      l.refund(g, c.transactionId, { amount: 1_000 });
      expect(spent('check-10')).toBe(2_100 - 222);
      expect(l.store.checks.get([0, l.store.states.get(g)!.lastTx - 2])!.budgetsRestored).toEqual([222]);
      // The rest (16,900): exactly the 1,878 left.
      expect(l.refund(g, c.transactionId)).toMatchObject({ outcome: 'ok', returned: 16_900, checkStatus: 'returned' });
      expect(spent('check-10')).toBe(0);
      // A refund refused changes nothing.
      expect(l.refund(g, c.transactionId).outcome).toBe('already_returned');
      expect(spent('check-10')).toBe(0);
    } finally {
      await close();
    }
  });

  it('gives back by lines the share of the lines returned, and a cancel everything, never below 0 spent', async () => {
    const { l, spent, cancel, close } = ledgerWith(checkDiscount);
    try {
      const g = l.register('C1');
      const a = l.commit(g, [line(7_000, 3)]);
      // One unit of three: 18,900 / 3 = 6,300 returned, 2,100 × 6,300 / 18,900 = 700 back.
      expect(l.refund(g, a.transactionId, { lines: [{ line: 0, quantity: 1 }] })).toMatchObject({ outcome: 'ok', returned: 6_300 });
      expect(spent('check-10')).toBe(1_400);
      const b = l.commit(g, [line(7_000, 3)]);
      expect(spent('check-10')).toBe(3_500);
      expect(cancel(g, b.transactionId)).toMatchObject({ outcome: 'ok', returned: 18_900, checkStatus: 'cancelled' });
      expect(spent('check-10')).toBe(1_400);
      // A budget record lowered since (a reset by other means) stops at 0.
      l.tx(() => l.store.budgets.putSync('check-10', { spent: 500 }));
      expect(l.refund(g, a.transactionId)).toMatchObject({ outcome: 'ok', returned: 12_600, checkStatus: 'returned' });
      expect(spent('check-10')).toBe(0);
    } finally {
      await close();
    }
  });

  it('makes an exhausted budget available again after a cancel: the next check gets the discount', async () => {
    const { l, spent, cancel, close } = ledgerWith(checkDiscount);
    try {
      const g = l.register('C1');
      expect(l.commit(g, [line(7_000, 3)]).discount).toBe(2_100);
      const second = l.commit(g, [line(7_000, 3)]);
      expect(second.discount).toBe(2_100);
      // 800 left: not enough for 2,100, so no discount.
      expect(l.commit(g, [line(7_000, 3)])).toMatchObject({ outcome: 'ok', discount: 0, promotions: [] });
      expect(spent('check-10')).toBe(4_200);
      cancel(g, second.transactionId);
      expect(spent('check-10')).toBe(2_100);
      const ev = l.reader.evaluate(l.actor.currentConfig, g, { outlet: OUTLET, time: new Date(l.now).toISOString(), currency: 'RUB', card: 'x', lines: [line(7_000, 3)] });
      expect(ev.discount).toBe(2_100);
      expect(l.commit(g, [line(7_000, 3)])).toMatchObject({ outcome: 'ok', discount: 2_100, promotions: [{ promotion: 'check-10', discount: 2_100, points: 0 }] });
      expect(spent('check-10')).toBe(4_200);
    } finally {
      await close();
    }
  });
});

describe('a fixed per-check accrual on returns', () => {
  // Program: 5% of the money paid, on promotional lines too. Promotions: +300 points per
  // check (fixed) and +10% of the money paid in points, each from a points budget.
  const accruals = {
    settings: { baseAccrualOnPromotionalLines: true },
    accounts: [{ id: 'bonus', unit: 'points', pointValueMinor: 100 }],
    promotions: [
      { id: 'visit', name: '+300 points a check', status: 'active', effects: [{ kind: 'accrual', account: 'bonus', fixed: 30_000 }], limits: { budget: { unit: 'points', amount: 1_000_000 } } },
      { id: 'extra-10', name: '+10%', status: 'active', effects: [{ kind: 'accrual', account: 'bonus', percentBp: 1000 }], limits: { budget: { unit: 'points', amount: 1_000_000 } } },
    ],
  };
  // 7,001 + 22,999 = 30,000 paid: base 1,500 + extra 3,000 (in proportion: 4,500) + visit 30,000 (fixed).
  const lines = () => [line(7_001, 1, 'a'), line(22_999, 1, 'b')];

  it('is kept by a partial return and taken back whole by the return that completes the check (first line first)', async () => {
    const { l, spent, close } = ledgerWith(accruals);
    try {
      const g = l.register('C1');
      const c = l.commit(g, lines());
      expect(c).toMatchObject({ outcome: 'ok', accrued: 34_500, balance: 34_500 });
      expect(l.store.transactions.get([0, l.store.states.get(g)!.lastTx])).toMatchObject({
        fixedAccrued: 30_000,
        budgets: [{ promotion: 'visit', amount: 30_000, fixed: 30_000 }, { promotion: 'extra-10', amount: 3_000 }],
      });
      // Line a, 7,001 of 30,000: floor(4,500 × 7,001 / 30,000) = 1,050 of the proportional part; the 300 points stay.
      expect(l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 1 }] })).toMatchObject({ outcome: 'ok', accrualReversed: 1_050, balance: 33_450, checkStatus: 'partially_returned' });
      // Budgets: the fixed accrual's nothing; extra-10's floor(3,000 × 7,001 / 30,000) = 700.
      expect([spent('visit'), spent('extra-10')]).toEqual([30_000, 2_300]);
      // Line b completes the return: the 3,450 left of the proportional part and the 30,000.
      expect(l.refund(g, c.transactionId, { lines: [{ line: 1, quantity: 1 }] })).toMatchObject({ outcome: 'ok', accrualReversed: 33_450, balance: 0, checkStatus: 'returned' });
      expect([spent('visit'), spent('extra-10')]).toEqual([0, 0]);
    } finally {
      await close();
    }
  });

  it('the same in the other order (second line first)', async () => {
    const { l, spent, close } = ledgerWith(accruals);
    try {
      const g = l.register('C1');
      const c = l.commit(g, lines());
      // Line b, 22,999 of 30,000: floor(4,500 × 22,999 / 30,000) = 3,449.
      expect(l.refund(g, c.transactionId, { lines: [{ line: 1, quantity: 1 }] })).toMatchObject({ accrualReversed: 3_449, balance: 31_051, checkStatus: 'partially_returned' });
      // extra-10: floor(3,000 × 22,999 / 30,000) = 2,299 back.
      expect([spent('visit'), spent('extra-10')]).toEqual([30_000, 701]);
      expect(l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 1 }] })).toMatchObject({ accrualReversed: 1_051 + 30_000, balance: 0, checkStatus: 'returned' });
      expect([spent('visit'), spent('extra-10')]).toEqual([0, 0]);
    } finally {
      await close();
    }
  });

  it('is taken back whole by a cancel, and by a return of all at once', async () => {
    const { l, spent, cancel, close } = ledgerWith(accruals);
    try {
      const g = l.register('C1');
      const a = l.commit(g, lines());
      expect(cancel(g, a.transactionId)).toMatchObject({ outcome: 'ok', accrualReversed: 34_500, balance: 0, checkStatus: 'cancelled' });
      const b = l.commit(g, lines());
      expect(l.refund(g, b.transactionId)).toMatchObject({ outcome: 'ok', accrualReversed: 34_500, balance: 0, checkStatus: 'returned' });
      expect([spent('visit'), spent('extra-10')]).toEqual([0, 0]);
    } finally {
      await close();
    }
  });
});
