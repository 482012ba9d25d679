// Calendar arithmetic in the organization's time zone: points activate and expire
// at local midnight, whatever the server's zone. Local parts come from the one
// per-zone formatter the rules use (rules/local-time.ts).

import { daysInMonth, localTime } from './rules/local-time.js';

export interface LocalDate {
  year: number;
  /** 1..12 */
  month: number;
  day: number;
}

export function localDate(ms: number, timeZone: string): LocalDate {
  const p = localTime(ms, timeZone);
  return { year: p.year, month: p.month, day: p.day };
}

/** Milliseconds the zone is ahead of UTC at `ms` (zones' offsets are whole minutes). */
function offsetAt(ms: number, timeZone: string): number {
  const p = localTime(ms, timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - Math.floor(ms / 60_000) * 60_000;
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
  const lastDay = daysInMonth(year, month + 1);
  const shifted = new Date(Date.UTC(year, month, Math.min(date.day, lastDay) + days));
  return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth() + 1, day: shifted.getUTCDate() };
}

/** Local midnight `months`/`days` after the local day of `ms`. */
export function localMidnightAfter(ms: number, timeZone: string, months: number, days: number): number {
  return localMidnight(addToDate(localDate(ms, timeZone), months, days), timeZone);
}
