// Promotions through the admin API, over a real socket and a real store:
// periods, promotions and the rest of the rules document are changed one object
// at a time, and every change validates the WHOLE document before it publishes
// (a refused one publishes nothing); simulation evaluates a check against the
// published rules or a draft, and publishes nothing. Then the negative space:
// bodies, limits, tokens, versions, races, and snapshots from before promotions.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminApi, ConfigSnapshot } from '../../dist/admin-api/index.js';
import { CompiledRulesCache, openSqlClient, runMigrations, seedDemo } from '../../dist/admin-api/index.js';
import { validateRules } from '../../dist/engine/rules/index.js';
import { emptyRules, withRules } from '../../dist/protocol/config.js';
import { backend, call, freshStore, open_timeout_ms, startOn, test_timeout_ms, type TestStore } from './admin-harness.js';

const happyHours = { name: 'Happy hours', weekdays: [1, 2, 3, 4, 5], times: [{ from: '17:00', to: '20:00' }] };
const beer = {
  name: 'Beer −15% in happy hours',
  status: 'active',
  priority: 10,
  periods: ['happy-hours'],
  effects: [{ kind: 'discount', target: 'lines', match: { categories: ['beer'] }, percentBp: 1500 }],
};
const goldCashback = {
  name: 'Gold: 10% back in points',
  status: 'active',
  condition: { kind: 'guest_level', levels: ['gold'] },
  effects: [{ kind: 'accrual', account: 'bonus', percentBp: 1000 }],
};
const cakeDraft = {
  name: 'Cake 5.00 off (draft)',
  status: 'draft',
  effects: [{ kind: 'discount', target: 'lines', match: { items: ['CAKE'] }, amount: 500 }],
};
/** 2 × beer at 250.00 and a cake at 123.45: 623.45 in all. */
const check = {
  outlet: 'outlet-1',
  currency: 'RUB',
  lines: [
    { itemCode: 'BEER', category: 'beer', quantity: 2, unitPrice: 25_000 },
    { itemCode: 'CAKE', category: 'dessert', quantity: 1, unitPrice: 12_345 },
  ],
};
/** A Monday, 18:00 in Moscow (the demo organization's zone): inside happy hours. */
const mondayEvening = '2026-03-09T18:00:00+03:00';

describe(`promotions through the admin API (${backend})`, { timeout: test_timeout_ms }, () => {
  let store: TestStore;
  let api: AdminApi;
  const announced: ConfigSnapshot[] = [];

  beforeAll(async () => {
    store = await freshStore();
    api = await startOn(store, { onPublish: (s) => announced.push(s) });
  }, open_timeout_ms);

  afterAll(async () => {
    await api?.close();
    await store?.dispose();
  });

  const currentVersion = async (): Promise<number> => (await call(api, 'GET', '/v1/config')).body.version;
  const rules = async () => (await call(api, 'GET', '/v1/rules')).body.rules;

  describe('the empty configuration', () => {
    it('is what validateRules makes of {}, and validates as it is', () => {
      const normalized = validateRules({});
      expect(normalized.ok).toBe(true);
      expect(emptyRules()).toEqual(normalized.ok && normalized.config);
      expect(validateRules(emptyRules())).toEqual(normalized);
      // A fresh object each time: one caller's edit is not another's.
      expect(emptyRules()).not.toBe(emptyRules());
    });

    it('withRules fills it into a snapshot from before promotions and keeps rules that are there', () => {
      const { rules: _, ...old } = announced[0]!;
      expect(withRules(old).rules).toEqual(emptyRules());
      const current = { ...announced[0]!, rules: { ...emptyRules(), periods: [] } };
      expect(withRules(current)).toBe(current);
    });

    it('is in the demo snapshot, and GET /v1/rules serves it with the version as ETag', async () => {
      const config = (await call(api, 'GET', '/v1/config')).body;
      expect(config.rules).toEqual(emptyRules());
      const res = await call(api, 'GET', '/v1/rules');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ version: config.version, rules: emptyRules() });
      expect(res.headers.get('etag')).toBe(`"${config.version}"`);
    });
  });

  describe('periods, accounts and promotions', () => {
    it('PUT creates a period (201) in a new version, with defaults filled; GET lists and serves it', async () => {
      const before = await currentVersion();
      const res = await call(api, 'PUT', '/v1/periods/happy-hours', { body: happyHours, headers: { 'x-kopilka-author': 'marketer@example.com' } });
      expect(res.status).toBe(201);
      const period = {
        id: 'happy-hours', name: 'Happy hours', dates: [], weekdays: [1, 2, 3, 4, 5], daysOfMonth: [], weeksOfMonth: [],
        months: [], years: [], times: [{ from: '17:00', to: '20:00' }], birthday: null,
      };
      expect(res.body).toEqual({ version: before + 1, period });
      const config = (await call(api, 'GET', '/v1/config')).body;
      expect(config).toMatchObject({ version: before + 1, author: 'marketer@example.com' });
      expect(config.rules.periods).toEqual([period]);
      expect((await call(api, 'GET', '/v1/periods')).body).toEqual({ version: before + 1, periods: [period] });
      expect((await call(api, 'GET', '/v1/periods/happy-hours')).body).toEqual({ version: before + 1, period });
      expect(announced.at(-1)).toEqual(config);
    });

    it('PUT of an account, then promotions naming the period and the account: each one version', async () => {
      const before = await currentVersion();
      const account = await call(api, 'PUT', '/v1/rules/accounts/bonus', { body: { unit: 'points', pointValueMinor: 100 } });
      expect(account.status).toBe(201);
      expect(account.body).toEqual({ version: before + 1, account: { id: 'bonus', unit: 'points', pointValueMinor: 100 } });
      const first = await call(api, 'PUT', '/v1/promotions/beer-happy-hour', { body: beer });
      expect(first.status).toBe(201);
      expect(first.body.version).toBe(before + 2);
      expect(first.body.promotion).toMatchObject({ id: 'beer-happy-hour', ...beer, template: 'custom', exclusive: false, condition: null });
      const second = await call(api, 'PUT', '/v1/promotions/gold-cashback', { body: { id: 'gold-cashback', ...goldCashback } });
      expect(second.body.version).toBe(before + 3);
      expect(second.body.promotion.effects[0]).toMatchObject({ kind: 'accrual', account: 'bonus', percentBp: 1000, excludePaidWithPoints: true });
      const third = await call(api, 'PUT', '/v1/promotions/cake-draft', { body: cakeDraft });
      expect(third.body.version).toBe(before + 4);

      const config = (await call(api, 'GET', '/v1/config')).body;
      expect(config.version).toBe(before + 4);
      expect(config.rules.promotions.map((p: { id: string }) => p.id)).toEqual(['beer-happy-hour', 'gold-cashback', 'cake-draft']);
      expect(config.rules.promotions[0]).toEqual(first.body.promotion);
      expect(config.rules.accounts).toEqual([account.body.account]);
    });

    it('PUT of an existing promotion replaces it in place (200), keeping its rank among equals', async () => {
      const before = await currentVersion();
      const res = await call(api, 'PUT', '/v1/promotions/gold-cashback', { body: { ...goldCashback, name: 'Gold cashback' } });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ version: before + 1, promotion: { id: 'gold-cashback', name: 'Gold cashback' } });
      expect((await rules()).promotions.map((p: { id: string }) => p.id)).toEqual(['beer-happy-hour', 'gold-cashback', 'cake-draft']);
    });

    it('GET /v1/promotions lists them, ?status= filters, an unknown status or id is refused', async () => {
      const all = await call(api, 'GET', '/v1/promotions');
      expect(all.body.promotions).toHaveLength(3);
      expect(all.body.version).toBe(await currentVersion());
      const drafts = await call(api, 'GET', '/v1/promotions?status=draft');
      expect(drafts.body.promotions.map((p: { id: string }) => p.id)).toEqual(['cake-draft']);
      const one = await call(api, 'GET', '/v1/promotions/beer-happy-hour');
      expect(one.body.promotion).toEqual(all.body.promotions[0]);
      const bad = await call(api, 'GET', '/v1/promotions?status=live');
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatchObject({ code: 'invalid_field', field: 'status' });
      for (const path of ['/v1/promotions/nope', '/v1/periods/nope']) {
        const missing = await call(api, 'GET', path);
        expect(missing.status).toBe(404);
        expect(missing.body.error.code).toBe('not_found');
      }
    });
  });

  describe('a change the whole document refuses publishes nothing', () => {
    const refused = async (
      method: string,
      path: string,
      body: unknown,
      field: string,
      message: RegExp,
    ): Promise<Array<{ path: string; message: string }>> => {
      const before = await currentVersion();
      const rulesBefore = await rules();
      const res = await call(api, method, path, { body });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field });
      expect(res.body.error.message).toMatch(message);
      expect(res.body.error.errors[0].path).toBe(field);
      expect(await currentVersion()).toBe(before);
      expect(await rules()).toEqual(rulesBefore);
      return res.body.error.errors;
    };

    it('a promotion naming a missing period: 400 with the path in the whole document', async () => {
      // Three promotions exist, so a new one is the fourth: promotions[3].
      await refused('PUT', '/v1/promotions/ghost', { ...beer, periods: ['happy-hours', 'no-such-period'] }, 'promotions[3].periods[1]', /names no period; define "no-such-period"/);
    });

    it('a replaced promotion is checked at its own position, every error listed', async () => {
      const errors = await refused(
        'PUT',
        '/v1/promotions/gold-cashback',
        { ...goldCashback, effects: [{ kind: 'accrual', account: 'deposit', percentBp: 1000 }], priority: -1 },
        'promotions[1].effects[0].account',
        /names no account; define "deposit" in accounts \(and 1 more: see errors\)/,
      );
      expect(errors).toEqual([
        { path: 'promotions[1].effects[0].account', message: expect.stringMatching(/names no account; define "deposit"/) },
        { path: 'promotions[1].priority', message: expect.stringMatching(/^must be an integer from 0 to/) },
      ]);
    });

    it('CEL that does not type-check: 400 with the position of the error', async () => {
      await refused(
        'PUT',
        '/v1/promotions/cel-typo',
        { ...goldCashback, condition: { kind: 'cel', source: 'guest.levle == "gold"' } },
        'promotions[3].condition.source',
        /No such key: levle \(at 1:7\) \[no_such_key 6\.\.11\]/,
      );
      await refused(
        'PUT',
        '/v1/promotions/cel-int',
        { ...goldCashback, condition: { kind: 'cel', source: 'check.total' } },
        'promotions[3].condition.source',
        /must be a condition \(bool\), but is int/,
      );
    });

    it.each([
      ['an unknown field', { ...beer, colour: 'red' }, 'promotions[3].colour', /is not a known field; remove it/],
      ['a wrong type', { ...beer, priority: 'high' }, 'promotions[3].priority', /must be an integer/],
      ['a percentage over 100%', { ...beer, effects: [{ ...beer.effects[0], percentBp: 20_000 }] }, 'promotions[3].effects[0].percentBp', /from 1 to 10000/],
      ['a name over 200 characters', { ...beer, name: 'n'.repeat(201) }, 'promotions[3].name', /1\.\.200 characters/],
      ['no effects', { ...beer, effects: [] }, 'promotions[3].effects', /at least one/],
      ['an unknown status', { ...beer, status: 'live' }, 'promotions[3].status', /must be one of/],
    ])('a promotion with %s', async (_, body, field, message) => {
      await refused('PUT', '/v1/promotions/bad', body, field, message);
    });

    it.each([
      ['/v1/periods/bad-times', { times: [{ from: '25:00', to: '26:00' }] }, 'periods[1].times[0].from', /HH:MM/],
      ['/v1/periods/bad-day', { weekdays: [0] }, 'periods[1].weekdays[0]', /ISO weekday/],
      ['/v1/rules/settings', { stacking: 'best' }, 'settings.stacking', /must be one of "all", "best_per_line"/],
      ['/v1/rules/settings', { pointsPayment: { account: 'nope', maxBp: 5000 } }, 'settings.pointsPayment.account', /names no account/],
      ['/v1/rules/catalog', { itemTags: { BEER: 'beer' } }, 'catalog.itemTags.BEER', /must be an array/],
      ['/v1/rules/accounts/visits', { unit: 'visits' }, 'accounts[1].unit', /must be one of "points", "money", "count"/],
      ['/v1/rules/partners/cinema', {}, 'partners[0].settings', /is required/],
    ])('PUT %s with a bad body', async (path, body, field, message) => {
      await refused('PUT', path, body, field, message);
    });

    it('an id in the body that is not the one in the path', async () => {
      const before = await currentVersion();
      for (const id of ['other', 5, null]) {
        const res = await call(api, 'PUT', '/v1/promotions/beer-happy-hour', { body: { ...beer, id } });
        expect(res.status).toBe(400);
        expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'id' });
      }
      const bad = await call(api, 'PUT', '/v1/periods/bad%20id', { body: happyHours });
      expect(bad.body.error).toMatchObject({ code: 'invalid_field', field: 'periods[1].id' });
      expect(await currentVersion()).toBe(before);
    });

    it.each([
      ['malformed JSON', '{"name": '],
      ['an empty body', ''],
      ['an array', '[{"name": "x"}]'],
      ['a string', '"promotion"'],
      ['null', 'null'],
    ])('%s is 400 bad_request', async (_, rawBody) => {
      const before = await currentVersion();
      for (const path of ['/v1/promotions/x', '/v1/periods/x', '/v1/rules/settings']) {
        const res = await call(api, 'PUT', path, { rawBody, headers: { 'content-type': 'application/json' } });
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('bad_request');
      }
      expect(await currentVersion()).toBe(before);
    });

    it('a body over 4 MiB is 413 message_too_large', async () => {
      const before = await currentVersion();
      const rawBody = JSON.stringify({ ...beer, description: 'x'.repeat(4 * 1024 * 1024) });
      const res = await call(api, 'PUT', '/v1/promotions/huge', { rawBody });
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('message_too_large');
      expect(await currentVersion()).toBe(before);
    });

    it('a promotion over 64 KiB (1 000 item codes) is still accepted', async () => {
      const items = Array.from({ length: 1000 }, (_, i) => `ITEM-${String(i).padStart(59, '0')}`);
      const body = { ...beer, status: 'paused', effects: [{ kind: 'discount', target: 'lines', match: { items }, percentBp: 100 }] };
      expect(JSON.stringify(body).length).toBeGreaterThan(64 * 1024);
      const res = await call(api, 'PUT', '/v1/promotions/big-list', { body });
      expect(res.status).toBe(201);
      expect(res.body.promotion.effects[0].match.items).toHaveLength(1000);
    });
  });

  describe('settings, catalog, partners', () => {
    it('each PUT replaces its section in a new version; GET /v1/rules holds them all', async () => {
      const before = await currentVersion();
      const settings = await call(api, 'PUT', '/v1/rules/settings', {
        body: { maxDiscountBp: 5000, pointsPayment: { account: 'bonus', maxBp: 5000, forbiddenCategories: ['tobacco'] } },
      });
      expect(settings.status).toBe(200);
      expect(settings.body).toEqual({
        version: before + 1,
        settings: {
          stacking: 'all', itemBlocksCheck: false, maxDiscountBp: 5000, discountsPerGuest: { day: null, month: null }, posModes: [],
          baseAccrualOnPromotionalLines: false,
          pointsPayment: {
            account: 'bonus', maxBp: 5000, maxAmount: null, forbiddenCategories: ['tobacco'], forbiddenItems: [], minFiscalPayment: 0,
            promotionalLines: 'payable_if_accrues',
          },
        },
      });
      const catalog = await call(api, 'PUT', '/v1/rules/catalog', { body: { itemTags: { CAKE: ['sweet'] } } });
      expect(catalog.body).toEqual({ version: before + 2, catalog: { itemTags: { CAKE: ['sweet'] } } });
      const partner = await call(api, 'PUT', '/v1/rules/partners/cinema', { body: { settings: { stacking: 'best_per_line' } } });
      expect(partner.status).toBe(201);
      expect(partner.body.version).toBe(before + 3);
      expect(partner.body.partner).toMatchObject({ id: 'cinema', settings: { stacking: 'best_per_line', pointsPayment: null } });
      const all = (await call(api, 'GET', '/v1/rules')).body;
      expect(all.version).toBe(before + 3);
      expect(all.rules).toMatchObject({ settings: settings.body.settings, catalog: catalog.body.catalog, partners: [partner.body.partner] });
      // Payment rules back as they were: the simulations below count on no points payment.
      await call(api, 'PUT', '/v1/rules/settings', { body: {} });
    });

    it('an account a rule pays with cannot become a count account', async () => {
      await call(api, 'PUT', '/v1/rules/settings', { body: { pointsPayment: { account: 'bonus' } } });
      const before = await currentVersion();
      const res = await call(api, 'PUT', '/v1/rules/accounts/bonus', { body: { unit: 'count' } });
      expect(res.status).toBe(400);
      expect(res.body.error.errors.map((e: { path: string }) => e.path)).toEqual(
        expect.arrayContaining(['settings.pointsPayment.account', 'promotions[1].effects[0].percentBp']),
      );
      expect(await currentVersion()).toBe(before);
      await call(api, 'PUT', '/v1/rules/settings', { body: {} });
    });
  });

  describe('simulation', () => {
    const simulate = (body: unknown) => call(api, 'POST', '/v1/simulate', { body });

    it('the published rules: 15% off the beer in happy hours, with a reason for each promotion that did not apply', async () => {
      const before = await currentVersion();
      const res = await simulate({ check, guest: { id: 'g-1', level: 'silver' }, at: mondayEvening });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ version: before, draft: false, at: '2026-03-09T15:00:00.000Z', timeZone: 'Europe/Moscow' });
      const e = res.body.evaluation;
      // 15% of 2 × 250.00 = 75.00 off the beer; the cake matches no promotion.
      expect(e.total).toBe(62_345);
      expect(e.discount).toBe(7_500);
      expect(e.lines.map((l: { sum: number; discount: number; net: number }) => [l.sum, l.discount, l.net])).toEqual([
        [50_000, 7_500, 42_500],
        [12_345, 0, 12_345],
      ]);
      expect(e.lines[0].applied).toEqual([{ promotion: 'beer-happy-hour', discount: 7_500, accrual: 0 }]);
      expect(e.accruals).toEqual([]);
      expect(e.usage).toEqual([{ promotion: 'beer-happy-hour', discount: 7_500, points: 0, units: 2 }]);
      expect(e.promotions).toEqual([
        { promotion: 'beer-happy-hour', applied: true, discount: 7_500, accrual: 0 },
        { promotion: 'big-list', applied: false, reason: 'status', detail: 'paused', discount: 0, accrual: 0 },
        { promotion: 'gold-cashback', applied: false, reason: 'condition', detail: 'guest_level', discount: 0, accrual: 0 },
        { promotion: 'cake-draft', applied: false, reason: 'status', detail: 'draft', discount: 0, accrual: 0 },
      ]);
    });

    it('a gold guest gets 10% of the money paid back: 548.45 paid → 5 484 hundredths of a point', async () => {
      const res = await simulate({ check, guest: { id: 'g-2', level: 'gold' }, at: mondayEvening });
      const e = res.body.evaluation;
      expect(e.discount).toBe(7_500);
      // 10% of (425.00 + 123.45) = 54.845, floored to 54.84 → 5 484 hundredths at 1.00 a point,
      // split 4 249.61 : 1 234.39 over the line nets, the odd hundredth to the larger remainder.
      expect(e.accruals).toEqual([{ promotion: 'gold-cashback', account: 'bonus', amount: 5_484, delayDays: 0, expiryDays: 0 }]);
      expect(e.lines[0].applied).toContainEqual({ promotion: 'gold-cashback', discount: 0, accrual: 4_250 });
      expect(e.lines[1].applied).toEqual([{ promotion: 'gold-cashback', discount: 0, accrual: 1_234 }]);
      expect(e.promotions.find((p: { promotion: string }) => p.promotion === 'gold-cashback')).toEqual({
        promotion: 'gold-cashback', applied: true, discount: 0, accrual: 5_484,
      });
    });

    it('outside happy hours the beer promotion says why: period / outside_periods', async () => {
      const res = await simulate({ check, at: '2026-03-09T21:00:00+03:00' });
      const e = res.body.evaluation;
      expect(e.discount).toBe(0);
      expect(e.promotions[0]).toEqual({ promotion: 'beer-happy-hour', applied: false, reason: 'period', detail: 'outside_periods', discount: 0, accrual: 0 });
      // The same moment is happy hours in an outlet three hours west (18:00 in London).
      const west = await simulate({ check: { ...check, timeZone: 'Europe/London' }, at: '2026-03-09T21:00:00+03:00' });
      expect(west.body.timeZone).toBe('Europe/London');
      expect(west.body.evaluation.discount).toBe(7_500);
    });

    it('a draft document instead of the published one: 20% off the beer, and the draft cake promotion with includeDrafts', async () => {
      const before = await currentVersion();
      const published = await rules();
      const draft = structuredClone(published);
      draft.promotions[0].effects[0].percentBp = 2000;
      const res = await simulate({ check, at: mondayEvening, draft, includeDrafts: true });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ version: before, draft: true });
      const e = res.body.evaluation;
      // 20% of 500.00 = 100.00 off the beer, 5.00 off the cake.
      expect(e.discount).toBe(10_500);
      expect(e.lines.map((l: { discount: number }) => l.discount)).toEqual([10_000, 500]);
      expect(e.promotions.filter((p: { applied: boolean }) => p.applied).map((p: { promotion: string }) => p.promotion)).toEqual([
        'beer-happy-hour',
        'cake-draft',
      ]);
      // Without includeDrafts a draft promotion stays a draft.
      const plain = await simulate({ check, at: mondayEvening, draft });
      expect(plain.body.evaluation.discount).toBe(10_000);
      // Nothing was published, nothing stored.
      expect(await currentVersion()).toBe(before);
      expect(await rules()).toEqual(published);
    });

    it('an invalid draft is 400 with the validator errors, paths into the draft', async () => {
      const draft = { ...(await rules()), promotions: [{ ...beer, id: 'p', periods: ['nowhere'] }] };
      const res = await simulate({ check, draft });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'draft.promotions[0].periods[0]' });
      expect(res.body.error.errors).toEqual([{ path: 'promotions[0].periods[0]', message: expect.stringMatching(/names no period/) }]);
    });

    const line = check.lines[0]!;
    it.each([
      ['no check', { at: mondayEvening }, 'check'],
      ['an unknown field', { check, colour: 'red' }, 'colour'],
      ['an unknown check field', { check: { ...check, table: 5 } }, 'check.table'],
      ['no lines', { check: { ...check, lines: [] } }, 'check.lines'],
      ['201 lines', { check: { ...check, lines: Array(201).fill(line) } }, 'check.lines'],
      ['a quantity as a string', { check: { ...check, lines: [{ ...line, quantity: '2' }] } }, 'check.lines[0].quantity'],
      ['a fractional price', { check: { ...check, lines: [{ ...line, unitPrice: 1.5 }] } }, 'check.lines[0].unitPrice'],
      ['an item code of 65 characters', { check: { ...check, lines: [{ ...line, itemCode: 'x'.repeat(65) }] } }, 'check.lines[0].itemCode'],
      ['a bad currency', { check: { ...check, currency: 'rub' } }, 'check.currency'],
      ['an unknown time zone', { check: { ...check, timeZone: 'Mars/Olympus' } }, 'check.timeZone'],
      ['a time without an offset', { check, at: '2026-03-09T18:00:00' }, 'at'],
      ['guest tags not strings', { check, guest: { tags: [1] } }, 'guest.tags[0]'],
      ['201 guest tags', { check, guest: { tags: Array.from({ length: 201 }, (_, i) => `t${i}`) } }, 'guest.tags'],
      ['a bad birthday', { check, guest: { birthday: '1990-13-01' } }, 'guest.birthday'],
      ['a fractional balance', { check, guest: { balances: { bonus: 0.5 } } }, 'guest.balances.bonus'],
      ['an unknown usage field', { check, guest: { usage: { 'beer-happy-hour': { year: 1 } } } }, 'guest.usage.beer-happy-hour.year'],
      ['includeDrafts not a boolean', { check, includeDrafts: 'yes' }, 'includeDrafts'],
    ])('refuses %s with invalid_field naming it', async (_, body, field) => {
      const res = await simulate(body);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field });
    });

    it('refuses a body that is not an object, and one over 4 MiB', async () => {
      const notObject = await call(api, 'POST', '/v1/simulate', { rawBody: '[]' });
      expect(notObject.body.error.code).toBe('bad_request');
      const huge = await call(api, 'POST', '/v1/simulate', { rawBody: JSON.stringify({ check, pad: 'x'.repeat(4 * 1024 * 1024) }) });
      expect(huge.status).toBe(413);
      expect(huge.body.error.code).toBe('message_too_large');
    });

    it('compiles the published rules once per version, not per request', async () => {
      const cache = new CompiledRulesCache();
      const snapshot = (await call(api, 'GET', '/v1/config')).body as ConfigSnapshot;
      const first = cache.get(snapshot, false);
      expect(cache.get(snapshot, false)).toBe(first);
      expect(cache.compiles).toBe(1);
      expect(cache.get(snapshot, true)).not.toBe(first);
      expect(cache.compiles).toBe(2);
      const next = cache.get({ ...snapshot, version: snapshot.version + 1 }, false);
      expect(next).not.toBe(first);
      expect(next.version).toBe(snapshot.version + 1);
      expect(cache.compiles).toBe(3);
      // An older version (a request that read it just before a publish) is compiled, not kept.
      cache.get(snapshot, false);
      expect(cache.get({ ...snapshot, version: snapshot.version + 1 }, false)).toBe(next);
    });
  });

  describe('archive and delete', () => {
    it('archiving sets the status in a new version; the promotion stays, and explains itself', async () => {
      const before = await currentVersion();
      const res = await call(api, 'POST', '/v1/promotions/beer-happy-hour/archive');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ version: before + 1, promotion: { id: 'beer-happy-hour', status: 'archived', name: beer.name } });
      expect((await call(api, 'GET', '/v1/promotions?status=archived')).body.promotions.map((p: { id: string }) => p.id)).toEqual(['beer-happy-hour']);
      const sim = await call(api, 'POST', '/v1/simulate', { body: { check, at: mondayEvening } });
      expect(sim.body.evaluation.discount).toBe(0);
      expect(sim.body.evaluation.promotions[0]).toMatchObject({ promotion: 'beer-happy-hour', applied: false, reason: 'status', detail: 'archived' });
    });

    it('archiving again changes nothing; an unknown promotion is 404', async () => {
      const before = await currentVersion();
      const again = await call(api, 'POST', '/v1/promotions/beer-happy-hour/archive');
      expect(again.status).toBe(200);
      expect(again.body.version).toBe(before);
      expect(await currentVersion()).toBe(before);
      const missing = await call(api, 'POST', '/v1/promotions/nope/archive');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('not_found');
    });

    it('deleting a period a live promotion names is a 409 conflict, and so is one only archived promotions name', async () => {
      await call(api, 'PUT', '/v1/promotions/weekday-lunch', { body: { ...beer, status: 'paused', periods: [], condition: { kind: 'period', period: 'happy-hours' } } });
      const before = await currentVersion();
      const live = await call(api, 'DELETE', '/v1/periods/happy-hours');
      expect(live.status).toBe(409);
      expect(live.body.error.code).toBe('conflict');
      // big-list names it in its periods, weekday-lunch in its condition; beer-happy-hour is archived.
      expect(live.body.error.message).toMatch(/in use by promotions big-list \(paused\), weekday-lunch \(paused\):/);
      await call(api, 'POST', '/v1/promotions/big-list/archive');
      await call(api, 'POST', '/v1/promotions/weekday-lunch/archive');
      const archived = await call(api, 'DELETE', '/v1/periods/happy-hours');
      expect(archived.status).toBe(409);
      expect(archived.body.error.message).toMatch(/beer-happy-hour \(archived\), big-list \(archived\), weekday-lunch \(archived\)/);
      expect(await currentVersion()).toBe(before + 2);
      expect((await rules()).periods.map((p: { id: string }) => p.id)).toEqual(['happy-hours']);
    });

    it('deleting a period nothing names removes it in a new version; an unknown one is 404', async () => {
      await call(api, 'PUT', '/v1/periods/weekends', { body: { weekdays: [6, 7] } });
      const before = await currentVersion();
      const res = await call(api, 'DELETE', '/v1/periods/weekends');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ version: before + 1, period: { id: 'weekends', weekdays: [6, 7] } });
      expect((await call(api, 'GET', '/v1/config')).body.rules.periods.map((p: { id: string }) => p.id)).toEqual(['happy-hours']);
      const again = await call(api, 'DELETE', '/v1/periods/weekends');
      expect(again.status).toBe(404);
      expect(await currentVersion()).toBe(before + 1);
    });
  });

  describe('versions and tokens', () => {
    it('If-Match with the current version applies; a stale one is a 409 conflict; a malformed one a 400', async () => {
      const before = await currentVersion();
      const ok = await call(api, 'PUT', '/v1/periods/evenings', { body: { times: [{ from: '18:00', to: '23:00' }] }, headers: { 'if-match': `"${before}"` } });
      expect(ok.status).toBe(201);
      expect(ok.headers.get('etag')).toBe(`"${before + 1}"`);
      const stale = await call(api, 'PUT', '/v1/periods/evenings', { body: { times: [{ from: '19:00', to: '23:00' }] }, headers: { 'if-match': `"${before}"` } });
      expect(stale.status).toBe(409);
      expect(stale.body.error.code).toBe('conflict');
      expect(stale.body.error.message).toContain(`current version is ${before + 1}`);
      for (const header of ['7', 'W/"7"', '"x"', '"0"']) {
        const bad = await call(api, 'POST', '/v1/promotions/gold-cashback/archive', { headers: { 'if-match': header } });
        expect(bad.status).toBe(400);
        expect(bad.body.error).toMatchObject({ code: 'invalid_field', field: 'if-match' });
      }
      const any = await call(api, 'DELETE', '/v1/periods/evenings', { headers: { 'if-match': '*' } });
      expect(any.status).toBe(200);
      expect(await currentVersion()).toBe(before + 2);
    });

    it('two PUTs of different promotions at once both land, in two versions', async () => {
      const before = await currentVersion();
      const [a, b] = await Promise.all([
        call(api, 'PUT', '/v1/promotions/race-a', { body: { ...goldCashback, name: 'A' }, headers: { 'x-kopilka-author': 'a' } }),
        call(api, 'PUT', '/v1/promotions/race-b', { body: { ...goldCashback, name: 'B' }, headers: { 'x-kopilka-author': 'b' } }),
      ]);
      expect([a!.status, b!.status]).toEqual([201, 201]);
      expect([a!.body.version, b!.body.version].sort((x, y) => x - y)).toEqual([before + 1, before + 2]);
      const config = (await call(api, 'GET', '/v1/config')).body;
      expect(config.version).toBe(before + 2);
      const ids = config.rules.promotions.map((p: { id: string }) => p.id);
      expect(ids).toContain('race-a');
      expect(ids).toContain('race-b');
      const history = (await call(api, 'GET', '/v1/config/versions?limit=2')).body;
      expect(history.map((v: { author: string }) => v.author).sort()).toEqual(['a', 'b']);
    });

    it.each([
      ['GET', '/v1/rules'],
      ['GET', '/v1/periods'],
      ['PUT', '/v1/periods/x'],
      ['DELETE', '/v1/periods/happy-hours'],
      ['GET', '/v1/promotions'],
      ['PUT', '/v1/promotions/x'],
      ['POST', '/v1/promotions/gold-cashback/archive'],
      ['PUT', '/v1/rules/settings'],
      ['POST', '/v1/simulate'],
    ])('%s %s refuses a missing or wrong token with 401', async (method, path) => {
      const before = await currentVersion();
      for (const token of [null, 'wrong-token']) {
        const res = await call(api, method, path, { token, body: method === 'GET' || method === 'DELETE' ? undefined : { check } });
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('unauthorized');
      }
      expect(await currentVersion()).toBe(before);
    });

    it('announced every version it published, rules included', async () => {
      const latest = await currentVersion();
      expect(announced.map((s) => s.version)).toEqual(Array.from({ length: latest }, (_, i) => i + 1));
      expect(announced.at(-1)).toEqual((await call(api, 'GET', '/v1/config')).body);
    });
  });
});

describe(`a database from before promotions (${backend})`, { timeout: test_timeout_ms }, () => {
  let store: TestStore;
  let api: AdminApi;

  beforeAll(async () => {
    store = await freshStore();
    // Version 1 as an older admin API stored it: a snapshot without rules.
    const sql = await openSqlClient({ databaseUrl: store.databaseUrl, dataDir: store.dataDir });
    try {
      await runMigrations(sql);
      await seedDemo(sql, { terminalKey: 'k' });
      await sql.query(`update config_versions set snapshot = snapshot - 'rules'`);
      const { rows } = await sql.query<{ has: boolean }>(`select snapshot ? 'rules' as has from config_versions`);
      expect(rows).toEqual([{ has: false }]);
    } finally {
      await sql.close();
    }
    api = await startOn(store);
  }, open_timeout_ms);

  afterAll(async () => {
    await api?.close();
    await store?.dispose();
  });

  it('serves its snapshot with empty rules, simulates against them, and publishes rules next', async () => {
    const config = await call(api, 'GET', '/v1/config');
    expect(config.body).toMatchObject({ version: 1, rules: emptyRules() });
    expect(await api.currentSnapshot()).toEqual(config.body);
    const sim = await call(api, 'POST', '/v1/simulate', { body: { check } });
    expect(sim.body.evaluation).toMatchObject({ total: 62_345, discount: 0, promotions: [] });
    const put = await call(api, 'PUT', '/v1/periods/always', { body: {} });
    expect(put.status).toBe(201);
    expect(put.body.version).toBe(2);
    expect((await call(api, 'GET', '/v1/config')).body.rules.periods.map((p: { id: string }) => p.id)).toEqual(['always']);
  });
});
