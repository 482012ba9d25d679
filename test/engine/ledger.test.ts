// The ledger with exact numbers. Program: accrue 5% of the money paid, pay at most
// 50% with points, 1 point = 1.00. Money in kopecks, points in hundredths.

import { afterEach, describe, expect, it } from 'vitest';
import { line, openLedger } from '../helpers/ledger.js';
import { guestStates } from '../../dist/engine/store.js';

let opened: ReturnType<typeof openLedger> | undefined;
const open = (...args: Parameters<typeof openLedger>) => (opened = openLedger(...args)).ledger;
afterEach(async () => {
  const l = opened!.ledger;
  // After every test: the journal explains every balance and the ledger sums to zero.
  expect(l.differences()).toEqual([]);
  expect(l.system('liability') + l.system('redemption') + l.system('breakage') + sumOfGuests(l)).toBe(0);
  await opened!.close();
});

function sumOfGuests(l: ReturnType<typeof open>): number {
  let sum = 0;
  for (const { value } of guestStates(l.store)) sum += value.points.balance;
  return sum;
}

const DAY = 86_400_000;

describe('double-entry postings', () => {
  it('accrual moves points from the liability, spending to redemption', () => {
    const l = open();
    const g = l.register('C1');
    expect(l.commit(g, [line(200_000)])).toMatchObject({ outcome: 'ok', accrued: 10_000, balance: 10_000 });
    // 100.00 check, 50.00 paid with points: 5% of the 50.00 paid in money = 2.50.
    expect(l.commit(g, [line(10_000)], 5_000)).toMatchObject({ outcome: 'ok', spent: 5_000, accrued: 250, balance: 5_250 });
    expect(l.system('liability')).toBe(-10_250);
    expect(l.system('redemption')).toBe(5_000);
    const entries = [...l.store.transactions.getRange({})].map((e) => e.value.postings);
    expect(entries).toEqual([[['liability', `g:${g}`, 10_000]], [[`g:${g}`, 'redemption', 5_000], ['liability', `g:${g}`, 250]]]);
  });
});

describe('refunds', () => {
  it('a partial refund of a check that spent and accrued restores and reverses in proportion', () => {
    const l = open();
    const g = l.register('C1');
    l.commit(g, [line(200_000)]);
    const b = l.commit(g, [line(4_000, 1, 'a'), line(6_000, 1, 'b')], 5_000); // total 10,000
    expect(b).toMatchObject({ spent: 5_000, accrued: 250, balance: 5_250 });
    // Return line a (4,000 of 10,000 = 40%): give back 2,000 spent, take back 100 accrued.
    const r1 = l.refund(g, b.transactionId, { lines: [{ line: 0, quantity: 1 }] });
    expect(r1).toMatchObject({ outcome: 'ok', returned: 4_000, spentRestored: 2_000, accrualReversed: 100, writtenOff: 0, balance: 7_150, checkStatus: 'partially_returned' });
    // Return 3,000 by amount: cumulative 7,000 of 10,000 → 3,500 restored, 175 reversed in all.
    const r2 = l.refund(g, b.transactionId, { amount: 3_000 });
    expect(r2).toMatchObject({ returned: 3_000, spentRestored: 1_500, accrualReversed: 75, balance: 8_575 });
    // The rest: exactly what is left, whatever the rounding before.
    const r3 = l.refund(g, b.transactionId);
    expect(r3).toMatchObject({ returned: 3_000, spentRestored: 1_500, accrualReversed: 75, balance: 10_000, checkStatus: 'returned' });
    expect(l.refund(g, b.transactionId).outcome).toBe('already_returned');
    expect(l.balance(g).balance).toBe(10_000);
  });

  it('returns a line at what was paid for it after the POS discount, unit by unit', () => {
    const l = open();
    const g = l.register('C1');
    // 2 × 10,000 with 4,000 off by the POS itself: 16,000 paid, 800 accrued.
    const c = l.commit(g, [{ ...line(10_000, 2, 'a'), posDiscount: 4_000 }, line(1_001, 1, 'b')]);
    expect(c).toMatchObject({ outcome: 'ok', total: 17_001, accrued: 850 });
    const r1 = l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 1 }] });
    // Accrual back in cumulative floors: 850 × 8,000 / 17,001 = 399.98 → 399; then 799 in all; then the rest.
    expect(r1).toMatchObject({ outcome: 'ok', returned: 8_000, accrualReversed: 399 });
    const r2 = l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 1 }] });
    expect(r2).toMatchObject({ outcome: 'ok', returned: 8_000, accrualReversed: 400, checkStatus: 'partially_returned' });
    expect(l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 1 }] }).outcome).toBe('refund_exceeds_check');
    const r3 = l.refund(g, c.transactionId, { lines: [{ line: 1, quantity: 1 }] });
    expect(r3).toMatchObject({ outcome: 'ok', returned: 1_001, accrualReversed: 51, balance: 0, checkStatus: 'returned' });
    expect(l.differences()).toEqual([]);
  });

  it('never returns more than was committed, and refunds are idempotent', () => {
    const l = open();
    const g = l.register('C1');
    const c = l.commit(g, [line(1_000, 3)]);
    expect(l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 4 }] }).outcome).toBe('refund_exceeds_check');
    expect(l.refund(g, c.transactionId, { amount: 3_001 }).outcome).toBe('refund_exceeds_check');
    const first = l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 2 }], key: 'ret-1' });
    expect(first).toMatchObject({ outcome: 'ok', returned: 2_000, accrualReversed: 100 });
    expect(l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 2 }], key: 'ret-1' })).toEqual({ ...first, outcome: 'exists' });
    expect(l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 1 }], key: 'ret-1' }).outcome).toBe('exists_with_different_lines');
    expect(l.refund(g, c.transactionId, { lines: [{ line: 0, quantity: 2 }] }).outcome).toBe('refund_exceeds_check');
    expect(l.refund(g, `${g}.99`).outcome).toBe('transaction_not_found');
    expect(l.balance(g).balance).toBe(50);
  });

  it('takes back accrued points already spent as a debt (negative policy), paid first by later points', () => {
    const l = open({ refundDebtPolicy: 'negative' });
    const g = l.register('C1');
    const a = l.commit(g, [line(200_000)]); // +10,000
    l.commit(g, [line(20_000)], 10_000); // spends all 10,000, accrues 500
    const r = l.refund(g, a.transactionId);
    expect(r).toMatchObject({ outcome: 'ok', accrualReversed: 10_000, writtenOff: 0, balance: -9_500 });
    expect(l.balance(g)).toMatchObject({ balance: -9_500, available: 0 });
    l.commit(g, [line(20_000)]); // +1,000 pays the debt
    expect(l.balance(g)).toMatchObject({ balance: -8_500, available: 0 });
  });

  it('takes back only what there is and writes off the rest (clamp policy)', () => {
    const l = open({ refundDebtPolicy: 'clamp' });
    const g = l.register('C1');
    const a = l.commit(g, [line(200_000)]);
    l.commit(g, [line(20_000)], 10_000);
    const r = l.refund(g, a.transactionId);
    expect(r).toMatchObject({ outcome: 'ok', accrualReversed: 500, writtenOff: 9_500, balance: 0, checkStatus: 'returned' });
  });

  it('restores spent points with their original expiry', () => {
    const l = open({ expiryMonths: 1 });
    const g = l.register('C1');
    l.commit(g, [line(200_000)]); // lot expiring 2026-02-15 00:00 MSK
    const b = l.commit(g, [line(20_000)], 10_000); // spends that lot, accrues 500 expiring 2026-02-15 too
    l.now = Date.parse('2026-02-10T12:00:00+03:00');
    l.refund(g, b.transactionId, { amount: 10_000 }); // half: 5,000 back, 250 reversed
    const lots = l.store.states.get(g)!.points.lots;
    expect(lots.reduce((s, x) => s + x.remaining, 0)).toBe(5_250);
    for (const lot of lots) expect(lot.expiresAt).toBe(Date.parse('2026-02-15T00:00:00+03:00'));
  });
});

describe('lots', () => {
  it('burns what is left of a partly spent lot at its expiry, exactly once, at local midnight', () => {
    const l = open({ expiryMonths: 1 });
    const g = l.register('C1');
    l.commit(g, [line(20_000)]); // +1,000, expires 2026-02-15 00:00 Moscow = 2026-02-14T21:00Z
    l.now = Date.parse('2026-01-20T10:00:00+03:00');
    l.commit(g, [line(2_000)], 400); // spends 400 of it, accrues 80 (expires 2026-02-20)
    l.now = Date.parse('2026-02-14T20:59:59.999Z');
    expect(l.sweep()).toBe(0);
    expect(l.balance(g, 1)).toMatchObject({ balance: 680, available: 680, expiring: 600 });
    l.now = Date.parse('2026-02-14T21:00:00Z');
    expect(l.balance(g)).toMatchObject({ balance: 680, available: 80 }); // already worth nothing
    expect(l.sweep()).toBe(1);
    expect(l.sweep()).toBe(0);
    expect(l.balance(g)).toMatchObject({ balance: 80, available: 80 });
    expect(l.system('breakage')).toBe(600);
    const last = l.balance(g, 30, 1).transactions[0]!;
    expect(last).toMatchObject({ kind: 'expiry', accrued: -600, balanceAfter: 80 });
  });

  it('spends the earliest-expiring lot first', () => {
    const l = open({ expiryMonths: 2 });
    const g = l.register('C1');
    l.commit(g, [line(20_000)]); // 1,000 expiring 2026-03-15
    l.now += 10 * DAY;
    l.commit(g, [line(40_000)]); // 2,000 expiring 2026-03-25
    l.commit(g, [line(3_000)], 1_200);
    const lots = l.store.states.get(g)!.points.lots.map((x) => [new Date(x.expiresAt).toISOString(), x.remaining]);
    // What is left of the second lot, and the last check's own accrual (5% of 18.00)
    // earned the same day, expiring together: one lot.
    expect(lots).toEqual([['2026-03-24T21:00:00.000Z', 1_800 + 90]]);
  });

  it('keeps accrued points pending until their activation', () => {
    const l = open({ activationDelayDays: 14 });
    const g = l.register('C1');
    l.commit(g, [line(20_000)]);
    expect(l.balance(g)).toMatchObject({ balance: 1_000, pending: 1_000, available: 0 });
    expect(l.commit(g, [line(2_000)], 100).outcome).toBe('insufficient_points');
    l.now = Date.parse('2026-01-29T00:00:00+03:00');
    expect(l.balance(g)).toMatchObject({ pending: 0, available: 1_000 });
    expect(l.commit(g, [line(2_000)], 100)).toMatchObject({ outcome: 'ok', balance: 1_000 - 100 + 95 });
  });
});

describe('holds', () => {
  it('two terminals spending the same points: the holder succeeds, the other gets insufficient_points', () => {
    const l = open();
    const g = l.register('C1');
    l.commit(g, [line(200_000)]); // 10,000
    const h = l.hold(g, [line(20_000)], 10_000);
    expect(h).toMatchObject({ pointsToSpend: 10_000, available: 10_000 });
    expect(h.holdId).toBe(`${g}.h1`);
    expect(l.balance(g)).toMatchObject({ balance: 10_000, held: 10_000, available: 0 });
    expect(l.commit(g, [line(20_000)], 10_000).outcome).toBe('insufficient_points');
    const posted = l.commit(g, [line(20_000)], 6_000, { holdId: h.holdId });
    expect(posted).toMatchObject({ outcome: 'ok', spent: 6_000 }); // the other 4,000 are released
    expect(l.balance(g)).toMatchObject({ held: 0, available: 4_000 + 700 });
    // A hold resolves once.
    expect(l.commit(g, [line(20_000)], 1_000, { holdId: h.holdId }).outcome).toBe('hold_already_resolved');
    expect(l.cancel(g, h.holdId).outcome).toBe('hold_already_resolved');
    expect(l.store.holds.get(h.holdId)).toMatchObject({ status: 'posted', transactionId: posted.transactionId });
  });

  it('voids on cancel and times out by itself', () => {
    const l = open({ holdTimeoutSeconds: 60 });
    const g = l.register('C1');
    l.commit(g, [line(200_000)]);
    const a = l.hold(g, [line(20_000)], 3_000);
    expect(l.cancel(g, a.holdId)).toMatchObject({ outcome: 'ok', available: 10_000 });
    expect(l.cancel(g, a.holdId).outcome).toBe('hold_already_resolved');
    const b = l.hold(g, [line(20_000)], 3_000);
    expect(l.commit(g, [line(20_000)], 4_000, { holdId: b.holdId }).outcome).toBe('points_over_hold');
    l.now += 60_000;
    expect(l.balance(g)).toMatchObject({ held: 0, available: 10_000 });
    expect(l.commit(g, [line(20_000)], 3_000, { holdId: b.holdId }).outcome).toBe('hold_expired');
    expect(l.store.holds.get(b.holdId)?.status).toBe('expired');
    expect(l.cancel(g, `${g}.h99`).outcome).toBe('hold_not_found');
  });

  it('keeps hold records beside their guest state, and still reads holds placed in the former holds database', () => {
    const l = open();
    const g = l.register('C1');
    l.commit(g, [line(200_000)]);
    const a = l.hold(g, [line(20_000)], 1_000);
    const b = l.hold(g, [line(20_000)], 2_000);
    // The guest's key, then its holds: adjacent keys of one database.
    const keys = [...l.store.states.getKeys({ start: g, end: `${g}/` })];
    expect(keys).toEqual([g, a.holdId, b.holdId]);
    expect([...guestStates(l.store)].map((e) => e.key)).toEqual([g]);
    // A hold written by an earlier kopilka, in its own database.
    const legacy = l.store.root.openDB<any, string>({ name: 'holds', encoder: { useRecords: false, mapsAsObjects: true } });
    const record = l.store.states.get(b.holdId);
    l.store.root.transactionSync(() => {
      l.store.states.removeSync(b.holdId);
      legacy.putSync(b.holdId, record);
    });
    expect(l.store.holds.get(b.holdId)).toMatchObject({ status: 'open', amount: 2_000 });
    expect(l.commit(g, [line(20_000)], 2_000, { holdId: b.holdId })).toMatchObject({ outcome: 'ok', spent: 2_000 });
    expect(legacy.get(b.holdId)).toBeUndefined();
    expect(l.store.holds.get(b.holdId)).toMatchObject({ status: 'posted' });
    expect(l.cancel(g, b.holdId).outcome).toBe('hold_already_resolved');
    expect([...l.store.holds.all()].map((e) => e.key).sort()).toEqual([a.holdId, b.holdId].sort());
  });
});

describe('manual adjustments', () => {
  it('adds and takes points with a reason and an operator, idempotently, never below what is available', () => {
    const l = open({ expiryMonths: 6 });
    const g = l.register('C1');
    const adjust = (key: string, points: number, reason = 'goodwill') =>
      l.tx(() => l.actor.adjustInTransaction(g, { outlet: 'outlet-1', idempotencyKey: key, card: 'C1', points, reason, operator: 'anna' }));
    const add = adjust('a1', 2_500);
    expect(add).toMatchObject({ outcome: 'ok', balance: 2_500 });
    expect(adjust('a1', 2_500)).toEqual({ ...add, outcome: 'exists' });
    expect(adjust('a1', 2_000).outcome).toBe('exists_with_different_points');
    expect(adjust('a1', 2_500, 'other').outcome).toBe('exists_with_different_reason');
    expect(adjust('a2', -3_000, 'correction').outcome).toBe('insufficient_points');
    expect(adjust('a3', -1_000, 'correction')).toMatchObject({ outcome: 'ok', balance: 1_500 });
    const history = l.balance(g, 30, 5).transactions;
    expect(history.map((t) => [t.kind, t.accrued, t.balanceAfter])).toEqual([['adjustment', -1_000, 1_500], ['adjustment', 2_500, 2_500]]);
    const entry = l.store.transactions.get([0, l.store.states.get(g)!.lastTx])!;
    expect(entry).toMatchObject({ reason: 'correction', operator: 'anna', postings: [[`g:${g}`, 'liability', 1_000]] });
    expect(l.store.states.get(g)!.points.lots[0]!.expiresAt).toBe(Date.parse('2026-07-15T00:00:00+03:00'));
  });
});

describe('corrections in the history', () => {
  it('show an adjustment with its operator and reason, a refund and a cancel with the check they reverse, and nothing extra elsewhere', () => {
    const l = open({ expiryMonths: 1 });
    const g = l.register('C1');
    const adjust = l.tx(() => l.actor.adjustInTransaction(g, { outlet: 'outlet-1', idempotencyKey: 'a1', card: 'C1', points: 2_500, reason: 'complaint #17', operator: 'anna' }));
    const a = l.commit(g, [line(20_000)]);
    const r = l.refund(g, a.transactionId, { amount: 5_000 });
    const b = l.commit(g, [line(10_000)]);
    const cancel = l.tx(() => l.actor.refundInTransaction(g, { outlet: 'outlet-1', idempotencyKey: 'c1', transactionId: b.transactionId, cancel: true }));
    l.now = Date.parse('2026-02-16T10:00:00+03:00');
    l.sweep();
    const history = l.balance(g, 30, 10).transactions;
    expect(history).toEqual([
      { transactionId: `${g}.6`, kind: 'expiry', time: '2026-02-16T07:00:00.000Z', outlet: '', total: 0, spent: 0, accrued: -3_250, balanceAfter: 0 },
      { transactionId: cancel.refundId, kind: 'refund', time: '2026-01-15T07:00:00.000Z', outlet: 'outlet-1', total: 10_000, spent: 0, accrued: -500, balanceAfter: 3_250, original: b.transactionId },
      { transactionId: b.transactionId, kind: 'check', time: '2026-01-15T07:00:00.000Z', outlet: 'outlet-1', total: 10_000, spent: 0, accrued: 500, balanceAfter: 3_750 },
      { transactionId: r.refundId, kind: 'refund', time: '2026-01-15T07:00:00.000Z', outlet: 'outlet-1', total: 5_000, spent: 0, accrued: -250, balanceAfter: 3_250, original: a.transactionId },
      { transactionId: a.transactionId, kind: 'check', time: '2026-01-15T07:00:00.000Z', outlet: 'outlet-1', total: 20_000, spent: 0, accrued: 1_000, balanceAfter: 3_500 },
      { transactionId: adjust.transactionId, kind: 'adjustment', time: '2026-01-15T07:00:00.000Z', outlet: 'outlet-1', total: 0, spent: 0, accrued: 2_500, balanceAfter: 2_500, operator: 'anna', reason: 'complaint #17' },
    ]);
  });
});

describe('an aborted transaction', () => {
  it('leaves nothing behind, not even a gap in the journal', () => {
    const l = open();
    const g = l.register('C1');
    l.commit(g, [line(20_000)]);
    expect(() =>
      l.tx(() => {
        l.actor.commitInTransaction(g, { outlet: 'outlet-1', idempotencyKey: 'lost', time: new Date(l.now).toISOString(), currency: 'RUB', card: 'c', lines: [line(20_000)], pointsSpent: 0 });
        throw new Error('crash after the write');
      }),
    ).toThrow('crash after the write');
    expect(l.balance(g).balance).toBe(1_000);
    expect(l.store.idempotency.get(['outlet-1', 'lost'])).toBeUndefined();
    const next = l.commit(g, [line(20_000)]);
    expect(next).toMatchObject({ outcome: 'ok', balance: 2_000 });
    expect(next.transactionId).toBe(`${g}.2`);
  });
});

describe('refund shares on very large checks', () => {
  it('floors exactly where points × money pass 2^53', () => {
    const l = open();
    const g = l.register('C1');
    const c = l.commit(g, [line(6_379_742_260, 2)]);
    expect(c.accrued).toBe(637_974_226);
    const r = l.refund(g, c.transactionId, { amount: 3_756_118_100 });
    // floor(637,974,226 × 3,756,118,100 / 12,759,484,520), computed exactly.
    expect(r.accrualReversed).toBe(Number((637_974_226n * 3_756_118_100n) / 12_759_484_520n));
    expect(r.accrualReversed).toBe(187_805_905);
  });
});
