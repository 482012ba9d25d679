// One test per effect, limit and payment rule, with the numbers worked out by hand
// in the comments. Money in kopecks, points in hundredths, percentages in bp.

import { describe, expect, it } from 'vitest';
import { BONUS, checkInvariants, explained, line, promo, run } from './helpers.js';

const BEER = { categories: ['beer'] };

describe('discounts', () => {
  it('percent on matching lines: computed on their sum, spread by largest remainder', () => {
    // Beer: 2 × 250.00 = 50000 and 1 × 333.33 = 33333; 10% of 83333 = 8333.3 → 8333.
    // Shares: 8333×50000/83333 = 4999.76…, 8333×33333/83333 = 3333.18…; floors 4999 + 3333 = 8332,
    // the one kopeck left goes to the larger remainder (line 0): [5000, 3333]. Soup untouched.
    const e = run({ promotions: [promo('beer10', [{ kind: 'discount', target: 'lines', match: BEER, percentBp: 1000 }])] }, [
      line('B1', 2, 25_000, 'beer'),
      line('B2', 1, 33_333, 'beer'),
      line('SOUP', 1, 100_000, 'food'),
    ]);
    expect(e.lines.map((l) => l.discount)).toEqual([5_000, 3_333, 0]);
    expect(e.discount).toBe(8_333);
    expect(e.total).toBe(183_333);
    expect(e.lines[2]!.applied).toEqual([]);
    checkInvariants(e);
  });

  it('amount off the check, spread in proportion to the lines', () => {
    // 10.00 off a 300.00 + 100.00 check: 1000 × 3/4 = 750, 1000 × 1/4 = 250.
    const e = run({ promotions: [promo('ten', [{ kind: 'discount', target: 'check', amount: 1_000 }])] }, [line('A', 1, 30_000), line('B', 1, 10_000)]);
    expect(e.lines.map((l) => l.discount)).toEqual([750, 250]);
    expect(explained(e, 'ten')).toEqual({ promotion: 'ten', applied: true, discount: 1_000, accrual: 0 });
  });

  it('an amount larger than the check takes the whole check, no more', () => {
    const e = run({ promotions: [promo('big', [{ kind: 'discount', target: 'check', amount: 50_000 }])] }, [line('A', 1, 20_000), line('B', 2, 5_000)]);
    expect(e.lines.map((l) => l.discount)).toEqual([20_000, 10_000]);
    expect(e.discount).toBe(30_000);
  });

  it('check-level discount excluding a category', () => {
    // 5% of the non-alcohol part: 5% of 40000 = 2000 on the food line only.
    const e = run({ promotions: [promo('p', [{ kind: 'discount', target: 'check', match: { excludeCategories: ['alcohol'] }, percentBp: 500 }])] }, [
      line('WINE', 1, 60_000, 'alcohol'),
      line('STEAK', 1, 40_000, 'food'),
    ]);
    expect(e.lines.map((l) => l.discount)).toEqual([0, 2_000]);
  });

  it('amount per unit, never above the line', () => {
    // 50.00 off each coffee: 3 × 5000 = 15000 of 36000; a 30.00 coffee × 2 takes only its 6000.
    const e = run({ promotions: [promo('p', [{ kind: 'discount', target: 'lines', match: { categories: ['coffee'] }, amount: 5_000, perUnit: true }])] }, [
      line('LATTE', 3, 12_000, 'coffee'),
      line('SHOT', 2, 3_000, 'coffee'),
    ]);
    expect(e.lines.map((l) => l.discount)).toEqual([15_000, 6_000]);
    expect(e.usage).toEqual([{ promotion: 'p', discount: 21_000, points: 0, units: 5 }]);
  });

  it('every N-th unit free, the cheapest first (R-Keeper "N-th dish free")', () => {
    // Every 3rd beer: 2 × 300.00 + 2 × 200.00 + 1 × 250.00 = 5 units → 1 free, the 200.00 one.
    const nth = { kind: 'nth_free', match: BEER, every: 3 };
    const lines = [line('IPA', 2, 30_000, 'beer'), line('LAGER', 2, 20_000, 'beer'), line('STOUT', 1, 25_000, 'beer')];
    const e = run({ promotions: [promo('third', [nth])] }, lines);
    expect(e.lines.map((l) => l.discount)).toEqual([0, 20_000, 0]);
    // Every 2nd: 2 free, both lagers (200.00 each).
    const e2 = run({ promotions: [promo('second', [{ ...nth, every: 2 }])] }, lines);
    expect(e2.lines.map((l) => l.discount)).toEqual([0, 40_000, 0]);
    // At most 1 free.
    const e3 = run({ promotions: [promo('second', [{ ...nth, every: 2, maxFree: 1 }])] }, lines);
    expect(e3.lines.map((l) => l.discount)).toEqual([0, 20_000, 0]);
    expect(e3.usage[0]!.units).toBe(1);
  });
});

describe('accruals', () => {
  const accounts = [BONUS, { id: 'cheap', unit: 'points', pointValueMinor: 50 }, { id: 'cashback', unit: 'money' }, { id: 'mugs', unit: 'count' }];

  it('percent of the money paid, into points at the account point value', () => {
    // 5% of 1000.00 = 5000 kopecks = 50.00 → 50 points = 5000 hundredths at 1 point = 1.00;
    // at 1 point = 0.50 it is 100 points = 10000 hundredths.
    const cfg = { accounts, promotions: [promo('a', [{ kind: 'accrual', account: 'bonus', percentBp: 500 }]), promo('b', [{ kind: 'accrual', account: 'cheap', percentBp: 500 }])] };
    const e = run(cfg, [line('A', 1, 100_000)]);
    expect(e.accruals).toEqual([
      { promotion: 'a', account: 'bonus', amount: 5_000, delayDays: 0, expiryDays: 0 },
      { promotion: 'b', account: 'cheap', amount: 10_000, delayDays: 0, expiryDays: 0 },
    ]);
    expect(e.usage.map((u) => u.points)).toEqual([5_000, 10_000]);
  });

  it('without the part paid with points, after discounts, with delay and expiry', () => {
    // Check 1000.00, 10% off → 900.00 net; 200.00 paid with points → 700.00 paid in money;
    // 5% of 70000 = 3500. Kept with the part: 5% of 90000 = 4500.
    const cfg = {
      accounts,
      promotions: [
        promo('off', [{ kind: 'discount', target: 'check', percentBp: 1_000 }], { priority: 10 }),
        promo('money', [{ kind: 'accrual', account: 'bonus', percentBp: 500, delayDays: 14, expiryDays: 365 }]),
        promo('all', [{ kind: 'accrual', account: 'bonus', percentBp: 500, excludePaidWithPoints: false }]),
      ],
    };
    const e = run(cfg, [line('A', 1, 100_000)], { check: { paidWithPoints: 20_000 } });
    expect(e.accruals).toEqual([
      { promotion: 'money', account: 'bonus', amount: 3_500, delayDays: 14, expiryDays: 365 },
      { promotion: 'all', account: 'bonus', amount: 4_500, delayDays: 0, expiryDays: 0 },
    ]);
  });

  it('per unit and fixed, into points, money and count accounts', () => {
    // 3 beers × 1 mug = 3 mugs; 1.00 cashback per beer unit = 300; fixed 5 points = 500; 3% cashback of 123.45 = 370.35 → 370.
    const cfg = {
      accounts,
      promotions: [
        promo('mugs', [{ kind: 'accrual', account: 'mugs', match: BEER, perUnit: 1 }]),
        promo('perbeer', [{ kind: 'accrual', account: 'cashback', match: BEER, perUnit: 100 }]),
        promo('visit', [{ kind: 'accrual', account: 'bonus', fixed: 500 }]),
        promo('cb', [{ kind: 'accrual', account: 'cashback', percentBp: 300 }]),
      ],
    };
    const e = run(cfg, [line('IPA', 3, 3_000, 'beer'), line('NUTS', 1, 3_345, 'snack')]);
    expect(e.accruals.map((a) => [a.promotion, a.account, a.amount])).toEqual([
      ['mugs', 'mugs', 3],
      ['perbeer', 'cashback', 300],
      ['visit', 'bonus', 500],
      ['cb', 'cashback', 370],
    ]);
    // Points accrued count for a points budget; money and counts do not.
    expect(e.usage.map((u) => u.points)).toEqual([0, 0, 500, 0]);
  });
});

describe('counters, top-ups, levels, coupons, notifications and messages', () => {
  it('are returned as data from applied promotions only', () => {
    const cfg = {
      accounts: [BONUS, { id: 'meals', unit: 'money' }],
      promotions: [
        promo('visit', [
          { kind: 'counter', counter: 'visits', by: 1 },
          { kind: 'counter', counter: 'beer_mugs', by: 1, perUnit: true, match: BEER },
          { kind: 'message', channel: 'receipt', text: 'Every 6th beer is on us' },
          { kind: 'message', channel: 'cashier', text: 'Offer a snack' },
        ]),
        promo('gold', [{ kind: 'set_level', level: 'gold' }, { kind: 'notify', channel: 'sms', template: 'level_up' }, { kind: 'notify', channel: 'owner', template: 'big_spender' }], {
          condition: { kind: 'check_sum', min: 100_000 },
        }),
        promo('coupon', [{ kind: 'issue_coupon', couponType: 'free-coffee', count: 2 }, { kind: 'message', channel: 'screen', text: 'Two coffees on us' }]),
        promo('meals', [{ kind: 'top_up', account: 'meals', amount: 50_000 }, { kind: 'top_up', account: 'bonus', amount: 1_000 }]),
        promo('never', [{ kind: 'message', channel: 'receipt', text: 'not shown' }], { condition: { kind: 'guest_level', levels: ['platinum'] } }),
      ],
    };
    const e = run(cfg, [line('IPA', 3, 40_000, 'beer')]);
    expect(e.counters).toEqual([
      { promotion: 'visit', counter: 'visits', by: 1 },
      { promotion: 'visit', counter: 'beer_mugs', by: 3 },
    ]);
    expect(e.actions).toEqual([
      { kind: 'set_level', promotion: 'gold', level: 'gold' },
      { kind: 'notify', promotion: 'gold', channel: 'sms', template: 'level_up' },
      { kind: 'notify', promotion: 'gold', channel: 'owner', template: 'big_spender' },
      { kind: 'issue_coupon', promotion: 'coupon', couponType: 'free-coffee', count: 2 },
      { kind: 'top_up', promotion: 'meals', account: 'meals', amount: 50_000 },
      { kind: 'top_up', promotion: 'meals', account: 'bonus', amount: 1_000 },
    ]);
    expect(e.messages).toEqual([
      { promotion: 'visit', channel: 'receipt', text: 'Every 6th beer is on us' },
      { promotion: 'visit', channel: 'cashier', text: 'Offer a snack' },
      { promotion: 'coupon', channel: 'screen', text: 'Two coffees on us' },
    ]);
    expect(e.usage.find((u) => u.promotion === 'meals')!.points).toBe(1_000);
  });

  it('a promotion whose line effects give nothing applies nothing else either', () => {
    const cfg = { promotions: [promo('p', [{ kind: 'discount', target: 'lines', match: BEER, percentBp: 1_000 }, { kind: 'message', channel: 'receipt', text: 'Beer!' }])] };
    const e = run(cfg, [line('SOUP', 1, 10_000, 'food')]);
    expect(e.messages).toEqual([]);
    expect(explained(e, 'p')).toMatchObject({ applied: false, reason: 'condition', detail: 'no_matching_lines' });
  });
});

describe('limits', () => {
  const half = (more: Record<string, unknown> = {}) => promo('half', [{ kind: 'discount', target: 'lines', match: BEER, percentBp: 5_000 }], more);

  it("max discount share of the check for one promotion", () => {
    // 50% of a 100.00 beer = 5000, capped at 10% of the 200.00 check = 2000.
    const e = run({ promotions: [half({ limits: { maxDiscountBp: 1_000 } })] }, [line('IPA', 1, 10_000, 'beer'), line('SOUP', 1, 10_000, 'food')]);
    expect(e.discount).toBe(2_000);
    const e2 = run({ promotions: [half({ limits: { maxDiscountAmount: 1_234 } })] }, [line('IPA', 1, 10_000, 'beer')]);
    expect(e2.discount).toBe(1_234);
  });

  it('uses per guest per day, week, month and in total ("no more than one discount per day")', () => {
    const cfg = { promotions: [half({ limits: { usesPerGuest: { day: 1, week: 3, month: 5, total: 10 } } })] };
    const lines = [line('IPA', 1, 10_000, 'beer')];
    expect(explained(run(cfg, lines), 'half').applied).toBe(true);
    expect(explained(run(cfg, lines, { guest: { usage: { half: { day: 1 } } } }), 'half')).toMatchObject({ applied: false, reason: 'limit', detail: 'uses_per_guest_day' });
    expect(explained(run(cfg, lines, { guest: { usage: { half: { week: 3 } } } }), 'half')).toMatchObject({ reason: 'limit', detail: 'uses_per_guest_week' });
    expect(explained(run(cfg, lines, { guest: { usage: { half: { month: 5 } } } }), 'half')).toMatchObject({ reason: 'limit', detail: 'uses_per_guest_month' });
    expect(explained(run(cfg, lines, { guest: { usage: { half: { total: 10 } } } }), 'half')).toMatchObject({ reason: 'limit', detail: 'uses_per_guest_total' });
  });

  it('promotional item quantity per day and month: the units beyond pay full price', () => {
    // 5 a day, 3 used: 2 of the 4 beers at half price: base 40000 × 2/4 = 20000, 50% = 10000.
    const cfg = { promotions: [half({ limits: { unitsPerGuest: { day: 5, month: 100 } } })] };
    const e = run(cfg, [line('IPA', 4, 10_000, 'beer')], { guest: { usage: { half: { unitsDay: 3, unitsMonth: 50 } } } });
    expect(e.discount).toBe(10_000);
    expect(e.usage).toEqual([{ promotion: 'half', discount: 10_000, points: 0, units: 2 }]);
    // The month's 100 reached: nothing.
    const e2 = run(cfg, [line('IPA', 4, 10_000, 'beer')], { guest: { usage: { half: { unitsMonth: 100 } } } });
    expect(explained(e2, 'half')).toMatchObject({ applied: false, reason: 'limit', detail: 'units_per_guest' });
    // Units go to lines in their order: 1 left → the first beer line's one unit of two.
    const e3 = run(cfg, [line('IPA', 2, 10_000, 'beer'), line('STOUT', 1, 30_000, 'beer')], { guest: { usage: { half: { unitsDay: 4 } } } });
    expect(e3.lines.map((l) => l.discount)).toEqual([5_000, 0]);
    expect(e3.lines[1]!.rejected).toEqual([{ promotion: 'half', reason: 'limit', detail: 'units_per_guest' }]);
  });

  it('accrual caps per check, day and month', () => {
    // 5% of 10000.00 = 50000 hundredths, capped at 10000 per check; 3000 left today of 8000.
    const cfg = (accrualMax: unknown) => ({ accounts: [BONUS], promotions: [promo('acc', [{ kind: 'accrual', account: 'bonus', percentBp: 500 }], { limits: { accrualMax } })] });
    expect(run(cfg({ check: 10_000 }), [line('TV', 1, 1_000_000)]).accruals[0]!.amount).toBe(10_000);
    expect(run(cfg({ day: 8_000, month: 100_000 }), [line('TV', 1, 1_000_000)], { guest: { usage: { acc: { accruedDay: 5_000 } } } }).accruals[0]!.amount).toBe(3_000);
    const spent = run(cfg({ month: 8_000 }), [line('TV', 1, 1_000_000)], { guest: { usage: { acc: { accruedMonth: 8_000 } } } });
    expect(explained(spent, 'acc')).toMatchObject({ applied: false, reason: 'limit', detail: 'accrual_max' });
  });

  it('a budget per promotion: a promotion that cannot be covered does not apply, and the rest is evaluated without it', () => {
    // A (priority 10): 1000 off, budget 500 left → out. B: 50% of what is left: without A, 50% of 10000 = 5000.
    const cfg = {
      promotions: [
        promo('a', [{ kind: 'discount', target: 'check', amount: 1_000 }], { priority: 10, limits: { budget: { unit: 'money', amount: 1_000_000 } } }),
        promo('b', [{ kind: 'discount', target: 'check', percentBp: 5_000 }]),
      ],
    };
    const e = run(cfg, [line('A', 1, 10_000)], { budgets: { a: 500 } });
    expect(explained(e, 'a')).toMatchObject({ applied: false, reason: 'budget' });
    expect(explained(e, 'b')).toMatchObject({ applied: true, discount: 5_000 });
    expect(e.discount).toBe(5_000);
    // Enough left: A 1000, then B 50% of 9000 = 4500.
    expect(run(cfg, [line('A', 1, 10_000)], { budgets: { a: 1_000 } }).discount).toBe(5_500);
    // Untouched budgets start full; an exhausted one fails at once.
    expect(run(cfg, [line('A', 1, 10_000)]).discount).toBe(5_500);
    expect(explained(run(cfg, [line('A', 1, 10_000)], { budgets: { a: 0 } }), 'a')).toMatchObject({ reason: 'budget' });
  });

  it('a points budget counts accruals and top-ups into points accounts', () => {
    // 5% of 100.00 = 500 hundredths + a 100 top-up = 600 > 599 left.
    const cfg = { accounts: [BONUS], promotions: [promo('acc', [{ kind: 'accrual', account: 'bonus', percentBp: 500 }, { kind: 'top_up', account: 'bonus', amount: 100 }], { limits: { budget: { unit: 'points', amount: 1_000 } } })] };
    expect(explained(run(cfg, [line('A', 1, 10_000)], { budgets: { acc: 599 } }), 'acc')).toMatchObject({ applied: false, reason: 'budget' });
    expect(run(cfg, [line('A', 1, 10_000)], { budgets: { acc: 600 } }).usage).toEqual([{ promotion: 'acc', discount: 0, points: 600, units: 0 }]);
  });

  it("the settings' max discount share of the check caps all promotions together, the last in rank giving way", () => {
    // 15% of 10000 = 1500; then 15% of the 8500 left = 1275, but only 2000 − 1500 = 500 fits under 20%.
    const cfg = {
      settings: { maxDiscountBp: 2_000 },
      promotions: [promo('first', [{ kind: 'discount', target: 'check', percentBp: 1_500 }], { priority: 2 }), promo('second', [{ kind: 'discount', target: 'check', percentBp: 1_500 }], { priority: 1 })],
    };
    const e = run(cfg, [line('A', 1, 6_000), line('B', 1, 4_000)]);
    expect(explained(e, 'first').discount).toBe(1_500);
    expect(explained(e, 'second').discount).toBe(500);
    expect(e.discount).toBe(2_000);
    checkInvariants(e);
  });

  it('discounts per guest per day and month (Retail Suite restriction); accruals still apply', () => {
    const cfg = {
      accounts: [BONUS],
      settings: { discountsPerGuest: { day: 1, month: 10 } },
      promotions: [half(), promo('acc', [{ kind: 'accrual', account: 'bonus', percentBp: 500 }])],
    };
    const e = run(cfg, [line('IPA', 1, 10_000, 'beer')], { guest: { discountChecks: { day: 1 } } });
    expect(explained(e, 'half')).toMatchObject({ applied: false, reason: 'limit', detail: 'discounts_per_guest_day' });
    expect(e.accruals[0]!.amount).toBe(500);
    const e2 = run(cfg, [line('IPA', 1, 10_000, 'beer')], { guest: { discountChecks: { day: 0, month: 10 } } });
    expect(explained(e2, 'half')).toMatchObject({ reason: 'limit', detail: 'discounts_per_guest_month' });
  });
});

describe('payment with points', () => {
  // Food 600.00, alcohol 300.00 (forbidden), dessert 100.00 with 10% off → nets 60000, 30000, 9000 = 99000.
  const lines = [line('STEAK', 1, 60_000, 'food'), line('WINE', 1, 30_000, 'alcohol'), line('CAKE', 1, 10_000, 'dessert')];
  const cfg = (pointsPayment: Record<string, unknown>, promotions: unknown[] = [promo('cake', [{ kind: 'discount', target: 'lines', match: { categories: ['dessert'] }, percentBp: 1_000 }])]) => ({
    accounts: [BONUS, { id: 'half', unit: 'points', pointValueMinor: 50 }],
    settings: { pointsPayment: { account: 'bonus', forbiddenCategories: ['alcohol'], ...pointsPayment } },
    promotions,
  });

  it('cap as a share of the check and as an amount', () => {
    // 50% of 99000 = 49500; payable 60000 (alcohol forbidden, the discounted cake not payable).
    expect(run(cfg({ maxBp: 5_000 }), lines).pointsPayment).toEqual({ account: 'bonus', moneyMax: 49_500, pointsMax: 49_500 });
    expect(run(cfg({ maxBp: 5_000, maxAmount: 30_000 }), lines).pointsPayment).toEqual({ account: 'bonus', moneyMax: 30_000, pointsMax: 30_000 });
    // 1 point = 0.50: 30000 kopecks are 600 points = 60000 hundredths.
    expect(run(cfg({ account: 'half', maxBp: 5_000, maxAmount: 30_000 }), lines).pointsPayment).toEqual({ account: 'half', moneyMax: 30_000, pointsMax: 60_000 });
  });

  it('forbidden categories and items', () => {
    const e = run(cfg({ maxBp: 10_000, forbiddenItems: ['STEAK'] }), lines);
    expect(e.lines.map((l) => l.pointsPayable)).toEqual([false, false, false]);
    expect(e.pointsPayment!.moneyMax).toBe(0);
  });

  it('minimum fiscal payment', () => {
    // Everything payable (no forbidden category, promotional lines payable): 99000 − 1000 = 98000.
    expect(run(cfg({ maxBp: 10_000, forbiddenCategories: [], minFiscalPayment: 1_000, promotionalLines: 'payable' }), lines).pointsPayment!.moneyMax).toBe(98_000);
  });

  it('lines in a promotion are not payable unless the promotion accrues points (r_keeper 002)', () => {
    const accrueOnCake = [promo('cakepoints', [{ kind: 'accrual', account: 'bonus', match: { categories: ['dessert'] }, percentBp: 1_000 }])];
    // payable_if_accrues: the discounted cake is not payable (60000); a cake with accrual only is (60000 + 10000).
    expect(run(cfg({ maxBp: 10_000 }), lines).pointsPayment!.moneyMax).toBe(60_000);
    expect(run(cfg({ maxBp: 10_000 }, accrueOnCake), lines).pointsPayment!.moneyMax).toBe(70_000);
    // not_payable: no line of any promotion is payable, accruing or not.
    expect(run(cfg({ maxBp: 10_000, promotionalLines: 'not_payable' }, accrueOnCake), lines).pointsPayment!.moneyMax).toBe(60_000);
    // payable: 60000 + 9000.
    expect(run(cfg({ maxBp: 10_000, promotionalLines: 'payable' }), lines).pointsPayment!.moneyMax).toBe(69_000);
  });

  it("the program's own accrual is off on promotional lines unless the settings allow it", () => {
    const e = run(cfg({ maxBp: 10_000 }), lines);
    expect(e.lines.map((l) => l.baseAccrual)).toEqual([true, true, false]);
    const allowed = { ...cfg({ maxBp: 10_000 }), settings: { baseAccrualOnPromotionalLines: true } };
    expect(run(allowed, lines).lines.map((l) => l.baseAccrual)).toEqual([true, true, true]);
  });

  it('a registration bonus (stacking-exempt) does not make lines promotional', () => {
    const reg = promo('welcome', [{ kind: 'accrual', account: 'bonus', percentBp: 1_000 }], { template: 'registration_bonus' });
    const e = run(cfg({ maxBp: 10_000, promotionalLines: 'not_payable' }, [reg]), lines);
    expect(e.lines.map((l) => l.pointsPayable)).toEqual([true, false, true]);
    expect(e.pointsPayment!.moneyMax).toBe(70_000);
  });
});

describe('the named mechanics of the seeds, composed from the model', () => {
  const accounts = [BONUS, { id: 'cashback', unit: 'money' }];

  it('vending (KitVending 004): free sale, % discount, cashback, one free per day, every N-th free, N free per week', () => {
    const coffee = [line('ESPRESSO', 2, 8_000, 'coffee')];
    const one = (effects: unknown[], more: Record<string, unknown> = {}) => ({ accounts, promotions: [promo('rule', effects, more)] });
    // Free sale: 100% off.
    expect(run(one([{ kind: 'discount', target: 'check', percentBp: 10_000 }]), coffee).discount).toBe(16_000);
    // 30% off.
    expect(run(one([{ kind: 'discount', target: 'check', percentBp: 3_000 }]), coffee).discount).toBe(4_800);
    // Cashback 5% into a money account: 800.
    expect(run(one([{ kind: 'accrual', account: 'cashback', percentBp: 500 }]), coffee).accruals[0]!.amount).toBe(800);
    // One free per day: 1 unit a day at 100%; the second cup pays; tomorrow's first is free again.
    const daily = one([{ kind: 'discount', target: 'lines', percentBp: 10_000 }], { limits: { unitsPerGuest: { day: 1 } } });
    expect(run(daily, coffee).discount).toBe(8_000);
    expect(explained(run(daily, coffee, { guest: { usage: { rule: { unitsDay: 1 } } } }), 'rule').reason).toBe('limit');
    // Every 5th purchase free: the orchestrator counts purchases; the 5th (4 before) is free.
    const fifth = one([{ kind: 'discount', target: 'check', percentBp: 10_000 }], { condition: { kind: 'cel', source: 'guest.counters["purchases"] % 5 == 4' } });
    expect(run(fifth, coffee, { guest: { counters: { purchases: 4 } } }).discount).toBe(16_000);
    expect(run(fifth, coffee, { guest: { counters: { purchases: 5 } } }).discount).toBe(0);
    // 10 free per week.
    const weekly = one([{ kind: 'discount', target: 'check', percentBp: 10_000 }], { limits: { usesPerGuest: { week: 10 } } });
    expect(explained(run(weekly, coffee, { guest: { usage: { rule: { week: 10 } } } }), 'rule')).toMatchObject({ reason: 'limit', detail: 'uses_per_guest_week' });
  });

  it('a stepped template by purchase count, and a rule assigned to the guest overriding it', () => {
    // From 5 purchases 10% (3200 of 32000), from 15 one free a day (8000), from 50 every 2nd free (2 × 8000);
    // a rule assigned to the guest (a tag; 25% = 8000) outranks the template.
    const cfg = {
      promotions: [
        promo('assigned', [{ kind: 'discount', target: 'check', percentBp: 2_500 }], { exclusive: true, priority: 100, condition: { kind: 'guest_tags', any: ['rule:quarter'] } }),
        promo('from50', [{ kind: 'nth_free', match: { categories: ['coffee'] }, every: 2 }], { exclusive: true, priority: 3, condition: { kind: 'counter', counter: 'purchases', min: 50 } }),
        promo('from15', [{ kind: 'discount', target: 'lines', percentBp: 10_000 }], { exclusive: true, priority: 2, condition: { kind: 'counter', counter: 'purchases', min: 15 }, limits: { unitsPerGuest: { day: 1 } } }),
        promo('from5', [{ kind: 'discount', target: 'check', percentBp: 1_000 }], { exclusive: true, priority: 1, condition: { kind: 'counter', counter: 'purchases', min: 5 } }),
      ],
    };
    const cups = [line('ESPRESSO', 4, 8_000, 'coffee')]; // 32000
    const at = (purchases: number, tags: string[] = []) => run(cfg, cups, { guest: { counters: { purchases }, tags } }).discount;
    expect(at(4)).toBe(0);
    expect(at(5)).toBe(3_200);
    expect(at(15)).toBe(8_000);
    expect(at(50)).toBe(16_000);
    expect(at(50, ['rule:quarter'])).toBe(8_000);
    expect(at(0, ['rule:quarter'])).toBe(8_000);
  });

  it('level transition, account usage limit, balance→coupon conversion, birthday bonus', () => {
    const cfg = {
      accounts,
      periods: [{ id: 'bday', birthday: { daysBefore: 0, daysAfter: 3 } }],
      promotions: [
        promo('to-gold', [{ kind: 'set_level', level: 'gold' }], { template: 'level_transition', condition: { kind: 'all', of: [{ kind: 'guest_level', levels: ['silver'] }, { kind: 'counter', counter: 'spend', min: 1_000_000 }] } }),
        promo('once-a-day', [{ kind: 'discount', target: 'check', percentBp: 1_000 }], { template: 'usage_limit', limits: { usesPerGuest: { day: 1 } } }),
        promo('convert', [{ kind: 'issue_coupon', couponType: 'gift-500', count: 1 }, { kind: 'top_up', account: 'bonus', amount: -50_000 }], { template: 'balance_to_coupon', condition: { kind: 'balance', accounts: ['bonus'], min: 50_000 } }),
        promo('bday', [{ kind: 'accrual', account: 'bonus', fixed: 20_000 }, { kind: 'notify', channel: 'push', template: 'happy_birthday' }], { template: 'birthday_bonus', periods: ['bday'] }),
      ],
    };
    const e = run(cfg, [line('A', 1, 10_000)], { guest: { level: 'silver', counters: { spend: 1_200_000 }, balances: { bonus: 60_000 }, birthday: '1990-03-07' } });
    expect(e.actions).toEqual([
      { kind: 'set_level', promotion: 'to-gold', level: 'gold' },
      { kind: 'issue_coupon', promotion: 'convert', couponType: 'gift-500', count: 1 },
      { kind: 'top_up', promotion: 'convert', account: 'bonus', amount: -50_000 },
      { kind: 'notify', promotion: 'bday', channel: 'push', template: 'happy_birthday' },
    ]);
    expect(e.discount).toBe(1_000);
    expect(e.accruals).toEqual([{ promotion: 'bday', account: 'bonus', amount: 20_000, delayDays: 0, expiryDays: 0 }]);
  });
});
