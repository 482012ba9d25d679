// kill -9 during a storm of commits, holds and refunds; restart: nothing
// acknowledged is lost or doubled, and `npm run verify` finds the ledger clean.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHECK_TIME } from '../helpers/engine.js';
import { processFixture, startProcess } from '../helpers/process.js';
import { WsClient } from '../helpers/ws-client.js';

const run = promisify(execFile);
const verifyScript = fileURLToPath(new URL('../../dist/scripts/verify.js', import.meta.url));
const fx = processFixture('kopilka-ledger-crash-');

const OUTLET = 'outlet-1';
const checkOf = (card: string, key: string, extra: Record<string, unknown> = {}) => ({
  outlet: OUTLET, idempotencyKey: key, card, time: CHECK_TIME, currency: 'RUB',
  lines: [{ itemCode: 'a', quantity: 2, unitPrice: 10_000 }, { itemCode: 'b', quantity: 1, unitPrice: 30_000 }], ...extra,
});

describe('kill -9 during commits and refunds', () => {
  it('loses and doubles nothing acknowledged, and verify is clean', async () => {
    let k = await startProcess(fx.dir, fx.env());
    const cards = Array.from({ length: 6 }, (_, i) => `LC-${i}`);
    const setup = await WsClient.connect(k.http, k.terminalKey);
    for (const card of cards) await setup.request('register', { outlet: OUTLET, card });

    const commits = new Map<string, { card: string; body: any; transactionId: string }>();
    const refunds = new Map<string, { card: string; body: any; refundId: string }>();
    let stop = false;
    let holds = 0;
    const writers = cards.map(async (card, w) => {
      const c = await WsClient.connect(k.http, k.terminalKey);
      c.ws.on('error', () => {});
      let n = 0;
      while (!stop) {
        const key = `w${w}-${n++}`;
        const balance = await Promise.race([c.request('balance', { outlet: OUTLET, card, limit: 0 }), c.closed.then(() => null)]);
        if (balance === null) return;
        const spend = Math.min(balance.result?.available ?? 0, 1_000);
        let body = checkOf(card, key, { pointsSpent: spend });
        if (spend > 0 && n % 3 === 0) {
          const { idempotencyKey: _, ...check } = checkOf(card, key);
          const h = await Promise.race([c.request('evaluate', { ...check, pointsToSpend: spend, hold: true }), c.closed.then(() => null)]);
          if (h === null) return;
          expect(h.error).toBeUndefined();
          if (h.result?.holdId) {
            body = checkOf(card, key, { pointsSpent: spend, holdId: h.result.holdId });
            holds++;
          }
        }
        const r = await Promise.race([c.request('commit', body), c.closed.then(() => null)]);
        if (r === null) return;
        if (r.result?.outcome === 'ok') {
          commits.set(key, { card, body, transactionId: r.result.transactionId });
          if (n % 2 === 0) {
            const rb = { outlet: OUTLET, idempotencyKey: `r-${key}`, transactionId: r.result.transactionId, lines: [{ line: 0, quantity: 1 }] };
            const rr = await Promise.race([c.request('refund', rb), c.closed.then(() => null)]);
            if (rr === null) return;
            if (rr.result?.outcome === 'ok') refunds.set(rb.idempotencyKey, { card, body: rb, refundId: rr.result.refundId });
          }
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    k.child.kill('SIGKILL');
    stop = true;
    await k.exited;
    await Promise.all(writers);
    expect(commits.size).toBeGreaterThan(20);
    expect(refunds.size).toBeGreaterThan(5);
    expect(holds).toBeGreaterThan(3);

    k = await startProcess(fx.dir, fx.env());
    const c = await WsClient.connect(k.http, k.terminalKey);
    for (const [key, { body, transactionId }] of commits) {
      const r = await c.request('commit', body);
      expect(r.result.outcome, key).toBe('exists');
      expect(r.result.transactionId).toBe(transactionId);
    }
    for (const [key, { body, refundId }] of refunds) {
      const r = await c.request('refund', body);
      expect(r.result.outcome, key).toBe('exists');
      expect(r.result.refundId).toBe(refundId);
    }
    await c.close();
    k.child.kill('SIGTERM');
    expect(await k.exited).toBe(0);

    const audit = await run(process.execPath, [verifyScript, fx.dir]);
    expect(audit.stdout).toMatch(/: clean$/m);
  });

  it('verify reports a tampered balance and exits non-zero', async () => {
    const { openStore } = await import('../../dist/engine/store.js');
    const store = openStore(fx.dir);
    const [first] = [...store.states.getRange({ limit: 1 })];
    await store.states.put(first!.key, { ...first!.value, points: { ...first!.value.points, balance: first!.value.points.balance + 1 } });
    await store.close();
    const failed = await run(process.execPath, [verifyScript, fx.dir]).then(() => null, (e: any) => e);
    expect(failed?.code).toBe(1);
    expect(failed.stdout).toMatch(/DIFFERENCE balance equals its postings/);
  });
});
