import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../log.js';
import { FailureThrottle, type ThrottlePolicy } from '../throttle.js';

/**
 * Failed MQTT CONNECTs per remote address: 10 free, then locks of 1 s, 2 s, 4 s … up to
 * 5 min. A device with a wrong token reconnects every few seconds; a flood of CONNECTs
 * from one address is refused before any token is looked at.
 */
export const DEFAULT_CONNECT_THROTTLE: ThrottlePolicy = {
  freeFailures: 10,
  baseLockMs: 1_000,
  maxLockMs: 5 * 60_000,
  forgetAfterMs: 10 * 60_000,
  maxKeys: 10_000,
};

/**
 * What the broker calls around a CONNECT's authentication (broker.ts keeps to these
 * three calls). `refuse` answers a reason when the address is locked; `attempt` counts
 * the CONNECT as failed until `passed` takes it back.
 */
export class ConnectThrottle {
  private readonly throttle: FailureThrottle;

  constructor(
    private readonly log: Logger,
    clock: Clock,
    policy: ThrottlePolicy = DEFAULT_CONNECT_THROTTLE,
  ) {
    this.throttle = new FailureThrottle(policy, clock);
  }

  /** Null when the address may try, else why not (logged once per burst). */
  refuse(address: string): string | null {
    const r = this.throttle.refusal(address);
    if (!r) return null;
    if (r.first) this.log.warn({ address, retryAfterMs: r.retryAfterMs }, 'mqtt connects from this address throttled: too many failures (logged once per burst)');
    return `too many failed connects from ${address}: retry in ${Math.ceil(r.retryAfterMs / 1000)} s`;
  }

  attempt(address: string): void {
    this.throttle.attempt(address);
  }

  passed(address: string): void {
    this.throttle.forgive(address);
  }
}
