import type { DeviceKind } from '../config/schema.js';

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
  'alarm.raised': { id: string; source: string; severity: 'info' | 'warning' | 'critical'; message: string; deviceId?: string };
  'alarm.cleared': { id: string; source: string };
  'session.status': { sessionId: string; from: string | null; to: string };
  'power.state': { from: string; to: string; snapshot: Record<string, unknown> };
  'fire.alarm': { active: boolean; deviceId: string };
}

export type CommandOutcomeKind = 'acked' | 'failed' | 'timeout' | 'unavailable' | 'abandoned';
