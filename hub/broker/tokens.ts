import type { Store } from '../store/store.js';
import { hashSecretSync, newToken, sha256, verifySecret } from '../secrets.js';
import type { Clock } from '../clock.js';

/**
 * Device tokens: issued or rotated by `facility-hub device token ID` (also while the hub
 * runs: the hub reads the stored hash on every connect), kept only as scrypt hashes in
 * the data dir, never in the config file.
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
    const stored = this.storedHash(deviceId);
    if (stored === null) return false;
    const digest = sha256(token);
    const cached = this.verified.get(deviceId);
    if (cached && cached.stored === stored && cached.digest === digest) return true;
    const ok = await verifySecret(token, stored);
    if (ok) this.verified.set(deviceId, { stored, digest });
    return ok;
  }

  private storedHash(deviceId: string): string | null {
    const row = this.store.stmt('SELECT hash FROM device_tokens WHERE device_id = ?').get(deviceId) as { hash: string } | undefined;
    return row?.hash ?? null;
  }
}
