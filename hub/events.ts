import type { DeviceKind, PowerStateName, PowerStageName } from '../config/schema.js';
import type { UpsStatus } from '../devices/ups-map.js';

/** The hub's typed bus events: name → payload (style pattern 5). */
export interface DeviceEventPayload {
  type: string;
  ts: number;
  [key: string]: unknown;
}

export interface HubEvents {
  [name: string]: unknown;
  'device.availability': { deviceId: string; kind: DeviceKind; available: boolean; reason: string };
  'device.state': { deviceId: string; state: Record<string, unknown> };
  'device.event': { deviceId: string; kind: DeviceKind; event: DeviceEventPayload; sessionIds: string[] };
  'command.finished': { id: string; deviceId: string; cmd: string; outcome: CommandOutcomeKind; latencyMs: number; error?: string };
  /** `oneShot`: something that happened (cleared by acknowledging), not a condition its source clears. */
  'alarm.raised': { id: string; source: string; severity: 'info' | 'warning' | 'critical'; message: string; deviceId?: string; oneShot?: boolean };
  'alarm.cleared': { id: string; source: string };
  'session.status': { sessionId: string; from: string | null; to: string };
  'power.state': { from: string; to: string; snapshot: Record<string, unknown> };
  // --- power (hub/power, devices/ups.ts, devices/relay.ts) ---
  /** A UPS device's view after each poll (or GPIO edge): comm state and last valid reading. */
  'ups.status': { deviceId: string; status: UpsStatus };
  /** A relay output was written and read back (verified) or found not to follow. */
  'relay.output': { deviceId: string; outputId: string; role: string; on: boolean; verified: boolean; issuer: string };
  /** The power playbook asks the broadcast system to announce this (it listens; power does not depend on it). */
  'power.announce': { messageId?: number; text: string; priority: 'emergency'; state: PowerStateName };
  /** A failover stage started, finished or failed. */
  'power.stage': { stage: PowerStageName; at: PowerStateName; status: 'running' | 'done' | 'failed' | 'skipped'; detail: string };
  // --- end power ---
  'fire.alarm': { active: boolean; deviceId: string };
  // --- broadcast (hub/broadcast, devices/broadcast.ts) ---
  /** A broadcast zone went into fault (fault = the controller's description) or recovered (null). */
  'broadcast.zone': { deviceId: string; zone: number; room: string | null; seat: number | null; fault: string | null };
  /** Something was asked of the PA controller (a warning, a live call, an announcement, an emergency) and how it went. */
  'broadcast.played': {
    id: string;
    source: 'warning' | 'call' | 'announcement' | 'emergency';
    priority: 'scheduled' | 'warning' | 'emergency';
    rooms: string[];
    sessionIds: string[];
    confirmed: boolean;
    outcome: string;
    actor: string;
  };
  // --- end broadcast ---
}

export type CommandOutcomeKind = 'acked' | 'failed' | 'timeout' | 'unavailable' | 'abandoned';
