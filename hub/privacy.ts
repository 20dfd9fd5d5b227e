import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hmac } from './secrets.js';

/**
 * Resident identity numbers (GB 11643-1999) never leave this module in clear: the hub
 * keeps a keyed hash (HMAC-SHA256 with a key that lives only in the data dir) to match
 * people, and a masked form (`4107**********123X`) to show them.
 */
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
