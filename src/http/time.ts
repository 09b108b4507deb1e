import { Rejection } from '../domain/errors.ts';

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * The instants RFC 3339 can write in UTC (four-digit years). An offset can carry a local
 * year 9999 past them ("9999-12-31T23:59:59-10:00"), and toISOString would then answer
 * "+010000-...", which no client parses as RFC 3339.
 */
const utc_ms_min = Date.parse('0000-01-01T00:00:00Z');
const utc_ms_max = Date.parse('9999-12-31T23:59:59.999Z');

/** Parses an RFC 3339 date-time to epoch ms, refusing impossible dates (Feb 30) that Date.parse rolls over. */
export function parseTimestampMs(text: string, param: string): number {
  const m = rfc3339.exec(text);
  const ms = m ? Date.parse(text.toUpperCase()) : Number.NaN;
  if (!m || !Number.isSafeInteger(ms)) throw new Rejection('invalid_request', 'must be an RFC 3339 date-time', param);
  if (ms < utc_ms_min || ms > utc_ms_max) {
    throw new Rejection('invalid_request', 'must be between years 0000 and 9999 in UTC', param);
  }
  const [, y, mo, d, h, mi, s] = m.map(Number);
  // Date.UTC reads years 0-99 as 1900-1999; setUTCFullYear takes the year as written.
  const local = new Date(Date.UTC(2000, (mo ?? 1) - 1, d ?? 0, h ?? 0, mi ?? 0, s ?? 0));
  local.setUTCFullYear(y ?? 0, (mo ?? 1) - 1, d ?? 0);
  const exact =
    local.getUTCFullYear() === y &&
    local.getUTCMonth() + 1 === mo &&
    local.getUTCDate() === d &&
    local.getUTCHours() === h;
  if (!exact || (mi ?? 60) > 59 || (s ?? 60) > 59) {
    throw new Rejection('invalid_request', 'is not a real date and time', param);
  }
  return ms;
}

// The last two instants formatted: the redemptions of one batch share their created and
// updated instant (and their hold expiry), so most answers format nothing.
let last_ms = Number.NaN;
let last_text = '';
let prev_ms = Number.NaN;
let prev_text = '';

/** Epoch ms to RFC 3339 UTC, without a fraction when it is zero: `2019-01-01T00:00:00Z`. */
export function formatTimestamp(ms: number): string {
  if (ms === last_ms) return last_text;
  if (ms === prev_ms) return prev_text;
  const text = new Date(ms).toISOString().replace('.000Z', 'Z');
  prev_ms = last_ms;
  prev_text = last_text;
  last_ms = ms;
  last_text = text;
  return text;
}

export function formatNullableTimestamp(ms: number | null): string | null {
  return ms === null ? null : formatTimestamp(ms);
}
