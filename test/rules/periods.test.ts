// Periods in the outlet's (or the organization's) time zone: every clause alone,
// then combined; promotion validFrom / validTo; the reason `period` when closed.

import { describe, expect, it } from 'vitest';
import { compile, context, explained, line, promo } from './helpers.js';
import { evaluate, localTime } from '../../dist/engine/rules/index.js';

const LINES = [line('A', 1, 10_000)];

function openAt(period: Record<string, unknown>, iso: string, over: { timeZone?: string; checkZone?: string; guest?: Record<string, unknown> } = {}): boolean {
  const rules = compile(
    { periods: [{ id: 'p', ...period }], promotions: [promo('x', [{ kind: 'discount', target: 'check', percentBp: 100 }], { periods: ['p'] })] },
    { timeZone: over.timeZone },
  );
  const e = evaluate(rules, context(LINES, { time: Date.parse(iso), check: over.checkZone ? { timeZone: over.checkZone } : {}, guest: over.guest }));
  const x = explained(e, 'x');
  if (!x.applied) expect(x).toMatchObject({ reason: 'period', detail: 'outside_periods' });
  return x.applied;
}

describe('local time', () => {
  it('reads local parts through Intl in the given zone', () => {
    // 2026-03-08T23:30Z: Monday 02:30 in Moscow, Sunday 23:30 in UTC, Sunday 15:30 in Los Angeles.
    const t = Date.parse('2026-03-08T23:30:00Z');
    expect(localTime(t, 'Europe/Moscow')).toMatchObject({ year: 2026, month: 3, day: 9, weekday: 1, hour: 2, minute: 30, date: '2026-03-09', daysInMonth: 31 });
    expect(localTime(t, 'UTC')).toMatchObject({ day: 8, weekday: 7, hour: 23 });
    expect(localTime(t, 'America/Los_Angeles')).toMatchObject({ day: 8, weekday: 7, hour: 16 }); // PDT from 2026-03-08 10:00Z
  });
});

describe('periods', () => {
  it('weekdays in the organization zone, or the outlet zone of the check', () => {
    const monday = { weekdays: [1] };
    expect(openAt(monday, '2026-03-08T23:30:00Z')).toBe(true); // Monday in Moscow
    expect(openAt(monday, '2026-03-08T23:30:00Z', { timeZone: 'UTC' })).toBe(false); // Sunday in UTC
    expect(openAt(monday, '2026-03-08T23:30:00Z', { timeZone: 'UTC', checkZone: 'Asia/Vladivostok' })).toBe(true);
  });

  it('times of day: from inclusive, to exclusive, crossing midnight', () => {
    const lunch = { times: [{ from: '12:00', to: '16:00' }] };
    expect(openAt(lunch, '2026-03-09T12:00:00+03:00')).toBe(true);
    expect(openAt(lunch, '2026-03-09T15:59:00+03:00')).toBe(true);
    expect(openAt(lunch, '2026-03-09T16:00:00+03:00')).toBe(false);
    const night = { times: [{ from: '22:00', to: '02:00' }] };
    expect(openAt(night, '2026-03-09T23:00:00+03:00')).toBe(true);
    expect(openAt(night, '2026-03-10T01:59:00+03:00')).toBe(true);
    expect(openAt(night, '2026-03-10T02:00:00+03:00')).toBe(false);
    expect(openAt({ times: [{ from: '18:00', to: '24:00' }] }, '2026-03-09T23:59:00+03:00')).toBe(true);
  });

  it('inclusive date ranges', () => {
    const holidays = { dates: [{ from: '2026-03-07', to: '2026-03-09' }, { from: '2026-05-01', to: '2026-05-01' }] };
    expect(openAt(holidays, '2026-03-09T23:59:00+03:00')).toBe(true);
    expect(openAt(holidays, '2026-03-10T00:00:00+03:00')).toBe(false);
    expect(openAt(holidays, '2026-05-01T10:00:00+03:00')).toBe(true);
  });

  it('week of the month: the n-th seven days, or the last seven', () => {
    // The first Monday of March 2026 is the 2nd; the last Friday is the 27th.
    const firstMonday = { weekdays: [1], weeksOfMonth: [1] };
    expect(openAt(firstMonday, '2026-03-02T12:00:00+03:00')).toBe(true);
    expect(openAt(firstMonday, '2026-03-09T12:00:00+03:00')).toBe(false);
    const lastFriday = { weekdays: [5], weeksOfMonth: [-1] };
    expect(openAt(lastFriday, '2026-03-27T12:00:00+03:00')).toBe(true);
    expect(openAt(lastFriday, '2026-03-20T12:00:00+03:00')).toBe(false);
    // February 2026 has 28 days: its last seven start on the 22nd.
    expect(openAt({ weeksOfMonth: [-1] }, '2026-02-22T12:00:00+03:00')).toBe(true);
    expect(openAt({ weeksOfMonth: [-1] }, '2026-02-21T12:00:00+03:00')).toBe(false);
  });

  it('days of the month, months and years', () => {
    expect(openAt({ daysOfMonth: [9, 19, 29] }, '2026-03-09T12:00:00+03:00')).toBe(true);
    expect(openAt({ daysOfMonth: [10] }, '2026-03-09T12:00:00+03:00')).toBe(false);
    expect(openAt({ months: [12, 1, 2] }, '2026-03-09T12:00:00+03:00')).toBe(false);
    expect(openAt({ months: [3] }, '2026-03-09T12:00:00+03:00')).toBe(true);
    expect(openAt({ years: [2027] }, '2026-03-09T12:00:00+03:00')).toBe(false);
    expect(openAt({ years: [2026], months: [3], weekdays: [1], times: [{ from: '12:00', to: '14:00' }] }, '2026-03-09T13:00:00+03:00')).toBe(true);
  });

  it("a birthday window around the guest's birthday", () => {
    const week = { birthday: { daysBefore: 3, daysAfter: 3 } };
    expect(openAt(week, '2026-03-09T12:00:00+03:00', { guest: { birthday: '1990-03-12' } })).toBe(true);
    expect(openAt(week, '2026-03-09T12:00:00+03:00', { guest: { birthday: '1990-03-13' } })).toBe(false);
    expect(openAt(week, '2026-03-09T12:00:00+03:00', { guest: { birthday: '1990-03-06' } })).toBe(true);
    expect(openAt(week, '2026-03-09T12:00:00+03:00')).toBe(false);
  });

  it('any listed period opens the promotion; a condition may name one too', () => {
    const cfg = {
      periods: [
        { id: 'weekend', weekdays: [6, 7] },
        { id: 'lunch', times: [{ from: '12:00', to: '16:00' }] },
      ],
      promotions: [
        promo('x', [{ kind: 'discount', target: 'check', percentBp: 100 }], { periods: ['weekend', 'lunch'] }),
        promo('y', [{ kind: 'discount', target: 'check', percentBp: 100 }], { condition: { kind: 'not', of: { kind: 'period', period: 'lunch' } } }),
      ],
    };
    const e = evaluate(compile(cfg), context(LINES)); // Monday 13:00
    expect(explained(e, 'x').applied).toBe(true);
    expect(explained(e, 'y')).toMatchObject({ applied: false, reason: 'condition' });
  });

  it('validFrom inclusive and validTo exclusive bound the campaign', () => {
    const cfg = { promotions: [promo('x', [{ kind: 'discount', target: 'check', percentBp: 100 }], { validFrom: '2026-03-09T13:00:00+03:00', validTo: '2026-03-09T14:00:00+03:00' })] };
    const rules = compile(cfg);
    const at = (iso: string) => explained(evaluate(rules, context(LINES, { time: Date.parse(iso) })), 'x');
    expect(at('2026-03-09T12:59:59+03:00')).toMatchObject({ applied: false, reason: 'period', detail: 'not_started' });
    expect(at('2026-03-09T13:00:00+03:00').applied).toBe(true);
    expect(at('2026-03-09T14:00:00+03:00')).toMatchObject({ applied: false, reason: 'period', detail: 'ended' });
  });
});

describe('lifecycle', () => {
  it('only active promotions apply; drafts apply when simulating', () => {
    const cfg = {
      promotions: ['draft', 'active', 'paused', 'archived'].map((status) => promo(status, [{ kind: 'discount', target: 'check', percentBp: 100 }], { status })),
    };
    const e = evaluate(compile(cfg), context(LINES));
    expect(e.promotions.map((p) => [p.promotion, p.applied, p.reason ?? ''])).toEqual([
      ['draft', false, 'status'],
      ['active', true, ''],
      ['paused', false, 'status'],
      ['archived', false, 'status'],
    ]);
    const sim = evaluate(compile(cfg, { includeDrafts: true }), context(LINES));
    expect(sim.promotions.filter((p) => p.applied).map((p) => p.promotion)).toEqual(['draft', 'active']);
  });
});
