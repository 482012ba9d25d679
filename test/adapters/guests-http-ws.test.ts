// Guests and cards through the HTTP and WebSocket door: every new operation, its
// typed errors with their statuses, and payment codes and phones in place of cards.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUwsDoor } from '../../dist/adapters/uws-door.js';
import { CHECK_TIME, OUTLET, TERMINAL_KEY, lines, startEngine, testSnapshot } from '../helpers/engine.js';
import { WsClient } from '../helpers/ws-client.js';

let t: Awaited<ReturnType<typeof startEngine>>;
let door: Awaited<ReturnType<typeof startUwsDoor>>;
let base: string;

async function post(op: string, body: Record<string, unknown>) {
  const res = await fetch(`${base}/v1/${op}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TERMINAL_KEY}` },
    body: JSON.stringify({ outlet: OUTLET, ...body }),
  });
  return { status: res.status, json: (await res.json()) as any };
}

const check = (card: string, extra: Record<string, unknown> = {}) => ({ card, time: CHECK_TIME, currency: 'RUB', lines: lines(2, 10_000), ...extra });

beforeAll(async () => {
  t = await startEngine();
  // Masks and replacement on, as an organization would configure them.
  const s = testSnapshot(2);
  s.organization = { ...s.organization, cardMasks: ['2000####', 'APP-XXXXXX'], newCardReplacesOthers: true };
  t.engine.applyConfig(s);
  door = await startUwsDoor({ engine: t.engine, port: 0 });
  base = `http://127.0.0.1:${door.port}`;
});
afterAll(async () => {
  door.stopListening();
  door.closeConnections();
  await t.close();
});

describe('HTTP door: guests and cards', () => {
  it('registers a profile, changes it, binds, blocks and unblocks cards, and issues a payment code', async () => {
    const reg = await post('register', {
      card: '20000001', name: 'Oleg', phone: '+79995550001', email: 'oleg@example.com', birthday: '--07-30', tags: ['student'], consent: true,
    });
    expect(reg).toEqual({ status: 200, json: { outcome: 'ok', guestId: expect.any(String), card: '20000001' } });
    const guestId = reg.json.guestId;

    const up = await post('updateGuest', { card: '20000001', address: 'Nevsky 10', tags: [], email: '' });
    expect(up.json).toEqual({
      outcome: 'ok', guestId, name: 'Oleg', phone: '+79995550001', email: '', birthday: '--07-30', document: '', address: 'Nevsky 10', tags: [], consent: true, discounts: {},
    });

    const add = await post('addCard', { card: '20000001', newCard: 'APP-0a1b2c', kind: 'virtual' });
    expect(add.json).toEqual({ outcome: 'ok', guestId, card: 'APP-0a1b2c', kind: 'virtual', replaced: ['20000001'] });
    const replaced = await post('evaluate', check('20000001'));
    expect(replaced).toEqual({ status: 409, json: { error: { code: 'card_replaced', message: expect.any(String), field: 'card' } } });

    const byPhone = await post('identify', { phone: '79995550001' });
    expect(byPhone.json).toMatchObject({ guestId, card: '', name: 'Oleg', address: 'Nevsky 10' });
    expect(byPhone.json.cards).toEqual([
      { card: '20000001', kind: 'plastic', status: 'replaced', issuedAt: expect.any(String) },
      { card: 'APP-0a1b2c', kind: 'virtual', status: 'active', issuedAt: expect.any(String) },
    ]);

    expect((await post('blockCard', { card: 'APP-0a1b2c', reason: 'phone lost' })).json).toEqual({ outcome: 'ok', guestId, card: 'APP-0a1b2c', status: 'blocked' });
    for (const [op, body] of [
      ['identify', { card: 'APP-0a1b2c' }],
      ['evaluate', check('APP-0a1b2c')],
      ['commit', check('APP-0a1b2c', { idempotencyKey: 'blocked-1' })],
      ['balance', { card: 'APP-0a1b2c' }],
      ['paymentCode', { card: 'APP-0a1b2c' }],
      ['updateGuest', { card: 'APP-0a1b2c', name: 'X' }],
    ] as const) {
      const r = await post(op, body);
      expect(r.status, op).toBe(409);
      expect(r.json.error, op).toMatchObject({ code: 'card_blocked', field: 'card' });
    }
    expect((await post('unblockCard', { card: 'APP-0a1b2c' })).json).toEqual({ outcome: 'ok', guestId, card: 'APP-0a1b2c', status: 'active' });

    const code = await post('paymentCode', { card: 'APP-0a1b2c' });
    expect(code.json).toEqual({ guestId, code: expect.stringMatching(/^P\d{8}$/), expiresAt: expect.any(String) });
    const ev = await post('evaluate', check(code.json.code));
    expect(ev.json).toMatchObject({ guestId, total: 20_000, accrue: 1_000 });
    const c = await post('commit', check(code.json.code, { idempotencyKey: 'code-1' }));
    expect(c.json).toMatchObject({ outcome: 'ok', guestId, balance: 1_000 });
    expect((await post('identify', { card: code.json.code })).json.card).toBe('APP-0a1b2c');
  });

  it('binds a register with a known phone to its guest', async () => {
    const a = await post('register', { card: '20000010', phone: '+79995550010' });
    const b = await post('register', { card: '20000011', phone: '+79995550010' });
    expect(b.json).toEqual({ outcome: 'card_added', guestId: a.json.guestId, card: '20000011' });
    expect((await post('evaluate', check('20000010'))).json.error.code).toBe('card_replaced');
  });

  it.each([
    ['a bad birthday', 'register', { card: '20000020', birthday: '2000-02-30' }, 'birthday'],
    ['a bad e-mail', 'register', { card: '20000020', email: 'oleg.example.com' }, 'email'],
    ['a name too long', 'register', { card: '20000020', name: 'x'.repeat(201) }, 'name'],
    ['tags of the wrong type', 'register', { card: '20000020', tags: [1, 2] }, 'tags[0]'],
    ['a number no mask matches', 'register', { card: '30000020' }, 'card'],
    ['an RFID card of 7 characters', 'register', { card: 'ABCDEF1', kind: 'rfid' }, 'card'],
    ['a card shaped like a payment code', 'register', { card: 'P20000020' }, 'card'],
    ['a new card no mask matches', 'addCard', { card: '20000011', newCard: 'APP-XYZ', kind: 'virtual' }, 'newCard'],
    ['addCard without a kind', 'addCard', { card: '20000011', newCard: '20000021' }, 'kind'],
    ['blockCard without a reason', 'blockCard', { card: '20000011' }, 'reason'],
    ['identify by card and phone', 'identify', { card: '20000011', phone: '+79995550010' }, 'phone'],
    ['a bad birthday in an update', 'updateGuest', { card: '20000011', birthday: '--13-01' }, 'birthday'],
  ])('refuses %s with 400 invalid_field naming the field, and changes nothing', async (_name, op, body, field) => {
    const before = await post('identify', { card: '20000011' });
    const r = await post(op, body);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'invalid_field', field });
    expect(await post('identify', { card: '20000011' })).toEqual(before);
    expect((await post('identify', { card: '20000020' })).status).toBe(404);
  });

  it('answers an unknown phone, card and code with 404 card_not_found', async () => {
    expect((await post('identify', { phone: '+70000000000' })).json.error).toMatchObject({ code: 'card_not_found', field: 'phone' });
    expect((await post('blockCard', { card: 'NOPE', reason: 'x' })).status).toBe(404);
    expect((await post('evaluate', check('P00000001'))).json.error).toMatchObject({ code: 'card_not_found', field: 'card' });
  });
});

describe('WebSocket door: guests and cards', () => {
  it('serves every new operation with msgpack frames', async () => {
    const c = await WsClient.connect(door.port, TERMINAL_KEY);
    const req = (op: string, body: Record<string, unknown>) => c.request(op, { outlet: OUTLET, ...body });
    const reg = await req('register', { card: 'a0b1c2d3', kind: 'rfid', name: 'Lena', phone: '+79995550100' });
    expect(reg.result).toEqual({ outcome: 'ok', guestId: expect.any(String), card: 'A0B1C2D3' });
    const guestId = reg.result.guestId;
    expect((await req('updateGuest', { card: 'a0b1c2d3', document: '4500 000001', consent: true })).result).toMatchObject({ outcome: 'ok', document: '4500 000001', consent: true });
    expect((await req('addCard', { card: 'A0B1C2D3', newCard: '20000100', kind: 'plastic' })).result).toEqual({
      outcome: 'ok', guestId, card: '20000100', kind: 'plastic', replaced: ['A0B1C2D3'],
    });
    expect((await req('identify', { card: 'A0B1C2D3' })).error).toMatchObject({ code: 'card_replaced', field: 'card' });
    expect((await req('blockCard', { card: '20000100', reason: 'damaged' })).result).toMatchObject({ outcome: 'ok', status: 'blocked' });
    expect((await req('evaluate', check('20000100'))).error).toMatchObject({ code: 'card_blocked', field: 'card' });
    expect((await req('unblockCard', { card: '20000100' })).result).toMatchObject({ outcome: 'ok', status: 'active' });
    expect((await req('unblockCard', { card: '20000100' })).result.outcome).toBe('not_blocked');
    const code = (await req('paymentCode', { card: '20000100' })).result;
    expect(code.code).toMatch(/^P\d{8}$/);
    expect((await req('commit', check(code.code, { idempotencyKey: 'ws-code-1' }))).result).toMatchObject({ outcome: 'ok', guestId });
    const id = (await req('identify', { phone: '+79995550100' })).result;
    expect(id).toMatchObject({ guestId, name: 'Lena', document: '4500 000001', consent: true, balance: 1_000 });
    expect(id.cards.map((x: any) => [x.card, x.kind, x.status])).toEqual([['A0B1C2D3', 'rfid', 'replaced'], ['20000100', 'plastic', 'active']]);
    expect((await req('updateGuest', { card: '20000100', birthday: 'tomorrow' })).error).toMatchObject({ code: 'invalid_field', field: 'birthday' });
    await c.close();
  });
});
