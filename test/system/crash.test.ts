// The promise: a commit acknowledged is durable. kill -9 in the middle of a storm
// of commits, restart, and every acknowledged commit is there exactly once.

import { describe, expect, it } from 'vitest';
import { CHECK_TIME } from '../helpers/engine.js';
import { processFixture, startProcess } from '../helpers/process.js';
import { WsClient } from '../helpers/ws-client.js';

const fx = processFixture('kopilka-crash-');

const OUTLET = 'outlet-1';
const commitBody = (card: string, key: string) => ({
  outlet: OUTLET, idempotencyKey: key, card, time: CHECK_TIME, currency: 'RUB',
  lines: [{ itemCode: 'latte', quantity: 1, unitPrice: 10_000 }],
});
// 5% of 100.00 = 5.00 = 500 hundredths of a point per commit.
const ACCRUE = 500;

describe('kill -9 under load', () => {
  it('keeps every acknowledged commit exactly once across a crash and a clean restart', async () => {
    let k = await startProcess(fx.dir, fx.env());
    const cards = Array.from({ length: 8 }, (_, i) => `CRASH-${i}`);
    const setup = await WsClient.connect(k.http, k.terminalKey);
    for (const card of cards) expect((await setup.request('register', { outlet: OUTLET, card })).result.outcome).toBe('ok');

    const acked = new Map<string, string>(); // key → transactionId
    const sent: Array<{ card: string; key: string }> = [];
    let stop = false;
    const writers = cards.map(async (card, w) => {
      const c = await WsClient.connect(k.http, k.terminalKey);
      c.ws.on('error', () => {});
      for (let n = 0; !stop; n++) {
        // 16 in flight per connection.
        const batch = Array.from({ length: 16 }, (_, j) => ({ card, key: `w${w}-${n}-${j}` }));
        sent.push(...batch);
        const replies = await Promise.race([
          Promise.all(batch.map((b) => c.request('commit', commitBody(b.card, b.key)))),
          c.closed.then(() => null),
        ]);
        if (replies === null) return;
        replies.forEach((r, j) => {
          if (r.result?.outcome === 'ok') acked.set(batch[j]!.key, r.result.transactionId);
        });
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    k.child.kill('SIGKILL');
    stop = true;
    await k.exited;
    await Promise.all(writers);
    expect(acked.size).toBeGreaterThan(100);

    k = await startProcess(fx.dir, fx.env());
    const c = await WsClient.connect(k.http, k.terminalKey);
    // Every acknowledged key answers `exists` with its first transaction.
    const ackedList = [...acked];
    for (let i = 0; i < ackedList.length; i += 512) {
      const chunk = ackedList.slice(i, i + 512);
      const replies = await Promise.all(
        chunk.map(([key]) => c.request('commit', commitBody(`CRASH-${key.slice(1, key.indexOf('-'))}`, key))),
      );
      replies.forEach((r, j) => {
        expect(r.result.outcome, chunk[j]![0]).toBe('exists');
        expect(r.result.transactionId).toBe(chunk[j]![1]);
      });
    }
    // Retrying everything sent (acknowledged or not) applies each key at most once.
    for (let i = 0; i < sent.length; i += 512) {
      const replies = await Promise.all(sent.slice(i, i + 512).map((s) => c.request('commit', commitBody(s.card, s.key))));
      for (const r of replies) expect(['ok', 'exists']).toContain(r.result.outcome);
    }
    for (const card of cards) {
      const keys = sent.filter((s) => s.card === card).length;
      const bal = await c.request('balance', { outlet: OUTLET, card, limit: 0 });
      expect(bal.result.balance, card).toBe(keys * ACCRUE);
    }
    await c.close();

    // A clean stop (SIGTERM drains) and a restart keep it all.
    k.child.kill('SIGTERM');
    expect(await k.exited).toBe(0);
    k = await startProcess(fx.dir, fx.env());
    const again = await WsClient.connect(k.http, k.terminalKey);
    for (const card of cards) {
      const keys = sent.filter((s) => s.card === card).length;
      expect((await again.request('balance', { outlet: OUTLET, card, limit: 0 })).result.balance).toBe(keys * ACCRUE);
    }
    await again.close();
    k.child.kill('SIGTERM');
    expect(await k.exited).toBe(0);
  });
});
