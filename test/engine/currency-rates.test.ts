// Checks in other currencies, at the rates the organization publishes: a real engine
// (LMDB in a temp dir) running a snapshot with rates, then its HTTP and gRPC doors.
// Exact converted totals and accrual, rounding half up per unit price, a currency with
// no minor unit, retries keyed by the check as sent, refunds in the organization's
// money, and the negative space: unlisted currencies, malformed rates, limits.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcDoor } from '../../dist/adapters/grpc-door.js';
import { startUwsDoor } from '../../dist/adapters/uws-door.js';
import { convertCheck } from '../../dist/engine/currency-rates.js';
import type { ConfigSnapshot, CurrencyRate } from '../../dist/protocol/config.js';
import { CHECK_TIME, OUTLET, TERMINAL_KEY, startEngine, testSnapshot } from '../helpers/engine.js';
import { KopilkaTestClient } from '../helpers/grpc-client.js';

const EUR = { currency: 'EUR', rate: '95.4321' };
const JPY = { currency: 'JPY', rate: '0.6123' };

function withRates(version: number, rates: unknown): ConfigSnapshot {
  const s = testSnapshot(version);
  s.organization.currencyRates = rates as CurrencyRate[];
  return s;
}

// 50.00 EUR × 95.4321 = 4771.605 RUB: 477160.5 kopecks, half up to 477161.
// 0.01 EUR × 95.4321 = 95.4321 kopecks → 95 per unit, × 3 = 285 (not 286, the
// rounded line total: the unit price is what is converted).
const eurLines = [
  { itemCode: 'WINE', category: 'wine', quantity: 1, unitPrice: 5_000 },
  { itemCode: 'MINT', category: 'sweets', quantity: 3, unitPrice: 1 },
];
const eurTotal = 477_161 + 285;
// 5% of the money paid, in hundredths of a point (1 point = 1.00 RUB): floor(477446 × 0.05).
const eurAccrue = 23_872;

const evaluate = (card: string, currency: string, lines: unknown[], extra: Record<string, unknown> = {}) =>
  ({ outlet: OUTLET, time: CHECK_TIME, currency, card, lines, ...extra }) as any;
const commit = (card: string, key: string, currency: string, lines: unknown[], extra: Record<string, unknown> = {}) =>
  ({ outlet: OUTLET, idempotencyKey: key, time: CHECK_TIME, currency, card, lines, pointsSpent: 0, ...extra }) as any;

describe('checks in other currencies', () => {
  let t: Awaited<ReturnType<typeof startEngine>>;
  beforeAll(async () => {
    t = await startEngine({ shards: 4, threads: 2 });
    t.engine.applyConfig(withRates(2, [EUR, JPY]));
    for (const card of ['FX-1', 'FX-2', 'FX-3', 'FX-4']) await t.engine.execute('register', { outlet: OUTLET, card });
  });
  afterAll(async () => {
    await t.close();
  });

  it('evaluates a EUR check in roubles, rounding each unit price half up, and names the rate', async () => {
    const ev = await t.engine.execute('evaluate', evaluate('FX-1', 'EUR', eurLines));
    expect(ev).toMatchObject({ total: eurTotal, moneyToPay: eurTotal, accrue: eurAccrue, checkCurrency: 'EUR', rate: '95.4321', configVersion: 2 });
    // The same answer as for the converted check sent in roubles, but for the two fields.
    const rub = await t.engine.execute('evaluate', evaluate('FX-1', 'RUB', [
      { ...eurLines[0], unitPrice: 477_161 },
      { ...eurLines[1], unitPrice: 95 },
    ]));
    expect(rub.checkCurrency).toBeUndefined();
    expect(rub.rate).toBeUndefined();
    expect(ev).toEqual({ ...rub, checkCurrency: 'EUR', rate: '95.4321' });
  });

  it('names the rate on an evaluate with a hold, answered by the shard', async () => {
    const ev = await t.engine.execute('evaluate', evaluate('FX-1', 'EUR', eurLines, { hold: true }));
    expect(ev).toMatchObject({ total: eurTotal, accrue: eurAccrue, checkCurrency: 'EUR', rate: '95.4321' });
  });

  it('converts a JPY check, whose currency has no minor unit', async () => {
    // ¥1500 × 0.6123 = 918.45 RUB exactly; ¥7 × 0.6123 = 4.2861 RUB → 428.61 kopecks → 429.
    const lines = [
      { itemCode: 'RAMEN', quantity: 1, unitPrice: 1_500 },
      { itemCode: 'TEA', quantity: 1, unitPrice: 7 },
    ];
    const ev = await t.engine.execute('evaluate', evaluate('FX-2', 'JPY', lines));
    expect(ev).toMatchObject({ total: 91_845 + 429, accrue: 4_613, checkCurrency: 'JPY', rate: '0.6123' });
  });

  it('converts a POS discount by itself, never above its converted line', () => {
    const config = withRates(9, [{ currency: 'USD', rate: '0.4' }]);
    const check = { currency: 'USD', lines: [{ itemCode: 'X', quantity: 3, unitPrice: 1, posDiscount: 3 }, { itemCode: 'Y', quantity: 1, unitPrice: 1_000, posDiscount: 125 }] };
    // 0.01 USD × 0.4 = 0.4 kopecks → 0 per unit: the line is 0, so is its discount;
    // 1.25 USD × 0.4 = 50 kopecks.
    expect(convertCheck(config, check)!.req.lines).toEqual([
      { itemCode: 'X', quantity: 3, unitPrice: 0 },
      { itemCode: 'Y', quantity: 1, unitPrice: 400, posDiscount: 50 },
    ]);
    // A minor unit given by the entry: 1 unit of 3 digits at 245.5 RUB = 24.55 kopecks → 25.
    const kwd = withRates(9, [{ currency: 'XYZ', rate: '245.5', minorDigits: 3 }]);
    expect(convertCheck(kwd, { currency: 'XYZ', lines: [{ itemCode: 'Z', quantity: 1, unitPrice: 1 }] })!.req.lines[0]!.unitPrice).toBe(25);
    expect(convertCheck(kwd, { currency: 'RUB', lines: [] })).toBeUndefined();
  });

  it('commits a EUR check exactly, answers a retry with the first answer, and a refund returns roubles', async () => {
    const first = await t.engine.execute('commit', commit('FX-3', 'fx-c1', 'EUR', eurLines));
    expect(first).toMatchObject({ outcome: 'ok', total: eurTotal, accrued: eurAccrue, balance: eurAccrue, checkCurrency: 'EUR', rate: '95.4321' });
    expect(await t.engine.execute('commit', commit('FX-3', 'fx-c1', 'EUR', eurLines))).toEqual({ ...first, outcome: 'exists' });
    // The same key for the check converted by hand is another check: it came in roubles.
    const asRub = commit('FX-3', 'fx-c1', 'RUB', [{ ...eurLines[0], unitPrice: 477_161 }, { ...eurLines[1], unitPrice: 95 }]);
    expect((await t.engine.execute('commit', asRub)).outcome).toBe('exists_with_different_currency');
    expect((await t.engine.execute('commit', commit('FX-3', 'fx-c1', 'EUR', eurLines.slice(0, 1)))).outcome).toBe('exists_with_different_lines');

    const bal = await t.engine.execute('balance', { outlet: OUTLET, card: 'FX-3', limit: 5 });
    expect(bal.transactions[0]).toMatchObject({ kind: 'check', total: eurTotal, accrued: eurAccrue });

    const refund = await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'fx-r1', transactionId: first.transactionId, lines: [{ line: 1, quantity: 3 }] });
    expect(refund).toMatchObject({ outcome: 'ok', returned: 285, checkStatus: 'partially_returned' });
    const rest = await t.engine.execute('refund', { outlet: OUTLET, idempotencyKey: 'fx-r2', transactionId: first.transactionId, amount: 477_161 });
    expect(rest).toMatchObject({ outcome: 'ok', returned: 477_161, checkStatus: 'returned', balance: 0 });
  });

  it('after a rate change converts new checks at the new rate, and a retry still answers the first commit', async () => {
    const first = await t.engine.execute('commit', commit('FX-4', 'fx-c2', 'EUR', eurLines));
    expect(first).toMatchObject({ outcome: 'ok', total: eurTotal, rate: '95.4321' });
    expect(t.engine.applyConfig(withRates(3, [{ ...EUR, rate: '100' }, JPY]))).toBe(true);

    const ev = await t.engine.execute('evaluate', evaluate('FX-4', 'EUR', eurLines));
    expect(ev).toMatchObject({ total: 500_000 + 300, checkCurrency: 'EUR', rate: '100', configVersion: 3 });
    // Keyed by the check as sent: the same body is the same check, whatever the rate now.
    const again = await t.engine.execute('commit', commit('FX-4', 'fx-c2', 'EUR', eurLines));
    expect(again).toEqual({ ...first, outcome: 'exists' });
    const bal = await t.engine.execute('balance', { outlet: OUTLET, card: 'FX-4', limit: 5 });
    expect(bal.transactions).toHaveLength(1);
    expect(bal.balance).toBe(eurAccrue);

    const second = await t.engine.execute('commit', commit('FX-4', 'fx-c3', 'EUR', eurLines));
    expect(second).toMatchObject({ outcome: 'ok', total: 500_300, accrued: 25_015, rate: '100' });
  });

  it('refuses a currency with no rate with currency_mismatch, on evaluate and commit', async () => {
    await expect(t.engine.execute('evaluate', evaluate('FX-1', 'USD', eurLines))).rejects.toMatchObject({ code: 'currency_mismatch', field: 'currency' });
    await expect(t.engine.execute('commit', commit('FX-1', 'fx-usd', 'USD', eurLines))).rejects.toMatchObject({ code: 'currency_mismatch', field: 'currency' });
    // Refused with an error: the key stays free.
    expect((await t.engine.execute('commit', commit('FX-1', 'fx-usd', 'EUR', eurLines))).outcome).toBe('ok');
  });

  it('refuses a check whose converted lines pass the limits, naming the line', async () => {
    t.engine.applyConfig(withRates(4, [EUR, { currency: 'GBP', rate: '999999999' }]));
    const big = [{ itemCode: 'GOLD', quantity: 1, unitPrice: 1_000_000 }];
    await expect(t.engine.execute('evaluate', evaluate('FX-1', 'GBP', big))).rejects.toMatchObject({ code: 'invalid_field', field: 'lines[0].unitPrice' });
    const many = [{ itemCode: 'GOLD', quantity: 11, unitPrice: 10 }];
    await expect(t.engine.execute('commit', commit('FX-1', 'fx-big', 'GBP', many))).rejects.toMatchObject({ code: 'invalid_field', field: 'lines' });
  });

  it('drops a conversion a caller sets: only the engine converts', async () => {
    const spoofed = { ...commit('FX-2', 'fx-spoof', 'RUB', eurLines), conversion: { currency: 'EUR', rate: '1', lines: [] } };
    const res = await t.engine.execute('commit', spoofed);
    expect(res.outcome).toBe('ok');
    expect(res.checkCurrency).toBeUndefined();
    expect(res.total).toBe(5_003);
  });

  const malformed: Array<[string, unknown, RegExp]> = [
    ['own currency', [{ currency: 'RUB', rate: '1' }], /currencyRates\[0\]\.currency must not be the organization's own currency RUB/],
    ['lower case', [{ currency: 'eur', rate: '1' }], /currencyRates\[0\]\.currency must be an ISO 4217 code/],
    ['duplicate', [EUR, { currency: 'EUR', rate: '96' }], /currencyRates\[1\]\.currency must be unique/],
    ['float rate', [{ currency: 'EUR', rate: 95.4321 }], /currencyRates\[0\]\.rate must be a positive decimal string/],
    ['exponent', [{ currency: 'EUR', rate: '1e2' }], /currencyRates\[0\]\.rate/],
    ['zero', [{ currency: 'EUR', rate: '0.000' }], /currencyRates\[0\]\.rate/],
    ['negative', [{ currency: 'EUR', rate: '-1' }], /currencyRates\[0\]\.rate/],
    ['minorDigits', [{ currency: 'EUR', rate: '1', minorDigits: 5 }], /currencyRates\[0\]\.minorDigits/],
    ['extra field', [{ currency: 'EUR', rate: '1', source: 'ECB' }], /currencyRates\[0\]\.source is not a field/],
    ['not a list', { EUR: '1' }, /currencyRates must be a list of at most 32/],
    ['33 rates', Array.from({ length: 33 }, (_, i) => ({ currency: `A${String.fromCharCode(65 + (i % 26))}${String.fromCharCode(65 + Math.floor(i / 26))}`, rate: '1' })), /at most 32/],
  ];
  it.each(malformed)('refuses to serve a version with a malformed rate (%s), keeping the one it runs', (_, rates, message) => {
    const before = t.engine.config!.version;
    expect(() => t.engine.applyConfig(withRates(before + 1, rates))).toThrow(message);
    expect(t.engine.config!.version).toBe(before);
  });
});

describe('checks in other currencies through the doors', () => {
  let t: Awaited<ReturnType<typeof startEngine>>;
  let http: Awaited<ReturnType<typeof startUwsDoor>>;
  let grpc: Awaited<ReturnType<typeof startGrpcDoor>>;
  let client: KopilkaTestClient;
  beforeAll(async () => {
    t = await startEngine({ shards: 2, threads: 1 });
    t.engine.applyConfig(withRates(2, [EUR]));
    await t.engine.execute('register', { outlet: OUTLET, card: 'FXD-1' });
    http = await startUwsDoor({ engine: t.engine, port: 0 });
    grpc = await startGrpcDoor({ engine: t.engine, port: 0 });
    client = new KopilkaTestClient(grpc.port);
  });
  afterAll(async () => {
    client?.client.close();
    await grpc?.close();
    http?.stopListening();
    http?.closeConnections();
    await t.close();
  });

  const post = async (op: string, body: unknown) => {
    const res = await fetch(`http://127.0.0.1:${http.port}/v1/${op}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TERMINAL_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as any };
  };

  it('over HTTP: evaluate and commit name the currency and rate; an unlisted currency is refused', async () => {
    const ev = await post('evaluate', evaluate('FXD-1', 'EUR', eurLines));
    expect(ev.status).toBe(200);
    expect(ev.json).toMatchObject({ total: eurTotal, accrue: eurAccrue, checkCurrency: 'EUR', rate: '95.4321' });
    const c = await post('commit', commit('FXD-1', 'fxd-1', 'EUR', eurLines));
    expect(c.json).toMatchObject({ outcome: 'ok', total: eurTotal, accrued: eurAccrue, checkCurrency: 'EUR', rate: '95.4321' });
    const rub = await post('evaluate', evaluate('FXD-1', 'RUB', eurLines));
    expect(rub.json.checkCurrency).toBeUndefined();
    const usd = await post('evaluate', evaluate('FXD-1', 'USD', eurLines));
    expect(usd.status).toBe(400);
    expect(usd.json.error).toMatchObject({ code: 'currency_mismatch', field: 'currency' });
  });

  it('over gRPC: the results carry check_currency and rate, empty for a check in roubles', async () => {
    const ev = await client.call('Evaluate', evaluate('FXD-1', 'EUR', eurLines), TERMINAL_KEY);
    expect(ev).toMatchObject({ total: eurTotal, accrue: eurAccrue, checkCurrency: 'EUR', rate: '95.4321' });
    const c = await client.call('Commit', commit('FXD-1', 'fxd-g1', 'EUR', eurLines), TERMINAL_KEY);
    expect(c).toMatchObject({ outcome: 'ok', total: eurTotal, checkCurrency: 'EUR', rate: '95.4321' });
    const again = await client.call('Commit', commit('FXD-1', 'fxd-g1', 'EUR', eurLines), TERMINAL_KEY);
    expect(again).toEqual({ ...c, outcome: 'exists' });
    const rub = await client.call('Evaluate', evaluate('FXD-1', 'RUB', eurLines), TERMINAL_KEY);
    expect(rub).toMatchObject({ total: 5_003, checkCurrency: '', rate: '' });
  });
});
