// The messages of every door. gRPC (protocol/kopilka.proto), WebSocket (msgpack
// frames) and HTTP (JSON) carry these same shapes; the doors only translate the
// envelope. Amounts are integers: money in minor units of the check currency
// (kopecks, cents), points in hundredths of a point (1 point = 100). Never floats.

import type { ErrorBody } from './errors.js';

export interface CheckLine {
  itemCode: string;
  category?: string;
  /** Whole units, 1..line_quantity_max. */
  quantity: number;
  /** Minor units per unit. */
  unitPrice: number;
}

export interface RegisterRequest {
  outlet: string;
  card: string;
  name?: string;
  phone?: string;
}

export interface RegisterResult {
  /** `ok`: a new guest; `exists`: the card already belongs to `guestId`, nothing changed. */
  outcome: 'ok' | 'exists';
  guestId: string;
  card: string;
}

export interface IdentifyRequest {
  outlet: string;
  card: string;
}

export interface IdentifyResult {
  guestId: string;
  card: string;
  name: string;
  /** Points, hundredths. */
  balance: number;
}

export interface EvaluateRequest {
  outlet: string;
  /** ISO 8601 time of the check, with offset. */
  time: string;
  currency: string;
  card: string;
  lines: CheckLine[];
  /** Points the guest asks to spend, hundredths; 0 when absent. */
  pointsToSpend?: number;
}

export interface EvaluateResult {
  configVersion: number;
  guestId: string;
  /** Check total, minor units. */
  total: number;
  /** Points available now, hundredths. */
  balance: number;
  /** The most points payable on this check, hundredths. */
  pointsMax: number;
  /** The points that would be spent: the request's ask capped at `pointsMax`. */
  pointsToSpend: number;
  /** Money left to pay after points, minor units. */
  moneyToPay: number;
  /** Points the check would accrue, hundredths. */
  accrue: number;
}

export interface CommitRequest {
  outlet: string;
  /** Chosen by the client, unique per outlet; a retry reuses it. */
  idempotencyKey: string;
  time: string;
  currency: string;
  card: string;
  lines: CheckLine[];
  /** Points actually spent, hundredths; 0 when absent. */
  pointsSpent?: number;
}

export type CommitOutcome =
  | 'ok'
  | 'exists'
  | 'exists_with_different_card'
  | 'exists_with_different_time'
  | 'exists_with_different_currency'
  | 'exists_with_different_lines'
  | 'exists_with_different_points_spent'
  | 'points_over_limit'
  | 'insufficient_points';

export interface CommitResult {
  outcome: CommitOutcome;
  /** The committed check; for `exists*` the first commit's id. Empty when nothing was applied. */
  transactionId: string;
  guestId: string;
  configVersion: number;
  total: number;
  /** Points spent, hundredths. */
  spent: number;
  /** Points accrued, hundredths. */
  accrued: number;
  /** Balance after the commit (for `exists`: after the first commit). */
  balance: number;
}

export interface BalanceRequest {
  outlet: string;
  card: string;
  /** Last transactions to return, 0..history_limit_max. */
  limit?: number;
}

export interface TransactionView {
  transactionId: string;
  kind: 'check';
  time: string;
  outlet: string;
  total: number;
  spent: number;
  accrued: number;
  balanceAfter: number;
}

export interface BalanceResult {
  guestId: string;
  balance: number;
  transactions: TransactionView[];
}

export interface Operations {
  register: { request: RegisterRequest; result: RegisterResult };
  identify: { request: IdentifyRequest; result: IdentifyResult };
  evaluate: { request: EvaluateRequest; result: EvaluateResult };
  commit: { request: CommitRequest; result: CommitResult };
  balance: { request: BalanceRequest; result: BalanceResult };
}

export type Op = keyof Operations;
export const OPS: readonly Op[] = ['register', 'identify', 'evaluate', 'commit', 'balance'];

/** A WebSocket frame from a terminal. `id` matches the reply; many may be in flight. */
export interface RequestFrame<O extends Op = Op> {
  id: number;
  op: O;
  body: Operations[O]['request'];
}

/** A WebSocket frame to a terminal: exactly one of `result` or `error`. */
export type ResponseFrame =
  | { id: number; result: Operations[Op]['result'] }
  | { id: number; error: ErrorBody };
