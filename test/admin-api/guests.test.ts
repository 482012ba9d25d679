// The guest routes over real sockets: an operator looks a guest up, corrects
// points, tops up a deposit, against a real engine (LMDB in a temp dir). First
// with the engine in this process (`operations`), then forwarded to its real
// HTTP door (`engineUrl` + `engineKey`), then with no engine at all. And the
// negative space: auth, malformed bodies naming the field and changing nothing,
// unknown cards and accounts, a refused engine key.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUwsDoor, type UwsDoor } from '../../dist/adapters/uws-door.js';
import type { AdminApi } from '../../dist/admin-api/index.js';
import { sha256Hex } from '../../dist/engine/demo-config.js';
import { validateRules } from '../../dist/engine/rules/validate.js';
import type { ConfigSnapshot } from '../../dist/protocol/config.js';
import { idempotency_key_chars_max, name_chars_max, points_max } from '../../dist/protocol/limits.js';
import { OUTLET, TERMINAL_KEY, startEngine, testSnapshot } from '../helpers/engine.js';
import { backend, call, freshStore, open_timeout_ms, startOn, test_timeout_ms, type TestStore } from './admin-harness.js';

/** The key of the engine terminal the standalone admin API presents: bound to outlet `admin`. */
const ENGINE_KEY = 'test-terminal-key-outlet-admin';
const AUTHOR = 'anna@example.com';
const as = (author: string) => ({ 'x-kopilka-author': author });

/** The test snapshot with a deposit account `wallet`; `adminOutlet` adds outlet `admin` and a terminal of it. */
function snapshot(version: number, adminOutlet: boolean): ConfigSnapshot {
  const s = testSnapshot(version);
  const rules = validateRules({ accounts: [{ id: 'wallet', unit: 'money', pointValueMinor: 100 }] });
  if (!rules.ok) throw new Error(JSON.stringify(rules.errors));
  s.rules = rules.config;
  if (adminOutlet) {
    s.outlets.push({ id: 'admin', name: 'Admin API' });
    s.terminals.push({ id: 'admin-api', outletId: 'admin', keySha256: sha256Hex(ENGINE_KEY) });
  }
  return s;
}

describe(`admin API guest routes (${backend})`, { timeout: test_timeout_ms }, () => {
  let t: Awaited<ReturnType<typeof startEngine>>;
  let store: TestStore;
  let api: AdminApi;

  beforeAll(async () => {
    t = await startEngine({ shards: 2, threads: 1 });
    // No outlet `admin` here: execute authorizes nothing, the doors do, so the
    // embedded admin API needs none.
    t.engine.applyConfig(snapshot(2, false));
    for (const card of ['G-1', 'G-2', 'G-3', 'G-4', 'G-5']) {
      expect((await t.engine.execute('register', { outlet: OUTLET, card })).outcome).toBe('ok');
    }
    store = await freshStore();
    api = await startOn(store, { operations: (op, body) => t.engine.execute(op, body) });
  }, open_timeout_ms);

  afterAll(async () => {
    await api?.close();
    await store?.dispose();
    await t?.close();
  });

  const guest = async (card: string, query = '') => {
    const res = await call(api, 'GET', `/v1/guests/${card}${query}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const adjust = (card: string, body: unknown, headers: Record<string, string> = as(AUTHOR)) =>
    call(api, 'POST', `/v1/guests/${card}/adjustments`, { body, headers });
  const topUp = (card: string, body: unknown, headers: Record<string, string> = as(AUTHOR)) =>
    call(api, 'POST', `/v1/guests/${card}/top-ups`, { body, headers });
  /** The journal entry behind a transaction id "<shard>-<n>.<journal number>". */
  const journalled = (transactionId: string) => {
    const [guestId, n] = transactionId.split('.') as [string, string];
    return t.engine.store.transactions.get([Number(guestId.split('-')[0]), Number(n)]);
  };

  it('looks a guest up: points, deposits and the last transactions', async () => {
    const view = await guest('G-1');
    expect(view).toMatchObject({ balance: 0, available: 0, pending: 0, held: 0, transactions: [], accounts: [] });
    expect(view.guestId).toMatch(/^\d+-\d+$/);
  });

  it('adjusts points once per key, journalled as an adjustment by the author', async () => {
    // 500 points: points are hundredths.
    const body = { idempotencyKey: 'adj-1', points: 50_000, reason: 'complaint #12: coffee spilled' };
    const res = await adjust('G-1', body);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: 'ok', balance: 50_000 });
    const view = await guest('G-1');
    expect(view).toMatchObject({ guestId: res.body.guestId, balance: 50_000, available: 50_000 });
    expect(view.transactions).toHaveLength(1);
    expect(view.transactions[0]).toMatchObject({
      transactionId: res.body.transactionId, kind: 'adjustment', outlet: 'admin', accrued: 50_000, balanceAfter: 50_000,
    });
    // The balance view does not carry who made it; the journal does.
    expect(journalled(res.body.transactionId)).toMatchObject({ kind: 'adjustment', operator: AUTHOR, reason: body.reason, outlet: 'admin' });

    const again = await adjust('G-1', body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...res.body, outcome: 'exists' });
    const other = await adjust('G-1', { ...body, points: 40_000 });
    expect(other.status).toBe(200);
    expect(other.body.outcome).toBe('exists_with_different_points');
    expect(other.body.transactionId).toBe(res.body.transactionId);
    expect((await adjust('G-1', { ...body, reason: 'another reason' })).body.outcome).toBe('exists_with_different_reason');
    expect((await adjust('G-2', body)).body.outcome).toBe('exists_with_different_card');
    expect((await guest('G-1')).balance).toBe(50_000);
    expect((await guest('G-2')).balance).toBe(0);
  });

  it('takes points, but never more than are available (insufficient_points is a value)', async () => {
    const over = await adjust('G-1', { idempotencyKey: 'adj-take-all', points: -50_001, reason: 'wrong accrual' });
    expect(over.status).toBe(200);
    expect(over.body).toMatchObject({ outcome: 'insufficient_points', transactionId: '', balance: 50_000 });
    // Without x-kopilka-author the operator is "admin".
    const taken = await adjust('G-1', { idempotencyKey: 'adj-take', points: -10_000, reason: 'wrong accrual' }, {});
    expect(taken.body).toMatchObject({ outcome: 'ok', balance: 40_000 });
    expect(journalled(taken.body.transactionId)).toMatchObject({ operator: 'admin', accrued: -10_000 });
    const view = await guest('G-1');
    expect(view).toMatchObject({ balance: 40_000, available: 40_000 });
    expect(view.transactions.map((x: { kind: string }) => x.kind)).toEqual(['adjustment', 'adjustment']);
  });

  it('tops up a deposit once per key; the look-up shows it in accounts', async () => {
    const body = { idempotencyKey: 'tu-1', account: 'wallet', amount: 10_000 };
    const res = await topUp('G-1', body);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: 'ok', account: 'wallet', balance: 10_000 });
    expect(journalled(res.body.transactionId)).toMatchObject({ kind: 'top_up', operator: AUTHOR, outlet: 'admin', total: 10_000 });
    expect((await topUp('G-1', body)).body).toEqual({ ...res.body, outcome: 'exists' });
    expect((await topUp('G-1', { ...body, amount: 10_001 })).body.outcome).toBe('exists_with_different_amount');
    const view = await guest('G-1');
    expect(view.accounts).toEqual([{ account: 'wallet', unit: 'money', balance: 10_000 }]);
    expect(view.transactions[0]).toMatchObject({ kind: 'top_up', total: 10_000, transactionId: res.body.transactionId });
    // Points are untouched by money.
    expect(view.balance).toBe(40_000);
  });

  it('refuses a top-up of an account that is not a deposit with 400 naming account', async () => {
    const res = await topUp('G-1', { idempotencyKey: 'tu-bonus', account: 'bonus', amount: 100 });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'account' });
    expect(res.body.error.message).toMatch(/wallet/);
    // Refused with an error, not remembered: the key is still free.
    const ok = await topUp('G-1', { idempotencyKey: 'tu-bonus', account: 'wallet', amount: 100 });
    expect(ok.body).toMatchObject({ outcome: 'ok', balance: 10_100 });
  });

  it('answers 404 card_not_found for a card no guest holds', async () => {
    const lookups = [
      await call(api, 'GET', '/v1/guests/NO-SUCH-CARD'),
      await adjust('NO-SUCH-CARD', { idempotencyKey: 'nf-1', points: 100, reason: 'x' }),
      await topUp('NO-SUCH-CARD', { idempotencyKey: 'nf-2', account: 'wallet', amount: 100 }),
    ];
    for (const res of lookups) {
      expect(res.status).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'card_not_found', field: 'card' });
    }
  });

  it('shows 20 transactions by default, ?limit= of them when asked', async () => {
    for (let i = 0; i < 22; i++) {
      expect((await adjust('G-3', { idempotencyKey: `many-${i}`, points: 100, reason: 'bulk' })).body.outcome).toBe('ok');
    }
    const view = await guest('G-3');
    expect(view.balance).toBe(2_200);
    expect(view.transactions).toHaveLength(20);
    // Newest first.
    expect(view.transactions[0].balanceAfter).toBe(2_200);
    expect((await guest('G-3', '?limit=3')).transactions).toHaveLength(3);
    expect((await guest('G-3', '?limit=0')).transactions).toHaveLength(0);
    expect((await guest('G-3', '?limit=100')).transactions).toHaveLength(22);
  });

  describe('refuses malformed requests with 400 naming the field, changing nothing', () => {
    const adjustment = { idempotencyKey: 'bad-adj', points: 100, reason: 'fine' };
    const topUpBody = { idempotencyKey: 'bad-tu', account: 'wallet', amount: 100 };
    const { idempotencyKey: _k, ...noKey } = adjustment;
    const { points: _p, ...noPoints } = adjustment;
    const { reason: _r, ...noReason } = adjustment;
    const { account: _a, ...noAccount } = topUpBody;
    const { amount: _m, ...noAmount } = topUpBody;

    it.each([
      ['no idempotencyKey', noKey, 'idempotencyKey'],
      ['no points', noPoints, 'points'],
      ['no reason', noReason, 'reason'],
      ['points as text', { ...adjustment, points: '100' }, 'points'],
      ['fractional points', { ...adjustment, points: 1.5 }, 'points'],
      ['zero points', { ...adjustment, points: 0 }, 'points'],
      ['points beyond the limit', { ...adjustment, points: points_max + 1 }, 'points'],
      ['an empty reason', { ...adjustment, reason: '' }, 'reason'],
      ['an oversized reason', { ...adjustment, reason: 'x'.repeat(name_chars_max + 1) }, 'reason'],
      ['a reason that is not text', { ...adjustment, reason: 42 }, 'reason'],
      ['an oversized idempotencyKey', { ...adjustment, idempotencyKey: 'k'.repeat(idempotency_key_chars_max + 1) }, 'idempotencyKey'],
      // Who made it comes from the author header, never the body: no spoofing.
      ['an operator', { ...adjustment, operator: 'mallory' }, 'operator'],
      ['an outlet', { ...adjustment, outlet: OUTLET }, 'outlet'],
      ['a card', { ...adjustment, card: 'G-2' }, 'card'],
    ])('an adjustment with %s', async (_, body, field) => {
      const before = await guest('G-4');
      const res = await adjust('G-4', body);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field });
      expect(res.body.error.message).toContain(field);
      expect(await guest('G-4')).toEqual(before);
    });

    it.each([
      ['no account', noAccount, 'account'],
      ['no amount', noAmount, 'amount'],
      ['a fractional amount', { ...topUpBody, amount: 100.5 }, 'amount'],
      ['a zero amount', { ...topUpBody, amount: 0 }, 'amount'],
      ['a negative amount', { ...topUpBody, amount: -100 }, 'amount'],
      ['an amount as text', { ...topUpBody, amount: '100' }, 'amount'],
      ['an empty account', { ...topUpBody, account: '' }, 'account'],
      ['an operator', { ...topUpBody, operator: 'mallory' }, 'operator'],
      ['an unknown field', { ...topUpBody, note: 'cash' }, 'note'],
    ])('a top-up with %s', async (_, body, field) => {
      const before = await guest('G-4');
      const res = await topUp('G-4', body);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field });
      expect(await guest('G-4')).toEqual(before);
    });

    it.each([
      ['an array', '[]'],
      ['null', 'null'],
      ['a number', '42'],
      ['broken JSON', '{"idempotencyKey":'],
    ])('a body that is %s: 400 bad_request', async (_, rawBody) => {
      const before = await guest('G-4');
      for (const path of ['/v1/guests/G-4/adjustments', '/v1/guests/G-4/top-ups']) {
        const res = await call(api, 'POST', path, { rawBody, headers: { 'content-type': 'application/json' } });
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('bad_request');
      }
      expect(await guest('G-4')).toEqual(before);
    });

    it('an author too long for the journal: 400 naming x-kopilka-author', async () => {
      const before = await guest('G-4');
      const res = await adjust('G-4', adjustment, as('a'.repeat(101)));
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'x-kopilka-author' });
      expect(await guest('G-4')).toEqual(before);
    });

    it.each([
      ['?limit=abc', 'limit'],
      ['?limit=1.5', 'limit'],
      ['?limit=-1', 'limit'],
      ['?limit=101', 'limit'],
      ['?expiringWithinDays=x', 'expiringWithinDays'],
    ])('a look-up with %s', async (query, field) => {
      const res = await call(api, 'GET', `/v1/guests/G-4${query}`);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field });
    });

    it('a card longer than any card', async () => {
      const res = await call(api, 'GET', `/v1/guests/${'4'.repeat(65)}`);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'card' });
    });

    it('and the guest is as it was: nothing of the above changed it', async () => {
      expect(await guest('G-4')).toMatchObject({ balance: 0, transactions: [], accounts: [] });
    });
  });

  it('refuses a missing or wrong admin token with 401, changing nothing', async () => {
    for (const token of [null, 'wrong-token']) {
      const requests = [
        await call(api, 'GET', '/v1/guests/G-5', { token }),
        await call(api, 'POST', '/v1/guests/G-5/adjustments', { token, body: { idempotencyKey: 'auth-1', points: 100, reason: 'x' } }),
        await call(api, 'POST', '/v1/guests/G-5/top-ups', { token, body: { idempotencyKey: 'auth-2', account: 'wallet', amount: 100 } }),
      ];
      for (const res of requests) {
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('unauthorized');
      }
    }
    expect(await guest('G-5')).toMatchObject({ balance: 0, transactions: [], accounts: [] });
  });

  it('refuses options that name two engines, or half of one, before opening anything', async () => {
    const operations = (op: any, body: any) => t.engine.execute(op, body);
    await expect(startOn(store, { operations, engineUrl: 'http://127.0.0.1:1', engineKey: 'k' })).rejects.toMatchObject({ code: 'invalid_field', field: 'engineUrl' });
    await expect(startOn(store, { engineUrl: 'http://127.0.0.1:1' })).rejects.toMatchObject({ code: 'invalid_field', field: 'engineKey' });
    await expect(startOn(store, { engineKey: ENGINE_KEY })).rejects.toMatchObject({ code: 'invalid_field', field: 'engineUrl' });
    await expect(startOn(store, { engineUrl: 'ftp://engine', engineKey: 'k' })).rejects.toMatchObject({ code: 'invalid_field', field: 'engineUrl' });
    await expect(startOn(store, { engineUrl: 'not a url', engineKey: 'k' })).rejects.toMatchObject({ code: 'invalid_field', field: 'engineUrl' });
  });

  describe('as a service of its own, forwarding to the engine door as a terminal of outlet admin', () => {
    let door: UwsDoor;
    let other: TestStore;
    let engineUrl: string;

    beforeAll(async () => {
      t.engine.applyConfig(snapshot(3, true));
      door = await startUwsDoor({ engine: t.engine, port: 0 });
      engineUrl = `http://127.0.0.1:${door.port}/`;
      // A second store: PGlite is one process's, and the embedded API above holds the first.
      other = await freshStore();
    }, open_timeout_ms);

    afterAll(async () => {
      door?.stopListening();
      door?.closeConnections();
      await other?.dispose();
    });

    /** Runs `body` against an admin API started with `options`, then closes it. */
    const withApi = async (options: Parameters<typeof startOn>[1], body: (api: AdminApi) => Promise<void>) => {
      const standalone = await startOn(other, options);
      try {
        await body(standalone);
      } finally {
        await standalone.close();
      }
    };

    it('runs adjustments, top-ups and look-ups through the door, with the same answers', async () => {
      await withApi({ engineUrl, engineKey: ENGINE_KEY }, async (standalone) => {
        const body = { idempotencyKey: 'fwd-1', points: 30_000, reason: 'goodwill' };
        const res = await call(standalone, 'POST', '/v1/guests/G-2/adjustments', { body, headers: as(AUTHOR) });
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ outcome: 'ok', balance: 30_000 });
        expect(journalled(res.body.transactionId)).toMatchObject({ kind: 'adjustment', operator: AUTHOR, outlet: 'admin' });
        const again = await call(standalone, 'POST', '/v1/guests/G-2/adjustments', { body, headers: as(AUTHOR) });
        expect(again.body).toEqual({ ...res.body, outcome: 'exists' });
        // One outlet `admin` for both ways: the key is the same adjustment whichever way it came.
        expect((await adjust('G-2', { ...body, points: 1 })).body.outcome).toBe('exists_with_different_points');
        const over = await call(standalone, 'POST', '/v1/guests/G-2/adjustments', { body: { ...body, idempotencyKey: 'fwd-2', points: -30_001 } });
        expect(over.body.outcome).toBe('insufficient_points');

        const tu = await call(standalone, 'POST', '/v1/guests/G-2/top-ups', { body: { idempotencyKey: 'fwd-tu', account: 'wallet', amount: 2_500 } });
        expect(tu.body).toMatchObject({ outcome: 'ok', account: 'wallet', balance: 2_500 });

        const view = await call(standalone, 'GET', '/v1/guests/G-2?limit=5');
        expect(view.status).toBe(200);
        expect(view.body).toEqual(await guest('G-2', '?limit=5'));
        expect(view.body).toMatchObject({ balance: 30_000, accounts: [{ account: 'wallet', unit: 'money', balance: 2_500 }] });
      });
    });

    it("maps the door's errors back to the same codes and statuses", async () => {
      await withApi({ engineUrl, engineKey: ENGINE_KEY }, async (standalone) => {
        const missing = await call(standalone, 'POST', '/v1/guests/NO-SUCH-CARD/adjustments', { body: { idempotencyKey: 'f-nf', points: 1, reason: 'x' } });
        expect(missing.status).toBe(404);
        expect(missing.body.error).toMatchObject({ code: 'card_not_found', field: 'card' });
        const account = await call(standalone, 'POST', '/v1/guests/G-2/top-ups', { body: { idempotencyKey: 'f-acc', account: 'bonus', amount: 1 } });
        expect(account.status).toBe(400);
        expect(account.body.error).toMatchObject({ code: 'invalid_field', field: 'account' });
        // Validated here, before anything is sent.
        const bad = await call(standalone, 'POST', '/v1/guests/G-2/adjustments', { body: { idempotencyKey: 'f-bad', points: 0.5, reason: 'x' } });
        expect(bad.status).toBe(400);
        expect(bad.body.error).toMatchObject({ code: 'invalid_field', field: 'points' });
      });
    });

    it.each([
      ['a key no terminal holds', 'not-a-terminal-key'],
      ['the key of a terminal of another outlet', TERMINAL_KEY],
    ])('answers 503 engine_unavailable, not 401, when the engine refuses %s', async (_, engineKey) => {
      await withApi({ engineUrl, engineKey }, async (standalone) => {
        const res = await call(standalone, 'POST', '/v1/guests/G-2/adjustments', { body: { idempotencyKey: 'f-key', points: 1, reason: 'x' } });
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('engine_unavailable');
        expect(res.body.error.message).toMatch(/engineKey/);
        expect(res.body.error.message).not.toContain(engineKey);
      });
    });

    it('answers 503 engine_unavailable when nothing listens at engineUrl', async () => {
      const closed = await startUwsDoor({ engine: t.engine, port: 0 });
      closed.stopListening();
      await withApi({ engineUrl: `http://127.0.0.1:${closed.port}`, engineKey: ENGINE_KEY }, async (standalone) => {
        const res = await call(standalone, 'GET', '/v1/guests/G-2');
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('engine_unavailable');
      });
    });

    it('answers 503 engine_unavailable on every guest route without an engine, and serves the rest', async () => {
      await withApi({}, async (standalone) => {
        const requests = [
          await call(standalone, 'GET', '/v1/guests/G-2'),
          await call(standalone, 'POST', '/v1/guests/G-2/adjustments', { body: { idempotencyKey: 'none-1', points: 1, reason: 'x' } }),
          await call(standalone, 'POST', '/v1/guests/G-2/top-ups', { body: { idempotencyKey: 'none-2', account: 'wallet', amount: 1 } }),
        ];
        for (const res of requests) {
          expect(res.status).toBe(503);
          expect(res.body.error.code).toBe('engine_unavailable');
          expect(res.body.error.message).toMatch(/engineUrl/);
        }
        expect((await call(standalone, 'GET', '/v1/config')).status).toBe(200);
      });
      expect((await guest('G-2')).balance).toBe(30_000);
    });
  });
});
