// Compiled CEL (engine/rules/cel-fast.ts) against cel-js, the reference it stands in
// for: on the conformance corpus, on runtime errors (which a compiled program decides
// itself: the same code, the same absorption by && || exists all, the same first
// error), on edge cases where it must step aside (ints beyond 2^53, variables cel-js
// would not take as they are), and on seeded random expressions over random
// variables. Both must give the same outcome: true, false, or the same error code;
// `compiledOnly` tells whether the compiled program decided without cel-js.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CelInput, compileCel, sampleRules50, type CelData, type CelProgram } from '../../dist/engine/rules/index.js';
import { Rng } from './prng.js';

interface Corpus {
  contexts: Record<string, CelData>;
  cases: Array<{ expr: string }>;
}

const corpus = JSON.parse(readFileSync(new URL('../fixtures/rules/cel-corpus.json', import.meta.url), 'utf8')) as Corpus;

function program(source: string): CelProgram {
  const r = compileCel(source);
  if (!r.ok) throw new Error(`${source} does not compile: ${r.error.message}`);
  return r.program;
}

/**
 * The compiled outcome and cel-js's, each on its own fresh copy of the data; cel-js
 * on the activation an evaluation gives it (typed copies made on first read, so a
 * variable that cannot be copied is an error of the expression, not a throw).
 */
function both(p: CelProgram, data: CelData): { compiled: unknown; reference: unknown } {
  const copy = (): CelData => structuredClone(data);
  return { compiled: p.runOn(new CelInput(copy)), reference: p.run(new CelInput(copy).activation()) };
}

const FELL_BACK = 'the compiled program left the decision to cel-js';

/** An input that refuses cel-js: a compiled program that steps aside throws FELL_BACK. */
class CompiledOnly extends CelInput {
  override activation(): never {
    throw new Error(FELL_BACK);
  }
}

/** The compiled program's own outcome, FELL_BACK when it left the decision to cel-js. */
function compiledOnly(p: CelProgram, data: CelData): unknown {
  try {
    return p.runOn(new CompiledOnly(() => structuredClone(data)));
  } catch (e) {
    if ((e as Error).message === FELL_BACK) return FELL_BACK;
    throw e;
  }
}

function agree(source: string, data: CelData): void {
  const { compiled, reference } = both(program(source), data);
  expect(compiled, source).toBe(reference);
}

const gold = corpus.contexts.gold!;

function withGuest(over: Partial<CelData['guest']>): CelData {
  return { ...gold, guest: { ...gold.guest, ...over } };
}

describe('compiled CEL', () => {
  it('compiles the sample rules and the usual shapes, not doubles or conversions', () => {
    const sample = (sampleRules50().promotions as Array<{ condition?: { kind: string; source: string } }>).filter((p) => p.condition?.kind === 'cel');
    expect(sample).toHaveLength(10);
    for (const p of sample) expect(program(p.condition!.source).compiled, p.condition!.source).toBe(true);
    for (const source of ['double(check.total) / 100.0 > 1133.3', 'string(check.total) == "113333"', 'guest.age > 35.5']) expect(program(source).compiled, source).toBe(false);
  });

  it('gives cel-js outcome on the conformance corpus', () => {
    for (const c of corpus.cases) for (const data of Object.values(corpus.contexts)) agree(c.expr, data);
  });

  it('decides every outcome of the corpus itself, errors included', () => {
    let errors = 0;
    for (const c of corpus.cases) {
      const p = program(c.expr);
      if (!p.compiled) continue;
      for (const data of Object.values(corpus.contexts)) {
        const { reference } = both(p, data);
        if (typeof reference === 'string') errors++;
        expect(compiledOnly(p, data), c.expr).toBe(reference);
      }
    }
    expect(errors).toBeGreaterThanOrEqual(7); // no_such_key, index_out_of_bounds, division_by_zero
  });

  it('gives cel-js error codes and absorbs errors where cel-js does, without cel-js', () => {
    const bare = withGuest({ attributes: {}, counters: {}, tags: [] });
    const cases: Array<[string, CelData, unknown]> = [
      ['guest.counters["missing"] > 0', gold, 'no_such_key'],
      ['guest.counters["visits"] % 10 == 9', bare, 'no_such_key'],
      ['guest.attributes.missing == "x"', gold, 'no_such_key'],
      ['accounts["cashback"] > 0', gold, 'no_such_key'],
      ['check.total / (check.quantity - 4) > 0', gold, 'division_by_zero'],
      ['check.total % (check.quantity - 4) > 0', gold, 'modulo_by_zero'],
      ['check.lines[7].sum > 0', gold, 'index_out_of_bounds'],
      ['guest.tags[-1] == "vip"', gold, 'index_out_of_bounds'],
      ['check.lines.filter(l, l.pos).map(l, l.sum)[5] == 1', gold, 'index_out_of_bounds'],
      // An error on the left of || or && that the right decides is absorbed...
      ['guest.counters["missing"] > 0 || true', gold, true],
      ['guest.counters["missing"] > 0 && false', gold, false],
      // ...one the right does not decide stands; when both err, the right's error is named.
      ['guest.counters["missing"] > 0 && true', gold, 'no_such_key'],
      ['guest.counters["missing"] > 0 || false', gold, 'no_such_key'],
      ['guest.counters["missing"] > 0 && check.lines[9].sum > 0', gold, 'index_out_of_bounds'],
      ['guest.counters["missing"] > 0 || 1 / 0 == 1', gold, 'division_by_zero'],
      ['false && guest.counters["missing"] > 0', gold, false],
      ['true || guest.counters["missing"] > 0', gold, true],
      ['true && guest.counters["missing"] > 0', gold, 'no_such_key'],
      ['(guest.counters["missing"] > 0 && true) || guest.level == "gold"', gold, true],
      ['!(guest.counters["missing"] > 0)', gold, 'no_such_key'],
      ['-guest.counters["missing"] < 0', gold, 'no_such_key'],
      ['guest.counters["missing"] > 0 ? true : false', gold, 'no_such_key'],
      ['guest.level == "gold" ? guest.attributes.missing == "x" : true', gold, 'no_such_key'],
      ['guest.level == "gold" ? true : guest.attributes.missing == "x"', gold, true],
      // Left before right in an operator; a call's argument before its receiver, a list's last element first.
      ['guest.counters["missing"] < check.lines[9].sum', gold, 'no_such_key'],
      ['1 < guest.counters["missing"]', gold, 'no_such_key'],
      ['guest.attributes["missing"].startsWith(guest.tags[9])', gold, 'index_out_of_bounds'],
      ['guest.attributes["missing"].contains("x")', gold, 'no_such_key'],
      ['"x".endsWith(guest.attributes["missing"])', gold, 'no_such_key'],
      ['[guest.counters["missing"], check.lines[9].sum].size() == 2', gold, 'index_out_of_bounds'],
      ['[1 / 0, 2].size() == 2', gold, 'division_by_zero'],
      ['guest.attributes["missing"] in [guest.tags[9]]', gold, 'no_such_key'],
      ['guest.attributes["missing"] in guest.attributes', gold, 'no_such_key'],
      ['"city" in [guest.tags[9]]', gold, 'index_out_of_bounds'],
      ['guest.attributes["missing"] + "x" == "x"', gold, 'no_such_key'],
      ['size(guest.attributes["missing"]) == 0', gold, 'no_such_key'],
      ['guest.attributes["missing"].size() == 0', gold, 'no_such_key'],
      // exists / all: an erring element is absorbed when another decides, else the first error stands.
      ['[0, 1].exists(x, 1 / x == 1)', gold, true],
      ['[1, 0].exists(x, 1 / x == 1)', gold, true],
      ['[0, 2].exists(x, 1 / x == 1)', gold, 'division_by_zero'],
      ['[0, 2].exists(x, x == 0 ? 1 % x == 0 : 1 / (x - 2) == 0)', gold, 'modulo_by_zero'],
      ['[2, 0].exists(x, x == 0 ? 1 % x == 0 : 1 / (x - 2) == 0)', gold, 'division_by_zero'],
      ['[0, 2].all(x, 1 / x == 1)', gold, false],
      ['[0, 1].all(x, 1 / x == 1)', gold, 'division_by_zero'],
      ['guest.counters.exists(k, guest.attributes[k] == "x")', gold, 'no_such_key'],
      ['guest.counters.all(k, guest.attributes[k] == "x")', gold, 'no_such_key'],
      // exists_one, filter and map stop on an erring element.
      ['[1, 0, 1].exists_one(x, 1 / x == 1)', gold, 'division_by_zero'],
      ['[1, 0].filter(x, 1 / x == 1).size() == 1', gold, 'division_by_zero'],
      ['[1, 0].map(x, 1 / x).size() == 2', gold, 'division_by_zero'],
      ['check.lines.exists(l, guest.counters[l.category] > 0)', gold, 'no_such_key'],
      ['check.lines.exists(l, l.sum / (l.quantity - 2) < 0)', gold, true],
      ['check.lines.exists(l, l.sum / (l.quantity - 2) > 0)', gold, 'division_by_zero'],
    ];
    for (const [source, data, expected] of cases) {
      const p = program(source);
      expect(p.compiled, source).toBe(true);
      const { compiled, reference } = both(p, data);
      expect(reference, source).toBe(expected);
      expect(compiled, source).toBe(expected);
      expect(compiledOnly(p, data), source).toBe(expected);
    }
  });

  it('steps aside where a double is no longer exact, and gives cel-js outcome', () => {
    const cases: Array<[string, CelData, unknown]> = [
      // Beyond 2^53 a double is no longer exact: cel-js's BigInt decides (and its overflow check).
      ['check.total * check.total * check.total * check.total > 0', gold, 'numeric_overflow'],
      ['check.total * check.total * check.total * 1000 > 0', gold, true],
      // 150000 × 10^11 + 1 is exact in BigInt, not in a double.
      ['accounts["bonus"] * 100000000000 + 1 > accounts["bonus"] * 100000000000', gold, true],
      // The product goes past 2^53 before the division by zero: cel-js names the zero.
      ['check.total * 1000000000000 / 0 > 0', gold, 'division_by_zero'],
    ];
    for (const [source, data, expected] of cases) {
      const p = program(source);
      expect(p.compiled, source).toBe(true);
      const { compiled, reference } = both(p, data);
      expect(reference, source).toBe(expected);
      expect(compiled, source).toBe(expected);
      expect(compiledOnly(p, data), source).toBe(FELL_BACK);
    }
  });

  it('leaves variables cel-js would not take as they are to cel-js', () => {
    const odd: CelData[] = [
      withGuest({ counters: { visits: 1.5 } }), // BigInt(1.5) throws: evaluation_error
      withGuest({ counters: { visits: '12' as unknown as number } }),
      withGuest({ attributes: { city: 7 as unknown as string } }),
      withGuest({ attributes: { city: undefined as unknown as string, likes: 'beer' } }),
      withGuest({ tags: ['vip', 5 as unknown as string] }),
      withGuest({ level: undefined as unknown as string }),
      { ...gold, accounts: { bonus: Number.NaN } },
      { ...gold, time: { ...gold.time, epochMs: 1.5 } },
      { ...gold, check: { ...gold.check, lines: [{ ...gold.check.lines[0]!, quantity: 0.5 }] } },
      { ...gold, check: { ...gold.check, total: 2 ** 60 } },
    ];
    const sources = [
      'guest.counters["visits"] >= 10',
      'guest.level == "gold"',
      'has(guest.attributes.city) && guest.attributes.city == "Moscow"',
      '"city" in guest.attributes',
      'size(guest.attributes) == 2',
      '"vip" in guest.tags',
      'accounts["bonus"] > 0',
      'time.hour >= 12',
      'check.lines.exists(l, l.quantity >= 1)',
      'check.total > 100',
      'check.total + 1 > 100',
    ];
    for (const data of odd) for (const source of sources) agree(source, data);
  });

  it('reads hostile map keys as data', () => {
    const attributes = JSON.parse('{"__proto__": "p", "constructor": "c", "city": "Kazan"}');
    for (const source of ['guest.attributes["__proto__"] == "p"', 'guest.attributes["constructor"] == "c"', '"toString" in guest.attributes', 'size(guest.attributes) == 3', 'has(guest.attributes.hasOwnProperty)']) {
      agree(source, withGuest({ attributes }));
    }
  });

  it('gives cel-js outcome on seeded random expressions and variables', () => {
    let errorsDecided = 0;
    let errorsLeft = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const r = new Rng(seed);
      const data = randomData(r);
      for (let k = 0; k < 10; k++) {
        const source = boolExpr(r, 3);
        const compiled = compileCel(source);
        if (!compiled.ok) continue; // a generated combination the type checker refuses
        const { compiled: fast, reference } = both(compiled.program, data);
        expect(fast, `seed ${seed}: ${source}`).toBe(reference);
        if (!compiled.program.compiled || !CEL_ERRORS.has(reference as string)) continue;
        // An error of CEL's own that cel-js names, the compiled program names too; on
        // these seeds it steps aside only where the variables hold huge numbers (an
        // int beyond 2^53 on the way). A variable cel-js would not take is
        // evaluation_error, left to cel-js.
        const own = compiledOnly(compiled.program, data);
        if (own === FELL_BACK) {
          errorsLeft++;
          expect(smallInts(data), `seed ${seed}: ${source} left ${String(reference)} to cel-js`).toBe(false);
        } else {
          expect(own, `seed ${seed}: ${source}`).toBe(reference);
          errorsDecided++;
        }
      }
    }
    expect(errorsDecided).toBeGreaterThan(200);
    expect(errorsLeft).toBeLessThan(10);
  });
});

// --- Random expressions over the documented variables ----------------------------

/** The runtime errors of CEL itself (evaluation_error: a variable cel-js could not copy). */
const CEL_ERRORS = new Set(['no_such_key', 'index_out_of_bounds', 'division_by_zero', 'modulo_by_zero', 'numeric_overflow']);

/** Whether every number of the variables is an integer below 2^31 (no 2^52 prices, 2^55 balances or 2.5 counters). */
function smallInts(data: CelData): boolean {
  let small = true;
  JSON.stringify(data, (_k, v: unknown) => {
    if (typeof v === 'number' && !(Number.isInteger(v) && Math.abs(v) < 2 ** 31)) small = false;
    return v;
  });
  return small;
}

const INT_FIELDS = ['check.total', 'check.quantity', 'guest.age', 'guest.registeredDays', 'time.hour', 'time.weekday', 'time.day', 'accounts["bonus"]', 'guest.counters["visits"]'];
const STRING_FIELDS = ['guest.level', 'guest.cardType', 'check.currency', 'check.outlet', 'guest.birthday', 'time.date', 'guest.attributes["city"]', 'guest.attributes.likes'];

function intExpr(r: Rng, depth: number): string {
  if (depth <= 0 || r.chance(0.5)) return r.chance(0.7) ? r.pick(INT_FIELDS) : String(r.int(-3, 100_000));
  const op = r.pick(['+', '-', '*', '/', '%']);
  return `(${intExpr(r, depth - 1)} ${op} ${r.chance(0.3) ? String(r.int(-2, 3)) : intExpr(r, depth - 1)})`;
}

function lineExpr(r: Rng): string {
  switch (r.int(0, 4)) {
    case 0:
      return `l.category == "${r.pick(['beer', 'food', 'wine', ''])}"`;
    case 1:
      return `l.quantity ${r.pick(['>=', '<', '=='])} ${r.int(0, 4)}`;
    case 2:
      return `"${r.pick(['craft', 'sweet'])}" in l.tags`;
    case 3:
      return `l.sum / l.quantity ${r.pick(['>', '<='])} ${r.int(0, 60_000)}`;
    default:
      return `${r.chance(0.5) ? '!' : ''}l.pos`;
  }
}

function atom(r: Rng): string {
  switch (r.int(0, 11)) {
    case 0:
    case 1:
      return `${intExpr(r, 2)} ${r.pick(['==', '!=', '<', '<=', '>', '>='])} ${intExpr(r, 1)}`;
    case 2:
      return `${r.pick(STRING_FIELDS)} ${r.pick(['==', '!=', '<'])} "${r.pick(['gold', 'Moscow', 'RUB', 'outlet-1', ''])}"`;
    case 3:
      return `"${r.pick(['vip', 'staff', 'x'])}" in guest.${r.pick(['tags', 'segments'])}`;
    case 4:
      return `${r.pick(['has(guest.attributes.city)', '"likes" in guest.attributes', '"bonus" in accounts', 'has(guest.counters.visits)'])}`;
    case 5:
      return `check.lines.${r.pick(['exists', 'all', 'exists_one'])}(l, ${lineExpr(r)})`;
    case 6:
      return `check.lines.filter(l, ${lineExpr(r)}).size() ${r.pick(['>', '=='])} ${r.int(0, 2)}`;
    case 7:
      return `${r.pick(['guest.level', 'check.outlet', 'guest.birthday'])}.${r.pick(['startsWith', 'endsWith', 'contains'])}("${r.pick(['go', '-1', '03', ''])}")`;
    case 8:
      return `${r.pick(['size(check.lines)', 'guest.tags.size()', 'size(guest.attributes)', 'check.currency.size()', 'check.lines[0].sum', 'check.lines[2].quantity'])} ${r.pick(['>', '=='])} ${r.int(0, 3)}`;
    case 9:
      // Elements that may err, resolved last to first; an erring one absorbed by exists / all, or not.
      return `[${intExpr(r, 1)}, ${intExpr(r, 1)}].${r.pick(['exists', 'all', 'exists_one'])}(x, ${r.pick(['x', `${r.int(1, 9)} / x`, `x % ${r.int(-1, 2)}`])} ${r.pick(['>', '=='])} ${r.int(-1, 2)})`;
    case 10:
      // A receiver and an argument that may both err: the argument is resolved first.
      return `${r.pick(STRING_FIELDS)}.${r.pick(['startsWith', 'endsWith', 'contains'])}(${r.pick(STRING_FIELDS)})`;
    default:
      return `${r.pick(['guest.counters', 'accounts'])}.exists(k, k == "${r.pick(['visits', 'bonus', 'mugs'])}")`;
  }
}

function boolExpr(r: Rng, depth: number): string {
  if (depth <= 0 || r.chance(0.35)) return atom(r);
  switch (r.int(0, 3)) {
    case 0:
      return `(${boolExpr(r, depth - 1)} && ${boolExpr(r, depth - 1)})`;
    case 1:
      return `(${boolExpr(r, depth - 1)} || ${boolExpr(r, depth - 1)})`;
    case 2:
      return `!(${boolExpr(r, depth - 1)})`;
    default:
      return `(${boolExpr(r, depth - 1)} ? ${boolExpr(r, depth - 1)} : ${boolExpr(r, depth - 1)})`;
  }
}

function randomData(r: Rng): CelData {
  const lines = Array.from({ length: r.int(0, 4) }, () => {
    const quantity = r.chance(0.1) ? 0 : r.int(1, 4);
    const unitPrice = r.chance(0.05) ? 2 ** 52 : r.int(0, 60_000);
    return { itemCode: r.pick(['IPA', 'SOUP', 'CAKE']), category: r.pick(['beer', 'food', '']), tags: r.some(['craft', 'sweet']), quantity, unitPrice, sum: quantity * unitPrice, pos: r.chance(0.2) };
  });
  const counters: Record<string, number> = {};
  if (r.chance(0.7)) counters.visits = r.chance(0.05) ? 2.5 : r.int(0, 20);
  const attributes: Record<string, string> = {};
  if (r.chance(0.6)) attributes.city = r.pick(['Moscow', 'Kazan']);
  if (r.chance(0.3)) attributes.likes = 'beer';
  return {
    guest: {
      id: 'g',
      level: r.pick(['gold', 'silver', '']),
      tags: r.some(['vip', 'staff']),
      segments: r.some(['football']),
      age: r.int(-1, 80),
      birthday: r.pick(['03-10', '']),
      registeredDays: r.int(-1, 800),
      cardType: r.pick(['plastic', '']),
      attributes,
      counters,
    },
    check: {
      total: lines.reduce((a, l) => a + l.sum, 0),
      currency: 'RUB',
      organization: '',
      partner: '',
      outlet: r.pick(['outlet-1', 'o2']),
      terminal: '',
      outletTags: [],
      quantity: lines.reduce((a, l) => a + l.quantity, 0),
      lines,
    },
    accounts: r.chance(0.8) ? { bonus: r.chance(0.05) ? 2 ** 55 : r.int(0, 200_000) } : {},
    time: { year: 2026, month: r.int(1, 12), day: r.int(1, 28), weekday: r.int(1, 7), hour: r.int(0, 23), minute: r.int(0, 59), date: '2026-03-09', epochMs: 1_773_050_700_000 },
  };
}
