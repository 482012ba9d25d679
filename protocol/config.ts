// The configuration the admin API publishes and the engine runs. One snapshot is
// one version: the engine swaps whole snapshots, so no check ever sees half of a
// change. Money is in integer minor units of the organization's currency;
// percentages are integer basis points (500 = 5%).

import type { RulesConfig } from '../engine/rules/model.js';

export interface OrganizationConfig {
  id: string;
  name: string;
  /** ISO 4217 code; checks in a currency neither this nor one of `currencyRates` are refused. */
  currency: string;
  /** IANA time zone, e.g. "Europe/Moscow". */
  timeZone: string;
  /**
   * Card number masks: `register` and `addCard` refuse a number (of any kind but
   * `rfid`, which has its own 8-hex rule) that matches none. In a mask `#` is a digit,
   * `X` a hex digit and any other character itself; a mask matches whole numbers
   * ("7800########" = 7800 and eight digits). Absent or empty: any number.
   * At most 32 masks of 1..64 characters.
   */
  cardMasks?: string[];
  /**
   * Binding a new card to a guest (`addCard`, or `register` with the phone of a
   * known guest) marks the guest's other active cards `replaced`. Default false.
   */
  newCardReplacesOthers?: boolean;
  /**
   * Other currencies checks may come in, each at its rate (engine/currency-rates.ts):
   * evaluate and commit convert such a check's lines to this organization's currency
   * and answer with the currency and rate applied. Absent or empty: only `currency`.
   * At most 32 rates, one per currency, none for `currency` itself.
   */
  currencyRates?: CurrencyRate[];
}

/** One currency the organization takes besides its own. */
export interface CurrencyRate {
  /** ISO 4217 code, 3 upper-case letters. */
  currency: string;
  /**
   * Organization currency units per one unit of `currency`, as an exact decimal
   * string ("95.4321"): at most 9 integer and 12 fraction digits, above 0.
   */
  rate: string;
  /** Digits of `currency`'s minor unit, 0..4; default its ISO 4217 one (2; JPY 0, KWD 3). */
  minorDigits?: number;
}

export interface OutletConfig {
  id: string;
  name: string;
  /** In a coalition: the partner the outlet belongs to (its promotions, outranked by the organization's); absent: the organization's own. */
  partner?: string;
  /** Tags promotions' place conditions match (e.g. "airport", "drive-in"). */
  tags?: string[];
}

export interface TerminalConfig {
  id: string;
  outletId: string;
  /** Hex SHA-256 of the terminal key; the key itself is shown once, at creation. */
  keySha256: string;
}

export interface BonusProgramConfig {
  id: string;
  name: string;
  /** Points accrued per money paid (not paid with points), in basis points: 500 = 5%. 0..10000. */
  accrualBp: number;
  /** The most of a check payable with points, in basis points: 5000 = 50%. 0..10000. */
  payMaxBp: number;
  /** Money minor units one whole point is worth: 100 = 1.00. 1..1_000_000. */
  pointValueMinor: number;
  /** Days before accrued points may be spent (from local midnight); 0 = at once. 0..365. */
  activationDelayDays?: number;
  /** Months after which accrued points burn (at local midnight); 0 = never. 0..120. */
  expiryMonths?: number;
  /** Seconds a hold placed at evaluation lasts before it voids itself. 10..86400, default 900. */
  holdTimeoutSeconds?: number;
  /**
   * When a refund takes back accrued points the guest has already spent:
   * `negative` leaves a debt that later points pay first (default); `clamp` takes
   * what there is and records the rest as written off.
   */
  refundDebtPolicy?: 'negative' | 'clamp';
}

export const hold_timeout_seconds_default = 900;

export interface ConfigSnapshot {
  /** Grows by one with every published change. */
  version: number;
  publishedAt: string;
  author: string;
  organization: OrganizationConfig;
  outlets: OutletConfig[];
  terminals: TerminalConfig[];
  program: BonusProgramConfig;
  /**
   * The promotions configuration (periods, accounts, catalog, settings, partners,
   * promotions), in the normalized form `validateRules` returns: every default
   * filled, every reference resolved. The engine compiles it once per version.
   * Snapshots published before promotions existed lack it: read any stored
   * snapshot through `withRules`.
   */
  rules: RulesConfig;
}

/** A snapshot as any kopilka has stored it: those published before promotions lack `rules`. */
export type StoredConfigSnapshot = Omit<ConfigSnapshot, 'rules'> & { rules?: RulesConfig };

/**
 * The smallest rules configuration `validateRules` accepts, as it normalizes `{}`:
 * no periods, accounts, partners or promotions, an empty catalog and the default
 * settings (every discount stacks, no caps, no POS interplay, points payment not
 * ruled here). A fresh object on each call: callers may edit it.
 */
export function emptyRules(): RulesConfig {
  return {
    periods: [],
    accounts: [],
    catalog: { itemTags: {} },
    settings: {
      stacking: 'all',
      itemBlocksCheck: false,
      maxDiscountBp: null,
      discountsPerGuest: { day: null, month: null },
      posModes: [],
      baseAccrualOnPromotionalLines: false,
      pointsPayment: null,
    },
    partners: [],
    promotions: [],
  };
}

/**
 * A stored snapshot with `rules` filled in when it predates them (Postgres rows
 * and the engine's LMDB copy of older versions): without promotions, a version
 * behaves as it did when it was published. A snapshot that has rules is
 * returned as it is.
 */
export function withRules(snapshot: StoredConfigSnapshot): ConfigSnapshot {
  if (snapshot.rules !== undefined) return snapshot as ConfigSnapshot;
  return { ...snapshot, rules: emptyRules() };
}
