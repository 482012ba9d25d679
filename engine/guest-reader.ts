// Reads of a guest (identify, evaluate, balance) from the last committed state.
// LMDB readers never block and never see half a transaction, so any thread may
// answer them: the doors' thread does, which saves the trip to a shard and back
// (two message copies and a wake-up) on the most frequent request. A committed
// write is visible to the next read as soon as it is acknowledged. Lots past
// their expiry and holds past their timeout count for nothing here even before
// the shard burns or voids them.

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
import { view } from './points-account.js';
import { checkTotal, decide, pointsCapOf } from './program.js';
import { type GuestState, type Store, type TransactionRecord, guestShard } from './store.js';

const day_ms = 86_400_000;

export type Clock = () => number;

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

/** The decision for a check: pure in (configuration, state, check, time). */
export function evaluateCheck(config: ConfigSnapshot, guestId: string, state: GuestState, req: EvaluateRequest, now: number): EvaluateResult {
  checkCurrency(config, req.currency);
  const program = config.program;
  const total = checkTotal(req.lines);
  const available = view(state.points, now, 0).available;
  const pointsMax = Math.min(available, pointsCapOf(program, total));
  const pointsToSpend = Math.min(req.pointsToSpend ?? 0, pointsMax);
  const d = decide(program, available, total, pointsToSpend);
  return {
    configVersion: config.version,
    guestId,
    total,
    balance: state.points.balance,
    available,
    pointsMax,
    pointsToSpend,
    moneyToPay: d.moneyToPay,
    accrue: d.accrue,
    holdId: '',
    holdExpiresAt: '',
  };
}

export function transactionView(t: TransactionRecord): TransactionView {
  return {
    transactionId: t.transactionId,
    kind: t.kind,
    time: t.time,
    outlet: t.outlet,
    total: t.total,
    spent: t.spent,
    accrued: t.accrued,
    balanceAfter: t.balanceAfter,
  };
}

export class GuestReader {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock = Date.now,
  ) {}

  identify(_config: ConfigSnapshot, guestId: string, req: IdentifyRequest): IdentifyResult {
    const state = readState(this.store, guestId);
    const name = this.store.guests.get(guestId)?.name ?? '';
    return { guestId, card: req.card, name, balance: state.points.balance };
  }

  evaluate(config: ConfigSnapshot, guestId: string, req: EvaluateRequest): EvaluateResult {
    return evaluateCheck(config, guestId, readState(this.store, guestId), req, this.clock());
  }

  balance(_config: ConfigSnapshot, guestId: string, req: BalanceRequest): BalanceResult {
    const state = readState(this.store, guestId);
    const transactions: TransactionView[] = [];
    const limit = req.limit ?? 0;
    const shard = guestShard(guestId);
    for (let n = state.lastTx; n !== 0 && transactions.length < limit; ) {
      const entry = this.store.transactions.get([shard, n]);
      assert.ok(entry !== undefined && entry.guestId === guestId, "a guest's journal chain stays within the guest");
      transactions.push(transactionView(entry));
      n = entry.prevTx;
    }
    const v = view(state.points, this.clock(), (req.expiringWithinDays ?? 0) * day_ms);
    return { guestId, balance: v.balance, available: v.available, pending: v.pending, held: v.held, expiring: v.expiring, transactions };
  }
}
