import type { Store } from './store/store.js';
import type { EventLog } from './store/events.js';
import { hashPassword, hashPasswordSync, newToken, sha256, verifyPassword } from './secrets.js';
import type { Clock } from '../kernel/clock.js';
import type { Actor } from '../kernel/actor.js';
import { HubError } from './errors.js';

/**
 * admin: everything, users included; supervisor: watches sessions and warns experts;
 * operator: the devices (commands, alarms); platform: the trading platform's
 * integration account (sessions and rosters only); viewer: reads.
 */
export const ROLES = ['admin', 'supervisor', 'operator', 'platform', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  username: string;
  displayName: string;
  role: Role;
}

export interface UserInfo extends User {
  disabled: boolean;
  createdAt: number;
}

interface UserRow {
  username: string;
  display_name: string;
  role: Role;
  hash: string;
  disabled: number;
  created_at: number;
}

/** Bearer tokens last this long (8 hours: one working day of a supervisor). */
export const TOKEN_TTL_MS = 8 * 60 * 60 * 1000;

/** Lower-case login names: letters, digits, `.`, `_`, `-`, starting with a letter. */
export const USERNAME_PATTERN = '^[a-z][a-z0-9._-]{0,63}$';
const USERNAME = new RegExp(USERNAME_PATTERN);
/** Shortest password accepted for a new or changed password (NIST SP 800-63B asks at least 8; 12 for staff accounts). */
export const MIN_PASSWORD = 12;
export const MAX_PASSWORD = 256;

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

function invalid(field: string, message: string): HubError {
  return new HubError('HUB_ERR_VALIDATION', [`${field} ${message}`], { field });
}

export function checkUsername(username: string, field = 'username'): void {
  if (!USERNAME.test(username)) throw invalid(field, `must match ${USERNAME_PATTERN} (found "${username.slice(0, 70)}")`);
}

export function checkPassword(password: string, field = 'password'): void {
  if (password.length < MIN_PASSWORD) throw invalid(field, `must have at least ${MIN_PASSWORD} characters (found ${password.length})`);
  if (password.length > MAX_PASSWORD) throw invalid(field, `must have at most ${MAX_PASSWORD} characters (found ${password.length})`);
}

export function checkRole(role: string, field = 'role'): asserts role is Role {
  if (!isRole(role)) throw invalid(field, `must be one of ${ROLES.join(', ')} (found "${role.slice(0, 40)}")`);
}

export interface UserChanges {
  role?: Role;
  displayName?: string;
  disabled?: boolean;
  password?: string;
}

export interface LoginResult {
  token: string;
  expiresAt: number;
  user: User;
}

const view = (row: UserRow): User => ({ username: row.username, displayName: row.display_name, role: row.role });

/**
 * The people who use the hub. Passwords are Argon2id hashes (hashes of an older kind are
 * replaced at the next successful login); bearer tokens are stored as SHA-256 digests
 * (the token is 256 random bits, so the digest cannot be reversed by guessing). Every
 * change is an event naming who made it, written in the same transaction.
 */
export class Users {
  /** Verified against for unknown names; made once, off the event loop. */
  private dummyHash: Promise<string> | null = null;
  /** Told after a logout or a user change, so that open streams re-check their tokens (hub/api/live.ts). */
  private readonly tokenListeners = new Set<() => void>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly events: EventLog,
  ) {}

  count(): number {
    return (this.store.stmt('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
  }

  /** Creates a user synchronously (start-up and tests), without the password policy: the caller chose it. */
  createSync(username: string, role: Role, password: string, displayName = username): void {
    this.store.writeNow(() => {
      this.store.db
        .prepare('INSERT INTO users (username, display_name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(username, displayName, role, hashPasswordSync(password), this.clock.now());
    });
  }

  /** Creates a user (tests and seeding); `add` is the checked path people use. */
  async create(username: string, role: Role, password: string, displayName = username): Promise<void> {
    const hash = await hashPassword(password);
    await this.store.write(() =>
      this.store.db
        .prepare('INSERT INTO users (username, display_name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(username, displayName, role, hash, this.clock.now()),
    );
  }

  /** Adds a user with every rule checked (name, role, password policy); logs `user.created` naming `by`. */
  async add(input: { username: string; role: string; password: string; displayName?: string }, by: Actor): Promise<UserInfo> {
    checkUsername(input.username);
    checkRole(input.role);
    checkPassword(input.password);
    const displayName = (input.displayName ?? input.username).trim() || input.username;
    if (this.row(input.username)) throw new HubError('HUB_ERR_CONFLICT', [`user ${input.username} already exists`], { field: 'username' });
    const hash = await hashPassword(input.password);
    const role = input.role;
    await this.store.write(() => {
      this.store.stmt('INSERT INTO users (username, display_name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)').run(input.username, displayName, role, hash, this.clock.now());
      this.events.appendInTx({ type: 'user.created', actor: by, data: { username: input.username, role } });
    });
    return this.info(input.username) as UserInfo;
  }

  /**
   * Changes role, display name, disabled flag or password. Disabling a user or changing
   * their password ends their tokens at once. The last enabled admin can be neither
   * demoted nor disabled (nobody could manage users any more).
   */
  async update(username: string, changes: UserChanges, by: Actor): Promise<UserInfo> {
    const row = this.row(username);
    if (!row) throw new HubError('HUB_ERR_NOT_FOUND', [`user ${username}`]);
    if (changes.role !== undefined) checkRole(changes.role);
    if (changes.password !== undefined) checkPassword(changes.password);
    const losesAdmin = row.role === 'admin' && row.disabled === 0 && ((changes.role !== undefined && changes.role !== 'admin') || changes.disabled === true);
    if (losesAdmin && this.enabledAdmins() <= 1) {
      throw new HubError('HUB_ERR_CONFLICT', [`${username} is the last enabled admin: add another admin first`], { field: changes.disabled ? 'disabled' : 'role' });
    }
    const hash = changes.password !== undefined ? await hashPassword(changes.password) : null;
    await this.store.write(() => {
      const log = (type: string, data: Record<string, unknown>): void => {
        this.events.appendInTx({ type, actor: by, data: { username, ...data } });
      };
      if (changes.role !== undefined && changes.role !== row.role) {
        this.store.stmt('UPDATE users SET role = ? WHERE username = ?').run(changes.role, username);
        log('user.role-changed', { from: row.role, to: changes.role });
      }
      if (changes.displayName !== undefined && changes.displayName !== row.display_name) {
        this.store.stmt('UPDATE users SET display_name = ? WHERE username = ?').run(changes.displayName, username);
        log('user.renamed', {});
      }
      if (changes.disabled !== undefined && changes.disabled !== (row.disabled === 1)) {
        this.store.stmt('UPDATE users SET disabled = ? WHERE username = ?').run(changes.disabled ? 1 : 0, username);
        log(changes.disabled ? 'user.disabled' : 'user.enabled', {});
      }
      if (hash !== null) {
        this.store.stmt('UPDATE users SET hash = ? WHERE username = ?').run(hash, username);
        log('user.password-changed', {});
      }
      if (hash !== null || changes.disabled === true) {
        const ended = this.store.stmt('DELETE FROM api_tokens WHERE username = ?').run(username).changes;
        if (ended > 0) log('user.tokens-ended', { tokens: ended });
      }
    });
    this.tokensChanged();
    return this.info(username) as UserInfo;
  }

  /**
   * Calls `listener` after a token was logged out or a user was changed (disabled, new
   * password, new role): whoever holds a token for longer than one request re-checks it.
   */
  onTokensEnded(listener: () => void): () => void {
    this.tokenListeners.add(listener);
    return () => this.tokenListeners.delete(listener);
  }

  private tokensChanged(): void {
    for (const l of this.tokenListeners) l();
  }

  /** An enabled user, or null. */
  get(username: string): User | null {
    const row = this.row(username);
    return row && row.disabled === 0 ? view(row) : null;
  }

  /** Any user, disabled ones included (for administration). */
  info(username: string): UserInfo | null {
    const row = this.row(username);
    return row ? { ...view(row), disabled: row.disabled === 1, createdAt: row.created_at } : null;
  }

  list(): UserInfo[] {
    const rows = this.store.stmt('SELECT * FROM users ORDER BY username').all() as UserRow[];
    return rows.map((r) => ({ ...view(r), disabled: r.disabled === 1, createdAt: r.created_at }));
  }

  /**
   * Checks the password and issues a token; null for a wrong name, a wrong password and
   * a disabled user alike. A hash of an older kind is replaced by an Argon2id one.
   */
  async login(username: string, password: string): Promise<LoginResult | null> {
    const row = this.row(username);
    // Verify against a dummy hash for unknown users so timing does not reveal which names exist.
    const check = await verifyPassword(password, row?.hash ?? (await this.dummy()));
    if (!row || row.disabled === 1 || !check.ok) return null;
    const newHash = check.upgrade ? await hashPassword(password) : null;
    const token = newToken('fht');
    const now = this.clock.now();
    const expiresAt = now + TOKEN_TTL_MS;
    await this.store.write(() => {
      this.store.stmt('DELETE FROM api_tokens WHERE expires_at < ?').run(now);
      this.store.stmt('INSERT INTO api_tokens (token_hash, username, issued_at, expires_at) VALUES (?, ?, ?, ?)').run(sha256(token), username, now, expiresAt);
      // Only when the hash is still the one verified (a concurrent password change wins).
      if (newHash) this.store.stmt('UPDATE users SET hash = ? WHERE username = ? AND hash = ?').run(newHash, username, row.hash);
    });
    return { token, expiresAt, user: view(row) };
  }

  /** The user behind a bearer token, 'expired', or null when unknown (or the user is disabled). */
  authenticate(token: string): User | 'expired' | null {
    const row = this.store
      .stmt('SELECT t.expires_at, u.* FROM api_tokens t JOIN users u ON u.username = t.username WHERE t.token_hash = ? AND u.disabled = 0')
      .get(sha256(token)) as (UserRow & { expires_at: number }) | undefined;
    if (!row) return null;
    if (row.expires_at <= this.clock.now()) return 'expired';
    return view(row);
  }

  async logout(token: string): Promise<void> {
    await this.store.write(() => this.store.stmt('DELETE FROM api_tokens WHERE token_hash = ?').run(sha256(token)));
    this.tokensChanged();
  }

  private row(username: string): UserRow | undefined {
    return this.store.stmt('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
  }

  private enabledAdmins(): number {
    return (this.store.stmt("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = 0").get() as { n: number }).n;
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= hashPassword(newToken('dummy'));
    return this.dummyHash;
  }
}
