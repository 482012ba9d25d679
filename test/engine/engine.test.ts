import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_TIME, OUTLET, lines, startEngine } from '../helpers/engine.js';

describe('engine', () => {
  let t: Awaited<ReturnType<typeof startEngine>>;
  beforeAll(async () => {
    t = await startEngine();
  });
  afterAll(async () => {
    await t.close();
  });

  it('registers, evaluates and commits exactly', async () => {
    const reg = await t.engine.execute('register', { outlet: OUTLET, card: 'C-1', name: 'Anna' });
    expect(reg.outcome).toBe('ok');
    const again = await t.engine.execute('register', { outlet: OUTLET, card: 'C-1' });
    expect(again).toEqual({ outcome: 'exists', guestId: reg.guestId, card: 'C-1' });
    const ev = await t.engine.execute('evaluate', { outlet: OUTLET, card: 'C-1', time: CHECK_TIME, currency: 'RUB', lines: lines(2, 10_000), pointsToSpend: 0 });
    expect(ev).toMatchObject({ configVersion: 1, total: 20_000, balance: 0, pointsMax: 0, accrue: 1_000 });
    const c = await t.engine.execute('commit', { outlet: OUTLET, idempotencyKey: 'k1', card: 'C-1', time: CHECK_TIME, currency: 'RUB', lines: lines(2, 10_000), pointsSpent: 0 });
    expect(c).toMatchObject({ outcome: 'ok', accrued: 1_000, balance: 1_000, spent: 0 });
    const dup = await t.engine.execute('commit', { outlet: OUTLET, idempotencyKey: 'k1', card: 'C-1', time: CHECK_TIME, currency: 'RUB', lines: lines(2, 10_000), pointsSpent: 0 });
    expect(dup).toMatchObject({ outcome: 'exists', transactionId: c.transactionId, balance: 1_000 });
    const diff = await t.engine.execute('commit', { outlet: OUTLET, idempotencyKey: 'k1', card: 'C-1', time: CHECK_TIME, currency: 'RUB', lines: lines(3, 10_000), pointsSpent: 0 });
    expect(diff.outcome).toBe('exists_with_different_lines');
    const bal = await t.engine.execute('balance', { outlet: OUTLET, card: 'C-1', limit: 10 });
    expect(bal.balance).toBe(1_000);
    expect(bal.transactions).toHaveLength(1);
  });

  it('serializes 100 concurrent commits of one guest', async () => {
    await t.engine.execute('register', { outlet: OUTLET, card: 'C-2' });
    const all = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        t.engine.execute('commit', { outlet: OUTLET, idempotencyKey: `c2-${i}`, card: 'C-2', time: CHECK_TIME, currency: 'RUB', lines: lines(1, 1_000), pointsSpent: 0 }),
      ),
    );
    expect(all.every((r) => r.outcome === 'ok')).toBe(true);
    const bal = await t.engine.execute('balance', { outlet: OUTLET, card: 'C-2', limit: 0 });
    expect(bal.balance).toBe(100 * 50);
    expect(new Set(all.map((r) => r.balance)).size).toBe(100);
  });
});

describe('a shard whose worker thread dies', () => {
  it('fails its in-flight requests with shard_unavailable, comes back, and loses nothing acknowledged', async () => {
    const t = await startEngine({ shards: 2, threads: 2 });
    try {
      await t.engine.execute('register', { outlet: OUTLET, card: 'D-1' });
      const commit = (key: string) =>
        t.engine.execute('commit', { outlet: OUTLET, idempotencyKey: key, card: 'D-1', time: CHECK_TIME, currency: 'RUB', lines: lines(1, 1_000), pointsSpent: 0 });
      expect((await commit('d-0')).outcome).toBe('ok');
      // Kill every worker thread piscina runs, with commits in flight.
      const inFlight = Array.from({ length: 50 }, (_, i) => commit(`d-${i + 1}`).then((r) => r.outcome, (e) => e.code));
      const pool = (t.engine as any).pool.pool as { threads: Array<{ terminate(): Promise<number> }> };
      await Promise.all(pool.threads.map((w) => w.terminate()));
      const outcomes = await Promise.all(inFlight);
      for (const o of outcomes) expect(['ok', 'shard_unavailable']).toContain(o);
      // The shard is attached again; retrying every key applies each exactly once.
      let retried: string[] = [];
      for (let attempt = 0; attempt < 100; attempt++) {
        retried = await Promise.all(Array.from({ length: 51 }, (_, i) => commit(`d-${i}`).then((r) => r.outcome, (e) => e.code)));
        if (!retried.includes('shard_unavailable')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(retried.every((o) => o === 'ok' || o === 'exists')).toBe(true);
      expect(retried[0]).toBe('exists');
      const bal = await t.engine.execute('balance', { outlet: OUTLET, card: 'D-1', limit: 100 });
      expect(bal.balance).toBe(51 * 50);
      expect(bal.transactions).toHaveLength(51);
    } finally {
      await t.close();
    }
  });
});
