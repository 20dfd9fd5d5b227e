import { createHash, createHmac, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * scrypt parameters: N=2^14, r=8, p=1 (about 16 MiB and a few tens of ms per hash on
 * this machine class): what OWASP lists as a sound minimum for scrypt.
 */
const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

function encode(salt: Buffer, hash: Buffer): string {
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export function hashSecretSync(secret: string): string {
  const salt = randomBytes(16);
  return encode(salt, scryptSync(secret, salt, KEYLEN, { N, r: R, p: P }));
}

export function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEYLEN, { N, r: R, p: P }, (err, key) => (err ? reject(err) : resolve(encode(salt, key))));
  });
}

/** Verifies on the thread pool, so a burst of logins or device connects does not block the loop. */
export function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return Promise.resolve(false);
  const [, n, r, p, saltB64, hashB64] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hashB64, 'base64url');
  return new Promise((resolve) => {
    scrypt(secret, Buffer.from(saltB64, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 64 * 1024 * 1024 }, (err, key) => {
      resolve(!err && key.length === expected.length && timingSafeEqual(key, expected));
    });
  });
}

/** A random secret of 32 bytes, URL-safe, with a prefix that tells what it is. */
export function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** For high-entropy bearer tokens a fast digest suffices as the stored lookup key. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function hmac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}
