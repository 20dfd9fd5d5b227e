import { pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * Mosquitto's own password hash (format `$7$`, written by `mosquitto_passwd` since 2.0):
 * `$7$ITERATIONS$base64(salt)$base64(PBKDF2-HMAC-SHA512(password, salt, ITERATIONS, 64 bytes))`,
 * with a 12-byte salt and 101 iterations (Mosquitto's defaults, SALT_LEN and
 * PW_DEFAULT_ITERATIONS in its src/password_mosq.c), standard base64 with padding.
 *
 * The hub keeps its tokens as SHA-256 digests, which Mosquitto cannot check; so when a
 * token is issued or rotated, this hash is computed from the plaintext at that moment and
 * stored beside the digest, for `facility-hub export mosquitto`. The tokens are 256 random
 * bits: 101 iterations are what Mosquitto expects, not what protects them.
 */
export const MOSQUITTO_ITERATIONS = 101;
export const MOSQUITTO_SALT_BYTES = 12;
const KEY_BYTES = 64;

export function mosquittoHash(token: string, salt: Buffer = randomBytes(MOSQUITTO_SALT_BYTES)): string {
  if (salt.length === 0) throw new Error('mosquittoHash: salt must not be empty');
  const key = pbkdf2Sync(Buffer.from(token, 'utf8'), salt, MOSQUITTO_ITERATIONS, KEY_BYTES, 'sha512');
  return `$7$${MOSQUITTO_ITERATIONS}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** A stored value that has the shape of a `$7$` hash (what the export accepts from the store). */
export function isMosquittoHash(value: string): boolean {
  return /^\$7\$[1-9][0-9]{0,6}\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]{86}==$/.test(value);
}
