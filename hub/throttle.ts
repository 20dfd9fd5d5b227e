import type { Clock } from '../kernel/clock.js';

export interface ThrottlePolicy {
  /** Failures allowed before the first lock. */
  freeFailures: number;
  /** The first lock, in ms; each further failure doubles it. */
  baseLockMs: number;
  /** Longest lock, in ms. */
  maxLockMs: number;
  /** A key with no failure for this long starts again from zero, in ms. */
  forgetAfterMs: number;
  /** Keys remembered at most (the oldest is forgotten first), so a flood of names or addresses cannot grow memory. */
  maxKeys: number;
}

interface Entry {
  failures: number;
  lastFailure: number;
  lockedUntil: number;
  /** This burst's first refusal has been reported. */
  reported: boolean;
}

export interface Refusal {
  retryAfterMs: number;
  /** The first refusal of this burst: the one to log. */
  first: boolean;
}

/**
 * Counts failures per key (a user name, an address) and locks the key for an
 * escalating time once the free failures are used up: base, 2×base, 4×base… up to a
 * maximum. A failure is counted *before* the costly check runs (`attempt`) and taken
 * back on success, so a thousand parallel attempts cannot all slip through before the
 * first of them has failed. Time comes from the injected clock.
 */
export class FailureThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly policy: ThrottlePolicy,
    private readonly clock: Clock,
  ) {}

  /** Null when the key may try now, else how long it must wait. */
  refusal(key: string): Refusal | null {
    const e = this.live(key);
    if (!e) return null;
    const now = this.clock.now();
    if (e.lockedUntil <= now) return null;
    const first = !e.reported;
    e.reported = true;
    return { retryAfterMs: e.lockedUntil - now, first };
  }

  /** Counts an attempt as a failure until `succeeded` takes it back. */
  attempt(key: string): void {
    const now = this.clock.now();
    const e = this.live(key) ?? { failures: 0, lastFailure: now, lockedUntil: 0, reported: false };
    e.failures++;
    e.lastFailure = now;
    const over = e.failures - this.policy.freeFailures;
    if (over >= 0) {
      // A new lock is a new burst, reported once.
      if (e.lockedUntil <= now) e.reported = false;
      e.lockedUntil = now + Math.min(this.policy.maxLockMs, this.policy.baseLockMs * 2 ** Math.min(over, 30));
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > this.policy.maxKeys) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** The attempt was right: the key starts again from zero. */
  succeeded(key: string): void {
    this.entries.delete(key);
  }

  /** The attempt was right, but the key is shared (an address): only that attempt is taken back. */
  forgive(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.failures = Math.max(0, e.failures - 1);
    if (e.failures < this.policy.freeFailures) e.lockedUntil = 0;
    if (e.failures === 0) this.entries.delete(key);
  }

  size(): number {
    return this.entries.size;
  }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const now = this.clock.now();
    if (e.lockedUntil <= now && now - e.lastFailure >= this.policy.forgetAfterMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}
