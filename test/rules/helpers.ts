// Builders for rules tests: a configuration validated and compiled in one call
// (failing the test with the errors when it does not validate), and contexts.

import { compileRules, evaluate, validateRules } from '../../dist/engine/rules/index.js';
import type { CompiledRules, ContextLine, Evaluation, GuestContext, RulesContext } from '../../dist/engine/rules/index.js';

export const TZ = 'Europe/Moscow';
/** Monday 2026-03-09 13:00 in Moscow. */
export const MONDAY_13 = Date.parse('2026-03-09T13:00:00+03:00');

export function compile(config: unknown, options: { includeDrafts?: boolean; timeZone?: string } = {}): CompiledRules {
  const v = validateRules(config);
  if (!v.ok) throw new Error(`configuration does not validate: ${JSON.stringify(v.errors, null, 1)}`);
  return compileRules(v.config, { timeZone: options.timeZone ?? TZ, includeDrafts: options.includeDrafts, version: 1 });
}

export function line(itemCode: string, quantity: number, unitPrice: number, category?: string, extra: Partial<ContextLine> = {}): ContextLine {
  return category === undefined ? { itemCode, quantity, unitPrice, ...extra } : { itemCode, category, quantity, unitPrice, ...extra };
}

export function context(lines: ContextLine[], over: { time?: number; guest?: Partial<GuestContext>; check?: Partial<RulesContext['check']>; budgets?: Record<string, number> } = {}): RulesContext {
  const ctx: RulesContext = {
    time: over.time ?? MONDAY_13,
    check: { outlet: 'outlet-1', currency: 'RUB', lines, ...over.check },
    guest: { id: 'guest-1', ...over.guest },
  };
  if (over.budgets !== undefined) ctx.budgets = over.budgets;
  return ctx;
}

export function run(config: unknown, lines: ContextLine[], over: Parameters<typeof context>[1] = {}): Evaluation {
  return evaluate(compile(config), context(lines, over));
}

/** A promotion with the fields a test does not care about filled in. */
export function promo(id: string, effects: unknown[], more: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, name: id, status: 'active', effects, ...more };
}

export const BONUS = { id: 'bonus', unit: 'points', pointValueMinor: 100 };

export function explained(e: Evaluation, id: string) {
  const p = e.promotions.find((x) => x.promotion === id);
  if (p === undefined) throw new Error(`no explanation for ${id}`);
  return p;
}

/** Invariants every evaluation keeps. */
export function checkInvariants(e: Evaluation): void {
  let discount = 0;
  let total = 0;
  for (const l of e.lines) {
    if (l.discount < 0) throw new Error(`line ${l.index} discount ${l.discount} < 0`);
    if (l.discount > l.sum) throw new Error(`line ${l.index} discount ${l.discount} > sum ${l.sum}`);
    if (l.net !== l.sum - l.discount) throw new Error(`line ${l.index} net ${l.net} != sum - discount`);
    let byPromotion = 0;
    for (const a of l.applied) {
      if (a.discount < 0 || a.accrual < 0) throw new Error(`line ${l.index}: negative share of ${a.promotion}`);
      byPromotion += a.discount;
    }
    if (byPromotion !== l.discount) throw new Error(`line ${l.index}: promotions give ${byPromotion}, line says ${l.discount}`);
    discount += l.discount;
    total += l.sum;
  }
  if (discount !== e.discount) throw new Error(`lines add up to ${discount}, check says ${e.discount}`);
  if (total !== e.total) throw new Error(`line sums ${total} != total ${e.total}`);
  if (e.discount > e.total) throw new Error(`discount ${e.discount} above the check ${e.total}`);
  let fromPromotions = 0;
  for (const p of e.promotions) {
    if (p.applied) fromPromotions += p.discount;
    else if (p.discount !== 0 || p.accrual !== 0) throw new Error(`${p.promotion} did not apply but gave something`);
  }
  if (fromPromotions !== e.discount) throw new Error(`promotions give ${fromPromotions}, check says ${e.discount}`);
  for (const a of e.accruals) if (!(a.amount > 0)) throw new Error(`accrual of ${a.promotion} is ${a.amount}`);
  if (e.pointsPayment !== null && (e.pointsPayment.moneyMax < 0 || e.pointsPayment.moneyMax > e.total - e.discount)) {
    throw new Error(`points may pay ${e.pointsPayment.moneyMax} of ${e.total - e.discount}`);
  }
}
