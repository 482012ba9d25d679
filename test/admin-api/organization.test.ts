// The organization's settings over real sockets: GET and PATCH /v1/organization,
// each change published as a version by its author, and a real engine (LMDB in a
// temp dir) fed by onPublish exactly as `npm start` wires it, driven through its
// HTTP door: card masks refuse or accept registrations, newCardReplacesOthers
// replaces a guest's cards. Then the negative space: every bad field named,
// publishing nothing; auth; a database migrated from before the card settings.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUwsDoor, type UwsDoor } from '../../dist/adapters/uws-door.js';
import { migrations, openSqlClient, type AdminApi, type ConfigSnapshot } from '../../dist/admin-api/index.js';
import { Engine } from '../../dist/engine/index.js';
import { tempDir } from '../helpers/engine.js';
import {
  admin_token,
  backend,
  call,
  demo_terminal_key,
  freshStore,
  open_timeout_ms,
  startOn,
  test_timeout_ms,
  type TestStore,
} from './admin-harness.js';

const OUTLET = 'outlet-1';
const AUTHOR = 'olga@example.com';
const MASKS = ['7800########', 'GC-XXXX'];
const DEMO = { id: 'demo', name: 'Demo Coffee', currency: 'RUB', timeZone: 'Europe/Moscow' };
const DEFAULTS = { ...DEMO, cardMasks: [], newCardReplacesOthers: false, currencyRates: [] };
const RATES = [{ currency: 'EUR', rate: '95.4321' }, { currency: 'JPY', rate: '0.6123', minorDigits: 0 }];

describe(`admin API organization settings (${backend})`, { timeout: test_timeout_ms }, () => {
  let store: TestStore;
  let api: AdminApi;
  let engine: Engine;
  let engineDir: ReturnType<typeof tempDir>;
  let door: UwsDoor;
  const published: ConfigSnapshot[] = [];

  beforeAll(async () => {
    engineDir = tempDir('kopilka-org-');
    // No configuration of its own: the engine runs what the admin API publishes.
    engine = Engine.open({ dataDir: engineDir.dir, shards: 2, threads: 1 });
    door = await startUwsDoor({ engine, port: 0 });
    store = await freshStore();
    api = await startOn(store, {
      onPublish: (snapshot) => {
        published.push(snapshot);
        engine.applyConfig(snapshot);
      },
      operations: (op, body) => engine.execute(op, body),
    });
  }, open_timeout_ms);

  afterAll(async () => {
    await api?.close();
    await store?.dispose();
    door?.stopListening();
    door?.closeConnections();
    if (engine !== undefined) {
      await engine.drain(5000);
      await engine.close();
    }
    engineDir?.remove();
  });

  const currentVersion = async (): Promise<number> => (await call(api, 'GET', '/v1/config')).body.version;
  const settings = async () => (await call(api, 'GET', '/v1/organization')).body;
  const patch = (body: unknown, headers: Record<string, string> = {}) => call(api, 'PATCH', '/v1/organization', { body, headers });

  /** An operation on the engine's HTTP door, as the demo's terminal-1. */
  const onEngine = async (op: string, body: Record<string, unknown>) => {
    const res = await fetch(`http://127.0.0.1:${door.port}/v1/${op}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${demo_terminal_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ outlet: OUTLET, ...body }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const register = (card: string) => onEngine('register', { card });

  it('GET reads the defaults; the snapshot carries the organization as it did before card settings', async () => {
    const res = await call(api, 'GET', '/v1/organization');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ version: 1, organization: DEFAULTS });
    const config = (await call(api, 'GET', '/v1/config')).body as ConfigSnapshot;
    expect(config.organization).toEqual(DEMO);
    expect(Object.keys(config.organization)).toEqual(['id', 'name', 'currency', 'timeZone']);
    expect(engine.config?.version).toBe(1);
  });

  it('without masks the engine registers any card number', async () => {
    const res = await register('ANY-0001');
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe('ok');
  });

  it('PATCH sets masks and the flag: a new version by its author, carried by the snapshot the engine runs', async () => {
    const before = await currentVersion();
    const res = await patch({ cardMasks: MASKS, newCardReplacesOthers: true }, { 'x-kopilka-author': AUTHOR });
    expect(res.status).toBe(200);
    const organization = { ...DEFAULTS, cardMasks: MASKS, newCardReplacesOthers: true };
    expect(res.body).toEqual({ version: before + 1, organization });
    expect(await settings()).toEqual(res.body);

    const snapshot = (await call(api, 'GET', '/v1/config')).body as ConfigSnapshot;
    expect(snapshot).toMatchObject({ version: before + 1, author: AUTHOR });
    expect(snapshot.organization).toEqual({ ...DEMO, cardMasks: MASKS, newCardReplacesOthers: true });
    const history = await call(api, 'GET', '/v1/config/versions?limit=1');
    expect(history.body).toEqual([{ version: before + 1, author: AUTHOR, publishedAt: snapshot.publishedAt }]);
    expect(published.at(-1)).toEqual(snapshot);
    expect(engine.config?.version).toBe(before + 1);
    expect(engine.config?.organization).toEqual(snapshot.organization);
  });

  it.each(['78001234567', '7800123456789', '7800abcdefgh', '880012345678', 'GC-12G4', 'gc-1234', 'ANY-0002'])(
    'the engine refuses to register %s, which matches no mask',
    async (card) => {
      const res = await register(card);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'card' });
      expect(res.body.error.message).toContain('"7800########", "GC-XXXX"');
    },
  );

  it('the engine registers numbers that match a mask; the admin API finds the guests', async () => {
    for (const card of ['780012345678', 'GC-1a2F']) {
      const res = await register(card);
      expect(res.status).toBe(200);
      expect(res.body.outcome).toBe('ok');
      const guest = await call(api, 'GET', `/v1/guests/${card}`);
      expect(guest.status).toBe(200);
      expect(guest.body.guestId).toBe(res.body.guestId);
    }
  });

  it("binding a new card replaces the guest's others; the new number must match a mask too", async () => {
    const refused = await onEngine('addCard', { card: '780012345678', newCard: 'NO-MASK-1', kind: 'plastic' });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'invalid_field', field: 'newCard' });

    const added = await onEngine('addCard', { card: '780012345678', newCard: '780087654321', kind: 'plastic' });
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({ outcome: 'ok', card: '780087654321', replaced: ['780012345678'] });
    const old = await onEngine('balance', { card: '780012345678' });
    expect(old.status).toBe(409);
    expect(old.body.error.code).toBe('card_replaced');
    expect((await onEngine('balance', { card: '780087654321' })).status).toBe(200);
  });

  it('PATCH changes only the fields given; the same values again publish nothing', async () => {
    const before = await currentVersion();
    const res = await patch({ name: 'Кофе на Тверской', timeZone: 'Asia/Novosibirsk' });
    expect(res.status).toBe(200);
    const organization = { ...DEFAULTS, name: 'Кофе на Тверской', timeZone: 'Asia/Novosibirsk', cardMasks: MASKS, newCardReplacesOthers: true };
    expect(res.body).toEqual({ version: before + 1, organization });
    expect((await call(api, 'GET', '/v1/config')).body).toMatchObject({ version: before + 1, author: 'admin' });
    expect(engine.config?.organization.timeZone).toBe('Asia/Novosibirsk');

    const announced = published.length;
    for (const body of [{}, { name: 'Кофе на Тверской' }, { cardMasks: [...MASKS], newCardReplacesOthers: true }, { currency: 'RUB' }]) {
      const same = await patch(body);
      expect(same.status).toBe(200);
      expect(same.body).toEqual({ version: before + 1, organization });
    }
    expect(await currentVersion()).toBe(before + 1);
    expect(published).toHaveLength(announced);
  });

  it('PATCH publishes currency rates; the engine converts checks at them; [] gives the snapshot its earlier shape', async () => {
    const before = await currentVersion();
    const res = await patch({ currencyRates: RATES }, { 'x-kopilka-author': AUTHOR });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(before + 1);
    expect(res.body.organization.currencyRates).toEqual(RATES);
    expect((await settings()).organization.currencyRates).toEqual(RATES);
    const snapshot = (await call(api, 'GET', '/v1/config')).body as ConfigSnapshot;
    expect(snapshot.organization.currencyRates).toEqual(RATES);
    expect(published.at(-1)).toEqual(snapshot);
    expect(engine.config?.organization.currencyRates).toEqual(RATES);
    expect((await patch({ currencyRates: RATES.map((r) => ({ ...r })) })).body.version).toBe(before + 1);

    // A number the masks set above take.
    const card = '780011112222';
    expect((await register(card)).body.outcome).toBe('ok');
    const check = { card, time: '2026-11-24T12:30:00+03:00', currency: 'EUR', lines: [{ itemCode: 'WINE', quantity: 1, unitPrice: 5_000 }] };
    const ev = await onEngine('evaluate', check);
    expect(ev.body).toMatchObject({ total: 477_161, checkCurrency: 'EUR', rate: '95.4321' });

    const cleared = await patch({ currencyRates: [] });
    expect(cleared.body.version).toBe(before + 2);
    const v = (await call(api, 'GET', '/v1/config')).body as ConfigSnapshot;
    expect(v.organization.currencyRates).toBeUndefined();
    const refused = await onEngine('evaluate', check);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('currency_mismatch');
  });

  it('takes 32 masks, one of 64 characters', async () => {
    const before = await currentVersion();
    const masks = [...Array.from({ length: 31 }, (_, i) => `${String(i).padStart(2, '0')}-####`), '#'.repeat(64)];
    const res = await patch({ cardMasks: masks });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(before + 1);
    expect(engine.config?.organization.cardMasks).toEqual(masks);
    expect((await register('7'.repeat(64))).body.outcome).toBe('ok');
    expect((await register('07-1234')).body.outcome).toBe('ok');
  });

  it('clearing the masks and the flag gives the snapshot its earlier shape, and the engine takes any number again', async () => {
    const before = await currentVersion();
    const res = await patch({ name: DEMO.name, timeZone: DEMO.timeZone, cardMasks: [], newCardReplacesOthers: false });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ version: before + 1, organization: DEFAULTS });
    const snapshot = (await call(api, 'GET', '/v1/config')).body as ConfigSnapshot;
    expect(snapshot.organization).toEqual(published[0]!.organization);
    expect(Object.keys(snapshot.organization)).toEqual(['id', 'name', 'currency', 'timeZone']);
    expect((await register('ANY-0003')).body.outcome).toBe('ok');
    // Without the flag a new card leaves the others active.
    const added = await onEngine('addCard', { card: 'ANY-0003', newCard: 'ANY-0004', kind: 'plastic' });
    expect(added.body).toMatchObject({ outcome: 'ok', replaced: [] });
    expect((await onEngine('balance', { card: 'ANY-0003' })).status).toBe(200);
  });

  const masks33 = Array.from({ length: 33 }, (_, i) => `${i}-####`);
  it.each([
    ['cardMasks', { cardMasks: '7800########' }, /cardMasks must be a list of at most 32 masks of 1 to 64 characters/],
    ['cardMasks', { cardMasks: { 0: '#' } }, /a list/],
    ['cardMasks', { cardMasks: null }, /a list/],
    ['cardMasks', { cardMasks: masks33 }, /at most 32 masks/],
    ['cardMasks[0]', { cardMasks: [''] }, /cardMasks\[0\] must be a string of 1 to 64 characters/],
    ['cardMasks[1]', { cardMasks: ['#', 'x'.repeat(65)] }, /1 to 64 characters/],
    ['cardMasks[0]', { cardMasks: [7800] }, /string/],
    ['cardMasks[2]', { cardMasks: ['#', '##', null] }, /string/],
    ['name', { name: '' }, /name must be a string of 1 to 200 characters, not blank/],
    ['name', { name: '   ' }, /not blank/],
    ['name', { name: 'n'.repeat(201) }, /1 to 200 characters/],
    ['name', { name: 5 }, /string/],
    ['name', { name: null }, /string/],
    ['timeZone', { timeZone: 'Mars/Olympus' }, /timeZone must be an IANA time zone/],
    ['timeZone', { timeZone: '+03:00' }, /IANA/],
    ['timeZone', { timeZone: 'Europe/Moscow ' }, /IANA/],
    ['timeZone', { timeZone: '' }, /IANA/],
    ['timeZone', { timeZone: 3 }, /IANA/],
    ['timeZone', { timeZone: 'Europe/' + 'x'.repeat(64) }, /IANA/],
    ['newCardReplacesOthers', { newCardReplacesOthers: 'true' }, /newCardReplacesOthers must be true or false/],
    ['newCardReplacesOthers', { newCardReplacesOthers: 1 }, /true or false/],
    ['newCardReplacesOthers', { newCardReplacesOthers: null }, /true or false/],
    ['currency', { currency: 'USD' }, /currency cannot be changed \(balances and checks are in RUB\)/],
    ['currency', { currency: 'USD', name: 'Renamed', cardMasks: MASKS }, /currency cannot be changed/],
    ['currency', { currency: 643 }, /currency cannot be changed/],
    ['expectedVersion', { expectedVersion: 0 }, /expectedVersion must be an integer from 1/],
    ['expectedVersion', { expectedVersion: '3' }, /expectedVersion must be an integer/],
    ['color', { color: 'red' }, /color is not a field of the organization's settings: remove it/],
    ['id', { id: 'other' }, /id is not a field/],
    ['name', { cardMasks: MASKS, name: '' }, /name must be/],
    ['currencyRates', { currencyRates: { EUR: '95' } }, /currencyRates must be a list of at most 32 rates/],
    ['currencyRates', { currencyRates: null }, /a list/],
    ['currencyRates', { currencyRates: Array.from({ length: 33 }, (_, i) => ({ currency: `Q${String.fromCharCode(65 + (i % 26))}${String.fromCharCode(65 + Math.floor(i / 26))}`, rate: '1' })) }, /at most 32/],
    ['currencyRates[0]', { currencyRates: ['EUR'] }, /currencyRates\[0\] must be an object/],
    ['currencyRates[0].currency', { currencyRates: [{ currency: 'eur', rate: '95' }] }, /ISO 4217 code of 3 upper-case letters/],
    ['currencyRates[0].currency', { currencyRates: [{ rate: '95' }] }, /ISO 4217/],
    ['currencyRates[1].currency', { currencyRates: [RATES[0], { currency: 'EUR', rate: '96' }] }, /must be unique: EUR has a rate already/],
    ['currencyRates[1].currency', { currencyRates: [RATES[0], { currency: 'RUB', rate: '1' }] }, /must not be the organization's own currency RUB/],
    ['currencyRates[1].rate', { currencyRates: [RATES[0], { currency: 'USD', rate: 90.5 }] }, /currencyRates\[1\]\.rate must be a positive decimal string/],
    ['currencyRates[1].rate', { currencyRates: [RATES[0], { currency: 'USD', rate: '9.05e1' }] }, /decimal string/],
    ['currencyRates[1].rate', { currencyRates: [RATES[0], { currency: 'USD', rate: '0' }] }, /positive/],
    ['currencyRates[1].rate', { currencyRates: [RATES[0], { currency: 'USD', rate: '-90' }] }, /positive/],
    ['currencyRates[1].rate', { currencyRates: [RATES[0], { currency: 'USD', rate: '90.' }] }, /decimal string/],
    ['currencyRates[1].rate', { currencyRates: [RATES[0], { currency: 'USD', rate: '090' }] }, /decimal string/],
    ['currencyRates[1].rate', { currencyRates: [RATES[0], { currency: 'USD', rate: '1234567890' }] }, /at most 9 integer/],
    ['currencyRates[1].rate', { currencyRates: [RATES[0], { currency: 'USD', rate: '0.0000000000001' }] }, /12 fraction digits/],
    ['currencyRates[1].rate', { currencyRates: [RATES[0], { currency: 'USD' }] }, /decimal string/],
    ['currencyRates[0].minorDigits', { currencyRates: [{ currency: 'KWD', rate: '245.5', minorDigits: 5 }] }, /integer from 0 to 4/],
    ['currencyRates[0].minorDigits', { currencyRates: [{ currency: 'KWD', rate: '245.5', minorDigits: '3' }] }, /integer from 0 to 4/],
    ['currencyRates[0].source', { currencyRates: [{ currency: 'EUR', rate: '95', source: 'ECB' }] }, /is not a field of a rate: remove it/],
  ])('PATCH refuses a bad %s with invalid_field naming it, publishing nothing', async (field, body, message) => {
    const before = await currentVersion();
    const announced = published.length;
    const res = await patch(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid_field', field, message: expect.stringMatching(message) });
    expect(await currentVersion()).toBe(before);
    expect(await settings()).toEqual({ version: before, organization: DEFAULTS });
    expect(published).toHaveLength(announced);
    expect(engine.config?.version).toBe(before);
  });

  it.each([
    ['malformed JSON', '{"cardMasks": ['],
    ['an empty body', ''],
    ['an array', '[{"cardMasks": []}]'],
    ['null', 'null'],
    ['a string', '"cardMasks"'],
  ])('PATCH answers %s with 400 bad_request', async (_, rawBody) => {
    const before = await currentVersion();
    const res = await call(api, 'PATCH', '/v1/organization', { rawBody, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bad_request');
    expect(await currentVersion()).toBe(before);
  });

  it('PATCH with a stale expectedVersion is a 409 conflict and changes nothing; the current one applies', async () => {
    const before = await currentVersion();
    const stale = await patch({ cardMasks: MASKS, expectedVersion: before - 1 });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('conflict');
    expect(stale.body.error.message).toContain(`current version is ${before}`);
    expect(await currentVersion()).toBe(before);
    const res = await patch({ newCardReplacesOthers: true, expectedVersion: before });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ version: before + 1, organization: { ...DEFAULTS, newCardReplacesOthers: true } });
    expect((await patch({ newCardReplacesOthers: false })).body.version).toBe(before + 2);
  });

  it.each([
    ['missing', null, undefined],
    ['wrong', 'wrong-token', undefined],
    ['a prefix of the right one', admin_token.slice(0, -1), undefined],
    ['sent with another scheme', null, { authorization: `Basic ${admin_token}` }],
  ])('refuses a token %s with 401 unauthorized on both routes, changing nothing', async (_, token, headers) => {
    const before = await currentVersion();
    const read = await call(api, 'GET', '/v1/organization', { token, headers });
    const change = await call(api, 'PATCH', '/v1/organization', { token, headers, body: { name: 'Hijacked' } });
    for (const res of [read, change]) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    expect(await currentVersion()).toBe(before);
    expect((await settings()).organization.name).toBe(DEMO.name);
  });

  it.each(['PUT', 'POST', 'DELETE'])('%s /v1/organization is 404 naming the methods the path takes', async (method) => {
    const res = await call(api, method, '/v1/organization', { body: { name: 'X' } });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    expect(res.body.error.message).toMatch(/GET, PATCH/);
  });

  it('announced every version it published, in order, and the engine runs the last', async () => {
    const latest = await currentVersion();
    expect(published.map((s) => s.version)).toEqual(Array.from({ length: latest }, (_, i) => i + 1));
    expect(engine.config?.version).toBe(latest);
  });
});

describe(`organization settings on a database from before them (${backend})`, { timeout: test_timeout_ms }, () => {
  let store: TestStore;
  let api: AdminApi;
  const before = migrations.filter((m) => m.id < '0005');
  const oldSnapshot = {
    version: 1,
    publishedAt: '2026-01-15T09:00:00.000Z',
    author: 'demo',
    organization: { id: 'shop', name: 'Old Shop', currency: 'EUR', timeZone: 'Europe/Berlin' },
    outlets: [{ id: 'outlet-1', name: 'Main street' }],
    terminals: [],
    program: { id: 'bonus', name: 'Bonus', accrualBp: 500, payMaxBp: 5000, pointValueMinor: 100 },
  };

  beforeAll(async () => {
    store = await freshStore();
    // The schema and rows as a kopilka before the card settings left them.
    const sql = await openSqlClient({ databaseUrl: store.databaseUrl, dataDir: store.dataDir });
    try {
      await sql.query('create table schema_migrations (id text primary key, applied_at timestamptz not null default now())');
      for (const m of before) {
        await sql.transaction(async (q) => {
          await q.query(m.sql);
          await q.query('insert into schema_migrations (id) values ($1)', [m.id]);
        });
      }
      await sql.query(`insert into organizations (id, name, currency, time_zone) values ('shop', 'Old Shop', 'EUR', 'Europe/Berlin')`);
      await sql.query(`insert into outlets (id, organization_id, name) values ('outlet-1', 'shop', 'Main street')`);
      await sql.query(
        `insert into programs (id, organization_id, name, accrual_bp, pay_max_bp, point_value_minor) values ('bonus', 'shop', 'Bonus', 500, 5000, 100)`,
      );
      await sql.query('insert into config_versions (version, snapshot, author, published_at) values (1, $1::jsonb, $2, $3)', [
        JSON.stringify(oldSnapshot), 'demo', oldSnapshot.publishedAt,
      ]);
    } finally {
      await sql.close();
    }
    api = await startOn(store);
  }, open_timeout_ms);

  afterAll(async () => {
    await api?.close();
    await store?.dispose();
  });

  it('migrates the organization to the defaults, leaving the published version as it was', async () => {
    expect(before.length).toBeLessThan(migrations.length);
    const res = await call(api, 'GET', '/v1/organization');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ version: 1, organization: { ...oldSnapshot.organization, cardMasks: [], newCardReplacesOthers: false, currencyRates: [] } });
    expect((await call(api, 'GET', '/v1/config')).body.organization).toEqual(oldSnapshot.organization);
  });

  it('a change publishes the organization in the same shape until card settings are set', async () => {
    const renamed = await call(api, 'PATCH', '/v1/organization', { body: { name: 'New Shop' } });
    expect(renamed.body.version).toBe(2);
    const v2 = (await call(api, 'GET', '/v1/config')).body as ConfigSnapshot;
    expect(v2.organization).toEqual({ ...oldSnapshot.organization, name: 'New Shop' });
    expect(Object.keys(v2.organization)).toEqual(Object.keys(oldSnapshot.organization));

    const masked = await call(api, 'PATCH', '/v1/organization', { body: { cardMasks: ['DE-######'] } });
    expect(masked.body.version).toBe(3);
    const v3 = (await call(api, 'GET', '/v1/config')).body as ConfigSnapshot;
    expect(v3.organization).toEqual({ ...oldSnapshot.organization, name: 'New Shop', cardMasks: ['DE-######'] });
  });
});
