// A fingerprint of everything a data folder holds: the simulation takes one before
// and after a restart (state must be identical) and around a crashed transaction
// (nothing of it may be visible).

import { createHash } from 'node:crypto';
import type { Store } from '../store.js';

export function storeDigest(store: Store): string {
  const h = createHash('sha256');
  const dbs = {
    guests: store.guests,
    // Hold records too: they live in the states database (engine/store.ts HoldRecords).
    states: store.states,
    cards: store.cards,
    phones: store.phones,
    paymentCodes: store.paymentCodes,
    paymentCodeExpiries: store.paymentCodeExpiries,
    idempotency: store.idempotency,
    transactions: store.transactions,
    meta: store.meta,
    checks: store.checks,
    refundKeys: store.refundKeys,
    adjustKeys: store.adjustKeys,
    topUpKeys: store.topUpKeys,
    budgets: store.budgets,
    system: store.system,
    expiries: store.expiries,
    merges: store.merges,
    mergeKeys: store.mergeKeys,
    pendingMerges: store.pendingMerges,
  } as const;
  for (const [name, db] of Object.entries(dbs)) {
    h.update(`\u0000${name}\u0000`);
    for (const { key, value } of (db as Store['meta']).getRange({})) h.update(`${JSON.stringify(key)}=${JSON.stringify(value)}\n`);
  }
  return h.digest('hex');
}
