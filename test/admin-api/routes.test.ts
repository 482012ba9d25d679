// Every route over a real socket: the happy path, then its negative space
// (auth, validation with the field named, conflicts, limits, unknown routes).
// One server per file, seeded with the demo; tests read the version they start
// from rather than assume it.

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminApi, ConfigSnapshot } from '../../dist/admin-api/index.js';
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

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const program = { accrualBp: 700, payMaxBp: 3000, pointValueMinor: 100 };

describe(`admin API routes (${backend})`, { timeout: test_timeout_ms }, () => {
  let store: TestStore;
  let api: AdminApi;
  const published: ConfigSnapshot[] = [];

  beforeAll(async () => {
    store = await freshStore();
    api = await startOn(store, { onPublish: (s) => published.push(s) });
  }, open_timeout_ms);

  afterAll(async () => {
    await api?.close();
    await store?.dispose();
  });

  const currentVersion = async (): Promise<number> => (await call(api, 'GET', '/v1/config')).body.version;

  describe('auth', () => {
    it('answers /healthz without a token', async () => {
      const res = await call(api, 'GET', '/healthz', { token: null });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ok: true });
    });

    it.each([
      ['missing', null, undefined],
      ['wrong', 'wrong-token', undefined],
      ['a prefix of the right one', admin_token.slice(0, -1), undefined],
      ['sent with another scheme', null, { authorization: `Basic ${admin_token}` }],
    ])('refuses a token %s with 401 unauthorized', async (_, token, headers) => {
      for (const [method, path] of [['GET', '/v1/config'], ['PUT', '/v1/program'], ['GET', '/v1/nowhere']]) {
        const res = await call(api, method!, path!, { token, headers, body: method === 'PUT' ? program : undefined });
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('unauthorized');
        expect(res.body.error.message).toMatch(/Bearer/);
      }
    });
  });

  describe('GET /v1/config', () => {
    it('serves the demo as version 1 with its ETag, then 304 while unchanged', async () => {
      const res = await call(api, 'GET', '/v1/config');
      expect(res.status).toBe(200);
      expect(res.body.version).toBe(1);
      expect(res.body.organization.id).toBe('demo');
      expect(res.body.terminals).toEqual([{ id: 'terminal-1', outletId: 'outlet-1', keySha256: sha256(demo_terminal_key) }]);
      expect(res.headers.get('etag')).toBe('"1"');
      expect(published[0]).toEqual(res.body);
      expect(await api.currentSnapshot()).toEqual(res.body);

      const same = await call(api, 'GET', '/v1/config', { headers: { 'if-none-match': '"1"' } });
      expect(same.status).toBe(304);
      expect(same.body).toBeUndefined();
      expect(same.headers.get('etag')).toBe('"1"');
    });

    it('serves the new version when the ETag is stale', async () => {
      const put = await call(api, 'PUT', '/v1/program', { body: program });
      const res = await call(api, 'GET', '/v1/config', { headers: { 'if-none-match': '"1"' } });
      expect(res.status).toBe(200);
      expect(res.body.version).toBe(put.body.version);
      expect(res.headers.get('etag')).toBe(`"${put.body.version}"`);
      const listed = await call(api, 'GET', '/v1/config', { headers: { 'if-none-match': `"1", W/"${put.body.version}"` } });
      expect(listed.status).toBe(304);
    });
  });

  describe('program', () => {
    it('GET returns the version and the program', async () => {
      const res = await call(api, 'GET', '/v1/program');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ version: await currentVersion(), program: expect.objectContaining({ id: 'bonus' }) });
    });

    it('PUT publishes the next version with the author, and calls onPublish', async () => {
      const before = await currentVersion();
      const edit = { name: 'Кофейные баллы', accrualBp: 0, payMaxBp: 10_000, pointValueMinor: 1_000_000, expectedVersion: before };
      const res = await call(api, 'PUT', '/v1/program', { body: edit, headers: { 'x-kopilka-author': 'alice@example.com' } });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        version: before + 1,
        program: {
          id: 'bonus', name: 'Кофейные баллы', accrualBp: 0, payMaxBp: 10_000, pointValueMinor: 1_000_000,
          activationDelayDays: 0, expiryMonths: 0, holdTimeoutSeconds: 900, refundDebtPolicy: 'negative',
        },
      });
      const snapshot = (await call(api, 'GET', '/v1/config')).body;
      expect(snapshot).toMatchObject({ version: before + 1, author: 'alice@example.com', program: res.body.program });
      expect(published.at(-1)).toEqual(snapshot);
      const history = await call(api, 'GET', '/v1/config/versions?limit=1');
      expect(history.body).toEqual([{ version: before + 1, author: 'alice@example.com', publishedAt: snapshot.publishedAt }]);
    });

    it('PUT sets the points lifecycle (activation, expiry, holds, refund debt) and refuses values out of range', async () => {
      const res = await call(api, 'PUT', '/v1/program', {
        body: { accrualBp: 500, payMaxBp: 5000, pointValueMinor: 100, activationDelayDays: 14, expiryMonths: 12, holdTimeoutSeconds: 60, refundDebtPolicy: 'clamp' },
      });
      expect(res.body.program).toMatchObject({ activationDelayDays: 14, expiryMonths: 12, holdTimeoutSeconds: 60, refundDebtPolicy: 'clamp' });
      for (const [field, value] of [['activationDelayDays', 366], ['expiryMonths', -1], ['holdTimeoutSeconds', 5], ['refundDebtPolicy', 'forgive']] as const) {
        const bad = await call(api, 'PUT', '/v1/program', { body: { accrualBp: 500, payMaxBp: 5000, pointValueMinor: 100, [field]: value } });
        expect(bad.status).toBe(400);
        expect(bad.body.error).toMatchObject({ code: 'invalid_field', field });
      }
      // Left out, a setting keeps its value.
      const kept = await call(api, 'PUT', '/v1/program', { body: { accrualBp: 500, payMaxBp: 5000, pointValueMinor: 100 } });
      expect(kept.body.program).toMatchObject({ activationDelayDays: 14, expiryMonths: 12, holdTimeoutSeconds: 60, refundDebtPolicy: 'clamp' });
      await call(api, 'PUT', '/v1/program', {
        body: { accrualBp: 500, payMaxBp: 5000, pointValueMinor: 100, activationDelayDays: 0, expiryMonths: 0, holdTimeoutSeconds: 900, refundDebtPolicy: 'negative' },
      });
    });

    it('PUT without a name keeps the name; without an author header records "admin"', async () => {
      const res = await call(api, 'PUT', '/v1/program', { body: program });
      expect(res.body.program).toEqual({
        id: 'bonus', name: 'Кофейные баллы', activationDelayDays: 0, expiryMonths: 0, holdTimeoutSeconds: 900, refundDebtPolicy: 'negative', ...program,
      });
      expect((await call(api, 'GET', '/v1/config')).body.author).toBe('admin');
    });

    it('PUT with a stale expectedVersion is a 409 conflict and changes nothing', async () => {
      const before = await currentVersion();
      const res = await call(api, 'PUT', '/v1/program', { body: { ...program, accrualBp: 1, expectedVersion: before - 1 } });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('conflict');
      expect(res.body.error.message).toContain(`current version is ${before}`);
      expect(await currentVersion()).toBe(before);
    });

    const long = 'x'.repeat(201);
    it.each([
      ['accrualBp', { payMaxBp: 0, pointValueMinor: 1 }, /accrualBp is required: an integer from 0 to 10000/],
      ['accrualBp', { ...program, accrualBp: 10_001 }, /accrualBp must be an integer from 0 to 10000 \(basis points/],
      ['accrualBp', { ...program, accrualBp: 1.5 }, /integer/],
      ['accrualBp', { ...program, accrualBp: '500' }, /integer/],
      ['payMaxBp', { ...program, payMaxBp: -1 }, /payMaxBp must be an integer from 0 to 10000/],
      ['payMaxBp', { ...program, payMaxBp: null }, /payMaxBp must be/],
      ['pointValueMinor', { ...program, pointValueMinor: 0 }, /from 1 to 1000000/],
      ['pointValueMinor', { ...program, pointValueMinor: 1_000_001 }, /from 1 to 1000000/],
      ['name', { ...program, name: '' }, /1 to 200 characters/],
      ['name', { ...program, name: '   ' }, /not blank/],
      ['name', { ...program, name: long }, /1 to 200 characters/],
      ['name', { ...program, name: 5 }, /string/],
      ['expectedVersion', { ...program, expectedVersion: 0 }, /expectedVersion must be an integer from 1/],
      ['color', { ...program, color: 'red' }, /color is not a known field: remove it/],
    ])('PUT rejects a bad %s with invalid_field naming it', async (field, body, message) => {
      const before = await currentVersion();
      const res = await call(api, 'PUT', '/v1/program', { body });
      expect(res.status).toBe(400);
      expect(res.body.error).toEqual({ code: 'invalid_field', field, message: expect.stringMatching(message) });
      expect(await currentVersion()).toBe(before);
    });

    it('rejects an author header over 100 characters', async () => {
      const res = await call(api, 'PUT', '/v1/program', { body: program, headers: { 'x-kopilka-author': 'a'.repeat(101) } });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'x-kopilka-author' });
    });
  });

  describe('bodies', () => {
    it.each([
      ['malformed JSON', '{"accrualBp": '],
      ['an empty body', ''],
      ['an array', '[1, 2]'],
      ['null', 'null'],
    ])('answers %s with 400 bad_request', async (_, rawBody) => {
      const res = await call(api, 'PUT', '/v1/program', { rawBody, headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('bad_request');
    });

    it('answers a body over 64 KiB with 413 message_too_large', async () => {
      const before = await currentVersion();
      const rawBody = JSON.stringify({ ...program, name: 'x'.repeat(64 * 1024) });
      const res = await call(api, 'PUT', '/v1/program', { rawBody });
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('message_too_large');
      expect(await currentVersion()).toBe(before);
    });

    it('answers 413 when a body without Content-Length streams past 64 KiB', async () => {
      const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 8) controller.enqueue(chunk);
          else controller.close();
        },
      });
      const res = await fetch(`${api.url}/v1/program`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${admin_token}` },
        body,
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(413);
      expect((await res.json()).error.code).toBe('message_too_large');
    });
  });

  describe('outlets', () => {
    it('POST creates an outlet in a new version; GET lists it', async () => {
      const before = await currentVersion();
      const res = await call(api, 'POST', '/v1/outlets', { body: { id: 'outlet_2.b-c', name: 'Арбат 10' } });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ version: before + 1, outlet: { id: 'outlet_2.b-c', name: 'Арбат 10' } });
      const list = await call(api, 'GET', '/v1/outlets');
      expect(list.body).toEqual([
        { id: 'outlet-1', name: 'Demo Coffee, Tverskaya 1' },
        { id: 'outlet_2.b-c', name: 'Арбат 10' },
      ]);
      expect((await call(api, 'GET', '/v1/config')).body.outlets).toEqual(list.body);
    });

    it('POST takes the partner and tags an outlet stands under for promotions, into the configuration', async () => {
      const before = await currentVersion();
      const res = await call(api, 'POST', '/v1/outlets', { body: { id: 'cinema-1', name: 'Cinema', partner: 'cinema', tags: ['mall', 'late'] } });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ version: before + 1, outlet: { id: 'cinema-1', name: 'Cinema', partner: 'cinema', tags: ['mall', 'late'] } });
      const config = (await call(api, 'GET', '/v1/config')).body as ConfigSnapshot;
      expect(config.outlets.find((o) => o.id === 'cinema-1')).toEqual({ id: 'cinema-1', name: 'Cinema', partner: 'cinema', tags: ['mall', 'late'] });
      expect((await call(api, 'GET', '/v1/outlets')).body).toContainEqual({ id: 'cinema-1', name: 'Cinema', partner: 'cinema', tags: ['mall', 'late'] });
    });

    it.each([
      ['partner', { id: 'outlet-8', name: 'N', partner: 'has space' }],
      ['partner', { id: 'outlet-8', name: 'N', partner: 7 }],
      ['tags', { id: 'outlet-8', name: 'N', tags: 'mall' }],
      ['tags[1]', { id: 'outlet-8', name: 'N', tags: ['mall', ''] }],
      ['tags', { id: 'outlet-8', name: 'N', tags: ['mall', 'mall'] }],
      ['tags', { id: 'outlet-8', name: 'N', tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }],
    ])('POST rejects a bad %s, publishing nothing', async (field, body) => {
      const before = await currentVersion();
      const res = await call(api, 'POST', '/v1/outlets', { body });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field });
      expect(await currentVersion()).toBe(before);
    });

    it('POST with a taken id is a 409 conflict', async () => {
      const before = await currentVersion();
      const res = await call(api, 'POST', '/v1/outlets', { body: { id: 'outlet-1', name: 'Again' } });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('conflict');
      expect(await currentVersion()).toBe(before);
    });

    it.each([
      ['id', { name: 'No id' }],
      ['id', { id: 'has space', name: 'N' }],
      ['id', { id: 'slash/ed', name: 'N' }],
      ['id', { id: 'x'.repeat(65), name: 'N' }],
      ['id', { id: '', name: 'N' }],
      ['name', { id: 'outlet-9' }],
      ['name', { id: 'outlet-9', name: 'n'.repeat(201) }],
      ['city', { id: 'outlet-9', name: 'N', city: 'Moscow' }],
    ])('POST rejects a bad %s with invalid_field naming it', async (field, body) => {
      const res = await call(api, 'POST', '/v1/outlets', { body });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field });
    });

    it('accepts an id of exactly 64 characters', async () => {
      const res = await call(api, 'POST', '/v1/outlets', { body: { id: 'o'.repeat(64), name: 'Long id' } });
      expect(res.status).toBe(201);
    });
  });

  describe('terminals', () => {
    let key: string;

    it('POST creates a terminal, shows its key once and publishes its hash', async () => {
      const before = await currentVersion();
      const res = await call(api, 'POST', '/v1/terminals', { body: { id: 'till-2', outletId: 'outlet-1' } });
      expect(res.status).toBe(201);
      expect(res.body.version).toBe(before + 1);
      expect(res.body.terminal).toEqual({ id: 'till-2', outletId: 'outlet-1' });
      key = res.body.key;
      expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(key, 'base64url')).toHaveLength(32);
      const snapshot = (await call(api, 'GET', '/v1/config')).body;
      expect(snapshot.terminals).toContainEqual({ id: 'till-2', outletId: 'outlet-1', keySha256: sha256(key) });
    });

    it('GET lists terminals without keys or hashes', async () => {
      const res = await call(api, 'GET', '/v1/terminals');
      expect(res.body.map((t: { id: string }) => t.id)).toEqual(['terminal-1', 'till-2']);
      for (const terminal of res.body) {
        expect(Object.keys(terminal).sort()).toEqual(['createdAt', 'id', 'outletId', 'revokedAt']);
        expect(terminal.revokedAt).toBeNull();
      }
      const text = JSON.stringify(res.body);
      expect(text).not.toContain(key);
      expect(text).not.toContain(sha256(key));
      expect(text).not.toContain(sha256(demo_terminal_key));
    });

    it('POST for an outlet that does not exist is invalid_field outletId', async () => {
      const res = await call(api, 'POST', '/v1/terminals', { body: { id: 'till-3', outletId: 'nowhere' } });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'outletId' });
      expect(res.body.error.message).toMatch(/POST \/v1\/outlets/);
    });

    it.each([
      ['id', { outletId: 'outlet-1' }],
      ['id', { id: 'bad id', outletId: 'outlet-1' }],
      ['outletId', { id: 'till-3' }],
      ['outletId', { id: 'till-3', outletId: 7 }],
      ['key', { id: 'till-3', outletId: 'outlet-1', key: 'mine' }],
    ])('POST rejects a bad %s with invalid_field naming it', async (field, body) => {
      const res = await call(api, 'POST', '/v1/terminals', { body });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field });
    });

    it('POST with a taken id is a 409 conflict', async () => {
      const res = await call(api, 'POST', '/v1/terminals', { body: { id: 'till-2', outletId: 'outlet-1' } });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('conflict');
    });

    it('DELETE revokes: the terminal leaves the snapshot and is listed as revoked', async () => {
      const before = await currentVersion();
      const res = await call(api, 'DELETE', '/v1/terminals/till-2');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ version: before + 1, terminal: { id: 'till-2', outletId: 'outlet-1' } });
      const snapshot = (await call(api, 'GET', '/v1/config')).body;
      expect(snapshot.terminals.map((t: { id: string }) => t.id)).toEqual(['terminal-1']);
      const listed = (await call(api, 'GET', '/v1/terminals')).body.find((t: { id: string }) => t.id === 'till-2');
      expect(listed.revokedAt).toBe(res.body.terminal.revokedAt);
    });

    it('DELETE again changes nothing; an unknown terminal is 404', async () => {
      const before = await currentVersion();
      const again = await call(api, 'DELETE', '/v1/terminals/till-2');
      expect(again.status).toBe(200);
      expect(again.body.version).toBe(before);
      expect(await currentVersion()).toBe(before);
      const missing = await call(api, 'DELETE', '/v1/terminals/nobody');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('not_found');
    });

    it('a revoked id is not reused', async () => {
      const res = await call(api, 'POST', '/v1/terminals', { body: { id: 'till-2', outletId: 'outlet-1' } });
      expect(res.status).toBe(409);
    });
  });

  describe('GET /v1/config/versions', () => {
    it('lists versions newest first, 20 by default', async () => {
      const latest = await currentVersion();
      const res = await call(api, 'GET', '/v1/config/versions');
      expect(res.status).toBe(200);
      expect(res.body.map((v: { version: number }) => v.version)).toEqual(
        Array.from({ length: Math.min(20, latest) }, (_, i) => latest - i),
      );
      expect(res.body.at(-1)).toMatchObject({ author: expect.any(String), publishedAt: expect.any(String) });
      const two = await call(api, 'GET', '/v1/config/versions?limit=2');
      expect(two.body).toEqual(res.body.slice(0, 2));
    });

    it.each(['0', '101', 'abc', '1.5', '-1', ''])('rejects limit=%s with invalid_field limit', async (limit) => {
      const res = await call(api, 'GET', `/v1/config/versions?limit=${limit}`);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'limit' });
    });
  });

  describe('unknown routes', () => {
    it.each([
      ['GET', '/v1/nowhere'],
      ['GET', '/v1/config/'],
      ['PATCH', '/v1/program'],
      ['POST', '/v1/config'],
      ['DELETE', '/v1/terminals'],
    ])('%s %s is 404 not_found', async (method, path) => {
      const res = await call(api, method, path);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    });
  });

  it('announced every version it published, in order', async () => {
    const latest = await currentVersion();
    expect(published.map((s) => s.version)).toEqual(Array.from({ length: latest }, (_, i) => i + 1));
  });
});
