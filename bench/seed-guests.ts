// Loads N guests straight into a fresh data folder's LMDB, the way registrations
// would leave them (same ids, same card index, same per-shard counters), in large
// transactions: 100,000 guests take about a second instead of a registration storm.

import assert from 'node:assert';
import { demoSnapshot } from '../engine/demo-config.js';
import { cardShard } from '../engine/engine.js';
import { GuestActor } from '../engine/guest-actor.js';
import { emptyAccount } from '../engine/points-account.js';
import { META_SHARDS, type GuestProfile, metaGuestCounter, openStore } from '../engine/store.js';

/** Guests written per LMDB transaction. */
const seed_batch_guests = 10_000;

export function benchCard(i: number): string {
  return `77${String(i).padStart(14, '0')}`;
}

/**
 * `startingPoints` (hundredths) > 0 gives every guest a first check whose 5%
 * accrual is exactly that, committed by the shard's own actor, so the journal and
 * the ledger explain every seeded balance.
 */
export async function seedGuests(dataDir: string, count: number, shards: number, startingPoints = 0): Promise<void> {
  const store = openStore(dataDir);
  const counters = new Array<number>(shards).fill(0);
  const createdAt = new Date().toISOString();
  const config = demoSnapshot('seed');
  const actors = Array.from({ length: shards }, (_, s) => new GuestActor(store, s, config));
  const time = new Date().toISOString();
  for (let from = 0; from < count; from += seed_batch_guests) {
    await store.root.transaction(() => {
      for (let i = from; i < Math.min(count, from + seed_batch_guests); i++) {
        const card = benchCard(i);
        const shard = cardShard(card, shards);
        const guestId = `${shard}-${++counters[shard]!}`;
        const profile: GuestProfile = { id: guestId, name: `Guest ${i}`, phone: '', cards: [card], createdAt };
        store.guests.putSync(guestId, profile);
        store.states.putSync(guestId, { seq: 0, lastTx: 0, holdSeq: 0, points: emptyAccount() });
        store.cards.putSync(card, guestId);
        if (startingPoints > 0) {
          const r = actors[shard]!.commitInTransaction(guestId, {
            outlet: 'outlet-1', idempotencyKey: `seed-${i}`, time, currency: 'RUB', card,
            lines: [{ itemCode: 'seed', quantity: 1, unitPrice: startingPoints * 20 }], pointsSpent: 0,
          });
          assert.equal(r.balance, startingPoints, 'the seed check accrues the starting points');
        }
      }
    });
  }
  await store.root.transaction(() => {
    store.meta.putSync(META_SHARDS, shards);
    for (let s = 0; s < shards; s++) store.meta.putSync(metaGuestCounter(s), counters[s]!);
  });
  await store.root.flushed;
  await store.close();
}
