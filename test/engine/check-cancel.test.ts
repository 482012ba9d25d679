// Cancelling a committed check (a voided receipt): everything it did is undone —
// points spent come back, its accrual is taken back, deposit money returns — and it
// becomes `cancelled`; only while nothing of it was returned; exactly once per key.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcDoor } from '../../dist/adapters/grpc-door.js';
import { validateRules } from '../../dist/engine/rules/validate.js';
import { verifyStore } from '../../dist/engine/verify.js';
import { validateRefund } from '../../dist/protocol/validate.js';
import { CHECK_TIME, auditAfterClose, OUTLET, TERMINAL_KEY, startEngine, testSnapshot } from '../helpers/engine.js';
import { KopilkaTestClient } from '../helpers/grpc-client.js';

const lines = [{ itemCode: 'SOUP', category: 'soup', quantity: 2, unitPrice: 10_000 }];
const commit = (card: string, key: string, extra: Record<string, unknown> = {}) =>
  ({ outlet: OUTLET, idempotencyKey: key, card, time: CHECK_TIME, currency: 'RUB', lines, pointsSpent: 0, ...extra }) as any;
const cancel = (transactionId: string, key: string) => ({ outlet: OUTLET, idempotencyKey: key, transactionId, cancel: true }) as any;

describe('cancelling a check', () => {
  let t: Awaited<ReturnType<typeof startEngine>>;
  beforeAll(async () => {
    t = await startEngine({ shards: 2, threads: 1 });
    const s = testSnapshot(2);
    const rules = validateRules({ accounts: [{ id: 'wallet', unit: 'money' }] });
    if (!rules.ok) throw new Error(JSON.stringify(rules.errors));
    s.rules = rules.config;
    t.engine.applyConfig(s);
    for (const card of ['X-1', 'X-2', 'X-3']) await t.engine.execute('register', { outlet: OUTLET, card });
  });
  afterAll(async () => {
    try {
      await auditAfterClose(t, (store) => expect(verifyStore(store).differences).toEqual([]));
    } finally {
      await t.close().catch(() => undefined);
    }
  });

  it('undoes spend, accrual and deposit payment exactly, once', async () => {
    await t.engine.execute('adjust', { outlet: OUTLET, idempotencyKey: 'x1-gift', card: 'X-1', points: 5_000, reason: 'gift', operator: 'test' });
    await t.engine.execute('topUp', { outlet: OUTLET, idempotencyKey: 'x1-tu', card: 'X-1', account: 'wallet', amount: 3_000, operator: 'test' });
    const before = await t.engine.execute('balance', { outlet: OUTLET, card: 'X-1', limit: 0 });
    // 20,000: 5,000 by points, 3,000 from the deposit, 12,000 in money: 5% of 15,000 paid = 750.
    const c = await t.engine.execute('commit', commit('X-1', 'x1-c', { pointsSpent: 5_000, deposit: { account: 'wallet', amount: 3_000 } }));
    expect(c).toMatchObject({ outcome: 'ok', spent: 5_000, accrued: 750, depositPaid: 3_000, balance: 750 });
    const undo = await t.engine.execute('refund', cancel(c.transactionId, 'x1-cancel'));
    expect(undo).toMatchObject({ outcome: 'ok', returned: 20_000, spentRestored: 5_000, accrualReversed: 750, depositRestored: 3_000, checkStatus: 'cancelled', balance: 5_000 });
    const after = await t.engine.execute('balance', { outlet: OUTLET, card: 'X-1', limit: 0 });
    expect({ balance: after.balance, available: after.available, accounts: after.accounts }).toEqual({ balance: before.balance, available: before.available, accounts: before.accounts });
    // The same key again: the first answer; another body under it: refused; a second cancel or a refund: nothing left.
    expect(await t.engine.execute('refund', cancel(c.transactionId, 'x1-cancel'))).toEqual({ ...undo, outcome: 'exists' });
    expect((await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'x1-cancel', transactionId: c.transactionId } as any)).outcome).toBe('exists_with_different_cancel');
    expect((await t.engine.execute('refund', cancel(c.transactionId, 'x1-cancel-2'))).outcome).toBe('already_returned');
    expect((await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'x1-r', transactionId: c.transactionId, amount: 1 } as any)).outcome).toBe('already_returned');
  });

  it('refuses to cancel a check with a return, and leaves it as it was', async () => {
    const c = await t.engine.execute('commit', commit('X-2', 'x2-c'));
    const part = await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'x2-r', transactionId: c.transactionId, amount: 5_000 } as any);
    expect(part.checkStatus).toBe('partially_returned');
    const refused = await t.engine.execute('refund', cancel(c.transactionId, 'x2-cancel'));
    expect(refused).toMatchObject({ outcome: 'cancel_after_return', returned: 0, checkStatus: 'partially_returned', balance: part.balance });
    const rest = await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'x2-rest', transactionId: c.transactionId } as any);
    expect(rest).toMatchObject({ outcome: 'ok', returned: 15_000, checkStatus: 'returned' });
  });

  it('refuses a cancel with lines or an amount, or not a boolean, at the door', () => {
    expect(() => validateRefund({ ...cancel('0-1.1', 'k'), amount: 100 })).toThrow(expect.objectContaining({ field: 'cancel' }));
    expect(() => validateRefund({ ...cancel('0-1.1', 'k'), lines: [{ line: 0, quantity: 1 }] })).toThrow(expect.objectContaining({ field: 'cancel' }));
    expect(() => validateRefund({ ...cancel('0-1.1', 'k'), cancel: 'yes' })).toThrow(expect.objectContaining({ field: 'cancel' }));
    expect(validateRefund({ ...cancel('0-1.1', 'k'), cancel: false }).cancel).toBeUndefined();
  });

  it('cancels over gRPC', async () => {
    const door = await startGrpcDoor({ engine: t.engine });
    const client = new KopilkaTestClient(door.port);
    try {
      const c = await client.call('Commit', commit('X-3', 'x3-c'), TERMINAL_KEY);
      const undo = await client.call('Refund', cancel(c.transactionId, 'x3-cancel'), TERMINAL_KEY);
      expect(undo).toMatchObject({ outcome: 'ok', checkStatus: 'cancelled', accrualReversed: 1_000, balance: 0 });
      // The history says what the cancel reversed, and who adjusted and why; over gRPC "" stands for none.
      const adj = await client.call('Adjust', { outlet: OUTLET, idempotencyKey: 'x3-adj', card: 'X-3', points: 700, reason: 'goodwill', operator: 'boris' }, TERMINAL_KEY);
      const bal = await client.call('Balance', { outlet: OUTLET, card: 'X-3', limit: 3 }, TERMINAL_KEY);
      expect(bal.transactions).toEqual([
        { transactionId: adj.transactionId, kind: 'adjustment', time: expect.any(String), outlet: OUTLET, total: 0, spent: 0, accrued: 700, balanceAfter: 700, operator: 'boris', reason: 'goodwill', original: '', pointsAccount: '' },
        { transactionId: undo.refundId, kind: 'refund', time: expect.any(String), outlet: OUTLET, total: 20_000, spent: 0, accrued: -1_000, balanceAfter: 0, operator: '', reason: '', original: c.transactionId, pointsAccount: '' },
        { transactionId: c.transactionId, kind: 'check', time: CHECK_TIME, outlet: OUTLET, total: 20_000, spent: 0, accrued: 1_000, balanceAfter: 1_000, operator: '', reason: '', original: '', pointsAccount: '' },
      ]);
    } finally {
      client.close();
      await door.close(0);
    }
  });
});

describe('cancelling a check with a promotion', () => {
  it("gives the promotion's budget back: a budget the check exhausted discounts the next check again", async () => {
    const t = await startEngine({ shards: 2, threads: 1 });
    try {
      const s = testSnapshot(2);
      // −10% on the check from a money budget of 2,000: exactly one check of 20,000.
      const rules = validateRules({
        promotions: [{ id: 'check-10', name: '−10%', status: 'active', effects: [{ kind: 'discount', target: 'check', percentBp: 1000 }], limits: { budget: { unit: 'money', amount: 2_000 } } }],
      });
      if (!rules.ok) throw new Error(JSON.stringify(rules.errors));
      s.rules = rules.config;
      t.engine.applyConfig(s);
      for (const card of ['Y-1', 'Y-2']) await t.engine.execute('register', { outlet: OUTLET, card });
      const first = await t.engine.execute('commit', commit('Y-1', 'y1-c'));
      // The program does not accrue on lines a promotion discounted (the default).
      expect(first).toMatchObject({ outcome: 'ok', total: 20_000, discount: 2_000, accrued: 0 });
      expect(await t.engine.execute('commit', commit('Y-2', 'y2-c'))).toMatchObject({ outcome: 'ok', discount: 0, accrued: 1_000 });
      expect(await t.engine.execute('refund', cancel(first.transactionId, 'y1-cancel'))).toMatchObject({ outcome: 'ok', returned: 18_000, checkStatus: 'cancelled' });
      // Another guest, maybe in another shard, gets the discount the cancel gave back.
      expect(await t.engine.execute('commit', commit('Y-2', 'y2-c2'))).toMatchObject({ outcome: 'ok', discount: 2_000, accrued: 0 });
      expect(await t.engine.execute('commit', commit('Y-1', 'y1-c2'))).toMatchObject({ outcome: 'ok', discount: 0 });
      await auditAfterClose(t, (store) => {
        expect(store.budgets.get('check-10')).toEqual({ spent: 2_000 });
        expect(verifyStore(store).differences).toEqual([]);
      });
    } finally {
      await t.close().catch(() => undefined);
    }
  });
});
