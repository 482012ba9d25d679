// Validation at the door, once, before anything touches a shard. Each validator
// takes an untrusted decoded value and returns a fresh object holding only the
// known fields (so nothing from the wire, prototypes included, leaks inward), or
// throws `invalid_field` naming the field and the fix. No database is touched.

import { KopilkaError } from './errors.js';
import * as L from './limits.js';
import type {
  AdjustRequest,
  BalanceRequest,
  CancelRequest,
  CheckLine,
  CommitRequest,
  EvaluateRequest,
  IdentifyRequest,
  Op,
  Operations,
  RefundRequest,
  RegisterRequest,
  DepositPayment,
  MergeRequest,
  TopUpRequest,
} from './types.js';
import {
  CARD_KINDS,
  type AddCardRequest,
  type BlockCardRequest,
  type CardKind,
  type GuestProfileFields,
  type PaymentCodeRequest,
  type UnblockCardRequest,
  type UpdateGuestRequest,
} from './types.js';
import { PAYMENT_CODE_LIKE, RFID_CARD, normalizeRfid } from './card-numbers.js';

type Obj = Record<string, unknown>;

function fail(field: string, fix: string): never {
  throw new KopilkaError('invalid_field', `${field} ${fix}`, field);
}

function object(value: unknown, field: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    if (field === 'body') throw new KopilkaError('bad_request', 'body must be an object');
    fail(field, 'must be an object');
  }
  return value as Obj;
}

function onlyKnown(o: Obj, known: ReadonlySet<string>, path: string): void {
  for (const key in o) {
    if (!known.has(key)) fail(path ? `${path}.${key}` : key, 'is not a known field; remove it');
  }
}

function str(o: Obj, key: string, max: number, path = key): string {
  const v = o[key];
  if (typeof v !== 'string') fail(path, 'must be a string');
  if (v.length === 0 || v.length > max) fail(path, `must be 1..${max} characters`);
  return v;
}

function optStr(o: Obj, key: string, max: number, path = key): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, max, path);
}

function int(o: Obj, key: string, min: number, max: number, path = key): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, 'must be an integer');
  if (v < min || v > max) fail(path, `must be between ${min} and ${max}`);
  return v;
}

function optInt(o: Obj, key: string, min: number, max: number, dflt: number): number {
  return o[key] === undefined ? dflt : int(o, key, min, max);
}

const CURRENCY = /^[A-Z]{3}$/;
// ISO 8601 with a time zone designator: a check's time must be unambiguous.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function currency(o: Obj): string {
  const v = o.currency;
  if (typeof v !== 'string' || !CURRENCY.test(v)) fail('currency', 'must be an ISO 4217 code such as "RUB"');
  return v;
}

function time(o: Obj): string {
  const v = o.time;
  if (typeof v !== 'string' || !ISO_TIME.test(v) || Number.isNaN(Date.parse(v))) {
    fail('time', 'must be an ISO 8601 time with offset, e.g. "2026-11-24T12:30:00+03:00"');
  }
  return v;
}

const LINE_FIELDS = new Set(['itemCode', 'category', 'quantity', 'unitPrice', 'posDiscount', 'posPromotion']);

function lines(o: Obj): CheckLine[] {
  const v = o.lines;
  if (!Array.isArray(v)) fail('lines', 'must be an array of check lines');
  if (v.length === 0 || v.length > L.check_lines_max) fail('lines', `must hold 1..${L.check_lines_max} lines`);
  const out: CheckLine[] = new Array(v.length);
  let total = 0;
  for (let i = 0; i < v.length; i++) {
    const path = `lines[${i}]`;
    const line = object(v[i], path);
    onlyKnown(line, LINE_FIELDS, path);
    const itemCode = str(line, 'itemCode', L.item_code_chars_max, `${path}.itemCode`);
    const category = optStr(line, 'category', L.item_code_chars_max, `${path}.category`);
    const quantity = int(line, 'quantity', 1, L.line_quantity_max, `${path}.quantity`);
    const unitPrice = int(line, 'unitPrice', 0, L.unit_price_minor_max, `${path}.unitPrice`);
    total += quantity * unitPrice;
    if (total > L.check_total_minor_max) fail('lines', `must add up to at most ${L.check_total_minor_max} minor units`);
    const l: CheckLine = category === undefined ? { itemCode, quantity, unitPrice } : { itemCode, category, quantity, unitPrice };
    // Only present when given: a line without them fingerprints as it always did.
    if (line.posDiscount !== undefined) {
      const posDiscount = int(line, 'posDiscount', 0, quantity * unitPrice, `${path}.posDiscount`);
      if (posDiscount > 0) l.posDiscount = posDiscount;
    }
    if (line.posPromotion !== undefined) {
      if (typeof line.posPromotion !== 'boolean') fail(`${path}.posPromotion`, 'must be true or false');
      if (line.posPromotion) l.posPromotion = true;
    }
    out[i] = l;
  }
  return out;
}

// ---- guests and cards -------------------------------------------------------------

const PROFILE_FIELDS = ['name', 'phone', 'email', 'birthday', 'document', 'address', 'tags', 'consent'] as const;
const PHONE = /^\+?[0-9]{5,20}$/;
// Deliberately loose: one @, no spaces, a dot in the domain. Whether it reaches anyone only a message can tell.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
const BIRTHDAY = /^(?:([0-9]{4})|-)-([0-9]{2})-([0-9]{2})$/;
const birthday_year_min = 1900;
const birthday_year_max = 2100;

function phone(o: Obj): string {
  const v = str(o, 'phone', L.phone_chars_max);
  if (!PHONE.test(v)) fail('phone', 'must be digits with an optional leading +, e.g. "+79991234567"');
  return v;
}

function email(o: Obj): string {
  const v = str(o, 'email', L.email_chars_max);
  if (!EMAIL.test(v)) fail('email', 'must be an e-mail address such as "anna@example.com"');
  return v;
}

function birthday(o: Obj): string {
  const v = o.birthday;
  const m = typeof v === 'string' ? BIRTHDAY.exec(v) : null;
  if (m === null) fail('birthday', 'must be a date "YYYY-MM-DD", or "--MM-DD" when the year is unknown');
  const year = m[1] === undefined ? undefined : Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year !== undefined && (year < birthday_year_min || year > birthday_year_max)) {
    fail('birthday', `must have a year between ${birthday_year_min} and ${birthday_year_max}`);
  }
  // Without a year, 29 February is allowed: some years have it.
  const days = month >= 1 && month <= 12 ? new Date(Date.UTC(year ?? 2000, month, 0)).getUTCDate() : 0;
  if (day < 1 || day > days) fail('birthday', `must be a real date; ${v as string} is not one`);
  return v as string;
}

function tags(o: Obj): string[] {
  const v = o.tags;
  if (!Array.isArray(v)) fail('tags', 'must be an array of strings');
  if (v.length > L.guest_tags_max) fail('tags', `must hold at most ${L.guest_tags_max} tags`);
  const seen = new Set<string>();
  const out: string[] = new Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const tag = str(v as unknown as Obj, String(i), L.tag_chars_max, `tags[${i}]`);
    if (seen.has(tag)) fail(`tags[${i}]`, `repeats "${tag}"; list each tag once`);
    seen.add(tag);
    out[i] = tag;
  }
  return out;
}

/**
 * Copies the profile fields present in `o` to `out`, each checked. With `clearable`
 * (updateGuest), "" clears a text field: it is kept as "".
 */
function profileFields(o: Obj, out: GuestProfileFields, clearable: boolean): void {
  const text = (key: 'name' | 'document' | 'address', max: number): void => {
    if (o[key] === undefined) return;
    out[key] = clearable && o[key] === '' ? '' : str(o, key, max);
  };
  const checked = (key: 'phone' | 'email' | 'birthday', read: (o: Obj) => string): void => {
    if (o[key] === undefined) return;
    out[key] = clearable && o[key] === '' ? '' : read(o);
  };
  text('name', L.name_chars_max);
  checked('phone', phone);
  checked('email', email);
  checked('birthday', birthday);
  text('document', L.document_chars_max);
  text('address', L.address_chars_max);
  if (o.tags !== undefined) out.tags = tags(o);
  const consent = optBool(o, 'consent');
  if (consent !== undefined) out.consent = consent;
}

function cardKind(o: Obj, key: string): CardKind {
  const v = o[key];
  if (typeof v !== 'string' || !(CARD_KINDS as readonly string[]).includes(v)) fail(key, `must be one of ${CARD_KINDS.join(', ')}`);
  return v as CardKind;
}

/**
 * A card number to bind: never the shape of a payment code; an RFID UID is 8 hex
 * characters, kept in upper case. The organization's masks are checked by the engine.
 */
function newCardNumber(o: Obj, key: string, kind: CardKind): string {
  const v = str(o, key, L.card_chars_max);
  if (PAYMENT_CODE_LIKE.test(v)) fail(key, 'must not look like a payment code ("P" and 8 digits)');
  if (kind !== 'rfid') return v;
  const uid = normalizeRfid(v);
  if (!RFID_CARD.test(uid)) fail(key, 'of an rfid card must be its 8 hex characters, e.g. "A1B2C3E4"');
  return uid;
}

const UPDATE_GUEST_FIELDS = new Set(['outlet', 'card', 'discounts', ...PROFILE_FIELDS]);
/** An account id as the rules allow one (engine/rules/validate.ts). */
const ACCOUNT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:@/-]*$/;

/**
 * Discount levels by account id, basis points. Whether each account is a discount
 * account of the configuration is the shard's to check: the door reads no configuration.
 */
function discounts(o: Obj): Record<string, number> {
  const v = object(o.discounts, 'discounts');
  const keys = Object.keys(v);
  if (keys.length > L.guest_discounts_max) fail('discounts', `must name at most ${L.guest_discounts_max} accounts, not ${keys.length}`);
  // ACCOUNT_ID refuses "__proto__" (it starts with "_"), so a plain object holds every key as given.
  const out: Record<string, number> = {};
  for (const key of keys) {
    const path = `discounts.${key}`;
    if (key.length > L.id_chars_max || !ACCOUNT_ID.test(key)) fail(path, `must name an account: 1..${L.id_chars_max} letters, digits and _ . : @ / -, starting with a letter or digit`);
    const level = v[key];
    if (typeof level !== 'number' || !Number.isSafeInteger(level) || level < 0 || level > 10_000) {
      fail(path, 'must be an integer from 0 to 10000 (basis points: 750 = 7.5%)');
    }
    out[key] = level;
  }
  return out;
}

export function validateUpdateGuest(value: unknown): UpdateGuestRequest {
  const o = object(value, 'body');
  onlyKnown(o, UPDATE_GUEST_FIELDS, '');
  const out: UpdateGuestRequest = { outlet: str(o, 'outlet', L.id_chars_max), card: str(o, 'card', L.card_chars_max) };
  profileFields(o, out, true);
  if (o.discounts !== undefined) out.discounts = discounts(o);
  return out;
}

const ADD_CARD_FIELDS = new Set(['outlet', 'card', 'newCard', 'kind']);

export function validateAddCard(value: unknown): AddCardRequest {
  const o = object(value, 'body');
  onlyKnown(o, ADD_CARD_FIELDS, '');
  const outlet = str(o, 'outlet', L.id_chars_max);
  const card = str(o, 'card', L.card_chars_max);
  const kind = cardKind(o, 'kind');
  return { outlet, card, newCard: newCardNumber(o, 'newCard', kind), kind };
}

const BLOCK_CARD_FIELDS = new Set(['outlet', 'card', 'reason']);

export function validateBlockCard(value: unknown): BlockCardRequest {
  const o = object(value, 'body');
  onlyKnown(o, BLOCK_CARD_FIELDS, '');
  return { outlet: str(o, 'outlet', L.id_chars_max), card: str(o, 'card', L.card_chars_max), reason: str(o, 'reason', L.block_reason_chars_max) };
}

const CARD_ONLY_FIELDS = new Set(['outlet', 'card']);

export function validateUnblockCard(value: unknown): UnblockCardRequest {
  const o = object(value, 'body');
  onlyKnown(o, CARD_ONLY_FIELDS, '');
  return { outlet: str(o, 'outlet', L.id_chars_max), card: str(o, 'card', L.card_chars_max) };
}

export function validatePaymentCode(value: unknown): PaymentCodeRequest {
  const o = object(value, 'body');
  onlyKnown(o, CARD_ONLY_FIELDS, '');
  return { outlet: str(o, 'outlet', L.id_chars_max), card: str(o, 'card', L.card_chars_max) };
}

const REGISTER_FIELDS = new Set(['outlet', 'card', 'kind', 'discounts', ...PROFILE_FIELDS]);

export function validateRegister(value: unknown): RegisterRequest {
  const o = object(value, 'body');
  onlyKnown(o, REGISTER_FIELDS, '');
  const kind = o.kind === undefined ? undefined : cardKind(o, 'kind');
  const out: RegisterRequest = { outlet: str(o, 'outlet', L.id_chars_max), card: newCardNumber(o, 'card', kind ?? 'plastic') };
  if (kind !== undefined) out.kind = kind;
  profileFields(o, out, false);
  if (o.discounts !== undefined) out.discounts = discounts(o);
  return out;
}

const IDENTIFY_FIELDS = new Set(['outlet', 'card', 'phone']);

export function validateIdentify(value: unknown): IdentifyRequest {
  const o = object(value, 'body');
  onlyKnown(o, IDENTIFY_FIELDS, '');
  const outlet = str(o, 'outlet', L.id_chars_max);
  if (o.card !== undefined && o.phone !== undefined) fail('phone', 'cannot be given with card; identify by one of them');
  if (o.phone !== undefined) return { outlet, phone: phone(o) };
  if (o.card === undefined) fail('card', 'is required (or phone instead)');
  return { outlet, card: str(o, 'card', L.card_chars_max) };
}

function optBool(o: Obj, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') fail(key, 'must be true or false');
  return v;
}

// A hold id is "<guest id>.h<n>", a transaction id "<guest id>.<n>": both name the guest's shard.
// Numbers without leading zeros: one id, one spelling (retries compare ids as text).
const HOLD_ID = /^(0|[1-9]\d*)-[1-9]\d*\.h[1-9]\d*$/;
const TRANSACTION_ID = /^(0|[1-9]\d*)-[1-9]\d*\.[1-9]\d*$/;

function holdId(o: Obj, key: string): string {
  const v = str(o, key, L.id_chars_max);
  if (!HOLD_ID.test(v)) fail(key, 'must be a hold id from evaluate, e.g. "2-17.h3"');
  return v;
}

const EVALUATE_FIELDS = new Set(['outlet', 'time', 'currency', 'card', 'lines', 'pointsToSpend', 'hold', 'explain', 'pointsAccount']);

export function validateEvaluate(value: unknown): EvaluateRequest {
  const o = object(value, 'body');
  onlyKnown(o, EVALUATE_FIELDS, '');
  const out: EvaluateRequest = {
    outlet: str(o, 'outlet', L.id_chars_max),
    time: time(o),
    currency: currency(o),
    card: str(o, 'card', L.card_chars_max),
    lines: lines(o),
    pointsToSpend: optInt(o, 'pointsToSpend', 0, L.points_max, 0),
  };
  if (optBool(o, 'hold') === true) out.hold = true;
  if (optBool(o, 'explain') === true) out.explain = true;
  // As commit's: whether it names a points account of the configuration (and goes with a hold) is the engine's to check.
  if (o.pointsAccount !== undefined) out.pointsAccount = accountId(o, 'pointsAccount');
  return out;
}

const COMMIT_FIELDS = new Set(['outlet', 'idempotencyKey', 'time', 'currency', 'card', 'lines', 'pointsSpent', 'holdId', 'deposit', 'pointsAccount']);

export function validateCommit(value: unknown): CommitRequest {
  const o = object(value, 'body');
  onlyKnown(o, COMMIT_FIELDS, '');
  const out: CommitRequest = {
    outlet: str(o, 'outlet', L.id_chars_max),
    idempotencyKey: str(o, 'idempotencyKey', L.idempotency_key_chars_max),
    time: time(o),
    currency: currency(o),
    card: str(o, 'card', L.card_chars_max),
    lines: lines(o),
    pointsSpent: optInt(o, 'pointsSpent', 0, L.points_max, 0),
  };
  if (o.holdId !== undefined) out.holdId = holdId(o, 'holdId');
  if (o.deposit !== undefined) out.deposit = deposit(o);
  // Whether it names a points account of the configuration is the shard's to check.
  if (o.pointsAccount !== undefined) out.pointsAccount = accountId(o, 'pointsAccount');
  return out;
}

function accountId(o: Obj, key: string): string {
  const v = str(o, key, L.id_chars_max);
  if (!ACCOUNT_ID.test(v)) fail(key, `must name an account: letters, digits and _ . : @ / -, starting with a letter or digit`);
  return v;
}

const BALANCE_FIELDS = new Set(['outlet', 'card', 'limit', 'expiringWithinDays']);

export function validateBalance(value: unknown): BalanceRequest {
  const o = object(value, 'body');
  onlyKnown(o, BALANCE_FIELDS, '');
  return {
    outlet: str(o, 'outlet', L.id_chars_max),
    card: str(o, 'card', L.card_chars_max),
    limit: optInt(o, 'limit', 0, L.history_limit_max, L.history_limit_default),
    expiringWithinDays: optInt(o, 'expiringWithinDays', 0, L.expiring_within_days_max, L.expiring_within_days_default),
  };
}

const CANCEL_FIELDS = new Set(['outlet', 'holdId']);

export function validateCancel(value: unknown): CancelRequest {
  const o = object(value, 'body');
  onlyKnown(o, CANCEL_FIELDS, '');
  return { outlet: str(o, 'outlet', L.id_chars_max), holdId: holdId(o, 'holdId') };
}

const REFUND_FIELDS = new Set(['outlet', 'idempotencyKey', 'transactionId', 'lines', 'amount', 'cancel']);
const REFUND_LINE_FIELDS = new Set(['line', 'quantity']);

export function validateRefund(value: unknown): RefundRequest {
  const o = object(value, 'body');
  onlyKnown(o, REFUND_FIELDS, '');
  const transactionId = str(o, 'transactionId', L.id_chars_max);
  if (!TRANSACTION_ID.test(transactionId)) fail('transactionId', 'must be the transactionId of a commit, e.g. "2-17.5"');
  const out: RefundRequest = {
    outlet: str(o, 'outlet', L.id_chars_max),
    idempotencyKey: str(o, 'idempotencyKey', L.idempotency_key_chars_max),
    transactionId,
  };
  if (o.lines !== undefined && o.amount !== undefined) fail('amount', 'cannot be given with lines; return either lines or an amount');
  if (optBool(o, 'cancel') === true) {
    if (o.lines !== undefined || o.amount !== undefined) fail('cancel', 'cancels the whole check: give neither lines nor an amount');
    out.cancel = true;
  }
  if (o.amount !== undefined) out.amount = int(o, 'amount', 1, L.check_total_minor_max);
  if (o.lines !== undefined) {
    if (!Array.isArray(o.lines)) fail('lines', 'must be an array of { line, quantity }');
    if (o.lines.length === 0 || o.lines.length > L.check_lines_max) fail('lines', `must hold 1..${L.check_lines_max} entries`);
    const seen = new Set<number>();
    out.lines = o.lines.map((v, i) => {
      const path = `lines[${i}]`;
      const line = object(v, path);
      onlyKnown(line, REFUND_LINE_FIELDS, path);
      const index = int(line, 'line', 0, L.check_lines_max - 1, `${path}.line`);
      if (seen.has(index)) fail(`${path}.line`, 'names a line already listed; list each line once');
      seen.add(index);
      return { line: index, quantity: int(line, 'quantity', 1, L.line_quantity_max, `${path}.quantity`) };
    });
  }
  return out;
}

const ADJUST_FIELDS = new Set(['outlet', 'idempotencyKey', 'card', 'points', 'reason', 'operator']);

export function validateAdjust(value: unknown): AdjustRequest {
  const o = object(value, 'body');
  onlyKnown(o, ADJUST_FIELDS, '');
  const points = int(o, 'points', -L.points_max, L.points_max);
  if (points === 0) fail('points', 'must not be 0: positive adds points, negative takes them');
  return {
    outlet: str(o, 'outlet', L.id_chars_max),
    idempotencyKey: str(o, 'idempotencyKey', L.idempotency_key_chars_max),
    card: str(o, 'card', L.card_chars_max),
    points,
    reason: str(o, 'reason', L.name_chars_max),
    operator: str(o, 'operator', 100),
  };
}

const TOP_UP_FIELDS = new Set(['outlet', 'idempotencyKey', 'card', 'account', 'amount', 'operator']);

export function validateTopUp(value: unknown): TopUpRequest {
  const o = object(value, 'body');
  onlyKnown(o, TOP_UP_FIELDS, '');
  return {
    outlet: str(o, 'outlet', L.id_chars_max),
    idempotencyKey: str(o, 'idempotencyKey', L.idempotency_key_chars_max),
    card: str(o, 'card', L.card_chars_max),
    account: str(o, 'account', L.id_chars_max),
    amount: int(o, 'amount', 1, L.check_total_minor_max),
    operator: str(o, 'operator', 100),
  };
}

const MERGE_FIELDS = new Set(['outlet', 'idempotencyKey', 'card', 'from']);

/** Both cards are looked up by the engine: the same card twice is the outcome `same_guest`, not an error. */
export function validateMerge(value: unknown): MergeRequest {
  const o = object(value, 'body');
  onlyKnown(o, MERGE_FIELDS, '');
  return {
    outlet: str(o, 'outlet', L.id_chars_max),
    idempotencyKey: str(o, 'idempotencyKey', L.idempotency_key_chars_max),
    card: str(o, 'card', L.card_chars_max),
    from: str(o, 'from', L.card_chars_max),
  };
}

const DEPOSIT_FIELDS = new Set(['account', 'amount']);

function deposit(o: Obj): DepositPayment {
  const d = object(o.deposit, 'deposit');
  onlyKnown(d, DEPOSIT_FIELDS, 'deposit');
  return { account: str(d, 'account', L.id_chars_max, 'deposit.account'), amount: int(d, 'amount', 1, L.check_total_minor_max, 'deposit.amount') };
}

export const VALIDATORS: { [O in Op]: (value: unknown) => Operations[O]['request'] } = {
  register: validateRegister,
  identify: validateIdentify,
  evaluate: validateEvaluate,
  commit: validateCommit,
  balance: validateBalance,
  cancel: validateCancel,
  refund: validateRefund,
  adjust: validateAdjust,
  topUp: validateTopUp,
  updateGuest: validateUpdateGuest,
  addCard: validateAddCard,
  blockCard: validateBlockCard,
  unblockCard: validateUnblockCard,
  paymentCode: validatePaymentCode,
  merge: validateMerge,
};

export function isOp(value: unknown): value is Op {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(VALIDATORS, value);
}

export function validateRequest(op: unknown, body: unknown): Operations[Op]['request'] {
  if (!isOp(op)) throw new KopilkaError('unknown_op', `op must be one of ${Object.keys(VALIDATORS).join(', ')}`);
  return VALIDATORS[op](body);
}
