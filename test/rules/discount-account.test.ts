// Discount accounts (unit "percent"): a guest's level in basis points, applied to
// every check as the promotion `account:<id>` on the lines its match selects; the
// default level, level 0, stacking with promotions (`all`, `best_per_line`,
// exclusive), balance conditions reading the level, and validation.

import { describe, expect, it } from 'vitest';
import { evaluate, validateRules } from '../../dist/engine/rules/index.js';
import { BONUS, checkInvariants, compile, context, explained, line, promo, run } from './helpers.js';

/** A 10% (or any) discount card on every line but tobacco. */
function card(more: Record<string, unknown> = {}) {
  return { id: 'card', unit: 'percent', match: { excludeCategories: ['tobacco'] }, ...more };
}

/** 2 × 15.00 of food, 20.00 of drinks, 25.00 of tobacco: 75.00, of which 50.00 is eligible. */
const LINES = [line('SOUP', 2, 1_500, 'food'), line('TEA', 1, 2_000, 'drinks'), line('CIGS', 1, 2_500, 'tobacco')];

const DRINKS_20 = promo('drinks', [{ kind: 'discount', target: 'lines', match: { categories: ['drinks'] }, percentBp: 2_000 }]);

describe('discount account: the level', () => {
  it("takes the guest's level off the lines its match selects, split by their sums", () => {
    // 10% of 5000 = 500, over 3000 : 2000 → 300 and 200; tobacco untouched.
    const e = run({ accounts: [card()] }, LINES, { guest: { balances: { card: 1_000 } } });
    expect(e.total).toBe(7_500);
    expect(e.discount).toBe(500);
    expect(e.lines.map((l) => [l.discount, l.net])).toEqual([
      [300, 2_700],
      [200, 1_800],
      [0, 2_500],
    ]);
    expect(e.lines[0]!.applied).toEqual([{ promotion: 'account:card', discount: 300, accrual: 0 }]);
    expect(e.lines[2]!.applied).toEqual([]);
    expect(explained(e, 'account:card')).toEqual({ promotion: 'account:card', applied: true, discount: 500, accrual: 0 });
    expect(e.usage).toEqual([{ promotion: 'account:card', discount: 500, points: 0, units: 3 }]);
    checkInvariants(e);
  });

  it('a guest without a level gets the default; a default of 0 gives nothing', () => {
    // 5% of 5000 = 250 → 150 and 100.
    const e = run({ accounts: [card({ defaultBp: 500 })] }, LINES);
    expect(e.discount).toBe(250);
    expect(e.lines.map((l) => l.discount)).toEqual([150, 100, 0]);
    checkInvariants(e);
    const none = run({ accounts: [card()] }, LINES);
    expect(none.discount).toBe(0);
    expect(explained(none, 'account:card')).toEqual({ promotion: 'account:card', applied: false, reason: 'condition', detail: 'no_discount_level', discount: 0, accrual: 0 });
  });

  it("a guest's level 0 overrides the default: nothing, with the reason", () => {
    const e = run({ accounts: [card({ defaultBp: 500 })] }, LINES, { guest: { balances: { card: 0 } } });
    expect(e.discount).toBe(0);
    expect(e.lines.map((l) => l.discount)).toEqual([0, 0, 0]);
    expect(explained(e, 'account:card')).toMatchObject({ applied: false, reason: 'condition', detail: 'no_discount_level' });
    expect(e.usage).toEqual([]);
  });

  it('100% takes every selected line whole; a level beyond 100% in the context counts as 100%', () => {
    expect(run({ accounts: [card()] }, LINES, { guest: { balances: { card: 10_000 } } }).discount).toBe(5_000);
    const e = run({ accounts: [card()] }, LINES, { guest: { balances: { card: 25_000 } } });
    expect(e.discount).toBe(5_000);
    checkInvariants(e);
  });

  it('target "lines" discounts only the lines its match includes', () => {
    const e = run({ accounts: [card({ target: 'lines', match: { categories: ['drinks'] } })] }, LINES, { guest: { balances: { card: 1_000 } } });
    expect(e.lines.map((l) => l.discount)).toEqual([0, 200, 0]);
  });

  it('a balance condition over the account reads the level, the default when the guest has none', () => {
    const cfg = {
      accounts: [card({ defaultBp: 500 })],
      promotions: [promo('vip', [{ kind: 'message', channel: 'receipt', text: 'VIP' }], { condition: { kind: 'balance', accounts: ['card'], min: 1_000 } })],
    };
    expect(explained(run(cfg, LINES, { guest: { balances: { card: 1_000 } } }), 'vip').applied).toBe(true);
    expect(explained(run(cfg, LINES, { guest: { balances: { card: 999 } } }), 'vip')).toMatchObject({ applied: false, reason: 'condition', detail: 'balance' });
    expect(explained(run(cfg, LINES), 'vip')).toMatchObject({ applied: false, detail: 'balance' });
    const low = { ...cfg, promotions: [promo('vip', [{ kind: 'message', channel: 'receipt', text: 'VIP' }], { condition: { kind: 'balance', accounts: ['card'], max: 500 } })] };
    expect(explained(run(low, LINES), 'vip').applied).toBe(true);
  });
});

describe('discount account: stacking', () => {
  const guest = { balances: { card: 1_000 } };

  it('`all`: after the promotions of equal priority, on what they left', () => {
    // drinks: 20% of 2000 = 400. card: 10% of 3000 + 1600 = 460 → 300 and 160.
    const e = run({ accounts: [card()], promotions: [DRINKS_20] }, LINES, { guest });
    expect(e.promotions.map((p) => [p.promotion, p.discount])).toEqual([
      ['drinks', 400],
      ['account:card', 460],
    ]);
    expect(e.lines.map((l) => l.discount)).toEqual([300, 560, 0]);
    expect(e.discount).toBe(860);
    checkInvariants(e);
  });

  it('`all`: a higher priority puts the card first', () => {
    // card: 10% of 5000 = 500 (300, 200). drinks: 20% of the 1800 left = 360.
    const e = run({ accounts: [card({ priority: 5 })], promotions: [DRINKS_20] }, LINES, { guest });
    expect(e.promotions.map((p) => [p.promotion, p.discount])).toEqual([
      ['account:card', 500],
      ['drinks', 360],
    ]);
    expect(e.lines.map((l) => l.discount)).toEqual([300, 560, 0]);
    checkInvariants(e);
  });

  it('`all`: the settings cap every discount together, the card included', () => {
    // 10% of 7500 = 750: drinks 400, the card the 350 left of its 460.
    const e = run({ accounts: [card()], settings: { maxDiscountBp: 1_000 }, promotions: [DRINKS_20] }, LINES, { guest });
    expect(e.promotions.map((p) => [p.promotion, p.discount])).toEqual([
      ['drinks', 400],
      ['account:card', 350],
    ]);
    expect(e.discount).toBe(750);
    checkInvariants(e);
  });

  it('`best_per_line`: each line to the better of the card and the promotion', () => {
    // Alone: the card gives 300 on soup and 200 on tea; drinks gives 400 on tea. Tea goes to drinks.
    const e = run({ accounts: [card()], settings: { stacking: 'best_per_line' }, promotions: [DRINKS_20] }, LINES, { guest });
    expect(e.promotions.map((p) => [p.promotion, p.applied, p.discount])).toEqual([
      ['drinks', true, 400],
      ['account:card', true, 300],
    ]);
    expect(e.lines.map((l) => l.discount)).toEqual([300, 400, 0]);
    expect(e.lines[1]!.rejected).toEqual([{ promotion: 'account:card', reason: 'stacking', detail: 'best:drinks' }]);
    expect(e.discount).toBe(700);
    checkInvariants(e);
  });

  it('`best_per_line` with itemBlocksCheck: an item promotion blocks the check-level card', () => {
    const e = run({ accounts: [card()], settings: { stacking: 'best_per_line', itemBlocksCheck: true }, promotions: [DRINKS_20] }, LINES, { guest });
    expect(explained(e, 'account:card')).toMatchObject({ applied: false, reason: 'stacking', detail: 'item_blocks_check' });
    expect(e.discount).toBe(400);
  });

  it('an exclusive card applies alone while the guest has a level; at level 0 it steps aside', () => {
    const cfg = { accounts: [card({ exclusive: true })], promotions: [DRINKS_20] };
    const e = run(cfg, LINES, { guest });
    expect(explained(e, 'drinks')).toMatchObject({ applied: false, reason: 'stacking', detail: 'exclusive:account:card' });
    expect(e.discount).toBe(500);
    expect(run(cfg, LINES, { guest: { balances: { card: 0 } } }).discount).toBe(400);
  });

  it('answers the same without explanations, less the explanation', () => {
    for (const stacking of ['all', 'best_per_line']) {
      const rules = compile({ accounts: [card()], settings: { stacking }, promotions: [DRINKS_20] });
      const ctx = context(LINES, { guest });
      const full = evaluate(rules, ctx);
      const lean = evaluate(rules, ctx, { explain: false });
      expect(lean.lines.map((l) => l.discount)).toEqual(full.lines.map((l) => l.discount));
      expect(lean.promotions).toEqual(full.promotions.filter((p) => p.applied));
      expect(lean.usage).toEqual(full.usage);
    }
  });

  it('counts as a check with a discount for discountsPerGuest', () => {
    const e = run({ accounts: [card()], settings: { discountsPerGuest: { day: 1 } } }, LINES, { guest: { ...guest, discountChecks: { day: 1 } } });
    expect(explained(e, 'account:card')).toMatchObject({ applied: false, reason: 'limit', detail: 'discounts_per_guest_day' });
  });
});

describe('discount account: validation', () => {
  function errorsOf(config: unknown) {
    const r = validateRules(config);
    if (r.ok) throw new Error('expected the configuration to be refused');
    return r.errors;
  }

  it('fills the defaults and validates its own output to the same', () => {
    const r = validateRules({ accounts: [{ id: 'card', unit: 'percent' }] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.accounts).toEqual([
      {
        id: 'card',
        unit: 'percent',
        pointValueMinor: 100,
        defaultBp: 0,
        target: 'check',
        match: { items: [], categories: [], tags: [], excludeItems: [], excludeCategories: [], excludeTags: [] },
        priority: 0,
        exclusive: false,
      },
    ]);
    const again = validateRules(JSON.parse(JSON.stringify(r.config)));
    expect(again).toEqual(r);
  });

  it('refuses a default level outside 0..10000, a point value, a check-level include list', () => {
    expect(errorsOf({ accounts: [{ id: 'card', unit: 'percent', defaultBp: 10_001 }] })).toEqual([
      {
        path: 'accounts[0].defaultBp',
        message: 'must be an integer from 0 to 10000 (the level of a guest without one, basis points: 500 = 5%, 10000 = 100%), not 10001',
      },
    ]);
    expect(errorsOf({ accounts: [{ id: 'card', unit: 'percent', defaultBp: 2.5 }] })[0]!.path).toBe('accounts[0].defaultBp');
    expect(errorsOf({ accounts: [{ id: 'card', unit: 'percent', pointValueMinor: 50 }] })).toEqual([
      { path: 'accounts[0].pointValueMinor', message: 'applies to points accounts only; remove it from a percent account' },
    ]);
    expect(errorsOf({ accounts: [card({ match: { categories: ['food'] } })] })).toEqual([
      { path: 'accounts[0].match', message: 'of a check-level discount account takes only exclude lists; to select lines set target "lines"' },
    ]);
  });

  it("refuses a discount account's fields on other accounts", () => {
    expect(errorsOf({ accounts: [{ id: 'deposit', unit: 'money', defaultBp: 500, exclusive: true }] })).toEqual([
      { path: 'accounts[0].defaultBp', message: 'applies to discount accounts (unit "percent") only; remove it from a money account' },
      { path: 'accounts[0].exclusive', message: 'applies to discount accounts (unit "percent") only; remove it from a money account' },
    ]);
  });

  it('refuses accruals, top-ups and payment with a discount account, and mixing it with other units', () => {
    const level = 'is the discount account "card", which holds a level per guest (set by updateGuest), not a balance; name a points, money or count account';
    expect(errorsOf({ accounts: [card()], promotions: [promo('p', [{ kind: 'accrual', account: 'card', fixed: 100 }])] })).toEqual([{ path: 'promotions[0].effects[0].account', message: level }]);
    expect(errorsOf({ accounts: [card()], promotions: [promo('p', [{ kind: 'top_up', account: 'card', amount: 100 }])] })).toEqual([{ path: 'promotions[0].effects[0].account', message: level }]);
    expect(errorsOf({ accounts: [card()], settings: { pointsPayment: { account: 'card' } } })).toEqual([
      { path: 'settings.pointsPayment.account', message: 'is the discount account "card", which cannot pay; name a points or money account' },
    ]);
    expect(errorsOf({ accounts: [card(), BONUS], promotions: [promo('p', [{ kind: 'message', channel: 'receipt', text: 'x' }], { condition: { kind: 'balance', accounts: ['card', 'bonus'], min: 1 } })] })).toEqual([
      { path: 'promotions[0].condition.accounts', message: 'must all be of one unit (points, money, count or percent) to add up' },
    ]);
  });

  it('refuses a promotion with the id the account applies under', () => {
    expect(errorsOf({ accounts: [card()], promotions: [promo('account:card', [{ kind: 'discount', target: 'check', percentBp: 500 }])] })).toEqual([
      { path: 'promotions[0].id', message: 'is the id the discount account "card" applies under; choose another id' },
    ]);
    // Another account's id is free to take.
    expect(validateRules({ accounts: [card()], promotions: [promo('account:other', [{ kind: 'discount', target: 'check', percentBp: 500 }])] }).ok).toBe(true);
  });
});
