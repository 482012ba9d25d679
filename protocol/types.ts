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
  /** A discount the POS's own promotion already gave on this line, minor units (0..quantity × unitPrice). */
  posDiscount?: number;
  /** The POS applied a promotion of its own to this line (the settings' POS modes decide what follows). */
  posPromotion?: boolean;
}

/** A promotion that gave a check something. */
export interface AppliedPromotion {
  promotion: string;
  /** Discount it gave, minor units. */
  discount: number;
  /** Points it accrued or topped up into the program's account, hundredths. */
  points: number;
}

/** Text a promotion shows: on the receipt, the POS screen or to the cashier. */
export interface PromotionMessage {
  promotion: string;
  channel: 'receipt' | 'screen' | 'cashier';
  text: string;
}

/** Why one promotion did or did not apply (evaluate with `explain`). */
export interface PromotionVerdict {
  promotion: string;
  applied: boolean;
  /** When not applied: status, period, condition, limit, stacking or budget. */
  reason?: string;
  /** A stable code saying more: `outside_periods`, `uses_per_guest_day`, `exclusive:<id>`, … */
  detail?: string;
  discount: number;
  accrual: number;
}

// ---- guests and cards ---------------------------------------------------------

/** How a card reaches the till: a printed number, an app's number, an RFID tag's UID (8 hex characters), a wallet pass. */
export type CardKind = 'plastic' | 'virtual' | 'rfid' | 'wallet';
export const CARD_KINDS: readonly CardKind[] = ['plastic', 'virtual', 'rfid', 'wallet'];

/** `active` works; `blocked` is refused (`card_blocked`) until unblocked; `replaced` is refused (`card_replaced`) for good. */
export type CardStatus = 'active' | 'blocked' | 'replaced';

/** The guest's profile as a request sets it; every field optional. Limits: protocol/limits.ts. */
export interface GuestProfileFields {
  name?: string;
  /** Digits with an optional leading +; the phone index ignores the +. */
  phone?: string;
  email?: string;
  /** `YYYY-MM-DD`, or `--MM-DD` when the year is unknown. */
  birthday?: string;
  /** A passport or ID document number. */
  document?: string;
  address?: string;
  /** Short labels (segments, flags), each once. */
  tags?: string[];
  /** The guest agreed to receive messages (SMS, e-mail, push). */
  consent?: boolean;
}

/** The guest's profile as answers carry it: "" (or [] / false) for what is not set. */
export interface GuestProfileView {
  name: string;
  phone: string;
  email: string;
  birthday: string;
  document: string;
  address: string;
  tags: string[];
  consent: boolean;
  /**
   * The guest's discount levels: discount account id (unit `percent`) → basis points, only
   * the accounts a level was set in for this guest (by register, updateGuest or a merge),
   * a level of 0 included. Defaults are not included: an account missing here gives the
   * guest its `defaultBp`. `{}` when none is set.
   */
  discounts: Record<string, number>;
}

/** One of the guest's cards. */
export interface CardView {
  card: string;
  kind: CardKind;
  status: CardStatus;
  /** When it was bound (ISO 8601 UTC); "" for cards bound before kopilka kept it. */
  issuedAt: string;
}

export interface RegisterRequest extends GuestProfileFields {
  outlet: string;
  card: string;
  /** Default `plastic`. An `rfid` card is 8 hex characters, kept in upper case. */
  kind?: CardKind;
  /**
   * The new guest's discount levels, as updateGuest's `discounts` (discount accounts of
   * the rules, basis points 0..10000, at most 16). Not applied when the card is bound to
   * the phone's guest (`card_added`), like the other profile fields.
   */
  discounts?: Record<string, number>;
}

export interface RegisterResult {
  /**
   * `ok`: a new guest; `exists`: the card already belongs to `guestId`, nothing changed;
   * `card_added`: the phone belongs to guest `guestId`, and the card was bound to it
   * (the profile fields of the request are not applied: see updateGuest).
   */
  outcome: 'ok' | 'exists' | 'card_added';
  guestId: string;
  card: string;
}

/** Exactly one of `card` and `phone`. */
export interface IdentifyRequest {
  outlet: string;
  card?: string;
  phone?: string;
}

export interface IdentifyResult extends GuestProfileView {
  guestId: string;
  /** The card presented (a payment code answers the card it was issued for); "" when identified by phone. */
  card: string;
  /** Points, hundredths. */
  balance: number;
  /** Every card of the guest, in the order they were bound, blocked and replaced ones included. */
  cards: CardView[];
}

/**
 * Changes profile fields of the card's guest; absent fields stay as they are, "" (or
 * `tags: []`) clears one. Last write wins, so a retry is harmless.
 */
export interface UpdateGuestRequest extends GuestProfileFields {
  outlet: string;
  card: string;
  /**
   * Discount account id (an account of unit `percent` in the rules) → the guest's level
   * in it, basis points 0..10000 (750 = 7.5%); each entry replaces that account's level,
   * accounts not named keep theirs. At most 16 entries.
   */
  discounts?: Record<string, number>;
}

export interface UpdateGuestResult extends GuestProfileView {
  /** `ok`: applied; `phone_taken`: the phone belongs to another guest, nothing changed. */
  outcome: 'ok' | 'phone_taken';
  guestId: string;
}

/** Binds another card to the guest holding `card` (an active card of theirs). */
export interface AddCardRequest {
  outlet: string;
  card: string;
  newCard: string;
  kind: CardKind;
}

export interface AddCardResult {
  /**
   * `ok`: bound; `exists`: `newCard` is already this guest's, nothing changed (a retry);
   * `card_taken`: `newCard` belongs to another guest, nothing changed.
   */
  outcome: 'ok' | 'exists' | 'card_taken';
  guestId: string;
  /** The new card (RFID in upper case). */
  card: string;
  kind: CardKind;
  /** Cards this binding marked `replaced` (organization setting `newCardReplacesOthers`). */
  replaced: string[];
}

export interface BlockCardRequest {
  outlet: string;
  card: string;
  /** Why, for the audit trail: 1..200 characters. */
  reason: string;
}

export interface BlockCardResult {
  /** `ok`: blocked now; `already_blocked`: nothing changed. */
  outcome: 'ok' | 'already_blocked';
  guestId: string;
  card: string;
  status: CardStatus;
}

export interface UnblockCardRequest {
  outlet: string;
  card: string;
}

export interface UnblockCardResult {
  /** `ok`: active again; `not_blocked`: it was active, nothing changed. */
  outcome: 'ok' | 'not_blocked';
  guestId: string;
  card: string;
  status: CardStatus;
}

/** A short-lived code for a guest app to show at the till instead of the card. */
export interface PaymentCodeRequest {
  outlet: string;
  card: string;
}

export interface PaymentCodeResult {
  guestId: string;
  /** `P` and 8 digits, e.g. "P04718265"; any op's `card` may carry it until `expiresAt`. */
  code: string;
  /** ISO 8601 UTC. */
  expiresAt: string;
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
  /**
   * Hold the points that would be spent until the commit posts them, a cancel
   * voids them or the program's hold timeout passes. Makes evaluate a write.
   */
  hold?: boolean;
  /** Answer with every active promotion's verdict (`explanation`). */
  explain?: boolean;
  /**
   * The points account `pointsToSpend` would come from, as commit's `pointsAccount`: a
   * points account of the rules; absent (or the program's id): the program's. `balance`,
   * `available`, `pointsMax`, `pointsToSpend` and `moneyToPay` are then that account's.
   * Not with `hold: true` (holds are the program's points only): refused with
   * `invalid_field` naming `pointsAccount`.
   */
  pointsAccount?: string;
}

export interface EvaluateResult {
  configVersion: number;
  guestId: string;
  /** Check total, minor units. */
  total: number;
  /** Points on the account, hundredths (pending and held ones included; negative for a debt). */
  balance: number;
  /** Points the guest may spend now: active, not held, not expired. */
  available: number;
  /** The most points payable on this check, hundredths. */
  pointsMax: number;
  /** The points that would be spent: the request's ask capped at `pointsMax`. */
  pointsToSpend: number;
  /** Money left to pay after points, minor units. */
  moneyToPay: number;
  /** Points the check would accrue, hundredths. */
  accrue: number;
  /** The hold placed (`hold: true` and points to spend), else "". */
  holdId: string;
  /** When the hold voids itself (ISO 8601 UTC), else "". */
  holdExpiresAt: string;
  /** Our promotions' discount on the check, minor units (`total − discount` is what is left to pay before points). */
  discount: number;
  /** Per line, our discount on it, minor units; empty when there is none. */
  lineDiscounts: number[];
  /** Promotions that gave the check something. */
  promotions: AppliedPromotion[];
  messages: PromotionMessage[];
  /** With `explain`: every promotion's verdict, applied or not, with the reason. */
  explanation?: PromotionVerdict[];
  /** The currency the check came in, when it was not the organization's: its amounts above are converted. */
  checkCurrency?: string;
  /** With `checkCurrency`: the rate applied, organization currency units per one unit of it ("95.4321"). */
  rate?: string;
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
  /** The hold from evaluate these points come from; at most its amount may be spent, and the rest is released. */
  holdId?: string;
  /** Money paid from one of the guest's deposit accounts, at most what is left to pay after points. */
  deposit?: DepositPayment;
  /**
   * The points account `pointsSpent` comes from: a points account of the rules (one per
   * partner of a coalition, say); absent: the program's. Its points pay at its
   * `pointValueMinor`, within the same caps as the program's (see protocol/README.md).
   */
  pointsAccount?: string;
}

/** Part of a check paid from a deposit (prepaid money). */
export interface DepositPayment {
  /** A deposit account of the configuration (an account whose unit is money). */
  account: string;
  /** Minor units, > 0. */
  amount: number;
}

export type CommitOutcome =
  | 'ok'
  | 'exists'
  | 'exists_with_different_card'
  | 'exists_with_different_time'
  | 'exists_with_different_currency'
  | 'exists_with_different_lines'
  | 'exists_with_different_points_spent'
  | 'exists_with_different_hold'
  | 'exists_with_different_deposit'
  | 'exists_with_different_points_account'
  | 'hold_not_found'
  | 'hold_already_resolved'
  | 'hold_expired'
  | 'points_over_hold'
  | 'points_over_limit'
  | 'insufficient_points'
  | 'deposit_over_check'
  | 'insufficient_funds';

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
  /** Our promotions' discount, minor units. */
  discount: number;
  /** Promotions the commit applied (their uses and budgets are counted). */
  promotions: AppliedPromotion[];
  /** Money paid from the deposit, minor units (0 without one). */
  depositPaid: number;
  /** The deposit's balance after the commit, minor units (0 without one). */
  depositBalance: number;
  /** The currency the check came in, when it was not the organization's (for `exists*`: the first commit's). */
  checkCurrency?: string;
  /** With `checkCurrency`: the rate the first commit applied, organization currency units per one unit of it. */
  rate?: string;
}

export interface CancelRequest {
  outlet: string;
  holdId: string;
}

export type CancelOutcome = 'ok' | 'hold_not_found' | 'hold_already_resolved' | 'hold_expired';

export interface CancelResult {
  outcome: CancelOutcome;
  holdId: string;
  guestId: string;
  /** Points available after the cancel, hundredths. */
  available: number;
}

export interface RefundLine {
  /** Index of the line in the committed check. */
  line: number;
  /** Units of that line returned now. */
  quantity: number;
}

export interface RefundRequest {
  outlet: string;
  /** Chosen by the client, unique per outlet among refunds. */
  idempotencyKey: string;
  /** The committed check returned (its `transactionId`). */
  transactionId: string;
  /** Return these lines; or `amount`; or neither for everything not yet returned. */
  lines?: RefundLine[];
  /** Return this much money, minor units. */
  amount?: number;
  /**
   * Cancel the check instead: everything reversed, as if it never happened (a
   * cashier's mistake, a voided receipt); only while nothing of it was returned.
   * Its status becomes `cancelled`. Not with `lines` or `amount`.
   */
  cancel?: boolean;
}

export type RefundOutcome =
  | 'ok'
  | 'exists'
  | 'exists_with_different_transaction'
  | 'exists_with_different_lines'
  | 'exists_with_different_amount'
  | 'transaction_not_found'
  | 'guest_merged'
  | 'already_returned'
  | 'refund_exceeds_check'
  | 'cancel_after_return'
  | 'exists_with_different_cancel';

export type CheckStatus = 'committed' | 'partially_returned' | 'returned' | 'cancelled';

export interface RefundResult {
  outcome: RefundOutcome;
  /** The refund's own transaction; "" when nothing was applied. */
  refundId: string;
  transactionId: string;
  guestId: string;
  /** Money returned by this refund, minor units. */
  returned: number;
  /** Points of the check's accrual taken back by this refund, hundredths. */
  accrualReversed: number;
  /** Points the check spent given back by this refund (with their original expiry) to the account it paid from, hundredths. */
  spentRestored: number;
  /** Points to take back that the guest had already spent and the `clamp` policy let go. */
  writtenOff: number;
  balance: number;
  checkStatus: CheckStatus | '';
  /** Money of the check's deposit payment given back to the deposit by this refund, minor units. */
  depositRestored: number;
  /**
   * What this refund took back of the check's accruals into points accounts other than
   * the program's, one entry per account it moved (in the order the check accrued them);
   * absent when there is none. `accrualReversed` and `writtenOff` above count the
   * program's points only.
   */
  pointsReversed?: PointsReversal[];
}

/** One points account's share of a refund: its points taken back, and those written off. */
export interface PointsReversal {
  account: string;
  /** Points of the check's accrual into `account` taken back by this refund (a debt included), hundredths. */
  reversed: number;
  /** Points to take back that the guest had already spent and the `clamp` policy let go, hundredths. */
  writtenOff: number;
}

export interface AdjustRequest {
  outlet: string;
  /** Chosen by the client, unique per outlet among adjustments. */
  idempotencyKey: string;
  card: string;
  /** Points to add (> 0) or take (< 0), hundredths. */
  points: number;
  /** Why, for the audit trail: 1..200 characters. */
  reason: string;
  /** Who: the cashier or operator, 1..100 characters. */
  operator: string;
}

export type AdjustOutcome =
  | 'ok'
  | 'exists'
  | 'exists_with_different_card'
  | 'exists_with_different_points'
  | 'exists_with_different_reason'
  | 'insufficient_points';

export interface AdjustResult {
  outcome: AdjustOutcome;
  /** The adjustment's transaction; "" when nothing was applied. */
  transactionId: string;
  guestId: string;
  balance: number;
}

export interface TopUpRequest {
  outlet: string;
  /** Chosen by the client, unique per outlet among top-ups. */
  idempotencyKey: string;
  card: string;
  /** A deposit account of the configuration (an account whose unit is money). */
  account: string;
  /** Money put on the deposit, minor units, > 0. */
  amount: number;
  /** Who took the money: the cashier or operator, 1..100 characters. */
  operator: string;
}

export type TopUpOutcome = 'ok' | 'exists' | 'exists_with_different_card' | 'exists_with_different_account' | 'exists_with_different_amount';

export interface TopUpResult {
  outcome: TopUpOutcome;
  /** The top-up's transaction (kind `top_up`); for `exists*` the first one's. */
  transactionId: string;
  guestId: string;
  account: string;
  /** The deposit's balance after the top-up, minor units. */
  balance: number;
}

/** The balance of one of the guest's deposit accounts, points accounts other than the program's, or the value of a counter. */
export interface AccountBalance {
  account: string;
  /** `money` (minor units, a deposit), `points` (hundredths, a points account other than the program's) or `count` (a counter). */
  unit: 'money' | 'count' | 'points';
  /** For `points`: every lot (pending included; negative for a debt). */
  balance: number;
  /** `points` only: active points, what may be spent now. */
  available?: number;
  /** `points` only: points waiting for their activation. */
  pending?: number;
  /** `points` only: active points that expire within `expiringWithinDays`. */
  expiring?: number;
}

export interface BalanceRequest {
  outlet: string;
  card: string;
  /** Last transactions to return, 0..history_limit_max. */
  limit?: number;
  /** Horizon of `expiring`, days; default 30. */
  expiringWithinDays?: number;
}

export interface TransactionView {
  transactionId: string;
  /**
   * `check` (commit), `refund`, `adjustment` (manual, with reason), `expiry` (points burnt at
   * their expiry), `top_up` (money put on a deposit), `merge_out` (everything of a guest merged
   * away into another: `accrued` is minus the points that left) or `merge_in` (what a merged
   * guest brought: `accrued` is the points that came, negative for a debt).
   */
  kind: 'check' | 'refund' | 'adjustment' | 'expiry' | 'top_up'
    | 'merge_out'
    | 'merge_in';
  time: string;
  outlet: string;
  /** Check total; for a refund the money returned. Minor units. */
  total: number;
  /** Points spent (negative: given back by a refund). */
  spent: number;
  /** Points accrued (negative: taken back by a refund, or burnt at expiry). */
  accrued: number;
  balanceAfter: number;
  /** Who made it: an adjustment's operator (and a deposit top-up's); absent on other kinds. */
  operator?: string;
  /** Why: an adjustment's reason; absent on other kinds. */
  reason?: string;
  /** The check a refund returns or cancels (its `transactionId`); absent on other kinds. */
  original?: string;
  /**
   * A check that paid from a points account other than the program's: that account (its
   * `spent` counts that account's points); a refund of it: the account its points went back
   * to. Absent otherwise.
   */
  pointsAccount?: string;
}

export interface BalanceResult {
  guestId: string;
  /** Points on the account (pending and held included; negative for a debt), hundredths. */
  balance: number;
  /** Active points not held: what may be spent now. */
  available: number;
  /** Accrued points waiting for their activation. */
  pending: number;
  /** Points held by open holds. */
  held: number;
  /** Active points that expire within `expiringWithinDays`. */
  expiring: number;
  transactions: TransactionView[];
  /** The guest's deposits and counters, by account id. */
  accounts: AccountBalance[];
}

/**
 * Merges two guests: everything of the guest holding `from` moves to the guest holding
 * `card` (points as lots that keep their activation and expiry, or a debt; deposits;
 * counters; every card; the profile fields the guest who stays lacks). The guest merged
 * away keeps its journal and ends empty. See engine/guest-merge.ts.
 */
export interface MergeRequest {
  outlet: string;
  /** Chosen by the client, unique per outlet among merges; a retry reuses it. */
  idempotencyKey: string;
  /** An active card of the guest who stays ("into"). */
  card: string;
  /** An active card of the guest merged away. */
  from: string;
}

export type MergeOutcome =
  | 'ok'
  | 'exists'
  | 'exists_with_different_card'
  | 'exists_with_different_from'
  | 'same_guest';

export interface MergeResult {
  outcome: MergeOutcome;
  /** The transfer, `<guest id merged away>.m1`; "" for `same_guest`. */
  mergeId: string;
  /** The guest who stays. */
  guestId: string;
  /** Its points after the merge, hundredths (negative for a debt); for `exists*` right after the first merge. */
  balance: number;
  /** Cards that moved to it (blocked and replaced ones included). */
  cardsMoved: number;
}

export interface Operations {
  register: { request: RegisterRequest; result: RegisterResult };
  identify: { request: IdentifyRequest; result: IdentifyResult };
  evaluate: { request: EvaluateRequest; result: EvaluateResult };
  commit: { request: CommitRequest; result: CommitResult };
  balance: { request: BalanceRequest; result: BalanceResult };
  cancel: { request: CancelRequest; result: CancelResult };
  refund: { request: RefundRequest; result: RefundResult };
  adjust: { request: AdjustRequest; result: AdjustResult };
  topUp: { request: TopUpRequest; result: TopUpResult };
  updateGuest: { request: UpdateGuestRequest; result: UpdateGuestResult };
  addCard: { request: AddCardRequest; result: AddCardResult };
  blockCard: { request: BlockCardRequest; result: BlockCardResult };
  unblockCard: { request: UnblockCardRequest; result: UnblockCardResult };
  paymentCode: { request: PaymentCodeRequest; result: PaymentCodeResult };
  merge: { request: MergeRequest; result: MergeResult };
}

export type Op = keyof Operations;
export const OPS: readonly Op[] = ['register', 'identify', 'evaluate', 'commit', 'balance', 'cancel', 'refund', 'adjust', 'topUp',
  'updateGuest', 'addCard', 'blockCard', 'unblockCard', 'paymentCode', 'merge'];

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
