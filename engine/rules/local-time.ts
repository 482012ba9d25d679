// Local calendar parts of a moment in an IANA time zone, from Intl.DateTimeFormat
// (the platform's tz database: no table of our own to keep up to date). Periods,
// birthdays and CEL's `time` all read these parts, computed once per evaluation.

const DAY_MS = 86_400_000;

export interface LocalTime {
  year: number;
  /** 1..12 */
  month: number;
  /** 1..31 */
  day: number;
  /** ISO weekday: 1 = Monday .. 7 = Sunday. */
  weekday: number;
  hour: number;
  minute: number;
  /** hour × 60 + minute. */
  minuteOfDay: number;
  /** Days from 1970-01-01 to the local date. */
  dayNumber: number;
  daysInMonth: number;
  /** `YYYY-MM-DD` */
  date: string;
}

interface ZoneCache {
  format: Intl.DateTimeFormat;
  /** Numbers the zones in the order first asked, for numeric keys of `days`. */
  id: number;
  // One entry: the checks of one till arrive minute after minute, and the offset
  // of a zone never changes inside a minute.
  minute: number;
  parts: LocalTime | null;
}

// Bounded by the number of IANA zones (~600), each validated before it gets here.
const zones = new Map<string, ZoneCache>();

function zone(timeZone: string): ZoneCache {
  let z = zones.get(timeZone);
  if (z === undefined) {
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    z = { format, id: zones.size, minute: NaN, parts: null };
    zones.set(timeZone, z);
  }
  return z;
}

/** True when the platform knows the IANA zone. */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

export function dayNumberOf(year: number, month: number, day: number): number {
  return Math.floor(Date.UTC(year, month - 1, day) / DAY_MS);
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Local parts of the moment; the last minute asked of each zone is remembered. */
export function localTime(epochMs: number, timeZone: string): LocalTime {
  const z = zone(timeZone);
  const minute = Math.floor(epochMs / 60_000);
  if (z.minute === minute && z.parts !== null) return z.parts;
  const parts = computeParts(z.format, epochMs);
  z.minute = minute;
  z.parts = parts;
  return parts;
}

// Local dates of other moments (registration dates), remembered per zone and
// minute under a numeric key (minute × zones_keyed_max + zone id: exact, and no
// string to build per check); cleared when full, so it stays bounded.
const days = new Map<number, number>();
const days_cached_max = 10_000;
const zones_keyed_max = 4_096;

/** The local day number of another moment (a registration date), without disturbing the remembered minute. */
export function localDayNumber(epochMs: number, timeZone: string): number {
  const z = zone(timeZone);
  if (z.id >= zones_keyed_max) return computeParts(z.format, epochMs).dayNumber;
  const key = Math.floor(epochMs / 60_000) * zones_keyed_max + z.id;
  let day = days.get(key);
  if (day === undefined) {
    day = computeParts(z.format, epochMs).dayNumber;
    if (days.size >= days_cached_max) days.clear();
    days.set(key, day);
  }
  return day;
}

function computeParts(format: Intl.DateTimeFormat, epochMs: number): LocalTime {
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let min = 0;
  for (const p of format.formatToParts(epochMs)) {
    switch (p.type) {
      case 'year': year = Number(p.value); break;
      case 'month': month = Number(p.value); break;
      case 'day': day = Number(p.value); break;
      case 'hour': hour = Number(p.value); break;
      case 'minute': min = Number(p.value); break;
    }
  }
  const dayNumber = dayNumberOf(year, month, day);
  const parts: LocalTime = Object.freeze({
    year,
    month,
    day,
    weekday: ((((dayNumber + 3) % 7) + 7) % 7) + 1, // 1970-01-01 was a Thursday (4)
    hour,
    minute: min,
    minuteOfDay: hour * 60 + min,
    dayNumber,
    daysInMonth: daysInMonth(year, month),
    date: `${year}-${pad2(month)}-${pad2(day)}`,
  });
  return parts;
}
