/**
 * The IT health index (量化IT健康指数, docs/health.md): a 0–100 score per subsystem from
 * availability, freshness, error rate and active alarms, and a weighted overall figure.
 * Pure functions over plain inputs, so the formula is tested without a hub.
 */

export const SUBSYSTEMS = ['broker', 'store', 'gates', 'power', 'pa', 'jammers', 'robot'] as const;
export type Subsystem = (typeof SUBSYSTEMS)[number];

/** Weights of the overall figure: what hurts an evaluation most when it fails counts most. */
export const WEIGHTS: Record<Subsystem, number> = { broker: 20, store: 15, gates: 20, power: 15, pa: 10, jammers: 15, robot: 5 };

/** Points an active alarm takes off its subsystem (half once acknowledged: someone is on it). */
export const ALARM_PENALTY = { critical: 40, warning: 15, info: 5 } as const;

/** A reading older than this (ms) starts to count as stale; at STALE_MS it counts as none. */
export const FRESH_MS = 2 * 60_000;
export const STALE_MS = 30 * 60_000;

export interface DeviceInput {
  available: boolean;
  /** Last message or good poll (epoch ms), null = never. */
  lastSeen: number | null;
}

export interface SubsystemInput {
  devices: DeviceInput[];
  /** Requests (commands, polls, messages) in the last interval and how many of them failed. */
  requests: number;
  failures: number;
  alarms: { severity: keyof typeof ALARM_PENALTY; acknowledged: boolean }[];
  /** An upper bound from the subsystem's own state (power on battery: 60), else 100. */
  cap?: number;
  /** A subsystem without devices of its own (broker, store) is up or not. */
  up?: boolean;
}

export interface SubsystemScore {
  subsystem: Subsystem;
  /** null: nothing of this subsystem is configured (left out of the overall figure). */
  score: number | null;
  availability: number | null;
  freshness: number | null;
  errorRate: number;
  alarms: number;
}

export function freshness(lastSeen: number | null, now: number): number {
  if (lastSeen === null) return 0;
  const age = now - lastSeen;
  if (age <= FRESH_MS) return 1;
  if (age >= STALE_MS) return 0;
  return 1 - (age - FRESH_MS) / (STALE_MS - FRESH_MS);
}

const clamp = (n: number): number => Math.max(0, Math.min(100, Math.round(n)));

/**
 * score = 100 × availability × (0.5 + 0.5 × freshness) × (1 − error rate / 2) − alarm points,
 * capped by the subsystem's own bound, 0..100. Availability is the share of its devices that
 * are available; freshness the mean freshness of the available ones' last readings.
 */
export function scoreSubsystem(subsystem: Subsystem, input: SubsystemInput, now: number): SubsystemScore {
  const errorRate = input.requests > 0 ? Math.min(1, input.failures / input.requests) : 0;
  const alarmPoints = input.alarms.reduce((sum, a) => sum + ALARM_PENALTY[a.severity] / (a.acknowledged ? 2 : 1), 0);
  let availability: number | null;
  let fresh: number | null;
  if (input.up !== undefined) {
    availability = input.up ? 1 : 0;
    fresh = 1;
  } else if (input.devices.length === 0) {
    return { subsystem, score: null, availability: null, freshness: null, errorRate, alarms: input.alarms.length };
  } else {
    const up = input.devices.filter((d) => d.available);
    availability = up.length / input.devices.length;
    // Over the devices that are up: one that is down already counts in availability.
    fresh = up.length ? up.reduce((s, d) => s + freshness(d.lastSeen, now), 0) / up.length : 0;
  }
  const raw = 100 * availability * (0.5 + 0.5 * fresh) * (1 - errorRate / 2) - alarmPoints;
  return { subsystem, score: Math.min(clamp(raw), input.cap ?? 100), availability, freshness: fresh, errorRate, alarms: input.alarms.length };
}

/** The weighted mean of the subsystems that apply; null when none does. */
export function overall(scores: SubsystemScore[]): number | null {
  let sum = 0;
  let weight = 0;
  for (const s of scores) {
    if (s.score === null) continue;
    sum += s.score * WEIGHTS[s.subsystem];
    weight += WEIGHTS[s.subsystem];
  }
  return weight > 0 ? Math.round(sum / weight) : null;
}
