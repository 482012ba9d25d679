// What a shard does for its guests: it is their only writer. Writes (register,
// commit) run inside an LMDB write transaction, so each sees every write before
// it, a guest's commits apply one after another in arrival order, and a commit's
// postings, its transaction record and its idempotency record land all or none.
// Reads need no actor: see guest-reader.ts.

import assert from 'node:assert';
import type { BonusProgramConfig, ConfigSnapshot } from '../protocol/config.js';
import type {
  CheckLine,
  CommitOutcome,
  CommitRequest,
  CommitResult,
  RegisterRequest,
  RegisterResult,
} from '../protocol/types.js';
import { checkCurrency, readState } from './guest-reader.js';
import { checkTotal, decide, pointsCapOf } from './program.js';
import { type GuestProfile, type GuestState, type IdempotencyRecord, type Store, guestShard, lastJournalNumber, metaGuestCounter } from './store.js';

export class GuestActor {
  /** Last journal number written; this thread is the shard's only writer. */
  private journal: number;

  constructor(
    private readonly store: Store,
    private readonly shard: number,
    private config: ConfigSnapshot,
  ) {
    this.journal = lastJournalNumber(store, shard);
  }

  setConfig(config: ConfigSnapshot): void {
    // One reference swap: a check started under the old version finishes under it.
    this.config = config;
  }

  get configVersion(): number {
    return this.config.version;
  }

  get currentConfig(): ConfigSnapshot {
    return this.config;
  }

  private stateOf(guestId: string): GuestState {
    assert.equal(guestShard(guestId), this.shard, 'a shard only writes its own guests');
    return readState(this.store, guestId);
  }

  private checkCurrency(currency: string): void {
    checkCurrency(this.config, currency);
  }

  /** Runs inside a write transaction. The door routed the card to this shard by hash. */
  registerInTransaction(req: RegisterRequest, createdAt: string): RegisterResult {
    const existing = this.store.cards.get(req.card);
    if (existing !== undefined) return { outcome: 'exists', guestId: existing, card: req.card };
    const counterKey = metaGuestCounter(this.shard);
    const n = ((this.store.meta.get(counterKey) as number | undefined) ?? 0) + 1;
    const guestId = `${this.shard}-${n}`;
    const profile: GuestProfile = { id: guestId, name: req.name ?? '', phone: req.phone ?? '', cards: [req.card], createdAt };
    this.store.meta.putSync(counterKey, n);
    this.store.guests.putSync(guestId, profile);
    this.store.states.putSync(guestId, { balance: 0, seq: 0, lastTx: 0 });
    this.store.cards.putSync(req.card, guestId);
    return { outcome: 'ok', guestId, card: req.card };
  }

  /** Runs inside a write transaction: the idempotency check and the write are one atomic step. */
  commitInTransaction(guestId: string, req: CommitRequest): CommitResult {
    const key: [string, string] = [req.outlet, req.idempotencyKey];
    const linesKey = linesFingerprint(req.lines);
    const pointsSpent = req.pointsSpent ?? 0;
    const seen = this.store.idempotency.get(key);
    if (seen !== undefined) return replay(seen, req, linesKey, pointsSpent);

    this.checkCurrency(req.currency);
    const state = this.stateOf(guestId);
    const program = this.config.program;
    const total = checkTotal(req.lines);
    const outcome = refusal(program, state, total, pointsSpent);
    let result: CommitResult;
    if (outcome !== undefined) {
      result = this.result(outcome, '', guestId, total, 0, 0, state.balance);
    } else {
      const d = decide(program, state.balance, total, pointsSpent);
      const balance = state.balance - pointsSpent + d.accrue;
      assert.ok(balance >= 0, 'a commit never takes a balance below zero');
      const seq = state.seq + 1;
      const transactionId = `${guestId}.${seq}`;
      result = this.result('ok', transactionId, guestId, total, pointsSpent, d.accrue, balance);
      const journal = ++this.journal;
      this.store.transactions.putSync([this.shard, journal], {
        guestId,
        prevTx: state.lastTx,
        transactionId,
        kind: 'check',
        time: req.time,
        outlet: req.outlet,
        total,
        spent: pointsSpent,
        accrued: d.accrue,
        balanceAfter: balance,
        idempotencyKey: req.idempotencyKey,
        configVersion: this.config.version,
      });
      this.store.states.putSync(guestId, { balance, seq, lastTx: journal });
    }
    // A refused commit is remembered too: the same key keeps its first answer.
    const record: IdempotencyRecord = {
      card: req.card,
      time: req.time,
      currency: req.currency,
      lines: linesKey,
      pointsSpent,
      result,
    };
    this.store.idempotency.putSync(key, record);
    return result;
  }

  private result(
    outcome: CommitOutcome,
    transactionId: string,
    guestId: string,
    total: number,
    spent: number,
    accrued: number,
    balance: number,
  ): CommitResult {
    return { outcome, transactionId, guestId, configVersion: this.config.version, total, spent, accrued, balance };
  }
}

/**
 * Refusals in order of precedence: the program's cap is a property of the check
 * alone, so it is reported before the balance, which depends on the moment.
 */
function refusal(program: BonusProgramConfig, state: GuestState, total: number, spent: number): CommitOutcome | undefined {
  if (spent > pointsCapOf(program, total)) return 'points_over_limit';
  if (spent > state.balance) return 'insufficient_points';
  return undefined;
}

/** The same key again: the first answer if the body is the same, else which field differs. */
function replay(seen: IdempotencyRecord, req: CommitRequest, linesKey: string, pointsSpent: number): CommitResult {
  let outcome: CommitOutcome = 'exists';
  if (seen.card !== req.card) outcome = 'exists_with_different_card';
  else if (seen.time !== req.time) outcome = 'exists_with_different_time';
  else if (seen.currency !== req.currency) outcome = 'exists_with_different_currency';
  else if (seen.lines !== linesKey) outcome = 'exists_with_different_lines';
  else if (seen.pointsSpent !== pointsSpent) outcome = 'exists_with_different_points_spent';
  // A refused first attempt answers with its refusal again: a failed key stays failed.
  if (outcome === 'exists' && seen.result.outcome !== 'ok') return seen.result;
  return { ...seen.result, outcome };
}

function linesFingerprint(lines: readonly CheckLine[]): string {
  let s = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    s += `${l.itemCode}\u0001${l.category ?? ''}\u0001${l.quantity}\u0001${l.unitPrice}\u0002`;
  }
  return s;
}
