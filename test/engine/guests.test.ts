// Guests and cards through a real engine on real LMDB files: profiles, card kinds and
// statuses, masks, the phone index, payment codes, restarts and races. Requests go
// through the doors' validators first, as every door sends them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../dist/engine/index.js';
import { openStore, metaGuestCounter, META_SHARDS } from '../../dist/engine/store.js';
import { emptyAccount } from '../../dist/engine/points-account.js';
import type { ConfigSnapshot } from '../../dist/protocol/config.js';
import { CHECK_TIME, OUTLET, lines, tempDir, testSnapshot, type Body, doorCalls } from '../helpers/engine.js';


/** An engine of our own: options the shared helper does not take (payment code life, settings). */
async function openEngine(opts: { dataDir?: string; organization?: Partial<ConfigSnapshot['organization']>; paymentCodeTtlMs?: number; shards?: number } = {}) {
  const tmp = opts.dataDir === undefined ? tempDir('kopilka-guests-') : undefined;
  const dataDir = opts.dataDir ?? tmp!.dir;
  const engine = Engine.open({ dataDir, shards: opts.shards ?? 4, threads: 2, paymentCodeTtlMs: opts.paymentCodeTtlMs });
  if (engine.config === undefined) {
    const s = testSnapshot();
    s.organization = { ...s.organization, ...opts.organization };
    engine.applyConfig(s);
  }
  const { run, refusal } = doorCalls(() => engine);
  return {
    engine,
    dataDir,
    run,
    refusal,
    async close(keep = false) {
      await engine.drain(5000);
      await engine.close();
      if (!keep) tmp?.remove();
    },
    remove: () => tmp?.remove(),
  };
}

const check = (card: string, extra: Body = {}): Body => ({ card, time: CHECK_TIME, currency: 'RUB', lines: lines(2, 10_000), ...extra });
const activeCard = (card: string, kind = 'plastic') => ({ card, kind, status: 'active', issuedAt: expect.any(String) });

describe('guest profiles', () => {
  let t: Awaited<ReturnType<typeof openEngine>>;
  beforeAll(async () => {
    t = await openEngine();
  });
  afterAll(async () => {
    await t.close();
  });

  it('registers a full profile, answers it at identify, and changes it field by field', async () => {
    const reg = await t.run('register', {
      card: 'P-1', name: 'Anna Petrova', phone: '+79990001001', email: 'anna@example.com', birthday: '1990-04-12',
      document: '4510 123456', address: 'Tverskaya 1, Moscow', tags: ['vip', 'coffee'], consent: true,
    });
    expect(reg).toEqual({ outcome: 'ok', guestId: expect.any(String), card: 'P-1' });
    const id = await t.run('identify', { card: 'P-1' });
    expect(id).toEqual({
      guestId: reg.guestId, card: 'P-1', balance: 0,
      name: 'Anna Petrova', phone: '+79990001001', email: 'anna@example.com', birthday: '1990-04-12',
      document: '4510 123456', address: 'Tverskaya 1, Moscow', tags: ['vip', 'coffee'], consent: true, discounts: {},
      cards: [activeCard('P-1')],
    });

    // Absent fields stay; "" clears; tags: [] clears; a year-less birthday is a birthday.
    const up = await t.run('updateGuest', { card: 'P-1', email: '', birthday: '--04-12', tags: [], consent: false, name: 'Anna P.' });
    expect(up).toEqual({
      outcome: 'ok', guestId: reg.guestId, name: 'Anna P.', phone: '+79990001001', email: '', birthday: '--04-12',
      document: '4510 123456', address: 'Tverskaya 1, Moscow', tags: [], consent: false, discounts: {},
    });
    const { cards: _cards, balance: _balance, card: _card, guestId: _g, ...profile } = await t.run('identify', { card: 'P-1' });
    const { outcome: _o, guestId: _g2, ...answered } = up;
    expect(profile).toEqual(answered);

    // Last write wins; the same update again changes nothing more.
    const again = await t.run('updateGuest', { card: 'P-1', email: '', birthday: '--04-12', tags: [], consent: false, name: 'Anna P.' });
    expect(again).toEqual(up);
  });

  it('registers a guest with the card alone, profile fields empty', async () => {
    const reg = await t.run('register', { card: 'P-2' });
    expect(await t.run('identify', { card: 'P-2' })).toEqual({
      guestId: reg.guestId, card: 'P-2', balance: 0, name: '', phone: '', email: '', birthday: '', document: '', address: '',
      tags: [], consent: false, discounts: {}, cards: [activeCard('P-2')],
    });
  });

  it.each([
    ['a name of the wrong type', 'register', { name: 5 }, 'name'],
    ['a name too long', 'register', { name: 'x'.repeat(201) }, 'name'],
    ['consent as a string', 'register', { consent: 'yes' }, 'consent'],
    ['tags as a string', 'register', { tags: 'vip' }, 'tags'],
    ['too many tags', 'register', { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, 'tags'],
    ['a tag too long', 'register', { tags: ['ok', 'x'.repeat(33)] }, 'tags[1]'],
    ['an empty tag', 'register', { tags: [''] }, 'tags[0]'],
    ['a repeated tag', 'register', { tags: ['a', 'a'] }, 'tags[1]'],
    ['a tag of the wrong type', 'register', { tags: [1] }, 'tags[0]'],
    ['30 February', 'register', { birthday: '1990-02-30' }, 'birthday'],
    ['month 13', 'register', { birthday: '1990-13-01' }, 'birthday'],
    ['a two-digit year', 'register', { birthday: '90-01-01' }, 'birthday'],
    ['a year-less 30 February', 'register', { birthday: '--02-30' }, 'birthday'],
    ['a birthday in 1850', 'register', { birthday: '1850-01-01' }, 'birthday'],
    ['a birthday as a number', 'register', { birthday: 19900101 }, 'birthday'],
    ['an e-mail without a domain', 'register', { email: 'anna@' }, 'email'],
    ['an e-mail with a space', 'register', { email: 'an na@example.com' }, 'email'],
    ['an e-mail too long', 'register', { email: `${'a'.repeat(250)}@ex.com` }, 'email'],
    ['a phone with letters', 'register', { phone: '+7999abc' }, 'phone'],
    ['a document too long', 'register', { document: 'x'.repeat(65) }, 'document'],
    ['an address too long', 'register', { address: 'x'.repeat(501) }, 'address'],
    ['an unknown kind', 'register', { kind: 'paper' }, 'kind'],
    ['an unknown field', 'register', { nickname: 'A' }, 'nickname'],
    ['a bad e-mail in an update', 'updateGuest', { email: 'nope' }, 'email'],
    ['a bad birthday in an update', 'updateGuest', { birthday: '2001-02-29' }, 'birthday'],
    ['a name too long in an update', 'updateGuest', { name: 'x'.repeat(201) }, 'name'],
    ['consent as a number in an update', 'updateGuest', { consent: 1 }, 'consent'],
  ])('refuses %s with invalid_field naming it, and changes nothing', async (_name, op, fields, field) => {
    const before = await t.run('identify', { card: 'P-1' });
    const body = op === 'register' ? { card: `BAD-${field}`, ...fields } : { card: 'P-1', ...fields };
    const r = await t.refusal(op, body);
    expect(r.code).toBe('invalid_field');
    expect(r.field).toBe(field);
    expect(await t.run('identify', { card: 'P-1' })).toEqual(before);
    expect((await t.refusal('identify', { card: `BAD-${field}` })).code).toBe('card_not_found');
  });

  it('refuses a birthday 29 February of a year without one, and takes it in a leap year', async () => {
    expect((await t.refusal('register', { card: 'LEAP-1', birthday: '2001-02-29' })).field).toBe('birthday');
    await t.run('register', { card: 'LEAP-2', birthday: '2000-02-29' });
    expect((await t.run('identify', { card: 'LEAP-2' })).birthday).toBe('2000-02-29');
  });

  it('refuses updateGuest and identify of an unknown card', async () => {
    expect(await t.refusal('updateGuest', { card: 'NOBODY', name: 'X' })).toMatchObject({ code: 'card_not_found', field: 'card' });
  });
});

describe('cards: kinds, RFID, masks', () => {
  let t: Awaited<ReturnType<typeof openEngine>>;
  beforeAll(async () => {
    t = await openEngine({ organization: { cardMasks: ['7800########', 'W-XXXX'] } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('binds cards of every kind to one guest and lists them in binding order', async () => {
    const reg = await t.run('register', { card: '780000000001', kind: 'virtual' });
    expect((await t.run('addCard', { card: '780000000001', newCard: 'W-00af', kind: 'wallet' })).outcome).toBe('ok');
    expect((await t.run('addCard', { card: '780000000001', newCard: 'c0ffee01', kind: 'rfid' })).outcome).toBe('ok');
    expect((await t.run('addCard', { card: 'W-00af', newCard: '780000000002', kind: 'plastic' })).outcome).toBe('ok');
    const id = await t.run('identify', { card: '780000000002' });
    expect(id.guestId).toBe(reg.guestId);
    expect(id.cards).toEqual([activeCard('780000000001', 'virtual'), activeCard('W-00af', 'wallet'), activeCard('C0FFEE01', 'rfid'), activeCard('780000000002')]);
  });

  it('keeps an RFID UID in upper case and finds it in either case', async () => {
    const reg = await t.run('register', { card: 'a1b2c3e4', kind: 'rfid' });
    expect(reg).toEqual({ outcome: 'ok', guestId: expect.any(String), card: 'A1B2C3E4' });
    const id = await t.run('identify', { card: 'a1b2c3e4' });
    expect(id).toMatchObject({ guestId: reg.guestId, card: 'A1B2C3E4', cards: [activeCard('A1B2C3E4', 'rfid')] });
    const c = await t.run('commit', check('a1b2c3e4', { idempotencyKey: 'rfid-1' }));
    expect(c.outcome).toBe('ok');
    // The journal names the card as kept: a retry in upper case is the same commit.
    expect((await t.run('commit', check('A1B2C3E4', { idempotencyKey: 'rfid-1' }))).outcome).toBe('exists');
    expect((await t.run('register', { card: 'A1B2C3E4', kind: 'rfid' })).outcome).toBe('exists');
  });

  it.each([
    ['6 hex characters', 'A1B2C3'],
    ['9 hex characters', 'A1B2C3E4F'],
    ['a letter beyond F', 'G1B2C3E4'],
  ])('refuses an RFID card of %s', async (_name, card) => {
    expect(await t.refusal('register', { card, kind: 'rfid' })).toMatchObject({ code: 'invalid_field', field: 'card' });
  });

  it('accepts numbers matching a mask and refuses the others, naming the field and the masks', async () => {
    expect((await t.run('register', { card: '780012345678' })).outcome).toBe('ok');
    expect((await t.run('register', { card: 'W-BEEF', kind: 'wallet' })).outcome).toBe('ok');
    for (const card of ['790012345678', '78001234567', '7800123456789', '7800abcdefgh', 'W-BEEG']) {
      const r = await t.refusal('register', { card });
      expect(r).toMatchObject({ code: 'invalid_field', field: 'card' });
      expect(r.message).toContain('"7800########", "W-XXXX"');
      expect((await t.refusal('identify', { card })).code).toBe('card_not_found');
    }
    const add = await t.refusal('addCard', { card: '780012345678', newCard: '1234', kind: 'plastic' });
    expect(add).toMatchObject({ code: 'invalid_field', field: 'newCard' });
    expect((await t.run('identify', { card: '780012345678' })).cards).toHaveLength(1);
    // RFID has its own rule, not the masks.
    expect((await t.run('addCard', { card: '780012345678', newCard: 'DEADBEEF', kind: 'rfid' })).outcome).toBe('ok');
  });

  it('refuses a card number shaped like a payment code', async () => {
    for (const card of ['P12345678', 'p00000000']) {
      expect(await t.refusal('register', { card })).toMatchObject({ code: 'invalid_field', field: 'card' });
    }
    expect(await t.refusal('addCard', { card: '780012345678', newCard: 'P87654321', kind: 'virtual' })).toMatchObject({ code: 'invalid_field', field: 'newCard' });
  });

  it('answers addCard of a card already this guest\'s with exists, and of another guest\'s with card_taken', async () => {
    const a = await t.run('register', { card: '780000000101' });
    await t.run('register', { card: '780000000102' });
    expect(await t.run('addCard', { card: '780000000101', newCard: '780000000103', kind: 'plastic' })).toEqual({
      outcome: 'ok', guestId: a.guestId, card: '780000000103', kind: 'plastic', replaced: [],
    });
    expect((await t.run('addCard', { card: '780000000101', newCard: '780000000103', kind: 'plastic' })).outcome).toBe('exists');
    expect(await t.run('addCard', { card: '780000000101', newCard: '780000000102', kind: 'plastic' })).toMatchObject({ outcome: 'card_taken', guestId: a.guestId });
    expect((await t.run('identify', { card: '780000000101' })).cards.map((c: any) => c.card)).toEqual(['780000000101', '780000000103']);
  });

  it('refuses a malformed mask list in a configuration', () => {
    const s = testSnapshot(t.engine.config!.version + 1);
    s.organization = { ...s.organization, cardMasks: [''] };
    expect(() => t.engine.applyConfig(s)).toThrow(/cardMasks\[0\]/);
    expect(t.engine.config!.organization.cardMasks).toEqual(['7800########', 'W-XXXX']);
  });
});

describe('blocked cards', () => {
  let t: Awaited<ReturnType<typeof openEngine>>;
  beforeAll(async () => {
    t = await openEngine();
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses every operation presenting a blocked card with card_blocked, and works again once unblocked', async () => {
    const reg = await t.run('register', { card: 'B-1', phone: '+79990002001' });
    await t.run('addCard', { card: 'B-1', newCard: 'B-2', kind: 'virtual' });
    const committed = await t.run('commit', check('B-1', { idempotencyKey: 'b-1' }));
    expect(committed.outcome).toBe('ok');
    const code = (await t.run('paymentCode', { card: 'B-1' })).code;

    expect(await t.run('blockCard', { card: 'B-1', reason: 'lost' })).toEqual({ outcome: 'ok', guestId: reg.guestId, card: 'B-1', status: 'blocked' });
    expect((await t.run('blockCard', { card: 'B-1', reason: 'lost again' })).outcome).toBe('already_blocked');

    const refused: Array<[string, Body]> = [
      ['identify', { card: 'B-1' }],
      ['evaluate', check('B-1')],
      ['evaluate', check('B-1', { hold: true, pointsToSpend: 100 })],
      ['commit', check('B-1', { idempotencyKey: 'b-2' })],
      ['balance', { card: 'B-1' }],
      ['adjust', { card: 'B-1', idempotencyKey: 'b-adj', points: 100, reason: 'gift', operator: 'admin' }],
      ['updateGuest', { card: 'B-1', name: 'Thief' }],
      ['addCard', { card: 'B-1', newCard: 'B-3', kind: 'plastic' }],
      ['paymentCode', { card: 'B-1' }],
      // A code issued before the block stands for the blocked card.
      ['identify', { card: code }],
      ['commit', check(code, { idempotencyKey: 'b-3' })],
    ];
    const before = await t.run('balance', { card: 'B-2', limit: 10 });
    for (const [op, body] of refused) {
      expect(await t.refusal(op, body), `${op} ${JSON.stringify(body)}`).toMatchObject({ code: 'card_blocked', field: 'card' });
    }
    // Nothing changed; the guest's other card works, and shows the block.
    expect(await t.run('balance', { card: 'B-2', limit: 10 })).toEqual(before);
    const id = await t.run('identify', { card: 'B-2' });
    expect(id.name).toBe('');
    expect(id.cards).toEqual([{ ...activeCard('B-1'), status: 'blocked' }, activeCard('B-2', 'virtual')]);
    // A refund names the check, not the card: goods come back whatever became of it.
    expect((await t.run('refund', { idempotencyKey: 'b-r', transactionId: committed.transactionId })).outcome).toBe('ok');

    expect(await t.run('unblockCard', { card: 'B-1' })).toEqual({ outcome: 'ok', guestId: reg.guestId, card: 'B-1', status: 'active' });
    expect((await t.run('unblockCard', { card: 'B-1' })).outcome).toBe('not_blocked');
    expect((await t.run('identify', { card: 'B-1' })).cards[0]).toEqual(activeCard('B-1'));
    expect((await t.run('commit', check('B-1', { idempotencyKey: 'b-2' }))).outcome).toBe('ok');
    expect((await t.run('evaluate', check(code))).guestId).toBe(reg.guestId);
  });

  it('binds at most 64 cards to one guest', async () => {
    await t.run('register', { card: 'MANY-0' });
    for (let i = 1; i < 64; i++) expect((await t.run('addCard', { card: 'MANY-0', newCard: `MANY-${i}`, kind: 'virtual' })).outcome).toBe('ok');
    expect(await t.refusal('addCard', { card: 'MANY-0', newCard: 'MANY-64', kind: 'virtual' })).toMatchObject({ code: 'invalid_field', field: 'newCard' });
    expect((await t.refusal('identify', { card: 'MANY-64' })).code).toBe('card_not_found');
    expect((await t.run('identify', { card: 'MANY-63' })).cards).toHaveLength(64);
  });

  it('refuses blockCard of an unknown card, and a reason out of bounds', async () => {
    expect((await t.refusal('blockCard', { card: 'NOBODY', reason: 'x' })).code).toBe('card_not_found');
    await t.run('register', { card: 'B-9' });
    expect(await t.refusal('blockCard', { card: 'B-9', reason: '' })).toMatchObject({ code: 'invalid_field', field: 'reason' });
    expect(await t.refusal('blockCard', { card: 'B-9' })).toMatchObject({ code: 'invalid_field', field: 'reason' });
    expect((await t.run('identify', { card: 'B-9' })).cards[0].status).toBe('active');
  });
});

describe('a new card replaces the others (newCardReplacesOthers)', () => {
  let on: Awaited<ReturnType<typeof openEngine>>;
  let off: Awaited<ReturnType<typeof openEngine>>;
  beforeAll(async () => {
    [on, off] = await Promise.all([openEngine({ organization: { newCardReplacesOthers: true } }), openEngine()]);
  });
  afterAll(async () => {
    await Promise.all([on.close(), off.close()]);
  });

  it('marks the other active cards replaced at addCard', async () => {
    const reg = await on.run('register', { card: 'R-1' });
    expect(await on.run('addCard', { card: 'R-1', newCard: 'R-2', kind: 'virtual' })).toEqual({
      outcome: 'ok', guestId: reg.guestId, card: 'R-2', kind: 'virtual', replaced: ['R-1'],
    });
    expect((await on.run('addCard', { card: 'R-2', newCard: 'R-3', kind: 'wallet' })).replaced).toEqual(['R-2']);
    const cards = (await on.run('identify', { card: 'R-3' })).cards;
    expect(cards.map((c: any) => [c.card, c.kind, c.status])).toEqual([['R-1', 'plastic', 'replaced'], ['R-2', 'virtual', 'replaced'], ['R-3', 'wallet', 'active']]);
    for (const card of ['R-1', 'R-2']) {
      expect(await on.refusal('evaluate', check(card))).toMatchObject({ code: 'card_replaced', field: 'card' });
      expect(await on.refusal('identify', { card })).toMatchObject({ code: 'card_replaced', field: 'card' });
      expect((await on.refusal('unblockCard', { card })).code).toBe('card_replaced');
      expect((await on.refusal('blockCard', { card, reason: 'x' })).code).toBe('card_replaced');
    }
    // A retry of the binding, presenting the card it replaced, answers exists.
    expect(await on.run('addCard', { card: 'R-2', newCard: 'R-3', kind: 'wallet' })).toMatchObject({ outcome: 'exists', guestId: reg.guestId, replaced: [] });
    // A replaced card binds nothing new.
    expect((await on.refusal('addCard', { card: 'R-2', newCard: 'R-4', kind: 'plastic' })).code).toBe('card_replaced');
  });

  it('leaves blocked cards blocked, and refuses a binding presented by one', async () => {
    const reg = await on.run('register', { card: 'RB-1', phone: '+79990003003' });
    await on.run('blockCard', { card: 'RB-1', reason: 'stolen' });
    expect((await on.refusal('addCard', { card: 'RB-1', newCard: 'RB-9', kind: 'plastic' })).code).toBe('card_blocked');
    expect((await on.run('register', { card: 'RB-2', phone: '+79990003003' })).outcome).toBe('card_added');
    expect((await on.run('register', { card: 'RB-3', phone: '+79990003003' })).outcome).toBe('card_added');
    const id = await on.run('identify', { phone: '+79990003003' });
    expect(id.guestId).toBe(reg.guestId);
    expect(id.cards.map((c: any) => [c.card, c.status])).toEqual([['RB-1', 'blocked'], ['RB-2', 'replaced'], ['RB-3', 'active']]);
  });

  it('marks them replaced when a register brings the guest\'s phone', async () => {
    const reg = await on.run('register', { card: 'RP-1', phone: '+79990003001' });
    const added = await on.run('register', { card: 'RP-2', phone: '79990003001', name: 'Ignored' });
    expect(added).toEqual({ outcome: 'card_added', guestId: reg.guestId, card: 'RP-2' });
    const id = await on.run('identify', { card: 'RP-2' });
    expect(id.name).toBe('');
    expect(id.cards.map((c: any) => [c.card, c.status])).toEqual([['RP-1', 'replaced'], ['RP-2', 'active']]);
  });

  it('keeps the other cards active with the setting off', async () => {
    const reg = await off.run('register', { card: 'K-1', phone: '+79990004001' });
    expect((await off.run('addCard', { card: 'K-1', newCard: 'K-2', kind: 'plastic' })).replaced).toEqual([]);
    expect(await off.run('register', { card: 'K-3', phone: '+79990004001' })).toEqual({ outcome: 'card_added', guestId: reg.guestId, card: 'K-3' });
    const id = await off.run('identify', { card: 'K-1' });
    expect(id.cards.map((c: any) => [c.card, c.status])).toEqual([['K-1', 'active'], ['K-2', 'active'], ['K-3', 'active']]);
    for (const card of ['K-1', 'K-2', 'K-3']) expect((await off.run('identify', { card })).guestId).toBe(reg.guestId);
  });
});

describe('phones', () => {
  let t: Awaited<ReturnType<typeof openEngine>>;
  beforeAll(async () => {
    t = await openEngine();
  });
  afterAll(async () => {
    await t.close();
  });

  it('identifies by phone, with or without +, answering the guest and its cards', async () => {
    const reg = await t.run('register', { card: 'F-1', phone: '+79990005001', name: 'Vera' });
    await t.run('addCard', { card: 'F-1', newCard: 'F-2', kind: 'virtual' });
    for (const phone of ['+79990005001', '79990005001']) {
      expect(await t.run('identify', { phone })).toMatchObject({
        guestId: reg.guestId, card: '', name: 'Vera', phone: '+79990005001', cards: [activeCard('F-1'), activeCard('F-2', 'virtual')],
      });
    }
    expect(await t.refusal('identify', { phone: '+79990005999' })).toMatchObject({ code: 'card_not_found', field: 'phone' });
    expect(await t.refusal('identify', { phone: '+79990005001', card: 'F-1' })).toMatchObject({ code: 'invalid_field', field: 'phone' });
    expect(await t.refusal('identify', {})).toMatchObject({ code: 'invalid_field', field: 'card' });
    expect(await t.refusal('identify', { phone: 'abc' })).toMatchObject({ code: 'invalid_field', field: 'phone' });
  });

  it('moves a phone with updateGuest, and answers phone_taken for another guest\'s phone', async () => {
    const a = await t.run('register', { card: 'F-10', phone: '+79990005010' });
    const b = await t.run('register', { card: 'F-11', phone: '+79990005011' });
    const taken = await t.run('updateGuest', { card: 'F-11', phone: '+79990005010', name: 'B' });
    expect(taken).toMatchObject({ outcome: 'phone_taken', guestId: b.guestId, phone: '+79990005011', name: '' });
    expect((await t.run('identify', { phone: '+79990005010' })).guestId).toBe(a.guestId);

    expect(await t.run('updateGuest', { card: 'F-10', phone: '+79990005012' })).toMatchObject({ outcome: 'ok', phone: '+79990005012' });
    expect((await t.refusal('identify', { phone: '+79990005010' })).code).toBe('card_not_found');
    expect((await t.run('identify', { phone: '+79990005012' })).guestId).toBe(a.guestId);
    // The freed phone is free: a register with it makes a new guest.
    const c = await t.run('register', { card: 'F-12', phone: '+79990005010' });
    expect(c.outcome).toBe('ok');
    expect(c.guestId).not.toBe(a.guestId);
    // Clearing the phone frees it too.
    expect(await t.run('updateGuest', { card: 'F-10', phone: '' })).toMatchObject({ outcome: 'ok', phone: '' });
    expect((await t.refusal('identify', { phone: '+79990005012' })).code).toBe('card_not_found');
  });

  it('binds a register with a known phone to its guest, and answers exists for a known card whatever the phone', async () => {
    const reg = await t.run('register', { card: 'F-20', phone: '+79990005020' });
    expect(await t.run('register', { card: 'F-21', phone: '+79990005020' })).toEqual({ outcome: 'card_added', guestId: reg.guestId, card: 'F-21' });
    expect(await t.run('register', { card: 'F-21', phone: '+79990005020' })).toEqual({ outcome: 'exists', guestId: reg.guestId, card: 'F-21' });
    expect(await t.run('register', { card: 'F-20', phone: '+79990005099' })).toEqual({ outcome: 'exists', guestId: reg.guestId, card: 'F-20' });
    expect((await t.refusal('identify', { phone: '+79990005099' })).code).toBe('card_not_found');
  });

  it('makes one guest of two registers of different cards with one new phone at once, every time', async () => {
    const rounds = 25;
    const results = await Promise.all(
      Array.from({ length: rounds }, (_, i) => {
        const phone = `+7999100${String(i).padStart(4, '0')}`;
        return Promise.all([t.run('register', { card: `RACE-${i}-A`, phone }), t.run('register', { card: `RACE-${i}-B`, phone })]);
      }),
    );
    for (let i = 0; i < rounds; i++) {
      const [a, b] = results[i]!;
      expect([a.outcome, b.outcome].sort()).toEqual(['card_added', 'ok']);
      expect(a.guestId).toBe(b.guestId);
      const id = await t.run('identify', { phone: `+7999100${String(i).padStart(4, '0')}` });
      expect(id.guestId).toBe(a.guestId);
      expect(id.cards.map((c: any) => c.card).sort()).toEqual([`RACE-${i}-A`, `RACE-${i}-B`]);
    }
  });

  it('makes one guest of one new card registered twice at once with different phones', async () => {
    const [a, b] = await Promise.all([
      t.run('register', { card: 'TWICE-1', phone: '+79992000001' }),
      t.run('register', { card: 'TWICE-1', phone: '+79992000002' }),
    ]);
    expect([a.outcome, b.outcome].sort()).toEqual(['exists', 'ok']);
    expect(a.guestId).toBe(b.guestId);
  });

  it('keeps one phone one guest when an update and a register race for it', async () => {
    const rounds = 10;
    for (let i = 0; i < rounds; i++) {
      const phone = `+7999300${String(i).padStart(4, '0')}`;
      const g = await t.run('register', { card: `UR-${i}-A` });
      const [up, reg] = await Promise.all([
        t.run('updateGuest', { card: `UR-${i}-A`, phone }),
        t.run('register', { card: `UR-${i}-B`, phone }),
      ]);
      const holder = (await t.run('identify', { phone })).guestId;
      if (up.outcome === 'ok') {
        // The update came first: the register bound its card to that guest.
        expect(holder).toBe(g.guestId);
        expect(reg).toEqual({ outcome: 'card_added', guestId: g.guestId, card: `UR-${i}-B` });
      } else {
        expect(up.outcome).toBe('phone_taken');
        expect(reg.outcome).toBe('ok');
        expect(holder).toBe(reg.guestId);
      }
    }
  });
});

describe('payment codes', () => {
  let t: Awaited<ReturnType<typeof openEngine>>;
  beforeAll(async () => {
    t = await openEngine({ paymentCodeTtlMs: 1_500 });
  });
  afterAll(async () => {
    await t.close();
  });

  it('issues a code that evaluates and commits for the card until it expires', async () => {
    const reg = await t.run('register', { card: 'PC-1' });
    const issued = await t.run('paymentCode', { card: 'PC-1' });
    expect(issued).toEqual({ guestId: reg.guestId, code: expect.stringMatching(/^P[0-9]{8}$/), expiresAt: expect.any(String) });
    const left = Date.parse(issued.expiresAt) - Date.now();
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(1_500);

    const ev = await t.run('evaluate', check(issued.code));
    expect(ev).toMatchObject({ guestId: reg.guestId, total: 20_000, accrue: 1_000 });
    // Used, it stays valid: the commit presents it too, and the journal names the card.
    const c = await t.run('commit', check(issued.code, { idempotencyKey: 'pc-1' }));
    expect(c).toMatchObject({ outcome: 'ok', guestId: reg.guestId, accrued: 1_000 });
    expect((await t.run('commit', check('PC-1', { idempotencyKey: 'pc-1' }))).outcome).toBe('exists');
    expect((await t.run('identify', { card: issued.code })).card).toBe('PC-1');
    expect((await t.run('balance', { card: issued.code })).balance).toBe(1_000);

    await new Promise((r) => setTimeout(r, Date.parse(issued.expiresAt) - Date.now() + 100));
    expect(await t.refusal('evaluate', check(issued.code))).toMatchObject({ code: 'card_not_found', field: 'card' });
    expect((await t.refusal('commit', check(issued.code, { idempotencyKey: 'pc-2' }))).code).toBe('card_not_found');
    // The card itself goes on working.
    expect((await t.run('commit', check('PC-1', { idempotencyKey: 'pc-2' }))).outcome).toBe('ok');
  });

  it('refuses an unknown code, and draws distinct codes', async () => {
    await t.run('register', { card: 'PC-2' });
    const codes = await Promise.all(Array.from({ length: 20 }, () => t.run('paymentCode', { card: 'PC-2' })));
    expect(new Set(codes.map((c) => c.code)).size).toBe(20);
    let unknown = 'P00000000';
    while (codes.some((c) => c.code === unknown)) unknown = `P${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
    expect(await t.refusal('identify', { card: unknown })).toMatchObject({ code: 'card_not_found', field: 'card' });
    expect((await t.refusal('paymentCode', { card: 'NOBODY' })).code).toBe('card_not_found');
  });

  it('deletes expired codes as new ones are issued', async () => {
    await t.run('register', { card: 'PC-3' });
    const old = await Promise.all(Array.from({ length: 5 }, () => t.run('paymentCode', { card: 'PC-3' })));
    await new Promise((r) => setTimeout(r, 1_700));
    const fresh = await t.run('paymentCode', { card: 'PC-3' });
    const codes = t.engine.store.paymentCodes;
    for (const o of old) expect(codes.get(o.code)).toBeUndefined();
    expect(codes.get(fresh.code)).toMatchObject({ card: 'PC-3' });
  });
});

describe('a data folder across restarts', () => {
  it('keeps cards, statuses, phones and profiles', async () => {
    const tmp = tempDir('kopilka-guests-restart-');
    try {
      let t = await openEngine({ dataDir: tmp.dir });
      const reg = await t.run('register', { card: 'RS-1', phone: '+79990006001', email: 'rs@example.com', tags: ['a'] });
      await t.run('addCard', { card: 'RS-1', newCard: 'ab12cd34', kind: 'rfid' });
      await t.run('blockCard', { card: 'RS-1', reason: 'lost' });
      const before = await t.run('identify', { phone: '+79990006001' });
      await t.close(true);

      t = await openEngine({ dataDir: tmp.dir });
      expect(await t.run('identify', { phone: '79990006001' })).toEqual(before);
      expect(before.cards.map((c: any) => [c.card, c.kind, c.status])).toEqual([['RS-1', 'plastic', 'blocked'], ['AB12CD34', 'rfid', 'active']]);
      expect(before).toMatchObject({ guestId: reg.guestId, email: 'rs@example.com', tags: ['a'] });
      expect((await t.refusal('balance', { card: 'RS-1' })).code).toBe('card_blocked');
      expect((await t.run('register', { card: 'RS-2', phone: '+79990006001' })).outcome).toBe('card_added');
      await t.close(true);
    } finally {
      tmp.remove();
    }
  });

  it('reads card records stored as a bare guest id, and indexes old guests\' phones', async () => {
    const tmp = tempDir('kopilka-guests-old-');
    try {
      // A folder as kopilka wrote it before cards had kinds: cards → guest id, no phone index.
      const store = openStore(tmp.dir);
      await store.root.transaction(() => {
        store.meta.putSync(META_SHARDS, 4);
        store.meta.putSync(metaGuestCounter(0), 1);
        store.guests.putSync('0-1', { id: '0-1', name: 'Old Guest', phone: '+79990007001', cards: ['OLD-1'], createdAt: '2025-01-01T00:00:00.000Z' });
        store.states.putSync('0-1', { seq: 0, lastTx: 0, holdSeq: 0, points: emptyAccount() });
        store.cards.putSync('OLD-1', '0-1');
      });
      await store.close();

      const t = await openEngine({ dataDir: tmp.dir });
      try {
        const id = await t.run('identify', { card: 'OLD-1' });
        expect(id).toMatchObject({ guestId: '0-1', name: 'Old Guest', phone: '+79990007001', cards: [{ card: 'OLD-1', kind: 'plastic', status: 'active', issuedAt: '' }] });
        expect((await t.run('identify', { phone: '+79990007001' })).guestId).toBe('0-1');
        expect((await t.run('commit', check('OLD-1', { idempotencyKey: 'old-1' }))).outcome).toBe('ok');
        // A register with the old guest's phone joins it, not a second guest.
        expect(await t.run('register', { card: 'OLD-2', phone: '+79990007001' })).toEqual({ outcome: 'card_added', guestId: '0-1', card: 'OLD-2' });
        expect((await t.run('blockCard', { card: 'OLD-1', reason: 'worn out' })).outcome).toBe('ok');
        expect((await t.refusal('evaluate', check('OLD-1'))).code).toBe('card_blocked');
        expect(t.engine.store.cards.get('OLD-1')).toEqual({ guestId: '0-1', kind: 'plastic', status: 'blocked', issuedAt: '', blockReason: 'worn out' });
      } finally {
        await t.close(true);
      }
    } finally {
      tmp.remove();
    }
  });
});

describe('the profile in promotions', () => {
  it('lets tag and birthday conditions see the guest\'s tags and birthday', async () => {
    const { validateRules } = await import('../../dist/engine/rules/validate.js');
    const checked = validateRules({
      promotions: [
        { id: 'vip-10', name: 'VIP −10%', status: 'active', condition: { kind: 'guest_tags', any: ['vip'] }, effects: [{ kind: 'discount', target: 'check', percentBp: 1000 }] },
        { id: 'bday-5', name: 'Birthday −5%', status: 'active', condition: { kind: 'birthday', daysBefore: 0, daysAfter: 0 }, effects: [{ kind: 'discount', target: 'check', percentBp: 500 }] },
      ],
    });
    if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
    const t = await openEngine();
    try {
      const s = testSnapshot(2);
      s.rules = checked.config;
      t.engine.applyConfig(s);
      await t.run('register', { card: 'PR-1' });
      const promotionsOf = async () => (await t.run('evaluate', check('PR-1'))).promotions.map((p: any) => p.promotion).sort();
      expect(await promotionsOf()).toEqual([]);
      await t.run('updateGuest', { card: 'PR-1', tags: ['vip'] });
      expect(await promotionsOf()).toEqual(['vip-10']);
      // CHECK_TIME is 24 November in Moscow.
      await t.run('updateGuest', { card: 'PR-1', birthday: '--11-24' });
      expect(await promotionsOf()).toEqual(['bday-5', 'vip-10']);
      await t.run('updateGuest', { card: 'PR-1', tags: [], birthday: '1990-11-25' });
      expect(await promotionsOf()).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
