/**
 * Resident identity numbers (GB 11643-1999): format, birth date and check digit, and the
 * masked form people see. Pure functions, shared by the hub's check-in and the simulated
 * gates' test people; keyed hashing stays in `hub/privacy.ts`.
 */
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS = '10X98765432';

export type IdCheck = { ok: true; normalized: string } | { ok: false; reason: string };

/**
 * Validates format, birth date and the ISO 7064 MOD 11-2 check digit, exactly as given:
 * whitespace or control characters anywhere make it invalid (a gate that sends
 * "…123X\n" is faulty or forged, and is not to be "repaired" here). A roster import
 * may trim its cells before calling this; a gate request never is. `now` (epoch ms, from
 * the caller's injected clock) bounds the birth date: a valid check digit is easy to
 * compute for the year 3000, so the date must also be a real day that has already begun.
 */
export function checkIdNumber(raw: unknown, now: number): IdCheck {
  if (typeof raw !== 'string') return { ok: false, reason: 'not a string' };
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f-\u009f]/u.test(raw)) return { ok: false, reason: 'contains whitespace or control characters' };
  const id = raw.toUpperCase();
  if (!/^\d{17}[\dX]$/.test(id)) return { ok: false, reason: 'must be 17 digits and a digit or X' };
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(id[i]) * WEIGHTS[i]!;
  if (CHECK_CHARS[sum % 11] !== id[17]) return { ok: false, reason: 'check digit does not match' };
  const y = Number(id.slice(6, 10));
  const m = Number(id.slice(10, 12));
  const d = Number(id.slice(12, 14));
  const date = new Date(Date.UTC(y, m - 1, d));
  if (y < 1900 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return { ok: false, reason: 'birth date is not a real date' };
  // The birth date is a local date: it has begun once it has begun anywhere (UTC+14 is 14 h ahead).
  if (date.getTime() - 14 * 3_600_000 > now) return { ok: false, reason: 'birth date is in the future' };
  return { ok: true, normalized: id };
}

/** Computes the check character for 17 digits (for test data and simulators). */
export function checkCharFor(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]!;
  return CHECK_CHARS[sum % 11]!;
}

export function maskIdNumber(id: string): string {
  const s = id.trim().toUpperCase();
  if (s.length < 8) return '*'.repeat(s.length);
  return `${s.slice(0, 4)}${'*'.repeat(s.length - 8)}${s.slice(-4)}`;
}
