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
} from './types.js';

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

const REGISTER_FIELDS = new Set(['outlet', 'card', 'name', 'phone']);
const PHONE = /^\+?[0-9]{5,20}$/;

export function validateRegister(value: unknown): RegisterRequest {
  const o = object(value, 'body');
  onlyKnown(o, REGISTER_FIELDS, '');
  const out: RegisterRequest = { outlet: str(o, 'outlet', L.id_chars_max), card: str(o, 'card', L.card_chars_max) };
  const name = optStr(o, 'name', L.name_chars_max);
  if (name !== undefined) out.name = name;
  const phone = optStr(o, 'phone', 24);
  if (phone !== undefined) {
    if (!PHONE.test(phone)) fail('phone', 'must be digits with an optional leading +, e.g. "+79991234567"');
    out.phone = phone;
  }
  return out;
}

const IDENTIFY_FIELDS = new Set(['outlet', 'card']);

export function validateIdentify(value: unknown): IdentifyRequest {
  const o = object(value, 'body');
  onlyKnown(o, IDENTIFY_FIELDS, '');
  return { outlet: str(o, 'outlet', L.id_chars_max), card: str(o, 'card', L.card_chars_max) };
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

const EVALUATE_FIELDS = new Set(['outlet', 'time', 'currency', 'card', 'lines', 'pointsToSpend', 'hold', 'explain']);

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
  return out;
}

const COMMIT_FIELDS = new Set(['outlet', 'idempotencyKey', 'time', 'currency', 'card', 'lines', 'pointsSpent', 'holdId']);

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
  return out;
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

const REFUND_FIELDS = new Set(['outlet', 'idempotencyKey', 'transactionId', 'lines', 'amount']);
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

export const VALIDATORS: { [O in Op]: (value: unknown) => Operations[O]['request'] } = {
  register: validateRegister,
  identify: validateIdentify,
  evaluate: validateEvaluate,
  commit: validateCommit,
  balance: validateBalance,
  cancel: validateCancel,
  refund: validateRefund,
  adjust: validateAdjust,
};

export function isOp(value: unknown): value is Op {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(VALIDATORS, value);
}

export function validateRequest(op: unknown, body: unknown): Operations[Op]['request'] {
  if (!isOp(op)) throw new KopilkaError('unknown_op', `op must be one of ${Object.keys(VALIDATORS).join(', ')}`);
  return VALIDATORS[op](body);
}
