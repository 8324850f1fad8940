/**
 * `since=` / `until=` of /api/violations: an RFC 3339 date-time read into the ISO form violations
 * carry (`2026-11-25T12:00:00.000Z`, compared as strings by the store). Read here rather than by
 * `new Date()`: RFC 3339 allows a leap second (`23:59:60`), which the schema's date-time format
 * accepts and `Date` does not (an Invalid Date whose toISOString() throws). POSIX clocks, and so
 * every `time` daxmon writes, never show a leap second, so `:60` reads as the last millisecond of
 * its minute: `since=…23:59:60Z` keeps what came after it, `until=` what came before.
 *
 * Only instants within years 0000–9999 UTC: outside them toISOString() writes a six-digit year
 * (`+010000-01-01…`, `-000001-…`) that sorts below every four-digit year as a string, so
 * `since=9999-12-31T23:59:59-23:59` would have kept every violation. A 400 instead.
 */
import { DaxmonError } from '../errors.js';

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, the instants a four-digit ISO year holds. */
const FIRST_MS = -62_167_219_200_000;
const LAST_MS = 253_402_300_799_999;

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The instant `s` names, as an ISO string; DAXMON_E_API_QUERY (400) when it is not a date-time. */
export function isoInstant(param: string, s: string): string {
  const m = RFC3339.exec(s);
  const bad = () =>
    new DaxmonError(
      'DAXMON_E_API_QUERY',
      `${param}: ${JSON.stringify(s)} is not an RFC 3339 date-time (2026-11-25T12:00:00Z)`,
    );
  if (!m) throw bad();
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const maxDay = mo === 2 && !leap ? 28 : (DAYS[mo - 1] ?? 0);
  const offH = m[10] === undefined ? 0 : Number(m[10]);
  const offM = m[11] === undefined ? 0 : Number(m[11]);
  if (mo < 1 || mo > 12 || d < 1 || d > maxDay || h > 23 || mi > 59 || sec > 60 || offH > 23 || offM > 59)
    throw bad();
  const ms = sec === 60 ? 999 : Math.floor(Number(`0.${m[7] ?? '0'}`) * 1000);
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: the latter reads years 0–99 as 1900–1999.
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, Math.min(sec, 59), ms);
  const sign = m[9] === '-' ? -1 : 1;
  const t = date.getTime() - sign * (offH * 60 + offM) * 60_000;
  if (t < FIRST_MS || t > LAST_MS)
    throw new DaxmonError(
      'DAXMON_E_API_QUERY',
      `${param}: ${JSON.stringify(s)} is outside years 0000–9999 UTC`,
    );
  return new Date(t).toISOString();
}
