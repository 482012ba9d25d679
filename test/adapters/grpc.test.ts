// The gRPC door end to end: a real engine on LMDB, a real server on an ephemeral port,
// real grpc-js clients (generated and raw). After every refusal the guest's balance and
// history are read back from the engine to prove nothing changed.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcDoor, type GrpcDoor } from '../../dist/adapters/grpc-door.js';
import { connection_in_flight_max } from '../../dist/protocol/limits.js';
import { CHECK_TIME, OTHER_TERMINAL_KEY, OUTLET, TERMINAL_KEY, lines, startEngine } from '../helpers/engine.js';
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

    expect(await client.call('Identify', { outlet: OUTLET, card: 'U-1' }, TERMINAL_KEY)).toEqual({ guestId: reg.guestId, card: 'U-1', name: 'Anna', balance: 0 });

    const ev = await client.call('Evaluate', check('U-1'), TERMINAL_KEY);
    expect(ev).toEqual({ configVersion: 1, guestId: reg.guestId, total: 20_000, balance: 0, pointsMax: 0, pointsToSpend: 0, moneyToPay: 20_000, accrue: 1_000 });

    const c = await client.call('Commit', commit('U-1', 'u1-a'), TERMINAL_KEY);
    expect(c).toEqual({
      outcome: 'ok', transactionId: expect.any(String), guestId: reg.guestId, configVersion: 1,
      total: 20_000, spent: 0, accrued: 1_000, balance: 1_000,
    });
    const spend = await client.call('Commit', commit('U-1', 'u1-b', { pointsSpent: 500 }), TERMINAL_KEY);
    expect(spend).toMatchObject({ outcome: 'ok', spent: 500, balance: 1_000 - 500 + 975 });

    const bal = await client.call('Balance', { outlet: OUTLET, card: 'U-1', limit: 10 }, TERMINAL_KEY);
    expect(bal.balance).toBe(1_475);
    expect(bal.transactions).toHaveLength(2);
    expect(bal.transactions[0]).toEqual({
      transactionId: spend.transactionId, kind: 'check', time: CHECK_TIME, outlet: OUTLET,
      total: 20_000, spent: 500, accrued: 975, balanceAfter: 1_475,
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
      id: 2, reply: 'identify', identify: { guestId, card: 'S-1', name: 'Boris', balance: 0 },
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
    for (const method of ['Register', 'Identify', 'Evaluate', 'Commit', 'Balance'] as const) {
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

    await client.call('Commit', commit('MET-1', 'met-1'), TERMINAL_KEY);
    await client.refusal('Commit', commit('MET-1', 'met-2', { currency: 'x' }), TERMINAL_KEY);
    const s = client.stream(TERMINAL_KEY);
    await s.send(1, { commit: commit('MET-1', 'met-3') });
    await s.end();

    expect(await value(m.requests, { door: 'grpc', op: 'commit' })).toBe(unaryBefore + 2);
    expect(await value(m.requests, { door: 'grpc_stream', op: 'commit' })).toBe(streamBefore + 1);
    expect(await value(m.errors, { door: 'grpc', op: 'commit', code: 'invalid_field' })).toBe(errorsBefore + 1);
    expect(await value(m.outcomes, { outcome: 'ok' })).toBe(okBefore + 2);
    expect(await value(m.duration, { door: 'grpc_stream', op: 'commit' }, 'kopilka_request_duration_seconds_count')).toBe(durationBefore + 1);
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
