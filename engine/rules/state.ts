// What one evaluation derives from its context once, for every compiled closure to
// read: local time parts, lines with their catalog tags, the lines each line match
// selects, the guest's birthday, age and days since registration, and the CEL
// variables (built only when a CEL condition asks). Nothing here outlives the
// evaluation but the period answers, which belong to the compiled rules.

import { CelInput, type CelData } from './cel.js';
import type { LineMatches, PeriodAnswers, Selection } from './compile.js';
import { dayNumberOf, localDayNumber, localTime, type LocalTime } from './local-time.js';
import type { RulesContext } from './model.js';

export interface PreparedLine {
  index: number;
  itemCode: string;
  category: string;
  tags: readonly string[];
  quantity: number;
  unitPrice: number;
  /** quantity × unitPrice − posDiscount, never below 0. */
  sum: number;
  /** The POS applied a promotion of its own to the line. */
  pos: boolean;
}

export interface Birthday {
  /** null when only the month and day are known. */
  year: number | null;
  month: number;
  day: number;
}

const NO_TAGS: readonly string[] = Object.freeze([]);

/** The number of `count` ASCII digits at `from`, or -1. */
function digitsAt(s: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** `YYYY-MM-DD` or `--MM-DD` (as /^(?:(\d{4})|-)-(\d{2})-(\d{2})$/ reads it), read by hand: once per check. */
export function parseBirthday(value: string | undefined): Birthday | null {
  if (value === undefined) return null;
  const v = typeof value === 'string' ? value : String(value);
  let year: number | null;
  if (v.length === 10) {
    year = digitsAt(v, 0, 4);
    if (year < 0) return null;
  } else if (v.length === 7 && v.charCodeAt(0) === 45) {
    year = null;
  } else {
    return null;
  }
  const at = v.length - 6; // -MM-DD
  if (v.charCodeAt(at) !== 45 || v.charCodeAt(at + 3) !== 45) return null;
  const month = digitsAt(v, at + 1, 2);
  const day = digitsAt(v, at + 4, 2);
  if (month < 1 || month > 12 || day < 1 || day > 31) return null;
  return { year, month, day };
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** The birthday's day number in `year`; 29 February is kept on the 28th in other years. */
function birthdayIn(b: Birthday, year: number): number {
  const day = b.month === 2 && b.day === 29 && !isLeap(year) ? 28 : b.day;
  return dayNumberOf(year, b.month, day);
}

/** Is the local date within birthday − before .. birthday + after (windows cross the new year)? */
export function inBirthdayWindow(b: Birthday, local: LocalTime, before: number, after: number): boolean {
  for (let y = local.year - 1; y <= local.year + 1; y++) {
    const d = birthdayIn(b, y);
    if (local.dayNumber >= d - before && local.dayNumber <= d + after) return true;
  }
  return false;
}

export class EvalState {
  readonly local: LocalTime;
  readonly lines: PreparedLine[];
  /** Σ line sums, minor units. */
  readonly total: number;
  /** Σ quantities. */
  readonly quantity: number;
  readonly anyPos: boolean;
  /** Set by a CEL condition that stopped on an error, for the explanation. */
  celError: string | null = null;
  #birthday: Birthday | null | undefined = undefined;
  #registeredDays: number | undefined = undefined;
  #cel: CelInput | undefined = undefined;
  readonly #matches: LineMatches;
  /** Per line match: the indexes of the lines it selects, ascending, once asked. */
  #selection: Selection | undefined;

  constructor(
    readonly ctx: RulesContext,
    readonly timeZone: string,
    itemTags: ReadonlyMap<string, readonly string[]>,
    matches: LineMatches,
    readonly periods: PeriodAnswers,
  ) {
    this.local = localTime(ctx.time, timeZone);
    periods.begin(this.local);
    this.#matches = matches;
    const src = ctx.check.lines;
    const lines = new Array<PreparedLine>(src.length);
    let total = 0;
    let quantity = 0;
    let anyPos = false;
    for (let i = 0; i < src.length; i++) {
      const l = src[i]!;
      const posDiscount = l.posDiscount ?? 0;
      const sum = Math.max(0, l.quantity * l.unitPrice - posDiscount);
      const pos = l.posPromotion === true || posDiscount > 0;
      lines[i] = {
        index: i,
        itemCode: l.itemCode,
        category: l.category ?? '',
        tags: itemTags.get(l.itemCode) ?? NO_TAGS,
        quantity: l.quantity,
        unitPrice: l.unitPrice,
        sum,
        pos,
      };
      total += sum;
      quantity += l.quantity;
      anyPos ||= pos;
    }
    this.lines = lines;
    this.total = total;
    this.quantity = quantity;
    this.anyPos = anyPos;
  }

  /**
   * The lines every line match (CompiledRules.lineMatches) selects: match k's are
   * selection.lines[k × stride .. end[k]), ascending. Every match's lines at once, on
   * the first ask: one pass over the check. Valid during this evaluation only (the
   * arrays are the compiled rules', reused by the next).
   */
  selection(): Selection {
    return (this.#selection ??= this.#matches.select(this.lines));
  }

  birthday(): Birthday | null {
    if (this.#birthday === undefined) this.#birthday = parseBirthday(this.ctx.guest.birthday);
    return this.#birthday;
  }

  /** Whole years on the local date; -1 when the year of birth is unknown. */
  age(): number {
    const b = this.birthday();
    if (b === null || b.year === null) return -1;
    const l = this.local;
    const before = l.month < b.month || (l.month === b.month && l.day < b.day);
    return l.year - b.year - (before ? 1 : 0);
  }

  /** Whole local days since registration; -1 when unknown. */
  registeredDays(): number {
    if (this.#registeredDays === undefined) {
      const at = this.ctx.guest.registeredAt;
      this.#registeredDays = at === undefined ? -1 : Math.max(0, this.local.dayNumber - localDayNumber(at, this.timeZone));
    }
    return this.#registeredDays;
  }

  /** The CEL variables, built on first read. */
  cel(): CelInput {
    if (this.#cel === undefined) this.#cel = new CelInput(() => this.celData());
    return this.#cel;
  }

  private celData(): CelData {
    const g = this.ctx.guest;
    const c = this.ctx.check;
    const b = this.birthday();
    const l = this.local;
    return {
      guest: {
        id: g.id,
        level: g.level ?? '',
        tags: g.tags ?? NO_TAGS,
        segments: g.segments ?? NO_TAGS,
        age: this.age(),
        birthday: b === null ? '' : `${b.month < 10 ? '0' : ''}${b.month}-${b.day < 10 ? '0' : ''}${b.day}`,
        registeredDays: this.registeredDays(),
        cardType: g.cardType ?? '',
        attributes: g.attributes ?? {},
        counters: g.counters ?? {},
      },
      check: {
        total: this.total,
        currency: c.currency,
        organization: c.organization ?? '',
        partner: c.partner ?? '',
        outlet: c.outlet,
        terminal: c.terminal ?? '',
        outletTags: c.outletTags ?? NO_TAGS,
        quantity: this.quantity,
        lines: this.lines,
      },
      accounts: g.balances ?? {},
      time: { year: l.year, month: l.month, day: l.day, weekday: l.weekday, hour: l.hour, minute: l.minute, date: l.date, epochMs: this.ctx.time },
    };
  }
}
