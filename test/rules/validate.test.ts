// Invalid configurations are refused with the path of the field and the fix;
// valid ones come back normalized, defaults filled, and validate to themselves.

import { describe, expect, it } from 'vitest';
import { validateRules, RULES_LIMITS } from '../../dist/engine/rules/index.js';
import { BONUS, promo } from './helpers.js';

function errorsOf(config: unknown) {
  const r = validateRules(config);
  if (r.ok) throw new Error('expected the configuration to be refused');
  return r.errors;
}

/** The configuration is refused with an error at `path` whose message contains `fragment`. */
function refused(config: unknown, path: string, fragment: string) {
  const errors = errorsOf(config);
  const hit = errors.find((e) => e.path === path);
  expect(hit, `no error at ${path}; got ${JSON.stringify(errors)}`).toBeDefined();
  expect(hit!.message).toContain(fragment);
}

const discount = { kind: 'discount', target: 'check', percentBp: 500 };
const withPromo = (p: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ accounts: [BONUS], promotions: [{ id: 'p', name: 'P', status: 'active', effects: [discount], ...p }], ...extra });

describe('validateRules', () => {
  it('fills defaults and validates its own output to the same', () => {
    const r = validateRules({ accounts: [BONUS, { id: 'deposit', unit: 'money' }, { id: 'visits', unit: 'count' }], promotions: [promo('p', [discount])] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.settings).toEqual({
      stacking: 'all',
      itemBlocksCheck: false,
      maxDiscountBp: null,
      discountsPerGuest: { day: null, month: null },
      posModes: [],
      baseAccrualOnPromotionalLines: false,
      pointsPayment: null,
    });
    expect(r.config.promotions[0]).toMatchObject({ priority: 0, exclusive: false, stackingExempt: false, template: 'custom', partner: null, periods: [], condition: null });
    const again = validateRules(JSON.parse(JSON.stringify(r.config)));
    expect(again).toEqual({ ok: true, config: JSON.parse(JSON.stringify(r.config)) });
  });

  it('the default status is draft: nothing goes live by omission', () => {
    const r = validateRules({ promotions: [{ id: 'p', name: 'P', effects: [discount] }] });
    expect(r.ok && r.config.promotions[0]!.status).toBe('draft');
  });

  it('refuses what is not an object, and unknown fields anywhere', () => {
    expect(errorsOf(null)).toEqual([{ path: '', message: 'must be an object, not null' }]);
    expect(errorsOf([])[0]!.message).toContain('must be an object');
    refused({ promotion: [] }, 'promotion', 'is not a known field; remove it');
    refused(withPromo({ colour: 'red' }), 'promotions[0].colour', 'is not a known field');
    refused(withPromo({ effects: [{ ...discount, precent: 1 }] }), 'promotions[0].effects[0].precent', 'is not a known field');
    refused({ settings: { stacking: 'all', pointsPayment: { account: 'bonus', maxbp: 1 } }, accounts: [BONUS] }, 'settings.pointsPayment.maxbp', 'is not a known field');
  });

  it('names the field and the fix for bad values', () => {
    refused(withPromo({ effects: [{ ...discount, percentBp: 20_000 }] }), 'promotions[0].effects[0].percentBp', 'must be an integer from 1 to 10000 (basis points: 500 = 5%');
    refused(withPromo({ effects: [{ ...discount, percentBp: 5.5 }] }), 'promotions[0].effects[0].percentBp', 'must be an integer');
    refused(withPromo({ status: 'live' }), 'promotions[0].status', 'must be one of "draft", "active", "paused", "archived"');
    refused(withPromo({ priority: -1 }), 'promotions[0].priority', 'must be an integer from 0 to');
    refused(withPromo({ id: '' }), 'promotions[0].id', 'must be 1..64 characters');
    refused(withPromo({ id: 'has space' }), 'promotions[0].id', 'must start with a letter or digit');
    refused(withPromo({ name: undefined }), 'promotions[0].name', 'is required');
    refused(withPromo({ effects: [] }), 'promotions[0].effects', 'must hold at least one item');
    refused(withPromo({ validFrom: '2026-03-01' }), 'promotions[0].validFrom', 'ISO 8601 time with offset');
    refused(withPromo({ validFrom: '2026-03-02T00:00:00Z', validTo: '2026-03-01T00:00:00Z' }), 'promotions[0].validTo', 'must be after validFrom');
    refused(withPromo({ exclusive: 'yes' }), 'promotions[0].exclusive', 'must be true or false');
  });

  it('refuses effects that give two amounts or none', () => {
    refused(withPromo({ effects: [{ kind: 'discount', target: 'check', percentBp: 500, amount: 100 }] }), 'promotions[0].effects[0]', 'exactly one of percentBp, amount (not percentBp and amount)');
    refused(withPromo({ effects: [{ kind: 'discount', target: 'check' }] }), 'promotions[0].effects[0]', 'exactly one of percentBp, amount');
    refused(withPromo({ effects: [{ kind: 'accrual', account: 'bonus', percentBp: 100, fixed: 5 }] }), 'promotions[0].effects[0]', 'exactly one of percentBp, perUnit, fixed');
    refused(withPromo({ effects: [{ kind: 'discount', target: 'lines', percentBp: 100, perUnit: true }] }), 'promotions[0].effects[0].perUnit', 'goes with amount');
    refused(withPromo({ effects: [{ kind: 'nth_free', match: { items: ['BEER'] }, every: 1 }] }), 'promotions[0].effects[0].every', 'N ≥ 2');
    refused(withPromo({ effects: [{ kind: 'nth_free', every: 3 }] }), 'promotions[0].effects[0].match', 'is required');
    refused(withPromo({ effects: [{ kind: 'counter', counter: 'visits', by: 0 }] }), 'promotions[0].effects[0].by', 'must not be 0');
    refused(withPromo({ effects: [{ kind: 'top_up', account: 'bonus', amount: 0 }] }), 'promotions[0].effects[0].amount', 'must not be 0');
    refused(withPromo({ effects: [{ kind: 'message', channel: 'fax', text: 'hi' }] }), 'promotions[0].effects[0].channel', 'must be one of "receipt", "screen", "cashier"');
    refused(withPromo({ effects: [{ kind: 'message', channel: 'receipt', text: 'x'.repeat(501) }] }), 'promotions[0].effects[0].text', 'must be 1..500 characters');
    refused(withPromo({ effects: [{ kind: 'explode' }] }), 'promotions[0].effects[0].kind', 'must be one of "discount"');
  });

  it('a check-level discount takes only exclude lists', () => {
    refused(withPromo({ effects: [{ kind: 'discount', target: 'check', match: { items: ['A'] }, percentBp: 100 }] }), 'promotions[0].effects[0].match', 'use target "lines"');
  });

  it('resolves references to periods and accounts', () => {
    refused(withPromo({ periods: ['lunch'] }), 'promotions[0].periods[0]', 'names no period; define "lunch" in periods');
    refused(withPromo({ condition: { kind: 'period', period: 'lunch' } }), 'promotions[0].condition.period', 'names no period');
    refused(withPromo({ effects: [{ kind: 'accrual', account: 'gold', percentBp: 100 }] }), 'promotions[0].effects[0].account', 'names no account; define "gold" in accounts');
    refused(withPromo({ condition: { kind: 'balance', accounts: ['bonus', 'nope'], min: 1 } }), 'promotions[0].condition.accounts[1]', 'names no account');
    refused(withPromo({ effects: [{ kind: 'accrual', account: 'visits', percentBp: 100 }] }, { accounts: [{ id: 'visits', unit: 'count' }] }), 'promotions[0].effects[0].percentBp', 'cannot accrue a percentage of money into the count account');
    refused({ accounts: [{ id: 'visits', unit: 'count' }], settings: { pointsPayment: { account: 'visits' } } }, 'settings.pointsPayment.account', 'cannot pay');
    refused({ accounts: [{ id: 'd', unit: 'money', pointValueMinor: 5 }] }, 'accounts[0].pointValueMinor', 'applies to points accounts only');
    refused(withPromo({ condition: { kind: 'balance', accounts: ['bonus', 'd'], min: 1 } }, { accounts: [BONUS, { id: 'd', unit: 'money' }] }), 'promotions[0].condition.accounts', 'must all be of one unit');
  });

  it('refuses duplicate ids', () => {
    refused({ promotions: [promo('a', [discount]), promo('a', [discount])] }, 'promotions[1].id', 'repeats the promotion id "a" of promotions[0]');
    refused({ periods: [{ id: 'x' }, { id: 'x' }] }, 'periods[1].id', 'repeats the period id');
    refused({ accounts: [BONUS, BONUS] }, 'accounts[1].id', 'repeats the account id');
    refused(withPromo({ condition: { kind: 'guest_level', levels: ['gold', 'gold'] } }), 'promotions[0].condition.levels[1]', 'repeats "gold"');
  });

  it('checks periods field by field', () => {
    refused({ periods: [{ id: 'p', weekdays: [0] }] }, 'periods[0].weekdays[0]', 'ISO weekday from 1 (Monday) to 7 (Sunday)');
    refused({ periods: [{ id: 'p', weeksOfMonth: [0] }] }, 'periods[0].weeksOfMonth[0]', 'or -1 for the last seven days');
    refused({ periods: [{ id: 'p', months: [13] }] }, 'periods[0].months[0]', 'a month from 1');
    refused({ periods: [{ id: 'p', dates: [{ from: '2026-02-30', to: '2026-03-01' }] }] }, 'periods[0].dates[0].from', 'must be a date YYYY-MM-DD');
    refused({ periods: [{ id: 'p', dates: [{ from: '2026-03-02', to: '2026-03-01' }] }] }, 'periods[0].dates[0].to', 'must not be before from');
    refused({ periods: [{ id: 'p', times: [{ from: '9:00', to: '18:00' }] }] }, 'periods[0].times[0].from', 'HH:MM');
    refused({ periods: [{ id: 'p', times: [{ from: '24:30', to: '18:00' }] }] }, 'periods[0].times[0].from', 'HH:MM');
    refused({ periods: [{ id: 'p', times: [{ from: '10:00', to: '10:00' }] }] }, 'periods[0].times[0].to', 'must differ from from');
    refused({ periods: [{ id: 'p', birthday: { daysBefore: 40 } }] }, 'periods[0].birthday.daysBefore', 'from 0 to 31');
  });

  it('checks conditions, with their paths through all / any / not', () => {
    refused(withPromo({ condition: { kind: 'all', of: [{ kind: 'any', of: [{ kind: 'guest_level', levels: [] }] }] } }), 'promotions[0].condition.of[0].of[0].levels', 'at least one level');
    refused(withPromo({ condition: { kind: 'not' } }), 'promotions[0].condition.of', 'the condition to negate');
    refused(withPromo({ condition: { kind: 'check_sum' } }), 'promotions[0].condition', 'must give min or max');
    refused(withPromo({ condition: { kind: 'check_sum', min: 10, max: 5 } }), 'promotions[0].condition.max', 'must not be below min (10)');
    refused(withPromo({ condition: { kind: 'currency', currencies: ['rub'] } }), 'promotions[0].condition.currencies[0]', 'ISO 4217');
    refused(withPromo({ condition: { kind: 'lines', match: {} } }), 'promotions[0].condition.match', 'must select lines');
    refused(withPromo({ condition: { kind: 'place' } }), 'promotions[0].condition', 'must name organizations, partners, outlets');
    refused(withPromo({ condition: { kind: 'weather' } }), 'promotions[0].condition.kind', 'must be one of "all", "any"');
  });

  it('bounds nesting depth and the number of conditions', () => {
    let deep: Record<string, unknown> = { kind: 'guest_level', levels: ['gold'] };
    for (let i = 0; i <= RULES_LIMITS.conditions_depth_max; i++) deep = { kind: 'not', of: deep };
    const errors = errorsOf(withPromo({ condition: deep }));
    expect(errors.some((e) => e.message.includes(`deeper than ${RULES_LIMITS.conditions_depth_max} levels`))).toBe(true);
    const wide = { kind: 'any', of: Array.from({ length: RULES_LIMITS.conditions_per_promotion_max }, () => ({ kind: 'guest_level', levels: ['gold'] })) };
    refused(withPromo({ condition: wide }), `promotions[0].condition.of[${RULES_LIMITS.conditions_per_promotion_max - 1}]`, `more than ${RULES_LIMITS.conditions_per_promotion_max} conditions`);
  });

  it('bounds lists: promotions, effects, values', () => {
    const many = Array.from({ length: RULES_LIMITS.promotions_max + 1 }, (_, i) => promo(`p${i}`, [discount]));
    refused({ promotions: many }, 'promotions', `must hold at most ${RULES_LIMITS.promotions_max} items`);
    refused(withPromo({ effects: Array.from({ length: RULES_LIMITS.effects_per_promotion_max + 1 }, () => discount) }), 'promotions[0].effects', 'at most 16 items');
    refused(withPromo({ condition: { kind: 'guest_level', levels: Array.from({ length: RULES_LIMITS.list_values_max + 1 }, (_, i) => `l${i}`) } }), 'promotions[0].condition.levels', 'at most 1000 items');
  });

  it('stops listing after config_errors_max errors and says how many more', () => {
    const bad = Array.from({ length: 150 }, (_, i) => ({ id: `p${i}`, name: 'P', effects: [{ kind: 'discount', target: 'check', percentBp: 0 }] }));
    const errors = errorsOf({ promotions: bad });
    expect(errors).toHaveLength(RULES_LIMITS.config_errors_max + 1);
    expect(errors.at(-1)).toEqual({ path: '', message: '50 more errors not listed; fix the ones above first' });
  });

  it('settings: itemBlocksCheck needs best_per_line; pos modes are checked', () => {
    refused({ settings: { itemBlocksCheck: true } }, 'settings.itemBlocksCheck', 'works only with stacking "best_per_line"');
    expect(validateRules({ settings: { stacking: 'best_per_line', itemBlocksCheck: true } }).ok).toBe(true);
    refused({ settings: { posModes: ['block_everything'] } }, 'settings.posModes[0]', 'must be one of "block_points_payment"');
    refused({ partners: [{ id: 'cinema', settings: { stacking: 'none' } }] }, 'partners[0].settings.stacking', 'must be one of "all", "best_per_line"');
    refused({ partners: [{ id: 'cinema' }] }, 'partners[0].settings', "is required: the partner's own policy");
  });

  it('refuses CEL that does not type-check, with the position', () => {
    refused(withPromo({ condition: { kind: 'cel', source: 'guest.levle == "gold"' } }), 'promotions[0].condition.source', 'No such key: levle (at 1:7) [no_such_key 6..11]');
    refused(withPromo({ condition: { kind: 'cel', source: 'check.total' } }), 'promotions[0].condition.source', 'must be a condition (bool), but is int');
  });

  it('takes nothing from the input by reference, prototypes included', () => {
    const input = JSON.parse('{"catalog":{"itemTags":{"__proto__":["x"],"A":["beer"]}},"promotions":[{"id":"p","name":"P","status":"active","effects":[{"kind":"discount","target":"check","percentBp":100}]}]}');
    const r = validateRules(input);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Object.keys(r.config.catalog.itemTags)).toEqual(['__proto__', 'A']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    input.promotions[0].effects[0].percentBp = 9_999;
    expect((r.config.promotions[0]!.effects[0] as { percentBp: number }).percentBp).toBe(100);
  });
});

describe('the README example', () => {
  it('validates', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(new URL('../../engine/rules/README.md', import.meta.url), 'utf8');
    const json = /```json\n([\s\S]*?)\n```/.exec(readme)![1]!;
    const r = validateRules(JSON.parse(json));
    expect(r.ok ? [] : r.errors).toEqual([]);
  });
});
