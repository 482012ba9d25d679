// One check decided for one guest: the promotions (engine/rules) and then the bonus
// program (program.ts) — pure in (configuration, guest, check, time, budgets). The
// doors' thread calls it to answer evaluate; the shard calls it again inside the
// commit's write transaction, with the state and budgets as they are then, so what
// is committed is decided on what is committed, never on what evaluate saw.
//
// Order of a decision:
//   1. promotions: discounts per line, accruals, counters, messages, payment limits;
//   2. money to pay before points: net = total − discount;
//   3. points: at most the program's cap of the net (payMaxBp), and the promotions'
//      payment limit when the rules set one, and what the guest has available;
//   4. the program's own accrual: accrualBp of the money paid, on the lines the rules
//      leave to the base accrual (their share of the net, floored);
//   5. accruals of promotions into the program's points account add to it; those into
//      other accounts (counts, money) and counter increments are returned apart.

import type { ConfigSnapshot } from '../protocol/config.js';
import type { CheckLine, EvaluateRequest } from '../protocol/types.js';
import { compileRules, type CompiledRules } from './rules/compile.js';
import { evaluate } from './rules/evaluate.js';
import { localTime } from './rules/local-time.js';
import type { Evaluation, GuestContext, PromotionUsage, RulesContext } from './rules/model.js';
import { accrualOf, decide, pointsCapOf, pointsToMoney } from './program.js';
import type { GuestProfile, GuestState, PromotionWindows } from './store.js';


interface CompiledConfig {
  rules: CompiledRules;
  /** Any promotion active, or a discount account (it applies as one): otherwise the rules are not run at all. */
  anyActive: boolean;
  /** The discount (percent) accounts and their default levels: the guest's levels are read from the profile. */
  discountAccounts: ReadonlyArray<{ id: string; defaultBp: number }>;
  /** Active promotion id → its budget: the only budgets a decision reads or a commit spends. */
  budgeted: ReadonlyMap<string, { amount: number; unit: 'points' | 'money' }>;
  /** `accrualKey` → whether every accrual effect of that key is fixed per check (refunds take those back only with the whole check). */
  fixedAccruals: ReadonlyMap<string, boolean>;
  /** `<promotion>\u0001<counter>` → what its per-check (not per-unit) counter effects add. */
  perCheckCounters: ReadonlyMap<string, number>;
  /** Outlet id → where it stands for promotions: its coalition partner and tags. */
  places: ReadonlyMap<string, { partner?: string; outletTags?: readonly string[] }>;
}

// Compiled once per published version: the snapshot object is the version.
const compiled = new WeakMap<ConfigSnapshot, CompiledConfig>();

export function compiledRulesOf(config: ConfigSnapshot): CompiledConfig {
  let c = compiled.get(config);
  if (c === undefined) {
    c = {
      rules: compileRules(config.rules, { timeZone: config.organization.timeZone }),
      anyActive: config.rules.promotions.some((p) => p.status === 'active') || config.rules.accounts.some((a) => a.unit === 'percent'),
      discountAccounts: config.rules.accounts.flatMap((a) => (a.unit === 'percent' ? [{ id: a.id, defaultBp: a.defaultBp }] : [])),
      budgeted: new Map(
        config.rules.promotions.flatMap((p) => (p.status === 'active' && p.limits.budget !== null ? [[p.id, { amount: p.limits.budget.amount, unit: p.limits.budget.unit }] as const] : [])),
      ),
      ...effectKinds(config),
      places: new Map(
        config.outlets.map((o) => [o.id, { ...(o.partner === undefined ? {} : { partner: o.partner }), ...(o.tags === undefined ? {} : { outletTags: Object.freeze([...o.tags]) }) }]),
      ),
    };
    compiled.set(config, c);
  }
  return c;
}

/**
 * An accrual as an evaluation names it: its promotion, account, delay and expiry (not
 * the effect that made it, which a promotion with two effects of one key cannot tell).
 */
export const accrualKey = (promotion: string, account: string, delayDays: number, expiryDays: number): string =>
  `${promotion}\u0001${account}\u0001${delayDays}\u0001${expiryDays}`;

/** Which accruals are fixed per check and what per-check counter effects add: what refunds need to tell apart. */
function effectKinds(config: ConfigSnapshot): Pick<CompiledConfig, 'fixedAccruals' | 'perCheckCounters'> {
  const fixedAccruals = new Map<string, boolean>();
  const perCheckCounters = new Map<string, number>();
  for (const p of config.rules.promotions) {
    for (const e of p.effects) {
      if (e.kind === 'accrual') {
        const key = accrualKey(p.id, e.account, e.delayDays, e.expiryDays);
        fixedAccruals.set(key, (fixedAccruals.get(key) ?? true) && e.fixed !== null);
      } else if (e.kind === 'counter' && !e.perUnit) {
        const key = `${p.id}\u0001${e.counter}`;
        perCheckCounters.set(key, (perCheckCounters.get(key) ?? 0) + e.by);
      }
    }
  }
  return { fixedAccruals, perCheckCounters };
}

/** Does this version have promotions to run (so a decision needs the guest's profile and the budgets)? */
export function hasPromotions(config: ConfigSnapshot): boolean {
  return compiledRulesOf(config).anyActive;
}

export interface CheckInput {
  outlet: string;
  lines: readonly CheckLine[];
  /** Points the guest asks to spend (evaluate) or spends (commit), hundredths. */
  pointsToSpend: number;
  /**
   * The points account other than the program's those points come from, and what one of its
   * points is worth: they pay at its value, within the program's cap of the check (payMaxBp)
   * in money, and within the promotions' payment limit if that names this account. Absent:
   * the program's account. The program's accrual is the program's either way.
   */
  payFrom?: { account: string; pointValueMinor: number };
}

export interface CheckDecision {
  total: number;
  /** Our promotions' discount, minor units. */
  discount: number;
  /** With a discount: per line, its sum after it (and the POS's), minor units; empty without one. */
  lineNets: number[];
  /** The most points payable on this check by the program and the promotions (not bounded by the balance). */
  pointsCap: number;
  /** Money the spent points cover, minor units. */
  moneyByPoints: number;
  moneyToPay: number;
  /** Points accrued into the program's account: its base accrual plus the promotions'. */
  accrue: number;
  /** The program's own part of `accrue`. */
  baseAccrue: number;
  /** The promotions' evaluation; null when no promotion is active. */
  evaluation: Evaluation | null;
  /** The check's local usage windows the promotions were counted in; null without promotions. */
  windows: WindowKeys | null;
}

/** Usage windows keyed by the local date: a window of another day, week or month counts nothing now. */
export interface WindowKeys {
  day: number;
  week: number;
  month: number;
}

export function windowKeys(now: number, timeZone: string): WindowKeys {
  const t = localTime(now, timeZone);
  // 1970-01-01 was a Thursday: ISO weeks (Monday first) start at day numbers ≡ 4 (mod 7).
  return { day: t.dayNumber, week: Math.floor((t.dayNumber + 3) / 7), month: t.year * 12 + t.month - 1 };
}

function usageNow(w: PromotionWindows, k: WindowKeys): PromotionUsage {
  const day = w.day === k.day;
  const month = w.month === k.month;
  return {
    day: day ? w.usesDay : 0,
    week: w.week === k.week ? w.usesWeek : 0,
    month: month ? w.usesMonth : 0,
    total: w.usesTotal,
    unitsDay: day ? w.unitsDay : 0,
    unitsMonth: month ? w.unitsMonth : 0,
    accruedDay: day ? w.accruedDay : 0,
    accruedMonth: month ? w.accruedMonth : 0,
  };
}

export function guestContext(
  guestId: string,
  state: GuestState,
  profile: GuestProfile | undefined,
  keys: WindowKeys,
  programAccount: string,
  discountAccounts: CompiledConfig['discountAccounts'] = [],
): GuestContext {
  const usage: Record<string, PromotionUsage> = {};
  for (const [id, w] of Object.entries(state.promotions ?? {})) usage[id] = usageNow(w, keys);
  const dc = state.discountChecks;
  const balances: Record<string, number> = { ...(state.accounts ?? {}), [programAccount]: state.points.balance };
  // Points accounts other than the program's (a coalition partner's) by their balance, as the program's.
  const others = state.pointsAccounts;
  if (others !== undefined) for (const id in others) balances[id] = others[id]!.balance;
  // A discount account's "balance" is the guest's level (the profile's, else the default), so CEL and balance conditions read it too.
  const levels = profile?.discounts;
  for (const a of discountAccounts) balances[a.id] = levels !== undefined && Object.prototype.hasOwnProperty.call(levels, a.id) ? levels[a.id]! : a.defaultBp;
  return {
    id: guestId,
    ...(profile?.createdAt === undefined ? {} : { registeredAt: Date.parse(profile.createdAt) }),
    // The profile's birthday and tags (register / updateGuest), for birthday periods and tag conditions.
    ...(profile?.birthday === undefined ? {} : { birthday: profile.birthday }),
    ...(profile?.tags === undefined ? {} : { tags: profile.tags }),
    balances,
    counters: state.counters ?? {},
    usage,
    discountChecks: { day: dc?.day === keys.day ? dc.checksDay : 0, month: dc?.month === keys.month ? dc.checksMonth : 0 },
  };
}

export interface DecideArgs {
  config: ConfigSnapshot;
  guestId: string;
  state: GuestState;
  profile: GuestProfile | undefined;
  check: CheckInput;
  /** The check's own time (ISO 8601), which promotions' periods and windows read. */
  time: string;
  /** Server time, epoch ms: the promotions' time when the check's cannot be read. */
  now: number;
  /** Promotion id → what its budget has left; read only when promotions run. */
  budgets: () => Record<string, number>;
  /** The kind of the card the guest came with (plastic, virtual, rfid, wallet), for `card_type` conditions; absent: unknown. */
  cardType?: string;
  /**
   * Whether the evaluation explains itself (every promotion's verdict, lines'
   * applied / rejected); default false: only what applied, all a check needs.
   */
  explain?: boolean;
}

/** Decides the check. `check.pointsToSpend` must already be within the cap for the money figures to be final. */
export function decideCheck(a: DecideArgs): CheckDecision {
  const { config, check } = a;
  const program = config.program;
  const c = compiledRulesOf(config);
  let total = 0;
  for (let i = 0; i < check.lines.length; i++) total += lineSum(check.lines[i]!);
  if (!c.anyActive) return plainDecision(config, check, total);
  // The points paid with, valued and capped as points of the account they come from.
  const payWith = check.payFrom === undefined ? program : { ...program, pointValueMinor: check.payFrom.pointValueMinor };

  const time = checkTime(a.time, a.now);
  const keys = windowKeys(time, config.organization.timeZone);
  const guest = guestContext(a.guestId, a.state, a.profile, keys, program.id, c.discountAccounts);
  if (a.cardType !== undefined) guest.cardType = a.cardType;
  const ctx: RulesContext = {
    time,
    check: {
      organization: config.organization.id,
      outlet: check.outlet,
      // A partner's outlet: the partner's promotions apply there, outranked by the organization's.
      ...c.places.get(check.outlet),
      currency: config.organization.currency,
      lines: check.lines,
      paidWithPoints: Math.min(total, pointsToMoney(payWith, check.pointsToSpend)),
    },
    guest,
    budgets: a.budgets(),
  };
  const ev = evaluate(c.rules, ctx, { explain: a.explain === true });
  const net = total - ev.discount;
  const lineNets = ev.lines.map((l) => l.net);
  let pointsCap = pointsCapOf(payWith, net);
  if (ev.pointsPayment !== null && ev.pointsPayment.account === (check.payFrom?.account ?? program.id)) pointsCap = Math.min(pointsCap, ev.pointsPayment.pointsMax);
  const moneyByPoints = Math.min(net, pointsToMoney(payWith, check.pointsToSpend));
  const moneyToPay = net - moneyByPoints;
  let baseNet = 0;
  for (const l of ev.lines) if (l.baseAccrual) baseNet += l.net;
  // The money paid falls on the lines in proportion to their nets; the base accrual takes the share of its lines.
  const baseMoney = net === 0 ? 0 : Number((BigInt(moneyToPay) * BigInt(baseNet)) / BigInt(net));
  const baseAccrue = accrualOf(program, baseMoney);
  let promoAccrue = 0;
  for (const acc of ev.accruals) if (acc.account === program.id) promoAccrue += acc.amount;
  for (const act of ev.actions) if (act.kind === 'top_up' && act.account === program.id) promoAccrue += act.amount;
  return {
    total,
    discount: ev.discount,
    lineNets,
    pointsCap,
    moneyByPoints,
    moneyToPay,
    accrue: baseAccrue + promoAccrue,
    baseAccrue,
    evaluation: ev,
    windows: keys,
  };
}

/** The time promotions see: the check's own (periods are the outlet's local hours), else the server's. */
function checkTime(time: string, now: number): number {
  const t = Date.parse(time);
  return Number.isFinite(t) ? t : now;
}

/** The decision with the points actually spendable: trims the ask to the cap and decides again when that changes what points pay. */
export function decideWithin(a: DecideArgs, available: number): { decision: CheckDecision; pointsToSpend: number; pointsMax: number } {
  let decision = decideCheck(a);
  const pointsMax = Math.max(0, Math.min(available, decision.pointsCap));
  const pointsToSpend = Math.min(a.check.pointsToSpend, pointsMax);
  if (pointsToSpend !== a.check.pointsToSpend) decision = decideCheck({ ...a, check: { ...a.check, pointsToSpend } });
  return { decision, pointsToSpend, pointsMax };
}

function lineSum(l: CheckLine): number {
  return Math.max(0, l.quantity * l.unitPrice - (l.posDiscount ?? 0));
}

/** No promotion active: the program alone, as before promotions existed. */
function plainDecision(config: ConfigSnapshot, check: CheckInput, total: number): CheckDecision {
  // The balance bounds nothing here: callers bound the points by what is available.
  const d = check.payFrom === undefined ? decide(config.program, Number.MAX_SAFE_INTEGER, total, check.pointsToSpend) : decideOtherPoints(config, check.payFrom, total, check.pointsToSpend);
  return {
    total,
    discount: 0,
    lineNets: [],
    pointsCap: d.pointsCap,
    moneyByPoints: d.moneyByPoints,
    moneyToPay: d.moneyToPay,
    accrue: d.accrue,
    baseAccrue: d.accrue,
    evaluation: null,
    windows: null,
  };
}

/** `decide` for points of another account: they pay (and are capped) at its value; the program accrues on the money left. */
function decideOtherPoints(config: ConfigSnapshot, payFrom: NonNullable<CheckInput['payFrom']>, total: number, spend: number): ReturnType<typeof decide> {
  const payWith = { ...config.program, pointValueMinor: payFrom.pointValueMinor };
  const moneyByPoints = Math.min(total, pointsToMoney(payWith, spend));
  const moneyToPay = total - moneyByPoints;
  const pointsCap = pointsCapOf(payWith, total);
  return { pointsMax: pointsCap, pointsCap, moneyByPoints, moneyToPay, accrue: accrualOf(config.program, moneyToPay) };
}

/** Applies what a committed check used of its promotions to the guest's windows. */
export function recordUsage(state: GuestState, ev: Evaluation, keys: WindowKeys): Pick<GuestState, 'promotions' | 'discountChecks' | 'counters' | 'accounts'> {
  const promotions: Record<string, PromotionWindows> = { ...(state.promotions ?? {}) };
  for (const u of ev.usage) {
    const old = promotions[u.promotion];
    const cur = old === undefined ? emptyWindows(keys) : rollWindows(old, keys);
    const accrued = u.points;
    promotions[u.promotion] = {
      ...cur,
      usesDay: cur.usesDay + 1,
      usesWeek: cur.usesWeek + 1,
      usesMonth: cur.usesMonth + 1,
      usesTotal: cur.usesTotal + 1,
      unitsDay: cur.unitsDay + u.units,
      unitsMonth: cur.unitsMonth + u.units,
      accruedDay: cur.accruedDay + accrued,
      accruedMonth: cur.accruedMonth + accrued,
    };
  }
  let discountChecks = state.discountChecks;
  if (ev.discount > 0) {
    const dc = discountChecks;
    discountChecks = {
      day: keys.day,
      month: keys.month,
      checksDay: (dc?.day === keys.day ? dc.checksDay : 0) + 1,
      checksMonth: (dc?.month === keys.month ? dc.checksMonth : 0) + 1,
    };
  }
  const counters: Record<string, number> = { ...(state.counters ?? {}) };
  for (const c of ev.counters) counters[c.counter] = (counters[c.counter] ?? 0) + c.by;
  return { promotions, ...(discountChecks === undefined ? {} : { discountChecks }), counters, accounts: state.accounts ?? {} };
}

function emptyWindows(k: WindowKeys): PromotionWindows {
  return { day: k.day, week: k.week, month: k.month, usesDay: 0, usesWeek: 0, usesMonth: 0, usesTotal: 0, unitsDay: 0, unitsMonth: 0, accruedDay: 0, accruedMonth: 0 };
}

function rollWindows(w: PromotionWindows, k: WindowKeys): PromotionWindows {
  const day = w.day === k.day;
  const month = w.month === k.month;
  return {
    day: k.day,
    week: k.week,
    month: k.month,
    usesDay: day ? w.usesDay : 0,
    usesWeek: w.week === k.week ? w.usesWeek : 0,
    usesMonth: month ? w.usesMonth : 0,
    usesTotal: w.usesTotal,
    unitsDay: day ? w.unitsDay : 0,
    unitsMonth: month ? w.unitsMonth : 0,
    accruedDay: day ? w.accruedDay : 0,
    accruedMonth: month ? w.accruedMonth : 0,
  };
}

/** What a committed check spends of each promotion's budget, in the budget's unit. */
export function budgetSpend(config: ConfigSnapshot, ev: Evaluation): Array<[promotion: string, amount: number, limit: number, unit: 'points' | 'money']> {
  const out: Array<[string, number, number, 'points' | 'money']> = [];
  const budgeted = compiledRulesOf(config).budgeted;
  for (const u of ev.usage) {
    const b = budgeted.get(u.promotion);
    if (b === undefined) continue;
    const amount = b.unit === 'money' ? u.discount : u.points;
    if (amount > 0) out.push([u.promotion, amount, b.amount, b.unit]);
  }
  return out;
}

export type EvaluateInput = Pick<EvaluateRequest, 'outlet' | 'lines'>;
