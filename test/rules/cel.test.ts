// Custom rules in CEL: type-checked when compiled, errors with a position; bounded
// in size, depth and cost; no way out of the sandbox; runtime errors make the
// condition false and are explained, never thrown.

import { describe, expect, it } from 'vitest';
import { compileCel, evaluate, RULES_LIMITS } from '../../dist/engine/rules/index.js';
import { compile, context, explained, line, promo } from './helpers.js';

function error(source: string) {
  const r = compileCel(source);
  if (r.ok) throw new Error(`expected ${source.slice(0, 60)} to be refused`);
  return r.error;
}

function celRule(source: string) {
  return compile({ promotions: [promo('cel', [{ kind: 'discount', target: 'check', percentBp: 100 }], { condition: { kind: 'cel', source } })] });
}

const LINES = [line('IPA', 2, 25_000, 'beer'), line('SOUP', 1, 30_000, 'food')];

describe('CEL compile-time checks', () => {
  it('reports type errors with the position', () => {
    expect(error('guest.levle == "gold"')).toMatchObject({ code: 'no_such_key', start: 6, end: 11, line: 1, column: 7 });
    expect(error('check.total + "x" > 0')).toMatchObject({ code: 'no_such_overload', start: 0 });
    expect(error('customer.level == "gold"')).toMatchObject({ code: 'unknown_variable', start: 0, end: 8 });
    expect(error('check.total > 1000 &&\n  guest.age.size() > 0')).toMatchObject({ line: 2, column: 3 });
    expect(error('check.total > ')).toMatchObject({ code: 'unexpected_token', start: 14 });
    expect(error('check.total')).toMatchObject({ code: 'not_bool' });
    expect(error('check.total').message).toBe('must be a condition (bool), but is int (at 1:1)');
  });

  it('accepts the documented variables and fields', () => {
    const ok = [
      'guest.id != "" && guest.level in ["gold", "silver"] && "vip" in guest.tags && guest.segments.size() >= 0',
      'guest.age >= 18 && guest.birthday.startsWith("03-") && guest.registeredDays < 30 && guest.cardType == "rfid"',
      'has(guest.attributes.city) && guest.attributes["city"] == "Moscow" && guest.counters["visits"] > 5',
      'check.total > 100000 && check.currency == "RUB" && check.organization + check.partner + check.outlet + check.terminal != ""',
      '"mall" in check.outletTags && check.quantity >= 3',
      'check.lines.exists(l, l.category == "beer" && l.quantity >= 2 && l.unitPrice * l.quantity == l.sum && !l.pos && "x" in l.tags && l.itemCode != "")',
      'accounts["bonus"] >= 500 && "deposit" in accounts',
      'time.weekday <= 5 && time.hour >= 12 && time.minute >= 0 && time.year == 2026 && time.month == 3 && time.day == 9 && time.date == "2026-03-09" && time.epochMs > 0',
    ];
    for (const source of ok) expect(compileCel(source), source).toMatchObject({ ok: true });
  });

  it('has no prototype to reach: __proto__, constructor, prototype are no fields', () => {
    for (const source of ['guest.__proto__ == null', 'check.constructor == null', 'check.lines[0].__proto__.constructor == null', 'time.prototype == null', 'guest.attributes.__proto__ == "x"']) {
      const r = compileCel(source);
      if (r.ok) {
        // A map key is a key: reading it on a guest without it is a runtime error, i.e. false.
        const e = evaluate(celRule(source), context(LINES, { guest: { attributes: { city: 'Moscow' } } }));
        expect(explained(e, 'cel')).toMatchObject({ applied: false, reason: 'condition' });
        expect(explained(e, 'cel').detail).toContain('cel_error:no_such_key');
      } else {
        expect(['no_such_key', 'cannot_index_type', 'no_such_overload']).toContain(r.error.code);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reads hostile map keys as data, not as the host', () => {
    // A guest whose attributes hold "__proto__" and "constructor" keys (JSON can carry them).
    const attributes = JSON.parse('{"__proto__": "p", "constructor": "c", "city": "Kazan"}');
    const rules = celRule('guest.attributes["__proto__"] == "p" && guest.attributes["constructor"] == "c" && !("toString" in guest.attributes) && size(guest.attributes) == 3');
    expect(explained(evaluate(rules, context(LINES, { guest: { attributes } })), 'cel').applied).toBe(true);
    const missing = celRule('guest.attributes["toString"] == "x"');
    expect(explained(evaluate(missing, context(LINES, { guest: { attributes: { city: 'Kazan' } } })), 'cel').applied).toBe(false);
  });

  it('bounds the source, the AST, the depth and list literals', () => {
    expect(error('x'.repeat(RULES_LIMITS.cel_source_chars_max + 1))).toMatchObject({ code: 'limit_exceeded' });
    expect(error('')).toMatchObject({ code: 'limit_exceeded' });
    expect(error('('.repeat(500) + 'true' + ')'.repeat(500))).toMatchObject({ code: 'limit_exceeded' });
    expect(error('!'.repeat(1_000) + 'true')).toMatchObject({ code: 'limit_exceeded' });
    expect(error(Array.from({ length: 300 }, () => 'check.total').join(' + ') + ' > 0')).toMatchObject({ code: 'limit_exceeded' });
    expect(error(`check.total in [${Array.from({ length: RULES_LIMITS.cel_list_elements_max + 1 }, (_, i) => i).join(', ')}]`)).toMatchObject({ code: 'limit_exceeded' });
    expect(error(`"a" in {${Array.from({ length: RULES_LIMITS.cel_map_entries_max + 1 }, (_, i) => `"k${i}": 1`).join(', ')}}`)).toMatchObject({ code: 'limit_exceeded' });
  });

  it('refuses a comprehension nested over the lines of another, and regular expressions', () => {
    expect(error('check.lines.all(a, check.lines.all(b, a.sum + b.sum > 0))')).toMatchObject({ code: 'too_costly' });
    expect(error('check.lines.exists(a, check.lines.exists(b, check.lines.exists(c, a.sum == b.sum)))')).toMatchObject({ code: 'too_costly' });
    // Over a small literal it is fine.
    expect(compileCel('check.lines.exists(l, ["beer", "cider"].exists(c, l.category == c))')).toMatchObject({ ok: true });
    expect(error('guest.attributes["name"].matches("(a+)+$")')).toMatchObject({ code: 'forbidden_function', start: 0 });
  });

  it('turns runtime errors into a false condition with the code in the explanation', () => {
    const rules = celRule('check.total / (check.quantity - 3) > 0');
    const e = evaluate(rules, context(LINES)); // quantity 3: division by zero
    expect(explained(e, 'cel')).toMatchObject({ applied: false, reason: 'condition', detail: 'cel:cel_error:division_by_zero' });
    expect(explained(evaluate(rules, context([line('A', 4, 100)])), 'cel').applied).toBe(true);
    const index = celRule('check.lines[5].sum > 0');
    expect(explained(evaluate(index, context(LINES)), 'cel').detail).toMatch(/^cel:cel_error:/);
  });

  it('is compiled once and gives the same answer every time', () => {
    const rules = celRule('check.lines.filter(l, l.category == "beer").map(l, l.sum).size() == 1 && guest.level == "gold"');
    const ctx = context(LINES, { guest: { level: 'gold' } });
    const first = evaluate(rules, ctx);
    for (let i = 0; i < 100; i++) expect(evaluate(rules, ctx)).toEqual(first);
    expect(explained(first, 'cel').applied).toBe(true);
  });

  it('sees a fresh copy: an expression cannot change the caller', () => {
    const guest = { level: 'gold', tags: ['vip'], attributes: { a: 'b' }, balances: { bonus: 1 } };
    const snapshot = JSON.stringify(guest);
    evaluate(celRule('guest.tags.map(t, t + "x").size() == 1 && accounts["bonus"] == 1'), context(LINES, { guest }));
    expect(JSON.stringify(guest)).toBe(snapshot);
  });
});
