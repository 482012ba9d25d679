// Deposits (prepaid money): top-up, payment of part of a check, refunds that give the
// money back to the deposit, a floor of 0 under concurrent payments, and a ledger
// per deposit that verify finds balanced. Through the engine, HTTP and gRPC.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcDoor } from '../../dist/adapters/grpc-door.js';
import { startUwsDoor } from '../../dist/adapters/uws-door.js';
import { validateRules } from '../../dist/engine/rules/validate.js';
import { verifyStore } from '../../dist/engine/verify.js';
import { validateCommit, validateTopUp } from '../../dist/protocol/validate.js';
import { CHECK_TIME, auditAfterClose, OUTLET, TERMINAL_KEY, startEngine, testSnapshot } from '../helpers/engine.js';
import { KopilkaTestClient } from '../helpers/grpc-client.js';

const soup = (unitPrice = 20_000) => [{ itemCode: 'SOUP', category: 'soup', quantity: 1, unitPrice }];
const commit = (card: string, key: string, extra: Record<string, unknown> = {}) =>
  ({ outlet: OUTLET, idempotencyKey: key, card, time: CHECK_TIME, currency: 'RUB', lines: soup(), pointsSpent: 0, ...extra }) as any;
const topUp = (card: string, key: string, amount: number, account = 'wallet') => ({ outlet: OUTLET, idempotencyKey: key, card, account, amount, operator: 'cashier-1' });

describe('deposits', () => {
  let t: Awaited<ReturnType<typeof startEngine>>;
  beforeAll(async () => {
    t = await startEngine({ shards: 4, threads: 2 });
    const s = testSnapshot(2);
    const rules = validateRules({ accounts: [{ id: 'wallet', unit: 'money' }, { id: 'visits', unit: 'count' }] });
    if (!rules.ok) throw new Error(JSON.stringify(rules.errors));
    s.rules = rules.config;
    t.engine.applyConfig(s);
    for (const card of ['D-1', 'D-2', 'D-3']) await t.engine.execute('register', { outlet: OUTLET, card });
  });
  afterAll(async () => {
    try {
      await auditAfterClose(t, async (store) => {
        // Every deposit ledger sums to zero and every deposit equals its postings.
        expect(verifyStore(store).differences).toEqual([]);
        // And it can tell: a deposit changed behind the ledger's back is reported.
        const guestId = store.cards.get('D-1') as unknown as string;
        const id = typeof guestId === 'string' ? guestId : (guestId as any).guestId;
        const state = store.states.get(id)!;
        await store.states.put(id, { ...state, accounts: { ...state.accounts, wallet: 1 } });
        expect(verifyStore(store).differences.map((d: any) => d.what)).toContain('deposit equals its postings');
      });
    } finally {
      await t.close().catch(() => undefined);
    }
  });

  it('tops up exactly once per key and refuses the same key with another body', async () => {
    const first = await t.engine.execute('topUp', topUp('D-1', 'tu-1', 10_000));
    expect(first).toMatchObject({ outcome: 'ok', account: 'wallet', balance: 10_000 });
    expect(await t.engine.execute('topUp', topUp('D-1', 'tu-1', 10_000))).toEqual({ ...first, outcome: 'exists' });
    expect((await t.engine.execute('topUp', topUp('D-1', 'tu-1', 10_001))).outcome).toBe('exists_with_different_amount');
    expect((await t.engine.execute('topUp', topUp('D-2', 'tu-1', 10_000))).outcome).toBe('exists_with_different_card');
    const bal = await t.engine.execute('balance', { outlet: OUTLET, card: 'D-1', limit: 5 });
    expect(bal.accounts).toEqual([{ account: 'wallet', unit: 'money', balance: 10_000 }]);
    expect(bal.transactions[0]).toMatchObject({ kind: 'top_up', total: 10_000 });
  });

  it('refuses a top-up of an account that is not a deposit, and malformed top-ups, changing nothing', async () => {
    await expect(t.engine.execute('topUp', topUp('D-1', 'tu-x', 100, 'visits'))).rejects.toMatchObject({ code: 'invalid_field', field: 'account' });
    await expect(t.engine.execute('topUp', topUp('D-1', 'tu-y', 100, 'bonus'))).rejects.toMatchObject({ code: 'invalid_field', field: 'account' });
    expect(() => validateTopUp({ ...topUp('D-1', 'k', 0) })).toThrow(expect.objectContaining({ field: 'amount' }));
    expect(() => validateTopUp({ ...topUp('D-1', 'k', 1.5) })).toThrow(expect.objectContaining({ field: 'amount' }));
    expect(() => validateTopUp({ ...topUp('D-1', 'k', 100), extra: 1 })).toThrow(expect.objectContaining({ code: 'invalid_field' }));
    expect(() => validateCommit(commit('D-1', 'k', { deposit: { account: 'wallet', amount: -1 } }))).toThrow(expect.objectContaining({ field: 'deposit.amount' }));
    expect(() => validateCommit(commit('D-1', 'k', { deposit: { account: 'wallet' } }))).toThrow(expect.objectContaining({ field: 'deposit.amount' }));
    expect(() => validateCommit(commit('D-1', 'k', { deposit: 'wallet' }))).toThrow(expect.objectContaining({ field: 'deposit' }));
    const bal = await t.engine.execute('balance', { outlet: OUTLET, card: 'D-1', limit: 0 });
    expect(bal.accounts).toEqual([{ account: 'wallet', unit: 'money', balance: 10_000 }]);
  });

  it('pays part of a check from the deposit, never more than is left to pay or than the deposit holds', async () => {
    const over = await t.engine.execute('commit', commit('D-1', 'dc-over', { deposit: { account: 'wallet', amount: 20_001 } }));
    expect(over).toMatchObject({ outcome: 'deposit_over_check', transactionId: '', depositPaid: 0 });
    const poor = await t.engine.execute('commit', commit('D-1', 'dc-poor', { deposit: { account: 'wallet', amount: 10_001 } }));
    expect(poor.outcome).toBe('insufficient_funds');
    const ok = await t.engine.execute('commit', commit('D-1', 'dc-ok', { deposit: { account: 'wallet', amount: 6_000 } }));
    // The deposit is money paid in advance: the program accrues 5% of all 20,000.
    expect(ok).toMatchObject({ outcome: 'ok', depositPaid: 6_000, depositBalance: 4_000, accrued: 1_000 });
    const again = await t.engine.execute('commit', commit('D-1', 'dc-ok', { deposit: { account: 'wallet', amount: 6_000 } }));
    expect(again).toMatchObject({ outcome: 'exists', depositBalance: 4_000 });
    const other = await t.engine.execute('commit', commit('D-1', 'dc-ok', { deposit: { account: 'wallet', amount: 5_000 } }));
    expect(other.outcome).toBe('exists_with_different_deposit');
    // A refund of half the check gives half the deposit payment back to the deposit.
    const half = await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'dc-r1', transactionId: ok.transactionId, amount: 10_000 } as any);
    expect(half).toMatchObject({ outcome: 'ok', returned: 10_000, depositRestored: 3_000, accrualReversed: 500 });
    const rest = await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'dc-r2', transactionId: ok.transactionId } as any);
    expect(rest).toMatchObject({ outcome: 'ok', depositRestored: 3_000, checkStatus: 'returned' });
    const bal = await t.engine.execute('balance', { outlet: OUTLET, card: 'D-1', limit: 0 });
    expect(bal.accounts).toEqual([{ account: 'wallet', unit: 'money', balance: 10_000 }]);
  });

  it('never goes below 0 under concurrent payments: 20 payments of 1,000 from 10,000, exactly 10 pass', async () => {
    await t.engine.execute('topUp', topUp('D-2', 'tu-d2', 10_000));
    const all = await Promise.all(
      Array.from({ length: 20 }, (_, i) => t.engine.execute('commit', commit('D-2', `d2-${i}`, { deposit: { account: 'wallet', amount: 1_000 } }))),
    );
    expect(all.filter((r) => r.outcome === 'ok')).toHaveLength(10);
    expect(all.filter((r) => r.outcome === 'insufficient_funds')).toHaveLength(10);
    expect(new Set(all.filter((r) => r.outcome === 'ok').map((r) => r.depositBalance))).toEqual(new Set([9_000, 8_000, 7_000, 6_000, 5_000, 4_000, 3_000, 2_000, 1_000, 0]));
  });

  it('tops up and pays over HTTP and gRPC with the same answers', async () => {
    const uws = await startUwsDoor({ engine: t.engine, port: 0 });
    const grpcDoor = await startGrpcDoor({ engine: t.engine });
    const client = new KopilkaTestClient(grpcDoor.port);
    try {
      const post = async (op: string, body: unknown) => {
        const res = await fetch(`http://127.0.0.1:${uws.port}/v1/${op}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TERMINAL_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: res.status, json: (await res.json()) as any };
      };
      expect((await post('topUp', topUp('D-3', 'http-1', 5_000))).json).toMatchObject({ outcome: 'ok', balance: 5_000 });
      expect((await post('topUp', { ...topUp('D-3', 'http-2', 5_000), amount: '5000' })).json).toMatchObject({ error: { code: 'invalid_field', field: 'amount' } });
      expect(await client.call('TopUp', topUp('D-3', 'grpc-1', 2_500), TERMINAL_KEY)).toMatchObject({ outcome: 'ok', balance: 7_500, account: 'wallet' });
      const paid = await client.call('Commit', commit('D-3', 'grpc-c1', { deposit: { account: 'wallet', amount: 7_500 } }), TERMINAL_KEY);
      expect(paid).toMatchObject({ outcome: 'ok', depositPaid: 7_500, depositBalance: 0 });
      const bal = await client.call('Balance', { outlet: OUTLET, card: 'D-3', limit: 3 }, TERMINAL_KEY);
      expect(bal.accounts).toEqual([{ account: 'wallet', unit: 'money', balance: 0, available: 0, pending: 0, expiring: 0 }]);
    } finally {
      client.close();
      await grpcDoor.close(0);
      uws.stopListening();
      uws.closeConnections();
    }
  });
});
