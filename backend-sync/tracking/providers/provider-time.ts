// Provider timestamps to epoch ms, strictly: only the ISO 8601 shapes the providers document,
// with every field range-checked (Date.parse alone accepts "2026-02-31" and many other
// shapes, and reads an offset-less time as local time of whatever machine runs it).

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

const DAY_MS = 86_400_000;

export type TimeParse = { ok: true; ms: number } | { ok: false; reason: string };

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function offsetMs(zone: string): number | undefined {
  if (zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const h = Number(digits.slice(0, 2));
  const m = Number(digits.slice(2, 4));
  if (h > 14 || m > 59) return undefined;
  return sign * (h * 60 + m) * 60_000;
}

export interface TimeOptions {
  /**
   * Accept a time without an offset and read it as UTC. AfterShip documents checkpoint times
   * in the checkpoint's local zone, sometimes without an offset; the zone is not in the
   * payload, so UTC is the only reading that does not depend on this machine (error ≤ 14 h).
   */
  localAsUtc?: boolean;
  /** Accept YYYY-MM-DD; it becomes the last millisecond of that day, UTC (a "by this date" promise). */
  dateOnlyAsEndOfDay?: boolean;
}

export function parseProviderTime(text: string, o: TimeOptions = {}): TimeParse {
  if (o.dateOnlyAsEndOfDay !== true && DATE_ONLY.test(text)) return { ok: false, reason: `date without a time: ${text}` };
  const w = readWallClock(text);
  if (!w.ok) return w;
  if (w.dateOnly) return { ok: true, ms: w.wallMs + DAY_MS - 1 };
  if (w.offsetMs === undefined && o.localAsUtc !== true) return { ok: false, reason: `date-time without an offset: ${text}` };
  const ms = w.wallMs - (w.offsetMs ?? 0);
  if (ms < 0) return { ok: false, reason: `before 1970: ${text}` };
  return { ok: true, ms };
}

/** A provider time as written: its wall-clock reading (as if UTC) and the offset, when it names one. */
export type WallClock = { ok: true; wallMs: number; offsetMs: number | undefined; dateOnly: boolean } | { ok: false; reason: string };

/**
 * Reads a time as written, without deciding its zone: a date alone, a time without an offset
 * or one with it, each range-checked. parseProviderTime decides the zone from its options;
 * the AfterShip adapter works a checkpoint's out from the rest of the payload.
 */
export function readWallClock(text: string): WallClock {
  const d = DATE_ONLY.exec(text);
  if (d !== null) {
    const [y, mo, day] = [Number(d[1]), Number(d[2]), Number(d[3])];
    if (mo < 1 || mo > 12 || day < 1 || day > daysIn(y, mo)) return { ok: false, reason: `not a calendar date: ${text}` };
    return { ok: true, wallMs: Date.UTC(y, mo - 1, day), offsetMs: undefined, dateOnly: true };
  }
  const m = INSTANT.exec(text);
  if (m === null) return { ok: false, reason: `not an ISO 8601 date-time: ${text.slice(0, 40)}` };
  const [y, mo, day, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i])) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || day < 1 || day > daysIn(y, mo) || h > 23 || mi > 59 || s > 59) return { ok: false, reason: `field out of range: ${text}` };
  const zone = m[8];
  const off = zone === undefined ? undefined : offsetMs(zone);
  if (zone !== undefined && off === undefined) return { ok: false, reason: `offset out of range: ${text}` };
  const frac = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  return { ok: true, wallMs: Date.UTC(y, mo - 1, day, h, mi, s, frac), offsetMs: off, dateOnly: false };
}
