import type { Store } from './store/store.js';
import { hashSecret, hashSecretSync, newToken, sha256, verifySecret } from './secrets.js';
import type { Clock } from '../kernel/clock.js';

export const ROLES = ['admin', 'supervisor', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  username: string;
  displayName: string;
  role: Role;
}

interface UserRow {
  username: string;
  display_name: string;
  role: Role;
  hash: string;
  disabled: number;
}

/** Bearer tokens last this long (8 hours: one working day of a supervisor). */
export const TOKEN_TTL_MS = 8 * 60 * 60 * 1000;

/**
 * Users with scrypt password hashes and bearer tokens stored as SHA-256 digests (the
 * token itself is 256 random bits, so the digest cannot be reversed by guessing).
 */
export class Users {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  count(): number {
    return (this.store.stmt('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
  }

  /** Creates a user synchronously (start-up and CLI paths). */
  createSync(username: string, role: Role, password: string, displayName = username): void {
    this.store.writeNow(() => {
      this.store.db
        .prepare('INSERT INTO users (username, display_name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(username, displayName, role, hashSecretSync(password), this.clock.now());
    });
  }

  async create(username: string, role: Role, password: string, displayName = username): Promise<void> {
    const hash = await hashSecret(password);
    await this.store.write(() =>
      this.store.db
        .prepare('INSERT INTO users (username, display_name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(username, displayName, role, hash, this.clock.now()),
    );
  }

  get(username: string): User | null {
    const row = this.store.stmt('SELECT * FROM users WHERE username = ? AND disabled = 0').get(username) as UserRow | undefined;
    return row ? { username: row.username, displayName: row.display_name, role: row.role } : null;
  }

  /** Checks the password and issues a token; null for a wrong name or password alike. */
  async login(username: string, password: string): Promise<{ token: string; expiresAt: number; user: User } | null> {
    const row = this.store.stmt('SELECT * FROM users WHERE username = ? AND disabled = 0').get(username) as UserRow | undefined;
    // Verify against a dummy hash for unknown users so timing does not reveal which names exist.
    const ok = await verifySecret(password, row?.hash ?? DUMMY_HASH);
    if (!row || !ok) return null;
    const token = newToken('fht');
    const expiresAt = this.clock.now() + TOKEN_TTL_MS;
    await this.store.write(() => {
      this.store.stmt('DELETE FROM api_tokens WHERE expires_at < ?').run(this.clock.now());
      this.store.stmt('INSERT INTO api_tokens (token_hash, username, issued_at, expires_at) VALUES (?, ?, ?, ?)').run(sha256(token), username, this.clock.now(), expiresAt);
    });
    return { token, expiresAt, user: { username: row.username, displayName: row.display_name, role: row.role } };
  }

  /** The user behind a bearer token, 'expired', or null when unknown. */
  authenticate(token: string): User | 'expired' | null {
    const row = this.store.db
      .prepare('SELECT t.expires_at, u.* FROM api_tokens t JOIN users u ON u.username = t.username WHERE t.token_hash = ? AND u.disabled = 0')
      .get(sha256(token)) as (UserRow & { expires_at: number }) | undefined;
    if (!row) return null;
    if (row.expires_at <= this.clock.now()) return 'expired';
    return { username: row.username, displayName: row.display_name, role: row.role };
  }

  async logout(token: string): Promise<void> {
    await this.store.write(() => this.store.stmt('DELETE FROM api_tokens WHERE token_hash = ?').run(sha256(token)));
  }
}

const DUMMY_HASH = hashSecretSync('not-a-real-password');
