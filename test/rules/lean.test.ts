// Evaluation without explanations (`explain: false`, what a check needs) against the
// explained one: the same answer less what only explains it — lines' `applied` and
// `rejected` empty, `promotions` only the applied ones (same order, same figures).
// On the sample configuration (both stacking modes, a guest with and without a
// profile), on the property tests' random configurations and checks, and with the
// two modes interleaved on shared compilations (what one evaluation keeps for the
// next must not depend on the mode).

import { describe, expect, it } from 'vitest';
import { compileRules, evaluate, sampleContext8, sampleRules50, validateRules } from '../../dist/engine/rules/index.js';
import type { CompiledRules, Evaluation, RulesContext } from '../../dist/engine/rules/index.js';
import { check, configuration } from './generators.js';
import { Rng } from './prng.js';

const LEAN = { explain: false } as const;

/** What `explain: false` must answer, from the explained answer. */
function projection(e: Evaluation): Evaluation {
  return { ...e, lines: e.lines.map((l) => ({ ...l, applied: [], rejected: [] })), promotions: e.promotions.filter((p) => p.applied) };
}

function expectLean(lean: Evaluation, explained: Evaluation, label: string): void {
  const want = projection(explained);
  expect(lean, label).toEqual(want);
  // Field for field, in the same order, nothing more (toEqual passes over undefined fields).
  expect(JSON.stringify(lean), label).toBe(JSON.stringify(want));
}

/** An explained answer: a verdict for every promotion of the configuration. */
function explainedOf(rules: CompiledRules, ctx: RulesContext): Evaluation {
  const e = evaluate(rules, ctx, { explain: true });
  expect(e.promotions.map((p) => p.promotion)).toEqual(rules.promotions.map((p) => p.id));
  return e;
}

function compiled(json: unknown): CompiledRules {
  const v = validateRules(json);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return compileRules(v.config, { timeZone: 'Europe/Moscow' });
}

function sample(stacking: 'all' | 'best_per_line', itemBlocksCheck = false): CompiledRules {
  const json = sampleRules50();
  json.settings = { ...(json.settings as Record<string, unknown>), stacking, itemBlocksCheck };
  return compiled(json);
}

/** The sample's check with a guest that has no level, tags, counters or attributes (CEL rules reading them err). */
function bareGuest(ctx: RulesContext): RulesContext {
  const guest = { ...ctx.guest };
  delete guest.level;
  delete guest.tags;
  delete guest.counters;
  delete guest.attributes;
  return { ...ctx, guest };
}

/** Sample checks over a week, at several hours, some on other lines, some of a guest with no profile. */
function sampleContexts(): RulesContext[] {
  const out: RulesContext[] = [];
  const start = Date.parse('2026-03-09T09:00:00+03:00');
  for (let day = 0; day < 7; day++) {
    for (const hour of [0, 4, 8.5, 10, 12]) {
      const ctx = sampleContext8(start + (day * 24 + hour) * 3_600_000);
      out.push(ctx, bareGuest(ctx));
    }
  }
  return out;
}

describe('evaluation without explanations', () => {
  it('answers the sample as the explained evaluation does, less the explanation, in both stacking modes', () => {
    const modes: Array<[string, CompiledRules]> = [
      ['all', sample('all')],
      ['best_per_line', sample('best_per_line')],
      ['best_per_line, item blocks check', sample('best_per_line', true)],
    ];
    for (const [mode, rules] of modes) {
      sampleContexts().forEach((ctx, k) => {
        const explained = explainedOf(rules, ctx);
        const lean = evaluate(rules, ctx, LEAN);
        expectLean(lean, explained, `${mode}, context ${k}`);
        for (const l of lean.lines) expect(l.applied.length + l.rejected.length).toBe(0);
        expect(lean.promotions.every((p) => p.applied && p.reason === undefined && p.detail === undefined)).toBe(true);
      });
    }
    // The comparison means something: the explained answer has verdicts and per-line lists to drop...
    const ctx = sampleContext8();
    const explained = evaluate(sample('all'), ctx);
    expect(explained.promotions.length).toBe(50);
    expect(explained.promotions.filter((p) => p.applied).length).toBe(34);
    expect(explained.lines.every((l) => l.applied.length > 0)).toBe(true);
    expect(explained.lines.some((l) => l.rejected.length > 0)).toBe(true);
    // ...and a guest without a profile takes the CEL error path (guest.counters["visits"]: no such key).
    const bare = evaluate(sample('all'), bareGuest(ctx));
    expect(bare.promotions.find((p) => p.promotion === 'cel-6')).toMatchObject({ applied: false, reason: 'condition', detail: 'cel:cel_error:no_such_key' });
    expectLean(evaluate(sample('all'), bareGuest(ctx), LEAN), bare, 'bare guest');
  });

  it('explains by default', () => {
    const rules = sample('best_per_line');
    const ctx = sampleContext8();
    const explained = explainedOf(rules, ctx);
    expect(evaluate(rules, ctx)).toEqual(explained);
    expect(evaluate(rules, ctx, {})).toEqual(explained);
    expect(evaluate(rules, ctx, { explain: undefined })).toEqual(explained);
    expect(JSON.stringify(evaluate(rules, ctx))).toBe(JSON.stringify(explained));
  });

  it('answers random configurations and checks as the explained evaluation does (600 seeds × 4 checks)', () => {
    for (let seed = 1; seed <= 600; seed++) {
      const r = new Rng(seed);
      const rules = compiled(configuration(r));
      for (let k = 0; k < 4; k++) {
        const ctx = check(r);
        const snapshot = JSON.stringify(ctx);
        const explained = explainedOf(rules, ctx);
        expectLean(evaluate(rules, ctx, LEAN), explained, `seed ${seed}, check ${k}`);
        expect(JSON.stringify(ctx), `seed ${seed}: evaluate changed its input`).toBe(snapshot);
      }
    }
  });

  it('keeps nothing from one mode for the other: interleaved on shared compilations, each answer is a fresh one’s', () => {
    const r = new Rng(2024);
    const configs: unknown[] = [];
    for (const [stacking, blocks] of [['all', false], ['best_per_line', false], ['best_per_line', true]] as const) {
      const json = sampleRules50();
      json.settings = { ...(json.settings as Record<string, unknown>), stacking, itemBlocksCheck: blocks };
      configs.push(json);
    }
    for (let k = 0; k < 12; k++) configs.push(configuration(r));
    const contexts = sampleContexts();
    const cases = Array.from({ length: 240 }, () => {
      const c = r.int(0, configs.length - 1);
      return { c, ctx: c < 3 ? r.pick(contexts) : check(r) };
    });
    // Each alone, explained, on a compilation of its own: the reference.
    const reference = cases.map(({ c, ctx }) => explainedOf(compiled(configs[c]), ctx));
    const shared = configs.map(compiled);
    const at = (i: number, explain: boolean) => {
      const { c, ctx } = cases[i]!;
      if (explain) expect(explainedOf(shared[c]!, ctx), `case ${i}, explained`).toEqual(reference[i]);
      else expectLean(evaluate(shared[c]!, ctx, LEAN), reference[i]!, `case ${i}, lean`);
    };
    // The modes alternating from one check to the next, forward and backward...
    cases.forEach((_, i) => at(i, i % 2 === 0));
    for (let i = cases.length - 1; i >= 0; i--) at(i, i % 2 === 1);
    // ...and on the same check, one after the other.
    cases.forEach((_, i) => {
      at(i, false);
      at(i, true);
      at(i, false);
    });
  });
});
