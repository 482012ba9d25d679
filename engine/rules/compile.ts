// Compiles a validated rules configuration, once per configuration version, into
// plain closures and lookup sets: an evaluation calls functions and reads arrays,
// it never walks the JSON. Whatever depends on the configuration alone is settled
// here, not per check: equal line matches are one (a check's lines are sorted into
// all of them in one pass), the limits a promotion has are flags, the details that
// name a promotion are built strings. Promotions are put in rank order here:
//   1. the organization's before any partner's (coalition: the corporate rules outrank);
//   2. higher priority first;
//   3. the order of the configuration.
// Every later tie (exclusive promotions, the best privilege of a line) goes by rank.

import assert from 'node:assert/strict';
import { compileCel, type CelProgram } from './cel.js';
import { isTimeZone, type LocalTime } from './local-time.js';
import type {
  AccountConfig,
  AccountUnit,
  Action,
  Condition,
  LineMatch,
  Message,
  PercentAccountConfig,
  PeriodConfig,
  PointsPaymentConfig,
  PromotionConfig,
  PromotionLimits,
  PromotionStatus,
  RulesConfig,
  RulesSettings,
  StackingMode,
} from './model.js';
import { discountAccountPromotion, noLimits } from './model.js';
import { inBirthdayWindow, type EvalState, type PreparedLine } from './state.js';

export interface CompileOptions {
  /** The organization's IANA time zone; a check's `timeZone` (its outlet's) overrides it. */
  timeZone: string;
  /** For simulation: drafts apply as if active (paused and archived still do not). */
  includeDrafts?: boolean;
  /** Shown in explanations and logs. */
  version?: number;
}

export type Predicate = (s: EvalState) => boolean;

/** A top-level clause of a promotion's condition, labelled for the explanation. */
export interface Clause {
  label: string;
  test: Predicate;
}

export interface CompiledDiscount {
  kind: 'percent' | 'amount' | 'per_unit' | 'nth_free';
  /** Index into CompiledRules.lineMatches. */
  lines: number;
  /** percent: basis points; amount / per_unit: minor units; nth_free: N. */
  value: number;
  maxFree: number | null;
}

export interface CompiledAccrual {
  account: string;
  unit: AccountUnit;
  pointValueMinor: number;
  kind: 'percent' | 'per_unit' | 'fixed';
  value: number;
  /** Index into CompiledRules.lineMatches. */
  lines: number;
  excludePaidWithPoints: boolean;
  delayDays: number;
  expiryDays: number;
}

export interface CompiledCounter {
  counter: string;
  by: number;
  perUnit: boolean;
  /** Index into CompiledRules.lineMatches. */
  lines: number;
}

export interface CompiledPromotion {
  id: string;
  /** Position in rank order. */
  rank: number;
  config: PromotionConfig;
  /** Status as this compilation reads it (drafts are active when includeDrafts). */
  status: PromotionStatus;
  partner: string | null;
  exclusive: boolean;
  exempt: boolean;
  /**
   * Whether lines it gives something count as "in a promotion" for payment with
   * points and the program's own accrual: not for stacking-exempt promotions, nor
   * for the program's own accrual expressed as a promotion (template base_accrual).
   */
  marksLines: boolean;
  /** `item` when some effect selects lines, `check` when its effects cover the whole check, `none` without line effects. */
  scope: 'item' | 'check' | 'none';
  /** A check-level promotion that an item promotion blocks (itemBlocksCheck); the program's own accrual is none. */
  blockable: boolean;
  validFrom: number;
  validTo: number;
  /** Indexes into CompiledRules.periods; empty: always open. */
  periods: number[];
  clauses: Clause[];
  discounts: CompiledDiscount[];
  accruals: CompiledAccrual[];
  counters: CompiledCounter[];
  /**
   * A discount account's promotion: its percent discounts take the guest's level in
   * `account` (its `defaultBp` when the guest has none) instead of their value. Else null.
   */
  level: { account: string; defaultBp: number } | null;
  /** Top-ups, level changes, coupons and notifications, prebuilt and frozen. */
  actions: readonly Action[];
  messages: readonly Message[];
  /** Points topped up into points accounts by this promotion, for a points budget. */
  topUpPoints: number;
  limits: PromotionLimits;
  hasDiscount: boolean;
  /** Discounts or accruals: effects that give on lines. */
  lineEffects: boolean;
  /** Limits an evaluation reads, when set: uses per guest, units per guest, the promotion's own discount cap. */
  usesLimited: boolean;
  unitsLimited: boolean;
  discountCapped: boolean;
  /** The details of its explanation that name it: `exclusive:<id>`, `best:<id>`. */
  exclusiveDetail: string;
  bestDetail: string;
}

export interface CompiledPeriod {
  id: string;
  test: (local: LocalTime, s: EvalState) => boolean;
  /** Reads the guest (a birthday window), not the local time alone. */
  perGuest: boolean;
}

export interface CompiledPointsPayment {
  account: string;
  unit: AccountUnit;
  pointValueMinor: number;
  maxBp: number;
  maxAmount: number | null;
  forbiddenCategories: ReadonlySet<string>;
  forbiddenItems: ReadonlySet<string>;
  minFiscalPayment: number;
  promotionalLines: PointsPaymentConfig['promotionalLines'];
}

export interface CompiledSettings {
  stacking: StackingMode;
  itemBlocksCheck: boolean;
  maxDiscountBp: number | null;
  discountsPerGuest: RulesSettings['discountsPerGuest'];
  blockPointsPayment: boolean;
  blockAccrual: boolean;
  blockPromotions: boolean;
  excludePosLines: boolean;
  baseAccrualOnPromotionalLines: boolean;
  pointsPayment: CompiledPointsPayment | null;
}

export interface CompiledRules {
  version: number;
  timeZone: string;
  promotions: readonly CompiledPromotion[];
  periods: readonly CompiledPeriod[];
  /** The answers of `periods`, kept from one evaluation to the next within a local minute. */
  periodAnswers: PeriodAnswers;
  /** The distinct line matches of effects and conditions; an evaluation selects their lines once. */
  lineMatches: LineMatches;
  itemTags: ReadonlyMap<string, readonly string[]>;
  accounts: ReadonlyMap<string, AccountConfig>;
  settings: CompiledSettings;
  partnerSettings: ReadonlyMap<string, CompiledSettings>;
}

// --- Line matches -----------------------------------------------------------------

function anyIn(values: readonly string[], set: ReadonlySet<string>): boolean {
  for (let i = 0; i < values.length; i++) if (set.has(values[i]!)) return true;
  return false;
}

/** Value → the line matches that name it, for one list of a match (items, categories or tags). */
type ByValue = Map<string, number[]>;

function addTo(by: ByValue, values: readonly string[], match: number): void {
  for (const v of new Set(values)) {
    const list = by.get(v);
    if (list === undefined) by.set(v, [match]);
    else list.push(match);
  }
}

/**
 * The line matches of a configuration, and which lines of a check each selects: a
 * line is selected when its item, category or one of its tags is in an include list
 * (or the match has none), and none of them is in an exclude list.
 *
 * The same selection written twice (every promotion on beer) is one match. The lines
 * of all matches are found in one pass over the check, through indexes by value: a
 * line costs a few lookups of its own values, not a test per match and list.
 */
export class LineMatches {
  readonly #byKey = new Map<string, number>();
  /** Per match: 1 when it has no include list (every line it does not exclude). */
  readonly #everyLine: number[] = [];
  readonly #include: ValueIndexes = { items: new Map(), categories: new Map(), tags: new Map() };
  readonly #exclude: ValueIndexes = { items: new Map(), categories: new Map(), tags: new Map() };
  /**
   * Per match: the stamp of the line being looked at when one of its include (or
   * exclude) lists names the line. Stamps only grow, so nothing is reset between lines
   * or evaluations (select never nests).
   */
  #included = new Float64Array(0);
  #excluded = new Float64Array(0);
  #stamp = 0;
  /** The lines of every match, reused by every evaluation (evaluations never nest). */
  readonly #selection = new Selection();

  get count(): number {
    return this.#everyLine.length;
  }

  /** The index of the match selecting what `m` selects. */
  add(m: LineMatch): number {
    // Every list is a set: the same values in another order select the same lines.
    const key = JSON.stringify([m.items, m.categories, m.tags, m.excludeItems, m.excludeCategories, m.excludeTags].map((l) => [...new Set(l)].sort()));
    let index = this.#byKey.get(key);
    if (index === undefined) {
      index = this.#everyLine.length;
      this.#everyLine.push(m.items.length + m.categories.length + m.tags.length === 0 ? 1 : 0);
      addTo(this.#include.items, m.items, index);
      addTo(this.#include.categories, m.categories, index);
      addTo(this.#include.tags, m.tags, index);
      addTo(this.#exclude.items, m.excludeItems, index);
      addTo(this.#exclude.categories, m.excludeCategories, index);
      addTo(this.#exclude.tags, m.excludeTags, index);
      this.#byKey.set(key, index);
      this.#included = new Float64Array(this.count);
      this.#excluded = new Float64Array(this.count);
    }
    return index;
  }

  /**
   * Per match, the indexes of the lines it selects, ascending: the selection's
   * lines[index × stride .. end[index]). The selection is this object's, and the
   * next select overwrites it.
   */
  select(lines: readonly PreparedLine[]): Selection {
    const count = this.count;
    const n = lines.length;
    const out = this.#selection.reset(count, n);
    const flat = out.lines;
    const end = out.end;
    const everyLine = this.#everyLine;
    const included = this.#included;
    const excluded = this.#excluded;
    for (let i = 0; i < n; i++) {
      const line = lines[i]!;
      const stamp = ++this.#stamp;
      mark(this.#include, line, included, stamp);
      mark(this.#exclude, line, excluded, stamp);
      for (let k = 0; k < count; k++) {
        if ((everyLine[k] === 1 || included[k] === stamp) && excluded[k] !== stamp) flat[end[k]++] = i;
      }
    }
    return out;
  }
}

/**
 * The lines each line match selects in one check, flat: match k's are
 * lines[k × stride .. end[k]), ascending. Plain arrays of small integers, grown to
 * the largest check and configuration seen and reused, so a check allocates none.
 */
export class Selection {
  lines: number[] = [];
  end: number[] = [];
  /** The room each match has: the number of lines of the check. */
  stride = 0;

  reset(count: number, n: number): this {
    if (this.lines.length < count * n) this.lines = zeros(Math.max(count * n, this.lines.length * 2));
    if (this.end.length < count) this.end = zeros(Math.max(count, this.end.length * 2));
    for (let k = 0; k < count; k++) this.end[k] = k * n;
    this.stride = n;
    return this;
  }
}

function zeros(c: number): number[] {
  const a: number[] = [];
  for (let i = 0; i < c; i++) a.push(0);
  return a;
}

interface ValueIndexes {
  items: ByValue;
  categories: ByValue;
  tags: ByValue;
}

/** Stamps the matches whose lists (of one side, include or exclude) name the line's item, category or a tag. */
function mark(by: ValueIndexes, line: PreparedLine, marks: Float64Array, stamp: number): void {
  if (by.items.size > 0) stampAll(by.items.get(line.itemCode), marks, stamp);
  if (by.categories.size > 0) stampAll(by.categories.get(line.category), marks, stamp);
  if (by.tags.size > 0) for (let t = 0; t < line.tags.length; t++) stampAll(by.tags.get(line.tags[t]!), marks, stamp);
}

function stampAll(matches: readonly number[] | undefined, marks: Float64Array, stamp: number): void {
  if (matches === undefined) return;
  for (let j = 0; j < matches.length; j++) marks[matches[j]!] = stamp;
}

function hasInclude(m: LineMatch): boolean {
  return m.items.length + m.categories.length + m.tags.length > 0;
}

// --- Periods --------------------------------------------------------------------------

function clock(s: string): number {
  return Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
}

function dateNumber(s: string): number {
  return Number(s.slice(0, 4)) * 10_000 + Number(s.slice(5, 7)) * 100 + Number(s.slice(8, 10));
}

export function compilePeriod(p: PeriodConfig): CompiledPeriod {
  const tests: Array<(l: LocalTime, s: EvalState) => boolean> = [];
  if (p.dates.length > 0) {
    const ranges = p.dates.map((d) => [dateNumber(d.from), dateNumber(d.to)] as const);
    tests.push((l) => {
      const today = l.year * 10_000 + l.month * 100 + l.day;
      for (const [a, b] of ranges) if (today >= a && today <= b) return true;
      return false;
    });
  }
  if (p.weekdays.length > 0) {
    const set = new Set(p.weekdays);
    tests.push((l) => set.has(l.weekday));
  }
  if (p.daysOfMonth.length > 0) {
    const set = new Set(p.daysOfMonth);
    tests.push((l) => set.has(l.day));
  }
  if (p.weeksOfMonth.length > 0) {
    const set = new Set(p.weeksOfMonth);
    tests.push((l) => set.has(Math.ceil(l.day / 7)) || (set.has(-1) && l.day > l.daysInMonth - 7));
  }
  if (p.months.length > 0) {
    const set = new Set(p.months);
    tests.push((l) => set.has(l.month));
  }
  if (p.years.length > 0) {
    const set = new Set(p.years);
    tests.push((l) => set.has(l.year));
  }
  if (p.times.length > 0) {
    const ranges = p.times.map((t) => [clock(t.from), clock(t.to)] as const);
    tests.push((l) => {
      const m = l.minuteOfDay;
      for (const [a, b] of ranges) {
        if (a < b ? m >= a && m < b : m >= a || m < b) return true;
      }
      return false;
    });
  }
  if (p.birthday !== null) {
    const { daysBefore, daysAfter } = p.birthday;
    tests.push((l, s) => {
      const b = s.birthday();
      return b !== null && inBirthdayWindow(b, l, daysBefore, daysAfter);
    });
  }
  return {
    id: p.id,
    test: (l, s) => {
      for (let i = 0; i < tests.length; i++) if (!tests[i]!(l, s)) return false;
      return true;
    },
    perGuest: p.birthday !== null,
  };
}

/**
 * The answers of a configuration's periods (several promotions share one). A period
 * that reads the local time alone answers the same for every check of a local minute
 * in a zone, so its answer is kept while the evaluations' LocalTime stays the same
 * object (local-time.ts hands out one per zone and minute); one that reads the guest
 * is asked again in every evaluation.
 */
export class PeriodAnswers {
  readonly #periods: readonly CompiledPeriod[];
  readonly #perGuest: readonly number[];
  /** Per period: 0 not yet asked, 1 holds, 2 does not. */
  readonly #answers: Uint8Array;
  #at: LocalTime | null = null;

  constructor(periods: readonly CompiledPeriod[]) {
    this.#periods = periods;
    this.#perGuest = periods.flatMap((p, i) => (p.perGuest ? [i] : []));
    this.#answers = new Uint8Array(periods.length);
  }

  /** Starts an evaluation at `local`: forgets the answers of another minute, and those about the last guest. */
  begin(local: LocalTime): void {
    if (this.#at !== local) {
      this.#answers.fill(0);
      this.#at = local;
      return;
    }
    for (let k = 0; k < this.#perGuest.length; k++) this.#answers[this.#perGuest[k]!] = 0;
  }

  holds(index: number, s: EvalState): boolean {
    const known = this.#answers[index]!;
    if (known !== 0) return known === 1;
    const holds = this.#periods[index]!.test(s.local, s);
    this.#answers[index] = holds ? 1 : 2;
    return holds;
  }
}

// --- Conditions --------------------------------------------------------------------------

interface ConditionEnv {
  periodIndex: ReadonlyMap<string, number>;
  lineMatches: LineMatches;
  /** Discount (percent) account id → the level of a guest without one, for balance conditions. */
  levelDefaults: ReadonlyMap<string, number>;
}

/**
 * The guest's level in a discount account, basis points: the context's
 * `balances[account]`, else `defaultBp`; held within 0..10000 (a whole number), so a
 * context beyond it never discounts more than a line.
 */
export function guestLevel(s: EvalState, account: string, defaultBp: number): number {
  const balances = s.ctx.guest.balances;
  const v = balances !== undefined && Object.prototype.hasOwnProperty.call(balances, account) ? balances[account] : undefined;
  if (v === undefined || !Number.isFinite(v)) return defaultBp;
  return Math.min(10_000, Math.max(0, Math.floor(v)));
}

function between(v: number, min: number | null, max: number | null): boolean {
  return (min === null || v >= min) && (max === null || v <= max);
}

function tagTest(any: string[], all: string[], none: string[], read: (s: EvalState) => readonly string[] | undefined): Predicate {
  const anySet = new Set(any);
  const noneSet = new Set(none);
  return (s) => {
    const tags = read(s) ?? [];
    if (anySet.size > 0 && !anyIn(tags, anySet)) return false;
    if (noneSet.size > 0 && anyIn(tags, noneSet)) return false;
    for (let i = 0; i < all.length; i++) if (!tags.includes(all[i]!)) return false;
    return true;
  };
}

function inList(values: string[]): (v: string | undefined) => boolean {
  if (values.length === 0) return () => true;
  const set = new Set(values);
  return (v) => v !== undefined && set.has(v);
}

export function compileCondition(c: Condition, env: ConditionEnv): Predicate {
  switch (c.kind) {
    case 'all': {
      const parts = c.of.map((x) => compileCondition(x, env));
      return (s) => {
        for (let i = 0; i < parts.length; i++) if (!parts[i]!(s)) return false;
        return true;
      };
    }
    case 'any': {
      const parts = c.of.map((x) => compileCondition(x, env));
      return (s) => {
        for (let i = 0; i < parts.length; i++) if (parts[i]!(s)) return true;
        return false;
      };
    }
    case 'not': {
      const inner = compileCondition(c.of, env);
      return (s) => !inner(s);
    }
    case 'period': {
      const index = env.periodIndex.get(c.period);
      assert(index !== undefined, `validated configuration names an unknown period ${c.period}`);
      return (s) => s.periods.holds(index, s);
    }
    case 'place': {
      const org = inList(c.organizations);
      const partner = inList(c.partners);
      const outlet = inList(c.outlets);
      const terminal = inList(c.terminals);
      const tags = new Set(c.outletTags);
      return (s) => {
        const k = s.ctx.check;
        return org(k.organization) && partner(k.partner) && outlet(k.outlet) && terminal(k.terminal) && (tags.size === 0 || anyIn(k.outletTags ?? [], tags));
      };
    }
    case 'guest_level': {
      const levels = inList(c.levels);
      return (s) => levels(s.ctx.guest.level);
    }
    case 'guest_tags':
      return tagTest(c.any, c.all, c.none, (s) => s.ctx.guest.tags);
    case 'guest_segments':
      return tagTest(c.any, c.all, c.none, (s) => s.ctx.guest.segments);
    case 'guest_age': {
      const { min, max } = c;
      return (s) => {
        const age = s.age();
        return age >= 0 && between(age, min, max);
      };
    }
    case 'birthday': {
      const { daysBefore, daysAfter } = c;
      return (s) => {
        const b = s.birthday();
        return b !== null && inBirthdayWindow(b, s.local, daysBefore, daysAfter);
      };
    }
    case 'registered': {
      const { minDays, maxDays } = c;
      return (s) => {
        const days = s.registeredDays();
        return days >= 0 && between(days, minDays, maxDays);
      };
    }
    case 'guest_attribute': {
      const key = c.key;
      const values = c.values.length === 0 ? null : new Set(c.values);
      return (s) => {
        const attrs = s.ctx.guest.attributes;
        if (attrs === undefined || !Object.prototype.hasOwnProperty.call(attrs, key)) return false;
        return values === null || values.has(attrs[key]!);
      };
    }
    case 'card_type': {
      const types = inList(c.types);
      return (s) => types(s.ctx.guest.cardType);
    }
    case 'check_sum': {
      const { min, max } = c;
      return (s) => between(s.total, min, max);
    }
    case 'currency': {
      const set = new Set(c.currencies);
      return (s) => set.has(s.ctx.check.currency);
    }
    case 'lines': {
      const match = env.lineMatches.add(c.match);
      const { minQuantity, minSum, minLines } = c;
      return (s) => {
        const sel = s.selection();
        const from = match * sel.stride;
        const to = sel.end[match]!;
        let quantity = 0;
        let sum = 0;
        for (let k = from; k < to; k++) {
          const line = s.lines[sel.lines[k]!]!;
          quantity += line.quantity;
          sum += line.sum;
        }
        const count = to - from;
        return count > 0 && quantity >= minQuantity && sum >= minSum && count >= minLines;
      };
    }
    case 'balance': {
      const accounts = c.accounts;
      const { min, max } = c;
      // A discount account's "balance" is the guest's level, its default when the guest has none.
      const dflt = accounts.map((a) => env.levelDefaults.get(a) ?? 0);
      return (s) => {
        const balances = s.ctx.guest.balances;
        let total = 0;
        for (let i = 0; i < accounts.length; i++) {
          const a = accounts[i]!;
          total += (balances !== undefined && Object.prototype.hasOwnProperty.call(balances, a) ? balances[a] : dflt[i]) ?? 0;
        }
        return between(total, min, max);
      };
    }
    case 'counter': {
      const { counter, min, max } = c;
      return (s) => {
        const counters = s.ctx.guest.counters;
        const v = (counters !== undefined && Object.prototype.hasOwnProperty.call(counters, counter) ? counters[counter] : 0) ?? 0;
        return between(v, min, max);
      };
    }
    case 'cel': {
      const r = compileCel(c.source);
      assert(r.ok, `validated configuration holds a CEL source that does not compile: ${c.source}`);
      const program: CelProgram = r.program;
      return (s) => {
        const out = program.runOn(s.cel());
        if (typeof out === 'string') {
          s.celError = out;
          return false;
        }
        return out;
      };
    }
  }
}

function clauses(c: Condition | null, env: ConditionEnv): Clause[] {
  if (c === null) return [];
  // A top-level `all` is split so the explanation can say which part failed.
  if (c.kind === 'all') return c.of.map((x, i) => ({ label: `of[${i}]:${x.kind}`, test: compileCondition(x, env) }));
  return [{ label: c.kind, test: compileCondition(c, env) }];
}

// --- Settings --------------------------------------------------------------------------------

function compileSettings(s: RulesSettings, accounts: ReadonlyMap<string, AccountConfig>): CompiledSettings {
  let pointsPayment: CompiledPointsPayment | null = null;
  if (s.pointsPayment !== null) {
    const pp = s.pointsPayment;
    const acc = accounts.get(pp.account);
    assert(acc !== undefined, `validated configuration names an unknown account ${pp.account}`);
    pointsPayment = {
      account: pp.account,
      unit: acc.unit,
      pointValueMinor: acc.pointValueMinor,
      maxBp: pp.maxBp,
      maxAmount: pp.maxAmount,
      forbiddenCategories: new Set(pp.forbiddenCategories),
      forbiddenItems: new Set(pp.forbiddenItems),
      minFiscalPayment: pp.minFiscalPayment,
      promotionalLines: pp.promotionalLines,
    };
  }
  return {
    stacking: s.stacking,
    itemBlocksCheck: s.itemBlocksCheck,
    maxDiscountBp: s.maxDiscountBp,
    discountsPerGuest: s.discountsPerGuest,
    blockPointsPayment: s.posModes.includes('block_points_payment'),
    blockAccrual: s.posModes.includes('block_accrual'),
    blockPromotions: s.posModes.includes('block_promotions'),
    excludePosLines: s.posModes.includes('exclude_pos_lines'),
    baseAccrualOnPromotionalLines: s.baseAccrualOnPromotionalLines,
    pointsPayment,
  };
}

// --- Promotions ------------------------------------------------------------------------------

function isoMs(s: string | null, dflt: number): number {
  return s === null ? dflt : Date.parse(s);
}

/**
 * A discount account as the promotion it applies as: always active, no condition or
 * limits, one percent discount on its lines (its value the default level; evaluation
 * reads the guest's).
 */
function accountPromotion(a: PercentAccountConfig): PromotionConfig {
  return {
    id: discountAccountPromotion(a.id),
    name: a.id,
    description: '',
    status: 'active',
    template: 'custom',
    partner: null,
    priority: a.priority,
    exclusive: a.exclusive,
    stackingExempt: false,
    validFrom: null,
    validTo: null,
    periods: [],
    condition: null,
    effects: [{ kind: 'discount', target: a.target, match: a.match, percentBp: a.defaultBp, amount: null, perUnit: false }],
    limits: noLimits(),
  };
}

function compilePromotion(
  p: PromotionConfig,
  rank: number,
  env: ConditionEnv,
  accounts: ReadonlyMap<string, AccountConfig>,
  includeDrafts: boolean,
  level: CompiledPromotion['level'] = null,
): CompiledPromotion {
  const lines = env.lineMatches;
  const discounts: CompiledDiscount[] = [];
  const accruals: CompiledAccrual[] = [];
  const counters: CompiledCounter[] = [];
  const actions: Action[] = [];
  const messages: Message[] = [];
  let topUpPoints = 0;
  let itemScoped = false;
  let checkScoped = false;
  for (const e of p.effects) {
    switch (e.kind) {
      case 'discount':
        discounts.push({
          kind: e.percentBp !== null ? 'percent' : e.perUnit ? 'per_unit' : 'amount',
          lines: lines.add(e.match),
          value: e.percentBp ?? e.amount!,
          maxFree: null,
        });
        if (e.target === 'lines') itemScoped = true;
        else checkScoped = true;
        break;
      case 'nth_free':
        discounts.push({ kind: 'nth_free', lines: lines.add(e.match), value: e.every, maxFree: e.maxFree });
        itemScoped = true;
        break;
      case 'accrual': {
        const acc = accounts.get(e.account);
        assert(acc !== undefined, `validated configuration names an unknown account ${e.account}`);
        accruals.push({
          account: e.account,
          unit: acc.unit,
          pointValueMinor: acc.pointValueMinor,
          kind: e.percentBp !== null ? 'percent' : e.perUnit !== null ? 'per_unit' : 'fixed',
          value: e.percentBp ?? e.perUnit ?? e.fixed!,
          lines: lines.add(e.match),
          excludePaidWithPoints: e.excludePaidWithPoints,
          delayDays: e.delayDays,
          expiryDays: e.expiryDays,
        });
        if (hasInclude(e.match)) itemScoped = true;
        else checkScoped = true;
        break;
      }
      case 'counter':
        counters.push({ counter: e.counter, by: e.by, perUnit: e.perUnit, lines: lines.add(e.match) });
        break;
      case 'top_up':
        actions.push(Object.freeze({ kind: 'top_up', promotion: p.id, account: e.account, amount: e.amount }));
        if (accounts.get(e.account)?.unit === 'points' && e.amount > 0) topUpPoints += e.amount;
        break;
      case 'set_level':
        actions.push(Object.freeze({ kind: 'set_level', promotion: p.id, level: e.level }));
        break;
      case 'issue_coupon':
        actions.push(Object.freeze({ kind: 'issue_coupon', promotion: p.id, couponType: e.couponType, count: e.count }));
        break;
      case 'notify':
        actions.push(Object.freeze({ kind: 'notify', promotion: p.id, channel: e.channel, template: e.template }));
        break;
      case 'message':
        messages.push(Object.freeze({ promotion: p.id, channel: e.channel, text: e.text }));
        break;
    }
  }
  const scope = itemScoped ? 'item' : checkScoped ? 'check' : 'none';
  const uses = p.limits.usesPerGuest;
  const periods = p.periods.map((id) => {
    const i = env.periodIndex.get(id);
    assert(i !== undefined, `validated configuration names an unknown period ${id}`);
    return i;
  });
  return {
    id: p.id,
    rank,
    config: p,
    status: includeDrafts && p.status === 'draft' ? 'active' : p.status,
    partner: p.partner,
    exclusive: p.exclusive,
    exempt: p.stackingExempt,
    marksLines: !p.stackingExempt && p.template !== 'base_accrual',
    scope,
    blockable: scope === 'check' && p.template !== 'base_accrual',
    validFrom: isoMs(p.validFrom, -Infinity),
    validTo: isoMs(p.validTo, Infinity),
    periods,
    clauses: clauses(p.condition, env),
    level,
    discounts,
    accruals,
    counters,
    actions: Object.freeze(actions),
    messages: Object.freeze(messages),
    topUpPoints,
    limits: p.limits,
    hasDiscount: discounts.length > 0,
    lineEffects: discounts.length > 0 || accruals.length > 0,
    usesLimited: uses.day !== null || uses.week !== null || uses.month !== null || uses.total !== null,
    unitsLimited: p.limits.unitsPerGuest.day !== null || p.limits.unitsPerGuest.month !== null,
    discountCapped: p.limits.maxDiscountBp !== null || p.limits.maxDiscountAmount !== null,
    exclusiveDetail: `exclusive:${p.id}`,
    bestDetail: `best:${p.id}`,
  };
}

/**
 * Compiles a configuration that validateRules accepted. A configuration that did
 * not pass validation is a programmer error here, asserted, never a domain outcome.
 */
export function compileRules(config: RulesConfig, options: CompileOptions): CompiledRules {
  assert(isTimeZone(options.timeZone), `options.timeZone must be an IANA time zone, e.g. "Europe/Moscow", not ${options.timeZone}`);
  const periods = config.periods.map(compilePeriod);
  const periodIndex = new Map(config.periods.map((p, i) => [p.id, i]));
  const discountAccounts = config.accounts.filter((a): a is PercentAccountConfig => a.unit === 'percent');
  const env: ConditionEnv = { periodIndex, lineMatches: new LineMatches(), levelDefaults: new Map(discountAccounts.map((a) => [a.id, a.defaultBp])) };
  const accounts = new Map(config.accounts.map((a) => [a.id, a]));
  // Discount accounts rank as promotions of the organization, after the promotions of equal priority.
  const levels = new Map<PromotionConfig, CompiledPromotion['level']>();
  const all = [...config.promotions];
  for (const a of discountAccounts) {
    const p = accountPromotion(a);
    levels.set(p, { account: a.id, defaultBp: a.defaultBp });
    all.push(p);
  }
  const order = all
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.partner === null ? 0 : 1) - (b.p.partner === null ? 0 : 1) || b.p.priority - a.p.priority || a.i - b.i);
  const promotions = order.map(({ p }, rank) => compilePromotion(p, rank, env, accounts, options.includeDrafts === true, levels.get(p) ?? null));
  const itemTags = new Map<string, readonly string[]>();
  for (const code of Object.keys(config.catalog.itemTags)) itemTags.set(code, Object.freeze(config.catalog.itemTags[code]!.slice()));
  const partnerSettings = new Map(config.partners.map((p) => [p.id, compileSettings(p.settings, accounts)]));
  return Object.freeze({
    version: options.version ?? 0,
    timeZone: options.timeZone,
    promotions: Object.freeze(promotions),
    periods: Object.freeze(periods),
    periodAnswers: new PeriodAnswers(periods),
    lineMatches: env.lineMatches,
    itemTags,
    accounts,
    settings: compileSettings(config.settings, accounts),
    partnerSettings,
  });
}
