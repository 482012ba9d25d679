// A write that fails with something other than a coded refusal (a broken record, a
// failed invariant) may fail after other writes of its transaction ran. The shard then
// answers `internal` to every write of that batch, so none of them may stay behind:
// a client told `internal` retries with the same key and must get a fresh `ok`, not
// `exists` with an answer it never saw. Real LMDB files, one shard on a worker thread.

import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../dist/engine/store.js';
import { verifyStore } from '../../dist/engine/verify.js';
import { CHECK_TIME, doorCalls, lines, startEngine, tempDir } from '../helpers/engine.js';

const tmp = tempDir('kopilka-abort-');
afterAll(() => tmp.remove());

const commit = (card: string, key: string) => ({ card, idempotencyKey: key, time: CHECK_TIME, currency: 'RUB', lines: lines(2, 10_000), pointsSpent: 0 });

describe('a write transaction that throws', () => {
  it('leaves nothing of its batch behind, and the keys stay free', async () => {
    let t = await startEngine({ dataDir: tmp.dir, shards: 1, threads: 1 });
    let calls = doorCalls(() => t.engine);
    const a = await calls.run('register', { card: 'ABORT-A' });
    const b = await calls.run('register', { card: 'ABORT-B' });
    await t.close();

    // Guest B's state is broken on disk: its commit throws a TypeError in the shard.
    const store = openStore(tmp.dir);
    const state = store.states.get(b.guestId)!;
    await store.states.put(b.guestId, { ...state, points: null as never });
    await store.close();

    t = await startEngine({ dataDir: tmp.dir, shards: 1, threads: 1 });
    calls = doorCalls(() => t.engine);
    // Sent together, they reach the shard in one batch: A's commit runs first, then B's throws.
    const [ra, rb] = await Promise.allSettled([calls.run('commit', commit('ABORT-A', 'k-a')), calls.run('commit', commit('ABORT-B', 'k-b'))]);
    expect(ra.status).toBe('rejected');
    expect(rb.status).toBe('rejected');
    expect((ra as PromiseRejectedResult).reason.code).toBe('internal');
    expect((rb as PromiseRejectedResult).reason.code).toBe('internal');

    // Nothing of A's commit stayed: no points, no journal entry, and its key is free.
    const balance = await calls.run('balance', { card: 'ABORT-A', limit: 10 });
    expect(balance).toMatchObject({ balance: 0, transactions: [] });
    const retry = await calls.run('commit', commit('ABORT-A', 'k-a'));
    expect(retry).toMatchObject({ outcome: 'ok', accrued: 1_000, balance: 1_000 });
    await t.close();

    // The audit names B's broken record (and does not crash on it); once it is mended,
    // the journal explains every balance: nothing half-written.
    const audit = openStore(tmp.dir);
    try {
      expect(verifyStore(audit).differences).toEqual([
        { what: "a guest's state holds its points account (balance, lots, holds)", where: `guest ${b.guestId}`, found: 'null' },
      ]);
      await audit.states.put(b.guestId, state);
      expect(verifyStore(audit).differences).toEqual([]);
    } finally {
      await audit.close();
    }
    expect(a.guestId).not.toBe(b.guestId);
  });
});
