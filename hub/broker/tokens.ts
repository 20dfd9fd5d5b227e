import type { Store } from '../store/store.js';
import { newToken, sameDigest, sha256, verifyPassword } from '../secrets.js';
import type { Clock } from '../../kernel/clock.js';
import { mosquittoHash } from './mosquitto-hash.js';

/** How a token is stored now: its SHA-256, hex. */
const PREFIX = 'sha256$';

/**
 * Device tokens: issued or rotated by `facility-hub device token ID` (also while the hub
 * runs: the hub reads the stored hash on every connect, and closes connections admitted
 * under a token that has since been rotated), kept only hashed in the data dir, never in
 * the config file.
 *
 * A token is 256 random bits, so a plain SHA-256 of it cannot be reversed by guessing and
 * a wrong token costs one hash, not a slow KDF (a flood of CONNECTs naming a real device
 * is cheap to refuse). Rows written before that are scrypt hashes: they still verify,
 * and are replaced by the SHA-256 form at the device's first successful connect.
 *
 * Beside the digest, each token issued keeps Mosquitto's `$7$` hash of it (mosquitto-hash.ts)
 * for `facility-hub export mosquitto`. A row from before that gets it at the device's next
 * successful connect, the one moment the plaintext is known again.
 */
export class DeviceTokens {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Issues a new token (replacing any old one) and returns it; it is shown once. */
  issue(deviceId: string): string {
    const token = newToken('fhd');
    this.store.writeNow(() => {
      this.store.db
        .prepare(
          'INSERT INTO device_tokens (device_id, hash, issued_at, mosquitto_hash) VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET hash = excluded.hash, issued_at = excluded.issued_at, mosquitto_hash = excluded.mosquitto_hash',
        )
        .run(deviceId, PREFIX + sha256(token), this.clock.now(), mosquittoHash(token));
    });
    return token;
  }

  has(deviceId: string): boolean {
    return this.storedHash(deviceId) !== null;
  }

  async verify(deviceId: string, token: string): Promise<boolean> {
    return (await this.check(deviceId, token)) !== null;
  }

  /**
   * Checks a token; on success answers the stored hash it matched, which identifies the
   * token version a connection was admitted under (see `current`).
   */
  async check(deviceId: string, token: string): Promise<string | null> {
    const stored = this.storedHash(deviceId);
    if (stored === null) return null;
    const digest = PREFIX + sha256(token);
    if (stored.startsWith(PREFIX)) {
      if (!sameDigest(stored, digest)) return null;
      await this.keepMosquittoHash(deviceId, stored, token);
      return stored;
    }
    // A row from before SHA-256: verify the old way once, then store the new form (only
    // if the row was not rotated meanwhile), and answer the new form as the version.
    const legacy = await verifyPassword(token, stored);
    if (!legacy.ok) return null;
    const upgraded = await this.store.write(() => this.store.stmt('UPDATE device_tokens SET hash = ?, mosquitto_hash = ? WHERE device_id = ? AND hash = ?').run(digest, mosquittoHash(token), deviceId, stored).changes);
    return upgraded === 1 ? digest : (this.storedHash(deviceId) === digest ? digest : null);
  }

  /** The stored hash of every device's current token, read in one query. */
  current(): Map<string, string> {
    const rows = this.store.stmt('SELECT device_id, hash FROM device_tokens').all() as { device_id: string; hash: string }[];
    return new Map(rows.map((r) => [r.device_id, r.hash]));
  }

  /** Every device's Mosquitto hash, null where its token predates them (export mosquitto). */
  mosquittoHashes(): Map<string, string | null> {
    const rows = this.store.stmt('SELECT device_id, mosquitto_hash FROM device_tokens').all() as { device_id: string; mosquitto_hash: string | null }[];
    return new Map(rows.map((r) => [r.device_id, r.mosquitto_hash]));
  }

  /** A verified token whose row has no Mosquitto hash yet: store one (only if the row was not rotated meanwhile). */
  private async keepMosquittoHash(deviceId: string, stored: string, token: string): Promise<void> {
    const row = this.store.stmt('SELECT mosquitto_hash FROM device_tokens WHERE device_id = ?').get(deviceId) as { mosquitto_hash: string | null } | undefined;
    if (!row || row.mosquitto_hash !== null) return;
    await this.store.write(() => this.store.stmt('UPDATE device_tokens SET mosquitto_hash = ? WHERE device_id = ? AND hash = ? AND mosquitto_hash IS NULL').run(mosquittoHash(token), deviceId, stored));
  }

  private storedHash(deviceId: string): string | null {
    const row = this.store.stmt('SELECT hash FROM device_tokens WHERE device_id = ?').get(deviceId) as { hash: string } | undefined;
    return row?.hash ?? null;
  }
}
