import type { DeviceKind, PowerStateName, PowerStageName } from '../config/schema.js';
import type { CommandOutcomeKind, DeviceEvents } from '../devices/seam.js';
import type { TaskState } from './robot/machine.js';

/** The hub's typed bus events: name → payload (style pattern 5); devices' own are in DeviceEvents. */
export interface HubEvents extends DeviceEvents {
  'device.availability': { deviceId: string; kind: DeviceKind; available: boolean; reason: string };
  'device.state': { deviceId: string; state: Record<string, unknown> };
  'command.finished': { id: string; deviceId: string; cmd: string; outcome: CommandOutcomeKind; latencyMs: number; error?: string };
  'session.status': { sessionId: string; from: string | null; to: string };
  'power.state': { from: string; to: string; snapshot: Record<string, unknown> };
  // --- power (hub/power; ups.status and relay.output come from the devices) ---
  /** The power playbook asks the broadcast system to announce this (it listens; power does not depend on it). */
  'power.announce': { messageId?: number; text: string; priority: 'emergency'; state: PowerStateName };
  /** A failover stage started, finished or failed. */
  'power.stage': { stage: PowerStageName; at: PowerStateName; status: 'running' | 'done' | 'failed' | 'skipped'; detail: string };
  // --- end power ---
  // --- broadcast (hub/broadcast; broadcast.zone comes from the device) ---
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
  // --- robot tasks (the robot feature emits them; the door feature follows them) ---
  /** A meal-delivery task changed state; doorId is the door on its route (null: none), sessionId the session it serves. */
  'robot.task': {
    robotId: string;
    taskId: string;
    state: TaskState;
    doorId: string | null;
    sessionId: string | null;
  };
  // --- end robot tasks ---
}
