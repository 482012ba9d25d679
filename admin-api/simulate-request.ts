// The body of POST /v1/simulate, validated at the door: a check and a guest in
// the rules engine's shapes (CheckContext, GuestContext in engine/rules/model.ts),
// the moment to simulate, and optionally a whole draft rules document. The
// result is built field by field (nothing of the input is kept by reference);
// the first bad field is an `invalid_field` error naming it by its path
// (`check.lines[3].quantity`), and a bad draft is the rules validator's errors.

import { isTimeZone } from '../engine/rules/local-time.js';
import type { CheckContext, ContextLine, GuestContext, PromotionUsage, RulesConfig } from '../engine/rules/model.js';
import { KopilkaError } from '../protocol/errors.js';
import {
  check_lines_max,
  check_total_minor_max,
  item_code_chars_max,
  line_quantity_max,
  points_max,
  unit_price_minor_max,
} from '../protocol/limits.js';
import {
  id_chars_max,
  simulate_attribute_chars_max,
  simulate_list_values_max,
  simulate_map_entries_max,
  time_zone_chars_max,
} from './limits.js';
import { checkRules, jsonObject } from './rules-edits.js';

export interface SimulateRequest {
  check: CheckContext;
  guest: GuestContext;
  /** Epoch ms of the simulated check. */
  time: number;
  /** A whole rules document to simulate instead of the published one, validated. */
  draft: RulesConfig | null;
  /** Whether promotions in `draft` status apply as if active (paused and archived never do). */
  includeDrafts: boolean;
}

/** The guest id when the request names none: a simulation needs no real guest. */
export const simulated_guest_id = 'simulation';

type Obj = Record<string, unknown>;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const CURRENCY = /^[A-Z]{3}$/;
const BIRTHDAY = /^(?:\d{4}|-)-(\d{2})-(\d{2})$/;
/** Epoch ms a Date can hold: ±100 000 000 days. */
const epoch_ms_max = 8_640_000_000_000_000;

const BODY_FIELDS = ['check', 'guest', 'at', 'draft', 'includeDrafts'];
const CHECK_FIELDS = ['organization', 'partner', 'outlet', 'terminal', 'outletTags', 'timeZone', 'currency', 'lines', 'paidWithPoints'];
const LINE_FIELDS = ['itemCode', 'category', 'quantity', 'unitPrice', 'posDiscount', 'posPromotion'];
const GUEST_FIELDS = [
  'id', 'level', 'tags', 'segments', 'birthday', 'registeredAt', 'cardType',
  'attributes', 'balances', 'counters', 'usage', 'discountChecks',
];
const USAGE_FIELDS = ['day', 'week', 'month', 'total', 'unitsDay', 'unitsMonth', 'accruedDay', 'accruedMonth'] as const;

function fail(field: string, fix: string): never {
  throw new KopilkaError('invalid_field', `${field} ${fix}`, field);
}

function object(value: unknown, path: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'must be an object');
  return value as Obj;
}

function onlyKnown(o: Obj, known: readonly string[], path: string): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) fail(join(path, key), `is not a known field; remove it (known: ${known.join(', ')})`);
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function has(o: Obj, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key) && o[key] !== undefined;
}

function text(value: unknown, path: string, max: number): string {
  if (typeof value !== 'string') fail(path, 'must be a string');
  // Characters, not UTF-16 units, as the other admin bodies count them.
  const chars = [...value].length;
  if (chars === 0 || chars > max) fail(path, `must be 1..${max} characters`);
  return value;
}

function int(value: unknown, path: string, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(path, `must be an integer from ${min} to ${max}${unit === '' ? '' : ` (${unit})`}`);
  }
  return value;
}

function optText(o: Obj, key: string, path: string, max: number): string | undefined {
  return has(o, key) ? text(o[key], join(path, key), max) : undefined;
}

function optInt(o: Obj, key: string, path: string, min: number, max: number, unit = ''): number | undefined {
  return has(o, key) ? int(o[key], join(path, key), min, max, unit) : undefined;
}

function strings(o: Obj, key: string, path: string): string[] | undefined {
  if (!has(o, key)) return undefined;
  const p = join(path, key);
  const v = o[key];
  if (!Array.isArray(v)) fail(p, 'must be an array of strings');
  if (v.length > simulate_list_values_max) fail(p, `must hold at most ${simulate_list_values_max} values`);
  return v.map((x, i) => text(x, `${p}[${i}]`, id_chars_max));
}

/** A map of at most simulate_map_entries_max entries, keys 1..id_chars_max characters. */
function entries(o: Obj, key: string, path: string): Array<[string, unknown, string]> | undefined {
  if (!has(o, key)) return undefined;
  const p = join(path, key);
  const m = object(o[key], p);
  const keys = Object.keys(m);
  if (keys.length > simulate_map_entries_max) fail(p, `must hold at most ${simulate_map_entries_max} entries`);
  return keys.map((k) => {
    if (k.length === 0 || k.length > id_chars_max) fail(p, `keys must be 1..${id_chars_max} characters`);
    return [k, m[k], `${p}.${k}`];
  });
}

/** A fresh record without a prototype: keys such as `__proto__` stay plain keys. */
function record<T>(pairs: Array<[string, T]>): Record<string, T> {
  const out: Record<string, T> = Object.create(null);
  for (const [k, v] of pairs) out[k] = v;
  return out;
}

function line(value: unknown, path: string): ContextLine {
  const o = object(value, path);
  onlyKnown(o, LINE_FIELDS, path);
  const out: ContextLine = {
    itemCode: text(o.itemCode, join(path, 'itemCode'), item_code_chars_max),
    quantity: int(o.quantity, join(path, 'quantity'), 1, line_quantity_max, 'units'),
    unitPrice: int(o.unitPrice, join(path, 'unitPrice'), 0, unit_price_minor_max, 'minor units'),
  };
  const category = optText(o, 'category', path, item_code_chars_max);
  if (category !== undefined) out.category = category;
  const posDiscount = optInt(o, 'posDiscount', path, 0, out.quantity * out.unitPrice, "minor units, at most the line's quantity × unitPrice");
  if (posDiscount !== undefined) out.posDiscount = posDiscount;
  if (has(o, 'posPromotion')) {
    if (typeof o.posPromotion !== 'boolean') fail(join(path, 'posPromotion'), 'must be true or false');
    out.posPromotion = o.posPromotion;
  }
  return out;
}

function check(value: unknown): CheckContext {
  const path = 'check';
  const o = object(value, path);
  onlyKnown(o, CHECK_FIELDS, path);
  if (!Array.isArray(o.lines)) fail('check.lines', 'must be an array of check lines');
  if (o.lines.length === 0 || o.lines.length > check_lines_max) fail('check.lines', `must hold 1..${check_lines_max} lines`);
  const lines = o.lines.map((l, i) => line(l, `check.lines[${i}]`));
  const total = lines.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0);
  if (total > check_total_minor_max) fail('check.lines', `must add up to at most ${check_total_minor_max} minor units`);
  const currency = o.currency;
  if (typeof currency !== 'string' || !CURRENCY.test(currency)) fail('check.currency', 'must be an ISO 4217 code such as "RUB"');
  const out: CheckContext = { outlet: text(o.outlet, 'check.outlet', id_chars_max), currency, lines };
  for (const key of ['organization', 'partner', 'terminal'] as const) {
    const v = optText(o, key, path, id_chars_max);
    if (v !== undefined) out[key] = v;
  }
  const outletTags = strings(o, 'outletTags', path);
  if (outletTags !== undefined) out.outletTags = outletTags;
  const timeZone = optText(o, 'timeZone', path, time_zone_chars_max);
  if (timeZone !== undefined) {
    if (!isTimeZone(timeZone)) fail('check.timeZone', 'must be an IANA time zone such as "Europe/Moscow"; leave it out for the organization\'s');
    out.timeZone = timeZone;
  }
  const paid = optInt(o, 'paidWithPoints', path, 0, total, 'minor units, at most the check total');
  if (paid !== undefined) out.paidWithPoints = paid;
  return out;
}

function birthday(value: unknown): string {
  const v = text(value, 'guest.birthday', 10);
  const m = BIRTHDAY.exec(v);
  const month = Number(m?.[1]);
  const day = Number(m?.[2]);
  if (m === null || month < 1 || month > 12 || day < 1 || day > 31) {
    fail('guest.birthday', 'must be a date YYYY-MM-DD, or --MM-DD when the year is unknown');
  }
  return v;
}

function usage(value: unknown, path: string): PromotionUsage {
  const o = object(value, path);
  onlyKnown(o, USAGE_FIELDS, path);
  const out: PromotionUsage = {};
  for (const key of USAGE_FIELDS) {
    const v = optInt(o, key, path, 0, points_max);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

function guest(value: unknown): GuestContext {
  if (value === undefined) return { id: simulated_guest_id };
  const path = 'guest';
  const o = object(value, path);
  onlyKnown(o, GUEST_FIELDS, path);
  const out: GuestContext = { id: optText(o, 'id', path, id_chars_max) ?? simulated_guest_id };
  const level = optText(o, 'level', path, id_chars_max);
  if (level !== undefined) out.level = level;
  const cardType = optText(o, 'cardType', path, id_chars_max);
  if (cardType !== undefined) out.cardType = cardType;
  const tags = strings(o, 'tags', path);
  if (tags !== undefined) out.tags = tags;
  const segments = strings(o, 'segments', path);
  if (segments !== undefined) out.segments = segments;
  if (has(o, 'birthday')) out.birthday = birthday(o.birthday);
  const registeredAt = optInt(o, 'registeredAt', path, 0, epoch_ms_max, 'epoch milliseconds');
  if (registeredAt !== undefined) out.registeredAt = registeredAt;
  const attributes = entries(o, 'attributes', path);
  if (attributes !== undefined) out.attributes = record(attributes.map(([k, v, p]) => [k, text(v, p, simulate_attribute_chars_max)]));
  const balances = entries(o, 'balances', path);
  if (balances !== undefined) out.balances = record(balances.map(([k, v, p]) => [k, int(v, p, -points_max, points_max, "the account's units")]));
  const counters = entries(o, 'counters', path);
  if (counters !== undefined) out.counters = record(counters.map(([k, v, p]) => [k, int(v, p, -points_max, points_max)]));
  const used = entries(o, 'usage', path);
  if (used !== undefined) out.usage = record(used.map(([k, v, p]) => [k, usage(v, p)]));
  if (has(o, 'discountChecks')) {
    const p = 'guest.discountChecks';
    const d = object(o.discountChecks, p);
    onlyKnown(d, ['day', 'month'], p);
    const day = optInt(d, 'day', p, 0, points_max);
    const month = optInt(d, 'month', p, 0, points_max);
    out.discountChecks = { ...(day === undefined ? {} : { day }), ...(month === undefined ? {} : { month }) };
  }
  return out;
}

function at(value: unknown, now: number): number {
  if (value === undefined) return now;
  if (typeof value !== 'string' || !ISO_TIME.test(value) || Number.isNaN(Date.parse(value))) {
    fail('at', 'must be an ISO 8601 time with offset, e.g. "2026-03-08T18:30:00+03:00"; leave it out for now');
  }
  return Date.parse(value);
}

/** Checks a simulate body; `now` (epoch ms) is the time when it names none. */
export function validateSimulateRequest(body: unknown, now = Date.now()): SimulateRequest {
  const o = jsonObject(body);
  onlyKnown(o, BODY_FIELDS, '');
  if (!has(o, 'check')) fail('check', 'is required: the check to simulate, { outlet, currency, lines }');
  let includeDrafts = false;
  if (has(o, 'includeDrafts')) {
    if (typeof o.includeDrafts !== 'boolean') fail('includeDrafts', 'must be true or false');
    includeDrafts = o.includeDrafts;
  }
  return {
    check: check(o.check),
    guest: guest(o.guest),
    time: at(o.at, now),
    // Validated here, at the door: a draft is the whole document, nothing to read first.
    draft: has(o, 'draft') ? checkRules(o.draft, 'draft') : null,
    includeDrafts,
  };
}
