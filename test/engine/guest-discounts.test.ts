// A guest's discount levels through a real engine (4 shards on 2 threads, real LMDB):
// register takes them with updateGuest's checks and refusals (nothing written on a
// refusal), identify and updateGuest answer the levels set for the guest and no
// defaults, and a merge keeps the levels of the guest who stays, taking the other
// guest's only for accounts it has none in. Requests go through the doors' validators.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateRules } from '../../dist/engine/rules/validate.js';
import { verifyStore } from '../../dist/engine/verify.js';
import { CHECK_TIME, OUTLET, auditAfterClose, startEngine, testSnapshot, type Body, doorCalls } from '../helpers/engine.js';


/** Two discount accounts (`card` with no default, `gold` 3% by default), a points, a money and a count account. */
function rules() {
  const checked = validateRules({
    accounts: [
      { id: 'bonus', unit: 'points', pointValueMinor: 100 },
      { id: 'card', unit: 'percent' },
      { id: 'gold', unit: 'percent', defaultBp: 300 },
      { id: 'wallet', unit: 'money' },
      { id: 'stamps', unit: 'count' },
    ],
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return checked.config;
}

/** One line of 1,000.00. */
const check = (card: string): Body => ({ card, time: CHECK_TIME, currency: 'RUB', lines: [{ itemCode: 'X', quantity: 1, unitPrice: 100_000 }] });

describe("a guest's discount levels", () => {
  let t: Awaited<ReturnType<typeof startEngine>>;
  const { run, refusal } = doorCalls(() => t.engine);

  beforeAll(async () => {
    t = await startEngine({ shards: 4, threads: 2 });
    const s = testSnapshot(2);
    s.rules = rules();
    expect(t.engine.applyConfig(s)).toBe(true);
  });
  afterAll(async () => {
    try {
      await auditAfterClose(t, (store) => expect(verifyStore(store).differences).toEqual([]));
    } finally {
      await t.close().catch(() => undefined);
    }
  });

  it('register sets the levels given; identify answers them, and no default', async () => {
    const reg = await run('register', { card: 'L-1', name: 'Lena', discounts: { card: 750 } });
    expect(reg).toEqual({ outcome: 'ok', guestId: expect.any(String), card: 'L-1' });
    const id = await run('identify', { card: 'L-1' });
    // `gold` gives 3% by default, but the guest has no level set in it: not shown.
    expect(id.discounts).toEqual({ card: 750 });
    // 7.5% and gold's default 3% both apply, one after the other: 7,500 of 100,000, then 3% of 92,500.
    expect((await run('evaluate', check('L-1'))).discount).toBe(7_500 + 2_775);
    // A guest registered without levels answers {}.
    await run('register', { card: 'L-2' });
    expect((await run('identify', { card: 'L-2' })).discounts).toEqual({});
    // An empty object sets nothing.
    await run('register', { card: 'L-3', discounts: {} });
    expect((await run('identify', { card: 'L-3' })).discounts).toEqual({});
  });

  it('updateGuest answers the levels after the change, a 0 included, and identify agrees', async () => {
    expect((await run('updateGuest', { card: 'L-1', discounts: { gold: 0 } })).discounts).toEqual({ card: 750, gold: 0 });
    // Fields other than levels leave them as they are.
    const up = await run('updateGuest', { card: 'L-1', name: 'Elena' });
    expect(up).toMatchObject({ outcome: 'ok', name: 'Elena', discounts: { card: 750, gold: 0 } });
    expect((await run('identify', { card: 'L-1' })).discounts).toEqual({ card: 750, gold: 0 });
    // gold's level of 0 takes its default away: 7.5% alone.
    expect((await run('evaluate', check('L-1'))).discount).toBe(7_500);
  });

  it('refuses bad levels at register field by field, and writes nothing: the card stays free', async () => {
    const cases: Array<[Body, string]> = [
      [{ card: 10_001 }, 'discounts.card'],
      [{ card: -1 }, 'discounts.card'],
      [{ card: 7.5 }, 'discounts.card'],
      [{ card: '750' }, 'discounts.card'],
      [{ '-bad': 100 }, 'discounts.-bad'],
      [Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`a${i}`, 100])), 'discounts'],
    ];
    for (const [discounts, field] of cases) {
      expect(await refusal('register', { card: 'L-BAD', discounts }), field).toMatchObject({ code: 'invalid_field', field });
    }
    expect(await refusal('register', { card: 'L-BAD', discounts: [750] })).toMatchObject({ code: 'invalid_field', field: 'discounts' });
    // Accounts of the rules that are not discount accounts, and accounts that do not exist: refused in the shard.
    for (const id of ['bonus', 'wallet', 'stamps', 'nope']) {
      const r = await refusal('register', { card: 'L-BAD', name: 'Nobody', discounts: { card: 100, [id]: 500 } });
      expect(r).toMatchObject({ code: 'invalid_field', field: `discounts.${id}` });
      expect(r.message).toBe(`discounts.${id} must name a discount account (unit "percent") of the rules; known: card, gold`);
    }
    // Nothing was written: the card is unknown, and a register of it now makes a new guest.
    expect(await refusal('identify', { card: 'L-BAD' })).toMatchObject({ code: 'card_not_found' });
    const reg = await run('register', { card: 'L-BAD', discounts: { card: 16 } });
    expect(reg.outcome).toBe('ok');
    expect((await run('identify', { card: 'L-BAD' })).discounts).toEqual({ card: 16 });
  });

  it('checks the levels of a register that binds the card to the phone\'s guest, and applies none', async () => {
    const first = await run('register', { card: 'L-P1', phone: '+79997770001', discounts: { card: 200 } });
    // A bad level refuses the whole request: the card is not bound.
    expect(await refusal('register', { card: 'L-P2', phone: '+79997770001', discounts: { bonus: 100 } })).toMatchObject({ field: 'discounts.bonus' });
    expect(await refusal('identify', { card: 'L-P2' })).toMatchObject({ code: 'card_not_found' });
    // A good one: the card goes to the phone's guest, whose levels stay as they were.
    const added = await run('register', { card: 'L-P2', phone: '+79997770001', discounts: { card: 900, gold: 900 } });
    expect(added).toEqual({ outcome: 'card_added', guestId: first.guestId, card: 'L-P2' });
    expect((await run('identify', { card: 'L-P2' })).discounts).toEqual({ card: 200 });
  });

  it('a merge keeps the levels of the guest who stays and takes the others only where it has none', async () => {
    await run('register', { card: 'M-INTO', discounts: { card: 0, gold: 500 } });
    await run('register', { card: 'M-FROM', discounts: { card: 1_000 } });
    await run('register', { card: 'M-FROM2', discounts: { gold: 100 } });
    await run('updateGuest', { card: 'M-FROM2', discounts: { card: 800 } });
    // into has card (0) and gold: it keeps both, 0 included.
    expect((await run('merge', { idempotencyKey: 'm-d1', card: 'M-INTO', from: 'M-FROM' })).outcome).toBe('ok');
    expect((await run('identify', { card: 'M-INTO' })).discounts).toEqual({ card: 0, gold: 500 });
    // A guest with no levels takes every level of the guest merged into it.
    await run('register', { card: 'M-EMPTY' });
    expect((await run('merge', { idempotencyKey: 'm-d2', card: 'M-EMPTY', from: 'M-FROM2' })).outcome).toBe('ok');
    expect((await run('identify', { card: 'M-EMPTY' })).discounts).toEqual({ card: 800, gold: 100 });
    // Partly: one account of its own, the other taken.
    await run('register', { card: 'M-HALF', discounts: { gold: 50 } });
    await run('register', { card: 'M-OTHER', discounts: { card: 250, gold: 9_000 } });
    expect((await run('merge', { idempotencyKey: 'm-d3', card: 'M-HALF', from: 'M-OTHER' })).outcome).toBe('ok');
    const half = await run('identify', { card: 'M-HALF' });
    expect(half.discounts).toEqual({ card: 250, gold: 50 });
    // The levels decide the check: 2.5% of 100,000, then 0.5% of 97,500 (floored).
    expect((await run('evaluate', check('M-HALF'))).discount).toBe(2_500 + 487);
  });
});
