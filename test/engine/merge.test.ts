// Merging two guests through a real engine on real LMDB files, with 4 shards on 2 threads
// so that the two guests live in different shards: points in lots keep their activation
// and expiry, deposits and counters add up, cards and phones follow, holds are voided,
// keys answer retries, debts move, a crash between the two phases is recovered, and a
// commit racing the merge loses nothing. verify.ts finds the ledgers clean after each.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PROGRAM } from '../../dist/engine/demo-config.js';
import { GuestActor } from '../../dist/engine/guest-actor.js';
import { validateRules } from '../../dist/engine/rules/validate.js';
import { guestShard, loadConfig, openStore, type Store } from '../../dist/engine/store.js';
import { verifyStore } from '../../dist/engine/verify.js';
import { validateRequest } from '../../dist/protocol/validate.js';
import { CHECK_TIME, auditAfterClose, OUTLET, startEngine, testSnapshot } from '../helpers/engine.js';

type Started = Awaited<ReturnType<typeof startEngine>>;
type Lot = { n: number; remaining: number; activatesAt: number; expiresAt: number };

/**
 * The program accrues 5% of the money paid, its lots living 12 months; tea gives 30 more
 * points per cup for 10 days, cake 20 more that activate in 2 days; every check counts a
 * visit (a counter) and a stamp (a count account); `wallet` is a deposit.
 */
function snapshot() {
  const s = testSnapshot(2, { ...DEMO_PROGRAM, expiryMonths: 12 });
  const rules = validateRules({
    settings: { baseAccrualOnPromotionalLines: true },
    accounts: [{ id: 'bonus', unit: 'points', pointValueMinor: 100 }, { id: 'wallet', unit: 'money' }, { id: 'stamps', unit: 'count' }],
    promotions: [
      { id: 'tea', name: '+30 points per tea, 10 days', status: 'active', effects: [{ kind: 'accrual', account: 'bonus', match: { categories: ['tea'] }, perUnit: 3000, expiryDays: 10 }] },
      { id: 'cake', name: '+20 points per cake, in 2 days', status: 'active', effects: [{ kind: 'accrual', account: 'bonus', match: { categories: ['cake'] }, perUnit: 2000, delayDays: 2 }] },
      { id: 'visits', name: 'Visits and stamps', status: 'active', effects: [{ kind: 'counter', counter: 'visits', by: 1 }, { kind: 'accrual', account: 'stamps', fixed: 1 }] },
    ],
  });
  if (!rules.ok) throw new Error(JSON.stringify(rules.errors));
  s.rules = rules.config;
  return s;
}

const tea = { itemCode: 'TEA', category: 'tea', quantity: 1, unitPrice: 20_000 };
const cake = { itemCode: 'CAKE', category: 'cake', quantity: 1, unitPrice: 10_000 };
const coffee = (quantity = 1) => ({ itemCode: 'LATTE', category: 'coffee', quantity, unitPrice: 10_000 });

/** Every request as a door sends it: validated first. */
function client(t: Started) {
  const run = (op: string, body: Record<string, unknown>): Promise<any> => {
    try {
      return t.engine.execute(op as any, validateRequest(op, { outlet: OUTLET, ...body }) as any);
    } catch (err) {
      return Promise.reject(err);
    }
  };
  const refusal = async (op: string, body: Record<string, unknown>): Promise<{ code: string; field?: string }> => {
    try {
      const r = await run(op, body);
      throw new Error(`expected ${op} to be refused, got ${JSON.stringify(r)}`);
    } catch (err: any) {
      if (err.code === undefined) throw err;
      return { code: err.code, field: err.field };
    }
  };
  const commit = (card: string, key: string, lines: unknown[], extra: Record<string, unknown> = {}) =>
    run('commit', { idempotencyKey: key, card, time: CHECK_TIME, currency: 'RUB', lines, ...extra });
  const merge = (key: string, card: string, from: string) => run('merge', { idempotencyKey: key, card, from });
  const balance = (card: string, limit = 10) => run('balance', { card, limit, expiringWithinDays: 30 });
  return { run, refusal, commit, merge, balance };
}

/** Cards registered up front, by the shard their guest landed in (a guest id starts with its shard). */
class Cards {
  private readonly byShard = new Map<number, string[]>();
  readonly guestOf = new Map<string, string>();

  async register(t: Started, prefix: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const card = `${prefix}-${i}`;
      const r = await t.engine.execute('register', { outlet: OUTLET, card });
      this.guestOf.set(card, r.guestId);
      const shard = guestShard(r.guestId);
      this.byShard.set(shard, [...(this.byShard.get(shard) ?? []), card]);
    }
  }

  /** A fresh card in another shard than `notShard` (or in `shard`). */
  take(opts: { notShard?: number; shard?: number } = {}): { card: string; guestId: string; shard: number } {
    for (const [shard, cards] of this.byShard) {
      if (opts.notShard === shard || (opts.shard !== undefined && opts.shard !== shard) || cards.length === 0) continue;
      const card = cards.shift()!;
      return { card, guestId: this.guestOf.get(card)!, shard };
    }
    throw new Error('no card left: register more');
  }

  /** Two fresh guests in different shards: the one who stays, the one merged away. */
  pair(): [{ card: string; guestId: string; shard: number }, { card: string; guestId: string; shard: number }] {
    const into = this.take();
    return [into, this.take({ notShard: into.shard })];
  }
}

/** Lots as a merge leaves them: each kept with its times, equal times in one lot. */
function mergedLots(a: Lot[], b: Lot[]): Array<[number, number, number]> {
  const by = new Map<string, [number, number, number]>();
  for (const l of [...a, ...b]) {
    const k = `${l.activatesAt}/${l.expiresAt}`;
    const v = by.get(k) ?? [l.activatesAt, l.expiresAt, 0];
    v[2] += l.remaining;
    by.set(k, v);
  }
  return [...by.values()].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}
const lotTimes = (lots: Lot[]): Array<[number, number, number]> => lots.map((l) => [l.activatesAt, l.expiresAt, l.remaining] as [number, number, number]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);

/** Transit accounts of every shard together: 0 once every transfer has landed. */
function transitSum(store: Store): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const { value } of store.system.getRange({})) for (const [k, v] of Object.entries(value.transit ?? {})) sum[k] = (sum[k] ?? 0) + v;
  return sum;
}

async function verifyClean(t: Started): Promise<void> {
  await auditAfterClose(t, (store) => expect(verifyStore(store).differences).toEqual([]));
}

describe('merge across shards', () => {
  let t: Started;
  let c: ReturnType<typeof client>;
  const cards = new Cards();
  beforeAll(async () => {
    t = await startEngine({ shards: 4, threads: 2 });
    t.engine.applyConfig(snapshot());
    c = client(t);
    await cards.register(t, 'M', 48);
  });
  afterAll(async () => {
    try {
      await verifyClean(t);
    } finally {
      await t.close().catch(() => undefined);
    }
  });

  it('moves points in lots with their expiry and activation, deposits, counters and cards, voids holds, and keeps both histories', async () => {
    const [a, b] = cards.pair();
    expect(a.shard).not.toBe(b.shard);
    // A: 5% of 20,000 = 1,000 in a 12-month lot; a visit and a stamp; 5,000 on the wallet.
    expect((await c.commit(a.card, 'a-1', [coffee(2)])).accrued).toBe(1_000);
    await c.run('topUp', { idempotencyKey: 'a-w', card: a.card, account: 'wallet', amount: 5_000, operator: 'cashier' });
    // B: 30 tea points for 10 days, 20 cake points pending 2 days, 5% of 40,000 = 2,000 for 12 months.
    const bCheck = await c.commit(b.card, 'b-1', [tea, cake, coffee()]);
    expect(bCheck).toMatchObject({ outcome: 'ok', accrued: 7_000, balance: 7_000 });
    await c.run('topUp', { idempotencyKey: 'b-w', card: b.card, account: 'wallet', amount: 7_000, operator: 'cashier' });
    const hold = await c.run('evaluate', { card: b.card, time: CHECK_TIME, currency: 'RUB', lines: [coffee(4)], pointsToSpend: 1_000, hold: true });
    expect(hold.holdId).toBe(`${b.guestId}.h1`);
    expect(await c.balance(b.card, 0)).toMatchObject({ balance: 7_000, available: 4_000, pending: 2_000, held: 1_000, expiring: 3_000 });
    const lotsA = t.engine.store.states.get(a.guestId)!.points.lots as Lot[];
    const lotsB = t.engine.store.states.get(b.guestId)!.points.lots as Lot[];
    expect(lotsB.map((l) => l.remaining).sort((x, y) => x - y)).toEqual([2_000, 2_000, 3_000]);

    const merged = await c.merge('mg-1', a.card, b.card);
    expect(merged).toEqual({ outcome: 'ok', mergeId: `${b.guestId}.m1`, guestId: a.guestId, balance: 8_000, cardsMoved: 1 });

    // The guest who stays: the sum, each lot with its own times, the hold gone with B.
    const bal = await c.balance(a.card, 10);
    expect(bal).toMatchObject({ guestId: a.guestId, balance: 8_000, available: 6_000, pending: 2_000, held: 0, expiring: 3_000 });
    expect(bal.accounts).toEqual([
      { account: 'stamps', unit: 'count', balance: 2 },
      { account: 'wallet', unit: 'money', balance: 12_000 },
      { account: 'visits', unit: 'count', balance: 2 },
    ]);
    expect(bal.transactions.map((x: any) => [x.kind, x.accrued, x.balanceAfter])).toEqual([
      ['merge_in', 7_000, 8_000],
      ['top_up', 0, 1_000],
      ['check', 1_000, 1_000],
    ]);
    const stateA = t.engine.store.states.get(a.guestId)!;
    expect(lotTimes(stateA.points.lots as Lot[])).toEqual(mergedLots(lotsA, lotsB));
    expect(stateA.points.lots.some((l: Lot) => l.activatesAt > Date.now())).toBe(true);

    // B's card now names A; A lists it after its own.
    const id = await c.run('identify', { card: b.card });
    expect(id.guestId).toBe(a.guestId);
    expect(id.cards.map((x: any) => x.card)).toEqual([a.card, b.card]);
    expect((await c.balance(b.card, 0)).guestId).toBe(a.guestId);

    // The guest merged away: empty, marked, its journal ending with merge_out.
    const stateB = t.engine.store.states.get(b.guestId)!;
    expect(stateB).toMatchObject({ mergedInto: a.guestId, points: { balance: 0, lots: [], holds: [] }, accounts: { wallet: 0 } });
    expect(stateB.counters).toBeUndefined();
    const out = t.engine.store.transactions.get([b.shard, stateB.lastTx])!;
    expect(out).toMatchObject({ kind: 'merge_out', guestId: b.guestId, accrued: -7_000, balanceAfter: 0, mergeId: `${b.guestId}.m1` });
    expect(t.engine.store.merges.get(`${b.guestId}.m1`)).toMatchObject({ status: 'done', from: b.guestId, into: a.guestId, points: 7_000, holdsVoided: [hold.holdId] });
    expect(transitSum(t.engine.store)).toEqual({ transit: 0, 'transit:wallet': 0 });

    // B's hold: voided; cancelling it again, or posting it through B's card (now A's), is refused.
    expect(t.engine.store.holds.get(hold.holdId)!.status).toBe('voided');
    expect(await c.run('cancel', { holdId: hold.holdId })).toMatchObject({ outcome: 'hold_already_resolved', guestId: b.guestId });
    const posted = await c.commit(b.card, 'b-hold', [coffee(4)], { pointsSpent: 1_000, holdId: hold.holdId });
    expect(posted).toMatchObject({ outcome: 'hold_not_found', guestId: a.guestId, transactionId: '' });
    // B's check cannot be refunded any more: its points live with A.
    const refund = await c.run('refund', { idempotencyKey: 'b-r1', transactionId: bCheck.transactionId });
    expect(refund).toMatchObject({ outcome: 'guest_merged', refundId: '', guestId: b.guestId, returned: 0, checkStatus: 'committed' });
    expect((await c.run('refund', { idempotencyKey: 'b-r1', transactionId: bCheck.transactionId })).outcome).toBe('guest_merged');

    // The key answers retries with the first answer; another body with the same key is refused.
    expect(await c.merge('mg-1', a.card, b.card)).toEqual({ ...merged, outcome: 'exists' });
    const [other] = cards.pair();
    expect(await c.merge('mg-1', a.card, other.card)).toEqual({ ...merged, outcome: 'exists_with_different_from' });
    expect(await c.merge('mg-1', other.card, b.card)).toEqual({ ...merged, outcome: 'exists_with_different_card' });
    expect((await c.run('identify', { card: other.card })).guestId).toBe(other.guestId);
    expect((await c.balance(a.card, 0)).balance).toBe(8_000);

    // B's card works for A now: spending there spends A's points (and 5% of 38,000 accrues).
    const spend = await c.commit(b.card, 'b-after', [coffee(4)], { pointsSpent: 2_000 });
    expect(spend).toMatchObject({ outcome: 'ok', guestId: a.guestId, spent: 2_000, accrued: 1_900, balance: 8_000 - 2_000 + 1_900 });
  });

  it('answers same_guest for two cards of one guest, and remembers it under the key', async () => {
    const g = cards.take();
    expect(await c.merge('same-1', g.card, g.card)).toEqual({ outcome: 'same_guest', mergeId: '', guestId: g.guestId, balance: 0, cardsMoved: 0 });
    await c.run('addCard', { card: g.card, newCard: `${g.card}-app`, kind: 'virtual' });
    expect((await c.merge('same-2', g.card, `${g.card}-app`)).outcome).toBe('same_guest');
    expect((await c.merge('same-2', g.card, `${g.card}-app`)).outcome).toBe('same_guest');
    expect((await c.merge('same-2', g.card, g.card)).outcome).toBe('exists_with_different_from');
    expect(t.engine.store.states.get(g.guestId)!.mergedInto).toBeUndefined();
  });

  it('moves a debt: the guest who stays pays it from its lots', async () => {
    const [e, d] = cards.pair();
    // D: accrues 1,000, spends it, then the first check is returned: a debt of 1,000 − 950 = −50.
    const first = await c.commit(d.card, 'd-1', [coffee(2)]);
    expect(first.accrued).toBe(1_000);
    expect(await c.commit(d.card, 'd-2', [coffee(2)], { pointsSpent: 1_000 })).toMatchObject({ outcome: 'ok', accrued: 950, balance: 950 });
    const back = await c.run('refund', { idempotencyKey: 'd-r', transactionId: first.transactionId });
    expect(back).toMatchObject({ outcome: 'ok', accrualReversed: 1_000, balance: -50 });
    // E: 30 tea points for 10 days and 5% of 30,000 = 1,500 for 12 months.
    await c.commit(e.card, 'e-1', [tea, coffee()]);
    expect((await c.balance(e.card, 0)).balance).toBe(4_500);

    expect(await c.merge('debt-1', e.card, d.card)).toMatchObject({ outcome: 'ok', guestId: e.guestId, balance: 4_450 });
    const bal = await c.balance(e.card, 1);
    expect(bal).toMatchObject({ balance: 4_450, available: 4_450, expiring: 2_950 });
    expect(bal.transactions[0]).toMatchObject({ kind: 'merge_in', accrued: -50, balanceAfter: 4_450 });
    // The debt took the earliest-expiring points first: the 10-day tea lot.
    expect(t.engine.store.states.get(e.guestId)!.points.lots.map((l: Lot) => l.remaining).sort((x: number, y: number) => x - y)).toEqual([1_500, 2_950]);
    expect(t.engine.store.transactions.get([d.shard, t.engine.store.states.get(d.guestId)!.lastTx])).toMatchObject({ kind: 'merge_out', accrued: 50 });
  });

  it('moves a debt larger than the points of the guest who stays: a debt it stays, paid first by later points', async () => {
    const [e, d] = cards.pair();
    // D: 5,000 accrued, spent; the second check accrues 5% of 95,000 = 4,750; returning the first: −250.
    const first = await c.commit(d.card, 'dd-1', [coffee(10)]);
    expect(await c.commit(d.card, 'dd-2', [coffee(10)], { pointsSpent: 5_000 })).toMatchObject({ accrued: 4_750, balance: 4_750 });
    expect((await c.run('refund', { idempotencyKey: 'dd-r', transactionId: first.transactionId })).balance).toBe(-250);
    // E: 5% of 2,000 = 100.
    expect((await c.commit(e.card, 'de-1', [{ ...coffee(), unitPrice: 2_000 }])).balance).toBe(100);
    expect(await c.merge('debt-2', e.card, d.card)).toMatchObject({ outcome: 'ok', guestId: e.guestId, balance: -150 });
    expect(t.engine.store.states.get(e.guestId)!.points.lots).toEqual([]);
    // The next 1,000 points pay the debt first: 850 are left, in one lot.
    expect(await c.commit(d.card, 'dd-3', [coffee(2)])).toMatchObject({ outcome: 'ok', guestId: e.guestId, accrued: 1_000, balance: 850 });
    expect(t.engine.store.states.get(e.guestId)!.points.lots.map((l: Lot) => l.remaining)).toEqual([850]);
  });

  it('merges guests of one shard in one transaction, and chains merges: everything ends with the last guest', async () => {
    const x = cards.take();
    const y = cards.take({ shard: x.shard });
    const z = cards.take({ notShard: x.shard });
    await c.commit(x.card, 'x-1', [coffee(2)]);
    await c.commit(y.card, 'y-1', [coffee(4)]);
    await c.commit(z.card, 'z-1', [coffee(6)]);
    await c.run('updateGuest', { card: x.card, name: 'Xenia', email: 'xenia@example.com', phone: '+79990000101' });
    await c.run('updateGuest', { card: y.card, name: 'Yana' });
    expect(await c.merge('chain-1', y.card, x.card)).toMatchObject({ outcome: 'ok', guestId: y.guestId, balance: 3_000, cardsMoved: 1 });
    // Profile gaps of Y filled from X; its own name kept; X's phone now finds Y.
    expect(await c.run('identify', { phone: '79990000101' })).toMatchObject({ guestId: y.guestId, name: 'Yana', email: 'xenia@example.com', phone: '+79990000101' });
    expect(await c.merge('chain-2', z.card, y.card)).toMatchObject({ outcome: 'ok', guestId: z.guestId, balance: 6_000, cardsMoved: 2 });
    const id = await c.run('identify', { card: x.card });
    expect(id).toMatchObject({ guestId: z.guestId, balance: 6_000, name: 'Yana', email: 'xenia@example.com', phone: '+79990000101' });
    expect(id.cards.map((k: any) => k.card)).toEqual([z.card, y.card, x.card]);
    expect(t.engine.store.states.get(y.guestId)!.mergedInto).toBe(z.guestId);
    expect(t.engine.store.states.get(x.guestId)!.mergedInto).toBe(y.guestId);
  });

  it('frees the phone of the guest merged away when the guest who stays has one', async () => {
    const [a, b] = cards.pair();
    await c.run('updateGuest', { card: a.card, phone: '+79990000201' });
    await c.run('updateGuest', { card: b.card, phone: '+79990000202', address: 'Nevsky 1' });
    await c.merge('phones-1', a.card, b.card);
    expect(await c.run('identify', { card: a.card })).toMatchObject({ phone: '+79990000201', address: 'Nevsky 1' });
    expect(await c.refusal('identify', { phone: '+79990000202' })).toEqual({ code: 'card_not_found', field: 'phone' });
    // The phone is free: a new guest may register with it.
    const reg = await c.run('register', { card: 'PH-NEW', phone: '+79990000202' });
    expect(reg.outcome).toBe('ok');
  });

  it('moves blocked cards with their status and refuses blocked, unknown and malformed cards, changing nothing', async () => {
    const [a, b] = cards.pair();
    await c.run('addCard', { card: b.card, newCard: `${b.card}-old`, kind: 'plastic' });
    await c.run('blockCard', { card: `${b.card}-old`, reason: 'lost' });
    expect(await c.refusal('merge', { idempotencyKey: 'bad-1', card: a.card, from: `${b.card}-old` })).toEqual({ code: 'card_blocked', field: 'from' });
    expect(await c.refusal('merge', { idempotencyKey: 'bad-1', card: `${b.card}-old`, from: a.card })).toEqual({ code: 'card_blocked', field: 'card' });
    expect(await c.refusal('merge', { idempotencyKey: 'bad-1', card: a.card, from: 'NO-SUCH' })).toEqual({ code: 'card_not_found', field: 'from' });
    expect(await c.refusal('merge', { idempotencyKey: 'bad-1', card: 'NO-SUCH', from: a.card })).toEqual({ code: 'card_not_found', field: 'card' });
    expect(await c.refusal('merge', { idempotencyKey: 'bad-1', card: a.card })).toEqual({ code: 'invalid_field', field: 'from' });
    expect(await c.refusal('merge', { idempotencyKey: 'bad-1', card: a.card, from: 5 })).toEqual({ code: 'invalid_field', field: 'from' });
    expect(await c.refusal('merge', { idempotencyKey: 'bad-1', card: a.card, from: b.card, extra: 1 })).toEqual({ code: 'invalid_field', field: 'extra' });
    expect(await c.refusal('merge', { idempotencyKey: '', card: a.card, from: b.card })).toEqual({ code: 'invalid_field', field: 'idempotencyKey' });
    // Errors are not remembered: the key is still free.
    expect(await c.merge('bad-1', a.card, b.card)).toMatchObject({ outcome: 'ok', cardsMoved: 2 });
    expect((await c.run('identify', { card: a.card })).cards).toEqual([
      expect.objectContaining({ card: a.card, status: 'active' }),
      expect.objectContaining({ card: b.card, status: 'active' }),
      expect.objectContaining({ card: `${b.card}-old`, status: 'blocked' }),
    ]);
    expect(await c.refusal('balance', { card: `${b.card}-old` })).toEqual({ code: 'card_blocked', field: 'card' });
  });

  it('refuses a merge that would leave one guest with more than 64 cards', async () => {
    const [a, b] = cards.pair();
    for (let i = 0; i < 60; i++) await c.run('addCard', { card: a.card, newCard: `${a.card}-x${i}`, kind: 'virtual' });
    for (let i = 0; i < 4; i++) await c.run('addCard', { card: b.card, newCard: `${b.card}-x${i}`, kind: 'virtual' });
    // 61 + 5 = 66 cards.
    expect(await c.refusal('merge', { idempotencyKey: 'cards-1', card: a.card, from: b.card })).toEqual({ code: 'invalid_field', field: 'from' });
    expect((await c.run('identify', { card: b.card })).guestId).toBe(b.guestId);
    expect(t.engine.store.states.get(b.guestId)!.mergedInto).toBeUndefined();
  });

  it('loses nothing when a commit races the merge: it lands on the guest merged away and moves, or lands on the guest who stays', async () => {
    // The merge first in the shard's batch: the commit finds its guest merged and is sent again for A.
    const [a, b] = cards.pair();
    await c.commit(a.card, 'ra-1', [coffee(2)]);
    await c.commit(b.card, 'rb-1', [coffee(4)]);
    const [m, late] = await Promise.all([c.merge('race-1', a.card, b.card), c.commit(b.card, 'rb-2', [coffee(2)], { pointsSpent: 1_000 })]);
    expect(m.outcome).toBe('ok');
    expect(late).toMatchObject({ outcome: 'ok', guestId: a.guestId, spent: 1_000, accrued: 950 });
    expect((await c.balance(a.card, 0)).balance).toBe(1_000 + 2_000 - 1_000 + 950);

    // The commit first: it lands on B and moves with the merge.
    const [a2, b2] = cards.pair();
    await c.commit(a2.card, 'ra2-1', [coffee(2)]);
    await c.commit(b2.card, 'rb2-1', [coffee(4)]);
    const [early, m2] = await Promise.all([c.commit(b2.card, 'rb2-2', [coffee(2)], { pointsSpent: 1_000 }), c.merge('race-2', a2.card, b2.card)]);
    expect(early).toMatchObject({ outcome: 'ok', guestId: b2.guestId, spent: 1_000, accrued: 950, balance: 1_950 });
    expect(m2.balance).toBe(1_000 + 1_950);

    // Many commits on B around a merge: the points of every acknowledged commit are with A.
    const [a3, b3] = cards.pair();
    await c.commit(a3.card, 'ra3-1', [coffee(2)]);
    await c.commit(b3.card, 'rb3-1', [coffee(4)]);
    const commits = Array.from({ length: 20 }, (_, i) => c.commit(b3.card, `rb3-${i + 2}`, [coffee(1)], { pointsSpent: i % 2 === 0 ? 100 : 0 }));
    const results = await Promise.all([...commits.slice(0, 10), c.merge('race-3', a3.card, b3.card), ...commits.slice(10)]);
    const done = results.filter((r: any) => r.outcome === 'ok' && r.transactionId !== undefined) as any[];
    expect(done).toHaveLength(20);
    const moved = done.reduce((sum, r) => sum + r.accrued - r.spent, 0);
    expect((await c.balance(a3.card, 0)).balance).toBe(1_000 + 2_000 + moved);
    expect((await c.balance(b3.card, 0)).guestId).toBe(a3.guestId);
  });
});

describe('merge interrupted between its two phases', () => {
  it('lands the transfer when the engine opens again, and a retry of the key answers it', async () => {
    let t = await startEngine({ shards: 4, threads: 2 });
    t.engine.applyConfig(snapshot());
    const dataDir = t.dataDir;
    const cards = new Cards();
    await cards.register(t, 'R', 16);
    let c = client(t);
    const [a, b] = cards.pair();
    await c.commit(a.card, 'ca-1', [coffee(2)]);
    await c.commit(b.card, 'cb-1', [tea, cake, coffee()]);
    await c.run('topUp', { idempotencyKey: 'cb-w', card: b.card, account: 'wallet', amount: 3_000, operator: 'cashier' });
    const hold = await c.run('evaluate', { card: b.card, time: CHECK_TIME, currency: 'RUB', lines: [coffee(4)], pointsToSpend: 500, hold: true });
    await t.engine.drain(5000);
    await t.engine.close();

    // Phase 1 alone, as B's shard runs it; then the process "dies" before phase 2.
    const store = openStore(dataDir);
    const body = { outlet: OUTLET, idempotencyKey: 'crash-1', card: a.card, from: b.card };
    try {
      const actor = new GuestActor(store, b.shard, loadConfig(store)!);
      const out = store.root.transactionSync(() => actor.inBatch(() => actor.mergeInTransaction(b.guestId, body)));
      expect(out).toMatchObject({ outcome: 'ok', mergeId: `${b.guestId}.m1`, guestId: a.guestId, cardsMoved: 1 });
      expect(store.merges.get(`${b.guestId}.m1`)).toMatchObject({ status: 'out', points: 7_000, deposits: { wallet: 3_000 }, holdsVoided: [hold.holdId] });
      // The points are in transit, and the audit knows it: the ledgers are clean.
      expect(transitSum(store)).toEqual({ transit: 7_000, 'transit:wallet': 3_000 });
      expect(verifyStore(store).differences).toEqual([]);
      // And it can tell: a transfer marked done without landing is reported.
      const record = store.merges.get(`${b.guestId}.m1`)!;
      store.root.transactionSync(() => store.merges.putSync(record.mergeId, { ...record, status: 'done' }));
      expect(verifyStore(store).differences.map((d: any) => d.what)).toEqual(
        expect.arrayContaining(['exactly the transfers still out are pending', 'transit accounts hold what pending transfers hold']),
      );
      store.root.transactionSync(() => store.merges.putSync(record.mergeId, record));
    } finally {
      await store.close();
    }

    // Opening again: A's shard lands the transfer before it serves.
    t = await startEngine({ dataDir, shards: 4, threads: 2 });
    c = client(t);
    try {
      for (let i = 0; i < 100 && t.engine.store.merges.get(`${b.guestId}.m1`)?.status !== 'done'; i++) await new Promise((r) => setTimeout(r, 20));
      expect(t.engine.store.merges.get(`${b.guestId}.m1`)).toMatchObject({ status: 'done', balance: 8_000 });
      expect(await c.balance(a.card, 1)).toMatchObject({
        guestId: a.guestId, balance: 8_000, pending: 2_000, expiring: 3_000,
        transactions: [expect.objectContaining({ kind: 'merge_in', accrued: 7_000 })],
      });
      expect((await c.balance(a.card, 0)).accounts).toContainEqual({ account: 'wallet', unit: 'money', balance: 3_000 });
      expect(await c.merge('crash-1', a.card, b.card)).toEqual({ outcome: 'exists', mergeId: `${b.guestId}.m1`, guestId: a.guestId, balance: 8_000, cardsMoved: 1 });
      expect(transitSum(t.engine.store)).toEqual({ transit: 0, 'transit:wallet': 0 });
    } finally {
      await verifyClean(t);
      await t.close().catch(() => undefined);
    }
  });

  it('lands a transfer once however often it is asked, and lands what a guest received before it is merged away itself', async () => {
    const t = await startEngine({ shards: 4, threads: 2 });
    t.engine.applyConfig(snapshot());
    const cards = new Cards();
    await cards.register(t, 'Q', 24);
    const [b, a] = cards.pair();
    const z = cards.take({ notShard: b.shard });
    const w = cards.take({ notShard: b.shard });
    const c = client(t);
    await c.commit(a.card, 'qa-1', [coffee(4)]);
    await c.commit(b.card, 'qb-1', [coffee(2)]);
    await c.commit(z.card, 'qz-1', [coffee(6)]);
    await c.commit(w.card, 'qw-1', [coffee(8)]);
    await t.engine.drain(5000);
    await t.engine.close();
    const store = openStore(t.dataDir);
    try {
      const config = loadConfig(store)!;
      const actorOf = (shard: number) => new GuestActor(store, shard, config);
      const tx = <T>(fn: () => T): T => store.root.transactionSync(fn);
      const body = { outlet: OUTLET, idempotencyKey: 'q-1', card: b.card, from: a.card };
      const out = tx(() => actorOf(a.shard).mergeInTransaction(a.guestId, body));
      expect(out).toMatchObject({ outcome: 'ok', mergeId: `${a.guestId}.m1`, guestId: b.guestId, balance: 0 });
      // A retry reaches A's shard first: still out there, answered without a balance (the engine asks B's shard next).
      expect(tx(() => actorOf(a.shard).mergeInTransaction(a.guestId, body))).toMatchObject({ outcome: 'exists', balance: 0 });
      const mergeIn = { mergeId: `${a.guestId}.m1`, outcome: 'exists' as const };
      const first = tx(() => actorOf(b.shard).completeMergeInTransaction(mergeIn));
      expect(first).toEqual({ outcome: 'exists', mergeId: `${a.guestId}.m1`, guestId: b.guestId, balance: 3_000, cardsMoved: 1 });
      expect(tx(() => actorOf(b.shard).completeMergeInTransaction(mergeIn))).toEqual(first);
      expect(tx(() => actorOf(b.shard).completePendingMergesInTransaction())).toBe(0);
      const entries = [...store.transactions.getRange({})].map(({ value }) => value).filter((e) => e.kind === 'merge_in');
      expect(entries).toHaveLength(1);
      expect(verifyStore(store).differences).toEqual([]);

      // W into B, phase 1 only; then B into Z: B's shard lands W's transfer first, and it all moves on.
      tx(() => actorOf(w.shard).mergeInTransaction(w.guestId, { outlet: OUTLET, idempotencyKey: 'q-2', card: b.card, from: w.card }));
      expect(store.merges.get(`${w.guestId}.m1`)!.status).toBe('out');
      const onward = tx(() => actorOf(b.shard).mergeInTransaction(b.guestId, { outlet: OUTLET, idempotencyKey: 'q-3', card: z.card, from: b.card }));
      expect(store.merges.get(`${w.guestId}.m1`)!.status).toBe('done');
      expect(onward).toMatchObject({ outcome: 'ok', guestId: z.guestId, cardsMoved: 3 });
      expect(verifyStore(store).differences).toEqual([]);
      const landed = tx(() => actorOf(z.shard).completeMergeInTransaction({ mergeId: onward.mergeId, outcome: 'ok' }));
      expect(landed.balance).toBe(3_000 + 3_000 + 4_000);
      expect(store.states.get(b.guestId)).toMatchObject({ mergedInto: z.guestId, points: { balance: 0 } });
      expect(verifyStore(store).differences).toEqual([]);
    } finally {
      await store.close();
      await t.close().catch(() => undefined);
    }
  });
});
