import type { Logger } from '../kernel/log.js';

/**
 * Log once, then count (style: "a device that is down logs once at error, then quietly
 * counts"): the first failure of a streak at error, repeats at debug, recovery at info.
 */
export class FailureStreak {
  private streak = 0;

  constructor(
    private readonly log: Logger,
    private readonly recoveredMessage: string,
  ) {}

  failed(details: object, msg: string): void {
    this.streak++;
    if (this.streak === 1) this.log.error(details, msg);
    else this.log.debug({ ...details, streak: this.streak }, msg);
  }

  recovered(): void {
    if (this.streak > 0) this.log.info({ failures: this.streak }, this.recoveredMessage);
    this.streak = 0;
  }

  count(): number {
    return this.streak;
  }
}

/** Exponential reconnect delays: initial, doubling, capped; reset after a success. */
export class Backoff {
  private current: number;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.current = initialMs;
  }

  /** The delay to wait now; the next one doubles. */
  next(): number {
    const wait = this.current;
    this.current = Math.min(this.current * 2, this.maxMs);
    return wait;
  }

  reset(): void {
    this.current = this.initialMs;
  }
}

/**
 * A link's connected flag and its listeners: a change is announced once, and a listener
 * that throws is logged without stopping the others or the driver.
 */
export class ConnectionState {
  private value = false;
  private readonly listeners = new Set<(connected: boolean) => void>();

  constructor(
    private readonly log: Logger,
    private readonly what: string,
  ) {}

  get connected(): boolean {
    return this.value;
  }

  set(connected: boolean): void {
    if (this.value === connected) return;
    this.value = connected;
    for (const listener of [...this.listeners]) {
      try {
        listener(connected);
      } catch (err) {
        this.log.error({ err }, `${this.what} state listener threw`);
      }
    }
  }

  onChange(listener: (connected: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}
