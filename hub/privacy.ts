import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hmac } from './secrets.js';

/**
 * Resident identity numbers (GB 11643-1999) never leave this module in clear: the hub
 * keeps a keyed hash (HMAC-SHA256 with a key that lives only in the data dir) to match
 * people, and a masked form (`4107**********123X`) to show them.
 */
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS = '10X98765432';

export type IdCheck = { ok: true; normalized: string } | { ok: false; reason: string };

/** Validates format, birth date and the ISO 7064 MOD 11-2 check digit. */
export function checkIdNumber(raw: unknown): IdCheck {
  if (typeof raw !== 'string') return { ok: false, reason: 'not a string' };
  const id = raw.trim().toUpperCase();
  if (!/^\d{17}[\dX]$/.test(id)) return { ok: false, reason: 'must be 17 digits and a digit or X' };
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(id[i]) * WEIGHTS[i]!;
  if (CHECK_CHARS[sum % 11] !== id[17]) return { ok: false, reason: 'check digit does not match' };
  const y = Number(id.slice(6, 10));
  const m = Number(id.slice(10, 12));
  const d = Number(id.slice(12, 14));
  const date = new Date(Date.UTC(y, m - 1, d));
  if (y < 1900 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return { ok: false, reason: 'birth date is not a real date' };
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

export class IdHasher {
  private constructor(private readonly key: Buffer) {}

  /** Loads the key from the data dir, creating it (mode 0600) on first use. */
  static fromDataDir(dataDir: string): IdHasher {
    mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, 'id-hash.key');
    if (!existsSync(file)) {
      writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
    }
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
    if (key.length < 32) throw new Error(`${file}: the ID hash key is damaged (expected 64 hex characters)`);
    return new IdHasher(key);
  }

  hash(normalizedId: string): string {
    return hmac(this.key, `id:${normalizedId}`);
  }

  /**
   * The key a gate uses for its offline allow-list: derived per gate, so one gate's list
   * cannot be matched with another gate's key.
   */
  gateKey(gateId: string): string {
    return hmac(this.key, `gate-allow-list:${gateId}`);
  }
}

/** The hash a gate computes offline for an ID number with its key. */
export function gateHash(gateKeyHex: string, normalizedId: string): string {
  return hmac(Buffer.from(gateKeyHex, 'hex'), `id:${normalizedId}`);
}
