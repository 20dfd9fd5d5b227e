import type { Clock } from '../../kernel/clock.js';

/**
 * Per-address connection throttle in front of the broker: a connection flood from one
 * address is cut off before it costs the hub work, and reported once per episode, not once
 * per attempt. Failed logins are throttled apart, by `throttle.ts` (escalating locks).
 */
export interface GuardLimits {
  /** New connections one address may open in a burst (60). */
  connectBurst: number;
  /** New connections per second one address regains after a burst (20/s). */
  connectPerSecond: number;
}

export const DEFAULT_GUARD: GuardLimits = {
  connectBurst: 60,
  connectPerSecond: 20,
};

/** Addresses tracked at most; the oldest entry goes first (a spoofing scan must not grow memory). */
const MAX_ADDRESSES = 10_000;

interface AddressState {
  tokens: number;
  refilledAt: number;
  /** Whether the current flood episode was reported. */
  reported: Set<'flood'>;
}

export type GuardVerdict = 'ok' | 'flood';

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
      s = { tokens: this.limits.connectBurst, refilledAt: this.clock.now(), reported: new Set() };
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

  /** True the first time a kind is reported for an address during an episode (log once). */
  firstReport(address: string, kind: 'flood'): boolean {
    const s = this.state(address);
    if (s.reported.has(kind)) return false;
    s.reported.add(kind);
    return true;
  }
}
