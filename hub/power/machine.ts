/**
 * The power state machine: mains-ok → on-battery (after the ride-through) → low-battery →
 * critical, and back to mains-ok once mains has been present for `mainsStableMs`. While on
 * battery it only escalates (a shed load may lift the runtime estimate; the outage is not
 * over until mains is back). When no UPS tells anything usable any more (the only UPS
 * stops answering on mains), the state goes back to `unknown`: nobody knows whether the
 * mains is there. Time comes from the injected clock.
 */
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { PowerStateName } from '../../config/schema.js';
import type { UpsStatus } from '../../devices/ups-map.js';

export type PowerState = 'unknown' | PowerStateName;

export const SEVERITY: Record<PowerState, number> = { unknown: -1, 'mains-ok': 0, 'on-battery': 1, 'low-battery': 2, critical: 3 };

/** What the UPSes say, reduced to what the machine needs. */
export interface PowerInput {
  mains: boolean;
  level: 'ok' | 'low' | 'critical';
  reason: string;
}

export interface Transition {
  from: PowerState;
  to: PowerState;
  at: number;
  reason: string;
}

export interface Thresholds {
  lowBattery: { chargePct: number; runtimeS: number };
  critical: { chargePct: number; runtimeS: number };
}

/** One UPS's status as machine input; null when it tells nothing usable (yet, or any more: lost). */
export function upsInput(deviceId: string, s: UpsStatus, t: Thresholds): PowerInput | null {
  if (s.comm === 'lost') return s.lostOnBattery ? { mains: false, level: 'low', reason: `${deviceId} went silent while on battery (treated as low battery)` } : null;
  const r = s.reading;
  if (!r) return null;
  if (!r.onBattery && r.mainsPresent) return { mains: true, level: 'ok', reason: `${deviceId} on mains` };
  const at = (lim: { chargePct: number; runtimeS: number }): boolean =>
    (r.charge !== null && r.charge <= lim.chargePct) || (r.runtime !== null && r.runtime <= lim.runtimeS);
  const facts = [`charge ${r.charge ?? '?'} %`, `runtime ${r.runtime ?? '?'} s`];
  if (r.forcedShutdown || at(t.critical)) return { mains: false, level: 'critical', reason: `${deviceId} on battery, ${r.forcedShutdown ? 'forced shutdown (FSD)' : facts.join(', ')}` };
  if (r.batteryLow || at(t.lowBattery)) return { mains: false, level: 'low', reason: `${deviceId} on battery, ${r.batteryLow ? 'battery low flag' : facts.join(', ')}` };
  return { mains: false, level: 'ok', reason: `${deviceId} on battery, ${facts.join(', ')}` };
}

/** Several UPSes: mains only when every one has it; the worst battery level wins. */
export function combineInputs(inputs: (PowerInput | null)[]): PowerInput | null {
  const known = inputs.filter((i): i is PowerInput => i !== null);
  if (known.length === 0) return null;
  const rank = { ok: 0, low: 1, critical: 2 } as const;
  const onBattery = known.filter((i) => !i.mains);
  if (onBattery.length === 0) return { mains: true, level: 'ok', reason: known.map((i) => i.reason).join('; ') };
  const worst = onBattery.reduce((a, b) => (rank[b.level] > rank[a.level] ? b : a));
  return { mains: false, level: worst.level, reason: onBattery.map((i) => i.reason).join('; ') };
}

const TARGET: Record<PowerInput['level'], PowerStateName> = { ok: 'on-battery', low: 'low-battery', critical: 'critical' };

export interface PendingTimer {
  kind: 'ride-through' | 'mains-stable';
  until: number;
}

export class PowerMachine {
  private current: PowerState = 'unknown';
  private sinceMs: number;
  private last: PowerInput | null = null;
  private rideThrough: { timer: TimerHandle; until: number } | null = null;
  private stable: { timer: TimerHandle; until: number } | null = null;

  constructor(
    private readonly deps: {
      clock: Clock;
      rideThroughMs: number;
      mainsStableMs: number;
      onTransition: (t: Transition) => void;
    },
  ) {
    this.sinceMs = deps.clock.now();
  }

  state(): PowerState {
    return this.current;
  }

  since(): number {
    return this.sinceMs;
  }

  input(): PowerInput | null {
    return this.last;
  }

  pending(): PendingTimer | null {
    if (this.rideThrough) return { kind: 'ride-through', until: this.rideThrough.until };
    if (this.stable) return { kind: 'mains-stable', until: this.stable.until };
    return null;
  }

  update(input: PowerInput | null, unknownReason = 'no UPS answers'): void {
    this.last = input;
    if (!input) {
      this.cancelRideThrough();
      this.cancelStable();
      return this.go('unknown', unknownReason);
    }
    if (input.mains) {
      this.cancelRideThrough();
      if (this.current === 'unknown') return this.go('mains-ok', input.reason);
      if (this.current === 'mains-ok' || this.stable) return;
      if (this.deps.mainsStableMs === 0) return this.go('mains-ok', 'mains back');
      const until = this.deps.clock.now() + this.deps.mainsStableMs;
      this.stable = {
        until,
        timer: this.deps.clock.setTimeout(() => {
          this.stable = null;
          if (this.last?.mains) this.go('mains-ok', `mains stable for ${this.deps.mainsStableMs} ms`);
        }, this.deps.mainsStableMs),
      };
      return;
    }
    this.cancelStable();
    const target = TARGET[input.level];
    if (this.current === 'mains-ok' && this.deps.rideThroughMs > 0) {
      if (this.rideThrough) return;
      const until = this.deps.clock.now() + this.deps.rideThroughMs;
      this.rideThrough = {
        until,
        timer: this.deps.clock.setTimeout(() => {
          this.rideThrough = null;
          const l = this.last;
          if (l && !l.mains) this.go(TARGET[l.level], `${l.reason} (after a ${this.deps.rideThroughMs} ms ride-through)`);
        }, this.deps.rideThroughMs),
      };
      return;
    }
    if (SEVERITY[target] > SEVERITY[this.current]) this.go(target, input.reason);
  }

  stop(): void {
    this.cancelRideThrough();
    this.cancelStable();
  }

  private cancelRideThrough(): void {
    this.rideThrough?.timer.cancel();
    this.rideThrough = null;
  }

  private cancelStable(): void {
    this.stable?.timer.cancel();
    this.stable = null;
  }

  private go(to: PowerState, reason: string): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    this.sinceMs = this.deps.clock.now();
    this.deps.onTransition({ from, to, at: this.sinceMs, reason });
  }
}
