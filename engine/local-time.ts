// Calendar arithmetic in the organization's time zone: points activate and expire
// at local midnight, whatever the server's zone. Formatters are made once per zone.

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export interface LocalDate {
  year: number;
  /** 1..12 */
  month: number;
  day: number;
}

function parts(ms: number, timeZone: string): LocalDate & { hour: number; minute: number; second: number } {
  const out: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(ms)) if (p.type !== 'literal') out[p.type] = Number(p.value);
  return { year: out.year!, month: out.month!, day: out.day!, hour: out.hour!, minute: out.minute!, second: out.second! };
}

export function localDate(ms: number, timeZone: string): LocalDate {
  const p = parts(ms, timeZone);
  return { year: p.year, month: p.month, day: p.day };
}

/** Milliseconds the zone is ahead of UTC at `ms`. */
function offsetAt(ms: number, timeZone: string): number {
  const p = parts(ms, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** Epoch ms of local midnight starting `date` in the zone. */
export function localMidnight(date: LocalDate, timeZone: string): number {
  const utcMidnight = Date.UTC(date.year, date.month - 1, date.day);
  // Two rounds settle the offset even across a daylight-saving change.
  let guess = utcMidnight - offsetAt(utcMidnight, timeZone);
  guess = utcMidnight - offsetAt(guess, timeZone);
  return guess;
}

/** The local date `days` and `months` after `date`; a day past a short month's end clamps to its last day. */
export function addToDate(date: LocalDate, months: number, days: number): LocalDate {
  const monthIndex = date.month - 1 + months;
  const year = date.year + Math.floor(monthIndex / 12);
  const month = ((monthIndex % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const shifted = new Date(Date.UTC(year, month, Math.min(date.day, lastDay) + days));
  return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: shifted.getUTCDate() };
}

/** Local midnight `months`/`days` after the local day of `ms`. */
export function localMidnightAfter(ms: number, timeZone: string, months: number, days: number): number {
  return localMidnight(addToDate(localDate(ms, timeZone), months, days), timeZone);
}
