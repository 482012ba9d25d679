import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUwsDoor } from '../../dist/adapters/uws-door.js';
import { uwsIsNative } from '../../dist/adapters/uws.js';
import { CHECK_TIME, OTHER_TERMINAL_KEY, OUTLET, TERMINAL_KEY, lines, startEngine } from '../helpers/engine.js';
import { WsClient, pack } from '../helpers/ws-client.js';

let t: Awaited<ReturnType<typeof startEngine>>;
let door: Awaited<ReturnType<typeof startUwsDoor>>;
let base: string;

async function post(op: string, body: unknown, key: string | null = TERMINAL_KEY) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${base}/v1/${op}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as any };
}

const check = (card: string, extra: Record<string, unknown> = {}) => ({
  outlet: OUTLET, card, time: CHECK_TIME, currency: 'RUB', lines: lines(2, 10_000), ...extra,
});

async function balanceOf(card: string): Promise<number> {
  return (await post('balance', { outlet: OUTLET, card, limit: 0 })).json.balance;
}

beforeAll(async () => {
  t = await startEngine();
  door = await startUwsDoor({ engine: t.engine, port: 0 });
  base = `http://127.0.0.1:${door.port}`;
});
afterAll(async () => {
  door.stopListening();
  door.closeConnections();
  await t.close();
});

describe('uWebSockets.js', () => {
  it('runs the native binary, not the JavaScript fallback', () => {
    expect(uwsIsNative()).toBe(true);
  });
});

describe('HTTP door', () => {
  it('registers, identifies, evaluates, commits and reads the balance', async () => {
    const reg = await post('register', { outlet: OUTLET, card: 'H-1', name: 'Boris', phone: '+79990000001' });
    expect(reg.status).toBe(200);
    expect(reg.json.outcome).toBe('ok');
    const id = await post('identify', { outlet: OUTLET, card: 'H-1' });
    expect(id.json).toEqual({
      guestId: reg.json.guestId, card: 'H-1', name: 'Boris', balance: 0,
      phone: '+79990000001', email: '', birthday: '', document: '', address: '', tags: [], consent: false, discounts: {}, cards: [{ card: 'H-1', kind: 'plastic', status: 'active', issuedAt: expect.any(String) }],
    });
    const ev = await post('evaluate', check('H-1', { pointsToSpend: 500 }));
    expect(ev.json).toMatchObject({ total: 20_000, balance: 0, pointsMax: 0, pointsToSpend: 0, moneyToPay: 20_000, accrue: 1_000, configVersion: 1 });
    const c1 = await post('commit', check('H-1', { idempotencyKey: 'h1-a' }));
    expect(c1.json).toMatchObject({ outcome: 'ok', accrued: 1_000, balance: 1_000 });
    // 1,000 hundredths = 10 points = 10.00 RUB: the next check of 200.00 may spend all of it.
    const ev2 = await post('evaluate', check('H-1', { pointsToSpend: 100_000 }));
    expect(ev2.json).toMatchObject({ pointsMax: 1_000, pointsToSpend: 1_000, moneyToPay: 19_000, accrue: 950 });
    const c2 = await post('commit', check('H-1', { idempotencyKey: 'h1-b', pointsSpent: 1_000 }));
    expect(c2.json).toMatchObject({ outcome: 'ok', spent: 1_000, accrued: 950, balance: 950 });
    const bal = await post('balance', { outlet: OUTLET, card: 'H-1' });
    expect(bal.json.balance).toBe(950);
    expect(bal.json.transactions.map((x: any) => x.transactionId)).toEqual([c2.json.transactionId, c1.json.transactionId]);
  });

  it('answers duplicates from the first commit and refuses a different body', async () => {
    await post('register', { outlet: OUTLET, card: 'H-2' });
    const first = await post('commit', check('H-2', { idempotencyKey: 'dup' }));
    const again = await post('commit', check('H-2', { idempotencyKey: 'dup' }));
    expect(again.json).toEqual({ ...first.json, outcome: 'exists' });
    const other = await post('commit', check('H-2', { idempotencyKey: 'dup', lines: lines(1, 10_000) }));
    expect(other.json.outcome).toBe('exists_with_different_lines');
    const otherTime = await post('commit', check('H-2', { idempotencyKey: 'dup', time: '2026-11-24T12:31:00+03:00' }));
    expect(otherTime.json.outcome).toBe('exists_with_different_time');
    expect(await balanceOf('H-2')).toBe(first.json.balance);
  });

  it('refuses overspending as an outcome and changes nothing', async () => {
    await post('register', { outlet: OUTLET, card: 'H-3' });
    await post('commit', check('H-3', { idempotencyKey: 'h3-1', lines: lines(10, 100_000) })); // accrues 50,000
    expect(await balanceOf('H-3')).toBe(50_000);
    const over = await post('commit', check('H-3', { idempotencyKey: 'h3-2', pointsSpent: 10_001 })); // cap 50% of 200.00
    expect(over.json.outcome).toBe('points_over_limit');
    const short = await post('commit', check('H-3', { idempotencyKey: 'h3-3', lines: lines(10, 100_000), pointsSpent: 50_001 }));
    expect(short.json.outcome).toBe('insufficient_points');
    // A failed key stays failed, even once the balance would allow it.
    const retry = await post('commit', check('H-3', { idempotencyKey: 'h3-3', lines: lines(10, 100_000), pointsSpent: 50_001 }));
    expect(retry.json.outcome).toBe('insufficient_points');
    expect(await balanceOf('H-3')).toBe(50_000);
  });

  it.each([
    ['malformed JSON', '{"outlet":', 400, 'bad_request', undefined],
    ['a body that is not an object', '[1,2]', 400, 'bad_request', undefined],
    ['a quantity of the wrong type', check('H-1', { lines: [{ itemCode: 'x', quantity: '2', unitPrice: 100 }] }), 400, 'invalid_field', 'lines[0].quantity'],
    ['a negative quantity', check('H-1', { lines: [{ itemCode: 'x', quantity: -1, unitPrice: 100 }] }), 400, 'invalid_field', 'lines[0].quantity'],
    ['a fractional quantity', check('H-1', { lines: [{ itemCode: 'x', quantity: 1.5, unitPrice: 100 }] }), 400, 'invalid_field', 'lines[0].quantity'],
    ['a fractional price', check('H-1', { lines: [{ itemCode: 'x', quantity: 1, unitPrice: 10.5 }] }), 400, 'invalid_field', 'lines[0].unitPrice'],
    ['an unknown field', check('H-1', { discount: 5 }), 400, 'invalid_field', 'discount'],
    ['no lines', check('H-1', { lines: [] }), 400, 'invalid_field', 'lines'],
    ['a time without offset', check('H-1', { time: '2026-11-24T12:30:00' }), 400, 'invalid_field', 'time'],
    ['another currency', check('H-1', { currency: 'USD' }), 400, 'currency_mismatch', 'currency'],
    ['an unknown card', check('NOPE'), 404, 'card_not_found', 'card'],
    ['negative points', check('H-1', { pointsToSpend: -5 }), 400, 'invalid_field', 'pointsToSpend'],
  ])('refuses %s with a typed error', async (_name, body, status, code, field) => {
    const before = await balanceOf('H-1');
    const r = await post('evaluate', body);
    expect(r.status).toBe(status);
    expect(r.json.error.code).toBe(code);
    expect(r.json.error.field).toBe(field);
    expect(await balanceOf('H-1')).toBe(before);
  });

  it('refuses a commit with bad input and applies nothing', async () => {
    const before = await balanceOf('H-1');
    const r = await post('commit', check('H-1', { idempotencyKey: 'bad-1', lines: [{ itemCode: 'x', quantity: -2, unitPrice: 100 }] }));
    expect(r.json.error.code).toBe('invalid_field');
    // The key was not consumed: a correct body under it commits.
    const ok = await post('commit', check('H-1', { idempotencyKey: 'bad-1' }));
    expect(ok.json.outcome).toBe('ok');
    expect(ok.json.balance).toBe(before + 1_000);
  });

  it('refuses an oversized body', async () => {
    const r = await post('evaluate', check('H-1', { card: 'x'.repeat(70_000) }));
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe('message_too_large');
  });

  it('refuses missing and wrong keys, and another outlet', async () => {
    expect((await post('identify', { outlet: OUTLET, card: 'H-1' }, null)).json.error.code).toBe('unauthorized');
    expect((await post('identify', { outlet: OUTLET, card: 'H-1' }, 'wrong')).status).toBe(401);
    const cross = await post('identify', { outlet: OUTLET, card: 'H-1' }, OTHER_TERMINAL_KEY);
    expect(cross.status).toBe(403);
    expect(cross.json.error.code).toBe('forbidden_outlet');
    const crossCommit = await post('commit', check('H-1', { idempotencyKey: 'cross' }), OTHER_TERMINAL_KEY);
    expect(crossCommit.json.error.code).toBe('forbidden_outlet');
  });

  it('answers unknown routes and ops with not_found', async () => {
    expect((await post('refund-everything', {})).json.error.code).toBe('not_found');
    const res = await fetch(`${base}/nope`);
    expect(res.status).toBe(404);
  });

  it('serves /healthz and aggregated /metrics', async () => {
    const h = await (await fetch(`${base}/healthz`)).json();
    expect(h).toEqual({ ok: true, configVersion: 1, shards: 4 });
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toMatch(/kopilka_requests_total\{door="http",op="commit"\} \d+/);
    expect(m).toMatch(/kopilka_errors_total\{door="http",op="evaluate",code="invalid_field"\} \d+/);
    expect(m).toMatch(/kopilka_request_duration_seconds_bucket\{le="0.001",door="http",op="evaluate"\} \d+/);
    expect(m).toMatch(/kopilka_shard_queue_depth\{shard="3"\} 0/);
    expect(m).toMatch(/kopilka_guests \d+/);
    expect(m).toMatch(/kopilka_config_version 1/);
    // From the shard threads, aggregated in:
    expect(m).toMatch(/kopilka_durable_write_seconds_count\{op="commit"\} \d+/);
    expect(m).toMatch(/kopilka_shard_config_version\{shard="0"\} 1/);
  });
});

describe('WebSocket door', () => {
  it('serves every operation with msgpack frames', async () => {
    const c = await WsClient.connect(door.port, TERMINAL_KEY);
    const reg = await c.request('register', { outlet: OUTLET, card: 'W-1', name: 'Vera' });
    expect(reg.result.outcome).toBe('ok');
    expect((await c.request('identify', { outlet: OUTLET, card: 'W-1' })).result.name).toBe('Vera');
    expect((await c.request('evaluate', check('W-1'))).result.accrue).toBe(1_000);
    const commit = await c.request('commit', check('W-1', { idempotencyKey: 'w1' }));
    expect(commit.result).toMatchObject({ outcome: 'ok', balance: 1_000 });
    expect((await c.request('commit', check('W-1', { idempotencyKey: 'w1' }))).result.outcome).toBe('exists');
    expect((await c.request('commit', check('W-1', { idempotencyKey: 'w1', pointsSpent: 100 }))).result.outcome).toBe('exists_with_different_points_spent');
    expect((await c.request('balance', { outlet: OUTLET, card: 'W-1' })).result.balance).toBe(1_000);
    await c.close();
  });

  it('answers bad frames with typed errors and keeps the connection', async () => {
    const c = await WsClient.connect(door.port, TERMINAL_KEY);
    expect((await c.raw(Buffer.from([0xc1, 0xff, 0x00]))).error!.code).toBe('bad_request');
    expect((await c.raw('{"id":1}', false)).error!.code).toBe('bad_request');
    expect((await c.raw(pack([1, 2, 3]))).error!.code).toBe('bad_request');
    expect((await c.raw(pack({ id: 'x', op: 'identify' }))).error!.code).toBe('bad_request');
    expect((await c.request('launch', {})).error!.code).toBe('unknown_op');
    // Too large to decode, so the answer cannot name the request: it carries id 0.
    const big = await c.raw(pack({ id: 77, op: 'identify', body: { outlet: OUTLET, card: 'y'.repeat(70_000) } }));
    expect(big).toMatchObject({ id: 0, error: { code: 'message_too_large' } });
    const neg = await c.request('commit', check('W-1', { idempotencyKey: 'neg', lines: [{ itemCode: 'x', quantity: -1, unitPrice: 1 }] }));
    expect(neg.error).toMatchObject({ code: 'invalid_field', field: 'lines[0].quantity' });
    expect((await c.request('identify', { outlet: OUTLET, card: 'missing' })).error!.code).toBe('card_not_found');
    expect((await c.request('identify', { outlet: 'outlet-2', card: 'W-1' })).error!.code).toBe('forbidden_outlet');
    // Still usable after all that:
    expect((await c.request('identify', { outlet: OUTLET, card: 'W-1' })).result.balance).toBe(1_000);
    await c.close();
  });

  it('refuses an upgrade without a valid key', async () => {
    await expect(WsClient.connect(door.port)).rejects.toThrow(/401/);
    await expect(WsClient.connect(door.port, 'wrong')).rejects.toThrow(/401/);
  });

  it('matches 500 requests in flight on one connection by id', async () => {
    const c = await WsClient.connect(door.port, TERMINAL_KEY);
    await c.request('register', { outlet: OUTLET, card: 'W-2' });
    const replies = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        i % 2 === 0
          ? c.request('evaluate', check('W-2', { lines: lines(1, (i + 1) * 100) }))
          : c.request('identify', { outlet: OUTLET, card: 'W-2' }),
      ),
    );
    replies.forEach((r, i) => {
      if (i % 2 === 0) expect(r.result.total).toBe((i + 1) * 100);
      else expect(r.result.card).toBe('W-2');
    });
    await c.close();
  });

  it('keeps 100 concurrent commits of one guest from 10 connections exact', async () => {
    const clients = await Promise.all(Array.from({ length: 10 }, () => WsClient.connect(door.port, TERMINAL_KEY)));
    await clients[0]!.request('register', { outlet: OUTLET, card: 'W-3' });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        clients[i % 10]!.request('commit', check('W-3', { idempotencyKey: `w3-${i}`, lines: lines(1, 2_000) })),
      ),
    );
    expect(results.every((r) => r.result?.outcome === 'ok')).toBe(true);
    // The same 100 again, concurrently: all `exists`, nothing applied twice.
    const again = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        clients[(i + 3) % 10]!.request('commit', check('W-3', { idempotencyKey: `w3-${i}`, lines: lines(1, 2_000) })),
      ),
    );
    expect(again.every((r) => r.result?.outcome === 'exists')).toBe(true);
    expect(await balanceOf('W-3')).toBe(100 * 100);
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('holds, cancels and refunds through the doors', () => {
  it('holds at evaluate, posts the hold at commit, refunds partly and wholly over HTTP', async () => {
    await post('register', { outlet: OUTLET, card: 'L-1' });
    const a = await post('commit', check('L-1', { idempotencyKey: 'l1-a', lines: lines(10, 40_000) })); // +20,000
    expect(a.json.balance).toBe(20_000);
    const held = await post('evaluate', check('L-1', { pointsToSpend: 8_000, hold: true }));
    expect(held.json).toMatchObject({ pointsToSpend: 8_000, available: 20_000 });
    expect(held.json.holdId).toMatch(/^\d+-\d+\.h1$/);
    expect((await post('balance', { outlet: OUTLET, card: 'L-1' })).json).toMatchObject({ balance: 20_000, held: 8_000, available: 12_000 });
    const b = await post('commit', check('L-1', { idempotencyKey: 'l1-b', pointsSpent: 8_000, holdId: held.json.holdId }));
    // 200.00 check, 80.00 in points: 5% of 120.00 = 6.00.
    expect(b.json).toMatchObject({ outcome: 'ok', spent: 8_000, accrued: 600, balance: 12_600 });
    expect((await post('cancel', { outlet: OUTLET, holdId: held.json.holdId })).json.outcome).toBe('hold_already_resolved');
    const half = await post('refund', { outlet: OUTLET, idempotencyKey: 'l1-r1', transactionId: b.json.transactionId, lines: [{ line: 0, quantity: 1 }] });
    expect(half.json).toMatchObject({ outcome: 'ok', returned: 10_000, spentRestored: 4_000, accrualReversed: 300, balance: 16_300, checkStatus: 'partially_returned' });
    const rest = await post('refund', { outlet: OUTLET, idempotencyKey: 'l1-r2', transactionId: b.json.transactionId });
    expect(rest.json).toMatchObject({ returned: 10_000, balance: 20_000, checkStatus: 'returned' });
    expect((await post('refund', { outlet: OUTLET, idempotencyKey: 'l1-r1', transactionId: b.json.transactionId, lines: [{ line: 0, quantity: 1 }] })).json.outcome).toBe('exists');
    expect((await post('refund', { outlet: OUTLET, idempotencyKey: 'l1-r3', transactionId: b.json.transactionId })).json.outcome).toBe('already_returned');
    const history = (await post('balance', { outlet: OUTLET, card: 'L-1', limit: 10 })).json.transactions.map((t: any) => t.kind);
    expect(history).toEqual(['refund', 'refund', 'check', 'check']);
  });

  it('refuses malformed ids and a refund of another outlet with typed errors', async () => {
    const badHold = await post('cancel', { outlet: OUTLET, holdId: 'nope' });
    expect(badHold.json.error).toMatchObject({ code: 'invalid_field', field: 'holdId' });
    const badTx = await post('refund', { outlet: OUTLET, idempotencyKey: 'x', transactionId: '1-1' });
    expect(badTx.json.error).toMatchObject({ code: 'invalid_field', field: 'transactionId' });
    const both = await post('refund', { outlet: OUTLET, idempotencyKey: 'x', transactionId: '1-1.1', amount: 5, lines: [{ line: 0, quantity: 1 }] });
    expect(both.json.error).toMatchObject({ code: 'invalid_field', field: 'amount' });
    const foreign = await post('refund', { outlet: OUTLET, idempotencyKey: 'x', transactionId: '1-1.1' }, OTHER_TERMINAL_KEY);
    expect(foreign.json.error.code).toBe('forbidden_outlet');
    const unknownShard = await post('refund', { outlet: OUTLET, idempotencyKey: 'x', transactionId: '99-1.1' });
    expect(unknownShard.json.error.code).toBe('card_not_found');
    const missing = await post('refund', { outlet: OUTLET, idempotencyKey: 'x', transactionId: '1-999999.1' });
    expect(missing.json.outcome).toBe('transaction_not_found');
  });

  it('holds over WebSocket too, and cancels', async () => {
    const c = await WsClient.connect(door.port, TERMINAL_KEY);
    await c.request('register', { outlet: OUTLET, card: 'L-2' });
    await c.request('commit', check('L-2', { idempotencyKey: 'l2-a', lines: lines(10, 40_000) }));
    const h = await c.request('evaluate', check('L-2', { pointsToSpend: 5_000, hold: true }));
    expect((await c.request('cancel', { outlet: OUTLET, holdId: h.result.holdId })).result).toMatchObject({ outcome: 'ok', available: 20_000 });
    expect((await c.request('commit', check('L-2', { idempotencyKey: 'l2-b', pointsSpent: 5_000, holdId: h.result.holdId }))).result.outcome).toBe('hold_already_resolved');
    await c.close();
  });
});

describe('manual adjustments through the doors', () => {
  it('adjusts over HTTP with typed refusals', async () => {
    await post('register', { outlet: OUTLET, card: 'ADJ-1' });
    const body = { outlet: OUTLET, idempotencyKey: 'adj-1', card: 'ADJ-1', points: 1_234, reason: 'complaint #17', operator: 'manager' };
    expect((await post('adjust', body)).json).toMatchObject({ outcome: 'ok', balance: 1_234 });
    expect((await post('adjust', body)).json.outcome).toBe('exists');
    expect((await post('adjust', { ...body, idempotencyKey: 'adj-2', points: 0 })).json.error).toMatchObject({ code: 'invalid_field', field: 'points' });
    expect((await post('adjust', { ...body, idempotencyKey: 'adj-2', reason: '' })).json.error).toMatchObject({ code: 'invalid_field', field: 'reason' });
    expect((await post('adjust', { ...body, idempotencyKey: 'adj-2', points: -5_000 })).json.outcome).toBe('insufficient_points');
    expect((await post('balance', { outlet: OUTLET, card: 'ADJ-1', limit: 5 })).json.transactions.map((t: any) => t.kind)).toEqual(['adjustment']);
  });
});
