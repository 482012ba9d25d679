// Loads N guests straight into a fresh data folder's LMDB, the way registrations
// would leave them (same ids, same card index, same per-shard counters), in large
// transactions: 100,000 guests take about a second instead of a registration storm.

import { cardShard } from '../engine/engine.js';
import { emptyAccount } from '../engine/points-account.js';
import { META_SHARDS, type GuestProfile, metaGuestCounter, openStore } from '../engine/store.js';

/** Guests written per LMDB transaction. */
const seed_batch_guests = 10_000;

export function benchCard(i: number): string {
  return `77${String(i).padStart(14, '0')}`;
}

export async function seedGuests(dataDir: string, count: number, shards: number): Promise<void> {
  const store = openStore(dataDir);
  const counters = new Array<number>(shards).fill(0);
  const createdAt = new Date().toISOString();
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
