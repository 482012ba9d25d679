// The bench's case (engine/rules/sample.ts): 50 active promotions, 10 of them CEL,
// against an 8-line check. Validates, compiles, and evaluates within the invariants;
// the figures themselves are the bench's business, not a test's.

import { describe, expect, it } from 'vitest';
import { compileRules, evaluate, validateRules } from '../../dist/engine/rules/index.js';
import { sampleContext8, sampleRules50 } from '../../dist/engine/rules/sample.js';
import { checkInvariants } from './helpers.js';

describe('the 50-promotion sample', () => {
  for (const stacking of ['all', 'best_per_line'] as const) {
    it(`validates, compiles and evaluates (${stacking})`, () => {
      const json = sampleRules50();
      (json.settings as Record<string, unknown>).stacking = stacking;
      const v = validateRules(json);
      if (!v.ok) throw new Error(JSON.stringify(v.errors));
      expect(v.config.promotions).toHaveLength(50);
      expect(v.config.promotions.filter((p) => p.status === 'active')).toHaveLength(50);
      expect(v.config.promotions.filter((p) => p.condition?.kind === 'cel')).toHaveLength(10);
      const rules = compileRules(v.config, { timeZone: 'Europe/Moscow' });
      const ctx = sampleContext8();
      expect(ctx.check.lines).toHaveLength(8);
      const e = evaluate(rules, ctx);
      checkInvariants(e);
      expect(e.promotions.filter((p) => p.applied).length).toBeGreaterThan(5);
      // Some CEL rules hold (in best_per_line their 1% then loses every line to bigger privileges).
      const cel = e.promotions.filter((p) => p.promotion.startsWith('cel-'));
      expect(cel.filter((p) => p.applied || p.reason === 'stacking').length).toBeGreaterThan(0);
      expect(cel.filter((p) => p.reason === 'condition').length).toBeGreaterThan(0);
      // The settings cap all discounts at 50% of the check.
      expect(e.discount).toBeLessThanOrEqual(Math.floor(e.total / 2));
      expect(evaluate(rules, ctx)).toEqual(e);
    });
  }
});
