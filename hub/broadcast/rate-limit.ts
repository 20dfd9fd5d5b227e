import type { Clock } from '../../kernel/clock.js';

/**
 * A sliding-window limit per key (a warning target): at most `max` hits in `windowMs`.
 * Time comes from the injected clock; keys with no recent hits are forgotten.
 */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Takes one hit for key; or, when the limit is reached, says how long until the next is allowed. */
  take(key: string): { ok: true; remaining: number } | { ok: false; retryAfterMs: number } {
    const now = this.clock.now();
    const recent = (this.hits.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (recent.length >= this.max) {
      this.hits.set(key, recent);
      return { ok: false, retryAfterMs: Math.max(1, (recent[0] ?? now) + this.windowMs - now) };
    }
    recent.push(now);
    this.hits.set(key, recent);
    if (this.hits.size > 10_000) this.prune(now);
    return { ok: true, remaining: this.max - recent.length };
  }

  private prune(now: number): void {
    for (const [k, list] of this.hits) if (!list.some((t) => t > now - this.windowMs)) this.hits.delete(k);
  }
}
