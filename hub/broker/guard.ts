import type { Clock } from '../../kernel/clock.js';

/**
 * Per-address throttles in front of the broker: a connection flood and a wrong-token flood
 * from one address are cut off before they cost the hub work (every wrong token costs an
 * scrypt check), and each is reported once per episode, not once per attempt.
 */
export interface GuardLimits {
  /** New connections one address may open in a burst (60). */
  connectBurst: number;
  /** New connections per second one address regains after a burst (20/s). */
  connectPerSecond: number;
  /** Failed logins (wrong token, unknown device) one address may make in `authWindowMs` (10). */
  authFailures: number;
  /** The window failed logins are counted in, and how long an address stays blocked after (60 s). */
  authWindowMs: number;
}

export const DEFAULT_GUARD: GuardLimits = {
  connectBurst: 60,
  connectPerSecond: 20,
  authFailures: 10,
  authWindowMs: 60_000,
};

/** Addresses tracked at most; the oldest entry goes first (a spoofing scan must not grow memory). */
const MAX_ADDRESSES = 10_000;

interface AddressState {
  tokens: number;
  refilledAt: number;
  /** Times of recent failed logins within the window. */
  failures: number[];
  blockedUntil: number;
  /** The kinds already reported during the current episode. */
  reported: Set<'flood' | 'auth'>;
}

export type GuardVerdict = 'ok' | 'flood' | 'auth-blocked';

export class ConnectionGuard {
  private readonly byAddress = new Map<string, AddressState>();

  constructor(
    private readonly limits: GuardLimits,
    private readonly clock: Clock,
  ) {}

  private state(address: string): AddressState {
    let s = this.byAddress.get(address);
    if (s) {
      // Refresh recency so the eviction below removes the quietest address.
      this.byAddress.delete(address);
    } else {
      if (this.byAddress.size >= MAX_ADDRESSES) this.byAddress.delete(this.byAddress.keys().next().value as string);
      s = { tokens: this.limits.connectBurst, refilledAt: this.clock.now(), failures: [], blockedUntil: 0, reported: new Set() };
    }
    this.byAddress.set(address, s);
    return s;
  }

  /** A new TCP connection from `address`: may it be served? */
  admitConnection(address: string): GuardVerdict {
    const s = this.state(address);
    const now = this.clock.now();
    s.tokens = Math.min(this.limits.connectBurst, s.tokens + ((now - s.refilledAt) / 1000) * this.limits.connectPerSecond);
    s.refilledAt = now;
    if (s.tokens < 1) return 'flood';
    s.tokens -= 1;
    if (s.tokens >= this.limits.connectBurst / 2) s.reported.delete('flood'); // the episode is over
    return 'ok';
  }

  /** Before checking credentials: is this address blocked for failed logins? */
  authBlocked(address: string): boolean {
    const s = this.byAddress.get(address);
    return s !== undefined && s.blockedUntil > this.clock.now();
  }

  /** A failed login from `address`; answers true when this failure starts a block. */
  authFailed(address: string): boolean {
    const s = this.state(address);
    const now = this.clock.now();
    s.failures = s.failures.filter((t) => now - t < this.limits.authWindowMs);
    s.failures.push(now);
    if (s.failures.length < this.limits.authFailures) return false;
    const starting = s.blockedUntil <= now;
    s.blockedUntil = now + this.limits.authWindowMs;
    s.failures = [];
    if (starting) s.reported.delete('auth');
    return starting;
  }

  /** True the first time a kind is reported for an address during an episode (log once). */
  firstReport(address: string, kind: 'flood' | 'auth'): boolean {
    const s = this.state(address);
    if (s.reported.has(kind)) return false;
    s.reported.add(kind);
    return true;
  }
}
