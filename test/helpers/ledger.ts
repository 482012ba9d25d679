// One shard's actor on a real LMDB folder, driven synchronously with a clock the
// test moves: each call is one write transaction, as the worker runs them.

import { GuestActor } from '../../dist/engine/guest-actor.js';
import { GuestReader } from '../../dist/engine/guest-reader.js';
import { openStore, type Store } from '../../dist/engine/store.js';
import { verifyStore } from '../../dist/engine/verify.js';
import type { BonusProgramConfig } from '../../dist/protocol/config.js';
import type { CheckLine } from '../../dist/protocol/types.js';
import { DEMO_PROGRAM } from '../../dist/engine/demo-config.js';
import { testSnapshot, tempDir } from './engine.js';

export const OUTLET = 'outlet-1';

export class Ledger {
  now: number;
  readonly store: Store;
  actor: GuestActor;
  reader: GuestReader;
  private keys = 0;

  constructor(
    readonly dir: string,
    program: Partial<BonusProgramConfig> = {},
    start = Date.parse('2026-01-15T10:00:00+03:00'),
  ) {
    this.now = start;
    this.store = openStore(dir);
    const config = testSnapshot(1, { ...DEMO_PROGRAM, ...program });
    this.actor = new GuestActor(this.store, 0, config, () => this.now);
    this.reader = new GuestReader(this.store, () => this.now);
  }

  tx<T>(fn: () => T): T {
    return this.store.root.transactionSync(fn);
  }

  register(card: string): string {
    // Shard 0 owns every guest here, as if the card had hashed to it.
    return this.tx(() => this.actor.registerInTransaction({ outlet: OUTLET, card }, new Date(this.now).toISOString())).guestId;
  }

  commit(guestId: string, lines: CheckLine[], pointsSpent = 0, extra: { key?: string; holdId?: string } = {}) {
    const req = {
      outlet: OUTLET, idempotencyKey: extra.key ?? `k${++this.keys}`, time: new Date(this.now).toISOString(), currency: 'RUB',
      card: `card-of-${guestId}`, lines, pointsSpent, ...(extra.holdId ? { holdId: extra.holdId } : {}),
    };
    return this.tx(() => this.actor.commitInTransaction(guestId, req));
  }

  hold(guestId: string, lines: CheckLine[], pointsToSpend: number) {
    const req = { outlet: OUTLET, time: new Date(this.now).toISOString(), currency: 'RUB', card: 'x', lines, pointsToSpend, hold: true };
    return this.tx(() => this.actor.evaluateWithHoldInTransaction(guestId, req));
  }

  cancel(guestId: string, holdId: string) {
    return this.tx(() => this.actor.cancelInTransaction(guestId, { outlet: OUTLET, holdId }));
  }

  refund(guestId: string, transactionId: string, what: { lines?: { line: number; quantity: number }[]; amount?: number; key?: string } = {}) {
    const { key, ...rest } = what;
    return this.tx(() => this.actor.refundInTransaction(guestId, { outlet: OUTLET, idempotencyKey: key ?? `r${++this.keys}`, transactionId, ...rest }));
  }

  sweep(): number {
    return this.tx(() => this.actor.sweepExpiries());
  }

  balance(guestId: string, expiringWithinDays = 30, limit = 0) {
    return this.reader.balance(this.actor.currentConfig, guestId, { outlet: OUTLET, card: 'x', limit, expiringWithinDays });
  }

  system(account: 'liability' | 'redemption' | 'breakage'): number {
    return this.store.system.get(0)?.[account] ?? 0;
  }

  differences() {
    return verifyStore(this.store).differences;
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

export function openLedger(program: Partial<BonusProgramConfig> = {}, start?: number) {
  const tmp = tempDir('kopilka-ledger-');
  const ledger = new Ledger(tmp.dir, program, start);
  return {
    ledger,
    async close() {
      await ledger.close();
      tmp.remove();
    },
  };
}

/** One line of `quantity` units at `unitPrice` minor units. */
export const line = (unitPrice: number, quantity = 1, itemCode = 'item'): CheckLine => ({ itemCode, quantity, unitPrice });
