// A realistic configuration of 50 active promotions (10 of them custom CEL rules)
// and an 8-line check: the case the bench measures as `evaluate.ws.promotions50`
// and engine/rules/measure.ts times alone. A mix of what the seeds configure:
// happy hours, category discounts, N-th item free, level and birthday privileges,
// accruals, counters, messages, and limits.

import type { RulesContext } from './model.js';

const CATEGORIES = ['beer', 'wine', 'coffee', 'dessert', 'food', 'snack', 'soft', 'tobacco'];

/** The JSON an admin would save: validate it with validateRules before compiling. */
export function sampleRules50(): Record<string, unknown> {
  const promotions: Array<Record<string, unknown>> = [];
  const add = (id: string, effects: unknown[], more: Record<string, unknown> = {}) => promotions.push({ id, name: id, status: 'active', effects, ...more });

  // 10 custom rules in CEL.
  const cel = [
    'guest.level == "gold" && check.total > 100000',
    'check.lines.exists(l, l.category == "beer" && l.quantity >= 2)',
    '"vip" in guest.tags && time.hour >= 18',
    'accounts["bonus"] >= 50000 && check.quantity >= 5',
    'guest.age >= 18 && check.lines.exists(l, l.category == "wine")',
    'check.lines.filter(l, l.category == "dessert").size() > 0 && time.weekday <= 5',
    'guest.counters["visits"] % 10 == 9',
    'check.outlet.startsWith("outlet-") && guest.registeredDays < 30',
    'has(guest.attributes.city) && guest.attributes.city == "Moscow" && check.total >= 50000',
    'time.month == 3 && time.day == 8',
  ];
  cel.forEach((source, i) => add(`cel-${i}`, [{ kind: 'discount', target: 'check', percentBp: 100 + i * 10 }], { condition: { kind: 'cel', source } }));

  // 10 category discounts, half of them in the happy hours.
  CATEGORIES.concat(['beer', 'coffee']).forEach((c, i) =>
    add(`cat-${i}`, [{ kind: 'discount', target: 'lines', match: { categories: [c] }, percentBp: 300 + i * 50 }], i % 2 === 0 ? { periods: ['happy-hours'] } : { periods: ['weekdays'] }),
  );

  // 5 check-level discounts by check sum.
  for (let i = 0; i < 5; i++) add(`sum-${i}`, [{ kind: 'discount', target: 'check', amount: 1_000 * (i + 1) }], { condition: { kind: 'check_sum', min: 50_000 * (i + 1) } });

  // 5 accruals.
  add('acc-base', [{ kind: 'accrual', account: 'bonus', percentBp: 500 }], { template: 'base_accrual' });
  add('acc-gold', [{ kind: 'accrual', account: 'bonus', percentBp: 300 }], { condition: { kind: 'guest_level', levels: ['gold'] } });
  add('acc-coffee', [{ kind: 'accrual', account: 'bonus', perUnit: 100, match: { categories: ['coffee'] } }]);
  add('acc-visit', [{ kind: 'accrual', account: 'bonus', fixed: 1_000 }], { condition: { kind: 'counter', counter: 'visits', max: 0 }, template: 'registration_bonus' });
  add('acc-mugs', [{ kind: 'accrual', account: 'mugs', perUnit: 1, match: { categories: ['beer'] } }]);

  // 5 per-unit and N-th free.
  add('nth-beer', [{ kind: 'nth_free', match: { categories: ['beer'] }, every: 6 }]);
  add('nth-coffee', [{ kind: 'nth_free', match: { categories: ['coffee'] }, every: 3, maxFree: 1 }]);
  add('unit-snack', [{ kind: 'discount', target: 'lines', match: { categories: ['snack'] }, amount: 500, perUnit: true }]);
  add('unit-soft', [{ kind: 'discount', target: 'lines', match: { items: ['COLA', 'WATER'] }, amount: 300, perUnit: true }]);
  add('nth-dessert', [{ kind: 'nth_free', match: { tags: ['sweet'] }, every: 2 }]);

  // 5 guest privileges.
  add('birthday', [{ kind: 'discount', target: 'check', percentBp: 1_500 }, { kind: 'message', channel: 'receipt', text: 'Happy birthday!' }], { periods: ['birthday-week'] });
  add('vip', [{ kind: 'discount', target: 'check', percentBp: 500 }], { condition: { kind: 'guest_tags', any: ['vip'] } });
  add('silver', [{ kind: 'discount', target: 'check', percentBp: 300 }], { condition: { kind: 'guest_level', levels: ['silver'] } });
  add('football', [{ kind: 'discount', target: 'lines', match: { categories: ['beer'] }, percentBp: 700 }], { condition: { kind: 'guest_segments', any: ['football'] } });
  add('seniors', [{ kind: 'discount', target: 'check', percentBp: 500 }], { condition: { kind: 'guest_age', min: 65 } });

  // 5 counters and messages.
  add('visits', [{ kind: 'counter', counter: 'visits', by: 1 }]);
  add('beer-mugs', [{ kind: 'counter', counter: 'beer_mugs', by: 1, perUnit: true, match: { categories: ['beer'] } }]);
  add('hello', [{ kind: 'message', channel: 'screen', text: 'Welcome back' }], { condition: { kind: 'counter', counter: 'visits', min: 1 } });
  add('cashier', [{ kind: 'message', channel: 'cashier', text: 'Offer a dessert' }], { condition: { kind: 'not', of: { kind: 'lines', match: { categories: ['dessert'] } } } });
  add('owner', [{ kind: 'notify', channel: 'owner', template: 'big_check' }], { condition: { kind: 'check_sum', min: 500_000 } });

  // 5 with limits.
  add('one-a-day', [{ kind: 'discount', target: 'check', percentBp: 1_000 }], { limits: { usesPerGuest: { day: 1 } }, condition: { kind: 'place', outlets: ['outlet-9'] } });
  add('promo-units', [{ kind: 'discount', target: 'lines', match: { categories: ['wine'] }, percentBp: 2_000 }], { limits: { unitsPerGuest: { day: 2, month: 10 } } });
  add('budgeted', [{ kind: 'discount', target: 'check', amount: 2_000 }], { limits: { budget: { unit: 'money', amount: 10_000_000 } } });
  add('capped', [{ kind: 'accrual', account: 'bonus', percentBp: 1_000 }], { limits: { accrualMax: { check: 5_000 } } });
  add('lunch', [{ kind: 'discount', target: 'lines', match: { categories: ['food'] }, percentBp: 1_000 }], { periods: ['lunch'], limits: { maxDiscountBp: 500 } });

  return {
    periods: [
      { id: 'happy-hours', weekdays: [1, 2, 3, 4, 5], times: [{ from: '17:00', to: '20:00' }] },
      { id: 'weekdays', weekdays: [1, 2, 3, 4, 5] },
      { id: 'lunch', times: [{ from: '12:00', to: '16:00' }] },
      { id: 'birthday-week', birthday: { daysBefore: 3, daysAfter: 3 } },
    ],
    accounts: [
      { id: 'bonus', unit: 'points', pointValueMinor: 100 },
      { id: 'mugs', unit: 'count' },
    ],
    catalog: { itemTags: { CAKE: ['sweet'], ICECREAM: ['sweet'] } },
    settings: { maxDiscountBp: 5_000, pointsPayment: { account: 'bonus', maxBp: 5_000, forbiddenCategories: ['tobacco'] } },
    promotions,
  };
}

/** An 8-line check of a gold guest on a weekday lunch time. */
export function sampleContext8(time = Date.parse('2026-03-10T13:30:00+03:00')): RulesContext {
  return {
    time,
    check: {
      outlet: 'outlet-1',
      terminal: 'terminal-1',
      currency: 'RUB',
      lines: [
        { itemCode: 'IPA', category: 'beer', quantity: 3, unitPrice: 35_000 },
        { itemCode: 'MERLOT', category: 'wine', quantity: 1, unitPrice: 90_000 },
        { itemCode: 'LATTE', category: 'coffee', quantity: 2, unitPrice: 25_000 },
        { itemCode: 'CAKE', category: 'dessert', quantity: 1, unitPrice: 30_000 },
        { itemCode: 'STEAK', category: 'food', quantity: 1, unitPrice: 120_000 },
        { itemCode: 'NUTS', category: 'snack', quantity: 2, unitPrice: 15_000 },
        { itemCode: 'COLA', category: 'soft', quantity: 2, unitPrice: 12_000 },
        { itemCode: 'CIGARS', category: 'tobacco', quantity: 1, unitPrice: 80_000 },
      ],
    },
    guest: {
      id: 'guest-1',
      level: 'gold',
      tags: ['vip'],
      segments: ['football'],
      birthday: '1985-03-12',
      registeredAt: Date.parse('2025-01-15T10:00:00+03:00'),
      attributes: { city: 'Moscow' },
      balances: { bonus: 120_000 },
      counters: { visits: 9 },
      usage: { 'promo-units': { unitsDay: 0, unitsMonth: 3 } },
    },
    budgets: { budgeted: 5_000_000 },
  };
}
