// Guests and cards through the gRPC door: the new unary methods and their members of the
// Stream's oneofs, proto3 presence where "" or [] means "clear" (UpdateGuest), typed
// errors as statuses with kopilka's trailers, payment codes and phones in place of cards.

import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcDoor, type GrpcDoor } from '../../dist/adapters/grpc-door.js';
import { CHECK_TIME, OUTLET, TERMINAL_KEY, lines, startEngine, testSnapshot } from '../helpers/engine.js';
import { KopilkaTestClient, type Method } from '../helpers/grpc-client.js';

const S = grpc.status;

let t: Awaited<ReturnType<typeof startEngine>>;
let door: GrpcDoor;
let client: KopilkaTestClient;

beforeAll(async () => {
  t = await startEngine();
  const s = testSnapshot(2);
  s.organization = { ...s.organization, newCardReplacesOthers: true };
  t.engine.applyConfig(s);
  door = await startGrpcDoor({ engine: t.engine });
  client = new KopilkaTestClient(door.port);
});
afterAll(async () => {
  client?.close();
  await door?.close(1_000);
  await t?.close();
});

/** A unary call of any method, with the outlet filled in. */
const call = (method: string, body: Record<string, unknown>) => client.call(method as Method, { outlet: OUTLET, ...body }, TERMINAL_KEY);
const refusal = (method: string, body: Record<string, unknown>) => client.refusal(method as Method, { outlet: OUTLET, ...body }, TERMINAL_KEY);
const check = (card: string, extra: Record<string, unknown> = {}) => ({ card, time: CHECK_TIME, currency: 'RUB', lines: lines(2, 10_000), ...extra });
const noProfile = { name: '', phone: '', email: '', birthday: '', document: '', address: '', tags: [], consent: false, discounts: {} };

describe('gRPC door: guests and cards, unary', () => {
  it('registers a full profile and identifies by card and by phone', async () => {
    const reg = await call('Register', {
      card: 'G-1', kind: 'virtual', name: 'Irina', phone: '+79996660001', email: 'irina@example.com', birthday: '1985-12-31',
      document: 'AB 123', address: 'Lenina 5', tags: ['vip', 'wine'], consent: true,
    });
    expect(reg).toEqual({ outcome: 'ok', guestId: expect.any(String), card: 'G-1' });
    const profile = { name: 'Irina', phone: '+79996660001', email: 'irina@example.com', birthday: '1985-12-31', document: 'AB 123', address: 'Lenina 5', tags: ['vip', 'wine'], consent: true, discounts: {} };
    const cards = [{ card: 'G-1', kind: 'virtual', status: 'active', issuedAt: expect.any(String) }];
    expect(await call('Identify', { card: 'G-1' })).toEqual({ guestId: reg.guestId, card: 'G-1', balance: 0, ...profile, cards });
    expect(await call('Identify', { phone: '79996660001' })).toEqual({ guestId: reg.guestId, card: '', balance: 0, ...profile, cards });
  });

  it('tells "clear" from "unchanged" in UpdateGuest: optional strings and wrapped tags', async () => {
    const reg = await call('Register', { card: 'G-2', name: 'Pavel', email: 'pavel@example.com', tags: ['a', 'b'], consent: true });
    // Absent fields stay; an explicit "" clears; consent false is sent as such.
    const up = await call('UpdateGuest', { card: 'G-2', email: '', address: 'Mira 1', consent: false });
    expect(up).toEqual({ outcome: 'ok', guestId: reg.guestId, ...noProfile, name: 'Pavel', address: 'Mira 1', tags: ['a', 'b'] });
    // Tags absent: unchanged; an empty GuestTags: cleared; a full one: replaced.
    expect((await call('UpdateGuest', { card: 'G-2', tags: { tags: ['c'] } })).tags).toEqual(['c']);
    expect((await call('UpdateGuest', { card: 'G-2', name: 'Pasha' })).tags).toEqual(['c']);
    expect(await call('UpdateGuest', { card: 'G-2', tags: {} })).toEqual({ outcome: 'ok', guestId: reg.guestId, ...noProfile, name: 'Pasha', address: 'Mira 1' });
    // A phone another guest holds changes nothing.
    const taken = await call('UpdateGuest', { card: 'G-2', phone: '+79996660001', name: 'Someone' });
    expect(taken).toMatchObject({ outcome: 'phone_taken', name: 'Pasha', phone: '' });
  });

  it('binds, blocks and unblocks cards; a blocked or replaced card is FAILED_PRECONDITION with its code', async () => {
    const reg = await call('Register', { card: 'G-3' });
    const add = await call('AddCard', { card: 'G-3', newCard: 'deadbeef', kind: 'rfid' });
    expect(add).toEqual({ outcome: 'ok', guestId: reg.guestId, card: 'DEADBEEF', kind: 'rfid', replaced: ['G-3'] });
    expect(await refusal('Evaluate', { ...check('G-3') })).toEqual({ code: S.FAILED_PRECONDITION, details: expect.any(String), errorCode: 'card_replaced', errorField: 'card' });
    expect((await call('AddCard', { card: 'G-3', newCard: 'DEADBEEF', kind: 'rfid' })).outcome).toBe('exists');

    expect(await call('BlockCard', { card: 'deadbeef', reason: 'lost' })).toEqual({ outcome: 'ok', guestId: reg.guestId, card: 'DEADBEEF', status: 'blocked' });
    expect((await call('BlockCard', { card: 'DEADBEEF', reason: 'lost' })).outcome).toBe('already_blocked');
    for (const [method, body] of [
      ['Identify', { card: 'DEADBEEF' }],
      ['Evaluate', check('DEADBEEF')],
      ['Commit', check('DEADBEEF', { idempotencyKey: 'g3-1' })],
      ['Balance', { card: 'DEADBEEF' }],
      ['PaymentCode', { card: 'DEADBEEF' }],
    ] as const) {
      expect(await refusal(method, body), method).toMatchObject({ code: S.FAILED_PRECONDITION, errorCode: 'card_blocked', errorField: 'card' });
    }
    expect(await call('UnblockCard', { card: 'DEADBEEF' })).toEqual({ outcome: 'ok', guestId: reg.guestId, card: 'DEADBEEF', status: 'active' });
    expect((await call('Commit', check('DEADBEEF', { idempotencyKey: 'g3-1' }))).outcome).toBe('ok');
  });

  it('issues a payment code that stands for the card', async () => {
    const reg = await call('Register', { card: 'G-4' });
    const code = await call('PaymentCode', { card: 'G-4' });
    expect(code).toEqual({ guestId: reg.guestId, code: expect.stringMatching(/^P\d{8}$/), expiresAt: expect.any(String) });
    expect(Date.parse(code.expiresAt) - Date.now()).toBeGreaterThan(4 * 60_000);
    expect(await call('Evaluate', check(code.code))).toMatchObject({ guestId: reg.guestId, accrue: 1_000 });
    expect(await call('Commit', check(code.code, { idempotencyKey: 'g4-1' }))).toMatchObject({ outcome: 'ok', balance: 1_000 });
    expect(await refusal('Evaluate', check('P99999999'))).toMatchObject({ code: S.NOT_FOUND, errorCode: 'card_not_found', errorField: 'card' });
  });

  it.each([
    ['Register', { card: 'G-9', birthday: '1985-02-29' }, 'birthday'],
    ['Register', { card: 'G-9', email: 'no-at-sign' }, 'email'],
    ['Register', { card: 'G-9', kind: 'rfid' }, 'card'],
    ['Register', { card: 'G-9', kind: 'cardboard' }, 'kind'],
    ['Register', { card: 'P12345678' }, 'card'],
    ['Register', { card: 'G-9', tags: ['x', 'x'] }, 'tags[1]'],
    ['Identify', {}, 'card'],
    ['UpdateGuest', { card: 'G-4', birthday: '31.12.1985' }, 'birthday'],
    ['UpdateGuest', { card: 'G-4', tags: { tags: ['y'.repeat(33)] } }, 'tags[0]'],
    ['AddCard', { card: 'G-4', newCard: 'G-9' }, 'kind'],
    ['AddCard', { card: 'G-4', kind: 'plastic' }, 'newCard'],
    ['BlockCard', { card: 'G-4' }, 'reason'],
  ])('refuses %s %j with INVALID_ARGUMENT naming %s, and changes nothing', async (method, body, field) => {
    const before = await call('Identify', { card: 'G-4' });
    expect(await refusal(method, body)).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: field });
    expect(await call('Identify', { card: 'G-4' })).toEqual(before);
    expect((await refusal('Identify', { card: 'G-9' })).errorCode).toBe('card_not_found');
  });
});

describe('gRPC door: guests and cards on the stream', () => {
  it('answers every new operation with its id, and errors for the id alone', async () => {
    const s = client.stream(TERMINAL_KEY);
    const reg = await s.send(1, { register: { outlet: OUTLET, card: 'GS-1', phone: '+79996660100', tags: ['t'] } });
    expect(reg).toEqual({ id: 1, reply: 'register', register: { outcome: 'ok', guestId: expect.any(String), card: 'GS-1' } });
    const guestId = reg.register.guestId;
    const [up, add, code] = await Promise.all([
      s.send(2, { updateGuest: { outlet: OUTLET, card: 'GS-1', name: 'Stream', tags: { tags: [] } } }),
      s.send(3, { addCard: { outlet: OUTLET, card: 'GS-1', newCard: 'GS-2', kind: 'wallet' } }),
      s.send(4, { paymentCode: { outlet: OUTLET, card: 'GS-1' } }),
    ]);
    expect(up).toEqual({ id: 2, reply: 'updateGuest', updateGuest: { outcome: 'ok', guestId, ...noProfile, name: 'Stream', phone: '+79996660100' } });
    expect(add).toEqual({ id: 3, reply: 'addCard', addCard: { outcome: 'ok', guestId, card: 'GS-2', kind: 'wallet', replaced: ['GS-1'] } });
    // Sent after the binding that replaced its card: refused, by the door or, inside the
    // write transaction, by the shard (the door may have read the card before the binding).
    expect(code).toMatchObject({ id: 4, reply: 'error', error: { code: 'card_replaced', field: 'card' } });

    expect(await s.send(5, { blockCard: { outlet: OUTLET, card: 'GS-2', reason: 'test' } })).toEqual({
      id: 5, reply: 'blockCard', blockCard: { outcome: 'ok', guestId, card: 'GS-2', status: 'blocked' },
    });
    const blocked = await s.send(6, { identify: { outlet: OUTLET, card: 'GS-2' } });
    expect(blocked).toMatchObject({ id: 6, reply: 'error', error: { code: 'card_blocked', field: 'card' } });
    expect(await s.send(7, { unblockCard: { outlet: OUTLET, card: 'GS-2' } })).toEqual({
      id: 7, reply: 'unblockCard', unblockCard: { outcome: 'ok', guestId, card: 'GS-2', status: 'active' },
    });
    const fresh = await s.send(8, { paymentCode: { outlet: OUTLET, card: 'GS-2' } });
    expect(fresh).toMatchObject({ id: 8, reply: 'paymentCode', paymentCode: { guestId, code: expect.stringMatching(/^P\d{8}$/) } });
    const byPhone = await s.send(9, { identify: { outlet: OUTLET, phone: '+79996660100' } });
    expect(byPhone.identify).toMatchObject({ guestId, card: '', name: 'Stream', tags: [] });
    expect(byPhone.identify.cards.map((c: any) => [c.card, c.kind, c.status])).toEqual([['GS-1', 'plastic', 'replaced'], ['GS-2', 'wallet', 'active']]);
    const viaCode = await s.send(10, { identify: { outlet: OUTLET, card: fresh.paymentCode.code } });
    expect(viaCode.identify).toMatchObject({ guestId, card: 'GS-2' });
    expect((await s.send(11, { addCard: { outlet: OUTLET, card: 'GS-2', newCard: 'GS-3', kind: 'paper' } })).error).toMatchObject({ code: 'invalid_field', field: 'kind' });
    expect((await s.end()).code).toBe(S.OK);
  });
});

describe('gRPC door: discount levels in UpdateGuest', () => {
  it('carries the map of levels to the shard; an empty map changes nothing; bad levels are refused', async () => {
    const s = testSnapshot(3);
    s.organization = { ...s.organization, newCardReplacesOthers: true };
    s.rules = { ...s.rules, accounts: [...s.rules.accounts, { id: 'card', unit: 'percent', pointValueMinor: 100, defaultBp: 0, target: 'check', match: { items: [], categories: [], tags: [], excludeItems: [], excludeCategories: [], excludeTags: [] }, priority: 0, exclusive: false }] };
    expect(t.engine.applyConfig(s)).toBe(true);
    await call('Register', { card: 'G-D1' });
    expect((await call('UpdateGuest', { card: 'G-D1', discounts: { card: 750 } })).outcome).toBe('ok');
    // 7.5% of 2 × 10,000.
    expect(await call('Evaluate', check('G-D1'))).toMatchObject({ discount: 1_500, lineDiscounts: [750, 750] });
    expect((await call('UpdateGuest', { card: 'G-D1', discounts: {}, name: 'Dina' })).name).toBe('Dina');
    expect((await call('Evaluate', check('G-D1'))).discount).toBe(1_500);
    expect(await refusal('UpdateGuest', { card: 'G-D1', discounts: { card: 10_001 } })).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: 'discounts.card' });
    expect(await refusal('UpdateGuest', { card: 'G-D1', discounts: { deposit: 100 } })).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: 'discounts.deposit' });
    expect((await call('Evaluate', check('G-D1'))).discount).toBe(1_500);
  });

  it('carries levels in Register and answers them as maps in Identify and UpdateGuest, unary and on the stream', async () => {
    const percent = (id: string, defaultBp: number) => ({ id, unit: 'percent' as const, pointValueMinor: 100, defaultBp, target: 'check' as const, match: { items: [], categories: [], tags: [], excludeItems: [], excludeCategories: [], excludeTags: [] }, priority: 0, exclusive: false });
    const s = testSnapshot(4);
    s.rules = { ...s.rules, accounts: [percent('card', 0), percent('gold', 300)] };
    expect(t.engine.applyConfig(s)).toBe(true);
    const reg = await call('Register', { card: 'G-D2', discounts: { card: 750 } });
    expect(reg).toEqual({ outcome: 'ok', guestId: expect.any(String), card: 'G-D2' });
    // Only the level set; gold's default is not shown.
    expect((await call('Identify', { card: 'G-D2' })).discounts).toEqual({ card: 750 });
    expect((await call('UpdateGuest', { card: 'G-D2', discounts: { gold: 0 } })).discounts).toEqual({ card: 750, gold: 0 });
    // An empty map in Register sets nothing (proto3 cannot tell it from absent).
    await call('Register', { card: 'G-D3', discounts: {} });
    expect((await call('Identify', { card: 'G-D3' })).discounts).toEqual({});
    // Refused as UpdateGuest refuses, and nothing is written.
    expect(await refusal('Register', { card: 'G-D4', discounts: { card: 10_001 } })).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: 'discounts.card' });
    expect(await refusal('Register', { card: 'G-D4', discounts: { nope: 10 } })).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: 'discounts.nope' });
    expect(await refusal('Identify', { card: 'G-D4' })).toMatchObject({ code: S.NOT_FOUND, errorCode: 'card_not_found' });
    const stream = client.stream(TERMINAL_KEY);
    const sreg = await stream.send(1, { register: { outlet: OUTLET, card: 'G-D5', discounts: { gold: 120 } } });
    expect(sreg.register.outcome).toBe('ok');
    expect((await stream.send(2, { identify: { outlet: OUTLET, card: 'G-D5' } })).identify.discounts).toEqual({ gold: 120 });
    expect((await stream.send(3, { updateGuest: { outlet: OUTLET, card: 'G-D5', discounts: { card: 5 } } })).updateGuest.discounts).toEqual({ card: 5, gold: 120 });
    expect((await stream.end()).code).toBe(S.OK);
  });
});
