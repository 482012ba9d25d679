// The gRPC door end to end: a real engine on LMDB, a real server on an ephemeral port,
// real grpc-js clients (generated and raw). After every refusal the guest's balance and
// history are read back from the engine to prove nothing changed.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kopilkaClientClass, startGrpcDoor, type GrpcDoor } from '../../dist/adapters/grpc-door.js';
import { DEMO_PROGRAM } from '../../dist/engine/demo-config.js';
import { connection_in_flight_max } from '../../dist/protocol/limits.js';
import { CHECK_TIME, OTHER_TERMINAL_KEY, OUTLET, TERMINAL_KEY, lines, startEngine, testSnapshot } from '../helpers/engine.js';
import { KopilkaTestClient, pbBytes, pbDouble, pbVarint, rawStream, rawUnary } from '../helpers/grpc-client.js';

const S = grpc.status;

function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Holds the LMDB write lock of a data folder from another process, as a slow disk or a
 * long writer would: commits wait for it (reads do not). Released by `release()` (or
 * when the test process dies, since the child's stdin then closes).
 */
async function holdWriteLock(dataDir: string): Promise<{ release(): Promise<void> }> {
  const script = `
    import { readSync } from 'node:fs';
    import { openStore } from './dist/engine/store.js';
    const store = openStore(process.argv[1]);
    store.root.transactionSync(() => {
      process.stdout.write('locked\\n');
      readSync(0, Buffer.alloc(1));
    });
    await store.close();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, dataDir], { cwd: fileURLToPath(new URL('../../', import.meta.url)), stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the lock holder exited with ${code}`)));
  });
  return {
    release: () => new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.stdin.end('x');
    }),
  };
}

describe('gRPC door', () => {
  let t: Awaited<ReturnType<typeof startEngine>>;
  let door: GrpcDoor;
  let client: KopilkaTestClient;

  beforeAll(async () => {
    t = await startEngine();
    door = await startGrpcDoor({ engine: t.engine });
    client = new KopilkaTestClient(door.port);
  });
  afterAll(async () => {
    client?.close();
    await door?.close(1_000);
    await t?.close();
  });

  const check = (card: string, extra: Record<string, unknown> = {}) => ({
    outlet: OUTLET,
    time: CHECK_TIME,
    currency: 'RUB',
    card,
    lines: lines(2, 10_000),
    ...extra,
  });
  const commit = (card: string, idempotencyKey: string, extra: Record<string, unknown> = {}) => check(card, { idempotencyKey, ...extra });

  /** Balance and history straight from the engine, bypassing the door under test. */
  const ledger = async (card: string) => {
    const b = await t.engine.execute('balance', { outlet: OUTLET, card, limit: 100 });
    return { balance: b.balance, transactions: b.transactions.length };
  };

  /** A registered guest who has committed one check of 200.00 (balance 10 points = 1000). */
  const guestWithPoints = async (card: string) => {
    await client.call('Register', { outlet: OUTLET, card }, TERMINAL_KEY);
    const c = await client.call('Commit', commit(card, `${card}-first`), TERMINAL_KEY);
    expect(c).toMatchObject({ outcome: 'ok', balance: 1_000 });
    return ledger(card);
  };

  it('answers every operation on unary calls, in camelCase with integer amounts', async () => {
    const reg = await client.call('Register', { outlet: OUTLET, card: 'U-1', name: 'Anna', phone: '+79991234567' }, TERMINAL_KEY);
    expect(reg).toEqual({ outcome: 'ok', guestId: expect.any(String), card: 'U-1' });
    expect(await client.call('Register', { outlet: OUTLET, card: 'U-1' }, TERMINAL_KEY)).toEqual({ outcome: 'exists', guestId: reg.guestId, card: 'U-1' });

    expect(await client.call('Identify', { outlet: OUTLET, card: 'U-1' }, TERMINAL_KEY)).toEqual({
      guestId: reg.guestId, card: 'U-1', name: 'Anna', balance: 0,
      phone: '+79991234567', email: '', birthday: '', document: '', address: '', tags: [], consent: false, discounts: {}, cards: [{ card: 'U-1', kind: 'plastic', status: 'active', issuedAt: expect.any(String) }],
    });

    const ev = await client.call('Evaluate', check('U-1'), TERMINAL_KEY);
    expect(ev).toEqual({
      configVersion: 1, guestId: reg.guestId, total: 20_000, balance: 0, available: 0, pointsMax: 0, pointsToSpend: 0,
      moneyToPay: 20_000, accrue: 1_000, holdId: '', holdExpiresAt: '',
      discount: 0, lineDiscounts: [], promotions: [], messages: [], explanation: [],
      // A check in the organization's currency: no conversion to name (proto3 "" = absent).
      checkCurrency: '', rate: '',
    });

    const c = await client.call('Commit', commit('U-1', 'u1-a'), TERMINAL_KEY);
    expect(c).toEqual({
      outcome: 'ok', transactionId: expect.any(String), guestId: reg.guestId, configVersion: 1,
      total: 20_000, spent: 0, accrued: 1_000, balance: 1_000, discount: 0, promotions: [], depositPaid: 0, depositBalance: 0,
      checkCurrency: '', rate: '',
    });
    const spend = await client.call('Commit', commit('U-1', 'u1-b', { pointsSpent: 500 }), TERMINAL_KEY);
    expect(spend).toMatchObject({ outcome: 'ok', spent: 500, balance: 1_000 - 500 + 975 });

    const bal = await client.call('Balance', { outlet: OUTLET, card: 'U-1', limit: 10 }, TERMINAL_KEY);
    expect(bal).toMatchObject({ guestId: reg.guestId, balance: 1_475, available: 1_475, pending: 0, held: 0, expiring: 0 });
    expect(bal.transactions).toHaveLength(2);
    expect(bal.transactions[0]).toEqual({
      transactionId: spend.transactionId, kind: 'check', time: CHECK_TIME, outlet: OUTLET,
      total: 20_000, spent: 500, accrued: 975, balanceAfter: 1_475, operator: '', reason: '', original: '', pointsAccount: '',
    });
    // `limit` is `optional`: an explicit 0 means the balance alone, absent means the default.
    expect((await client.call('Balance', { outlet: OUTLET, card: 'U-1', limit: 0 }, TERMINAL_KEY)).transactions).toEqual([]);
    expect((await client.call('Balance', { outlet: OUTLET, card: 'U-1' }, TERMINAL_KEY)).transactions).toHaveLength(2);
  });

  it('reads an empty optional string as absent, and refuses an empty required one', async () => {
    // protobuf.js clients send "" when a field is set to it; other clients never send it.
    expect((await client.call('Register', { outlet: OUTLET, card: 'EMPTY-1', name: '', phone: '' }, TERMINAL_KEY)).outcome).toBe('ok');
    const line = { itemCode: 'a', category: '', quantity: 1, unitPrice: 100 };
    expect((await client.call('Evaluate', check('EMPTY-1', { lines: [line] }), TERMINAL_KEY)).total).toBe(100);
    expect(await client.refusal('Identify', { outlet: OUTLET, card: '' }, TERMINAL_KEY)).toMatchObject({ errorCode: 'invalid_field', errorField: 'card' });
    expect(await client.refusal('Evaluate', check('EMPTY-1', { lines: [{ ...line, itemCode: '' }] }), TERMINAL_KEY)).toMatchObject({
      errorCode: 'invalid_field', errorField: 'lines[0].itemCode',
    });
  });

  it('answers every operation on the stream, each with its id', async () => {
    const s = client.stream(TERMINAL_KEY);
    const reg = await s.send(1, { register: { outlet: OUTLET, card: 'S-1', name: 'Boris' } });
    expect(reg).toEqual({ id: 1, reply: 'register', register: { outcome: 'ok', guestId: expect.any(String), card: 'S-1' } });
    const guestId = reg.register.guestId;
    expect(await s.send(2, { identify: { outlet: OUTLET, card: 'S-1' } })).toEqual({
      id: 2, reply: 'identify', identify: {
        guestId, card: 'S-1', name: 'Boris', balance: 0,
        phone: '', email: '', birthday: '', document: '', address: '', tags: [], consent: false, discounts: {}, cards: [{ card: 'S-1', kind: 'plastic', status: 'active', issuedAt: expect.any(String) }],
      },
    });
    expect((await s.send(3, { evaluate: check('S-1') })).evaluate).toMatchObject({ guestId, total: 20_000, accrue: 1_000 });
    expect((await s.send(4, { commit: commit('S-1', 's1-a') })).commit).toMatchObject({ outcome: 'ok', guestId, balance: 1_000 });
    const bal = await s.send(5, { balance: { outlet: OUTLET, card: 'S-1', limit: 5 } });
    expect(bal.balance).toMatchObject({ guestId, balance: 1_000, transactions: [expect.objectContaining({ accrued: 1_000 })] });
    expect((await s.end()).code).toBe(S.OK);
    expect(s.unmatched).toEqual([]);
  });

  it('refuses a bad field of every operation, naming it, and changes nothing', async () => {
    const before = await guestWithPoints('BAD-1');
    const cases: [Parameters<KopilkaTestClient['call']>[0], Record<string, unknown>, string][] = [
      ['Register', { outlet: OUTLET }, 'card'],
      ['Register', { outlet: OUTLET, card: 'BAD-NEW', phone: 'call me' }, 'phone'],
      ['Identify', { outlet: OUTLET, card: 'x'.repeat(65) }, 'card'],
      ['Evaluate', check('BAD-1', { currency: 'rub' }), 'currency'],
      ['Evaluate', check('BAD-1', { lines: [] }), 'lines'],
      ['Commit', commit('BAD-1', 'bad-time', { time: '24.11.2026 12:30' }), 'time'],
      ['Commit', check('BAD-1'), 'idempotencyKey'],
      ['Commit', commit('BAD-1', 'bad-price', { lines: [{ itemCode: 'a', quantity: 1, unitPrice: -5 }] }), 'lines[0].unitPrice'],
      ['Balance', { outlet: OUTLET, card: 'BAD-1', limit: 101 }, 'limit'],
      ['Balance', { outlet: OUTLET, card: 'BAD-1', expiringWithinDays: 3_661 }, 'expiringWithinDays'],
      ['Evaluate', check('BAD-1', { pointsToSpend: -1, hold: true }), 'pointsToSpend'],
      ['Commit', commit('BAD-1', 'bad-hold', { holdId: 'h1' }), 'holdId'],
      ['Cancel', { outlet: OUTLET }, 'holdId'],
      ['Cancel', { outlet: OUTLET, holdId: '1-1.5' }, 'holdId'],
      ['Refund', { outlet: OUTLET, idempotencyKey: 'bad-r', transactionId: '1-1.h1' }, 'transactionId'],
      ['Refund', { outlet: OUTLET, transactionId: '1-1.1' }, 'idempotencyKey'],
      ['Adjust', { outlet: OUTLET, idempotencyKey: 'bad-adj', card: 'BAD-1', points: 0, reason: 'r', operator: 'o' }, 'points'],
      ['Adjust', { outlet: OUTLET, idempotencyKey: 'bad-adj', card: 'BAD-1', points: 100, operator: 'o' }, 'reason'],
    ];
    for (const [method, request, field] of cases) {
      const r = await client.refusal(method, request, TERMINAL_KEY);
      expect(r, `${method} ${field}`).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: field });
      expect(r.details).toContain(field);
    }
    expect(await ledger('BAD-1')).toEqual(before);
    expect((await client.refusal('Identify', { outlet: OUTLET, card: 'BAD-NEW' }, TERMINAL_KEY)).errorCode).toBe('card_not_found');
  });

  it('refuses negative and fractional quantities and a string where a number belongs', async () => {
    const before = await guestWithPoints('QTY-1');
    const negative = await client.refusal('Commit', commit('QTY-1', 'qty-neg', { lines: [{ itemCode: 'a', quantity: -1, unitPrice: 100 }] }), TERMINAL_KEY);
    expect(negative).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: 'lines[0].quantity' });
    const zero = await client.refusal('Evaluate', check('QTY-1', { lines: [{ itemCode: 'a', quantity: 0, unitPrice: 100 }] }), TERMINAL_KEY);
    expect(zero).toMatchObject({ code: S.INVALID_ARGUMENT, errorField: 'lines[0].quantity' });

    // int64 cannot carry 1.5 or "abc": only a client that ignores the schema sends them,
    // as a double (wire type 1) or a string (wire type 2) in field 3 of CheckLine.
    const head = Buffer.concat([pbBytes(1, OUTLET), pbBytes(2, 'qty-raw'), pbBytes(3, CHECK_TIME), pbBytes(4, 'RUB'), pbBytes(5, 'QTY-1')]);
    for (const quantity of [pbDouble(3, 1.5), pbBytes(3, 'abc')]) {
      const line = Buffer.concat([pbBytes(1, 'item'), quantity, pbVarint(4, 100)]);
      const { refusal } = await rawUnary(door.port, 'Commit', Buffer.concat([head, pbBytes(6, line)]), TERMINAL_KEY);
      expect(refusal?.code).toBe(S.INVALID_ARGUMENT);
      expect(['bad_request', 'invalid_field']).toContain(refusal?.errorCode);
    }
    // The raw writer itself is sound: the same message with a proper quantity commits.
    const good = Buffer.concat([head, pbBytes(6, Buffer.concat([pbBytes(1, 'item'), pbVarint(3, 2), pbVarint(4, 100)]))]);
    expect((await rawUnary(door.port, 'Commit', good, TERMINAL_KEY)).reply).toBeInstanceOf(Buffer);
    const after = await ledger('QTY-1');
    expect(after.transactions).toBe(before.transactions + 1);
    expect(after.balance).toBe(before.balance + 10);
  });

  it('refuses an unknown card on every operation that names a guest', async () => {
    for (const [method, request] of [
      ['Identify', { outlet: OUTLET, card: 'NOBODY' }],
      ['Evaluate', check('NOBODY')],
      ['Commit', commit('NOBODY', 'nobody-1')],
      ['Balance', { outlet: OUTLET, card: 'NOBODY' }],
      ['Adjust', { outlet: OUTLET, idempotencyKey: 'nobody-adj', card: 'NOBODY', points: 100, reason: 'goodwill', operator: 'anna' }],
    ] as const) {
      expect(await client.refusal(method, request, TERMINAL_KEY)).toMatchObject({ code: S.NOT_FOUND, errorCode: 'card_not_found', errorField: 'card' });
    }
  });

  it('answers overspending with an outcome and moves no points', async () => {
    const before = await guestWithPoints('OVER-1');
    // The check is 200.00: at most 50% (10,000 hundredths) is payable; the balance is 1,000.
    const overCap = await client.call('Commit', commit('OVER-1', 'over-cap', { pointsSpent: 10_001 }), TERMINAL_KEY);
    expect(overCap).toMatchObject({ outcome: 'points_over_limit', transactionId: '', spent: 0, accrued: 0, balance: 1_000 });
    const overBalance = await client.call('Commit', commit('OVER-1', 'over-balance', { pointsSpent: 1_001 }), TERMINAL_KEY);
    expect(overBalance).toMatchObject({ outcome: 'insufficient_points', transactionId: '', spent: 0, balance: 1_000 });
    expect(await ledger('OVER-1')).toEqual(before);
    // Evaluate caps the ask instead of refusing it.
    expect(await client.call('Evaluate', check('OVER-1', { pointsToSpend: 10_001 }), TERMINAL_KEY)).toMatchObject({ pointsMax: 1_000, pointsToSpend: 1_000 });
  });

  it('answers malformed bytes with bad_request and changes nothing', async () => {
    const before = await guestWithPoints('MAL-1');
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x07]);
    for (const method of ['Register', 'Identify', 'Evaluate', 'Commit', 'Balance', 'Cancel', 'Refund', 'Adjust'] as const) {
      const { refusal } = await rawUnary(door.port, method, garbage, TERMINAL_KEY);
      expect(refusal, method).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'bad_request' });
    }
    // A truncated commit: the lines field announces more bytes than follow.
    const truncated = Buffer.concat([pbBytes(1, OUTLET), pbBytes(2, 'mal'), Buffer.from([0x32, 0x40, 0x0a])]);
    expect((await rawUnary(door.port, 'Commit', truncated, TERMINAL_KEY)).refusal?.errorCode).toBe('bad_request');

    // On the stream the id cannot be read, so the answer carries id 0; the stream lives on.
    const raw = rawStream(door.port, TERMINAL_KEY);
    const replies: any[] = [];
    const got = (n: number) => new Promise<void>((resolve) => {
      const next = () => (replies.length >= n ? resolve() : raw.call.once('data', (r) => (replies.push(r), next())));
      next();
    });
    raw.call.write(garbage);
    await got(1);
    expect(replies[0]).toMatchObject({ id: 0, reply: 'error', error: { code: 'bad_request' } });
    const identify = Buffer.concat([pbVarint(1, 9), pbBytes(3, Buffer.concat([pbBytes(1, OUTLET), pbBytes(2, 'MAL-1')]))]);
    raw.call.write(identify);
    await got(2);
    expect(replies[1]).toMatchObject({ id: 9, reply: 'identify', identify: { card: 'MAL-1', balance: 1_000 } });
    raw.call.end();
    raw.close();
    expect(await ledger('MAL-1')).toEqual(before);
  });

  it('refuses a message over 64 KiB with RESOURCE_EXHAUSTED', async () => {
    const big = 'x'.repeat(70 * 1024);
    const r = await client.refusal('Register', { outlet: OUTLET, card: 'BIG-1', name: big }, TERMINAL_KEY);
    expect(r.code).toBe(S.RESOURCE_EXHAUSTED);
    expect((await client.refusal('Identify', { outlet: OUTLET, card: 'BIG-1' }, TERMINAL_KEY)).errorCode).toBe('card_not_found');

    const s = client.stream(TERMINAL_KEY);
    s.call.write({ id: 1, register: { outlet: OUTLET, card: 'BIG-2', name: big } });
    expect((await s.status).code).toBe(S.RESOURCE_EXHAUSTED);
    expect((await client.refusal('Identify', { outlet: OUTLET, card: 'BIG-2' }, TERMINAL_KEY)).errorCode).toBe('card_not_found');
  });

  it('refuses a missing or wrong key and a key of another outlet', async () => {
    const before = await guestWithPoints('KEY-1');
    const request = commit('KEY-1', 'key-1');
    for (const key of [undefined, '', 'not-a-terminal-key']) {
      expect(await client.refusal('Commit', request, key)).toMatchObject({ code: S.UNAUTHENTICATED, errorCode: 'unauthorized' });
    }
    // The key is checked before the body: a caller without one learns nothing about its input.
    expect(await client.refusal('Commit', { outlet: OUTLET }, undefined)).toMatchObject({ code: S.UNAUTHENTICATED, errorCode: 'unauthorized' });
    expect(await client.refusal('Commit', request, OTHER_TERMINAL_KEY)).toMatchObject({
      code: S.PERMISSION_DENIED, errorCode: 'forbidden_outlet', errorField: 'outlet',
    });
    expect(await client.refusal('Identify', { outlet: OUTLET, card: 'KEY-1' }, OTHER_TERMINAL_KEY)).toMatchObject({ code: S.PERMISSION_DENIED });

    // A stream without a valid key ends at once with UNAUTHENTICATED.
    for (const key of [undefined, 'not-a-terminal-key']) {
      const s = client.stream(key);
      s.call.write({ id: 1, commit: request });
      const status = await s.status;
      expect(status.code).toBe(S.UNAUTHENTICATED);
      expect(status.metadata.get('kopilka-error-code')).toEqual(['unauthorized']);
    }
    // A valid key naming another outlet is refused per request; the stream stays open.
    const s = client.stream(OTHER_TERMINAL_KEY);
    expect(await s.send(1, { commit: request })).toMatchObject({ id: 1, error: { code: 'forbidden_outlet', field: 'outlet' } });
    expect(await s.send(2, { register: { outlet: 'outlet-2', card: 'KEY-2' } })).toMatchObject({ id: 2, register: { outcome: 'ok' } });
    expect((await s.end()).code).toBe(S.OK);
    expect(await ledger('KEY-1')).toEqual(before);
  });

  it('commits once per idempotency key', async () => {
    await client.call('Register', { outlet: OUTLET, card: 'IDEM-1' }, TERMINAL_KEY);
    const first = await client.call('Commit', commit('IDEM-1', 'idem-1'), TERMINAL_KEY);
    expect(first).toMatchObject({ outcome: 'ok', balance: 1_000 });
    const before = await ledger('IDEM-1');

    const again = await client.call('Commit', commit('IDEM-1', 'idem-1'), TERMINAL_KEY);
    expect(again).toEqual({ ...first, outcome: 'exists' });
    const s = client.stream(TERMINAL_KEY);
    expect((await s.send(1, { commit: commit('IDEM-1', 'idem-1') })).commit).toEqual({ ...first, outcome: 'exists' });
    await s.end();

    const lines3 = await client.call('Commit', commit('IDEM-1', 'idem-1', { lines: lines(3, 10_000) }), TERMINAL_KEY);
    expect(lines3).toMatchObject({ outcome: 'exists_with_different_lines', transactionId: first.transactionId });
    const spent = await client.call('Commit', commit('IDEM-1', 'idem-1', { pointsSpent: 100 }), TERMINAL_KEY);
    expect(spent.outcome).toBe('exists_with_different_points_spent');
    expect(await ledger('IDEM-1')).toEqual(before);
  });

  it('keeps a stream open through request errors', async () => {
    await client.call('Register', { outlet: OUTLET, card: 'ERR-1' }, TERMINAL_KEY);
    const s = client.stream(TERMINAL_KEY);
    const answers = await Promise.all([
      s.send(1, {}),
      s.send(2, { identify: { outlet: OUTLET } }),
      s.send(3, { evaluate: check('ERR-1', { lines: [{ itemCode: 'a', quantity: -2, unitPrice: 1 }] }) }),
      s.send(4, { identify: { outlet: OUTLET, card: 'NOBODY' } }),
      s.send(5, { identify: { outlet: OUTLET, card: 'ERR-1' } }),
    ]);
    expect(answers.map((a) => a.error?.code ?? a.reply)).toEqual(['unknown_op', 'invalid_field', 'invalid_field', 'card_not_found', 'identify']);
    expect(answers[2].error.field).toBe('lines[0].quantity');
    expect(answers[1].error).toMatchObject({ field: 'card', message: expect.stringContaining('card') });
    expect((await s.end()).code).toBe(S.OK);
  });

  it('matches 200 requests in flight on one stream by id', async () => {
    const s = client.stream(TERMINAL_KEY);
    const cards = Array.from({ length: 10 }, (_, i) => `MANY-${i}`);
    await Promise.all(cards.map((card, i) => s.send(1_000 + i, { register: { outlet: OUTLET, card } })));
    const sent = Array.from({ length: 200 }, (_, i) => {
      const card = cards[i % cards.length]!;
      // Different totals per request, so a reply given to the wrong id would show.
      const price = 1_000 * (1 + (i % 7));
      const op = i % 2 === 0 ? { commit: commit(card, `many-${i}`, { lines: lines(1, price) }) } : { evaluate: check(card, { lines: lines(1, price) }) };
      return { id: i + 1, price, card, answer: s.send(i + 1, op) };
    });
    const answers = await Promise.all(sent.map((x) => x.answer));
    for (let i = 0; i < sent.length; i++) {
      const a = answers[i]!;
      expect(a.id).toBe(sent[i]!.id);
      const result = a.commit ?? a.evaluate;
      expect(result.total, `id ${a.id}`).toBe(sent[i]!.price);
    }
    expect((await s.end()).code).toBe(S.OK);
    expect(s.unmatched).toEqual([]);
    for (const card of cards) {
      const committed = sent.filter((x, i) => x.card === card && i % 2 === 0);
      const accrued = committed.reduce((sum, x) => sum + x.price / 20, 0);
      expect(await ledger(card)).toEqual({ balance: accrued, transactions: committed.length });
    }
  });

  it(`answers too_many_in_flight beyond ${connection_in_flight_max} requests in flight on a stream`, async () => {
    await client.call('Register', { outlet: OUTLET, card: 'TMF-1' }, TERMINAL_KEY);
    const s = client.stream(TERMINAL_KEY);
    const lock = await holdWriteLock(t.dataDir);
    let answers: Promise<any>[];
    try {
      const extra = 3;
      answers = Array.from({ length: connection_in_flight_max + extra }, (_, i) =>
        s.send(i + 1, { commit: commit('TMF-1', `tmf-${i}`, { lines: lines(1, 1_000) }) }),
      );
      // The commits wait for the lock, so the first ones fill the stream; the rest are refused at once.
      const refused = await within(10_000, Promise.all(answers.slice(connection_in_flight_max)));
      expect(refused.map((a) => a.error?.code)).toEqual(Array(extra).fill('too_many_in_flight'));
      // Reads still pass on another stream while the writes wait.
      expect((await client.call('Identify', { outlet: OUTLET, card: 'TMF-1' }, TERMINAL_KEY)).balance).toBe(0);
    } finally {
      await lock.release();
    }
    const admitted = await Promise.all(answers.slice(0, connection_in_flight_max));
    expect(admitted.every((a, i) => a.id === i + 1 && a.commit?.outcome === 'ok')).toBe(true);
    // Slots come back as answers go out.
    expect((await s.send(99_999, { identify: { outlet: OUTLET, card: 'TMF-1' } })).identify.balance).toBe(connection_in_flight_max * 50);
    expect((await s.end()).code).toBe(S.OK);
  });

  it('stops reading a stream whose client does not read its answers, and goes on when it does', async () => {
    const s = client.stream(TERMINAL_KEY);
    s.call.pause();
    // Each request is refused at once (outlet too long), so none stays in flight: only the
    // answers pile up, and the door must stop reading before they grow without bound.
    const n = 12_000;
    const answers = Array.from({ length: n }, (_, i) => s.send(i + 1, { identify: { outlet: 'o'.repeat(1_000), card: 'C' } }));
    const readSoFar = async () =>
      (await t.engine.metrics.errors.get()).values.find((v) => v.labels.door === 'grpc_stream' && v.labels.op === 'identify' && v.labels.code === 'invalid_field')?.value ?? 0;
    const before = await readSoFar();
    // Wait until the door has read everything or has stopped reading for a second.
    let read = 0;
    for (let still = 0; still < 5 && read < n; ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const now = (await readSoFar()) - before;
      still = now === read ? still + 1 : 0;
      read = now;
    }
    expect(read).toBeGreaterThanOrEqual(connection_in_flight_max);
    expect(read).toBeLessThan(n);
    s.call.resume();
    const all = await within(30_000, Promise.all(answers));
    expect(all.every((a, i) => a.id === i + 1 && a.error?.code === 'invalid_field')).toBe(true);
    expect((await s.end()).code).toBe(S.OK);
  });

  /** Balance, its parts and the number of journal entries, through the door under test. */
  const parts = async (card: string) => {
    const b = await client.call('Balance', { outlet: OUTLET, card, limit: 100 }, TERMINAL_KEY);
    return { balance: b.balance, available: b.available, held: b.held, transactions: b.transactions.length };
  };

  it('holds points at evaluate, posts part of the hold at commit and releases the rest, once', async () => {
    await guestWithPoints('HOLD-1');
    const guestId = (await client.call('Identify', { outlet: OUTLET, card: 'HOLD-1' }, TERMINAL_KEY)).guestId;

    // `hold` absent or false: a read; nothing is held.
    for (const extra of [{ pointsToSpend: 800 }, { pointsToSpend: 800, hold: false }]) {
      expect(await client.call('Evaluate', check('HOLD-1', extra), TERMINAL_KEY)).toMatchObject({ available: 1_000, pointsToSpend: 800, holdId: '', holdExpiresAt: '' });
    }
    // A hold of nothing is no hold.
    expect((await client.call('Evaluate', check('HOLD-1', { hold: true }), TERMINAL_KEY)).holdId).toBe('');
    expect(await parts('HOLD-1')).toEqual({ balance: 1_000, available: 1_000, held: 0, transactions: 1 });

    const started = Date.now();
    const ev = await client.call('Evaluate', check('HOLD-1', { pointsToSpend: 800, hold: true }), TERMINAL_KEY);
    expect(ev).toMatchObject({ guestId, balance: 1_000, pointsMax: 1_000, pointsToSpend: 800, moneyToPay: 19_200, holdId: expect.stringMatching(/^\d+-\d+\.h\d+$/) });
    expect(ev.holdId.startsWith(`${guestId}.h`)).toBe(true);
    // The default hold timeout is 900 s.
    expect(Date.parse(ev.holdExpiresAt) - started).toBeGreaterThan(890_000);
    expect(Date.parse(ev.holdExpiresAt) - started).toBeLessThan(910_000);
    expect(await parts('HOLD-1')).toEqual({ balance: 1_000, available: 200, held: 800, transactions: 1 });
    // The held points are not available to anything else.
    expect(await client.call('Evaluate', check('HOLD-1', { pointsToSpend: 800 }), TERMINAL_KEY)).toMatchObject({ available: 200, pointsMax: 200 });
    expect(await client.call('Commit', commit('HOLD-1', 'hold-other', { pointsSpent: 201 }), TERMINAL_KEY)).toMatchObject({ outcome: 'insufficient_points' });

    // More than the hold: refused, and the hold stays open.
    const over = await client.call('Commit', commit('HOLD-1', 'hold-over', { pointsSpent: 801, holdId: ev.holdId }), TERMINAL_KEY);
    expect(over).toMatchObject({ outcome: 'points_over_hold', transactionId: '', spent: 0, balance: 1_000 });
    expect(await parts('HOLD-1')).toEqual({ balance: 1_000, available: 200, held: 800, transactions: 1 });

    // 500 of the 800 held are spent; the other 300 are released.
    const posted = await client.call('Commit', commit('HOLD-1', 'hold-post', { pointsSpent: 500, holdId: ev.holdId }), TERMINAL_KEY);
    expect(posted).toEqual({
      outcome: 'ok', transactionId: expect.stringMatching(new RegExp(`^${guestId}\\.\\d+$`)), guestId, configVersion: 1,
      total: 20_000, spent: 500, accrued: 975, balance: 1_000 - 500 + 975, discount: 0, promotions: [], depositPaid: 0, depositBalance: 0,
      checkCurrency: '', rate: '',
    });
    const afterPost = await parts('HOLD-1');
    expect(afterPost).toEqual({ balance: 1_475, available: 1_475, held: 0, transactions: 2 });

    // The same hold again, under a new key: resolved; the refusal changes nothing.
    const again = await client.call('Commit', commit('HOLD-1', 'hold-again', { pointsSpent: 500, holdId: ev.holdId }), TERMINAL_KEY);
    expect(again).toMatchObject({ outcome: 'hold_already_resolved', transactionId: '', spent: 0, accrued: 0, balance: 1_475 });
    expect(await client.call('Cancel', { outlet: OUTLET, holdId: ev.holdId }, TERMINAL_KEY)).toEqual({
      outcome: 'hold_already_resolved', holdId: ev.holdId, guestId, available: 1_475,
    });
    // The first key again: its answer; with another hold (none): which field differs.
    expect(await client.call('Commit', commit('HOLD-1', 'hold-post', { pointsSpent: 500, holdId: ev.holdId }), TERMINAL_KEY)).toEqual({ ...posted, outcome: 'exists' });
    expect(await client.call('Commit', commit('HOLD-1', 'hold-post', { pointsSpent: 500 }), TERMINAL_KEY)).toMatchObject({
      outcome: 'exists_with_different_hold', transactionId: posted.transactionId,
    });
    // An empty hold_id is no hold (proto3 sends "" for a string set to it).
    expect(await client.call('Commit', commit('HOLD-1', 'hold-empty', { pointsSpent: 100, holdId: '' }), TERMINAL_KEY)).toMatchObject({ outcome: 'ok', spent: 100 });
    expect(await client.call('Commit', commit('HOLD-1', 'hold-missing', { pointsSpent: 100, holdId: `${guestId}.h999` }), TERMINAL_KEY)).toMatchObject({
      outcome: 'hold_not_found', transactionId: '',
    });
    expect((await parts('HOLD-1')).transactions).toBe(3);
  });

  it('cancels a hold once, and answers hold_not_found for a hold that does not exist', async () => {
    await guestWithPoints('CANCEL-1');
    const ev = await client.call('Evaluate', check('CANCEL-1', { pointsToSpend: 600, hold: true }), TERMINAL_KEY);
    expect(await parts('CANCEL-1')).toMatchObject({ available: 400, held: 600 });
    const guestId = ev.guestId;

    expect(await client.call('Cancel', { outlet: OUTLET, holdId: ev.holdId }, TERMINAL_KEY)).toEqual({ outcome: 'ok', holdId: ev.holdId, guestId, available: 1_000 });
    expect(await parts('CANCEL-1')).toEqual({ balance: 1_000, available: 1_000, held: 0, transactions: 1 });
    expect(await client.call('Cancel', { outlet: OUTLET, holdId: ev.holdId }, TERMINAL_KEY)).toEqual({
      outcome: 'hold_already_resolved', holdId: ev.holdId, guestId, available: 1_000,
    });
    // A voided hold cannot be posted.
    expect(await client.call('Commit', commit('CANCEL-1', 'cancel-post', { pointsSpent: 600, holdId: ev.holdId }), TERMINAL_KEY)).toMatchObject({
      outcome: 'hold_already_resolved', transactionId: '',
    });

    const missing = `${guestId}.h77`;
    expect(await client.call('Cancel', { outlet: OUTLET, holdId: missing }, TERMINAL_KEY)).toEqual({ outcome: 'hold_not_found', holdId: missing, guestId, available: 1_000 });
    // A guest that does not exist (on a shard that does).
    const [shard] = guestId.split('-');
    expect(await client.call('Cancel', { outlet: OUTLET, holdId: `${shard}-999999.h1` }, TERMINAL_KEY)).toMatchObject({ outcome: 'hold_not_found', available: 0 });
    // Another outlet's key may not cancel this outlet's hold.
    const h2 = await client.call('Evaluate', check('CANCEL-1', { pointsToSpend: 100, hold: true }), TERMINAL_KEY);
    expect(await client.refusal('Cancel', { outlet: OUTLET, holdId: h2.holdId }, OTHER_TERMINAL_KEY)).toMatchObject({ code: S.PERMISSION_DENIED, errorCode: 'forbidden_outlet' });
    expect(await parts('CANCEL-1')).toMatchObject({ available: 900, held: 100 });
    expect((await client.call('Cancel', { outlet: OUTLET, holdId: h2.holdId }, TERMINAL_KEY)).outcome).toBe('ok');
    expect(await parts('CANCEL-1')).toEqual({ balance: 1_000, available: 1_000, held: 0, transactions: 1 });
  });

  /**
   * A guest with 1,000 points who spends them all on a check of two lines (2 × 50.00 and
   * 1 × 100.00), which accrues 5% of the 190.00 paid in money: 950. Balance 950.
   */
  const guestWithSpendingCheck = async (card: string) => {
    await guestWithPoints(card);
    const lines2 = [
      { itemCode: 'cup', quantity: 2, unitPrice: 5_000 },
      { itemCode: 'beans', quantity: 1, unitPrice: 10_000 },
    ];
    const c = await client.call('Commit', commit(card, `${card}-spend`, { lines: lines2, pointsSpent: 1_000 }), TERMINAL_KEY);
    expect(c).toMatchObject({ outcome: 'ok', total: 20_000, spent: 1_000, accrued: 950, balance: 950 });
    return c as { transactionId: string; guestId: string };
  };
  const refund = (idempotencyKey: string, transactionId: string, extra: Record<string, unknown> = {}) => ({ outlet: OUTLET, idempotencyKey, transactionId, ...extra });
  const byLines = (...l: [number, number][]) => ({ lines: { lines: l.map(([line, quantity]) => ({ line, quantity })) } });

  it('refunds a check by lines, by amount and the rest, in proportion and exactly once', async () => {
    const { transactionId, guestId } = await guestWithSpendingCheck('REF-1');

    // One cup of two: 50.00 of 200.00 — a quarter of the accrual (floor 237) and of the spent points (250).
    const r1 = await client.call('Refund', refund('ref-1', transactionId, byLines([0, 1])), TERMINAL_KEY);
    expect(r1).toEqual({
      outcome: 'ok', refundId: expect.stringMatching(new RegExp(`^${guestId}\\.\\d+$`)), transactionId, guestId,
      returned: 5_000, accrualReversed: 237, spentRestored: 250, writtenOff: 0, balance: 950 + 250 - 237, checkStatus: 'partially_returned', depositRestored: 0,
      // No other points account accrued: an empty repeated field, which proto3 cannot tell from absent.
      pointsReversed: [],
    });
    // More cups than are left, more money than is left: refused, nothing applied.
    expect(await client.call('Refund', refund('ref-x1', transactionId, byLines([0, 2])), TERMINAL_KEY)).toMatchObject({
      outcome: 'refund_exceeds_check', refundId: '', returned: 0, accrualReversed: 0, spentRestored: 0, balance: 963, checkStatus: 'partially_returned',
    });
    expect((await client.call('Refund', refund('ref-x2', transactionId, { amount: 15_001 }), TERMINAL_KEY)).outcome).toBe('refund_exceeds_check');
    // A line the check does not have is an error, not an outcome.
    expect(await client.refusal('Refund', refund('ref-x3', transactionId, byLines([5, 1])), TERMINAL_KEY)).toMatchObject({
      code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: 'lines[0].line',
    });

    // 25.00 more: cumulatively 75.00 — accrual floor(950 × 0.375) = 356, spent 375.
    const r2 = await client.call('Refund', refund('ref-2', transactionId, { amount: 2_500 }), TERMINAL_KEY);
    expect(r2).toMatchObject({ outcome: 'ok', returned: 2_500, accrualReversed: 356 - 237, spentRestored: 375 - 250, writtenOff: 0, balance: 963 + 125 - 119, checkStatus: 'partially_returned' });

    // The rest (neither lines nor amount): exactly what is left of both.
    const r3 = await client.call('Refund', refund('ref-3', transactionId), TERMINAL_KEY);
    expect(r3).toMatchObject({ outcome: 'ok', returned: 12_500, accrualReversed: 950 - 356, spentRestored: 1_000 - 375, writtenOff: 0, balance: 1_000, checkStatus: 'returned' });
    expect(new Set([r1.refundId, r2.refundId, r3.refundId]).size).toBe(3);

    const before = await parts('REF-1');
    expect(before).toEqual({ balance: 1_000, available: 1_000, held: 0, transactions: 5 });
    expect(await client.call('Refund', refund('ref-4', transactionId), TERMINAL_KEY)).toMatchObject({
      outcome: 'already_returned', refundId: '', returned: 0, balance: 1_000, checkStatus: 'returned',
    });
    expect(await client.call('Refund', refund('ref-5', transactionId, { amount: 1 }), TERMINAL_KEY)).toMatchObject({ outcome: 'already_returned' });

    // The journal shows the refunds with negative spent and accrued, newest first.
    const history = await client.call('Balance', { outlet: OUTLET, card: 'REF-1', limit: 4 }, TERMINAL_KEY);
    expect(history.transactions.map((x: any) => [x.kind, x.transactionId, x.total, x.spent, x.accrued, x.balanceAfter])).toEqual([
      ['refund', r3.refundId, 12_500, -625, -594, 1_000],
      ['refund', r2.refundId, 2_500, -125, -119, 969],
      ['refund', r1.refundId, 5_000, -250, -237, 963],
      ['check', transactionId, 20_000, 1_000, 950, 950],
    ]);
    expect(history.transactions[0]).toMatchObject({ outlet: OUTLET, time: expect.stringMatching(/Z$/) });
    expect(await parts('REF-1')).toEqual(before);
  });

  it('refuses what a refund cannot be, and answers transaction_not_found', async () => {
    const { transactionId, guestId } = await guestWithSpendingCheck('REF-2');
    const before = await parts('REF-2');
    const [shard] = guestId.split('-');
    // Well-formed ids of no check: another guest's number, a journal entry that is no check.
    expect(await client.call('Refund', refund('ref2-nf', `${guestId}.999`), TERMINAL_KEY)).toEqual({
      outcome: 'transaction_not_found', refundId: '', transactionId: `${guestId}.999`, guestId,
      returned: 0, accrualReversed: 0, spentRestored: 0, writtenOff: 0, balance: 950, checkStatus: '', depositRestored: 0, pointsReversed: [],
    });
    expect((await client.call('Refund', refund('ref2-nf2', `${shard}-999999.1`), TERMINAL_KEY)).outcome).toBe('transaction_not_found');

    const cases: [Record<string, unknown>, string][] = [
      [refund('ref2-a', 'not-a-transaction'), 'transactionId'],
      [refund('ref2-b', `${guestId}.h1`), 'transactionId'],
      [refund('ref2-c', ''), 'transactionId'],
      // `amount` and `lines` carry their presence: an explicit 0 or an empty list is refused, not "the rest".
      [refund('ref2-d', transactionId, { amount: 0 }), 'amount'],
      [refund('ref2-e', transactionId, { amount: -100 }), 'amount'],
      [refund('ref2-f', transactionId, { lines: { lines: [] } }), 'lines'],
      [refund('ref2-g', transactionId, { lines: {} }), 'lines'],
      [refund('ref2-h', transactionId, { ...byLines([0, 1]), amount: 100 }), 'amount'],
      [refund('ref2-i', transactionId, byLines([0, 0])), 'lines[0].quantity'],
      [refund('ref2-j', transactionId, byLines([0, 1], [0, 1])), 'lines[1].line'],
      [refund('ref2-k', transactionId, byLines([-1, 1])), 'lines[0].line'],
    ];
    for (const [request, field] of cases) {
      const r = await client.refusal('Refund', request, TERMINAL_KEY);
      expect(r, field).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: field });
    }
    expect(await client.refusal('Refund', refund('ref2-o', transactionId), OTHER_TERMINAL_KEY)).toMatchObject({ code: S.PERMISSION_DENIED, errorCode: 'forbidden_outlet' });
    expect(await client.refusal('Refund', refund('ref2-u', transactionId), undefined)).toMatchObject({ code: S.UNAUTHENTICATED });
    expect(await parts('REF-2')).toEqual(before);
    // A key refused with an error stays free.
    expect((await client.call('Refund', refund('ref2-a', transactionId), TERMINAL_KEY)).outcome).toBe('ok');
  });

  it('refunds once per idempotency key', async () => {
    const { transactionId } = await guestWithSpendingCheck('REF-3');
    const other = await client.call('Commit', commit('REF-3', 'REF-3-other'), TERMINAL_KEY);
    const first = await client.call('Refund', refund('ref3-1', transactionId, { amount: 4_000 }), TERMINAL_KEY);
    expect(first).toMatchObject({ outcome: 'ok', returned: 4_000, checkStatus: 'partially_returned' });
    const before = await parts('REF-3');

    expect(await client.call('Refund', refund('ref3-1', transactionId, { amount: 4_000 }), TERMINAL_KEY)).toEqual({ ...first, outcome: 'exists' });
    expect(await client.call('Refund', refund('ref3-1', transactionId, { amount: 4_001 }), TERMINAL_KEY)).toEqual({ ...first, outcome: 'exists_with_different_amount' });
    expect(await client.call('Refund', refund('ref3-1', transactionId), TERMINAL_KEY)).toEqual({ ...first, outcome: 'exists_with_different_amount' });
    expect((await client.call('Refund', refund('ref3-1', transactionId, byLines([1, 1])), TERMINAL_KEY)).outcome).toBe('exists_with_different_lines');
    expect((await client.call('Refund', refund('ref3-1', other.transactionId, { amount: 4_000 }), TERMINAL_KEY)).outcome).toBe('exists_with_different_transaction');
    const s = client.stream(TERMINAL_KEY);
    expect((await s.send(1, { refund: refund('ref3-1', transactionId, { amount: 4_000 }) })).refund).toEqual({ ...first, outcome: 'exists' });
    expect((await s.send(2, { refund: refund('ref3-1', transactionId, { amount: 1 }) })).refund.outcome).toBe('exists_with_different_amount');
    await s.end();
    expect(await parts('REF-3')).toEqual(before);

    // A refusal is remembered under its key too: the same key and body answer it again.
    const refused = await client.call('Refund', refund('ref3-2', transactionId, { amount: 20_000 }), TERMINAL_KEY);
    expect(refused.outcome).toBe('refund_exceeds_check');
    expect(await client.call('Refund', refund('ref3-2', transactionId, { amount: 20_000 }), TERMINAL_KEY)).toEqual(refused);
    // Refund keys are apart from commit keys.
    expect((await client.call('Refund', refund('REF-3-other', transactionId, { amount: 1_000 }), TERMINAL_KEY)).outcome).toBe('ok');
  });

  it('carries a debt left by a refund as a negative balance', async () => {
    // The 1,000 points of the first check were all spent on the second: refunding the first
    // takes back 1,000 from a balance of 950, which the default policy leaves as a debt of 50.
    await guestWithSpendingCheck('DEBT-1');
    const first = (await client.call('Balance', { outlet: OUTLET, card: 'DEBT-1', limit: 2 }, TERMINAL_KEY)).transactions[1];
    expect(first).toMatchObject({ kind: 'check', accrued: 1_000 });
    const r = await client.call('Refund', refund('debt-1', first.transactionId), TERMINAL_KEY);
    expect(r).toMatchObject({ outcome: 'ok', returned: 20_000, accrualReversed: 1_000, spentRestored: 0, writtenOff: 0, balance: -50, checkStatus: 'returned' });
    expect(await client.call('Balance', { outlet: OUTLET, card: 'DEBT-1', limit: 1 }, TERMINAL_KEY)).toMatchObject({
      balance: -50, available: 0, held: 0, transactions: [{ kind: 'refund', spent: 0, accrued: -1_000, balanceAfter: -50 }],
    });
    expect((await client.call('Identify', { outlet: OUTLET, card: 'DEBT-1' }, TERMINAL_KEY)).balance).toBe(-50);
    expect(await client.call('Evaluate', check('DEBT-1', { pointsToSpend: 100 }), TERMINAL_KEY)).toMatchObject({ balance: -50, available: 0, pointsMax: 0 });
  });

  it('carries the presence of a zero where absent means something else, from any client', async () => {
    // A protoc-generated client (Go, Java, ...) leaves a plain proto3 0 off the wire; these
    // fields are `optional`, so its 0 travels and its absence is refused or defaulted.
    const { transactionId } = await guestWithSpendingCheck('PRES-1');
    const decode = (method: 'Refund' | 'Evaluate', reply: Buffer | undefined) => kopilkaClientClass().service[method]!.responseDeserialize(reply!) as any;
    const head = (key: string) => Buffer.concat([pbBytes(1, OUTLET), pbBytes(2, key), pbBytes(3, transactionId)]);
    const refundLine = (...fields: Buffer[]) => pbBytes(4, pbBytes(1, Buffer.concat(fields)));

    const noLine = await rawUnary(door.port, 'Refund', Buffer.concat([head('pres-1'), refundLine(pbVarint(2, 1))]), TERMINAL_KEY);
    expect(noLine.refusal).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: 'lines[0].line' });
    const line0 = await rawUnary(door.port, 'Refund', Buffer.concat([head('pres-2'), refundLine(pbVarint(1, 0), pbVarint(2, 1))]), TERMINAL_KEY);
    expect(decode('Refund', line0.reply)).toMatchObject({ outcome: 'ok', returned: 5_000, checkStatus: 'partially_returned' });
    // An empty RefundLines is a list of none (refused), not "the rest"; an amount of 0 is refused, not "the rest".
    expect((await rawUnary(door.port, 'Refund', Buffer.concat([head('pres-3'), pbBytes(4, Buffer.alloc(0))]), TERMINAL_KEY)).refusal).toMatchObject({ errorField: 'lines' });
    expect((await rawUnary(door.port, 'Refund', Buffer.concat([head('pres-4'), pbVarint(5, 0)]), TERMINAL_KEY)).refusal).toMatchObject({ errorField: 'amount' });
    expect(await parts('PRES-1')).toMatchObject({ balance: 963, transactions: 3 });

    // A free item: unit_price 0 sent is 0; unit_price absent is refused.
    const evaluate = (line: Buffer) => Buffer.concat([pbBytes(1, OUTLET), pbBytes(2, CHECK_TIME), pbBytes(3, 'RUB'), pbBytes(4, 'PRES-1'), pbBytes(5, line)]);
    const free = await rawUnary(door.port, 'Evaluate', evaluate(Buffer.concat([pbBytes(1, 'gift'), pbVarint(3, 1), pbVarint(4, 0)])), TERMINAL_KEY);
    expect(decode('Evaluate', free.reply)).toMatchObject({ total: 0, accrue: 0 });
    const unpriced = await rawUnary(door.port, 'Evaluate', evaluate(Buffer.concat([pbBytes(1, 'gift'), pbVarint(3, 1)])), TERMINAL_KEY);
    expect(unpriced.refusal).toMatchObject({ code: S.INVALID_ARGUMENT, errorField: 'lines[0].unitPrice' });
    // `hold` false sent is a read, like absent.
    const notHeld = await rawUnary(door.port, 'Evaluate', Buffer.concat([evaluate(Buffer.concat([pbBytes(1, 'a'), pbVarint(3, 1), pbVarint(4, 10_000)])), pbVarint(6, 100), pbVarint(7, 0)]), TERMINAL_KEY);
    expect(decode('Evaluate', notHeld.reply)).toMatchObject({ pointsToSpend: 100, holdId: '' });
    expect(await parts('PRES-1')).toMatchObject({ held: 0 });
  });

  it('holds, commits, cancels and refunds on the stream, each with its id', async () => {
    await guestWithPoints('SH-1');
    const s = client.stream(TERMINAL_KEY);
    const ev = (await s.send(1, { evaluate: check('SH-1', { pointsToSpend: 700, hold: true }) })).evaluate;
    expect(ev).toMatchObject({ pointsToSpend: 700, holdId: expect.stringMatching(/\.h\d+$/), holdExpiresAt: expect.stringMatching(/Z$/) });
    const bal = await s.send(2, { balance: { outlet: OUTLET, card: 'SH-1', limit: 0 } });
    expect(bal).toEqual({ id: 2, reply: 'balance', balance: { guestId: ev.guestId, balance: 1_000, available: 300, pending: 0, held: 700, expiring: 0, transactions: [], accounts: [] } });

    const posted = await s.send(3, { commit: commit('SH-1', 'sh-post', { pointsSpent: 400, holdId: ev.holdId }) });
    expect(posted).toMatchObject({ id: 3, reply: 'commit', commit: { outcome: 'ok', spent: 400, accrued: 980, balance: 1_580 } });
    expect((await s.send(4, { commit: commit('SH-1', 'sh-again', { pointsSpent: 400, holdId: ev.holdId }) })).commit.outcome).toBe('hold_already_resolved');
    expect((await s.send(5, { balance: { outlet: OUTLET, card: 'SH-1', limit: 0 } })).balance).toMatchObject({ available: 1_580, held: 0 });

    const h2 = (await s.send(6, { evaluate: check('SH-1', { pointsToSpend: 100, hold: true }) })).evaluate;
    expect(await s.send(7, { cancel: { outlet: OUTLET, holdId: h2.holdId } })).toEqual({
      id: 7, reply: 'cancel', cancel: { outcome: 'ok', holdId: h2.holdId, guestId: ev.guestId, available: 1_580 },
    });
    expect((await s.send(8, { cancel: { outlet: OUTLET, holdId: h2.holdId } })).cancel.outcome).toBe('hold_already_resolved');
    expect((await s.send(9, { cancel: { outlet: OUTLET, holdId: `${ev.guestId}.h99` } })).cancel.outcome).toBe('hold_not_found');

    const tx = posted.commit.transactionId;
    // 100.00 of 200.00: half of the 980 accrued (490) and of the 400 spent (200).
    expect(await s.send(10, { refund: refund('sh-r1', tx, byLines([0, 1])) })).toMatchObject({
      id: 10, reply: 'refund', refund: { outcome: 'ok', transactionId: tx, returned: 10_000, accrualReversed: 490, spentRestored: 200, balance: 1_580 - 490 + 200, checkStatus: 'partially_returned' },
    });
    expect((await s.send(11, { refund: refund('sh-r2', tx, { amount: 5_000 }) })).refund).toMatchObject({ outcome: 'ok', returned: 5_000, checkStatus: 'partially_returned' });
    expect((await s.send(12, { refund: refund('sh-r3', tx, byLines([1, 1])) })).refund.outcome).toBe('refund_exceeds_check');
    expect((await s.send(13, { refund: refund('sh-r4', tx) })).refund).toMatchObject({ outcome: 'ok', returned: 5_000, checkStatus: 'returned' });
    expect((await s.send(14, { refund: refund('sh-r5', tx) })).refund.outcome).toBe('already_returned');
    expect((await s.send(15, { refund: refund('sh-r6', `${ev.guestId}.999`) })).refund.outcome).toBe('transaction_not_found');

    // Errors come back for their id; the stream stays open.
    const errors = await Promise.all([
      s.send(16, { refund: refund('sh-bad', 'abc') }),
      s.send(17, { refund: refund('sh-bad', tx, { amount: 0 }) }),
      s.send(18, { cancel: { outlet: OUTLET, holdId: 'abc' } }),
      s.send(19, { commit: commit('SH-1', 'sh-bad', { holdId: 'abc' }) }),
      s.send(20, { balance: { outlet: OUTLET, card: 'SH-1', expiringWithinDays: -1 } }),
    ]);
    expect(errors.map((a) => [a.id, a.error?.code, a.error?.field])).toEqual([
      [16, 'invalid_field', 'transactionId'],
      [17, 'invalid_field', 'amount'],
      [18, 'invalid_field', 'holdId'],
      [19, 'invalid_field', 'holdId'],
      [20, 'invalid_field', 'expiringWithinDays'],
    ]);
    expect((await s.send(21, { identify: { outlet: OUTLET, card: 'SH-1' } })).identify.balance).toBe(1_000);
    expect((await s.end()).code).toBe(S.OK);
    expect(s.unmatched).toEqual([]);
  });

  const adjust = (idempotencyKey: string, card: string, points: number, extra: Record<string, unknown> = {}) => ({
    outlet: OUTLET, idempotencyKey, card, points, reason: 'complaint #17', operator: 'anna', ...extra,
  });

  it('adjusts points by hand, once per key, never taking more than is available', async () => {
    const before = await guestWithPoints('ADJ-1');
    const guestId = (await client.call('Identify', { outlet: OUTLET, card: 'ADJ-1' }, TERMINAL_KEY)).guestId;

    const add = await client.call('Adjust', adjust('adj-1', 'ADJ-1', 1_234), TERMINAL_KEY);
    expect(add).toEqual({ outcome: 'ok', transactionId: expect.stringMatching(new RegExp(`^${guestId}\\.\\d+$`)), guestId, balance: 2_234 });
    const afterAdd = await ledger('ADJ-1');
    expect(afterAdd).toEqual({ balance: before.balance + 1_234, transactions: before.transactions + 1 });
    expect(await parts('ADJ-1')).toMatchObject({ balance: 2_234, available: 2_234 });

    // The same key: the first answer; with another body: which field differs. Nothing applied.
    expect(await client.call('Adjust', adjust('adj-1', 'ADJ-1', 1_234), TERMINAL_KEY)).toEqual({ ...add, outcome: 'exists' });
    expect(await client.call('Adjust', adjust('adj-1', 'ADJ-1', 1_000), TERMINAL_KEY)).toEqual({ ...add, outcome: 'exists_with_different_points' });
    expect(await client.call('Adjust', adjust('adj-1', 'ADJ-1', -1_234), TERMINAL_KEY)).toEqual({ ...add, outcome: 'exists_with_different_points' });
    expect(await client.call('Adjust', adjust('adj-1', 'ADJ-1', 1_234, { reason: 'another' }), TERMINAL_KEY)).toEqual({ ...add, outcome: 'exists_with_different_reason' });
    expect(await ledger('ADJ-1')).toEqual(afterAdd);

    // Taking more than is available: an outcome, nothing applied, remembered under its key.
    const over = await client.call('Adjust', adjust('adj-2', 'ADJ-1', -2_235), TERMINAL_KEY);
    expect(over).toEqual({ outcome: 'insufficient_points', transactionId: '', guestId, balance: 2_234 });
    expect(await ledger('ADJ-1')).toEqual(afterAdd);
    expect(await client.call('Adjust', adjust('adj-2', 'ADJ-1', -2_235), TERMINAL_KEY)).toEqual(over);
    expect(await ledger('ADJ-1')).toEqual(afterAdd);
    // Held points are not available to take either.
    const hold = await client.call('Evaluate', check('ADJ-1', { pointsToSpend: 2_000, hold: true }), TERMINAL_KEY);
    expect((await client.call('Adjust', adjust('adj-3', 'ADJ-1', -300), TERMINAL_KEY)).outcome).toBe('insufficient_points');
    expect((await client.call('Cancel', { outlet: OUTLET, holdId: hold.holdId }, TERMINAL_KEY)).outcome).toBe('ok');
    expect(await ledger('ADJ-1')).toEqual(afterAdd);

    // Adjustment keys are apart from commit keys.
    const take = await client.call('Adjust', adjust('ADJ-1-first', 'ADJ-1', -234, { reason: 'correction' }), TERMINAL_KEY);
    expect(take).toMatchObject({ outcome: 'ok', guestId, balance: 2_000 });
    expect(await parts('ADJ-1')).toEqual({ balance: 2_000, available: 2_000, held: 0, transactions: 3 });

    // The journal shows them as `adjustment`, the signed points as `accrued`, newest first.
    const history = await client.call('Balance', { outlet: OUTLET, card: 'ADJ-1', limit: 3 }, TERMINAL_KEY);
    expect(history.transactions.slice(0, 2)).toEqual([
      { transactionId: take.transactionId, kind: 'adjustment', time: expect.stringMatching(/Z$/), outlet: OUTLET, total: 0, spent: 0, accrued: -234, balanceAfter: 2_000, operator: 'anna', reason: 'correction', original: '', pointsAccount: '' },
      { transactionId: add.transactionId, kind: 'adjustment', time: expect.stringMatching(/Z$/), outlet: OUTLET, total: 0, spent: 0, accrued: 1_234, balanceAfter: 2_234, operator: 'anna', reason: 'complaint #17', original: '', pointsAccount: '' },
    ]);
    expect(history.transactions[2]).toMatchObject({ kind: 'check' });
  });

  it('refuses what an adjustment cannot be, from any client, and changes nothing', async () => {
    const before = await guestWithPoints('ADJ-2');
    const cases: [Record<string, unknown>, string][] = [
      // A protobuf.js client sends an explicit 0; it reaches the validator as 0.
      [adjust('adj2-a', 'ADJ-2', 0), 'points'],
      [adjust('adj2-b', 'ADJ-2', 100_000_000_001), 'points'],
      [adjust('adj2-c', 'ADJ-2', -100_000_000_001), 'points'],
      [adjust('adj2-d', 'ADJ-2', 100, { reason: '' }), 'reason'],
      [adjust('adj2-e', 'ADJ-2', 100, { reason: 'r'.repeat(201) }), 'reason'],
      [adjust('adj2-f', 'ADJ-2', 100, { operator: '' }), 'operator'],
      [adjust('', 'ADJ-2', 100), 'idempotencyKey'],
      [adjust('adj2-g', '', 100), 'card'],
    ];
    for (const [request, field] of cases) {
      const r = await client.refusal('Adjust', request, TERMINAL_KEY);
      expect(r, field).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: field });
      expect(r.details).toContain(field);
      expect(await ledger('ADJ-2')).toEqual(before);
    }
    expect((await client.refusal('Adjust', adjust('adj2-a', 'ADJ-2', 0), TERMINAL_KEY)).details).toContain('must not be 0');

    // A protoc-generated client leaves a 0 off the wire: absent points are refused the same way.
    const head = (key: string) => Buffer.concat([pbBytes(1, OUTLET), pbBytes(2, key), pbBytes(3, 'ADJ-2')]);
    const tail = Buffer.concat([pbBytes(5, 'goodwill'), pbBytes(6, 'anna')]);
    for (const points of [Buffer.alloc(0), pbVarint(4, 0)]) {
      const { refusal } = await rawUnary(door.port, 'Adjust', Buffer.concat([head('adj2-raw'), points, tail]), TERMINAL_KEY);
      expect(refusal).toMatchObject({ code: S.INVALID_ARGUMENT, errorCode: 'invalid_field', errorField: 'points' });
    }
    // Points as a double or a string (a client ignoring the schema) are refused too.
    for (const points of [pbDouble(4, 1.5), pbBytes(4, '100')]) {
      const { refusal } = await rawUnary(door.port, 'Adjust', Buffer.concat([head('adj2-raw'), points, tail]), TERMINAL_KEY);
      expect(refusal?.code).toBe(S.INVALID_ARGUMENT);
      expect(['bad_request', 'invalid_field']).toContain(refusal?.errorCode);
    }
    expect(await ledger('ADJ-2')).toEqual(before);

    // Another outlet's key, no key: refused before anything is applied.
    expect(await client.refusal('Adjust', adjust('adj2-o', 'ADJ-2', 100), OTHER_TERMINAL_KEY)).toMatchObject({
      code: S.PERMISSION_DENIED, errorCode: 'forbidden_outlet', errorField: 'outlet',
    });
    expect(await client.refusal('Adjust', adjust('adj2-u', 'ADJ-2', 100), undefined)).toMatchObject({ code: S.UNAUTHENTICATED, errorCode: 'unauthorized' });
    expect(await ledger('ADJ-2')).toEqual(before);

    // A negative number from a raw client travels as a 10-byte varint; a key refused with an error stays free.
    const taken = await rawUnary(door.port, 'Adjust', Buffer.concat([head('adj2-raw'), pbVarint(4, -250), tail]), TERMINAL_KEY);
    expect(kopilkaClientClass().service.Adjust!.responseDeserialize(taken.reply!)).toMatchObject({ outcome: 'ok', balance: before.balance - 250 });
    expect((await client.call('Adjust', adjust('adj2-a', 'ADJ-2', 100), TERMINAL_KEY)).outcome).toBe('ok');
    expect(await ledger('ADJ-2')).toEqual({ balance: before.balance - 250 + 100, transactions: before.transactions + 2 });
  });

  it('adjusts on the stream, each answer with its id, and refuses for the id alone', async () => {
    const before = await guestWithPoints('ADJ-S');
    const guestId = (await client.call('Identify', { outlet: OUTLET, card: 'ADJ-S' }, TERMINAL_KEY)).guestId;
    const s = client.stream(TERMINAL_KEY);
    const add = await s.send(1, { adjust: adjust('adjs-1', 'ADJ-S', 500) });
    expect(add).toEqual({ id: 1, reply: 'adjust', adjust: { outcome: 'ok', transactionId: expect.stringMatching(new RegExp(`^${guestId}\\.\\d+$`)), guestId, balance: 1_500 } });
    const after = await ledger('ADJ-S');
    expect(after).toEqual({ balance: before.balance + 500, transactions: before.transactions + 1 });

    expect(await s.send(2, { adjust: adjust('adjs-1', 'ADJ-S', 500) })).toEqual({ id: 2, reply: 'adjust', adjust: { ...add.adjust, outcome: 'exists' } });
    expect((await s.send(3, { adjust: adjust('adjs-1', 'ADJ-S', 501) })).adjust).toEqual({ ...add.adjust, outcome: 'exists_with_different_points' });
    expect(await ledger('ADJ-S')).toEqual(after);
    expect(await s.send(4, { adjust: adjust('adjs-2', 'ADJ-S', -1_501) })).toEqual({
      id: 4, reply: 'adjust', adjust: { outcome: 'insufficient_points', transactionId: '', guestId, balance: 1_500 },
    });
    expect(await ledger('ADJ-S')).toEqual(after);

    // Errors come back for their id; the stream stays open.
    const errors = await Promise.all([
      s.send(5, { adjust: adjust('adjs-3', 'ADJ-S', 0) }),
      s.send(6, { adjust: adjust('adjs-3', 'ADJ-S', 100, { reason: '' }) }),
      s.send(7, { adjust: adjust('adjs-3', 'ADJ-S', 100, { operator: '' }) }),
      s.send(8, { adjust: adjust('adjs-3', 'NOBODY', 100) }),
    ]);
    expect(errors.map((a) => [a.id, a.error?.code, a.error?.field])).toEqual([
      [5, 'invalid_field', 'points'],
      [6, 'invalid_field', 'reason'],
      [7, 'invalid_field', 'operator'],
      [8, 'card_not_found', 'card'],
    ]);
    expect(await ledger('ADJ-S')).toEqual(after);
    // A key refused with an error stays free; keys are per outlet, across unary and stream.
    expect((await s.send(9, { adjust: adjust('adjs-3', 'ADJ-S', -500) })).adjust).toMatchObject({ outcome: 'ok', balance: 1_000 });
    expect((await client.call('Adjust', adjust('adjs-1', 'ADJ-S', 500), TERMINAL_KEY)).outcome).toBe('exists');
    expect((await s.end()).code).toBe(S.OK);
    expect(s.unmatched).toEqual([]);
    const final = await ledger('ADJ-S');
    expect(final).toEqual({ balance: before.balance, transactions: before.transactions + 2 });

    // Another outlet's key on its own stream: refused per request, nothing applied, the stream stays open.
    const other = client.stream(OTHER_TERMINAL_KEY);
    expect(await other.send(1, { adjust: adjust('adjs-o', 'ADJ-S', 100) })).toMatchObject({ id: 1, error: { code: 'forbidden_outlet', field: 'outlet' } });
    expect(await other.send(2, { adjust: adjust('adjs-o', 'ADJ-S', -100_000) })).toMatchObject({ id: 2, error: { code: 'forbidden_outlet' } });
    expect((await other.send(3, { identify: { outlet: 'outlet-2', card: 'ADJ-S' } })).identify.balance).toBe(before.balance);
    expect((await other.end()).code).toBe(S.OK);
    expect(await ledger('ADJ-S')).toEqual(final);
  });

  it('counts every request in the metrics, by door', async () => {
    const m = t.engine.metrics;
    const value = async (metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number; metricName?: string }[] }> }, labels: Record<string, string>, name?: string) => {
      const found = (await metric.get()).values.find(
        (v) => (name === undefined || v.metricName === name) && Object.entries(labels).every(([k, x]) => v.labels[k] === x),
      );
      return found?.value ?? 0;
    };
    await client.call('Register', { outlet: OUTLET, card: 'MET-1' }, TERMINAL_KEY);
    const unaryBefore = await value(m.requests, { door: 'grpc', op: 'commit' });
    const streamBefore = await value(m.requests, { door: 'grpc_stream', op: 'commit' });
    const errorsBefore = await value(m.errors, { door: 'grpc', op: 'commit', code: 'invalid_field' });
    const okBefore = await value(m.outcomes, { outcome: 'ok' });
    const durationBefore = await value(m.duration, { door: 'grpc_stream', op: 'commit' }, 'kopilka_request_duration_seconds_count');
    const cancelBefore = await value(m.requests, { door: 'grpc', op: 'cancel' });
    const refundBefore = await value(m.requests, { door: 'grpc_stream', op: 'refund' });
    const refundErrorsBefore = await value(m.errors, { door: 'grpc_stream', op: 'refund', code: 'invalid_field' });

    await client.call('Commit', commit('MET-1', 'met-1'), TERMINAL_KEY);
    await client.refusal('Commit', commit('MET-1', 'met-2', { currency: 'x' }), TERMINAL_KEY);
    const s = client.stream(TERMINAL_KEY);
    const met3 = (await s.send(1, { commit: commit('MET-1', 'met-3') })).commit;
    await s.send(2, { refund: { outlet: OUTLET, idempotencyKey: 'met-r1', transactionId: met3.transactionId, amount: 100 } });
    await s.send(3, { refund: { outlet: OUTLET, idempotencyKey: 'met-r2', transactionId: 'x' } });
    await s.end();
    await client.call('Cancel', { outlet: OUTLET, holdId: `${met3.guestId}.h9` }, TERMINAL_KEY);

    expect(await value(m.requests, { door: 'grpc', op: 'commit' })).toBe(unaryBefore + 2);
    expect(await value(m.requests, { door: 'grpc_stream', op: 'commit' })).toBe(streamBefore + 1);
    expect(await value(m.errors, { door: 'grpc', op: 'commit', code: 'invalid_field' })).toBe(errorsBefore + 1);
    expect(await value(m.outcomes, { outcome: 'ok' })).toBe(okBefore + 2);
    expect(await value(m.duration, { door: 'grpc_stream', op: 'commit' }, 'kopilka_request_duration_seconds_count')).toBe(durationBefore + 1);
    expect(await value(m.requests, { door: 'grpc', op: 'cancel' })).toBe(cancelBefore + 1);
    expect(await value(m.requests, { door: 'grpc_stream', op: 'refund' })).toBe(refundBefore + 2);
    expect(await value(m.errors, { door: 'grpc_stream', op: 'refund', code: 'invalid_field' })).toBe(refundErrorsBefore + 1);
    // Commit outcomes count commits only.
    expect(await value(m.outcomes, { outcome: 'ok' })).toBe(okBefore + 2);
  });
});

describe('gRPC door balance views', () => {
  it('reports available, pending, held and expiring, unary and on the stream', async () => {
    const t = await startEngine();
    const door = await startGrpcDoor({ engine: t.engine });
    const client = new KopilkaTestClient(door.port);
    try {
      const check = (card: string, extra: Record<string, unknown> = {}) => ({ outlet: OUTLET, time: CHECK_TIME, currency: 'RUB', card, lines: lines(2, 10_000), ...extra });
      const balance = (extra: Record<string, unknown> = {}) => client.call('Balance', { outlet: OUTLET, card: 'VIEW-1', limit: 0, ...extra }, TERMINAL_KEY);
      // Points that burn a month after their accrual, at local midnight.
      t.engine.applyConfig(testSnapshot(2, { ...DEMO_PROGRAM, expiryMonths: 1 }));
      await client.call('Register', { outlet: OUTLET, card: 'VIEW-1' }, TERMINAL_KEY);
      expect(await client.call('Commit', check('VIEW-1', { idempotencyKey: 'view-1' }), TERMINAL_KEY)).toMatchObject({ outcome: 'ok', configVersion: 2, accrued: 1_000 });
      // Points that also wait a day for their activation.
      t.engine.applyConfig(testSnapshot(3, { ...DEMO_PROGRAM, expiryMonths: 1, activationDelayDays: 1 }));
      expect(await client.call('Commit', check('VIEW-1', { idempotencyKey: 'view-2' }), TERMINAL_KEY)).toMatchObject({ outcome: 'ok', configVersion: 3, accrued: 1_000 });
      const hold = await client.call('Evaluate', check('VIEW-1', { pointsToSpend: 300, hold: true }), TERMINAL_KEY);
      expect(hold).toMatchObject({ balance: 2_000, available: 1_000, pointsMax: 1_000, pointsToSpend: 300, holdId: expect.stringMatching(/\.h1$/) });

      // The active lot expires in 28..31 days: within 40, not within 0.
      const view = { guestId: hold.guestId, balance: 2_000, available: 700, pending: 1_000, held: 300, transactions: [], accounts: [] };
      expect(await balance({ expiringWithinDays: 40 })).toEqual({ ...view, expiring: 1_000 });
      expect(await balance({ expiringWithinDays: 0 })).toEqual({ ...view, expiring: 0 });
      // `expiringWithinDays` is `optional`: absent is the default, 30 (not 0).
      expect((await balance()).expiring).toBe((await balance({ expiringWithinDays: 30 })).expiring);
      expect(await client.call('Evaluate', check('VIEW-1', { pointsToSpend: 1_000 }), TERMINAL_KEY)).toMatchObject({ available: 700, pointsMax: 700 });
      expect((await client.call('Commit', check('VIEW-1', { idempotencyKey: 'view-3', pointsSpent: 701 }), TERMINAL_KEY)).outcome).toBe('insufficient_points');

      const s = client.stream(TERMINAL_KEY);
      expect(await s.send(1, { balance: { outlet: OUTLET, card: 'VIEW-1', limit: 0, expiringWithinDays: 40 } })).toEqual({ id: 1, reply: 'balance', balance: { ...view, expiring: 1_000 } });
      expect((await s.send(2, { balance: { outlet: OUTLET, card: 'VIEW-1', limit: 0, expiringWithinDays: 0 } })).balance.expiring).toBe(0);
      expect((await s.send(3, { cancel: { outlet: OUTLET, holdId: hold.holdId } })).cancel).toMatchObject({ outcome: 'ok', available: 1_000 });
      expect((await s.send(4, { balance: { outlet: OUTLET, card: 'VIEW-1', limit: 2 } })).balance).toMatchObject({
        balance: 2_000, available: 1_000, pending: 1_000, held: 0, transactions: [{ kind: 'check', accrued: 1_000, balanceAfter: 2_000 }, { kind: 'check', balanceAfter: 1_000 }],
      });
      expect((await s.end()).code).toBe(S.OK);
    } finally {
      client.close();
      await door.close(1_000);
      await t.close();
    }
  });
});

describe('gRPC door shutdown', () => {
  it('finishes calls in flight, then cuts streams left open after the grace period', async () => {
    const t = await startEngine();
    const door = await startGrpcDoor({ engine: t.engine });
    const client = new KopilkaTestClient(door.port);
    try {
      const s = client.stream(TERMINAL_KEY);
      expect((await s.send(1, { register: { outlet: OUTLET, card: 'CLOSE-1' } })).register.outcome).toBe('ok');
      const started = Date.now();
      await door.close(300);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect((await s.status).code).not.toBe(S.OK);
      expect((await client.refusal('Identify', { outlet: OUTLET, card: 'CLOSE-1' }, TERMINAL_KEY)).code).toBe(S.UNAVAILABLE);
    } finally {
      client.close();
      await t.close();
    }
  });
});
