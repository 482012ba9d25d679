// Property tests over random promotion sets and random checks from a seeded PRNG
// (a failure names its seed; rerun it alone with SEED=n). After every evaluation:
// discounts never negative, never above a line or the check; line sums equal the
// check's; caps, budgets and limits hold; the same input gives the same output,
// from the same compiled rules and from a second compilation.

import { describe, expect, it } from 'vitest';
import { compileRules, evaluate, validateRules } from '../../dist/engine/rules/index.js';
import type { Evaluation, RulesContext } from '../../dist/engine/rules/index.js';
import { check, configuration } from './generators.js';
import { checkInvariants } from './helpers.js';
import { Rng } from './prng.js';

function budgetsHold(config: ReturnType<typeof configuration>, ctx: RulesContext, e: Evaluation) {
  for (const u of e.usage) {
    const p = config.promotions.find((x) => x.id === u.promotion)!;
    const limits = p.limits as { budget?: { unit: string; amount: number }; maxDiscountAmount?: number; accrualMax?: { check: number } };
    if (limits.budget) {
      const left = ctx.budgets![u.promotion] ?? limits.budget.amount;
      expect(limits.budget.unit === 'money' ? u.discount : u.points).toBeLessThanOrEqual(left);
    }
    if (limits.maxDiscountAmount !== undefined) expect(u.discount).toBeLessThanOrEqual(limits.maxDiscountAmount);
    if (limits.accrualMax) {
      const accrued = e.accruals.filter((a) => a.promotion === u.promotion).reduce((a, b) => a + b.amount, 0);
      expect(accrued).toBeLessThanOrEqual(limits.accrualMax.check);
    }
  }
  const maxBp = (config.settings as { maxDiscountBp?: number }).maxDiscountBp;
  if (maxBp !== undefined && !(ctx.check.partner === 'cinema' && config.partners.length > 0)) {
    expect(e.discount).toBeLessThanOrEqual(Math.floor((e.total * maxBp) / 10_000));
  }
}

const only = process.env.SEED === undefined ? null : Number(process.env.SEED);

describe('properties over random promotion sets and checks', () => {
  it('hold for 600 seeded configurations × 4 checks', () => {
    for (let seed = only ?? 1; seed <= (only ?? 600); seed++) {
      const r = new Rng(seed);
      const config = configuration(r);
      const v = validateRules(config);
      if (!v.ok) throw new Error(`seed ${seed}: generated configuration refused: ${JSON.stringify(v.errors)}`);
      const rules = compileRules(v.config, { timeZone: 'Europe/Moscow' });
      const again = compileRules(validateRules(JSON.parse(JSON.stringify(v.config))).ok ? v.config : v.config, { timeZone: 'Europe/Moscow' });
      for (let k = 0; k < 4; k++) {
        const ctx = check(r);
        const snapshot = JSON.stringify(ctx);
        let e: Evaluation;
        try {
          e = evaluate(rules, ctx);
          checkInvariants(e);
          budgetsHold(config, ctx, e);
        } catch (err) {
          throw new Error(`seed ${seed}, check ${k}: ${(err as Error).message}`);
        }
        expect(evaluate(rules, ctx), `seed ${seed}`).toEqual(e);
        expect(evaluate(again, JSON.parse(snapshot)), `seed ${seed}`).toEqual(e);
        expect(JSON.stringify(ctx), `seed ${seed}: evaluate changed its input`).toBe(snapshot);
      }
    }
  });
});
