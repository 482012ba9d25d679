// Reads of a guest (identify, evaluate, balance) from the last committed state.
// LMDB readers never block and never see half a transaction, so any thread may
// answer them: the doors' thread does, which saves the trip to a shard and back
// (two message copies and a wake-up) on the most frequent request. A committed
// write is visible to the next read as soon as it is acknowledged. Lots past
// their expiry and holds past their timeout count for nothing here even before
// the shard burns or voids them.

import assert from 'node:assert';
import type { ConfigSnapshot } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import type {
  BalanceRequest,
  BalanceResult,
  EvaluateRequest,
  EvaluateResult,
  AppliedPromotion,
  AccountBalance,
  PromotionVerdict,
  IdentifyRequest,
  IdentifyResult,
  TransactionView,
  CardKind,
} from '../protocol/types.js';
import { compiledRulesOf, decideWithin, hasPromotions } from './check-decision.js';
import { emptyAccount, view } from './points-account.js';
import { cardViews, presentedCard } from './cards.js';
import { profileView } from './guest-profile.js';
import type { Evaluation, PromotionExplanation } from './rules/model.js';
import { type GuestState, type Store, type TransactionRecord, guestShard } from './store.js';

const day_ms = 86_400_000;

export type Clock = () => number;

export function readState(store: Store, guestId: string): GuestState {
  const state = store.states.get(guestId);
  if (state === undefined) throw new KopilkaError('card_not_found', 'the card belongs to no guest', 'card');
  return state;
}

export function checkCurrency(config: ConfigSnapshot, currency: string): void {
  if (currency !== config.organization.currency) {
    throw new KopilkaError('currency_mismatch', `currency must be ${config.organization.currency}`, 'currency');
  }
}

/**
 * The account `account` of the configuration's rules if it is of `unit` (a deposit:
 * money; points), else a typed refusal naming `field` and the accounts it may name (for
 * points, the program's first).
 */
export function accountOfUnit(config: ConfigSnapshot, account: string, unit: 'money' | 'points', field: string): { id: string; pointValueMinor: number } {
  const a = config.rules.accounts.find((x) => x.id === account);
  if (a !== undefined && a.unit === unit) return a;
  const others = config.rules.accounts.filter((x) => x.unit === unit && x.id !== config.program.id).map((x) => x.id);
  const known = unit === 'points' ? [config.program.id, ...others] : others;
  const kind = unit === 'points' ? 'points' : 'deposit';
  throw new KopilkaError('invalid_field', `${field} must name a ${kind} account (${known.length === 0 ? 'none configured' : known.join(', ')}), not "${account}"`, field);
}

/**
 * The account a request's `pointsAccount` pays from when it is not the program's: absent
 * (or "", as proto3 sends absent) or the program's own id is the program's (undefined);
 * an id that is no points account of the configuration is refused with `invalid_field`
 * naming `pointsAccount`. Commit and evaluate (with a hold or not) refuse alike.
 */
export function payFromOf(config: ConfigSnapshot, pointsAccount: string | undefined): { account: string; pointValueMinor: number } | undefined {
  if (pointsAccount === undefined || pointsAccount === '' || pointsAccount === config.program.id) return undefined;
  return { account: pointsAccount, pointValueMinor: accountOfUnit(config, pointsAccount, 'points', 'pointsAccount').pointValueMinor };
}

/** What the promotions' budgets have left, by promotion id (as committed). */
export function budgetsLeft(store: Store, config: ConfigSnapshot): Record<string, number> {
  const left: Record<string, number> = {};
  for (const [id, b] of compiledRulesOf(config).budgeted) left[id] = b.amount - (store.budgets.get(id)?.spent ?? 0);
  return left;
}

/** The decision for a check: pure in (configuration, state, check, time) and, with promotions, the profile and budgets read from `store`. */
export function evaluateCheck(
  store: Store,
  config: ConfigSnapshot,
  guestId: string,
  state: GuestState,
  req: EvaluateRequest,
  now: number,
  /** The presented card's kind when the caller has just read the card; else it is read here (with promotions only). */
  cardKind?: CardKind,
): EvaluateResult {
  // Resolved only when named, before the currency as commit does: the usual evaluate looks nothing up.
  const payFrom = req.pointsAccount === undefined ? undefined : payFromOf(config, req.pointsAccount);
  checkCurrency(config, req.currency);
  // The account the points would come from: its balance and available points bound the ask.
  const source = payFrom === undefined ? state.points : (state.pointsAccounts?.[payFrom.account] ?? emptyAccount());
  const available = view(source, now, 0).available;
  const pointsAsked = req.pointsToSpend ?? 0;
  const { decision: d, pointsToSpend, pointsMax } = decideWithin(
    {
      config,
      guestId,
      state,
      profile: hasPromotions(config) ? store.guests.get(guestId) : undefined,
      check: payFrom === undefined ? { outlet: req.outlet, lines: req.lines, pointsToSpend: pointsAsked } : { outlet: req.outlet, lines: req.lines, pointsToSpend: pointsAsked, payFrom },
      time: req.time,
      now,
      budgets: () => budgetsLeft(store, config),
      explain: req.explain === true,
      // The card's kind, for promotions' card_type conditions: read only when promotions run.
      ...(hasPromotions(config) ? { cardType: cardKind ?? presentedCard(store, req.card)?.kind } : {}),
    },
    available,
  );
  const ev = d.evaluation;
  const result: EvaluateResult = {
    configVersion: config.version,
    guestId,
    total: d.total,
    balance: source.balance,
    available,
    pointsMax,
    pointsToSpend,
    moneyToPay: d.moneyToPay,
    accrue: d.accrue,
    holdId: '',
    holdExpiresAt: '',
    discount: d.discount,
    lineDiscounts: ev === null || d.discount === 0 ? [] : ev.lines.map((l) => l.discount),
    promotions: ev === null ? [] : appliedPromotions(ev, config.program.id),
    messages: ev === null ? [] : ev.messages.map((m) => ({ promotion: m.promotion, channel: m.channel, text: m.text })),
  };
  if (req.explain === true) result.explanation = ev === null ? [] : ev.promotions.map(verdict);
  return result;
}

export function appliedPromotions(ev: Evaluation, programAccount: string): AppliedPromotion[] {
  const points = new Map<string, number>();
  for (const a of ev.accruals) if (a.account === programAccount) points.set(a.promotion, (points.get(a.promotion) ?? 0) + a.amount);
  for (const a of ev.actions) if (a.kind === 'top_up' && a.account === programAccount) points.set(a.promotion, (points.get(a.promotion) ?? 0) + a.amount);
  const out: AppliedPromotion[] = [];
  for (const p of ev.promotions) if (p.applied) out.push({ promotion: p.promotion, discount: p.discount, points: points.get(p.promotion) ?? 0 });
  return out;
}

function verdict(p: PromotionExplanation): PromotionVerdict {
  const v: PromotionVerdict = { promotion: p.promotion, applied: p.applied, discount: p.discount, accrual: p.accrual };
  if (p.reason !== undefined) v.reason = p.reason;
  if (p.detail !== undefined) v.detail = p.detail;
  return v;
}

/**
 * The guest's deposits and count accounts, then its points accounts other than the
 * program's (with what is available, pending and expiring within `horizonMs` at `now`),
 * then its counters, each sorted by id.
 */
export function accountsOf(config: ConfigSnapshot, state: GuestState, now: number, horizonMs: number): AccountBalance[] {
  const out: AccountBalance[] = [];
  const units = new Map(config.rules.accounts.map((a) => [a.id, a.unit]));
  for (const [account, balance] of Object.entries(state.accounts ?? {}).sort(byKey)) {
    out.push({ account, unit: units.get(account) === 'count' ? 'count' : 'money', balance });
  }
  for (const [account, acc] of Object.entries(state.pointsAccounts ?? {}).sort(byKey)) {
    const v = view(acc, now, horizonMs);
    out.push({ account, unit: 'points', balance: v.balance, available: v.available, pending: v.pending, expiring: v.expiring });
  }
  for (const [account, balance] of Object.entries(state.counters ?? {}).sort(byKey)) out.push({ account, unit: 'count', balance });
  return out;
}

const byKey = (a: [string, unknown], b: [string, unknown]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

export function transactionView(t: TransactionRecord): TransactionView {
  return {
    transactionId: t.transactionId,
    kind: t.kind,
    time: t.time,
    outlet: t.outlet,
    total: t.total,
    spent: t.spent,
    accrued: t.accrued,
    balanceAfter: t.balanceAfter,
    // Corrections say who, why and what they correct: present only on the kinds that have them.
    ...(t.operator === undefined ? {} : { operator: t.operator }),
    ...(t.reason === undefined ? {} : { reason: t.reason }),
    ...(t.refundOf === undefined ? {} : { original: t.refundOf }),
    ...(t.pointsAccount === undefined ? {} : { pointsAccount: t.pointsAccount }),
  };
}

export class GuestReader {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock = Date.now,
  ) {}

  identify(_config: ConfigSnapshot, guestId: string, req: IdentifyRequest): IdentifyResult {
    const state = readState(this.store, guestId);
    const profile = this.store.guests.get(guestId);
    // The profile, then every card with its kind and status: the POS needs the numbers.
    return { guestId, card: req.card ?? '', ...profileView(profile), balance: state.points.balance, cards: cardViews(this.store, profile) };
  }

  evaluate(config: ConfigSnapshot, guestId: string, req: EvaluateRequest, cardKind?: CardKind): EvaluateResult {
    return evaluateCheck(this.store, config, guestId, readState(this.store, guestId), req, this.clock(), cardKind);
  }

  balance(config: ConfigSnapshot, guestId: string, req: BalanceRequest): BalanceResult {
    const state = readState(this.store, guestId);
    const transactions: TransactionView[] = [];
    const limit = req.limit ?? 0;
    const shard = guestShard(guestId);
    for (let n = state.lastTx; n !== 0 && transactions.length < limit; ) {
      const entry = this.store.transactions.get([shard, n]);
      assert.ok(entry !== undefined && entry.guestId === guestId, "a guest's journal chain stays within the guest");
      transactions.push(transactionView(entry));
      n = entry.prevTx;
    }
    const now = this.clock();
    const horizonMs = (req.expiringWithinDays ?? 0) * day_ms;
    const v = view(state.points, now, horizonMs);
    return { guestId, balance: v.balance, available: v.available, pending: v.pending, held: v.held, expiring: v.expiring, transactions, accounts: accountsOf(config, state, now, horizonMs) };
  }
}
