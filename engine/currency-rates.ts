// Checks in other currencies, at the rates the organization publishes. Money inside
// kopilka is always in minor units of the organization's currency: a check in a
// listed currency is converted once, on the doors' thread, before a reader or a
// shard sees it, and the answer names the currency and the rate applied.
//
//   const converted = convertCheck(config, req);
//   // undefined: the check is in the organization's currency (or an unlisted one,
//   // which the reader and the shard refuse with currency_mismatch)
//
// The arithmetic is exact: a rate is a decimal string read into a BigInt numerator
// and a power-of-ten denominator, never a binary float. Per line, the unit price is
// converted and rounded half up to the organization's minor unit; the line is then
// quantity × that price (3 units at 0.01 EUR, 0.954321 RUB each, are 3 × 0.95 RUB).
// A POS discount is converted by itself (rounded half up) and never exceeds its
// converted line.

import type { ConfigSnapshot, CurrencyRate, OrganizationConfig } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import {
  check_total_minor_max,
  currency_minor_digits_max,
  currency_rate_fraction_digits_max,
  currency_rate_integer_digits_max,
  currency_rates_max,
  unit_price_minor_max,
} from '../protocol/limits.js';
import type { CheckLine, CommitRequest } from '../protocol/types.js';

/** What the engine applied to a check in another currency; the shard keys retries by it. */
export interface CheckConversion {
  /** The currency the check came in. */
  currency: string;
  /** The rate as published: organization currency units per one unit of `currency`. */
  rate: string;
  /** The check's lines as they came, in minor units of `currency`. */
  lines: CheckLine[];
}

/** A check in the shape evaluate and commit share. */
interface Check {
  currency: string;
  lines: CheckLine[];
}

/**
 * ISO 4217 currencies whose minor unit is not hundredths; every other code has 2.
 * The organization's own currency takes its digits from here, and a rate's
 * `minorDigits` defaults to them.
 */
const MINOR_DIGITS: Readonly<Record<string, number>> = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0,
  UGX: 0, UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  CLF: 4, UYW: 4,
};

/** Digits of an ISO 4217 currency's minor unit: 0 for JPY, 3 for KWD, 2 for most. */
export function isoMinorDigits(currency: string): number {
  return MINOR_DIGITS[currency] ?? 2;
}

const CURRENCY = /^[A-Z]{3}$/;
const RATE = new RegExp(`^(0|[1-9][0-9]{0,${currency_rate_integer_digits_max - 1}})(\\.[0-9]{1,${currency_rate_fraction_digits_max}})?$`);

/**
 * What is wrong with a list of rates, as [field, fix] with the field relative to the
 * list (`[1].rate`), or undefined when it is well formed. Shared by the engine (which
 * refuses to serve such a version) and the admin API (which refuses to publish it).
 * `own` is the organization's currency, which no rate may name.
 */
export function currencyRatesProblem(value: unknown, own: string | undefined): [string, string] | undefined {
  if (!Array.isArray(value) || value.length > currency_rates_max) {
    return ['', `must be a list of at most ${currency_rates_max} rates { currency, rate, minorDigits? }`];
  }
  const seen = new Set<string>();
  for (let i = 0; i < value.length; i++) {
    const entry = value[i] as Record<string, unknown>;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return [`[${i}]`, 'must be an object { currency, rate, minorDigits? }'];
    for (const key of Object.keys(entry)) {
      if (key !== 'currency' && key !== 'rate' && key !== 'minorDigits') return [`[${i}].${key}`, 'is not a field of a rate: remove it (known: currency, rate, minorDigits)'];
    }
    const { currency, rate, minorDigits } = entry;
    if (typeof currency !== 'string' || !CURRENCY.test(currency)) return [`[${i}].currency`, 'must be an ISO 4217 code of 3 upper-case letters, such as "EUR"'];
    if (currency === own) return [`[${i}].currency`, `must not be the organization's own currency ${own}: its checks need no rate`];
    if (seen.has(currency)) return [`[${i}].currency`, `must be unique: ${currency} has a rate already`];
    seen.add(currency);
    if (typeof rate !== 'string' || !RATE.test(rate) || !/[1-9]/.test(rate)) {
      return [
        `[${i}].rate`,
        `must be a positive decimal string of at most ${currency_rate_integer_digits_max} integer and ${currency_rate_fraction_digits_max} fraction digits, such as "95.4321" (organization currency units per one ${currency})`,
      ];
    }
    if (minorDigits !== undefined && (!Number.isInteger(minorDigits) || (minorDigits as number) < 0 || (minorDigits as number) > currency_minor_digits_max)) {
      return [`[${i}].minorDigits`, `must be an integer from 0 to ${currency_minor_digits_max} (digits of the currency's minor unit: 0 for JPY, 3 for KWD)`];
    }
  }
  return undefined;
}

/** A rate read into exact integers: organization minor units = foreign minor units × num / den. */
interface CompiledRate {
  currency: string;
  rate: string;
  num: bigint;
  den: bigint;
}

const compiled = new WeakMap<OrganizationConfig, Map<string, CompiledRate>>();

/**
 * The organization's rates by currency, read once per configuration object; a
 * malformed list throws a TypeError naming the field (the engine refuses to serve
 * such a version).
 */
export function currencyRatesOf(organization: OrganizationConfig): Map<string, CompiledRate> {
  let rates = compiled.get(organization);
  if (rates !== undefined) return rates;
  const list = organization.currencyRates ?? [];
  const problem = currencyRatesProblem(list, organization.currency);
  if (problem !== undefined) throw new TypeError(`organization.currencyRates${problem[0]} ${problem[1]}`);
  const ownDigits = isoMinorDigits(organization.currency);
  rates = new Map();
  for (const r of list as CurrencyRate[]) {
    const [whole, fraction = ''] = r.rate.split('.');
    const digits = r.minorDigits ?? isoMinorDigits(r.currency);
    // rate = whole.fraction = R / 10^f; minor' = minor / 10^digits × rate × 10^ownDigits.
    const num = BigInt(whole! + fraction) * 10n ** BigInt(ownDigits);
    const den = 10n ** BigInt(fraction.length + digits);
    rates.set(r.currency, { currency: r.currency, rate: r.rate, num, den });
  }
  compiled.set(organization, rates);
  return rates;
}

/** `amount` foreign minor units in organization minor units, rounded half up. */
function convertAmount(amount: number, r: CompiledRate): number {
  const product = BigInt(amount) * r.num;
  return Number((product * 2n + r.den) / (r.den * 2n));
}

/**
 * The check in the organization's currency when it came in a listed other one, with
 * what was applied; undefined when there is nothing to convert. A converted line or
 * total beyond the limits is refused naming it, as the doors refuse one sent so.
 */
export function convertCheck<T extends Check>(config: ConfigSnapshot, req: T): { req: T; conversion: CheckConversion } | undefined {
  const organization = config.organization;
  if (req.currency === organization.currency) return undefined;
  const r = currencyRatesOf(organization).get(req.currency);
  if (r === undefined) return undefined;
  const lines: CheckLine[] = new Array(req.lines.length);
  let total = 0;
  for (let i = 0; i < req.lines.length; i++) {
    const line = req.lines[i]!;
    const unitPrice = convertAmount(line.unitPrice, r);
    if (unitPrice > unit_price_minor_max) {
      throw new KopilkaError('invalid_field', `lines[${i}].unitPrice must be at most ${unit_price_minor_max} ${organization.currency} minor units once converted at ${r.rate}`, `lines[${i}].unitPrice`);
    }
    total += line.quantity * unitPrice;
    if (total > check_total_minor_max) {
      throw new KopilkaError('invalid_field', `lines must add up to at most ${check_total_minor_max} ${organization.currency} minor units once converted at ${r.rate}`, 'lines');
    }
    const out: CheckLine = { ...line, unitPrice };
    if (line.posDiscount !== undefined) {
      const posDiscount = Math.min(convertAmount(line.posDiscount, r), line.quantity * unitPrice);
      if (posDiscount > 0) out.posDiscount = posDiscount;
      else delete out.posDiscount;
    }
    lines[i] = out;
  }
  return {
    req: { ...req, currency: organization.currency, lines },
    conversion: { currency: req.currency, rate: r.rate, lines: req.lines },
  };
}

/**
 * A commit as the engine hands it to a shard: converted, with what was applied, so
 * that a retry is keyed by the check as the client sent it, not by its conversion.
 */
export type ConvertedCommitRequest = CommitRequest & { conversion?: CheckConversion };
