// Payment codes: a guest app shows a short-lived code at the till instead of the
// card. A code is `P` and 8 digits (protocol/card-numbers.ts: no card may have that
// shape), drawn with crypto.randomInt, and stands for the card it was issued from
// for 5 minutes (protocol/limits.ts payment_code_ttl_ms). Any op's `card` field may
// carry it; it stays valid until it expires, however often it is used (a check
// evaluates, then commits, with one code).
//
// Codes are issued by the guest's shard inside its write transaction; the doors'
// thread reads them. Each issue deletes a few expired codes of its shard, so the
// database holds about the codes of the last few minutes.

import { randomInt } from 'node:crypto';
import { KopilkaError } from '../protocol/errors.js';
import { payment_code_draws_max, payment_code_sweep_max } from '../protocol/limits.js';
import type { PaymentCodeRecord, Store } from './store.js';

const codes_total = 100_000_000;

/** A fresh code: `P` and 8 random digits (leading zeros kept). */
export function drawPaymentCode(): string {
  return `P${String(randomInt(codes_total)).padStart(8, '0')}`;
}

/** The code's record if it exists and has not expired at `now`. */
export function lookupPaymentCode(store: Store, code: string, now: number): PaymentCodeRecord | undefined {
  const rec = store.paymentCodes.get(code);
  return rec === undefined || rec.expiresAt <= now ? undefined : rec;
}

/**
 * Issues a code for the guest's `card`, valid until `now + ttlMs`. Runs inside the
 * shard's write transaction: a code no live code holds is drawn (a clash with a live
 * one draws again; an expired one is overwritten), and up to payment_code_sweep_max
 * expired codes of the shard are deleted first.
 */
export function issuePaymentCode(store: Store, shard: number, guestId: string, card: string, now: number, ttlMs: number): { code: string; expiresAt: number } {
  sweepPaymentCodes(store, shard, now, payment_code_sweep_max);
  for (let i = 0; i < payment_code_draws_max; i++) {
    const code = drawPaymentCode();
    if (lookupPaymentCode(store, code, now) !== undefined) continue;
    const expiresAt = now + ttlMs;
    store.paymentCodes.putSync(code, { guestId, card, expiresAt });
    store.paymentCodeExpiries.putSync([shard, expiresAt, code], null);
    return { code, expiresAt };
  }
  // Only when about 10^8 codes are live at once: far beyond any chain's tills.
  throw new KopilkaError('overloaded', `no free payment code after ${payment_code_draws_max} draws; retry`);
}

/**
 * Deletes up to `max` codes of the shard that expired by `now`. A code drawn again
 * after it expired has a new expiry: its old agenda entry goes, the code stays.
 */
export function sweepPaymentCodes(store: Store, shard: number, now: number, max: number): number {
  // Keys first, deletes after: a range is not changed under its own cursor.
  const due = [...store.paymentCodeExpiries.getKeys({ start: [shard, 0, ''], end: [shard, now + 1, ''], limit: max })] as Array<[number, number, string]>;
  let removed = 0;
  for (const key of due) {
    const [, expiresAt, code] = key;
    if (store.paymentCodes.get(code)?.expiresAt === expiresAt) {
      store.paymentCodes.removeSync(code);
      removed++;
    }
    store.paymentCodeExpiries.removeSync(key);
  }
  return removed;
}
