// A discount account (a guest's discount card) through a real engine: updateGuest sets
// the guest's level, evaluate and commit apply it as the promotion `account:card`, the
// journal keeps what the commit answered, refunds return lines at their discounted
// worth, and a bad level changes nothing. Requests go through the doors' validators.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateRules } from '../../dist/engine/rules/validate.js';
import { verifyStore } from '../../dist/engine/verify.js';
import type { TransactionRecord } from '../../dist/engine/store.js';
import { CHECK_TIME, OUTLET, auditAfterClose, startEngine, testSnapshot, type Body, doorCalls } from '../helpers/engine.js';


/** A discount card on every line but tobacco; no level unless updateGuest sets one. */
function rules() {
  const checked = validateRules({
    accounts: [
      { id: 'bonus', unit: 'points', pointValueMinor: 100 },
      { id: 'card', unit: 'percent', match: { excludeCategories: ['tobacco'] } },
    ],
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return checked.config;
}

/** 2 coffees at 200.00, a cake at 300.00, cigarettes at 150.00: 850.00, of which 700.00 takes the card. */
const LINES = [
  { itemCode: 'LATTE', category: 'coffee', quantity: 2, unitPrice: 20_000 },
  { itemCode: 'CAKE', category: 'food', quantity: 1, unitPrice: 30_000 },
  { itemCode: 'CIGS', category: 'tobacco', quantity: 1, unitPrice: 15_000 },
];

const check = (card: string, extra: Body = {}): Body => ({ card, time: CHECK_TIME, currency: 'RUB', lines: LINES, ...extra });

describe('a discount account end to end', () => {
  let t: Awaited<ReturnType<typeof startEngine>>;
  const { run, refusal } = doorCalls(() => t.engine);
  let committed: any;

  beforeAll(async () => {
    t = await startEngine({ shards: 4, threads: 2 });
    const s = testSnapshot(2);
    s.rules = rules();
    expect(t.engine.applyConfig(s)).toBe(true);
    for (const card of ['D-1', 'D-2']) await run('register', { card });
  });
  afterAll(async () => {
    try {
      // The journal keeps the discount the commit answered, and the ledger balances.
      await auditAfterClose(t, (store) => {
        expect(verifyStore(store).differences).toEqual([]);
        let record: TransactionRecord | undefined;
        for (const { value } of store.transactions.getRange({})) if (value.transactionId === committed.transactionId) record = value;
        expect(record).toMatchObject({
          kind: 'check',
          total: 85_000,
          discount: 5_250,
          lineNets: [37_000, 27_750, 15_000],
          promotions: committed.promotions,
          accrued: committed.accrued,
        });
        const guest = store.guests.get(committed.guestId)!;
        expect(guest.discounts).toEqual({ card: 750 });
      });
    } finally {
      await t.close().catch(() => undefined);
    }
  });

  it('a guest without a level gets the default: no discount', async () => {
    const ev = await run('evaluate', check('D-1', { explain: true }));
    expect(ev).toMatchObject({ total: 85_000, discount: 0, promotions: [] });
    expect(ev.explanation).toEqual([{ promotion: 'account:card', applied: false, reason: 'condition', detail: 'no_discount_level', discount: 0, accrual: 0 }]);
  });

  it('updateGuest sets 7.5%: evaluate and commit take it off every line but tobacco', async () => {
    expect(await run('updateGuest', { card: 'D-1', discounts: { card: 750 } })).toMatchObject({ outcome: 'ok' });
    // 7.5% of 70,000 = 5,250, over 40,000 : 30,000 → 3,000 and 2,250.
    const ev = await run('evaluate', check('D-1'));
    expect(ev).toMatchObject({ total: 85_000, discount: 5_250, lineDiscounts: [3_000, 2_250, 0], moneyToPay: 79_750 });
    expect(ev.promotions).toEqual([{ promotion: 'account:card', discount: 5_250, points: 0 }]);
    // The program's 5% accrues on the lines no promotion took part in (baseAccrualOnPromotionalLines
    // is off): 5% of the 15,000 of tobacco = 750 hundredths.
    expect(ev.accrue).toBe(750);
    committed = await run('commit', { ...check('D-1'), idempotencyKey: 'd1-1', pointsSpent: 0 });
    expect(committed).toMatchObject({ outcome: 'ok', total: 85_000, discount: 5_250, accrued: 750, spent: 0 });
    expect(committed.promotions).toEqual(ev.promotions);
  });

  it('refunds lines at their discounted worth', async () => {
    const refund = (key: string, lines: unknown[]) => run('refund', { idempotencyKey: key, transactionId: committed.transactionId, lines });
    // One coffee of two: (40,000 − 3,000) / 2 = 18,500; the cake 27,750; tobacco as it was.
    expect(await refund('d1-r1', [{ line: 0, quantity: 1 }])).toMatchObject({ outcome: 'ok', returned: 18_500, checkStatus: 'partially_returned' });
    expect(await refund('d1-r2', [{ line: 1, quantity: 1 }])).toMatchObject({ outcome: 'ok', returned: 27_750, checkStatus: 'partially_returned' });
    expect(await refund('d1-r3', [{ line: 2, quantity: 1 }])).toMatchObject({ outcome: 'ok', returned: 15_000, checkStatus: 'partially_returned' });
    expect(await refund('d1-r4', [{ line: 0, quantity: 1 }])).toMatchObject({ outcome: 'ok', returned: 18_500, checkStatus: 'returned' });
  });

  it('refuses a bad level at the door and an unknown account in the shard, and changes nothing', async () => {
    await run('updateGuest', { card: 'D-2', discounts: { card: 1_000 } });
    const before = await run('identify', { card: 'D-2' });
    expect(await refusal('updateGuest', { card: 'D-2', discounts: { card: 10_001 } })).toMatchObject({ code: 'invalid_field', field: 'discounts.card' });
    expect(await refusal('updateGuest', { card: 'D-2', discounts: { card: 7.5 } })).toMatchObject({ code: 'invalid_field', field: 'discounts.card' });
    expect(await refusal('updateGuest', { card: 'D-2', discounts: { card: -1 } })).toMatchObject({ code: 'invalid_field', field: 'discounts.card' });
    expect(await refusal('updateGuest', { card: 'D-2', discounts: [750] })).toMatchObject({ code: 'invalid_field', field: 'discounts' });
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`a${i}`, 100]));
    expect(await refusal('updateGuest', { card: 'D-2', discounts: many })).toMatchObject({ code: 'invalid_field', field: 'discounts' });
    // Not a discount account of the configuration: refused in the shard, the name with it not applied.
    const bonus = await refusal('updateGuest', { card: 'D-2', name: 'Changed', discounts: { bonus: 500 } });
    expect(bonus).toMatchObject({ code: 'invalid_field', field: 'discounts.bonus' });
    expect(bonus.message).toBe('discounts.bonus must name a discount account (unit "percent") of the rules; known: card');
    expect((await refusal('updateGuest', { card: 'D-2', discounts: { card: 500, nope: 500 } })).field).toBe('discounts.nope');
    expect(await run('identify', { card: 'D-2' })).toEqual(before);
    expect((await run('evaluate', check('D-2'))).discount).toBe(7_000);
  });

  it('a level of 0 set by updateGuest takes the discount away; another update gives it back', async () => {
    await run('updateGuest', { card: 'D-2', discounts: { card: 0 } });
    expect((await run('evaluate', check('D-2'))).discount).toBe(0);
    await run('updateGuest', { card: 'D-2', name: 'Dora' });
    expect((await run('evaluate', check('D-2'))).discount).toBe(0);
    await run('updateGuest', { card: 'D-2', discounts: { card: 500 } });
    // 5% of 70,000.
    expect((await run('evaluate', check('D-2'))).discount).toBe(3_500);
  });
});
