// Stacking: the default (all apply, never above the check), priority, exclusive,
// no stacking (best privilege per line, registration bonus exempt), item blocks
// check, the four modes with the POS's own promotions, and coalition rank.

import { describe, expect, it } from 'vitest';
import { BONUS, checkInvariants, compile, context, explained, line, promo, run } from './helpers.js';
import { evaluate } from '../../dist/engine/rules/index.js';

const BEER = { categories: ['beer'] };

describe('stacking: all (default)', () => {
  it('each discount takes from what the ones before it left; the total never exceeds the check', () => {
    // 60% of 1000 = 600; 60% of the 400 left = 240; 500 off the 160 left = 160 → 1000 exactly.
    const cfg = {
      promotions: [
        promo('a', [{ kind: 'discount', target: 'lines', match: BEER, percentBp: 6_000 }], { priority: 3 }),
        promo('b', [{ kind: 'discount', target: 'check', percentBp: 6_000 }], { priority: 2 }),
        promo('c', [{ kind: 'discount', target: 'check', amount: 500 }], { priority: 1 }),
        promo('d', [{ kind: 'discount', target: 'check', amount: 500 }]),
      ],
    };
    const e = run(cfg, [line('IPA', 1, 1_000, 'beer')]);
    expect(e.promotions.map((p) => [p.promotion, p.discount])).toEqual([
      ['a', 600],
      ['b', 240],
      ['c', 160],
      ['d', 0],
    ]);
    expect(explained(e, 'd')).toMatchObject({ applied: false, reason: 'stacking', detail: 'nothing_left' });
    expect(e.lines[0]!.rejected).toEqual([{ promotion: 'd', reason: 'stacking', detail: 'nothing_left' }]);
    expect(e.discount).toBe(1_000);
    checkInvariants(e);
  });

  it('priority orders them: higher first', () => {
    // 50% first: 1500, then 1000 → 2500. 1000 first, then 50% of 2000 → 2000.
    const mk = (halfPriority: number) => ({
      promotions: [
        promo('amount', [{ kind: 'discount', target: 'check', amount: 1_000 }], { priority: 5 }),
        promo('half', [{ kind: 'discount', target: 'check', percentBp: 5_000 }], { priority: halfPriority }),
      ],
    });
    expect(run(mk(10), [line('A', 1, 3_000)]).discount).toBe(2_500);
    expect(run(mk(1), [line('A', 1, 3_000)]).discount).toBe(2_000);
    // Equal priority: the order of the configuration.
    expect(run(mk(5), [line('A', 1, 3_000)]).discount).toBe(2_000);
  });

  it('an exclusive promotion applies alone; a stacking-exempt registration bonus still applies', () => {
    const cfg = {
      accounts: [BONUS],
      promotions: [
        promo('ten', [{ kind: 'discount', target: 'check', percentBp: 1_000 }], { priority: 9 }),
        promo('solo', [{ kind: 'discount', target: 'check', percentBp: 2_000 }], { exclusive: true }),
        promo('welcome', [{ kind: 'accrual', account: 'bonus', fixed: 10_000 }], { template: 'registration_bonus' }),
        promo('solo2', [{ kind: 'discount', target: 'check', percentBp: 9_000 }], { exclusive: true }),
      ],
    };
    const e = run(cfg, [line('A', 1, 10_000)]);
    expect(e.promotions.map((p) => [p.promotion, p.applied, p.detail ?? ''])).toEqual([
      ['ten', false, 'exclusive:solo'],
      ['solo', true, ''],
      ['welcome', true, ''],
      ['solo2', false, 'exclusive:solo'],
    ]);
    expect(e.discount).toBe(2_000);
    expect(e.accruals).toEqual([{ promotion: 'welcome', account: 'bonus', amount: 10_000, delayDays: 0, expiryDays: 0 }]);
  });

  it('an exclusive promotion that gives nothing does not block the others', () => {
    // solo qualifies but there is no beer: it gives nothing, so ten applies (10% of 10000).
    const cfg = {
      promotions: [
        promo('solo', [{ kind: 'discount', target: 'lines', match: BEER, percentBp: 5_000 }], { exclusive: true, priority: 9 }),
        promo('ten', [{ kind: 'discount', target: 'check', percentBp: 1_000 }]),
      ],
    };
    const e = run(cfg, [line('SOUP', 1, 10_000, 'food')]);
    expect(explained(e, 'solo')).toMatchObject({ applied: false, reason: 'condition', detail: 'no_matching_lines' });
    expect(explained(e, 'ten')).toMatchObject({ applied: true, discount: 1_000 });
    // With beer it applies alone: 50% of 4000.
    const e2 = run(cfg, [line('SOUP', 1, 10_000, 'food'), line('IPA', 1, 4_000, 'beer')]);
    expect(e2.discount).toBe(2_000);
    expect(explained(e2, 'ten')).toMatchObject({ applied: false, reason: 'stacking', detail: 'exclusive:solo' });
  });

  it('an exclusive promotion that does not qualify leaves the others alone', () => {
    const cfg = {
      promotions: [
        promo('ten', [{ kind: 'discount', target: 'check', percentBp: 1_000 }]),
        promo('solo', [{ kind: 'discount', target: 'check', percentBp: 2_000 }], { exclusive: true, condition: { kind: 'guest_level', levels: ['gold'] } }),
      ],
    };
    expect(run(cfg, [line('A', 1, 10_000)]).discount).toBe(1_000);
    expect(run(cfg, [line('A', 1, 10_000)], { guest: { level: 'gold' } }).discount).toBe(2_000);
  });
});

describe('stacking: best_per_line ("promotions and levels do not stack")', () => {
  // Beer 100.00, food 200.00. beer20: 20% on beer = 2000 (value 2000.00 kopecks).
  // acc15: 15% accrual on everything; alone: 15% of 30000 = 4500 hundredths, per line 1500 / 3000,
  // worth 15.00 / 30.00 at 1 point = 1.00.
  const base = (extra: unknown[] = [], settings: Record<string, unknown> = {}) => ({
    accounts: [BONUS],
    settings: { stacking: 'best_per_line', ...settings },
    promotions: [
      promo('beer20', [{ kind: 'discount', target: 'lines', match: BEER, percentBp: 2_000 }]),
      promo('acc15', [{ kind: 'accrual', account: 'bonus', percentBp: 1_500 }], { template: 'base_accrual' }),
      ...extra,
    ],
  });
  const lines = [line('IPA', 1, 10_000, 'beer'), line('SOUP', 1, 20_000, 'food')];

  it('each line takes its single most valuable privilege', () => {
    // Beer: 2000 discount beats 1500 points (15.00) → beer20. Food: only acc15, on 20000 → 3000.
    const e = run(base(), lines);
    expect(e.lines.map((l) => [l.discount, l.applied.map((a) => a.promotion)])).toEqual([
      [2_000, ['beer20']],
      [0, ['acc15']],
    ]);
    expect(e.accruals).toEqual([{ promotion: 'acc15', account: 'bonus', amount: 3_000, delayDays: 0, expiryDays: 0 }]);
    expect(e.lines[0]!.rejected).toEqual([{ promotion: 'acc15', reason: 'stacking', detail: 'best:beer20' }]);
    checkInvariants(e);
  });

  it('values points at their money worth: a bigger accrual wins the line', () => {
    // A 25% accrual: 2500 points on the beer (25.00) beats the 20.00 discount; it takes both lines.
    const cfg = base();
    (cfg.promotions[1] as { effects: unknown[] }).effects = [{ kind: 'accrual', account: 'bonus', percentBp: 2_500 }];
    const e = run(cfg, lines);
    expect(e.discount).toBe(0);
    expect(explained(e, 'beer20')).toMatchObject({ applied: false, reason: 'stacking', detail: 'lost_every_line' });
    expect(e.accruals[0]!.amount).toBe(7_500); // 25% of 30000
  });

  it('ties go by rank', () => {
    // beer20 and beer2000 give the same 2000 on the beer: the first in rank keeps it.
    const e = run(base([promo('beer2000', [{ kind: 'discount', target: 'lines', match: BEER, amount: 2_000 }])]), lines);
    expect(e.lines[0]!.applied.map((a) => a.promotion)).toEqual(['beer20']);
    const e2 = run(base([promo('beer2000', [{ kind: 'discount', target: 'lines', match: BEER, amount: 2_000 }], { priority: 1 })]), lines);
    expect(e2.lines[0]!.applied.map((a) => a.promotion)).toEqual(['beer2000']);
  });

  it('the registration bonus is outside the contest and accrues on every line', () => {
    // welcome: 10% of what is left to pay: (10000 − 2000) + 20000 = 28000 → 2800.
    const welcome = promo('welcome', [{ kind: 'accrual', account: 'bonus', percentBp: 1_000 }], { template: 'registration_bonus' });
    const e = run(base([welcome]), lines);
    expect(e.accruals.map((a) => [a.promotion, a.amount])).toEqual([
      ['acc15', 3_000],
      ['welcome', 2_800],
    ]);
    expect(e.lines[0]!.applied.map((a) => a.promotion)).toEqual(['beer20', 'welcome']);
  });

  it('an item promotion blocks check-level promotions', () => {
    // check5: 5% off the whole check, worth more on the soup (1000) than acc15 (3000 points = 30.00)? No: 30.00 > 10.00,
    // so make it 20%: 4000 on the soup beats 3000. With itemBlocksCheck it leaves the contest once beer20 offers anything.
    const check20 = promo('check20', [{ kind: 'discount', target: 'check', percentBp: 2_000 }]);
    const free = run(base([check20]), lines);
    expect(free.lines.map((l) => l.applied.map((a) => a.promotion))).toEqual([['beer20'], ['check20']]); // beer: tie 2000 vs 2000 → beer20 by rank
    const blocked = run(base([check20], { itemBlocksCheck: true }), lines);
    expect(explained(blocked, 'check20')).toMatchObject({ applied: false, reason: 'stacking', detail: 'item_blocks_check' });
    expect(blocked.lines.map((l) => l.applied.map((a) => a.promotion))).toEqual([['beer20'], ['acc15']]);
    // No beer: nothing of the item promotion, so the check-level one applies.
    const noBeer = run(base([check20], { itemBlocksCheck: true }), [line('SOUP', 1, 20_000, 'food')]);
    expect(explained(noBeer, 'check20')).toMatchObject({ applied: true, discount: 4_000 });
  });

  it("the program's own accrual goes only to lines no promotion won", () => {
    const cfg = { settings: { stacking: 'best_per_line' }, promotions: [promo('beer20', [{ kind: 'discount', target: 'lines', match: BEER, percentBp: 2_000 }])] };
    expect(run(cfg, lines).lines.map((l) => l.baseAccrual)).toEqual([false, true]);
  });
});

describe("the four modes with the POS's own promotions (r_keeper 002)", () => {
  // Line 0 had a POS promotion (100.00 → 90.00 by the POS); line 1 did not.
  const lines = [line('IPA', 1, 10_000, 'beer', { posDiscount: 1_000 }), line('SOUP', 1, 20_000, 'food')];
  const cfg = (posModes: string[]) => ({
    accounts: [BONUS],
    settings: { posModes, pointsPayment: { account: 'bonus', maxBp: 10_000, promotionalLines: 'payable' } },
    promotions: [promo('off', [{ kind: 'discount', target: 'check', percentBp: 1_000 }]), promo('acc', [{ kind: 'accrual', account: 'bonus', percentBp: 1_000 }])],
  });

  it('none: the POS promotion only lowers the line sum', () => {
    // Sums 9000 + 20000 = 29000; 10% off = 2900 → 26100; accrual 10% = 2610.
    const e = run(cfg([]), lines);
    expect([e.total, e.discount, e.accruals[0]!.amount, e.pointsPayment!.moneyMax]).toEqual([29_000, 2_900, 2_610, 26_100]);
  });

  it('block_points_payment: nothing payable with points', () => {
    const e = run(cfg(['block_points_payment']), lines);
    expect(e.pointsPayment!.moneyMax).toBe(0);
    expect(e.lines.map((l) => l.pointsPayable)).toEqual([false, false]);
    expect(e.discount).toBe(2_900);
  });

  it('block_accrual: nothing accrues, not even the program', () => {
    const e = run(cfg(['block_accrual']), lines);
    expect(e.accruals).toEqual([]);
    expect(explained(e, 'acc')).toMatchObject({ applied: false, reason: 'stacking', detail: 'pos_promotion_in_check' });
    expect(e.lines.map((l) => l.baseAccrual)).toEqual([false, false]);
    expect(e.discount).toBe(2_900);
  });

  it('block_promotions: none of ours applies', () => {
    const e = run(cfg(['block_promotions']), lines);
    expect(e.discount).toBe(0);
    expect(e.promotions.map((p) => [p.reason, p.detail])).toEqual([
      ['stacking', 'pos_promotion_in_check'],
      ['stacking', 'pos_promotion_in_check'],
    ]);
    // Without a POS promotion in the check they do.
    expect(run(cfg(['block_promotions']), [line('SOUP', 1, 20_000, 'food')]).discount).toBe(2_000);
  });

  it('exclude_pos_lines: both apply, but points pay for and accrue on the other lines only', () => {
    // Discount 2900 as before (900 + 2000); accrual 10% of the soup's 18000 = 1800; points pay 18000.
    const e = run(cfg(['exclude_pos_lines']), lines);
    expect(e.discount).toBe(2_900);
    expect(e.accruals[0]!.amount).toBe(1_800);
    expect(e.pointsPayment!.moneyMax).toBe(18_000);
    expect(e.lines.map((l) => [l.pointsPayable, l.baseAccrual])).toEqual([
      [false, false],
      [true, false],
    ]);
    expect(e.lines[0]!.rejected).toEqual([{ promotion: 'acc', reason: 'stacking', detail: 'pos_promotion_on_line' }]);
  });

  it('a POS promotion flag without a discount counts too', () => {
    const e = run(cfg(['block_promotions']), [line('IPA', 1, 10_000, 'beer', { posPromotion: true })]);
    expect(e.discount).toBe(0);
  });
});

describe('coalition', () => {
  const cfg = {
    accounts: [BONUS],
    settings: { stacking: 'all' },
    partners: [{ id: 'cinema', settings: { stacking: 'best_per_line' } }],
    promotions: [
      promo('partner-solo', [{ kind: 'discount', target: 'check', percentBp: 3_000 }], { partner: 'cinema', priority: 1_000, exclusive: true }),
      promo('org-solo', [{ kind: 'discount', target: 'check', percentBp: 1_000 }], { exclusive: true }),
    ],
  };

  it("the organization's rules outrank a partner's own, whatever the partner's priority", () => {
    const rules = compile(cfg);
    expect(rules.promotions.map((p) => p.id)).toEqual(['org-solo', 'partner-solo']);
    const e = evaluate(rules, context([line('TICKET', 2, 50_000)], { check: { partner: 'cinema' } }));
    expect(explained(e, 'org-solo')).toMatchObject({ applied: true, discount: 10_000 });
    expect(explained(e, 'partner-solo')).toMatchObject({ applied: false, reason: 'stacking', detail: 'exclusive:org-solo' });
  });

  it("a partner's promotions apply only to its checks", () => {
    const e = evaluate(compile(cfg), context([line('FUEL', 1, 50_000)], { check: { partner: 'fuel' } }));
    expect(explained(e, 'partner-solo')).toMatchObject({ applied: false, reason: 'condition', detail: 'other_partner' });
  });

  it('a partner with a policy of its own uses its settings, the others the shared ones', () => {
    const two = {
      ...cfg,
      promotions: [promo('a', [{ kind: 'discount', target: 'check', percentBp: 1_000 }]), promo('b', [{ kind: 'discount', target: 'check', percentBp: 2_000 }])],
    };
    const rules = compile(two);
    // Shared policy: both stack: 1000 + 20% of 9000 = 2800. Cinema: best per line: 2000.
    expect(evaluate(rules, context([line('X', 1, 10_000)], { check: { partner: 'fuel' } })).discount).toBe(2_800);
    expect(evaluate(rules, context([line('X', 1, 10_000)], { check: { partner: 'cinema' } })).discount).toBe(2_000);
  });
});
