// The promotions model: what the admin API stores (RulesConfig, validated by
// validate.ts into exactly these types, defaults filled), what the engine is given
// per check (RulesContext) and what it answers (Evaluation). Every mechanic of the
// seeds has a place here even where nothing executes it yet (coupon issue, level
// change and notifications are returned as actions for the orchestrator).
//
// Units, as everywhere in kopilka: money in integer minor units of the check
// currency, points in hundredths of a point, percentages in basis points
// (500 = 5%), counters in whole units. Never floats.

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/** Lifecycle (Retail Suite 003: "В разработке", "Активации", "В архив"). Only `active` applies at a till. */
export type PromotionStatus = 'draft' | 'active' | 'paused' | 'archived';
export const PROMOTION_STATUSES: readonly PromotionStatus[] = ['draft', 'active', 'paused', 'archived'];

export interface RulesConfig {
  /** Named, reusable periods (R-Keeper "Временные периоды"). */
  periods: PeriodConfig[];
  /** Accounts that effects, balance conditions and payment rules name. */
  accounts: AccountConfig[];
  /** Item tags, since a POS sends item codes and categories but no tags. */
  catalog: CatalogConfig;
  /** The organization's settings (the shared policy of a coalition). */
  settings: RulesSettings;
  /** Partners with a policy of their own; any other partner's checks use `settings`. */
  partners: PartnerConfig[];
  promotions: PromotionConfig[];
}

export type AccountUnit = 'points' | 'money' | 'count' | 'percent';

/** An account with a balance: bonus points, money (deposit, cashback) or a count. */
export interface BalanceAccountConfig {
  id: string;
  /** `points`: hundredths of a point; `money`: minor units (deposit, cashback); `count`: whole units (visits, mugs). */
  unit: 'points' | 'money' | 'count';
  /** Money minor units one whole point is worth (100 = 1.00), as in the bonus program; 100 for other units. */
  pointValueMinor: number;
}

/**
 * A discount account (R-Keeper CRM "скидочный счёт", a 5% or 10% discount card): each
 * guest has a level in basis points and no balance, no postings. The level is the
 * guest's `balances[id]` in the context (the engine reads it from the guest's
 * profile), `defaultBp` when the context has none. It applies to every check as a
 * promotion of its own, `account:<id>`, always active, ranked among the promotions by
 * `priority` (after the promotions of equal priority) and subject to the settings'
 * stacking like any of them; a guest at level 0 gets nothing from it.
 */
export interface PercentAccountConfig {
  id: string;
  unit: 'percent';
  /** Always 100: a level has no money value of its own. */
  pointValueMinor: number;
  /** The level of a guest without one of their own, basis points (0: no discount). */
  defaultBp: number;
  /** `check` (default): a check-level discount; `lines`: an item discount on the lines `match` selects. */
  target: DiscountTarget;
  /** Which lines it discounts (default: every line); with target `check`, exclude lists only. */
  match: LineMatch;
  /** As a promotion's: higher applies first; default 0. */
  priority: number;
  /** As a promotion's: when the guest's level is above 0, it alone applies. */
  exclusive: boolean;
}

export type AccountConfig = BalanceAccountConfig | PercentAccountConfig;

/** The id of the promotion a discount account applies as, in explanations and usage. */
export function discountAccountPromotion(accountId: string): string {
  return `account:${accountId}`;
}

export interface CatalogConfig {
  /** Item code → its tags ("beer", "promo-shelf"); lines match tags through this. */
  itemTags: Record<string, string[]>;
}

export interface PartnerConfig {
  id: string;
  /** The partner's own settings, whole (nothing is inherited from the shared ones). */
  settings: RulesSettings;
}

// --- Periods -------------------------------------------------------------------

/** A local calendar date, `YYYY-MM-DD`. */
export type LocalDate = string;
/** A local time of day, `HH:MM` (00:00 .. 24:00). */
export type LocalClock = string;

/**
 * A period holds at a moment when every clause it names holds; within a clause any
 * listed value will do. All clauses are read in local time: the outlet's time zone
 * when the check names one, else the organization's.
 */
export interface PeriodConfig {
  id: string;
  name: string;
  /** Inclusive local date ranges. */
  dates: Array<{ from: LocalDate; to: LocalDate }>;
  /** ISO weekdays: 1 = Monday .. 7 = Sunday. */
  weekdays: number[];
  /** Days of the month, 1..31. */
  daysOfMonth: number[];
  /**
   * Week of the month: n (1..5) is days 7n-6 .. 7n, so "the first Monday" is
   * weekday 1 in week 1; -1 is the month's last seven days ("the last Friday").
   */
  weeksOfMonth: number[];
  /** Months, 1 = January .. 12. */
  months: number[];
  years: number[];
  /** Times of day, `from` inclusive, `to` exclusive; `from` > `to` crosses midnight (22:00-02:00). */
  times: Array<{ from: LocalClock; to: LocalClock }>;
  /** The guest's birthday ± days; a guest without a birthday is never in it. */
  birthday: { daysBefore: number; daysAfter: number } | null;
}

// --- Conditions ------------------------------------------------------------------

/** Which lines of a check: any include list (or none given: every line), minus every exclude list. */
export interface LineMatch {
  items: string[];
  categories: string[];
  /** Tags from the catalog. */
  tags: string[];
  excludeItems: string[];
  excludeCategories: string[];
  excludeTags: string[];
}

export type Condition =
  | { kind: 'all'; of: Condition[] }
  | { kind: 'any'; of: Condition[] }
  | { kind: 'not'; of: Condition }
  /** A named period, for periods combined with other conditions (promotion.periods is the usual way). */
  | { kind: 'period'; period: string }
  /** Where the check is: each list given must contain the check's value (outletTags: any of them). */
  | {
      kind: 'place';
      organizations: string[];
      partners: string[];
      outlets: string[];
      terminals: string[];
      outletTags: string[];
    }
  | { kind: 'guest_level'; levels: string[] }
  /** Tags of the guest (manual marks); `segments` the same over the guest's segments. */
  | { kind: 'guest_tags'; any: string[]; all: string[]; none: string[] }
  | { kind: 'guest_segments'; any: string[]; all: string[]; none: string[] }
  /** Age in whole years on the local date; a guest without a birthday fails. */
  | { kind: 'guest_age'; min: number | null; max: number | null }
  /** Local date within the guest's birthday − daysBefore .. birthday + daysAfter. */
  | { kind: 'birthday'; daysBefore: number; daysAfter: number }
  /** Whole local days since registration. */
  | { kind: 'registered'; minDays: number | null; maxDays: number | null }
  /** An attribute of the guest's profile: present (values empty) or one of `values`. */
  | { kind: 'guest_attribute'; key: string; values: string[] }
  /** The type of the card the guest identified with (plastic, virtual, rfid, wallet). */
  | { kind: 'card_type'; types: string[] }
  /** The check's sum before our discounts (after the POS's own), minor units. */
  | { kind: 'check_sum'; min: number | null; max: number | null }
  | { kind: 'currency'; currencies: string[] }
  /** Lines matching `match` hold at least these units, this sum (minor units) and this many distinct lines. */
  | { kind: 'lines'; match: LineMatch; minQuantity: number; minSum: number; minLines: number }
  /** The sum of the balances of a group of accounts (one account: a group of one), in their units. */
  | { kind: 'balance'; accounts: string[]; min: number | null; max: number | null }
  /** A counter of the guest (visits, mugs), whole units; absent counts as 0. */
  | { kind: 'counter'; counter: string; min: number | null; max: number | null }
  /** A custom rule in CEL over guest, check, accounts and time (see cel.ts). */
  | { kind: 'cel'; source: string };

export type ConditionKind = Condition['kind'];

// --- Effects -----------------------------------------------------------------------

/**
 * `lines`: an item promotion, on the lines `match` selects. `check`: a check-level
 * promotion over the whole check (minus what `match` excludes); "an item promotion
 * blocks check-level promotions" tells the two apart.
 */
export type DiscountTarget = 'lines' | 'check';

export type MessageChannel = 'receipt' | 'screen' | 'cashier';
export type NotifyChannel = 'sms' | 'email' | 'push' | 'owner';

export type Effect =
  /**
   * Exactly one of percentBp / amount. percentBp: that share of the eligible sum,
   * floored. amount: that much off the eligible sum (perUnit: per eligible unit),
   * never more than the sum.
   */
  | {
      kind: 'discount';
      target: DiscountTarget;
      match: LineMatch;
      percentBp: number | null;
      amount: number | null;
      perUnit: boolean;
    }
  /** Every `every`-th matching unit free, the cheapest units first, at most maxFree units (null: no cap). */
  | { kind: 'nth_free'; match: LineMatch; every: number; maxFree: number | null }
  /**
   * Into `account`, exactly one of: percentBp of the money paid for matching lines
   * (after discounts, and without the part paid with points when
   * excludePaidWithPoints), perUnit per matching unit, or fixed per check.
   */
  | {
      kind: 'accrual';
      account: string;
      match: LineMatch;
      percentBp: number | null;
      perUnit: number | null;
      fixed: number | null;
      excludePaidWithPoints: boolean;
      /** Days before the accrual can be spent (0: at once). */
      delayDays: number;
      /** Days the accrual lives once active (0: no expiry). */
      expiryDays: number;
    }
  /** A counter goes up (or down: negative) by `by` per check, or per matching unit when perUnit. */
  | { kind: 'counter'; counter: string; by: number; perUnit: boolean; match: LineMatch }
  /** A top-up of an account (corporate meals, gifts); negative: a debit (balance→coupon conversion). */
  | { kind: 'top_up'; account: string; amount: number }
  /** Moves the guest to a level (R-Keeper "Межуровневый переход"). */
  | { kind: 'set_level'; level: string }
  /** Issues coupons of a type (R-Keeper "Подарочный купон", "Преобразование баланса в купон"). */
  | { kind: 'issue_coupon'; couponType: string; count: number }
  | { kind: 'message'; channel: MessageChannel; text: string }
  /** An outbox notification to the guest, or to the owner ("Оповещение владельца о событиях"). */
  | { kind: 'notify'; channel: NotifyChannel; template: string };

export type EffectKind = Effect['kind'];

// --- Limits ------------------------------------------------------------------------

/** Per-guest windows are local calendar days, ISO weeks and months, counted by the orchestrator. */
/** Limits of a promotion that sets none (a fresh object: callers fill it in). */
export function noLimits(): PromotionLimits {
  return {
    maxDiscountBp: null,
    maxDiscountAmount: null,
    usesPerGuest: { day: null, week: null, month: null, total: null },
    unitsPerGuest: { day: null, month: null },
    accrualMax: { check: null, day: null, month: null },
    budget: null,
  };
}

export interface PromotionLimits {
  /** This promotion's discount at most this share of the check. */
  maxDiscountBp: number | null;
  /** This promotion's discount at most this much, minor units. */
  maxDiscountAmount: number | null;
  /** Times a guest may get this promotion ("no more than one discount per day"). */
  usesPerGuest: { day: number | null; week: number | null; month: number | null; total: number | null };
  /** Promotional units a guest may get per day / month; beyond it the units pay full price. */
  unitsPerGuest: { day: number | null; month: number | null };
  /** Accrual caps in the account's units: per check, per guest per day / month. */
  accrualMax: { check: number | null; day: number | null; month: number | null };
  /** What the promotion may give away in total: discounts (money) or accruals and top-ups (points). */
  budget: { unit: 'money' | 'points'; amount: number } | null;
}

/**
 * Kinds of promotions of the seeds; informational, except: `registration_bonus`
 * defaults stackingExempt; `base_accrual` is the program's own (level) accrual
 * written as a promotion, so that it takes part in the best_per_line contest (r_keeper:
 * "promotions and levels compete") without counting as a promotion for payment
 * with points or being blocked as a check-level promotion.
 */
export type PromotionTemplate =
  | 'custom'
  | 'registration_bonus'
  | 'birthday_bonus'
  | 'level_transition'
  | 'periodic_top_up'
  | 'usage_limit'
  | 'extra_accrual'
  | 'balance_to_coupon'
  | 'owner_notification'
  | 'base_accrual';

export interface PromotionConfig {
  id: string;
  name: string;
  description: string;
  status: PromotionStatus;
  template: PromotionTemplate;
  /** null: the organization's own; else a partner's (outranked by the organization's). */
  partner: string | null;
  /** Higher first; ties by owner (organization first), then the order of the configuration. */
  priority: number;
  /** When it qualifies, it alone applies (stacking-exempt promotions aside). */
  exclusive: boolean;
  /** Outside every contest: the registration bonus of r_keeper (002). */
  stackingExempt: boolean;
  /** Bounds of the whole campaign, ISO 8601 with offset, from inclusive, to exclusive; null: open. */
  validFrom: string | null;
  validTo: string | null;
  /** Any of these periods opens the promotion; empty: always open. */
  periods: string[];
  /** null: no condition. */
  condition: Condition | null;
  effects: Effect[];
  limits: PromotionLimits;
}

// --- Settings ------------------------------------------------------------------------

/**
 * `all` (default): every promotion applies in rank order, each discount on what the
 * discounts before it left of a line, so the total never exceeds the check.
 * `best_per_line` (r_keeper "Акции и ранги не суммируются"): each line takes only its
 * single most valuable privilege; stacking-exempt promotions stay outside the contest.
 */
export type StackingMode = 'all' | 'best_per_line';

/**
 * How our promotions meet the POS's own (r_keeper Loyalty, 002, "Ограничения работы
 * программы лояльности при наличии в заказе товаров с кассовой акцией"); any combination:
 * - `block_points_payment`: with a POS promotion in the check no line is payable with points;
 * - `block_accrual`: with a POS promotion in the check nothing accrues;
 * - `block_promotions`: with a POS promotion in the check none of ours applies;
 * - `exclude_pos_lines`: both apply, but points pay for and accrue on only the lines without one.
 */
export type PosMode = 'block_points_payment' | 'block_accrual' | 'block_promotions' | 'exclude_pos_lines';
export const POS_MODES: readonly PosMode[] = ['block_points_payment', 'block_accrual', 'block_promotions', 'exclude_pos_lines'];

/**
 * Lines that took part in a promotion and points (r_keeper 002): `not_payable`, or
 * `payable_if_accrues` (only when every promotion on the line accrues points), or `payable`.
 */
export type PromotionalLinesPayment = 'payable' | 'not_payable' | 'payable_if_accrues';

export interface PointsPaymentConfig {
  /** The account that pays. */
  account: string;
  /** At most this share of the check after discounts (0..10000). */
  maxBp: number;
  /** At most this much, minor units; null: no cap. */
  maxAmount: number | null;
  forbiddenCategories: string[];
  forbiddenItems: string[];
  /** Money that must remain to pay, minor units (a fiscal payment even when points could pay all). */
  minFiscalPayment: number;
  promotionalLines: PromotionalLinesPayment;
}

export interface RulesSettings {
  stacking: StackingMode;
  /** Only with best_per_line: once an item promotion applies, check-level promotions do not. */
  itemBlocksCheck: boolean;
  /** All our discounts together at most this share of the check (Retail Suite "Ограничение по скидке"). */
  maxDiscountBp: number | null;
  /** Checks with a discount a guest may have per local day / month (Retail Suite "Количество раз предоставления скидок"). */
  discountsPerGuest: { day: number | null; month: number | null };
  posModes: PosMode[];
  /** Whether the program's own (level) accrual may accrue on lines that took part in a promotion (r_keeper: no). */
  baseAccrualOnPromotionalLines: boolean;
  /** null: payment with points is not ruled here (the bonus program's cap alone). */
  pointsPayment: PointsPaymentConfig | null;
}

// ---------------------------------------------------------------------------
// Evaluation input
// ---------------------------------------------------------------------------

export interface ContextLine {
  itemCode: string;
  category?: string;
  quantity: number;
  /** Minor units per unit. */
  unitPrice: number;
  /** A discount the POS's own promotion already gave on this line, minor units. */
  posDiscount?: number;
  /** The POS applied a promotion of its own to this line (with or without a discount). */
  posPromotion?: boolean;
}

/** What the orchestrator counted of a promotion for this guest, in the current local windows. */
export interface PromotionUsage {
  day?: number;
  week?: number;
  month?: number;
  total?: number;
  /** Promotional units got today / this month. */
  unitsDay?: number;
  unitsMonth?: number;
  /** Accrued by this promotion today / this month, in the account's units. */
  accruedDay?: number;
  accruedMonth?: number;
}

export interface GuestContext {
  id: string;
  level?: string;
  tags?: readonly string[];
  segments?: readonly string[];
  /** `YYYY-MM-DD` (or `--MM-DD` when the year is unknown). */
  birthday?: string;
  /** Epoch ms. */
  registeredAt?: number;
  cardType?: string;
  attributes?: Readonly<Record<string, string>>;
  /** Account id → balance in the account's units; a discount (percent) account's: the guest's level, basis points. */
  balances?: Readonly<Record<string, number>>;
  /** Counter id → value. */
  counters?: Readonly<Record<string, number>>;
  /** Promotion id → usage. */
  usage?: Readonly<Record<string, PromotionUsage>>;
  /** Checks with a discount today / this month (settings.discountsPerGuest). */
  discountChecks?: { day?: number; month?: number };
}

export interface CheckContext {
  organization?: string;
  partner?: string;
  outlet: string;
  terminal?: string;
  outletTags?: readonly string[];
  /** The outlet's IANA time zone (validated where outlets are configured); absent: the organization's. */
  timeZone?: string;
  currency: string;
  lines: readonly ContextLine[];
  /** Money the guest means to pay with points, minor units (for accruals that exclude it). */
  paidWithPoints?: number;
}

export interface RulesContext {
  /** Epoch ms of the check. */
  time: number;
  check: CheckContext;
  guest: GuestContext;
  /** Promotion id → what its budget has left, in the budget's unit; absent: untouched. */
  budgets?: Readonly<Record<string, number>>;
}

// ---------------------------------------------------------------------------
// Evaluation output
// ---------------------------------------------------------------------------

/** Why a promotion (or a line of it) did not apply, in the order they are tested. */
export type Reason = 'status' | 'period' | 'condition' | 'limit' | 'stacking' | 'budget';

export interface LineResult {
  index: number;
  /** quantity × unitPrice − posDiscount, minor units. */
  sum: number;
  /** Our discount on this line, minor units; 0 ≤ discount ≤ sum. */
  discount: number;
  /** sum − discount. */
  net: number;
  /** Promotions that gave this line a discount or an accrual. */
  applied: Array<{ promotion: string; discount: number; accrual: number }>;
  /** Promotions whose effects matched this line but gave it nothing, with why. */
  rejected: Array<{ promotion: string; reason: Reason; detail: string }>;
  /** May points pay for this line (payment rules)? */
  pointsPayable: boolean;
  /** May the program's own accrual accrue on this line? */
  baseAccrual: boolean;
}

export interface Accrual {
  promotion: string;
  account: string;
  amount: number;
  delayDays: number;
  expiryDays: number;
}

export interface CounterIncrement {
  promotion: string;
  counter: string;
  by: number;
}

export type Action =
  | { kind: 'top_up'; promotion: string; account: string; amount: number }
  | { kind: 'set_level'; promotion: string; level: string }
  | { kind: 'issue_coupon'; promotion: string; couponType: string; count: number }
  | { kind: 'notify'; promotion: string; channel: NotifyChannel; template: string };

export interface Message {
  promotion: string;
  channel: MessageChannel;
  text: string;
}

export interface PointsPaymentLimit {
  account: string;
  /** The most money points may pay on this check, minor units. */
  moneyMax: number;
  /** The same in the account's points (hundredths), floored; the orchestrator bounds it by the balance. */
  pointsMax: number;
}

export interface PromotionExplanation {
  promotion: string;
  applied: boolean;
  /** Absent when applied. */
  reason?: Reason;
  /** A stable code saying more: `exclusive:<id>`, `uses_per_guest_day`, `cel_error:<code>`, … */
  detail?: string;
  discount: number;
  accrual: number;
}

/** What an applied promotion used up, for the orchestrator to count against limits and budgets. */
export interface Usage {
  promotion: string;
  discount: number;
  /** Points (hundredths) accrued and topped up into points accounts. */
  points: number;
  /** Promotional units (lines the promotion discounted). */
  units: number;
}

export interface Evaluation {
  /** Sum of line sums before our discounts, minor units. */
  total: number;
  /** Our discount on the check: the sum of the line discounts. */
  discount: number;
  lines: LineResult[];
  accruals: Accrual[];
  counters: CounterIncrement[];
  actions: Action[];
  messages: Message[];
  /** null when the settings rule no payment with points. */
  pointsPayment: PointsPaymentLimit | null;
  usage: Usage[];
  promotions: PromotionExplanation[];
}
