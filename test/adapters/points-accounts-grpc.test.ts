// Several points accounts end to end: a real engine (4 shards on 2 threads, real LMDB)
// behind the gRPC door. A partner's points accrue into their own account, show in Balance
// with what is available, pay a check through CommitRequest.points_account (a retry with
// another account is told apart), refuse what is not a points account, and move with a
// merge between guests of two shards. verify.ts finds every ledger clean at the end.

import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcDoor, type GrpcDoor } from '../../dist/adapters/grpc-door.js';
import { validateRules } from '../../dist/engine/rules/validate.js';
import { guestShard } from '../../dist/engine/store.js';
import { verifyStore } from '../../dist/engine/verify.js';
import { CHECK_TIME, OUTLET, TERMINAL_KEY, auditAfterClose, startEngine, testSnapshot } from '../helpers/engine.js';
import { KopilkaTestClient, type Method } from '../helpers/grpc-client.js';

const S = grpc.status;

let t: Awaited<ReturnType<typeof startEngine>>;
let door: GrpcDoor;
let client: KopilkaTestClient;

/** Partner A accrues 5% of every check; its points are worth 0.50. */
function snapshot() {
  const s = testSnapshot(2);
  const checked = validateRules({
    settings: { baseAccrualOnPromotionalLines: true },
    accounts: [{ id: 'bonus', unit: 'points', pointValueMinor: 100 }, { id: 'partnerA', unit: 'points', pointValueMinor: 50 }, { id: 'wallet', unit: 'money' }],
    promotions: [{ id: 'a5', name: 'Partner A: 5%', status: 'active', effects: [{ kind: 'accrual', account: 'partnerA', percentBp: 500 }] }],
  });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  s.rules = checked.config;
  return s;
}

beforeAll(async () => {
  t = await startEngine({ shards: 4, threads: 2 });
  expect(t.engine.applyConfig(snapshot())).toBe(true);
  door = await startGrpcDoor({ engine: t.engine });
  client = new KopilkaTestClient(door.port);
});
afterAll(async () => {
  client?.close();
  await door?.close(1_000);
  try {
    await auditAfterClose(t, (store) => expect(verifyStore(store).differences).toEqual([]));
  } finally {
    await t?.close().catch(() => undefined);
  }
});

const call = (method: Method, body: Record<string, unknown>) => client.call(method, { outlet: OUTLET, ...body }, TERMINAL_KEY);
const refusal = (method: Method, body: Record<string, unknown>) => client.refusal(method, { outlet: OUTLET, ...body }, TERMINAL_KEY);
const check = (card: string, key: string, price: number, extra: Record<string, unknown> = {}) => ({
  card, idempotencyKey: key, time: CHECK_TIME, currency: 'RUB', lines: [{ itemCode: 'LATTE', category: 'coffee', quantity: 1, unitPrice: price }], ...extra,
});
const partnerA = async (card: string) => ((await call('Balance', { card, limit: 0 })).accounts as any[]).find((a) => a.account === 'partnerA');

describe('several points accounts through the gRPC door', () => {
  it('accrues into a partner account, shows it in Balance, and pays from it by points_account', async () => {
    await call('Register', { card: 'PA-1' });
    // 5% of 400.00 = 20.00 = 40 points of partner A; the program's 5% = 20 points.
    expect(await call('Commit', check('PA-1', 'pa-1', 40_000))).toMatchObject({ outcome: 'ok', accrued: 2_000, balance: 2_000 });
    expect(await partnerA('PA-1')).toEqual({ account: 'partnerA', unit: 'points', balance: 4_000, available: 4_000, pending: 0, expiring: 0 });
    // 40 points of A pay 20.00 of a 100.00 check (the cap: 50.00 = 100 points of A).
    const paid = await call('Commit', check('PA-1', 'pa-2', 10_000, { pointsSpent: 4_000, pointsAccount: 'partnerA' }));
    expect(paid).toMatchObject({ outcome: 'ok', spent: 4_000, accrued: 400, balance: 2_400 });
    // Partner A: 40 − 40 + 5% of the 80.00 paid in money (8 points).
    expect((await partnerA('PA-1')).balance).toBe(800);
    const history = (await call('Balance', { card: 'PA-1', limit: 1 })).transactions;
    expect(history[0]).toMatchObject({ transactionId: paid.transactionId, kind: 'check', spent: 4_000, pointsAccount: 'partnerA' });
    // The same key with another account (or none) is another body.
    expect((await call('Commit', check('PA-1', 'pa-2', 10_000, { pointsSpent: 4_000, pointsAccount: 'partnerA' }))).outcome).toBe('exists');
    expect((await call('Commit', check('PA-1', 'pa-2', 10_000, { pointsSpent: 4_000 }))).outcome).toBe('exists_with_different_points_account');
    // More than the account holds.
    expect((await call('Commit', check('PA-1', 'pa-3', 10_000, { pointsSpent: 801, pointsAccount: 'partnerA' }))).outcome).toBe('insufficient_points');
    // An empty points_account is the program's (proto3 cannot tell it from absent).
    expect(await call('Commit', check('PA-1', 'pa-4', 10_000, { pointsSpent: 100, pointsAccount: '' }))).toMatchObject({ outcome: 'ok', spent: 100 });
  });

  it('refuses a points_account that is not a points account, naming the field, and keeps the key free', async () => {
    await call('Register', { card: 'PA-2' });
    for (const account of ['wallet', 'nope']) {
      expect(await refusal('Commit', check('PA-2', 'pa2-1', 10_000, { pointsSpent: 100, pointsAccount: account }))).toMatchObject({
        code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: 'pointsAccount',
      });
    }
    expect(await refusal('Commit', check('PA-2', 'pa2-1', 10_000, { pointsAccount: '-x' }))).toMatchObject({ errorCode: 'invalid_field', errorField: 'pointsAccount' });
    expect((await call('Commit', check('PA-2', 'pa2-1', 10_000))).outcome).toBe('ok');
  });

  it('evaluates a check paid from a partner account by points_account, and refuses it with a hold', async () => {
    await call('Register', { card: 'PA-3' });
    await call('Commit', check('PA-3', 'pa3-1', 40_000)); // 40 points of partner A, 20 of the program
    const evaluate = (extra: Record<string, unknown>) => ({
      card: 'PA-3', time: CHECK_TIME, currency: 'RUB', lines: [{ itemCode: 'LATTE', category: 'coffee', quantity: 1, unitPrice: 10_000 }], pointsToSpend: 10_000, ...extra,
    });
    // The cap of a 100.00 check is 50.00 = 100 points of A; the guest has 40: they pay 20.00.
    expect(await call('Evaluate', evaluate({ pointsAccount: 'partnerA' }))).toMatchObject({
      total: 10_000, balance: 4_000, available: 4_000, pointsMax: 4_000, pointsToSpend: 4_000, moneyToPay: 8_000, accrue: 400, holdId: '',
    });
    // An empty points_account is the program's: 20 points at 1.00.
    expect(await call('Evaluate', evaluate({ pointsAccount: '' }))).toMatchObject({ balance: 2_000, available: 2_000, pointsMax: 2_000, pointsToSpend: 2_000, moneyToPay: 8_000 });
    for (const body of [evaluate({ pointsAccount: 'wallet' }), evaluate({ pointsAccount: 'nope' }), evaluate({ pointsAccount: 'partnerA', hold: true })]) {
      expect(await refusal('Evaluate', body)).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: 'pointsAccount' });
    }
    // Nothing was held: the program's points are all there to hold.
    expect(await call('Evaluate', evaluate({ hold: true }))).toMatchObject({ holdId: expect.stringMatching(/\.h1$/), pointsToSpend: 2_000 });
  });

  it('answers a refund\'s reversal of a partner account in points_reversed, the same on a retry', async () => {
    await call('Register', { card: 'PA-4' });
    const c = await call('Commit', check('PA-4', 'pa4-1', 40_000));
    // A quarter of 400.00: 10 of partner A's 40 points, 5 of the program's 20.
    const refund = { idempotencyKey: 'pa4-r1', transactionId: c.transactionId, amount: 10_000 };
    const r = await call('Refund', refund);
    expect(r).toMatchObject({ outcome: 'ok', returned: 10_000, accrualReversed: 500, writtenOff: 0, pointsReversed: [{ account: 'partnerA', reversed: 1_000, writtenOff: 0 }] });
    expect(await call('Refund', refund)).toEqual({ ...r, outcome: 'exists' });
    expect((await partnerA('PA-4')).balance).toBe(3_000);
  });

  it('moves a partner account with a merge between guests of two shards', async () => {
    const guestOf = new Map<string, string>();
    for (let i = 0; i < 12; i++) guestOf.set(`PM-${i}`, (await call('Register', { card: `PM-${i}` })).guestId);
    const cards = [...guestOf.keys()];
    const into = cards[0]!;
    const from = cards.find((c) => guestShard(guestOf.get(c)!) !== guestShard(guestOf.get(into)!))!;
    expect(from).toBeDefined();
    await call('Commit', check(into, 'pm-1', 20_000));
    await call('Commit', check(from, 'pm-2', 60_000));
    expect(await call('Merge', { idempotencyKey: 'pm-m', card: into, from })).toMatchObject({ outcome: 'ok', guestId: guestOf.get(into) });
    // 5% of 200.00 and of 600.00 at 0.50 a point: 20 + 60 points of partner A; none left behind.
    expect(await partnerA(into)).toMatchObject({ balance: 8_000, available: 8_000 });
    expect(await partnerA(from)).toMatchObject({ balance: 8_000 });
  });
});
