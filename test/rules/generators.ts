// Seeded generators of promotion configurations and checks, for the property
// tests (properties.test.ts) and the lean / explained comparison (lean.test.ts):
// every mechanic with its limits, both stacking modes, partners, POS promotions,
// budgets and usage near their caps.

import type { ContextLine, RulesContext } from '../../dist/engine/rules/index.js';
import type { Rng } from './prng.js';

const CATEGORIES = ['beer', 'food', 'dessert', 'coffee', 'alcohol'];
const ITEMS = ['IPA', 'LAGER', 'SOUP', 'STEAK', 'CAKE', 'LATTE', 'WINE', 'NUTS'];

function match(r: Rng) {
  const m: Record<string, string[]> = {};
  if (r.chance(0.6)) m.categories = r.some(CATEGORIES, 0.4);
  if (r.chance(0.3)) m.items = r.some(ITEMS, 0.3);
  if (r.chance(0.2)) m.tags = ['promo'];
  if (r.chance(0.2)) m.excludeCategories = [r.pick(CATEGORIES)];
  return m;
}

function hasInclude(m: Record<string, string[]>) {
  return (m.categories?.length ?? 0) + (m.items?.length ?? 0) + (m.tags?.length ?? 0) > 0;
}

function effect(r: Rng): Record<string, unknown> {
  switch (r.int(0, 9)) {
    case 0:
      return { kind: 'discount', target: 'check', percentBp: r.int(1, 10_000), match: { excludeCategories: r.some(CATEGORIES, 0.2) } };
    case 1:
      return { kind: 'discount', target: 'check', amount: r.int(1, 200_000) };
    case 2:
      return { kind: 'discount', target: 'lines', match: match(r), amount: r.int(1, 50_000), perUnit: r.chance(0.5) };
    case 3: {
      const m = match(r);
      return hasInclude(m) ? { kind: 'nth_free', match: m, every: r.int(2, 5), ...(r.chance(0.3) ? { maxFree: r.int(1, 3) } : {}) } : { kind: 'discount', target: 'lines', match: m, percentBp: r.int(1, 10_000) };
    }
    case 4:
      return { kind: 'accrual', account: r.pick(['bonus', 'cheap', 'cashback']), percentBp: r.int(1, 3_000), match: r.chance(0.3) ? match(r) : {}, excludePaidWithPoints: r.chance(0.5) };
    case 5:
      return { kind: 'accrual', account: r.pick(['bonus', 'mugs']), perUnit: r.int(1, 500), match: match(r) };
    case 6:
      return { kind: 'accrual', account: 'bonus', fixed: r.int(1, 10_000) };
    case 7:
      return { kind: 'counter', counter: 'visits', by: r.int(-2, 3) || 1 };
    case 8:
      return { kind: 'message', channel: r.pick(['receipt', 'screen', 'cashier']), text: 'hello' };
    default:
      return { kind: 'discount', target: 'lines', match: match(r), percentBp: r.int(1, 10_000) };
  }
}

function condition(r: Rng): Record<string, unknown> | undefined {
  switch (r.int(0, 5)) {
    case 0:
      return { kind: 'check_sum', min: r.int(0, 200_000) };
    case 1:
      return { kind: 'lines', match: { categories: [r.pick(CATEGORIES)] }, minQuantity: r.int(1, 3) };
    case 2:
      return { kind: 'cel', source: `check.lines.exists(l, l.quantity >= ${r.int(1, 4)}) || guest.level == "gold"` };
    case 3:
      return { kind: 'any', of: [{ kind: 'guest_level', levels: ['gold'] }, { kind: 'not', of: { kind: 'guest_tags', any: ['staff'] } }] };
    default:
      return undefined;
  }
}

export function configuration(r: Rng) {
  const stacking = r.pick(['all', 'best_per_line']);
  const promotions = Array.from({ length: r.int(0, 12) }, (_, i) => {
    const limits: Record<string, unknown> = {};
    if (r.chance(0.15)) limits.maxDiscountBp = r.int(0, 10_000);
    if (r.chance(0.1)) limits.maxDiscountAmount = r.int(0, 50_000);
    if (r.chance(0.15)) limits.unitsPerGuest = { day: r.int(0, 6) };
    if (r.chance(0.1)) limits.accrualMax = { check: r.int(0, 5_000) };
    if (r.chance(0.15)) limits.budget = { unit: r.pick(['money', 'points']), amount: r.int(0, 100_000) };
    if (r.chance(0.1)) limits.usesPerGuest = { day: 1 };
    const cond = condition(r);
    return {
      id: `p${i}`,
      name: `P${i}`,
      status: r.chance(0.9) ? 'active' : r.pick(['draft', 'paused', 'archived']),
      priority: r.int(0, 3),
      exclusive: r.chance(0.08),
      ...(r.chance(0.1) ? { template: 'registration_bonus' } : {}),
      ...(r.chance(0.1) ? { partner: 'cinema' } : {}),
      ...(cond ? { condition: cond } : {}),
      effects: Array.from({ length: r.int(1, 3) }, () => effect(r)),
      limits,
    };
  });
  return {
    accounts: [
      { id: 'bonus', unit: 'points', pointValueMinor: 100 },
      { id: 'cheap', unit: 'points', pointValueMinor: r.int(1, 300) },
      { id: 'cashback', unit: 'money' },
      { id: 'mugs', unit: 'count' },
    ],
    catalog: { itemTags: { IPA: ['promo'], CAKE: ['promo', 'sweet'] } },
    settings: {
      stacking,
      itemBlocksCheck: stacking === 'best_per_line' && r.chance(0.5),
      ...(r.chance(0.3) ? { maxDiscountBp: r.int(0, 10_000) } : {}),
      posModes: r.some(['block_points_payment', 'block_accrual', 'block_promotions', 'exclude_pos_lines'], 0.2),
      baseAccrualOnPromotionalLines: r.chance(0.5),
      ...(r.chance(0.7)
        ? { pointsPayment: { account: r.pick(['bonus', 'cheap', 'cashback']), maxBp: r.int(0, 10_000), minFiscalPayment: r.int(0, 10_000), promotionalLines: r.pick(['payable', 'not_payable', 'payable_if_accrues']), forbiddenCategories: r.some(CATEGORIES, 0.2) } }
        : {}),
    },
    partners: r.chance(0.3) ? [{ id: 'cinema', settings: { stacking: 'best_per_line' } }] : [],
    promotions,
  };
}

export function check(r: Rng): RulesContext {
  const lines: ContextLine[] = Array.from({ length: r.int(1, 12) }, () => {
    const quantity = r.chance(0.05) ? r.int(100, 1_000) : r.int(1, 5);
    const unitPrice = r.chance(0.05) ? 0 : r.chance(0.05) ? r.int(1_000_000, 100_000_000) : r.int(1, 100_000);
    const line: ContextLine = { itemCode: r.pick(ITEMS), category: r.pick(CATEGORIES), quantity, unitPrice };
    if (r.chance(0.1)) line.posDiscount = r.int(0, quantity * unitPrice + 10);
    if (r.chance(0.05)) line.posPromotion = true;
    return line;
  });
  const usage: Record<string, { day: number; unitsDay: number }> = {};
  for (let i = 0; i < 12; i++) if (r.chance(0.2)) usage[`p${i}`] = { day: r.int(0, 1), unitsDay: r.int(0, 5) };
  const budgets: Record<string, number> = {};
  for (let i = 0; i < 12; i++) if (r.chance(0.3)) budgets[`p${i}`] = r.int(0, 20_000);
  return {
    time: Date.parse('2026-03-09T13:00:00+03:00') + r.int(0, 30 * 86_400) * 1_000,
    check: { outlet: 'o1', currency: 'RUB', lines, ...(r.chance(0.3) ? { partner: 'cinema' } : {}), ...(r.chance(0.3) ? { paidWithPoints: r.int(0, 100_000) } : {}) },
    guest: { id: 'g', ...(r.chance(0.5) ? { level: 'gold' } : {}), tags: r.some(['staff', 'vip'], 0.3), usage },
    budgets,
  };
}
