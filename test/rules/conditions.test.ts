// One test per condition kind: the promotion applies when the condition holds and
// is explained with reason `condition` (and which clause) when it does not.

import { describe, expect, it } from 'vitest';
import { BONUS, compile, context, explained, line, promo } from './helpers.js';
import { evaluate } from '../../dist/engine/rules/index.js';

/** A 1% check discount guarded by `condition`: applied ⇔ the condition holds. */
function guarded(condition: unknown, extra: Record<string, unknown> = {}) {
  return compile({ accounts: [BONUS, { id: 'deposit', unit: 'money' }], promotions: [promo('p', [{ kind: 'discount', target: 'check', percentBp: 100 }], { condition })], ...extra });
}

const LINES = [line('BEER', 2, 25_000, 'beer'), line('SOUP', 1, 30_000, 'food')]; // 80000

function applies(condition: unknown, over: Parameters<typeof context>[1] = {}, lines = LINES): boolean {
  const e = evaluate(guarded(condition), context(lines, over));
  const p = explained(e, 'p');
  if (!p.applied) expect(p.reason).toBe('condition');
  return p.applied;
}

describe('conditions', () => {
  it('place: organization, partner, outlet, terminal, outlet tags', () => {
    expect(applies({ kind: 'place', outlets: ['outlet-1'] })).toBe(true);
    expect(applies({ kind: 'place', outlets: ['outlet-2'] })).toBe(false);
    expect(applies({ kind: 'place', terminals: ['t-1'] }, { check: { terminal: 't-1' } })).toBe(true);
    expect(applies({ kind: 'place', terminals: ['t-1'] })).toBe(false);
    expect(applies({ kind: 'place', organizations: ['org'], partners: ['cinema'] }, { check: { organization: 'org', partner: 'cinema' } })).toBe(true);
    expect(applies({ kind: 'place', partners: ['cinema'] }, { check: { partner: 'fuel' } })).toBe(false);
    expect(applies({ kind: 'place', outletTags: ['mall', 'airport'] }, { check: { outletTags: ['airport'] } })).toBe(true);
    expect(applies({ kind: 'place', outletTags: ['mall'] }, { check: { outletTags: ['airport'] } })).toBe(false);
  });

  it('guest level', () => {
    expect(applies({ kind: 'guest_level', levels: ['gold', 'silver'] }, { guest: { level: 'gold' } })).toBe(true);
    expect(applies({ kind: 'guest_level', levels: ['gold'] }, { guest: { level: 'bronze' } })).toBe(false);
    expect(applies({ kind: 'guest_level', levels: ['gold'] })).toBe(false);
  });

  it('guest tags and segments: any, all, none', () => {
    const guest = { tags: ['vip', 'staff'], segments: ['football'] };
    expect(applies({ kind: 'guest_tags', any: ['vip', 'x'] }, { guest })).toBe(true);
    expect(applies({ kind: 'guest_tags', all: ['vip', 'staff'] }, { guest })).toBe(true);
    expect(applies({ kind: 'guest_tags', all: ['vip', 'x'] }, { guest })).toBe(false);
    expect(applies({ kind: 'guest_tags', none: ['staff'] }, { guest })).toBe(false);
    expect(applies({ kind: 'guest_segments', any: ['football'] }, { guest })).toBe(true);
    expect(applies({ kind: 'guest_segments', any: ['vip'] }, { guest })).toBe(false);
  });

  it('guest age in whole years on the local date', () => {
    // Born 1990-03-10; on 2026-03-09 still 35, on 2026-03-10 (Moscow) 36.
    const guest = { birthday: '1990-03-10' };
    expect(applies({ kind: 'guest_age', min: 35, max: 35 }, { guest })).toBe(true);
    expect(applies({ kind: 'guest_age', min: 36 }, { guest })).toBe(false);
    expect(applies({ kind: 'guest_age', min: 36 }, { guest, time: Date.parse('2026-03-09T21:00:00Z') })).toBe(true); // 00:00 on the 10th in Moscow
    expect(applies({ kind: 'guest_age', min: 18 }, { guest: { birthday: '--03-10' } })).toBe(false); // year unknown
    expect(applies({ kind: 'guest_age', min: 18 })).toBe(false);
  });

  it('birthday window, across the new year', () => {
    expect(applies({ kind: 'birthday', daysBefore: 3, daysAfter: 0 }, { guest: { birthday: '1990-03-12' } })).toBe(true); // 3 days before
    expect(applies({ kind: 'birthday', daysBefore: 2, daysAfter: 0 }, { guest: { birthday: '1990-03-12' } })).toBe(false);
    expect(applies({ kind: 'birthday', daysBefore: 0, daysAfter: 7 }, { guest: { birthday: '--03-02' } })).toBe(true); // 7 days after
    const dec30 = Date.parse('2026-12-30T12:00:00+03:00');
    expect(applies({ kind: 'birthday', daysBefore: 3, daysAfter: 0 }, { guest: { birthday: '2001-01-02' }, time: dec30 })).toBe(true);
    const jan2 = Date.parse('2027-01-02T12:00:00+03:00');
    expect(applies({ kind: 'birthday', daysBefore: 0, daysAfter: 3 }, { guest: { birthday: '2001-12-30' }, time: jan2 })).toBe(true);
    expect(applies({ kind: 'birthday', daysBefore: 5, daysAfter: 5 })).toBe(false);
  });

  it('29 February is celebrated on the 28th in other years', () => {
    const feb28 = Date.parse('2026-02-28T12:00:00+03:00');
    expect(applies({ kind: 'birthday', daysBefore: 0, daysAfter: 0 }, { guest: { birthday: '2000-02-29' }, time: feb28 })).toBe(true);
  });

  it('days since registration', () => {
    const guest = { registeredAt: Date.parse('2026-03-01T23:30:00+03:00') }; // 8 local days before 2026-03-09
    expect(applies({ kind: 'registered', maxDays: 7 }, { guest })).toBe(false);
    expect(applies({ kind: 'registered', minDays: 8, maxDays: 8 }, { guest })).toBe(true);
    expect(applies({ kind: 'registered', maxDays: 0 }, { guest: { registeredAt: MONDAY_EARLY } })).toBe(true);
    expect(applies({ kind: 'registered', maxDays: 100 })).toBe(false);
  });

  it('guest attributes: present, or one of values', () => {
    const guest = { attributes: { city: 'Moscow', likesFootball: 'yes' } };
    expect(applies({ kind: 'guest_attribute', key: 'likesFootball', values: [] }, { guest })).toBe(true);
    expect(applies({ kind: 'guest_attribute', key: 'city', values: ['Kazan', 'Moscow'] }, { guest })).toBe(true);
    expect(applies({ kind: 'guest_attribute', key: 'city', values: ['Kazan'] }, { guest })).toBe(false);
    expect(applies({ kind: 'guest_attribute', key: 'toString', values: [] }, { guest })).toBe(false);
  });

  it('card type', () => {
    expect(applies({ kind: 'card_type', types: ['rfid'] }, { guest: { cardType: 'rfid' } })).toBe(true);
    expect(applies({ kind: 'card_type', types: ['rfid'] }, { guest: { cardType: 'plastic' } })).toBe(false);
  });

  it('check sum and currency', () => {
    expect(applies({ kind: 'check_sum', min: 80_000 })).toBe(true);
    expect(applies({ kind: 'check_sum', min: 80_001 })).toBe(false);
    expect(applies({ kind: 'check_sum', max: 79_999 })).toBe(false);
    // The POS's own discount lowers the sum the condition sees: 80000 − 1 = 79999.
    expect(applies({ kind: 'check_sum', max: 79_999 }, {}, [line('BEER', 2, 25_000, 'beer', { posDiscount: 1 }), line('SOUP', 1, 30_000, 'food')])).toBe(true);
    expect(applies({ kind: 'currency', currencies: ['RUB'] })).toBe(true);
    expect(applies({ kind: 'currency', currencies: ['USD', 'EUR'] })).toBe(false);
  });

  it('lines by item code, category and catalog tag, with quantities and sums', () => {
    expect(applies({ kind: 'lines', match: { categories: ['beer'] }, minQuantity: 2 })).toBe(true);
    expect(applies({ kind: 'lines', match: { categories: ['beer'] }, minQuantity: 3 })).toBe(false);
    expect(applies({ kind: 'lines', match: { items: ['SOUP'] }, minSum: 30_000 })).toBe(true);
    expect(applies({ kind: 'lines', match: { categories: ['beer', 'food'] }, minLines: 2 })).toBe(true);
    expect(applies({ kind: 'lines', match: { categories: ['wine'] }, minQuantity: 0 })).toBe(false);
    expect(applies({ kind: 'lines', match: { categories: ['beer', 'food'], excludeItems: ['BEER'] }, minQuantity: 2 })).toBe(false);
    const tagged = compile({
      catalog: { itemTags: { SOUP: ['hot', 'lunch'] } },
      promotions: [promo('p', [{ kind: 'discount', target: 'check', percentBp: 100 }], { condition: { kind: 'lines', match: { tags: ['lunch'] } } })],
    });
    expect(explained(evaluate(tagged, context(LINES)), 'p').applied).toBe(true);
    expect(explained(evaluate(tagged, context([line('BEER', 1, 100, 'beer')])), 'p').applied).toBe(false);
  });

  it('balance of an account or of a group of accounts', () => {
    const group = { kind: 'balance', accounts: ['bonus', 'gift'], min: 10_000 };
    const cfg = { accounts: [BONUS, { id: 'gift', unit: 'points' }], promotions: [promo('p', [{ kind: 'discount', target: 'check', percentBp: 100 }], { condition: group })] };
    expect(explained(evaluate(compile(cfg), context(LINES, { guest: { balances: { bonus: 6_000, gift: 4_000 } } })), 'p').applied).toBe(true);
    expect(explained(evaluate(compile(cfg), context(LINES, { guest: { balances: { bonus: 6_000 } } })), 'p').applied).toBe(false);
    expect(applies({ kind: 'balance', accounts: ['deposit'], max: 0 })).toBe(true);
  });

  it('counters', () => {
    expect(applies({ kind: 'counter', counter: 'visits', min: 5 }, { guest: { counters: { visits: 5 } } })).toBe(true);
    expect(applies({ kind: 'counter', counter: 'visits', min: 5 }, { guest: { counters: { visits: 4 } } })).toBe(false);
    expect(applies({ kind: 'counter', counter: 'visits', max: 0 })).toBe(true); // first visit
  });

  it('custom CEL over guest, check, accounts and time', () => {
    const c = { kind: 'cel', source: 'guest.level == "gold" && check.lines.exists(l, l.category == "beer" && l.quantity >= 2) && accounts["bonus"] >= 500 && time.weekday == 1' };
    expect(applies(c, { guest: { level: 'gold', balances: { bonus: 500 } } })).toBe(true);
    expect(applies(c, { guest: { level: 'gold', balances: { bonus: 499 } } })).toBe(false);
  });

  it('all, any, not; the explanation names the clause that failed', () => {
    const c = {
      kind: 'all',
      of: [
        { kind: 'currency', currencies: ['RUB'] },
        { kind: 'any', of: [{ kind: 'guest_level', levels: ['gold'] }, { kind: 'guest_tags', any: ['vip'] }] },
        { kind: 'not', of: { kind: 'guest_tags', any: ['staff'] } },
      ],
    };
    expect(applies(c, { guest: { tags: ['vip'] } })).toBe(true);
    expect(applies(c, { guest: { level: 'gold' } })).toBe(true);
    const e = evaluate(guarded(c), context(LINES, { guest: { level: 'gold', tags: ['staff'] } }));
    expect(explained(e, 'p')).toMatchObject({ applied: false, reason: 'condition', detail: 'of[2]:not' });
    const e2 = evaluate(guarded(c), context(LINES, { guest: {} }));
    expect(explained(e2, 'p')).toMatchObject({ applied: false, reason: 'condition', detail: 'of[1]:any' });
  });
});

const MONDAY_EARLY = Date.parse('2026-03-09T00:10:00+03:00');
