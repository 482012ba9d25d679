// Evaluation of a check against compiled rules: pure and deterministic. The same
// compiled rules and context give the same Evaluation, with nothing read from
// clocks, randomness or storage; the orchestrator applies what it returns.
//
// 1. Qualify each promotion in rank order; the first failing test names the reason:
//    status → period (validFrom/validTo, periods) → condition (partner, a discount
//    account's level 0, clauses) → limit (uses per guest, units, discounts per guest)
//    → budget (already spent).
// 2. Stacking among the qualified: with `block_promotions` and a POS promotion in the
//    check none applies; else the first exclusive one by rank applies alone (stacking-
//    exempt promotions aside).
// 3. Effects.
//    `all`: promotions in rank order, each discount on what the ones before it left of
//    a line (so a line never goes below 0), capped by the promotion's own limits and by
//    the settings' maxDiscountBp of the check.
//    `best_per_line`: each contestant is valued alone per line (discount in minor units,
//    plus accruals at their money value: points × pointValueMinor / 100); every line
//    goes to its most valuable one (ties by rank); a contestant keeps only the lines it
//    won. With itemBlocksCheck a check-level contestant leaves the contest as soon as an
//    item promotion offers anything. Stacking-exempt promotions and those without line
//    effects apply afterwards, as in `all`.
//    Accruals come last, on what is left to pay: the line nets after every discount,
//    less the part paid with points (the guest's `paidWithPoints`, spread over the lines
//    in proportion to their nets) where the accrual excludes it.
//    A promotion whose budget cannot cover what it would give is removed and the
//    evaluation runs again without it (each run removes one or more, so it ends).
// 4. Payment with points and the program's own accrual per line, from what applied.
//
// Amounts split over lines follow distribute.ts (largest remainder, ties by index).
//
// Speed: an evaluation allocates little beyond its answer. The promotions' outcomes
// (per-line arrays) come from a pool kept per configuration, the working arrays of
// the effects from scratch shared by every evaluation, the lines of every line match
// from the compiled rules (evaluations never nest: nothing here calls back); all are
// zeroed when taken, and nothing reused is ever part of the answer (but for the one
// frozen empty list below). A discount over the whole check (the usual check-level
// one) is split over what is left of the lines directly.
//
// Explanations are optional (`explain: false`, what a check needs): the same
// decisions, discounts, accruals and the rest, but no reasons are written (per line
// or per promotion), lines carry no `applied` / `rejected` (one frozen empty array),
// and `promotions` holds only those that applied. Whatever only an explanation reads
// (why a line got nothing, which lines a promotion touched, detail strings) is then
// not kept.

import assert from 'node:assert/strict';
import { apportionInto, distributeInto, percentOf } from './distribute.js';
import { guestLevel, type CompiledAccrual, type CompiledPromotion, type CompiledRules, type CompiledSettings } from './compile.js';
import type { Accrual, CounterIncrement, Evaluation, LineResult, PointsPaymentLimit, PromotionExplanation, Reason, RulesContext, Usage } from './model.js';
import { EvalState } from './state.js';

export interface EvaluateOptions {
  /**
   * true (the default): every promotion's verdict with its reason and detail, and per
   * line the promotions that gave it something (`applied`) or not (`rejected`).
   * false: `promotions` only the applied ones (in rank order, with what they gave),
   * lines' `applied` and `rejected` empty (one frozen empty array, shared); everything
   * else the same, field for field.
   */
  explain?: boolean;
}

/** Whether the evaluation under way explains itself (evaluations never nest). */
let explaining = true;

/** Why a promotion or one of its lines gave nothing; the reason follows from the detail. */
function reasonOf(detail: string): Reason {
  if (detail === 'budget') return 'budget';
  if (detail === 'no_matching_lines') return 'condition';
  if (detail === 'units_per_guest' || detail === 'max_discount' || detail === 'check_max_discount' || detail === 'accrual_max') return 'limit';
  return 'stacking';
}

// --- Scratch ---------------------------------------------------------------------

/**
 * A number per line. Plain arrays of small integers (V8's packed SMI elements):
 * the answer's objects take their numbers unboxed, which a typed array's doubles
 * would not give.
 */
type PerLine = number[];

function perLine(c: number): PerLine {
  const a: number[] = [];
  for (let i = 0; i < c; i++) a.push(0);
  return a;
}

/** Per-line scratch, grown to the largest check seen. */
class Scratch {
  capacity = 0;
  /** Shared by outcomes that never write them: always zeros, nulls. */
  zeros: PerLine = [];
  untouched: PerLine = [];
  nulls: Array<string | null> = [];
  /** Line sums; what is left of each line; paid with points per line. */
  sums: PerLine = [];
  left: PerLine = [];
  share: PerLine = [];
  /** One discount effect: its lines, their units, base and shares, free units (nth_free). */
  sel: PerLine = [];
  selUnits: PerLine = [];
  selBase: PerLine = [];
  selShares: PerLine = [];
  selFree: PerLine = [];
  /** clip: what a capped promotion keeps per line. */
  kept: PerLine = [];
  /** best_per_line: the value of each line's winner so far. */
  best: PerLine = [];
  /** One accrual effect: its lines, their weights, the amount per line (and capped). */
  acc: PerLine = [];
  accWeight: PerLine = [];
  accPer: PerLine = [];
  accCapped: PerLine = [];
  /** nth_free: order of the lines, cheapest first. */
  order: number[] = [];
  orderPrice: PerLine = [];
  /** answer: lines in an applied promotion, lines discounted by one. */
  inPromotion: PerLine = [];
  discounted: PerLine = [];
  /** Without explanations: the touched lines of every outcome, written and never read; the lines' discounts. */
  sink: PerLine = [];
  lineDiscount: PerLine = [];

  /** Makes room for n lines; the arrays of pooled outcomes follow on their next take. */
  ensure(n: number): void {
    if (n <= this.capacity) return;
    const c = Math.max(n, this.capacity * 2, 16);
    this.capacity = c;
    this.zeros = perLine(c);
    this.untouched = perLine(c);
    this.nulls = new Array<string | null>(c).fill(null);
    this.sums = perLine(c);
    this.left = perLine(c);
    this.share = perLine(c);
    this.sel = perLine(c);
    this.selUnits = perLine(c);
    this.selBase = perLine(c);
    this.selShares = perLine(c);
    this.selFree = perLine(c);
    this.kept = perLine(c);
    this.best = perLine(c);
    this.acc = perLine(c);
    this.accWeight = perLine(c);
    this.accPer = perLine(c);
    this.accCapped = perLine(c);
    this.orderPrice = perLine(c);
    this.inPromotion = perLine(c);
    this.discounted = perLine(c);
    this.sink = perLine(c);
    this.lineDiscount = perLine(c);
  }

  /** Nothing wrote into the shared zeros and nulls. */
  sharedIntact(n: number): boolean {
    for (let i = 0; i < n; i++) if (this.zeros[i] !== 0 || this.untouched[i] !== 0 || this.nulls[i] !== null) return false;
    return true;
  }
}

const scratch = new Scratch();

interface Outcome {
  p: CompiledPromotion;
  /** Lines of the check: the arrays below may be longer. */
  n: number;
  /** Discount per line, minor units. */
  disc: PerLine;
  discTotal: number;
  /** Accrued per line, in the accounts' units (for the explanation). */
  acc: PerLine;
  accTotal: number;
  /** Whether `value` is kept (contestants of best_per_line). */
  valued: boolean;
  /** Per line: discount × 100 + accruals at money value × 100 (best_per_line). */
  value: PerLine;
  accruals: Accrual[];
  /** Points accrued or topped up, for a points budget. */
  points: number;
  /** Promotional units per line (units discounted, or given free). */
  units: PerLine;
  /** Per line: matched by one of the promotion's line effects. */
  touched: PerLine;
  /** Per line: why it got nothing, when it was touched (the shared nulls until ownWhy). */
  why: Array<string | null>;
  ownWhy: boolean;
  /** Why the whole promotion came to nothing, when it did. */
  zero: string | null;
  /** best_per_line: why it left the contest whole (item_blocks_check), else null. */
  dropped: string | null;
  /** best_per_line: the lines it won, else null. */
  won: PerLine | null;
  /** In the answer: it applied. */
  applied: boolean;
  /** The arrays this outcome owns, which the fields above point to when it writes them; their length. */
  readonly own: OwnArrays;
  readonly capacity: number;
}

interface OwnArrays {
  disc: PerLine;
  acc: PerLine;
  value: PerLine;
  units: PerLine;
  touched: PerLine;
  why: Array<string | null>;
  won: PerLine;
}

function ownArrays(c: number): OwnArrays {
  return {
    disc: perLine(c),
    acc: perLine(c),
    value: perLine(c),
    units: perLine(c),
    touched: perLine(c),
    why: new Array<string | null>(c).fill(null),
    won: perLine(c),
  };
}

/**
 * One configuration's outcomes, reused from one run to the next: a run takes what it
 * needs and the next run (or evaluation) starts over, since only the last run's
 * outcomes are answered. Kept per configuration (pools below), so that an outcome
 * never holds on to the promotions of a configuration no longer evaluated.
 */
class OutcomePool {
  readonly #all: Outcome[] = [];
  #used = 0;
  /** best_per_line: the winner of each line. */
  readonly winner: Array<Outcome | null> = [];

  reset(): void {
    this.#used = 0;
  }

  /**
   * An empty outcome. Arrays a promotion never writes (no discounts: disc and units;
   * no accruals: acc; not valued: value; no line effects: touched) are the shared
   * zeros; `why` is its own from the first line that needs a reason. `touched`: the
   * lines another outcome of the promotion touched (best_per_line), shared. `gives`:
   * false for one that will give nothing (a contestant that won no line), all zeros.
   */
  take(p: CompiledPromotion, n: number, valued: boolean, touched: PerLine | null = null, gives = true): Outcome {
    const all = this.#all;
    const used = this.#used++;
    let o = all[used];
    if (o === undefined || o.capacity < n) {
      o = emptyOutcome(p, ownArrays(scratch.capacity));
      if (used < all.length) all[used] = o;
      else all.push(o);
    }
    const own = o.own;
    const z = scratch.zeros;
    const discounts = gives && p.hasDiscount;
    const lineEffects = p.lineEffects;
    o.p = p;
    o.n = n;
    if (discounts) {
      const disc = own.disc;
      const units = own.units;
      for (let i = 0; i < n; i++) {
        disc[i] = 0;
        units[i] = 0;
      }
      o.disc = disc;
      o.units = units;
    } else {
      o.disc = z;
      o.units = z;
    }
    o.discTotal = 0;
    o.acc = gives && p.accruals.length > 0 ? zeroed(own.acc, n) : z;
    o.accTotal = 0;
    valued &&= lineEffects;
    o.valued = valued;
    o.value = valued ? zeroed(own.value, n) : z;
    if (o.accruals.length > 0) o.accruals = []; // not `length = 0`: a call into the runtime
    o.points = 0;
    o.touched = touched ?? (!lineEffects ? scratch.untouched : explaining ? zeroed(own.touched, n) : scratch.sink);
    o.why = scratch.nulls;
    o.ownWhy = false;
    o.zero = null;
    o.dropped = null;
    o.won = null;
    o.applied = false;
    return o;
  }
}

function emptyOutcome(p: CompiledPromotion, own: OwnArrays): Outcome {
  const z = scratch.zeros;
  return {
    p,
    n: 0,
    disc: z,
    discTotal: 0,
    acc: z,
    accTotal: 0,
    valued: false,
    value: z,
    accruals: [],
    points: 0,
    units: z,
    touched: scratch.untouched,
    why: scratch.nulls,
    ownWhy: false,
    zero: null,
    dropped: null,
    won: null,
    applied: false,
    own,
    capacity: own.disc.length,
  };
}

function zeroed(a: PerLine, n: number): PerLine {
  for (let i = 0; i < n; i++) a[i] = 0;
  return a;
}

const pools = new WeakMap<CompiledRules, OutcomePool>();

function poolOf(rules: CompiledRules): OutcomePool {
  let pool = pools.get(rules);
  if (pool === undefined) pools.set(rules, (pool = new OutcomePool()));
  return pool;
}

/** Records why line i got nothing from o, unless a reason is already there (only for an explanation). */
function because(o: Outcome, i: number, detail: string, replace = false): void {
  if (!explaining) return;
  if (!o.ownWhy) {
    const why = (o.why = o.own.why);
    for (let k = 0; k < o.n; k++) why[k] = null;
    o.ownWhy = true;
  }
  if (replace || o.why[i] === null) o.why[i] = detail;
}

function anyTouched(o: Outcome, n: number): boolean {
  for (let i = 0; i < n; i++) if (o.touched[i] === 1) return true;
  return false;
}

function usageOf(s: EvalState, id: string) {
  const u = s.ctx.guest.usage;
  return u !== undefined && Object.prototype.hasOwnProperty.call(u, id) ? u[id] : undefined;
}

/** Units the guest may still get discounted under unitsPerGuest; null: no cap. */
function unitsLeft(p: CompiledPromotion, s: EvalState): number | null {
  if (!p.unitsLimited) return null;
  const { day, month } = p.limits.unitsPerGuest;
  const u = usageOf(s, p.id);
  let left = Infinity;
  if (day !== null) left = Math.min(left, day - (u?.unitsDay ?? 0));
  if (month !== null) left = Math.min(left, month - (u?.unitsMonth ?? 0));
  return Math.max(0, left);
}

function budgetLeft(p: CompiledPromotion, s: EvalState): number {
  const b = p.limits.budget!;
  const left = s.ctx.budgets;
  return left !== undefined && Object.prototype.hasOwnProperty.call(left, p.id) ? left[p.id]! : b.amount;
}

/** Why each promotion did not apply, by rank; none: it applied. Reused by every evaluation. */
class Verdicts {
  readonly #reasons: Array<Reason | undefined> = [];
  readonly #details: string[] = [];

  reset(count: number): this {
    for (let i = 0; i < count; i++) this.#reasons[i] = undefined;
    return this;
  }
  has(p: CompiledPromotion): boolean {
    return this.#reasons[p.rank] !== undefined;
  }
  reason(p: CompiledPromotion): Reason | undefined {
    return this.#reasons[p.rank];
  }
  /** The detail of a promotion that has a verdict. */
  detail(p: CompiledPromotion): string {
    return this.#details[p.rank]!;
  }
  set(p: CompiledPromotion, reason: Reason, detail: string): void {
    this.#reasons[p.rank] = reason;
    this.#details[p.rank] = detail;
  }
  /** set, answering false: a promotion that failed to qualify. */
  reject(p: CompiledPromotion, reason: Reason, detail: string): false {
    this.set(p, reason, detail);
    return false;
  }
}

const verdicts = new Verdicts();

// --- 1. Qualification ------------------------------------------------------------

/** Whether p qualifies; when not, its verdict says why. */
function qualify(p: CompiledPromotion, s: EvalState, settings: CompiledSettings, v: Verdicts): boolean {
  if (p.status !== 'active') return v.reject(p, 'status', p.status);
  const t = s.ctx.time;
  if (t < p.validFrom) return v.reject(p, 'period', 'not_started');
  if (t >= p.validTo) return v.reject(p, 'period', 'ended');
  if (p.periods.length > 0 && !anyPeriodHolds(p.periods, s)) return v.reject(p, 'period', 'outside_periods');
  if (p.partner !== null && s.ctx.check.partner !== p.partner) return v.reject(p, 'condition', 'other_partner');
  if (p.level !== null && guestLevel(s, p.level.account, p.level.defaultBp) === 0) return v.reject(p, 'condition', 'no_discount_level');
  const clauses = p.clauses;
  for (let i = 0; i < clauses.length; i++) {
    const clause = clauses[i]!;
    s.celError = null;
    if (!clause.test(s)) return v.reject(p, 'condition', s.celError === null || !explaining ? clause.label : `${clause.label}:cel_error:${s.celError}`);
  }
  if (p.usesLimited) {
    const uses = p.limits.usesPerGuest;
    const u = usageOf(s, p.id);
    if (uses.day !== null && (u?.day ?? 0) >= uses.day) return v.reject(p, 'limit', 'uses_per_guest_day');
    if (uses.week !== null && (u?.week ?? 0) >= uses.week) return v.reject(p, 'limit', 'uses_per_guest_week');
    if (uses.month !== null && (u?.month ?? 0) >= uses.month) return v.reject(p, 'limit', 'uses_per_guest_month');
    if (uses.total !== null && (u?.total ?? 0) >= uses.total) return v.reject(p, 'limit', 'uses_per_guest_total');
  }
  if (p.hasDiscount) {
    if (unitsLeft(p, s) === 0 && p.accruals.length === 0) return v.reject(p, 'limit', 'units_per_guest');
    const d = settings.discountsPerGuest;
    const g = s.ctx.guest.discountChecks;
    if (d.day !== null && (g?.day ?? 0) >= d.day) return v.reject(p, 'limit', 'discounts_per_guest_day');
    if (d.month !== null && (g?.month ?? 0) >= d.month) return v.reject(p, 'limit', 'discounts_per_guest_month');
  }
  if (p.limits.budget !== null && budgetLeft(p, s) <= 0) return v.reject(p, 'budget', 'budget');
  return true;
}

function anyPeriodHolds(periods: readonly number[], s: EvalState): boolean {
  for (let i = 0; i < periods.length; i++) if (s.periods.holds(periods[i]!, s)) return true;
  return false;
}

// --- 3. Effects -------------------------------------------------------------------

/** Applies a promotion's discounts to `left` (what remains of each line), recording them in `o`. */
function applyDiscounts(o: Outcome, s: EvalState, left: PerLine): void {
  const lines = s.lines;
  const { sel, selUnits: units, selBase: base, selShares: shares } = scratch;
  // The outcome's arrays in locals: V8 then keeps them out of the loops.
  const { disc, touched } = o;
  const discounts = o.p.discounts;
  let cap = unitsLeft(o.p, s);
  // A discount account's percent is the guest's level.
  const level = o.p.level === null ? -1 : guestLevel(s, o.p.level.account, o.p.level.defaultBp);
  const selection = s.selection();
  const matched = selection.lines;
  const n = lines.length;
  for (let e = 0; e < discounts.length; e++) {
    const d = discounts[e]!;
    const value = level >= 0 ? level : d.value;
    const from = d.lines * selection.stride;
    const to = selection.end[d.lines]!;
    if (cap === null && to - from === n && (d.kind === 'percent' || d.kind === 'amount')) {
      // A share of the whole check (every line, no unit cap, the usual check-level
      // discount): the weights are what is left of the lines, as they are. A line
      // with nothing left weighs 0 and gets 0 (its remainder is 0, and fewer units
      // are left over than there are positive remainders), as when left out.
      let b = 0;
      for (let i = 0; i < n; i++) {
        if (explaining) {
          touched[i] = 1;
          if (left[i] === 0) because(o, i, 'nothing_left');
        }
        b += left[i]!;
      }
      if (b === 0) continue;
      distributeInto(d.kind === 'percent' ? percentOf(b, value) : Math.min(value, b), left, n, shares);
      const discUnits = o.units;
      let total = o.discTotal;
      for (let i = 0; i < n; i++) {
        const x = shares[i]!;
        if (x === 0) continue;
        disc[i] += x;
        total += x;
        left[i] -= x;
        discUnits[i] += lines[i]!.quantity;
      }
      o.discTotal = total;
      continue;
    }
    let count = 0;
    let b = 0;
    for (let k = from; k < to; k++) {
      const i = matched[k]!;
      const line = lines[i]!;
      touched[i] = 1;
      if (left[i]! === 0) {
        because(o, i, 'nothing_left');
        continue;
      }
      let u = line.quantity;
      if (cap !== null) {
        u = Math.min(u, cap);
        cap -= u;
        if (u === 0) {
          because(o, i, 'units_per_guest');
          continue;
        }
      }
      const x = u === line.quantity ? left[i]! : Math.floor((left[i]! * u) / line.quantity);
      sel[count] = i;
      units[count] = u;
      base[count] = x;
      b += x;
      count++;
    }
    if (count === 0) continue;
    let given = units;
    switch (d.kind) {
      case 'percent':
        distributeInto(percentOf(b, value), base, count, shares);
        break;
      case 'amount':
        distributeInto(Math.min(d.value, b), base, count, shares);
        break;
      case 'per_unit':
        for (let k = 0; k < count; k++) shares[k] = Math.min(base[k]!, d.value * units[k]!);
        break;
      case 'nth_free':
        nthFree(d.value, d.maxFree, count, s);
        given = scratch.selFree;
        break;
    }
    const discUnits = o.units;
    let total = o.discTotal;
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      const x = shares[k]!;
      if (x === 0) continue;
      disc[i] += x;
      total += x;
      left[i] -= x;
      discUnits[i] += given[k]!;
    }
    o.discTotal = total;
  }
  if (o.discTotal === 0 && cap === 0) o.zero ??= 'units_per_guest';
}

function sumOf(values: PerLine, count: number): number {
  let total = 0;
  for (let k = 0; k < count; k++) total += values[k]!;
  return total;
}

/**
 * Every N-th unit free over the selected lines (scratch sel, selUnits, selBase):
 * floor(units / N) units, the cheapest first (ties by line order), into selShares
 * and selFree.
 */
function nthFree(every: number, maxFree: number | null, count: number, s: EvalState): void {
  const { sel, selUnits: units, selBase: base, selShares: shares, selFree: given, order, orderPrice } = scratch;
  let total = 0;
  for (let k = 0; k < count; k++) total += units[k]!;
  let free = Math.floor(total / every);
  if (maxFree !== null) free = Math.min(free, maxFree);
  for (let k = 0; k < count; k++) {
    shares[k] = 0;
    given[k] = 0;
  }
  if (free === 0) return;
  order.length = count;
  for (let k = 0; k < count; k++) {
    order[k] = k;
    orderPrice[k] = s.lines[sel[k]!]!.unitPrice;
  }
  order.sort(cheaperFirst);
  for (let j = 0; j < count; j++) {
    if (free === 0) break;
    const k = order[j]!;
    const f = Math.min(free, units[k]!);
    free -= f;
    given[k] = f;
    shares[k] = Math.min(base[k]!, f * orderPrice[k]!);
  }
}

function cheaperFirst(a: number, b: number): number {
  return scratch.orderPrice[a]! - scratch.orderPrice[b]! || a - b;
}

/** Clips a promotion's discount to `cap`, spreading the cut over its lines. */
function clip(o: Outcome, n: number, cap: number, left: PerLine | null, detail: string): void {
  if (o.discTotal <= cap) return;
  const kept = scratch.kept;
  distributeInto(cap, o.disc, n, kept);
  for (let i = 0; i < n; i++) {
    if (left !== null) left[i] += o.disc[i]! - kept[i]!;
    if (kept[i] === 0 && o.disc[i]! > 0) {
      because(o, i, detail);
      o.units[i] = 0;
    }
    o.disc[i] = kept[i]!;
  }
  o.discTotal = cap;
  if (cap === 0) o.zero ??= detail;
}

function promotionCap(o: Outcome, s: EvalState): number {
  const { maxDiscountBp, maxDiscountAmount } = o.p.limits;
  let cap = Infinity;
  if (maxDiscountBp !== null) cap = percentOf(s.total, maxDiscountBp);
  if (maxDiscountAmount !== null) cap = Math.min(cap, maxDiscountAmount);
  return cap;
}

function accrualValue(a: CompiledAccrual, amount: number): number {
  if (a.unit === 'points') return amount * a.pointValueMinor;
  if (a.unit === 'money') return amount * 100;
  return 0;
}

/**
 * Accruals of a promotion on `net` less `share` (paid with points) of each line;
 * a contestant's accrue only on the lines it won (o.won).
 */
function applyAccruals(o: Outcome, s: EvalState, settings: CompiledSettings, net: PerLine, share: PerLine): void {
  const p = o.p;
  if (p.accruals.length === 0) return;
  if (settings.blockAccrual && s.anyPos) {
    o.zero ??= 'pos_promotion_in_check';
    return;
  }
  const lines = s.lines;
  const only = o.won;
  const { acc: sel, accWeight: weight } = scratch;
  const u = usageOf(s, p.id);
  const m = p.limits.accrualMax;
  let cap = Infinity;
  if (m.check !== null) cap = m.check;
  if (m.day !== null) cap = Math.min(cap, Math.max(0, m.day - (u?.accruedDay ?? 0)));
  if (m.month !== null) cap = Math.min(cap, Math.max(0, m.month - (u?.accruedMonth ?? 0)));
  const selection = s.selection();
  const matched = selection.lines;
  for (let e = 0; e < p.accruals.length; e++) {
    const a = p.accruals[e]!;
    let count = 0;
    for (let k = a.lines * selection.stride, to = selection.end[a.lines]!; k < to; k++) {
      const i = matched[k]!;
      const line = lines[i]!;
      o.touched[i] = 1;
      if (settings.excludePosLines && line.pos) {
        because(o, i, 'pos_promotion_on_line');
        continue;
      }
      if (only !== null && only[i] === 0) continue;
      sel[count] = i;
      weight[count] = a.kind === 'per_unit' ? line.quantity : Math.max(0, net[i]! - (a.excludePaidWithPoints ? share[i]! : 0));
      count++;
    }
    if (count === 0) continue;
    let amount: number;
    let per = scratch.accPer;
    if (a.kind === 'percent') {
      const money = percentOf(sumOf(weight, count), a.value);
      amount = a.unit === 'points' ? Math.floor((money * 100) / a.pointValueMinor) : money;
      apportionInto(amount, weight, count, per);
    } else if (a.kind === 'per_unit') {
      amount = 0;
      for (let k = 0; k < count; k++) {
        per[k] = weight[k]! * a.value;
        amount += per[k]!;
      }
    } else {
      amount = a.value;
      apportionInto(amount, weight, count, per);
    }
    if (amount > cap) {
      distributeInto(cap, per, count, scratch.accCapped);
      per = scratch.accCapped;
      amount = cap;
      if (cap === 0) o.zero ??= 'accrual_max';
    }
    if (cap !== Infinity) cap -= amount;
    if (amount === 0) continue;
    o.accruals.push({ promotion: p.id, account: a.account, amount, delayDays: a.delayDays, expiryDays: a.expiryDays });
    o.accTotal += amount;
    if (a.unit === 'points') o.points += amount;
    for (let k = 0; k < count; k++) {
      const i = sel[k]!;
      o.acc[i] += per[k]!;
      if (o.valued) o.value[i] += accrualValue(a, per[k]!);
    }
  }
}

/** Did the promotion give anything? One with line effects must give on some line. */
function gave(o: Outcome): boolean {
  return o.p.lineEffects ? o.discTotal > 0 || o.accTotal > 0 : true;
}

/** What the guest pays with points, spread over the lines' nets (scratch share); the shared zeros when nothing. */
function sharePaidWithPoints(s: EvalState, net: PerLine, n: number): PerLine {
  const paid = s.ctx.check.paidWithPoints ?? 0;
  if (paid <= 0) return scratch.zeros;
  distributeInto(Math.min(paid, sumOf(net, n)), net, n, scratch.share);
  return scratch.share;
}

interface Run {
  /** By rank. */
  outcomes: Outcome[];
}

function lineSums(s: EvalState, into: PerLine): PerLine {
  for (let i = 0; i < s.lines.length; i++) into[i] = s.lines[i]!.sum;
  return into;
}

function runAll(s: EvalState, settings: CompiledSettings, candidates: readonly CompiledPromotion[], outcomes: OutcomePool): Run {
  const n = s.lines.length;
  const left = lineSums(s, scratch.left);
  outcomes.reset();
  const all = new Array<Outcome>(candidates.length);
  for (let k = 0; k < candidates.length; k++) all[k] = outcomes.take(candidates[k]!, n, false);
  applyInOrder(all, s, settings, left, 0);
  const share = sharePaidWithPoints(s, left, n);
  for (let k = 0; k < all.length; k++) applyAccruals(all[k]!, s, settings, left, share);
  return { outcomes: all };
}

/** Discounts of `list` in rank order on `left`, each capped; returns the discount given. */
function applyInOrder(list: readonly Outcome[], s: EvalState, settings: CompiledSettings, left: PerLine, given: number): number {
  const n = s.lines.length;
  const room = settings.maxDiscountBp === null ? Infinity : percentOf(s.total, settings.maxDiscountBp);
  for (let k = 0; k < list.length; k++) {
    const o = list[k]!;
    if (o.p.discounts.length === 0) continue;
    applyDiscounts(o, s, left);
    if (o.p.discountCapped) clip(o, n, promotionCap(o, s), left, 'max_discount');
    if (room !== Infinity) clip(o, n, Math.max(0, room - given), left, 'check_max_discount');
    given += o.discTotal;
  }
  return given;
}

function runBest(s: EvalState, settings: CompiledSettings, candidates: readonly CompiledPromotion[], outcomes: OutcomePool): Run {
  const n = s.lines.length;
  const sums = lineSums(s, scratch.sums);
  const left = scratch.left;
  outcomes.reset();
  let contestants: Outcome[] = [];
  const others: Outcome[] = [];
  for (let k = 0; k < candidates.length; k++) {
    const p = candidates[k]!;
    if (p.exempt || !p.lineEffects) others.push(outcomes.take(p, n, false));
    else contestants.push(outcomes.take(p, n, true));
  }
  // Each contestant alone, on the whole lines. `left` is the lines' sums again
  // unless the one before discounted something (a discount clipped to nothing gave
  // back all it took).
  for (let i = 0; i < n; i++) left[i] = sums[i]!;
  let dirty = false;
  for (let k = 0; k < contestants.length; k++) {
    const o = contestants[k]!;
    if (dirty) for (let i = 0; i < n; i++) left[i] = sums[i]!;
    if (o.p.discounts.length > 0) {
      applyDiscounts(o, s, left);
      if (o.p.discountCapped) clip(o, n, promotionCap(o, s), left, 'max_discount');
      dirty = o.discTotal > 0;
      if (dirty) {
        const { value, disc } = o;
        for (let i = 0; i < n; i++) value[i] += disc[i]! * 100;
      }
    } else {
      dirty = false;
    }
    applyAccruals(o, s, settings, left, scratch.zeros);
  }
  const blocked: Outcome[] = [];
  // The program's own accrual (template base_accrual) is no check-level promotion: it stays.
  if (settings.itemBlocksCheck && someItemOffers(contestants, n)) {
    for (const alone of contestants) {
      if (!alone.p.blockable) continue;
      const o = outcomes.take(alone.p, n, false, alone.touched);
      o.dropped = 'item_blocks_check';
      if (explaining) {
        o.why = o.own.why.fill('item_blocks_check', 0, n);
        o.ownWhy = true;
      }
      blocked.push(o);
    }
    contestants = contestants.filter((o) => !o.p.blockable);
  }
  // Every line to its most valuable contestant, the first by rank among equals.
  const winner = outcomes.winner;
  const best = scratch.best;
  for (let i = 0; i < n; i++) {
    winner[i] = null;
    best[i] = 0;
  }
  for (let k = 0; k < contestants.length; k++) {
    const o = contestants[k]!;
    const value = o.value;
    for (let i = 0; i < n; i++) {
      const v = value[i]!;
      if (v > best[i]!) {
        winner[i] = o;
        best[i] = v;
      }
    }
  }
  // Winners keep their lines' discounts; everyone else's are given back.
  const final: Outcome[] = [];
  for (const alone of contestants) {
    const any = winsSomeLine(alone, winner, n);
    const o = outcomes.take(alone.p, n, false, alone.touched, any);
    o.why = alone.why;
    o.ownWhy = alone.ownWhy;
    const mine = (o.won = any ? zeroed(o.own.won, n) : scratch.zeros);
    for (let i = 0; i < n; i++) {
      const w = winner[i]!;
      if (w === alone) {
        mine[i] = 1;
        if (alone.disc[i]! > 0) {
          o.disc[i] = alone.disc[i]!;
          o.discTotal += alone.disc[i]!;
          o.units[i] = alone.units[i]!;
        }
      } else if (explaining && alone.touched[i] === 1 && w !== null) {
        because(o, i, w.p.bestDetail, true);
      }
    }
    if (!any) o.zero = 'lost_every_line';
    final.push(o);
  }
  lineSums(s, left);
  const room = settings.maxDiscountBp === null ? Infinity : percentOf(s.total, settings.maxDiscountBp);
  let given = 0;
  for (const o of final) {
    clip(o, n, Math.max(0, room - given), null, 'check_max_discount');
    if (o.discTotal === 0) continue;
    const disc = o.disc;
    for (let i = 0; i < n; i++) left[i] -= disc[i]!;
    given += o.discTotal;
  }
  applyInOrder(others, s, settings, left, given);
  const share = sharePaidWithPoints(s, left, n);
  for (const o of final) applyAccruals(o, s, settings, left, share);
  for (const o of others) applyAccruals(o, s, settings, left, share);
  return { outcomes: mergeByRank(mergeByRank(final, others), blocked) };
}

/** Two lists in rank order as one. */
function mergeByRank(a: readonly Outcome[], b: readonly Outcome[]): Outcome[] {
  if (b.length === 0) return a as Outcome[];
  const out = new Array<Outcome>(a.length + b.length);
  let i = 0;
  let j = 0;
  for (let k = 0; k < out.length; k++) out[k] = j === b.length || (i < a.length && a[i]!.p.rank < b[j]!.p.rank) ? a[i++]! : b[j++]!;
  return out;
}

function winsSomeLine(o: Outcome, winner: ReadonlyArray<Outcome | null>, n: number): boolean {
  for (let i = 0; i < n; i++) if (winner[i] === o) return true;
  return false;
}

/** Does an item promotion offer anything on some line? */
function someItemOffers(contestants: readonly Outcome[], n: number): boolean {
  for (const o of contestants) {
    if (o.p.scope !== 'item') continue;
    for (let i = 0; i < n; i++) if (o.value[i]! > 0) return true;
  }
  return false;
}

// --- 4. Payment with points, the program's own accrual, the answer -----------------

function pointsPayment(settings: CompiledSettings, lines: readonly LineResult[]): PointsPaymentLimit | null {
  const pp = settings.pointsPayment;
  if (pp === null) return null;
  let total = 0;
  let payableSum = 0;
  for (let i = 0; i < lines.length; i++) {
    const r = lines[i]!;
    total += r.net;
    if (r.pointsPayable) payableSum += r.net;
  }
  let moneyMax = Math.min(payableSum, percentOf(total, pp.maxBp), Math.max(0, total - pp.minFiscalPayment));
  if (pp.maxAmount !== null) moneyMax = Math.min(moneyMax, pp.maxAmount);
  const pointsMax = pp.unit === 'points' ? Math.floor((moneyMax * 100) / pp.pointValueMinor) : moneyMax;
  return { account: pp.account, moneyMax, pointsMax };
}

export function evaluate(rules: CompiledRules, ctx: RulesContext, options?: EvaluateOptions): Evaluation {
  explaining = options?.explain !== false;
  const s = new EvalState(ctx, ctx.check.timeZone ?? rules.timeZone, rules.itemTags, rules.lineMatches, rules.periodAnswers);
  const partner = ctx.check.partner;
  const settings = (partner !== undefined ? rules.partnerSettings.get(partner) : undefined) ?? rules.settings;
  const n = s.lines.length;
  scratch.ensure(n);
  const verdict = verdicts.reset(rules.promotions.length);
  const outcomes = poolOf(rules);

  let pool: CompiledPromotion[] = [];
  // Whether the pool holds an exclusive promotion (not stacking-exempt), one with a budget.
  let anyExclusive = false;
  let anyBudget = false;
  for (let k = 0; k < rules.promotions.length; k++) {
    const p = rules.promotions[k]!;
    if (!qualify(p, s, settings, verdict)) continue;
    pool.push(p);
    anyExclusive ||= p.exclusive && !p.exempt;
    anyBudget ||= p.limits.budget !== null;
  }
  if (settings.blockPromotions && s.anyPos) {
    for (const p of pool) verdict.set(p, 'stacking', 'pos_promotion_in_check');
    pool = [];
  }
  // Runs until nothing more leaves the pool: a promotion its budget cannot cover, or
  // an exclusive one that gives nothing (it must not block the others for nothing).
  // Each turn removes at least one promotion, so the loop ends.
  let run: Run;
  for (;;) {
    const exclusive = anyExclusive ? pool.find((p) => p.exclusive && !p.exempt) : undefined;
    const candidates = exclusive === undefined ? pool : pool.filter((p) => p === exclusive || p.exempt);
    run = settings.stacking === 'all' ? runAll(s, settings, candidates, outcomes) : runBest(s, settings, candidates, outcomes);
    // Whether a promotion of the pool got a verdict in this turn.
    let removed = false;
    if (anyBudget) {
      for (const o of run.outcomes) {
        const budget = o.p.limits.budget;
        if (budget === null || !gave(o) || !((budget.unit === 'money' ? o.discTotal : o.points + o.p.topUpPoints) > budgetLeft(o.p, s))) continue;
        verdict.set(o.p, 'budget', 'budget');
        removed = true;
      }
    }
    const ex = exclusive === undefined ? undefined : run.outcomes.find((o) => o.p === exclusive);
    if (ex !== undefined && !removed && (ex.dropped !== null || !gave(ex))) {
      const detail = ex.dropped ?? ex.zero ?? (explaining && anyTouched(ex, n) ? 'nothing_left' : 'no_matching_lines');
      verdict.set(ex.p, reasonOf(detail), detail);
      removed = true;
    }
    if (removed) {
      pool = pool.filter((p) => !verdict.has(p));
      continue;
    }
    if (exclusive !== undefined) for (const p of pool) if (!candidates.includes(p)) verdict.set(p, 'stacking', exclusive.exclusiveDetail);
    break;
  }

  for (const o of run.outcomes) {
    if (o.dropped !== null) {
      verdict.set(o.p, reasonOf(o.dropped), o.dropped);
    } else if (gave(o)) {
      o.applied = true;
    } else {
      const detail = o.zero ?? (explaining && anyTouched(o, n) ? 'nothing_left' : 'no_matching_lines');
      verdict.set(o.p, reasonOf(detail), detail);
    }
  }
  const result = explaining ? answer(rules, settings, s, run, verdict, n) : answerLean(settings, s, run, n);
  if (!scratch.sharedIntact(n)) assert(false, 'evaluate: an outcome wrote into the shared zeros');
  return result;
}

function answer(rules: CompiledRules, settings: CompiledSettings, s: EvalState, run: Run, verdict: Verdicts, n: number): Evaluation {
  const lines: LineResult[] = new Array(n);
  const inPromotion = zeroed(scratch.inPromotion, n);
  const discounted = zeroed(scratch.discounted, n);
  for (let i = 0; i < n; i++) {
    const line = s.lines[i]!;
    lines[i] = { index: i, sum: line.sum, discount: 0, net: line.sum, applied: [], rejected: [], pointsPayable: true, baseAccrual: true };
  }
  const promotions = explanations(rules, verdict);
  const out: Parts = { accruals: [], counters: [], actions: [], messages: [], usage: [], promotions };
  // One pass in rank order: what each promotion gave each line, or why a line it
  // touched got nothing (one that did not apply gave no line anything); then what
  // an applied one accrues, counts, does and shows.
  for (const o of run.outcomes) {
    const p = o.p;
    let units = 0;
    if (o.touched !== scratch.untouched) {
      const detail = !o.applied && verdict.has(p) ? verdict.detail(p) : null;
      const { disc, acc, touched } = o;
      for (let i = 0; i < n; i++) {
        const d = disc[i]!;
        const a = acc[i]!;
        units += o.units[i]!;
        if (d > 0 || a > 0) {
          if (!o.applied) continue;
          const r = lines[i]!;
          r.applied.push({ promotion: p.id, discount: d, accrual: a });
          r.discount += d;
          if (p.marksLines) {
            inPromotion[i] = 1;
            if (d > 0) discounted[i] = 1;
          }
        } else if (touched[i] === 1) {
          const why = o.why[i] ?? detail ?? o.zero ?? 'nothing_left';
          lines[i]!.rejected.push({ promotion: p.id, reason: reasonOf(why), detail: why });
        }
      }
    }
    if (!o.applied) continue;
    addApplied(o, s, units, out);
    const e = promotions[p.rank]!; // promotions are in rank order
    e.discount = o.discTotal;
    e.accrual = o.accTotal;
  }
  return finish(settings, s, lines, inPromotion, discounted, out);
}

/** What an applied promotion adds to the answer besides its lines: accruals, counters, actions, messages, usage. */
function addApplied(o: Outcome, s: EvalState, units: number, out: Parts): void {
  const p = o.p;
  for (let k = 0; k < o.accruals.length; k++) out.accruals.push(o.accruals[k]!);
  for (const c of p.counters) {
    const by = c.perUnit ? c.by * matchedUnits(s, c.lines) : c.by;
    if (by !== 0) out.counters.push({ promotion: p.id, counter: c.counter, by });
  }
  for (let k = 0; k < p.actions.length; k++) out.actions.push(p.actions[k]!);
  for (let k = 0; k < p.messages.length; k++) out.messages.push(p.messages[k]!);
  out.usage.push({ promotion: p.id, discount: o.discTotal, points: o.points + p.topUpPoints, units });
}

/** The answer's lists, filled in rank order of the applied promotions. */
interface Parts {
  accruals: Accrual[];
  counters: CounterIncrement[];
  actions: Evaluation['actions'];
  messages: Evaluation['messages'];
  usage: Usage[];
  promotions: PromotionExplanation[];
}

/** A line's lists without explanations: empty, one frozen array shared by every line. */
const NO_APPLIED = Object.freeze([]) as unknown as LineResult['applied'];
const NO_REJECTED = Object.freeze([]) as unknown as LineResult['rejected'];

/** The answer without explanations: what applied, and only that. */
function answerLean(settings: CompiledSettings, s: EvalState, run: Run, n: number): Evaluation {
  const inPromotion = zeroed(scratch.inPromotion, n);
  const discounted = zeroed(scratch.discounted, n);
  const lineDiscount = zeroed(scratch.lineDiscount, n);
  const out: Parts = { accruals: [], counters: [], actions: [], messages: [], usage: [], promotions: [] };
  const outcomes = run.outcomes;
  for (let k = 0; k < outcomes.length; k++) {
    const o = outcomes[k]!;
    if (!o.applied) continue;
    const p = o.p;
    let units = 0;
    if (p.lineEffects) {
      const { disc, acc, units: u } = o;
      const marks = p.marksLines;
      for (let i = 0; i < n; i++) {
        const d = disc[i]!;
        units += u[i]!;
        if (d > 0 || acc[i]! > 0) {
          lineDiscount[i] += d;
          if (marks) {
            inPromotion[i] = 1;
            if (d > 0) discounted[i] = 1;
          }
        }
      }
    }
    addApplied(o, s, units, out);
    out.promotions.push({ promotion: p.id, applied: true, discount: o.discTotal, accrual: o.accTotal });
  }
  const lines: LineResult[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const sum = s.lines[i]!.sum;
    lines[i] = { index: i, sum, discount: lineDiscount[i]!, net: sum, applied: NO_APPLIED, rejected: NO_REJECTED, pointsPayable: true, baseAccrual: true };
  }
  return finish(settings, s, lines, inPromotion, discounted, out);
}

/** Nets, the program's own accrual and payment with points per line; the answer. */
function finish(settings: CompiledSettings, s: EvalState, lines: LineResult[], inPromotion: PerLine, discounted: PerLine, out: Parts): Evaluation {
  const n = lines.length;
  const pp = settings.pointsPayment;
  const noAccrual = settings.blockAccrual && s.anyPos;
  const noPoints = settings.blockPointsPayment && s.anyPos;
  let discount = 0;
  for (let i = 0; i < n; i++) {
    const r = lines[i]!;
    const line = s.lines[i]!;
    r.net = r.sum - r.discount;
    discount += r.discount;
    const posExcluded = settings.excludePosLines && line.pos;
    r.baseAccrual = !noAccrual && !posExcluded && (settings.stacking === 'all' && settings.baseAccrualOnPromotionalLines ? true : inPromotion[i] === 0);
    if (pp === null) continue;
    let payable = !noPoints && !posExcluded && !(pp.forbiddenItems.size > 0 && pp.forbiddenItems.has(line.itemCode)) && !(pp.forbiddenCategories.size > 0 && pp.forbiddenCategories.has(line.category));
    if (pp.promotionalLines === 'not_payable') payable &&= inPromotion[i] === 0;
    else if (pp.promotionalLines === 'payable_if_accrues') payable &&= discounted[i] === 0;
    r.pointsPayable = payable;
  }
  return {
    total: s.total,
    discount,
    lines,
    accruals: out.accruals,
    counters: out.counters,
    actions: out.actions,
    messages: out.messages,
    pointsPayment: pointsPayment(settings, lines),
    usage: out.usage,
    promotions: out.promotions,
  };
}

/** Every promotion in rank order: why it did not apply, or (filled in by answer) what it gave. */
function explanations(rules: CompiledRules, verdict: Verdicts): PromotionExplanation[] {
  const promotions: PromotionExplanation[] = new Array(rules.promotions.length);
  for (let k = 0; k < rules.promotions.length; k++) {
    const p = rules.promotions[k]!;
    const reason = verdict.reason(p);
    promotions[k] =
      reason !== undefined
        ? { promotion: p.id, applied: false, reason, detail: verdict.detail(p), discount: 0, accrual: 0 }
        : { promotion: p.id, applied: true, discount: 0, accrual: 0 };
  }
  return promotions;
}

function matchedUnits(s: EvalState, match: number): number {
  const selection = s.selection();
  let units = 0;
  for (let k = match * selection.stride, to = selection.end[match]!; k < to; k++) units += s.lines[selection.lines[k]!]!.quantity;
  return units;
}
