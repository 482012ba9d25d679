// Evaluation of a check against compiled rules: pure and deterministic. The same
// compiled rules and context give the same Evaluation, with nothing read from
// clocks, randomness or storage; the orchestrator applies what it returns.
//
// 1. Qualify each promotion in rank order; the first failing test names the reason:
//    status → period (validFrom/validTo, periods) → condition (partner, clauses) →
//    limit (uses per guest, units, discounts per guest) → budget (already spent).
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

import assert from 'node:assert/strict';
import { apportion, distribute, percentOf } from './distribute.js';
import { periodHolds, type CompiledAccrual, type CompiledPromotion, type CompiledRules, type CompiledSettings } from './compile.js';
import type { Accrual, CounterIncrement, Evaluation, LineResult, PointsPaymentLimit, PromotionExplanation, Reason, RulesContext, Usage } from './model.js';
import { EvalState } from './state.js';

/** Why a promotion or one of its lines gave nothing; the reason follows from the detail. */
function reasonOf(detail: string): Reason {
  if (detail === 'budget') return 'budget';
  if (detail === 'no_matching_lines') return 'condition';
  if (detail === 'units_per_guest' || detail === 'max_discount' || detail === 'check_max_discount' || detail === 'accrual_max') return 'limit';
  return 'stacking';
}

interface Outcome {
  p: CompiledPromotion;
  /** Discount per line, minor units. */
  disc: number[];
  discTotal: number;
  /** Accrued per line, in the accounts' units (for the explanation). */
  acc: number[];
  accTotal: number;
  /** Whether `value` is kept (contestants of best_per_line). */
  valued: boolean;
  /** Per line: discount × 100 + accruals at money value × 100 (best_per_line). */
  value: number[];
  accruals: Accrual[];
  /** Points accrued or topped up, for a points budget. */
  points: number;
  /** Promotional units per line (units discounted, or given free). */
  units: number[];
  /** Per line: matched by one of the promotion's line effects. */
  touched: number[];
  /** Per line: why it got nothing, when it was touched (the shared nulls until ownWhy). */
  why: Array<string | null>;
  ownWhy: boolean;
  /** Why the whole promotion came to nothing, when it did. */
  zero: string | null;
}

/**
 * Per evaluation: zeros shared by the outcomes of promotions that never write them.
 * Plain arrays, not frozen ones, so every outcome's arrays have one shape for V8;
 * `evaluate` asserts at the end that they are still zeros.
 */
interface Shared {
  zeros: number[];
  untouched: number[];
  nulls: Array<string | null>;
}

function shared(n: number): Shared {
  return { zeros: new Array<number>(n).fill(0), untouched: new Array<number>(n).fill(0), nulls: new Array<string | null>(n).fill(null) };
}

function untouchedShared(z: Shared): boolean {
  for (let i = 0; i < z.zeros.length; i++) if (z.zeros[i] !== 0 || z.untouched[i] !== 0 || z.nulls[i] !== null) return false;
  return true;
}

/**
 * An empty outcome. Arrays a promotion never writes (no discounts: disc and units;
 * no accruals: acc; not valued: value) are the shared zeros; `why` is made on the
 * first line that needs a reason.
 */
function outcome(p: CompiledPromotion, n: number, z: Shared, valued: boolean): Outcome {
  const zeros = z.zeros;
  const lineEffects = hasLineEffects(p);
  return {
    p,
    disc: p.discounts.length > 0 ? new Array<number>(n).fill(0) : zeros,
    discTotal: 0,
    acc: p.accruals.length > 0 ? new Array<number>(n).fill(0) : zeros,
    accTotal: 0,
    valued: valued && lineEffects,
    value: valued && lineEffects ? new Array<number>(n).fill(0) : zeros,
    accruals: [],
    points: 0,
    units: p.discounts.length > 0 ? new Array<number>(n).fill(0) : zeros,
    touched: lineEffects ? new Array<number>(n).fill(0) : z.untouched,
    why: z.nulls,
    ownWhy: false,
    zero: null,
  };
}

/** Records why line i got nothing from o, unless a reason is already there. */
function because(o: Outcome, i: number, detail: string, replace = false): void {
  if (!o.ownWhy) {
    o.why = new Array<string | null>(o.touched.length).fill(null);
    o.ownWhy = true;
  }
  if (replace || o.why[i] === null) o.why[i] = detail;
}

function hasLineEffects(p: CompiledPromotion): boolean {
  return p.discounts.length > 0 || p.accruals.length > 0;
}

function usageOf(s: EvalState, id: string) {
  const u = s.ctx.guest.usage;
  return u !== undefined && Object.prototype.hasOwnProperty.call(u, id) ? u[id] : undefined;
}

/** Units the guest may still get discounted under unitsPerGuest; null: no cap. */
function unitsLeft(p: CompiledPromotion, s: EvalState): number | null {
  const { day, month } = p.limits.unitsPerGuest;
  if (day === null && month === null) return null;
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

/** Why each promotion did not apply, by rank; none: it applied. */
class Verdicts {
  readonly #reasons: Array<[Reason, string] | undefined>;
  constructor(count: number) {
    this.#reasons = new Array(count);
  }
  get(p: CompiledPromotion): [Reason, string] | undefined {
    return this.#reasons[p.rank];
  }
  has(p: CompiledPromotion): boolean {
    return this.#reasons[p.rank] !== undefined;
  }
  set(p: CompiledPromotion, v: [Reason, string]): void {
    this.#reasons[p.rank] = v;
  }
}

// --- 1. Qualification ------------------------------------------------------------

function qualify(p: CompiledPromotion, s: EvalState, rules: CompiledRules, settings: CompiledSettings): [Reason, string] | null {
  if (p.status !== 'active') return ['status', p.status];
  const t = s.ctx.time;
  if (t < p.validFrom) return ['period', 'not_started'];
  if (t >= p.validTo) return ['period', 'ended'];
  if (p.periods.length > 0) {
    let open = false;
    for (let i = 0; i < p.periods.length && !open; i++) open = periodHolds(rules.periods, p.periods[i]!, s);
    if (!open) return ['period', 'outside_periods'];
  }
  if (p.partner !== null && s.ctx.check.partner !== p.partner) return ['condition', 'other_partner'];
  for (const clause of p.clauses) {
    s.celError = null;
    if (!clause.test(s)) return ['condition', s.celError === null ? clause.label : `${clause.label}:cel_error:${s.celError}`];
  }
  const uses = p.limits.usesPerGuest;
  if (uses.day !== null || uses.week !== null || uses.month !== null || uses.total !== null) {
    const u = usageOf(s, p.id);
    if (uses.day !== null && (u?.day ?? 0) >= uses.day) return ['limit', 'uses_per_guest_day'];
    if (uses.week !== null && (u?.week ?? 0) >= uses.week) return ['limit', 'uses_per_guest_week'];
    if (uses.month !== null && (u?.month ?? 0) >= uses.month) return ['limit', 'uses_per_guest_month'];
    if (uses.total !== null && (u?.total ?? 0) >= uses.total) return ['limit', 'uses_per_guest_total'];
  }
  if (p.hasDiscount) {
    if (unitsLeft(p, s) === 0 && p.accruals.length === 0) return ['limit', 'units_per_guest'];
    const d = settings.discountsPerGuest;
    const g = s.ctx.guest.discountChecks;
    if (d.day !== null && (g?.day ?? 0) >= d.day) return ['limit', 'discounts_per_guest_day'];
    if (d.month !== null && (g?.month ?? 0) >= d.month) return ['limit', 'discounts_per_guest_month'];
  }
  if (p.limits.budget !== null && budgetLeft(p, s) <= 0) return ['budget', 'budget'];
  return null;
}

// --- 3. Effects -------------------------------------------------------------------

/** Applies a promotion's discounts to `left` (what remains of each line), recording them in `o`. */
function applyDiscounts(o: Outcome, s: EvalState, left: number[]): void {
  const lines = s.lines;
  const n = lines.length;
  let cap = unitsLeft(o.p, s);
  for (const d of o.p.discounts) {
    const idx: number[] = [];
    const units: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < n; i++) {
      const line = lines[i]!;
      if (!d.match(line)) continue;
      o.touched[i] = 1;
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
      idx.push(i);
      units.push(u);
      base.push(u === line.quantity ? left[i]! : Math.floor((left[i]! * u) / line.quantity));
    }
    if (idx.length === 0) continue;
    let shares: number[];
    let given = units;
    switch (d.kind) {
      case 'percent': {
        let b = 0;
        for (const x of base) b += x;
        shares = distribute(percentOf(b, d.value), base);
        break;
      }
      case 'amount': {
        let b = 0;
        for (const x of base) b += x;
        shares = distribute(Math.min(d.value, b), base);
        break;
      }
      case 'per_unit':
        shares = base.map((b, k) => Math.min(b, d.value * units[k]!));
        break;
      case 'nth_free':
        [shares, given] = nthFree(d.value, d.maxFree, idx, units, base, s);
        break;
    }
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      const x = shares[k]!;
      if (x === 0) continue;
      o.disc[i] += x;
      o.discTotal += x;
      left[i] -= x;
      o.units[i] += given[k]!;
    }
  }
  if (o.discTotal === 0 && cap === 0) o.zero ??= 'units_per_guest';
}

/** Every N-th unit free: floor(units / N) units, the cheapest first (ties by line index). */
function nthFree(every: number, maxFree: number | null, idx: number[], units: number[], base: number[], s: EvalState): [number[], number[]] {
  let total = 0;
  for (const u of units) total += u;
  let free = Math.floor(total / every);
  if (maxFree !== null) free = Math.min(free, maxFree);
  const order = idx.map((_, k) => k).sort((a, b) => s.lines[idx[a]!]!.unitPrice - s.lines[idx[b]!]!.unitPrice || a - b);
  const shares = new Array<number>(idx.length).fill(0);
  const given = new Array<number>(idx.length).fill(0);
  for (const k of order) {
    if (free === 0) break;
    const f = Math.min(free, units[k]!);
    free -= f;
    given[k] = f;
    shares[k] = Math.min(base[k]!, f * s.lines[idx[k]!]!.unitPrice);
  }
  return [shares, given];
}

/** Clips a promotion's discount to `cap`, spreading the cut over its lines. */
function clip(o: Outcome, cap: number, left: number[] | null, detail: string): void {
  if (o.discTotal <= cap) return;
  const kept = distribute(cap, o.disc);
  for (let i = 0; i < kept.length; i++) {
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
 * `only` restricts them to the lines a contestant won.
 */
function applyAccruals(o: Outcome, s: EvalState, settings: CompiledSettings, net: number[], share: number[], only: number[] | null): void {
  const p = o.p;
  if (p.accruals.length === 0) return;
  if (settings.blockAccrual && s.anyPos) {
    o.zero ??= 'pos_promotion_in_check';
    return;
  }
  const lines = s.lines;
  const n = lines.length;
  const u = usageOf(s, p.id);
  const m = p.limits.accrualMax;
  let cap = Infinity;
  if (m.check !== null) cap = m.check;
  if (m.day !== null) cap = Math.min(cap, Math.max(0, m.day - (u?.accruedDay ?? 0)));
  if (m.month !== null) cap = Math.min(cap, Math.max(0, m.month - (u?.accruedMonth ?? 0)));
  for (const a of p.accruals) {
    const idx: number[] = [];
    const weight: number[] = [];
    for (let i = 0; i < n; i++) {
      const line = lines[i]!;
      if (!a.match(line)) continue;
      o.touched[i] = 1;
      if (settings.excludePosLines && line.pos) {
        because(o, i, 'pos_promotion_on_line');
        continue;
      }
      if (only !== null && only[i] === 0) continue;
      idx.push(i);
      weight.push(a.kind === 'per_unit' ? line.quantity : Math.max(0, net[i]! - (a.excludePaidWithPoints ? share[i]! : 0)));
    }
    if (idx.length === 0) continue;
    let amount: number;
    let per: number[];
    if (a.kind === 'percent') {
      let base = 0;
      for (const w of weight) base += w;
      const money = percentOf(base, a.value);
      amount = a.unit === 'points' ? Math.floor((money * 100) / a.pointValueMinor) : money;
      per = apportion(amount, weight);
    } else if (a.kind === 'per_unit') {
      per = weight.map((q) => q * a.value);
      amount = 0;
      for (const x of per) amount += x;
    } else {
      amount = a.value;
      per = apportion(amount, weight);
    }
    if (amount > cap) {
      per = distribute(cap, per);
      amount = cap;
      if (cap === 0) o.zero ??= 'accrual_max';
    }
    if (cap !== Infinity) cap -= amount;
    if (amount === 0) continue;
    o.accruals.push({ promotion: p.id, account: a.account, amount, delayDays: a.delayDays, expiryDays: a.expiryDays });
    o.accTotal += amount;
    if (a.unit === 'points') o.points += amount;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      o.acc[i] += per[k]!;
      if (o.valued) o.value[i] += accrualValue(a, per[k]!);
    }
  }
}

/** Did the promotion give anything? One with line effects must give on some line. */
function gave(o: Outcome): boolean {
  return hasLineEffects(o.p) ? o.discTotal > 0 || o.accTotal > 0 : true;
}

function sharePaidWithPoints(s: EvalState, net: number[]): number[] {
  const paid = s.ctx.check.paidWithPoints ?? 0;
  if (paid <= 0) return new Array<number>(net.length).fill(0);
  let total = 0;
  for (const x of net) total += x;
  return distribute(Math.min(paid, total), net);
}

interface Run {
  outcomes: Outcome[];
  /** Final line nets. */
  net: number[];
  /** Promotions that left the contest whole, with the detail why. */
  dropped: Map<CompiledPromotion, string>;
}

function runAll(s: EvalState, settings: CompiledSettings, candidates: CompiledPromotion[], z: Shared): Run {
  const left = s.lines.map((l) => l.sum);
  const outcomes = candidates.map((p) => outcome(p, left.length, z, false));
  applyInOrder(outcomes, s, settings, left, 0);
  const share = sharePaidWithPoints(s, left);
  for (const o of outcomes) applyAccruals(o, s, settings, left, share, null);
  return { outcomes, net: left, dropped: new Map() };
}

/** Discounts of `outcomes` in rank order on `left`, each capped; returns the discount given. */
function applyInOrder(outcomes: Outcome[], s: EvalState, settings: CompiledSettings, left: number[], given: number): number {
  const room = settings.maxDiscountBp === null ? Infinity : percentOf(s.total, settings.maxDiscountBp);
  for (const o of outcomes) {
    if (o.p.discounts.length === 0) continue;
    applyDiscounts(o, s, left);
    clip(o, promotionCap(o, s), left, 'max_discount');
    clip(o, Math.max(0, room - given), left, 'check_max_discount');
    given += o.discTotal;
  }
  return given;
}

function runBest(s: EvalState, settings: CompiledSettings, candidates: CompiledPromotion[], z: Shared): Run {
  const n = s.lines.length;
  const sums = s.lines.map((l) => l.sum);
  const noShare = new Array<number>(n).fill(0);
  const dropped = new Map<CompiledPromotion, string>();
  let contestants: Outcome[] = [];
  const others: Outcome[] = [];
  for (const p of candidates) {
    if (p.exempt || !hasLineEffects(p)) others.push(outcome(p, n, z, false));
    else contestants.push(outcome(p, n, z, true));
  }
  // Each contestant alone, on the whole lines.
  for (const o of contestants) {
    const left = sums.slice();
    if (o.p.discounts.length > 0) {
      applyDiscounts(o, s, left);
      clip(o, promotionCap(o, s), left, 'max_discount');
      for (let i = 0; i < n; i++) o.value[i] += o.disc[i]! * 100;
    }
    applyAccruals(o, s, settings, left, noShare, null);
  }
  const blocked: Outcome[] = [];
  // The program's own accrual (template base_accrual) is no check-level promotion: it stays.
  const blockable = (p: CompiledPromotion) => p.scope === 'check' && p.config.template !== 'base_accrual';
  if (settings.itemBlocksCheck && contestants.some((o) => o.p.scope === 'item' && o.value.some((v) => v > 0))) {
    for (const alone of contestants) {
      if (!blockable(alone.p)) continue;
      dropped.set(alone.p, 'item_blocks_check');
      const o = outcome(alone.p, n, z, false);
      o.touched = alone.touched;
      o.why = new Array<string | null>(n).fill('item_blocks_check');
      o.ownWhy = true;
      blocked.push(o);
    }
    contestants = contestants.filter((o) => !blockable(o.p));
  }
  const winner = new Array<Outcome | null>(n).fill(null);
  for (let i = 0; i < n; i++) {
    for (const o of contestants) {
      if (o.value[i]! > 0 && (winner[i] === null || o.value[i]! > winner[i]!.value[i]!)) winner[i] = o;
    }
  }
  // Winners keep their lines' discounts; everyone else's are given back.
  const final: Outcome[] = [];
  const won: number[][] = [];
  for (const alone of contestants) {
    const o = outcome(alone.p, n, z, false);
    o.touched = alone.touched;
    o.why = alone.why;
    o.ownWhy = alone.ownWhy;
    const mine = new Array<number>(n).fill(0);
    let any = false;
    for (let i = 0; i < n; i++) {
      if (winner[i] === alone) {
        mine[i] = 1;
        any = true;
        if (alone.disc[i]! > 0) {
          o.disc[i] = alone.disc[i]!;
          o.discTotal += alone.disc[i]!;
          o.units[i] = alone.units[i]!;
        }
      } else if (alone.touched[i] === 1 && winner[i] !== null) {
        because(o, i, `best:${winner[i]!.p.id}`, true);
      }
    }
    if (!any) o.zero = 'lost_every_line';
    won.push(mine);
    final.push(o);
  }
  const left = sums.slice();
  const room = settings.maxDiscountBp === null ? Infinity : percentOf(s.total, settings.maxDiscountBp);
  let given = 0;
  for (const o of final) {
    clip(o, Math.max(0, room - given), null, 'check_max_discount');
    for (let i = 0; i < n; i++) left[i] -= o.disc[i]!;
    given += o.discTotal;
  }
  applyInOrder(others, s, settings, left, given);
  const share = sharePaidWithPoints(s, left);
  for (let k = 0; k < final.length; k++) applyAccruals(final[k]!, s, settings, left, share, won[k]!);
  for (const o of others) applyAccruals(o, s, settings, left, share, null);
  const outcomes = [...final, ...others, ...blocked].sort((a, b) => a.p.rank - b.p.rank);
  return { outcomes, net: left, dropped };
}

// --- 4. Payment with points, the program's own accrual, the answer -----------------

function pointsPayment(settings: CompiledSettings, s: EvalState, net: number[], payable: boolean[]): PointsPaymentLimit | null {
  const pp = settings.pointsPayment;
  if (pp === null) return null;
  let total = 0;
  let payableSum = 0;
  for (let i = 0; i < net.length; i++) {
    total += net[i]!;
    if (payable[i]) payableSum += net[i]!;
  }
  let moneyMax = Math.min(payableSum, percentOf(total, pp.maxBp), Math.max(0, total - pp.minFiscalPayment));
  if (pp.maxAmount !== null) moneyMax = Math.min(moneyMax, pp.maxAmount);
  const pointsMax = pp.unit === 'points' ? Math.floor((moneyMax * 100) / pp.pointValueMinor) : moneyMax;
  return { account: pp.account, moneyMax, pointsMax };
}

export function evaluate(rules: CompiledRules, ctx: RulesContext): Evaluation {
  const s = new EvalState(ctx, ctx.check.timeZone ?? rules.timeZone, rules.itemTags, rules.periods.length);
  const partner = ctx.check.partner;
  const settings = (partner !== undefined ? rules.partnerSettings.get(partner) : undefined) ?? rules.settings;
  const n = s.lines.length;
  const z = shared(n);
  const verdict = new Verdicts(rules.promotions.length);

  let pool: CompiledPromotion[] = [];
  for (const p of rules.promotions) {
    const v = qualify(p, s, rules, settings);
    if (v === null) pool.push(p);
    else verdict.set(p, v);
  }
  if (settings.blockPromotions && s.anyPos) {
    for (const p of pool) verdict.set(p, ['stacking', 'pos_promotion_in_check']);
    pool = [];
  }
  // Runs until nothing more leaves the pool: a promotion its budget cannot cover, or
  // an exclusive one that gives nothing (it must not block the others for nothing).
  // Each turn removes at least one promotion, so the loop ends.
  let run: Run;
  for (;;) {
    const exclusive = pool.find((p) => p.exclusive && !p.exempt);
    const candidates = exclusive === undefined ? pool : pool.filter((p) => p === exclusive || p.exempt);
    run = settings.stacking === 'all' ? runAll(s, settings, candidates, z) : runBest(s, settings, candidates, z);
    const over = run.outcomes.filter((o) => o.p.limits.budget !== null && gave(o) && (o.p.limits.budget.unit === 'money' ? o.discTotal : o.points + o.p.topUpPoints) > budgetLeft(o.p, s));
    for (const o of over) verdict.set(o.p, ['budget', 'budget']);
    const ex = exclusive === undefined ? undefined : run.outcomes.find((o) => o.p === exclusive);
    if (ex !== undefined && over.length === 0 && (run.dropped.has(ex.p) || !gave(ex))) {
      const detail = run.dropped.get(ex.p) ?? ex.zero ?? (ex.touched.includes(1) ? 'nothing_left' : 'no_matching_lines');
      verdict.set(ex.p, [reasonOf(detail), detail]);
    }
    if (pool.some((p) => verdict.has(p))) {
      pool = pool.filter((p) => !verdict.has(p));
      continue;
    }
    if (exclusive !== undefined) for (const p of pool) if (!candidates.includes(p)) verdict.set(p, ['stacking', `exclusive:${exclusive.id}`]);
    break;
  }
  for (const [p, detail] of run.dropped) verdict.set(p, [reasonOf(detail), detail]);

  const applied = run.outcomes.filter((o) => !run.dropped.has(o.p) && gave(o));
  for (const o of run.outcomes) {
    if (run.dropped.has(o.p) || gave(o)) continue;
    const detail = o.zero ?? (o.touched.includes(1) ? 'nothing_left' : 'no_matching_lines');
    verdict.set(o.p, [reasonOf(detail), detail]);
  }
  const result = answer(rules, settings, s, run, applied, verdict, n);
  assert(untouchedShared(z), 'evaluate: an outcome wrote into the shared zeros');
  return result;
}

function answer(
  rules: CompiledRules,
  settings: CompiledSettings,
  s: EvalState,
  run: Run,
  applied: Outcome[],
  verdict: Verdicts,
  n: number,
): Evaluation {
  const lines: LineResult[] = new Array(n);
  const inPromotion = new Array<boolean>(n).fill(false);
  const discounted = new Array<boolean>(n).fill(false);
  let discount = 0;
  for (let i = 0; i < n; i++) {
    const line = s.lines[i]!;
    lines[i] = { index: i, sum: line.sum, discount: 0, net: line.sum, applied: [], rejected: [], pointsPayable: true, baseAccrual: true };
  }
  for (const o of applied) {
    for (let i = 0; i < n; i++) {
      const d = o.disc[i]!;
      const a = o.acc[i]!;
      const r = lines[i]!;
      if (d > 0 || a > 0) {
        r.applied.push({ promotion: o.p.id, discount: d, accrual: a });
        r.discount += d;
        if (o.p.marksLines) {
          inPromotion[i] = true;
          if (d > 0) discounted[i] = true;
        }
      }
    }
  }
  for (const o of run.outcomes) {
    for (let i = 0; i < n; i++) {
      if (o.touched[i] === 0 || o.disc[i]! > 0 || o.acc[i]! > 0) continue;
      const detail = o.why[i] ?? verdict.get(o.p)?.[1] ?? o.zero ?? 'nothing_left';
      lines[i]!.rejected.push({ promotion: o.p.id, reason: reasonOf(detail), detail });
    }
  }
  const pp = settings.pointsPayment;
  const noAccrual = settings.blockAccrual && s.anyPos;
  const noPoints = settings.blockPointsPayment && s.anyPos;
  const net = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const r = lines[i]!;
    const line = s.lines[i]!;
    r.net = r.sum - r.discount;
    net[i] = r.net;
    discount += r.discount;
    const posExcluded = settings.excludePosLines && line.pos;
    r.baseAccrual = !noAccrual && !posExcluded && (settings.stacking === 'all' && settings.baseAccrualOnPromotionalLines ? true : !inPromotion[i]);
    if (pp === null) continue;
    let payable = !noPoints && !posExcluded && !pp.forbiddenItems.has(line.itemCode) && !pp.forbiddenCategories.has(line.category);
    if (pp.promotionalLines === 'not_payable') payable &&= !inPromotion[i];
    else if (pp.promotionalLines === 'payable_if_accrues') payable &&= !discounted[i];
    r.pointsPayable = payable;
  }
  const accruals: Accrual[] = [];
  const counters: CounterIncrement[] = [];
  const usage: Usage[] = [];
  const actions: Evaluation['actions'] = [];
  const messages: Evaluation['messages'] = [];
  for (const o of applied) {
    for (const a of o.accruals) accruals.push(a);
    for (const c of o.p.counters) {
      let by = c.by;
      if (c.perUnit) {
        let units = 0;
        for (const line of s.lines) if (c.match(line)) units += line.quantity;
        by *= units;
      }
      if (by !== 0) counters.push({ promotion: o.p.id, counter: c.counter, by });
    }
    const pa = o.p.actions;
    for (let k = 0; k < pa.length; k++) actions.push(pa[k]!);
    const pm = o.p.messages;
    for (let k = 0; k < pm.length; k++) messages.push(pm[k]!);
    let units = 0;
    for (let i = 0; i < n; i++) units += o.units[i]!;
    usage.push({ promotion: o.p.id, discount: o.discTotal, points: o.points + o.p.topUpPoints, units });
  }
  const byRank = new Array<Outcome | undefined>(rules.promotions.length);
  for (const o of run.outcomes) byRank[o.p.rank] = o;
  const promotions: PromotionExplanation[] = rules.promotions.map((p) => {
    const v = verdict.get(p);
    const o = byRank[p.rank];
    if (v !== undefined) return { promotion: p.id, applied: false, reason: v[0], detail: v[1], discount: 0, accrual: 0 };
    return { promotion: p.id, applied: true, discount: o?.discTotal ?? 0, accrual: o?.accTotal ?? 0 };
  });
  return {
    total: s.total,
    discount,
    lines,
    accruals,
    counters,
    actions,
    messages,
    pointsPayment: pointsPayment(settings, s, net, lines.map((l) => l.pointsPayable)),
    usage,
    promotions,
  };
}
