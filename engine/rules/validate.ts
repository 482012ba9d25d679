// Validation of a rules configuration (JSON from the admin API) into the typed
// model, once, when it is saved: every field checked against its bound, defaults
// filled, references resolved (periods, accounts), CEL parsed and type-checked.
// Nothing from the input is kept by reference, prototypes included: the result is
// built field by field. Errors are values, one per problem, each naming the field
// by its path and saying the fix; validation never throws for bad input, and
// validating a validated configuration gives it back unchanged.

import { compileCel } from './cel.js';
import * as L from './limits.js';
import {
  POS_MODES,
  PROMOTION_STATUSES,
  noLimits,
  type AccountConfig,
  type AccountUnit,
  type CatalogConfig,
  type Condition,
  type Effect,
  type LineMatch,
  type PartnerConfig,
  type PeriodConfig,
  type PointsPaymentConfig,
  type PromotionConfig,
  type PromotionLimits,
  type PromotionTemplate,
  type RulesConfig,
  type RulesSettings,
} from './model.js';

export interface ConfigError {
  /** The field, e.g. `promotions[2].effects[0].percentBp`. */
  path: string;
  /** What is wrong and how to fix it. */
  message: string;
}

export type ValidationResult = { ok: true; config: RulesConfig } | { ok: false; errors: ConfigError[] };

type Obj = Record<string, unknown>;

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:@/-]*$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const CLOCK = /^(\d{2}):(\d{2})$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const CURRENCY = /^[A-Z]{3}$/;
const BP_HELP = 'basis points: 500 = 5%, 10000 = 100%';

const TEMPLATES: readonly PromotionTemplate[] = [
  'custom',
  'registration_bonus',
  'birthday_bonus',
  'level_transition',
  'periodic_top_up',
  'usage_limit',
  'extra_accrual',
  'balance_to_coupon',
  'owner_notification',
  'base_accrual',
];

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value.length > 40 ? value.slice(0, 40) + '…' : value}"` : typeof value === 'object' ? 'an object' : String(value);
}

class Validator {
  readonly errors: ConfigError[] = [];
  dropped = 0;

  fail(path: string, message: string): void {
    if (this.errors.length < L.config_errors_max) this.errors.push({ path, message });
    else this.dropped++;
  }

  obj(value: unknown, path: string): Obj | null {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, `must be an object, not ${describe(value)}`);
      return null;
    }
    return value as Obj;
  }

  known(o: Obj, fields: readonly string[], path: string): void {
    for (const key of Object.keys(o)) {
      if (!fields.includes(key)) this.fail(join(path, key), `is not a known field; remove it (known: ${fields.join(', ')})`);
    }
  }

  has(o: Obj, key: string): boolean {
    return Object.prototype.hasOwnProperty.call(o, key) && o[key] !== undefined;
  }

  str(o: Obj, key: string, path: string, max: number, dflt?: string): string {
    const p = join(path, key);
    if (!this.has(o, key)) {
      if (dflt !== undefined) return dflt;
      this.fail(p, 'is required: a string');
      return '';
    }
    const v = o[key];
    if (typeof v !== 'string') {
      this.fail(p, `must be a string, not ${describe(v)}`);
      return '';
    }
    if (v.length === 0 || v.length > max) this.fail(p, `must be 1..${max} characters long`);
    return v;
  }

  id(o: Obj, key: string, path: string): string {
    const v = this.str(o, key, path, L.id_chars_max);
    if (v !== '' && !ID.test(v)) this.fail(join(path, key), 'must start with a letter or digit and hold only letters, digits and _ . : @ / -');
    return v;
  }

  int(o: Obj, key: string, path: string, min: number, max: number, dflt?: number, help?: string): number {
    const p = join(path, key);
    if (!this.has(o, key)) {
      if (dflt !== undefined) return dflt;
      this.fail(p, `is required: an integer from ${min} to ${max}${help ? ` (${help})` : ''}`);
      return min;
    }
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.fail(p, `must be an integer from ${min} to ${max}${help ? ` (${help})` : ''}, not ${describe(v)}`);
      return min;
    }
    return v;
  }

  optInt(o: Obj, key: string, path: string, min: number, max: number, help?: string): number | null {
    if (!this.has(o, key) || o[key] === null) return null;
    return this.int(o, key, path, min, max, undefined, help);
  }

  bool(o: Obj, key: string, path: string, dflt: boolean): boolean {
    if (!this.has(o, key)) return dflt;
    const v = o[key];
    if (typeof v !== 'boolean') {
      this.fail(join(path, key), `must be true or false, not ${describe(v)}`);
      return dflt;
    }
    return v;
  }

  oneOf<T extends string>(o: Obj, key: string, path: string, values: readonly T[], dflt?: T): T {
    const p = join(path, key);
    if (!this.has(o, key)) {
      if (dflt !== undefined) return dflt;
      this.fail(p, `is required: one of ${values.map((x) => `"${x}"`).join(', ')}`);
      return values[0]!;
    }
    const v = o[key];
    if (typeof v !== 'string' || !values.includes(v as T)) {
      this.fail(p, `must be one of ${values.map((x) => `"${x}"`).join(', ')}, not ${describe(v)}`);
      return values[0]!;
    }
    return v as T;
  }

  array(o: Obj, key: string, path: string, max: number, required = false): unknown[] {
    const p = join(path, key);
    if (!this.has(o, key)) {
      if (required) this.fail(p, `is required: an array of 1..${max} items`);
      return [];
    }
    const v = o[key];
    if (!Array.isArray(v)) {
      this.fail(p, `must be an array, not ${describe(v)}`);
      return [];
    }
    if (v.length > max) {
      this.fail(p, `must hold at most ${max} items, not ${v.length}`);
      return v.slice(0, max);
    }
    if (required && v.length === 0) this.fail(p, `must hold at least one item`);
    return v;
  }

  strings(o: Obj, key: string, path: string, max = L.list_values_max, chars = L.id_chars_max): string[] {
    const items = this.array(o, key, path, max);
    const out: string[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < items.length; i++) {
      const v = items[i];
      const p = `${join(path, key)}[${i}]`;
      if (typeof v !== 'string' || v.length === 0 || v.length > chars) {
        this.fail(p, `must be a string of 1..${chars} characters, not ${describe(v)}`);
        continue;
      }
      if (seen.has(v)) {
        this.fail(p, `repeats "${v}"; list each value once`);
        continue;
      }
      seen.add(v);
      out.push(v);
    }
    return out;
  }

  ints(o: Obj, key: string, path: string, min: number, max: number, allowed?: (n: number) => boolean, help?: string): number[] {
    const items = this.array(o, key, path, L.list_values_max);
    const out: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const v = items[i];
      const p = `${join(path, key)}[${i}]`;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max || (allowed && !allowed(v))) {
        this.fail(p, `must be ${help ?? `an integer from ${min} to ${max}`}, not ${describe(v)}`);
        continue;
      }
      if (out.includes(v)) {
        this.fail(p, `repeats ${v}; list each value once`);
        continue;
      }
      out.push(v);
    }
    return out;
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function validDate(s: string): boolean {
  const m = DATE.exec(s);
  if (m === null) return false;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
}

function clockMinutes(s: string): number | null {
  const m = CLOCK.exec(s);
  if (m === null) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59 || h > 24 || (h === 24 && min !== 0)) return null;
  return h * 60 + min;
}

// --- Sections ---------------------------------------------------------------

const PERIOD_FIELDS = ['id', 'name', 'dates', 'weekdays', 'daysOfMonth', 'weeksOfMonth', 'months', 'years', 'times', 'birthday'] as const;

function period(v: Validator, value: unknown, path: string): PeriodConfig | null {
  const o = v.obj(value, path);
  if (o === null) return null;
  v.known(o, PERIOD_FIELDS, path);
  const id = v.id(o, 'id', path);
  const name = v.str(o, 'name', path, L.name_chars_max, id || 'period');
  const dates: PeriodConfig['dates'] = [];
  v.array(o, 'dates', path, L.period_ranges_max).forEach((d, i) => {
    const p = `${join(path, 'dates')}[${i}]`;
    const r = v.obj(d, p);
    if (r === null) return;
    v.known(r, ['from', 'to'], p);
    const from = v.str(r, 'from', p, 10);
    const to = v.str(r, 'to', p, 10);
    const okFrom = validDate(from);
    const okTo = validDate(to);
    if (!okFrom) v.fail(join(p, 'from'), 'must be a date YYYY-MM-DD, e.g. "2026-03-08"');
    if (!okTo) v.fail(join(p, 'to'), 'must be a date YYYY-MM-DD, e.g. "2026-03-08"');
    if (okFrom && okTo && from > to) v.fail(join(p, 'to'), `must not be before from (${from}); the range is inclusive`);
    dates.push({ from, to });
  });
  const weekdays = v.ints(o, 'weekdays', path, 1, 7, undefined, 'an ISO weekday from 1 (Monday) to 7 (Sunday)');
  const daysOfMonth = v.ints(o, 'daysOfMonth', path, 1, 31);
  const weeksOfMonth = v.ints(o, 'weeksOfMonth', path, -1, 5, (n) => n !== 0, 'a week of the month from 1 to 5, or -1 for the last seven days');
  const months = v.ints(o, 'months', path, 1, 12, undefined, 'a month from 1 (January) to 12');
  const years = v.ints(o, 'years', path, L.period_year_min, L.period_year_max);
  const times: PeriodConfig['times'] = [];
  v.array(o, 'times', path, L.period_ranges_max).forEach((t, i) => {
    const p = `${join(path, 'times')}[${i}]`;
    const r = v.obj(t, p);
    if (r === null) return;
    v.known(r, ['from', 'to'], p);
    const from = v.str(r, 'from', p, 5);
    const to = v.str(r, 'to', p, 5);
    const a = clockMinutes(from);
    const b = clockMinutes(to);
    if (a === null) v.fail(join(p, 'from'), 'must be a time of day HH:MM from 00:00 to 24:00, e.g. "09:30"');
    if (b === null) v.fail(join(p, 'to'), 'must be a time of day HH:MM from 00:00 to 24:00, e.g. "18:00"');
    if (a !== null && b !== null && a === b) v.fail(join(p, 'to'), 'must differ from from; for the whole day leave times out');
    times.push({ from, to });
  });
  let birthday: PeriodConfig['birthday'] = null;
  if (v.has(o, 'birthday') && o.birthday !== null) {
    const p = join(path, 'birthday');
    const b = v.obj(o.birthday, p);
    if (b !== null) {
      v.known(b, ['daysBefore', 'daysAfter'], p);
      birthday = {
        daysBefore: v.int(b, 'daysBefore', p, 0, L.birthday_window_days_max, 0),
        daysAfter: v.int(b, 'daysAfter', p, 0, L.birthday_window_days_max, 0),
      };
    }
  }
  return { id, name, dates, weekdays, daysOfMonth, weeksOfMonth, months, years, times, birthday };
}

const ACCOUNT_UNITS: readonly AccountUnit[] = ['points', 'money', 'count', 'percent'];
/** The fields only a discount (percent) account has. */
const PERCENT_ACCOUNT_FIELDS = ['defaultBp', 'target', 'match', 'priority', 'exclusive'] as const;

function account(v: Validator, value: unknown, path: string): AccountConfig | null {
  const o = v.obj(value, path);
  if (o === null) return null;
  v.known(o, ['id', 'unit', 'pointValueMinor', ...PERCENT_ACCOUNT_FIELDS], path);
  const id = v.id(o, 'id', path);
  const unit = v.oneOf(o, 'unit', path, ACCOUNT_UNITS);
  // The normalized form writes 100 for every account, so 100 is accepted anywhere.
  if (unit !== 'points' && v.has(o, 'pointValueMinor') && o.pointValueMinor !== 100) {
    v.fail(join(path, 'pointValueMinor'), `applies to points accounts only; remove it from a ${unit} account`);
  }
  if (unit === 'percent') return percentAccount(v, o, path, id);
  for (const key of PERCENT_ACCOUNT_FIELDS) {
    if (v.has(o, key)) v.fail(join(path, key), `applies to discount accounts (unit "percent") only; remove it from a ${unit} account`);
  }
  const pointValueMinor = unit === 'points' ? v.int(o, 'pointValueMinor', path, 1, 1_000_000, 100, 'money minor units one whole point is worth: 100 = 1.00') : 100;
  return { id, unit, pointValueMinor };
}

/** A discount account: a level per guest, applied to every check as the promotion `account:<id>`. */
function percentAccount(v: Validator, o: Obj, path: string, id: string): AccountConfig {
  const target = v.oneOf(o, 'target', path, ['check', 'lines'] as const, 'check');
  const match = lineMatch(v, o, 'match', path, false);
  if (target === 'check' && hasInclude(match)) {
    v.fail(join(path, 'match'), 'of a check-level discount account takes only exclude lists; to select lines set target "lines"');
  }
  return {
    id,
    unit: 'percent',
    pointValueMinor: 100,
    defaultBp: v.int(o, 'defaultBp', path, 0, L.bp_whole, 0, `the level of a guest without one, ${BP_HELP}`),
    target,
    match,
    priority: v.int(o, 'priority', path, 0, L.priority_max, 0, 'higher applies first'),
    exclusive: v.bool(o, 'exclusive', path, false),
  };
}

function catalog(v: Validator, value: unknown, path: string): CatalogConfig {
  const itemTags: Record<string, string[]> = Object.create(null);
  if (value === undefined) return { itemTags };
  const o = v.obj(value, path);
  if (o === null) return { itemTags };
  v.known(o, ['itemTags'], path);
  if (!v.has(o, 'itemTags')) return { itemTags };
  const p = join(path, 'itemTags');
  const tags = v.obj(o.itemTags, p);
  if (tags === null) return { itemTags };
  const keys = Object.keys(tags);
  if (keys.length > L.catalog_items_max) v.fail(p, `must name at most ${L.catalog_items_max} items, not ${keys.length}`);
  for (const code of keys.slice(0, L.catalog_items_max)) {
    if (code.length === 0 || code.length > L.id_chars_max) v.fail(`${p}.${code}`, `item code must be 1..${L.id_chars_max} characters`);
    itemTags[code] = v.strings(tags, code, p, L.item_tags_max);
  }
  return { itemTags };
}

const SETTINGS_FIELDS = ['stacking', 'itemBlocksCheck', 'maxDiscountBp', 'discountsPerGuest', 'posModes', 'baseAccrualOnPromotionalLines', 'pointsPayment'] as const;

const DEFAULT_SETTINGS: RulesSettings = {
  stacking: 'all',
  itemBlocksCheck: false,
  maxDiscountBp: null,
  discountsPerGuest: { day: null, month: null },
  posModes: [],
  baseAccrualOnPromotionalLines: false,
  pointsPayment: null,
};

function settings(v: Validator, value: unknown, path: string): RulesSettings {
  if (value === undefined) return structuredClone(DEFAULT_SETTINGS);
  const o = v.obj(value, path);
  if (o === null) return structuredClone(DEFAULT_SETTINGS);
  v.known(o, SETTINGS_FIELDS, path);
  const stacking = v.oneOf(o, 'stacking', path, ['all', 'best_per_line'] as const, 'all');
  const itemBlocksCheck = v.bool(o, 'itemBlocksCheck', path, false);
  if (itemBlocksCheck && stacking !== 'best_per_line') {
    v.fail(join(path, 'itemBlocksCheck'), 'works only with stacking "best_per_line" (r_keeper: only together with "promotions and levels do not stack"); set stacking or remove it');
  }
  const maxDiscountBp = v.optInt(o, 'maxDiscountBp', path, 0, L.bp_whole, BP_HELP);
  const discountsPerGuest = { day: null as number | null, month: null as number | null };
  if (v.has(o, 'discountsPerGuest')) {
    const p = join(path, 'discountsPerGuest');
    const d = v.obj(o.discountsPerGuest, p);
    if (d !== null) {
      v.known(d, ['day', 'month'], p);
      discountsPerGuest.day = v.optInt(d, 'day', p, 0, L.uses_max);
      discountsPerGuest.month = v.optInt(d, 'month', p, 0, L.uses_max);
    }
  }
  const posModes = v.strings(o, 'posModes', path, POS_MODES.length) as RulesSettings['posModes'];
  posModes.forEach((m, i) => {
    if (!POS_MODES.includes(m)) v.fail(`${join(path, 'posModes')}[${i}]`, `must be one of ${POS_MODES.map((x) => `"${x}"`).join(', ')}`);
  });
  const baseAccrualOnPromotionalLines = v.bool(o, 'baseAccrualOnPromotionalLines', path, false);
  let pointsPayment: PointsPaymentConfig | null = null;
  if (v.has(o, 'pointsPayment') && o.pointsPayment !== null) {
    const p = join(path, 'pointsPayment');
    const pp = v.obj(o.pointsPayment, p);
    if (pp !== null) {
      v.known(pp, ['account', 'maxBp', 'maxAmount', 'forbiddenCategories', 'forbiddenItems', 'minFiscalPayment', 'promotionalLines'], p);
      pointsPayment = {
        account: v.id(pp, 'account', p),
        maxBp: v.int(pp, 'maxBp', p, 0, L.bp_whole, L.bp_whole, BP_HELP),
        maxAmount: v.optInt(pp, 'maxAmount', p, 0, L.amount_max, 'minor units'),
        forbiddenCategories: v.strings(pp, 'forbiddenCategories', p),
        forbiddenItems: v.strings(pp, 'forbiddenItems', p),
        minFiscalPayment: v.int(pp, 'minFiscalPayment', p, 0, L.amount_max, 0, 'minor units'),
        promotionalLines: v.oneOf(pp, 'promotionalLines', p, ['payable', 'not_payable', 'payable_if_accrues'] as const, 'payable_if_accrues'),
      };
    }
  }
  return { stacking, itemBlocksCheck, maxDiscountBp, discountsPerGuest, posModes, baseAccrualOnPromotionalLines, pointsPayment };
}

function partner(v: Validator, value: unknown, path: string): PartnerConfig | null {
  const o = v.obj(value, path);
  if (o === null) return null;
  v.known(o, ['id', 'settings'], path);
  const id = v.id(o, 'id', path);
  if (!v.has(o, 'settings')) v.fail(join(path, 'settings'), "is required: the partner's own policy (a partner without one uses the shared settings and needs no entry)");
  return { id, settings: settings(v, o.settings ?? {}, join(path, 'settings')) };
}

// --- Conditions ---------------------------------------------------------------

const MATCH_FIELDS = ['items', 'categories', 'tags', 'excludeItems', 'excludeCategories', 'excludeTags'] as const;

function emptyMatch(): LineMatch {
  return { items: [], categories: [], tags: [], excludeItems: [], excludeCategories: [], excludeTags: [] };
}

function lineMatch(v: Validator, o: Obj, key: string, path: string, required: boolean): LineMatch {
  const p = join(path, key);
  if (!v.has(o, key)) {
    if (required) v.fail(p, 'is required: which lines, e.g. {"categories": ["beer"]}');
    return emptyMatch();
  }
  const m = v.obj(o[key], p);
  if (m === null) return emptyMatch();
  v.known(m, MATCH_FIELDS, p);
  const out: LineMatch = {
    items: v.strings(m, 'items', p),
    categories: v.strings(m, 'categories', p),
    tags: v.strings(m, 'tags', p),
    excludeItems: v.strings(m, 'excludeItems', p),
    excludeCategories: v.strings(m, 'excludeCategories', p),
    excludeTags: v.strings(m, 'excludeTags', p),
  };
  if (required && out.items.length + out.categories.length + out.tags.length === 0) {
    v.fail(p, 'must select lines by items, categories or tags');
  }
  return out;
}

function hasInclude(m: LineMatch): boolean {
  return m.items.length + m.categories.length + m.tags.length > 0;
}

function range(v: Validator, o: Obj, path: string, minKey: string, maxKey: string, max: number, help?: string): [number | null, number | null] {
  const lo = v.optInt(o, minKey, path, 0, max, help);
  const hi = v.optInt(o, maxKey, path, 0, max, help);
  if (lo !== null && hi !== null && lo > hi) v.fail(join(path, maxKey), `must not be below ${minKey} (${lo})`);
  return [lo, hi];
}

interface ConditionBudget {
  nodes: number;
}

interface Refs {
  periods: Set<string>;
  accounts: Map<string, AccountConfig>;
}

const CONDITION_KINDS = [
  'all',
  'any',
  'not',
  'period',
  'place',
  'guest_level',
  'guest_tags',
  'guest_segments',
  'guest_age',
  'birthday',
  'registered',
  'guest_attribute',
  'card_type',
  'check_sum',
  'currency',
  'lines',
  'balance',
  'counter',
  'cel',
] as const;

function condition(v: Validator, value: unknown, path: string, depth: number, budget: ConditionBudget, refs: Refs): Condition | null {
  if (++budget.nodes > L.conditions_per_promotion_max) {
    if (budget.nodes === L.conditions_per_promotion_max + 1) v.fail(path, `makes the promotion hold more than ${L.conditions_per_promotion_max} conditions; split it or use a tag`);
    return null;
  }
  const o = v.obj(value, path);
  if (o === null) return null;
  const kind = v.oneOf(o, 'kind', path, CONDITION_KINDS);
  const known = (...fields: string[]) => v.known(o, ['kind', ...fields], path);
  switch (kind) {
    case 'all':
    case 'any': {
      known('of');
      if (depth >= L.conditions_depth_max) {
        v.fail(path, `nests all/any/not deeper than ${L.conditions_depth_max} levels; flatten it`);
        return null;
      }
      const of: Condition[] = [];
      v.array(o, 'of', path, L.conditions_per_promotion_max, true).forEach((c, i) => {
        const r = condition(v, c, `${join(path, 'of')}[${i}]`, depth + 1, budget, refs);
        if (r !== null) of.push(r);
      });
      return { kind, of };
    }
    case 'not': {
      known('of');
      if (depth >= L.conditions_depth_max) {
        v.fail(path, `nests all/any/not deeper than ${L.conditions_depth_max} levels; flatten it`);
        return null;
      }
      if (!v.has(o, 'of')) {
        v.fail(join(path, 'of'), 'is required: the condition to negate');
        return null;
      }
      const r = condition(v, o.of, join(path, 'of'), depth + 1, budget, refs);
      return r === null ? null : { kind, of: r };
    }
    case 'period': {
      known('period');
      const period = v.id(o, 'period', path);
      if (period !== '' && !refs.periods.has(period)) v.fail(join(path, 'period'), `names no period; define "${period}" in periods or fix the id`);
      return { kind, period };
    }
    case 'place': {
      known('organizations', 'partners', 'outlets', 'terminals', 'outletTags');
      const c = {
        kind,
        organizations: v.strings(o, 'organizations', path),
        partners: v.strings(o, 'partners', path),
        outlets: v.strings(o, 'outlets', path),
        terminals: v.strings(o, 'terminals', path),
        outletTags: v.strings(o, 'outletTags', path),
      } as const;
      if (c.organizations.length + c.partners.length + c.outlets.length + c.terminals.length + c.outletTags.length === 0) {
        v.fail(path, 'must name organizations, partners, outlets, terminals or outletTags');
      }
      return c;
    }
    case 'guest_level': {
      known('levels');
      const levels = v.strings(o, 'levels', path);
      if (levels.length === 0) v.fail(join(path, 'levels'), 'is required: at least one level');
      return { kind, levels };
    }
    case 'guest_tags':
    case 'guest_segments': {
      known('any', 'all', 'none');
      const c = { kind, any: v.strings(o, 'any', path), all: v.strings(o, 'all', path), none: v.strings(o, 'none', path) };
      if (c.any.length + c.all.length + c.none.length === 0) v.fail(path, 'must list tags in any, all or none');
      return c;
    }
    case 'guest_age': {
      known('min', 'max');
      const [min, max] = range(v, o, path, 'min', 'max', L.age_years_max, 'whole years');
      if (min === null && max === null) v.fail(path, 'must give min or max (whole years)');
      return { kind, min, max };
    }
    case 'birthday': {
      known('daysBefore', 'daysAfter');
      return {
        kind,
        daysBefore: v.int(o, 'daysBefore', path, 0, L.birthday_window_days_max, 0),
        daysAfter: v.int(o, 'daysAfter', path, 0, L.birthday_window_days_max, 0),
      };
    }
    case 'registered': {
      known('minDays', 'maxDays');
      const [minDays, maxDays] = range(v, o, path, 'minDays', 'maxDays', 100_000, 'whole days');
      if (minDays === null && maxDays === null) v.fail(path, 'must give minDays or maxDays');
      return { kind, minDays, maxDays };
    }
    case 'guest_attribute': {
      known('key', 'values');
      return { kind, key: v.str(o, 'key', path, L.id_chars_max), values: v.strings(o, 'values', path, L.list_values_max, L.name_chars_max) };
    }
    case 'card_type': {
      known('types');
      const types = v.strings(o, 'types', path);
      if (types.length === 0) v.fail(join(path, 'types'), 'is required: at least one card type');
      return { kind, types };
    }
    case 'check_sum': {
      known('min', 'max');
      const [min, max] = range(v, o, path, 'min', 'max', L.amount_max, 'minor units');
      if (min === null && max === null) v.fail(path, 'must give min or max (minor units)');
      return { kind, min, max };
    }
    case 'currency': {
      known('currencies');
      const currencies = v.strings(o, 'currencies', path, 50, 3);
      currencies.forEach((c, i) => {
        if (!CURRENCY.test(c)) v.fail(`${join(path, 'currencies')}[${i}]`, 'must be an ISO 4217 code such as "RUB"');
      });
      if (currencies.length === 0) v.fail(join(path, 'currencies'), 'is required: at least one currency');
      return { kind, currencies };
    }
    case 'lines': {
      known('match', 'minQuantity', 'minSum', 'minLines');
      return {
        kind,
        match: lineMatch(v, o, 'match', path, true),
        minQuantity: v.int(o, 'minQuantity', path, 0, L.uses_max, 1, 'units'),
        minSum: v.int(o, 'minSum', path, 0, L.amount_max, 0, 'minor units'),
        minLines: v.int(o, 'minLines', path, 0, 1_000, 0),
      };
    }
    case 'balance': {
      known('accounts', 'min', 'max');
      const accounts = v.strings(o, 'accounts', path, L.accounts_max);
      if (accounts.length === 0) v.fail(join(path, 'accounts'), 'is required: one account, or several whose balances add up');
      accounts.forEach((a, i) => {
        if (!refs.accounts.has(a)) v.fail(`${join(path, 'accounts')}[${i}]`, `names no account; define "${a}" in accounts`);
      });
      const units = new Set(accounts.map((a) => refs.accounts.get(a)?.unit).filter((u) => u !== undefined));
      if (units.size > 1) v.fail(join(path, 'accounts'), 'must all be of one unit (points, money, count or percent) to add up');
      const [min, max] = range(v, o, path, 'min', 'max', L.amount_max, "the accounts' units");
      if (min === null && max === null) v.fail(path, 'must give min or max');
      return { kind, accounts, min, max };
    }
    case 'counter': {
      known('counter', 'min', 'max');
      const counter = v.id(o, 'counter', path);
      const [min, max] = range(v, o, path, 'min', 'max', L.amount_max, 'units');
      if (min === null && max === null) v.fail(path, 'must give min or max');
      return { kind, counter, min, max };
    }
    case 'cel': {
      known('source');
      const source = v.str(o, 'source', path, L.cel_source_chars_max);
      if (source !== '') {
        const r = compileCel(source);
        if (!r.ok) v.fail(join(path, 'source'), `${r.error.message} [${r.error.code} ${r.error.start}..${r.error.end}]; fix the expression (see engine/rules/cel.ts for guest, check, accounts and time)`);
      }
      return { kind, source };
    }
  }
}

// --- Effects --------------------------------------------------------------------

const EFFECT_KINDS = ['discount', 'nth_free', 'accrual', 'counter', 'top_up', 'set_level', 'issue_coupon', 'message', 'notify'] as const;

function exactlyOne(v: Validator, o: Obj, path: string, keys: string[]): void {
  const present = keys.filter((k) => v.has(o, k) && o[k] !== null);
  if (present.length !== 1) v.fail(path, `must give exactly one of ${keys.join(', ')}${present.length > 1 ? ` (not ${present.join(' and ')})` : ''}`);
}

/** Why nothing can be put on a discount account. */
function levelOnly(id: string): string {
  return `is the discount account "${id}", which holds a level per guest (set by updateGuest), not a balance; name a points, money or count account`;
}

function account_(v: Validator, o: Obj, path: string, refs: Refs): AccountConfig | undefined {
  const id = v.id(o, 'account', path);
  const a = refs.accounts.get(id);
  if (id !== '' && a === undefined) v.fail(join(path, 'account'), `names no account; define "${id}" in accounts`);
  return a;
}

function effect(v: Validator, value: unknown, path: string, refs: Refs): Effect | null {
  const o = v.obj(value, path);
  if (o === null) return null;
  const kind = v.oneOf(o, 'kind', path, EFFECT_KINDS);
  const known = (...fields: string[]) => v.known(o, ['kind', ...fields], path);
  switch (kind) {
    case 'discount': {
      known('target', 'match', 'percentBp', 'amount', 'perUnit');
      const target = v.oneOf(o, 'target', path, ['lines', 'check'] as const);
      const match = lineMatch(v, o, 'match', path, false);
      if (target === 'check' && hasInclude(match)) {
        v.fail(join(path, 'match'), 'of a check-level discount takes only exclude lists; to select lines use target "lines"');
      }
      exactlyOne(v, o, path, ['percentBp', 'amount']);
      const percentBp = v.optInt(o, 'percentBp', path, 1, L.bp_whole, BP_HELP);
      const amount = v.optInt(o, 'amount', path, 1, L.amount_max, 'minor units');
      const perUnit = v.bool(o, 'perUnit', path, false);
      if (perUnit && amount === null) v.fail(join(path, 'perUnit'), 'goes with amount (that much off each unit); remove it or give amount');
      if (perUnit && target === 'check') v.fail(join(path, 'perUnit'), 'goes with target "lines"');
      return { kind, target, match, percentBp, amount, perUnit };
    }
    case 'nth_free': {
      known('match', 'every', 'maxFree');
      return {
        kind,
        match: lineMatch(v, o, 'match', path, true),
        every: v.int(o, 'every', path, 2, L.nth_every_max, undefined, 'every N-th unit is free; N ≥ 2'),
        maxFree: v.optInt(o, 'maxFree', path, 1, L.uses_max, 'units'),
      };
    }
    case 'accrual': {
      known('account', 'match', 'percentBp', 'perUnit', 'fixed', 'excludePaidWithPoints', 'delayDays', 'expiryDays');
      const acc = account_(v, o, path, refs);
      exactlyOne(v, o, path, ['percentBp', 'perUnit', 'fixed']);
      const percentBp = v.optInt(o, 'percentBp', path, 1, L.bp_whole, BP_HELP);
      if (percentBp !== null && acc?.unit === 'count') v.fail(join(path, 'percentBp'), `cannot accrue a percentage of money into the count account "${acc.id}"; use perUnit or fixed`);
      if (acc?.unit === 'percent') v.fail(join(path, 'account'), levelOnly(acc.id));
      return {
        kind,
        account: acc?.id ?? String(o.account ?? ''),
        match: lineMatch(v, o, 'match', path, false),
        percentBp,
        perUnit: v.optInt(o, 'perUnit', path, 1, L.amount_max, "the account's units per unit sold"),
        fixed: v.optInt(o, 'fixed', path, 1, L.amount_max, "the account's units per check"),
        excludePaidWithPoints: v.bool(o, 'excludePaidWithPoints', path, true),
        delayDays: v.int(o, 'delayDays', path, 0, L.accrual_days_max, 0),
        expiryDays: v.int(o, 'expiryDays', path, 0, L.accrual_days_max, 0),
      };
    }
    case 'counter': {
      known('counter', 'by', 'perUnit', 'match');
      const by = v.int(o, 'by', path, -L.uses_max, L.uses_max, 1);
      if (by === 0) v.fail(join(path, 'by'), 'must not be 0');
      const perUnit = v.bool(o, 'perUnit', path, false);
      const match = lineMatch(v, o, 'match', path, false);
      if (!perUnit && hasInclude(match)) v.fail(join(path, 'match'), 'counts units only with perUnit: true; add it or remove match');
      return { kind, counter: v.id(o, 'counter', path), by, perUnit, match };
    }
    case 'top_up': {
      known('account', 'amount');
      const acc = account_(v, o, path, refs);
      if (acc?.unit === 'percent') v.fail(join(path, 'account'), levelOnly(acc.id));
      const amount = v.int(o, 'amount', path, -L.amount_max, L.amount_max, undefined, "the account's units; negative debits, e.g. balance→coupon conversion");
      if (amount === 0) v.fail(join(path, 'amount'), 'must not be 0');
      return { kind, account: acc?.id ?? '', amount };
    }
    case 'set_level': {
      known('level');
      return { kind, level: v.id(o, 'level', path) };
    }
    case 'issue_coupon': {
      known('couponType', 'count');
      return { kind, couponType: v.id(o, 'couponType', path), count: v.int(o, 'count', path, 1, 100, 1) };
    }
    case 'message': {
      known('channel', 'text');
      return { kind, channel: v.oneOf(o, 'channel', path, ['receipt', 'screen', 'cashier'] as const), text: v.str(o, 'text', path, L.message_chars_max) };
    }
    case 'notify': {
      known('channel', 'template');
      return { kind, channel: v.oneOf(o, 'channel', path, ['sms', 'email', 'push', 'owner'] as const), template: v.id(o, 'template', path) };
    }
  }
}

// --- Promotions ---------------------------------------------------------------------

function limits(v: Validator, value: unknown, path: string): PromotionLimits {
  const out: PromotionLimits = noLimits();
  if (value === undefined) return out;
  const o = v.obj(value, path);
  if (o === null) return out;
  v.known(o, ['maxDiscountBp', 'maxDiscountAmount', 'usesPerGuest', 'unitsPerGuest', 'accrualMax', 'budget'], path);
  out.maxDiscountBp = v.optInt(o, 'maxDiscountBp', path, 0, L.bp_whole, BP_HELP);
  out.maxDiscountAmount = v.optInt(o, 'maxDiscountAmount', path, 0, L.amount_max, 'minor units');
  const sub = (key: string, fields: string[], max: number, help: string): Record<string, number | null> => {
    const r: Record<string, number | null> = {};
    for (const f of fields) r[f] = null;
    if (!v.has(o, key)) return r;
    const p = join(path, key);
    const s = v.obj(o[key], p);
    if (s === null) return r;
    v.known(s, fields, p);
    for (const f of fields) r[f] = v.optInt(s, f, p, 0, max, help);
    return r;
  };
  out.usesPerGuest = sub('usesPerGuest', ['day', 'week', 'month', 'total'], L.uses_max, 'uses') as PromotionLimits['usesPerGuest'];
  out.unitsPerGuest = sub('unitsPerGuest', ['day', 'month'], L.uses_max, 'units') as PromotionLimits['unitsPerGuest'];
  out.accrualMax = sub('accrualMax', ['check', 'day', 'month'], L.amount_max, "the account's units") as PromotionLimits['accrualMax'];
  if (v.has(o, 'budget') && o.budget !== null) {
    const p = join(path, 'budget');
    const b = v.obj(o.budget, p);
    if (b !== null) {
      v.known(b, ['unit', 'amount'], p);
      out.budget = {
        unit: v.oneOf(b, 'unit', p, ['money', 'points'] as const),
        amount: v.int(b, 'amount', p, 0, L.amount_max, undefined, 'money: minor units of discounts; points: hundredths accrued and topped up'),
      };
    }
  }
  return out;
}

const PROMOTION_FIELDS = [
  'id',
  'name',
  'description',
  'status',
  'template',
  'partner',
  'priority',
  'exclusive',
  'stackingExempt',
  'validFrom',
  'validTo',
  'periods',
  'condition',
  'effects',
  'limits',
] as const;

function isoTime(v: Validator, o: Obj, key: string, path: string): string | null {
  if (!v.has(o, key) || o[key] === null) return null;
  const s = o[key];
  if (typeof s !== 'string' || !ISO_TIME.test(s) || Number.isNaN(Date.parse(s))) {
    v.fail(join(path, key), 'must be an ISO 8601 time with offset, e.g. "2026-03-01T00:00:00+03:00"');
    return null;
  }
  return s;
}

function promotion(v: Validator, value: unknown, path: string, refs: Refs): PromotionConfig | null {
  const o = v.obj(value, path);
  if (o === null) return null;
  v.known(o, PROMOTION_FIELDS, path);
  const id = v.id(o, 'id', path);
  // A discount account applies as the promotion account:<id>: no promotion may take that id.
  const taken = id.startsWith('account:') ? refs.accounts.get(id.slice('account:'.length)) : undefined;
  if (taken?.unit === 'percent') v.fail(join(path, 'id'), `is the id the discount account "${taken.id}" applies under; choose another id`);
  const template = v.oneOf(o, 'template', path, TEMPLATES, 'custom');
  const validFrom = isoTime(v, o, 'validFrom', path);
  const validTo = isoTime(v, o, 'validTo', path);
  if (validFrom !== null && validTo !== null && Date.parse(validFrom) >= Date.parse(validTo)) v.fail(join(path, 'validTo'), `must be after validFrom (${validFrom})`);
  const periods = v.strings(o, 'periods', path, L.promotion_periods_max);
  periods.forEach((p, i) => {
    if (!refs.periods.has(p)) v.fail(`${join(path, 'periods')}[${i}]`, `names no period; define "${p}" in periods or fix the id`);
  });
  let cond: Condition | null = null;
  if (v.has(o, 'condition') && o.condition !== null) cond = condition(v, o.condition, join(path, 'condition'), 0, { nodes: 0 }, refs);
  const effects: Effect[] = [];
  v.array(o, 'effects', path, L.effects_per_promotion_max, true).forEach((e, i) => {
    const r = effect(v, e, `${join(path, 'effects')}[${i}]`, refs);
    if (r !== null) effects.push(r);
  });
  let partnerId: string | null = null;
  if (v.has(o, 'partner') && o.partner !== null) partnerId = v.id(o, 'partner', path);
  return {
    id,
    name: v.str(o, 'name', path, L.name_chars_max),
    description: v.has(o, 'description') && o.description === '' ? '' : v.str(o, 'description', path, L.description_chars_max, ''),
    status: v.oneOf(o, 'status', path, PROMOTION_STATUSES, 'draft'),
    template,
    partner: partnerId,
    priority: v.int(o, 'priority', path, 0, L.priority_max, 0, 'higher applies first'),
    exclusive: v.bool(o, 'exclusive', path, false),
    stackingExempt: v.bool(o, 'stackingExempt', path, template === 'registration_bonus'),
    validFrom,
    validTo,
    periods,
    condition: cond,
    effects,
    limits: limits(v, o.limits, join(path, 'limits')),
  };
}

function unique<T extends { id: string }>(v: Validator, items: Array<T | null>, path: string, what: string): T[] {
  const seen = new Map<string, number>();
  const out: T[] = [];
  items.forEach((item, i) => {
    if (item === null) return;
    const first = seen.get(item.id);
    if (first !== undefined && item.id !== '') v.fail(`${path}[${i}].id`, `repeats the ${what} id "${item.id}" of ${path}[${first}]; ids must be unique`);
    else seen.set(item.id, i);
    out.push(item);
  });
  return out;
}

const ROOT_FIELDS = ['periods', 'accounts', 'catalog', 'settings', 'partners', 'promotions'] as const;

/** Validates a rules configuration; the result holds every error found (up to config_errors_max). */
export function validateRules(input: unknown): ValidationResult {
  const v = new Validator();
  const o = v.obj(input, '');
  if (o === null) return { ok: false, errors: v.errors };
  v.known(o, ROOT_FIELDS, '');
  const periods = unique(v, v.array(o, 'periods', '', L.periods_max).map((p, i) => period(v, p, `periods[${i}]`)), 'periods', 'period');
  const accounts = unique(v, v.array(o, 'accounts', '', L.accounts_max).map((a, i) => account(v, a, `accounts[${i}]`)), 'accounts', 'account');
  const refs: Refs = { periods: new Set(periods.map((p) => p.id)), accounts: new Map(accounts.map((a) => [a.id, a])) };
  const cat = catalog(v, o.catalog, 'catalog');
  const set = settings(v, o.settings, 'settings');
  const partners = unique(v, v.array(o, 'partners', '', L.partners_max).map((p, i) => partner(v, p, `partners[${i}]`)), 'partners', 'partner');
  const checkPayment = (s: RulesSettings, path: string) => {
    if (s.pointsPayment === null) return;
    const a = refs.accounts.get(s.pointsPayment.account);
    if (a === undefined) v.fail(`${path}.pointsPayment.account`, `names no account; define "${s.pointsPayment.account}" in accounts`);
    else if (a.unit === 'count') v.fail(`${path}.pointsPayment.account`, `is the count account "${a.id}", which cannot pay; name a points or money account`);
    else if (a.unit === 'percent') v.fail(`${path}.pointsPayment.account`, `is the discount account "${a.id}", which cannot pay; name a points or money account`);
  };
  checkPayment(set, 'settings');
  partners.forEach((p, i) => checkPayment(p.settings, `partners[${i}].settings`));
  const promotions = unique(v, v.array(o, 'promotions', '', L.promotions_max).map((p, i) => promotion(v, p, `promotions[${i}]`, refs)), 'promotions', 'promotion');
  if (v.dropped > 0) v.errors.push({ path: '', message: `${v.dropped} more errors not listed; fix the ones above first` });
  if (v.errors.length > 0) return { ok: false, errors: v.errors };
  return { ok: true, config: { periods, accounts, catalog: cat, settings: set, partners, promotions } };
}
