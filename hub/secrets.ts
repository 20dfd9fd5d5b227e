import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { hash as argon2Hash, hashSync as argon2HashSync, verify as argon2Verify, type Algorithm } from '@node-rs/argon2';

/**
 * Password hashing: Argon2id with OWASP's first recommended parameter set (Password
 * Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1); about 50 ms per hash on this machine
 * class, computed on libuv's thread pool so logins do not block the event loop.
 */
export const ARGON2 = { memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const; // memoryCost in KiB

/** `Algorithm.Argon2id` (a const enum, which isolated modules cannot read). */
const ARGON2ID = 2 as Algorithm;
const ARGON2_OPTIONS = { algorithm: ARGON2ID, ...ARGON2, outputLen: 32 };

/**
 * `$argon2id$v=19$m=…,t=…,p=…$salt$hash` in the PHC string format, salt of at least
 * 16 and hash of at least 32 bytes (base64 without padding). Anything else is malformed
 * and never verifies (an empty hash part once verified every password).
 */
const ARGON2ID_PHC = /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,2})\$([A-Za-z0-9+/]{22,})\$([A-Za-z0-9+/]{43,})$/;

/** Legacy scrypt format written before Argon2id: `scrypt$N$r$p$salt$hash` (base64url). */
const SCRYPT = /^scrypt\$(\d{1,8})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{22,})\$([A-Za-z0-9_-]{43,})$/;

export function hashPasswordSync(password: string): string {
  return argon2HashSync(password, ARGON2_OPTIONS);
}

export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, ARGON2_OPTIONS);
}

export interface PasswordCheck {
  ok: boolean;
  /** The stored hash is of an older kind or weaker parameters: store a new one now that the password is known. */
  upgrade: boolean;
}

const NO: PasswordCheck = { ok: false, upgrade: false };

/**
 * Verifies a password against a stored hash. A hash that does not parse strictly
 * (wrong prefix, empty or short salt or hash, absurd parameters) answers "no", never
 * an error and never "yes".
 */
export async function verifyPassword(password: string, stored: string): Promise<PasswordCheck> {
  const a = ARGON2ID_PHC.exec(stored);
  if (a) {
    const [m, t, p] = [Number(a[1]), Number(a[2]), Number(a[3])];
    // Bounds keep a planted hash from costing gigabytes (m is in KiB: at most 1 GiB).
    if (m < 8 * p || m > 1024 * 1024 || t < 1 || p < 1) return NO;
    try {
      const ok = await argon2Verify(stored, password);
      return { ok, upgrade: ok && (m < ARGON2.memoryCost || t < ARGON2.timeCost) };
    } catch {
      return NO;
    }
  }
  const s = SCRYPT.exec(stored);
  if (s) {
    const [n, r, p] = [Number(s[1]), Number(s[2]), Number(s[3])];
    // N a power of two between 2^14 (what was written) and 2^20.
    if (n < 16384 || n > 1 << 20 || (n & (n - 1)) !== 0 || r < 1 || p < 1) return NO;
    const salt = Buffer.from(s[4] as string, 'base64url');
    const expected = Buffer.from(s[5] as string, 'base64url');
    if (salt.length < 16 || expected.length < 32) return NO;
    const ok = await new Promise<boolean>((resolve) => {
      scrypt(password, salt, expected.length, { N: n, r, p, maxmem: 256 * 1024 * 1024 }, (err, key) => {
        resolve(!err && key.length === expected.length && timingSafeEqual(key, expected));
      });
    });
    return { ok, upgrade: ok };
  }
  return NO;
}

/** A random secret of 32 bytes, URL-safe, with a prefix that tells what it is. */
export function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** For high-entropy bearer tokens a fast digest suffices as the stored lookup key. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Compares two hex digests of equal length in constant time (false when lengths differ). */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

export function hmac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}
