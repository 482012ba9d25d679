// Validation of request bodies, at the door, before any database is touched.
// Each schema is built once at start-up; a failure is an `invalid_field` error
// whose `field` names the field and whose message says what would be accepted.

import { isTimeZone } from '../engine/rules/local-time.js';
import { currencyRatesProblem } from '../engine/currency-rates.js';
import type { CurrencyRate } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import { card_mask_chars_max, card_masks_max } from '../protocol/limits.js';
import {
  basis_points_max,
  config_version_max,
  id_chars_max,
  name_chars_max,
  outlet_tags_max,
  point_value_minor_max,
  time_zone_chars_max,
} from './limits.js';

interface IntegerField {
  kind: 'integer';
  min: number;
  max: number;
  /** What the number means, appended to the message: "(basis points: 500 = 5%)". */
  unit?: string;
}

interface TextField {
  kind: 'text';
  charsMax: number;
  /** When set, the text must match it; `patternDoc` says so in words. */
  pattern?: RegExp;
  patternDoc?: string;
}

type FieldSpec = (IntegerField | TextField) & { required: boolean };

export type BodySchema = Readonly<Record<string, FieldSpec>>;

/**
 * A body checked by a function instead of a flat field list (the nested
 * simulate request, rules documents): it returns the checked body or throws a
 * coded error naming the field.
 */
export type BodyCheck = (body: unknown) => unknown;

const id_pattern = new RegExp(`^[A-Za-z0-9_.-]{1,${id_chars_max}}$`);
const id_doc = `1 to ${id_chars_max} characters of A-Z, a-z, 0-9, "_", "." and "-"`;

const idField: FieldSpec = {
  kind: 'text',
  required: true,
  charsMax: id_chars_max,
  pattern: id_pattern,
  patternDoc: `1 to ${id_chars_max} characters of A-Z, a-z, 0-9, "_", "." and "-"`,
};
const nameField = (required: boolean): FieldSpec => ({ kind: 'text', required, charsMax: name_chars_max });
const basisPointsField: FieldSpec = {
  kind: 'integer',
  required: true,
  min: 0,
  max: basis_points_max,
  unit: 'basis points: 500 = 5%',
};

export const programSchema: BodySchema = {
  name: nameField(false),
  accrualBp: basisPointsField,
  payMaxBp: basisPointsField,
  pointValueMinor: {
    kind: 'integer',
    required: true,
    min: 1,
    max: point_value_minor_max,
    unit: 'minor units one point is worth: 100 = 1.00',
  },
  activationDelayDays: { kind: 'integer', required: false, min: 0, max: 365, unit: 'days before accrued points may be spent' },
  expiryMonths: { kind: 'integer', required: false, min: 0, max: 120, unit: 'months after which points burn; 0 = never' },
  holdTimeoutSeconds: { kind: 'integer', required: false, min: 10, max: 86_400, unit: 'seconds a hold lasts' },
  refundDebtPolicy: {
    kind: 'text',
    required: false,
    charsMax: 8,
    pattern: /^(negative|clamp)$/,
    patternDoc: '"negative" (leave a debt) or "clamp" (write the rest off)',
  },
  expectedVersion: {
    kind: 'integer',
    required: false,
    min: 1,
    max: config_version_max,
    unit: 'the version your edit is based on, from GET /v1/program',
  },
};

const OUTLET_FIELDS = new Set(['id', 'name', 'partner', 'tags']);

/** An outlet: id and name, and where it stands for promotions (partner, tags). */
export const outletSchema: BodyCheck = (body: unknown): OutletBody => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new KopilkaError('bad_request', 'the body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!OUTLET_FIELDS.has(key)) throw new KopilkaError('invalid_field', `${key} is not a field of an outlet (${[...OUTLET_FIELDS].join(', ')})`, key);
  const id = idText(o.id, 'id');
  if (typeof o.name !== 'string' || o.name.length === 0 || o.name.length > name_chars_max) throw new KopilkaError('invalid_field', `name must be 1 to ${name_chars_max} characters`, 'name');
  const out: OutletBody = { id, name: o.name };
  if (o.partner !== undefined) out.partner = idText(o.partner, 'partner');
  if (o.tags !== undefined) {
    if (!Array.isArray(o.tags) || o.tags.length > outlet_tags_max) throw new KopilkaError('invalid_field', `tags must be a list of at most ${outlet_tags_max} tags`, 'tags');
    out.tags = o.tags.map((t, i) => idText(t, `tags[${i}]`));
    if (new Set(out.tags).size !== out.tags.length) throw new KopilkaError('invalid_field', 'tags must not repeat', 'tags');
  }
  return out;
};

function idText(value: unknown, field: string): string {
  if (typeof value !== 'string' || !id_pattern.test(value)) throw new KopilkaError('invalid_field', `${field} must be ${id_doc}`, field);
  return value;
}

export const terminalSchema: BodySchema = { id: idField, outletId: { ...idField } };

const ORGANIZATION_FIELDS = new Set(['name', 'timeZone', 'cardMasks', 'newCardReplacesOthers', 'currencyRates', 'currency', 'expectedVersion']);
/** An IANA zone name: letters first, never a bare UTC offset such as "+03:00". */
const time_zone_pattern = /^[A-Za-z][A-Za-z0-9_+\/-]*$/;

/**
 * A change of the organization's settings: any of name, timeZone, cardMasks,
 * newCardReplacesOthers and currencyRates (the whole list). `currency` is fixed: it may be sent only as it is (the
 * route compares it under the config lock). Masks and rates are checked as the
 * engine checks them (engine/cards.ts, engine/currency-rates.ts), so a version the
 * admin API publishes is one the engine serves; that no rate names the
 * organization's own currency is checked by the route, which reads it.
 */
export const organizationSchema: BodyCheck = (body: unknown): OrganizationBody => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new KopilkaError('bad_request', 'the body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!ORGANIZATION_FIELDS.has(key)) {
      throw new KopilkaError('invalid_field', `${key} is not a field of the organization's settings: remove it (known: ${[...ORGANIZATION_FIELDS].join(', ')})`, key);
    }
  }
  const out: OrganizationBody = {};
  if (o.name !== undefined) {
    const spec = nameField(true);
    if (!accepts(spec, o.name)) throw new KopilkaError('invalid_field', `name must be ${expected(spec)}`, 'name');
    out.name = o.name as string;
  }
  if (o.timeZone !== undefined) {
    const zone = o.timeZone;
    if (typeof zone !== 'string' || zone.length > time_zone_chars_max || !time_zone_pattern.test(zone) || !isTimeZone(zone)) {
      throw new KopilkaError('invalid_field', 'timeZone must be an IANA time zone such as "Europe/Moscow" or "UTC"', 'timeZone');
    }
    out.timeZone = zone;
  }
  if (o.cardMasks !== undefined) out.cardMasks = cardMasks(o.cardMasks);
  if (o.newCardReplacesOthers !== undefined) {
    if (typeof o.newCardReplacesOthers !== 'boolean') {
      throw new KopilkaError('invalid_field', 'newCardReplacesOthers must be true or false', 'newCardReplacesOthers');
    }
    out.newCardReplacesOthers = o.newCardReplacesOthers;
  }
  if (o.currencyRates !== undefined) out.currencyRates = currencyRates(o.currencyRates);
  if (o.currency !== undefined) {
    if (typeof o.currency !== 'string') throw new KopilkaError('invalid_field', 'currency cannot be changed: leave it out', 'currency');
    out.currency = o.currency;
  }
  if (o.expectedVersion !== undefined) {
    const v = o.expectedVersion;
    if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > config_version_max) {
      throw new KopilkaError(
        'invalid_field',
        `expectedVersion must be an integer from 1 to ${config_version_max} (the version your edit is based on, from GET /v1/organization)`,
        'expectedVersion',
      );
    }
    out.expectedVersion = v as number;
  }
  return out;
};

/**
 * Card number masks: `#` a digit, `X` a hex digit, any other character itself.
 * Lengths in UTF-16 units, as the engine and the doors count a card number.
 */
function cardMasks(value: unknown): string[] {
  const doc = `a list of at most ${card_masks_max} masks of 1 to ${card_mask_chars_max} characters ("#" a digit, "X" a hex digit, any other character itself); [] for any number`;
  if (!Array.isArray(value) || value.length > card_masks_max) throw new KopilkaError('invalid_field', `cardMasks must be ${doc}`, 'cardMasks');
  return value.map((mask: unknown, i) => {
    if (typeof mask !== 'string' || mask.length === 0 || mask.length > card_mask_chars_max) {
      throw new KopilkaError('invalid_field', `cardMasks[${i}] must be a string of 1 to ${card_mask_chars_max} characters`, `cardMasks[${i}]`);
    }
    return mask;
  });
}

export interface ProgramBody {
  name?: string;
  accrualBp: number;
  payMaxBp: number;
  pointValueMinor: number;
  activationDelayDays?: number;
  expiryMonths?: number;
  holdTimeoutSeconds?: number;
  refundDebtPolicy?: 'negative' | 'clamp';
  expectedVersion?: number;
}

export interface OutletBody {
  id: string;
  name: string;
  partner?: string;
  tags?: string[];
}

export interface TerminalBody {
  id: string;
  outletId: string;
}

/** Only the fields given change; `currency`, when given, must be the current one. */
export interface OrganizationBody {
  name?: string;
  timeZone?: string;
  cardMasks?: string[];
  newCardReplacesOthers?: boolean;
  /** The whole list of rates, replacing the current one; [] takes none. */
  currencyRates?: CurrencyRate[];
  currency?: string;
  expectedVersion?: number;
}

/**
 * Rates for checks in other currencies, checked as the engine reads them; a fresh
 * copy holding only their fields, in the order given.
 */
function currencyRates(value: unknown): CurrencyRate[] {
  const problem = currencyRatesProblem(value, undefined);
  if (problem !== undefined) throw new KopilkaError('invalid_field', `currencyRates${problem[0]} ${problem[1]}`, `currencyRates${problem[0]}`);
  return (value as CurrencyRate[]).map((r) => (r.minorDigits === undefined ? { currency: r.currency, rate: r.rate } : { currency: r.currency, rate: r.rate, minorDigits: r.minorDigits }));
}

/** Returns `body` checked by a route's schema or check function. */
export function checkBody(schema: BodySchema | BodyCheck, body: unknown): unknown {
  return typeof schema === 'function' ? schema(body) : validateBody(schema, body);
}

/** Returns `body` checked against `schema`; throws `invalid_field` at the first bad field. */
export function validateBody<T>(schema: BodySchema, body: unknown): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new KopilkaError('bad_request', 'the body must be a JSON object');
  }
  const record = body as Record<string, unknown>;
  for (const field of Object.keys(record)) {
    if (!Object.prototype.hasOwnProperty.call(schema, field)) {
      throw new KopilkaError(
        'invalid_field',
        `${field} is not a known field: remove it (known: ${Object.keys(schema).join(', ')})`,
        field,
      );
    }
  }
  for (const [field, spec] of Object.entries(schema)) {
    const value = record[field];
    if (value === undefined) {
      if (spec.required) throw new KopilkaError('invalid_field', `${field} is required: ${expected(spec)}`, field);
      continue;
    }
    if (!accepts(spec, value)) throw new KopilkaError('invalid_field', `${field} must be ${expected(spec)}`, field);
  }
  return record as T;
}

function accepts(spec: FieldSpec, value: unknown): boolean {
  if (spec.kind === 'integer') {
    return Number.isSafeInteger(value) && (value as number) >= spec.min && (value as number) <= spec.max;
  }
  if (typeof value !== 'string') return false;
  // Characters, not UTF-16 units: a name in Cyrillic or with emoji counts as read.
  const chars = [...value].length;
  if (chars < 1 || chars > spec.charsMax || value.trim() === '') return false;
  return spec.pattern === undefined || spec.pattern.test(value);
}

function expected(spec: FieldSpec): string {
  if (spec.kind === 'integer') {
    const unit = spec.unit === undefined ? '' : ` (${spec.unit})`;
    return `an integer from ${spec.min} to ${spec.max}${unit}`;
  }
  return spec.patternDoc ?? `a string of 1 to ${spec.charsMax} characters, not blank`;
}
