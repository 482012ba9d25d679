// What one evaluation keeps for the next, and must never leak into its answer: the
// period answers a compiled configuration keeps within a local minute, the scratch
// arrays every evaluation reuses, and the index that finds the lines of all line
// matches at once. Each answer must be the one a fresh compilation, with nothing
// evaluated before, gives.

import { describe, expect, it } from 'vitest';
import { compileRules, evaluate, sampleContext8, sampleRules50, validateRules } from '../../dist/engine/rules/index.js';
import type { CompiledRules, ContextLine, RulesContext } from '../../dist/engine/rules/index.js';
import { compile, context, explained, line, promo } from './helpers.js';
import { Rng } from './prng.js';

function fresh(config: unknown, ctx: RulesContext) {
  return evaluate(compile(config), ctx);
}

describe('period answers kept within a local minute', () => {
  const config = {
    periods: [
      { id: 'happy', weekdays: [1, 2, 3, 4, 5], times: [{ from: '17:00', to: '20:00' }] },
      { id: 'friday', weekdays: [5] },
      { id: 'birthday', birthday: { daysBefore: 0, daysAfter: 0 } },
    ],
    promotions: [
      promo('happy', [{ kind: 'discount', target: 'check', percentBp: 1_000 }], { periods: ['happy'] }),
      promo('friday', [{ kind: 'discount', target: 'check', percentBp: 500 }], { periods: ['friday'] }),
      promo('birthday', [{ kind: 'discount', target: 'check', percentBp: 300 }], { periods: ['birthday'] }),
    ],
  };
  const LINES = [line('A', 1, 10_000)];

  it('follow the clock across a minute and a day, forward and back', () => {
    const rules = compile(config);
    const moments = [
      '2026-03-13T19:59:59.999+03:00', // Friday, happy hours
      '2026-03-13T20:00:00.000+03:00', // the next minute: closed
      '2026-03-13T19:59:00.000+03:00', // back in the first minute
      '2026-03-13T23:59:59.999+03:00', // Friday's last minute
      '2026-03-14T00:00:00.000+03:00', // Saturday
      '2026-03-13T23:59:30.000+03:00', // Friday again
    ];
    const open: Array<[boolean, boolean]> = [];
    for (const iso of moments) {
      const ctx = context(LINES, { time: Date.parse(iso) });
      const e = evaluate(rules, ctx);
      expect(e, iso).toEqual(fresh(config, ctx));
      open.push([explained(e, 'happy').applied, explained(e, 'friday').applied]);
    }
    expect(open).toEqual([
      [true, true],
      [false, true],
      [true, true],
      [false, true],
      [false, false],
      [false, true],
    ]);
  });

  it('are the outlet zone’s when the check names one', () => {
    const rules = compile(config);
    const time = Date.parse('2026-03-13T18:30:00+03:00'); // Moscow: Friday 18:30; Vladivostok: Saturday 01:30
    const moscow = evaluate(rules, context(LINES, { time }));
    const vladivostok = evaluate(rules, context(LINES, { time, check: { timeZone: 'Asia/Vladivostok' } }));
    const again = evaluate(rules, context(LINES, { time }));
    expect([explained(moscow, 'happy').applied, explained(vladivostok, 'happy').applied, explained(again, 'happy').applied]).toEqual([true, false, true]);
    expect(explained(vladivostok, 'friday')).toMatchObject({ applied: false, reason: 'period', detail: 'outside_periods' });
  });

  it('never keep what one guest’s birthday answered for the next guest', () => {
    const rules = compile(config);
    const time = Date.parse('2026-03-13T12:00:00+03:00');
    const guests = [{ birthday: '1990-03-13' }, {}, { birthday: '--03-13' }, { birthday: '1990-03-14' }];
    const applied = guests.map((guest) => {
      const ctx = context(LINES, { time, guest });
      const e = evaluate(rules, ctx);
      expect(e).toEqual(fresh(config, ctx));
      return explained(e, 'birthday').applied;
    });
    expect(applied).toEqual([true, false, true, false]);
  });
});

describe('line matches', () => {
  it('select the same lines however a match is written, one index for all', () => {
    const config = {
      catalog: { itemTags: { CAKE: ['sweet', 'dessert'], TART: ['sweet'] } },
      promotions: [
        promo('a', [{ kind: 'discount', target: 'lines', match: { categories: ['beer', 'wine'] }, percentBp: 100 }]),
        promo('b', [{ kind: 'discount', target: 'lines', match: { categories: ['wine', 'beer'] }, percentBp: 100 }]),
        promo('sweet-not-tart', [{ kind: 'discount', target: 'lines', match: { tags: ['sweet'], excludeItems: ['TART'] }, percentBp: 100 }]),
        promo('not-dessert', [{ kind: 'discount', target: 'check', match: { excludeTags: ['dessert'], excludeCategories: ['wine'] }, percentBp: 100 }]),
        promo('item-or-category', [{ kind: 'discount', target: 'lines', match: { items: ['SOUP'], categories: ['beer'] }, percentBp: 100 }]),
      ],
    };
    const e = fresh(config, context([line('IPA', 1, 10_000, 'beer'), line('MERLOT', 1, 10_000, 'wine'), line('CAKE', 1, 10_000), line('TART', 1, 10_000), line('SOUP', 1, 10_000, 'food')]));
    const by = (i: number) => e.lines[i]!.applied.map((a) => a.promotion);
    expect(by(0)).toEqual(['a', 'b', 'not-dessert', 'item-or-category']);
    expect(by(1)).toEqual(['a', 'b']);
    expect(by(2)).toEqual(['sweet-not-tart']);
    expect(by(3)).toEqual(['not-dessert']);
    expect(by(4)).toEqual(['not-dessert', 'item-or-category']);
  });

  it('explain a promotion whose lines are not in the check, and count no units for it', () => {
    const config = {
      promotions: [
        promo('wine', [{ kind: 'discount', target: 'lines', match: { categories: ['wine'] }, percentBp: 1_000 }]),
        promo('mugs', [{ kind: 'counter', counter: 'mugs', by: 1, perUnit: true, match: { categories: ['wine'] } }]),
      ],
    };
    const e = fresh(config, context([line('IPA', 2, 10_000, 'beer')]));
    expect(explained(e, 'wine')).toEqual({ promotion: 'wine', applied: false, reason: 'condition', detail: 'no_matching_lines', discount: 0, accrual: 0 });
    expect(e.lines[0]!.rejected).toEqual([]);
    expect(e.counters).toEqual([]);
  });
});

describe('scratch reused from one evaluation to the next', () => {
  // A second configuration with what the sample has not: exclusive promotions,
  // budgets that send the evaluation round again, nth_free over tags, excludes.
  const other = {
    accounts: [{ id: 'bonus', unit: 'points', pointValueMinor: 100 }],
    catalog: { itemTags: { CAKE: ['sweet'], ICECREAM: ['sweet'] } },
    settings: { maxDiscountBp: 3_000, pointsPayment: { account: 'bonus', maxBp: 5_000, promotionalLines: 'not_payable' } },
    promotions: [
      promo('solo', [{ kind: 'discount', target: 'lines', match: { categories: ['wine'] }, percentBp: 5_000 }], { exclusive: true, priority: 5 }),
      promo('budget', [{ kind: 'discount', target: 'check', percentBp: 2_000 }], { limits: { budget: { unit: 'money', amount: 5_000 } } }),
      promo('sweet', [{ kind: 'nth_free', match: { tags: ['sweet'] }, every: 2 }]),
      promo('points', [{ kind: 'accrual', account: 'bonus', percentBp: 500, excludePaidWithPoints: true, match: { excludeCategories: ['tobacco'] } }], { stackingExempt: true }),
      promo('units', [{ kind: 'discount', target: 'lines', match: { categories: ['beer', 'coffee'] }, amount: 1_000, perUnit: true }], { limits: { unitsPerGuest: { day: 3 } } }),
    ],
  };
  const ITEMS: Array<[string, string]> = [
    ['IPA', 'beer'],
    ['MERLOT', 'wine'],
    ['LATTE', 'coffee'],
    ['CAKE', 'dessert'],
    ['ICECREAM', 'dessert'],
    ['STEAK', 'food'],
    ['CIGARS', 'tobacco'],
  ];

  function randomCheck(r: Rng): RulesContext {
    const lines: ContextLine[] = Array.from({ length: r.pick([1, 2, 8, 30]) }, () => {
      const [itemCode, category] = r.pick(ITEMS);
      return line(itemCode, r.int(1, 6), r.int(100, 90_000), category, r.chance(0.1) ? { posPromotion: true } : {});
    });
    const base = sampleContext8();
    return { ...base, time: base.time + r.int(0, 3 * 86_400) * 1_000, check: { ...base.check, lines, paidWithPoints: r.chance(0.3) ? r.int(0, 50_000) : undefined }, budgets: { budget: r.int(0, 6_000) } };
  }

  function rulesFor(json: Record<string, unknown>, stacking: string, itemBlocksCheck = false): CompiledRules {
    const settings = { ...(json.settings as Record<string, unknown>), stacking, itemBlocksCheck };
    const v = validateRules({ ...json, settings });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    return compileRules(v.config, { timeZone: 'Europe/Moscow' });
  }

  it('answers each check the same, whatever was evaluated before it', () => {
    const configs: Array<[Record<string, unknown>, string, boolean]> = [
      [sampleRules50(), 'all', false],
      [sampleRules50(), 'best_per_line', false],
      [sampleRules50(), 'best_per_line', true],
      [other, 'all', false],
      [other, 'best_per_line', true],
    ];
    const r = new Rng(7);
    const cases = Array.from({ length: 60 }, () => {
      const [json, stacking, blocks] = r.pick(configs);
      return { json, stacking, blocks, ctx: randomCheck(r) };
    });
    // Each alone first, on its own fresh compilation...
    const alone = cases.map((c) => evaluate(rulesFor(c.json, c.stacking, c.blocks), c.ctx));
    // ...then all of them on shared compilations, forward and backward.
    const shared = new Map(configs.map(([json, stacking, blocks]) => [`${configs.findIndex((x) => x[0] === json)}:${stacking}:${blocks}`, rulesFor(json, stacking, blocks)]));
    const rulesOf = (c: (typeof cases)[number]) => shared.get(`${configs.findIndex((x) => x[0] === c.json)}:${c.stacking}:${c.blocks}`)!;
    cases.forEach((c, i) => expect(evaluate(rulesOf(c), c.ctx), `case ${i}`).toEqual(alone[i]));
    for (let i = cases.length - 1; i >= 0; i--) expect(evaluate(rulesOf(cases[i]!), cases[i]!.ctx), `case ${i} backward`).toEqual(alone[i]);
  });
});
