import type { Store } from '../store/store.js';
import { hashSecretSync, newToken, sha256, verifySecret } from '../secrets.js';
import type { Clock } from '../../kernel/clock.js';

/**
 * Device tokens: issued or rotated by `facility-hub device token ID` (also while the hub
 * runs: the hub reads the stored hash on every connect, and closes connections admitted
 * under a token that has since been rotated), kept only as scrypt hashes in the data dir,
 * never in the config file.
 */
export class DeviceTokens {
  /** deviceId → (stored hash, digest of the token that matched it), to spare scrypt on reconnects. */
  private readonly verified = new Map<string, { stored: string; digest: string }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Issues a new token (replacing any old one) and returns it; it is shown once. */
  issue(deviceId: string): string {
    const token = newToken('fhd');
    this.store.writeNow(() => {
      this.store.db
        .prepare('INSERT INTO device_tokens (device_id, hash, issued_at) VALUES (?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET hash = excluded.hash, issued_at = excluded.issued_at')
        .run(deviceId, hashSecretSync(token), this.clock.now());
    });
    this.verified.delete(deviceId);
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
    const digest = sha256(token);
    const cached = this.verified.get(deviceId);
    if (cached && cached.stored === stored && cached.digest === digest) return stored;
    const ok = await verifySecret(token, stored);
    if (!ok) return null;
    this.verified.set(deviceId, { stored, digest });
    return stored;
  }

  /** The stored hash of every device's current token, read in one query. */
  current(): Map<string, string> {
    const rows = this.store.stmt('SELECT device_id, hash FROM device_tokens').all() as { device_id: string; hash: string }[];
    return new Map(rows.map((r) => [r.device_id, r.hash]));
  }

  private storedHash(deviceId: string): string | null {
    const row = this.store.stmt('SELECT hash FROM device_tokens WHERE device_id = ?').get(deviceId) as { hash: string } | undefined;
    return row?.hash ?? null;
  }
}
