import type { Actor } from '../kernel/actor.js';
import type { DeviceKind } from '../config/schema.js';
import type { UpsStatus } from './ups-map.js';

/**
 * What a device is given by the hub, declared here, on the devices' side of the seam: the
 * hub's classes (Availability, CommandLedger, EventLog, Metrics, the bus) satisfy these
 * interfaces, and a device sees nothing else of them.
 */

// --- MQTT messages from a device (the broker hands them to the device's model) ---

/** What a device may publish, by the topic's tail after `fh/{site}/{deviceId}/` (contract). */
export const DEVICE_PUBLISH_SUBTOPICS = ['status', 'state', 'event', 'cmd/ack', 'verify'] as const;
export type DeviceSubtopic = (typeof DEVICE_PUBLISH_SUBTOPICS)[number];

export interface DeviceMessage {
  deviceId: string;
  subtopic: DeviceSubtopic;
  topic: string;
  payload: unknown;
  qos: 0 | 1 | 2;
  retain: boolean;
}

export type IngestOutcome = { accepted: true } | { accepted: false; reason: string };

// --- commands (the hub's ledger records every one) ---

export type CommandOutcomeKind = 'acked' | 'failed' | 'timeout' | 'unavailable' | 'abandoned';

export interface CommandRequest {
  deviceId: string;
  deviceKind: string;
  cmd: string;
  args: Record<string, unknown>;
  issuer: string;
  sessionIds?: string[];
  timeoutMs?: number;
  retries?: number;
}

export interface CommandOutcome {
  id: string;
  outcome: CommandOutcomeKind;
  ok: boolean;
  error?: string;
  attempts: number;
  latencyMs: number;
  result?: Record<string, unknown>;
}

/** What a device answered: the contract's `cmd/ack` payload, or a direct driver's result. */
export interface CommandAnswer {
  ok: boolean;
  error?: string;
  result?: Record<string, unknown>;
}

export interface DeviceCommands {
  /** Sends over MQTT and waits for the device's `cmd/ack` (retries and deadline are the ledger's). */
  dispatch(req: CommandRequest, send: (message: { id: string; cmd: string; args: Record<string, unknown> }) => Promise<void>): Promise<CommandOutcome>;
  /** Records a command that a driver carries out directly (Modbus, the PA line). */
  run(req: CommandRequest, exec: () => Promise<CommandAnswer | 'unavailable' | 'timeout'>): Promise<CommandOutcome>;
  /** Records a command refused before it was sent. */
  refuse(req: CommandRequest, outcome: 'unavailable', error: string): Promise<CommandOutcome>;
}

// --- availability and last state ---

export interface DeviceRecord {
  id: string;
  kind: DeviceKind;
  name: string;
  transport: string;
  available: boolean;
  /** Why it is (un)available, e.g. "connected", "will: offline", "3 polls missed". */
  reason: string;
  lastSeen: number | null;
  state: Record<string, unknown>;
  since: number;
}

export interface DeviceAvailability {
  setLink(deviceId: string, up: boolean, reason: string): void;
  seen(deviceId: string): void;
  /** `seen: false` when the patch follows a miss (last seen stays the last answer). */
  patchState(deviceId: string, patch: Record<string, unknown>, opts?: { seen?: boolean }): void;
  get(deviceId: string): DeviceRecord | null;
  isAvailable(deviceId: string): boolean;
}

// --- the event log ---

export interface DeviceLogEntry {
  type: string;
  actor: Actor;
  deviceId?: string | null;
  /** Every evaluation session the change concerns (none, one, or all running ones). */
  sessionIds?: string[];
  data?: Record<string, unknown>;
  ts?: number;
}

export interface DeviceEventLog {
  /** Resolves once the entry is committed. */
  append(e: DeviceLogEntry): Promise<unknown>;
}

// --- metrics ---

export interface DeviceMetrics {
  driverFailures: { inc(labels: { device: string; kind: string }): void };
}

// --- bus events a device emits ---

export interface DeviceEventPayload {
  type: string;
  ts: number;
  [key: string]: unknown;
}

export type AlarmSeverity = 'info' | 'warning' | 'critical';

/** The bus events devices emit (name → payload); the hub's own map extends this one. */
export interface DeviceEvents {
  [name: string]: unknown;
  'device.event': { deviceId: string; kind: DeviceKind; event: DeviceEventPayload; sessionIds: string[] };
  /** `oneShot`: something that happened (cleared by acknowledging), not a condition its source clears. */
  'alarm.raised': { id: string; source: string; severity: AlarmSeverity; message: string; deviceId?: string; oneShot?: boolean };
  'alarm.cleared': { id: string; source: string };
  /** A UPS device's view after each poll (or GPIO edge): comm state and last valid reading. */
  'ups.status': { deviceId: string; status: UpsStatus };
  /** A relay output was written and read back (verified) or found not to follow. */
  'relay.output': { deviceId: string; outputId: string; role: string; on: boolean; verified: boolean; issuer: string };
  'fire.alarm': { active: boolean; deviceId: string };
  /** A broadcast zone went into fault (fault = the controller's description) or recovered (null). */
  'broadcast.zone': { deviceId: string; zone: number; room: string | null; seat: number | null; fault: string | null };
}

/** The part of the bus a device uses. */
export interface DeviceBus {
  emit<K extends keyof DeviceEvents & string>(event: K, payload: DeviceEvents[K]): void;
}
