// Reads of a guest (identify, evaluate, balance) from the last committed state.
// LMDB readers never block and never see half a transaction, so any thread may
// answer them: the doors' thread does, which saves the trip to a shard and back
// (two message copies and a wake-up) on the most frequent request. A committed
// write is visible to the next read as soon as it is acknowledged.

import assert from 'node:assert';
import type { ConfigSnapshot } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import type {
  BalanceRequest,
  BalanceResult,
  EvaluateRequest,
  EvaluateResult,
  IdentifyRequest,
  IdentifyResult,
  TransactionView,
} from '../protocol/types.js';
import { checkTotal, decide, pointsCapOf } from './program.js';
import { type GuestState, type Store, guestShard } from './store.js';

export function readState(store: Store, guestId: string): GuestState {
  const state = store.states.get(guestId);
  if (state === undefined) throw new KopilkaError('card_not_found', 'the card belongs to no guest', 'card');
  return state;
}

export function checkCurrency(config: ConfigSnapshot, currency: string): void {
  if (currency !== config.organization.currency) {
    throw new KopilkaError('currency_mismatch', `currency must be ${config.organization.currency}`, 'currency');
  }
}

export class GuestReader {
  constructor(private readonly store: Store) {}

  identify(config: ConfigSnapshot, guestId: string, req: IdentifyRequest): IdentifyResult {
    const state = readState(this.store, guestId);
    const name = this.store.guests.get(guestId)?.name ?? '';
    return { guestId, card: req.card, name, balance: state.balance };
  }

  evaluate(config: ConfigSnapshot, guestId: string, req: EvaluateRequest): EvaluateResult {
    checkCurrency(config, req.currency);
    const guest = readState(this.store, guestId);
    const program = config.program;
    const total = checkTotal(req.lines);
    const pointsMax = Math.min(guest.balance, pointsCapOf(program, total));
    const pointsToSpend = Math.min(req.pointsToSpend ?? 0, pointsMax);
    const d = decide(program, guest.balance, total, pointsToSpend);
    return {
      configVersion: config.version,
      guestId,
      total,
      balance: guest.balance,
      pointsMax,
      pointsToSpend,
      moneyToPay: d.moneyToPay,
      accrue: d.accrue,
    };
  }

  balance(_config: ConfigSnapshot, guestId: string, req: BalanceRequest): BalanceResult {
    const guest = readState(this.store, guestId);
    const transactions: TransactionView[] = [];
    const limit = req.limit ?? 0;
    if (limit > 0) {
      const shard = guestShard(guestId);
      for (let n = guest.lastTx; n !== 0 && transactions.length < limit; ) {
        const value = this.store.transactions.get([shard, n]);
        assert.ok(value !== undefined && value.guestId === guestId, 'a guest\'s journal chain stays within the guest');
        transactions.push({
          transactionId: value.transactionId,
          kind: value.kind,
          time: value.time,
          outlet: value.outlet,
          total: value.total,
          spent: value.spent,
          accrued: value.accrued,
          balanceAfter: value.balanceAfter,
        });
        n = value.prevTx;
      }
    }
    return { guestId, balance: guest.balance, transactions };
  }
}
