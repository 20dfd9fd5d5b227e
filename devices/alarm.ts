import type { Logger } from '../kernel/log.js';
import type { Actor } from '../kernel/actor.js';
import type { AlarmSeverity, DeviceBus, DeviceEventLog } from './seam.js';

export type { AlarmSeverity };

export interface AlarmSpec {
  /** Stable id, e.g. `relay-mismatch:relay-2:hall-display`; raising it again while active is a no-op. */
  id: string;
  severity: AlarmSeverity;
  message: string;
  deviceId?: string;
  data?: Record<string, unknown>;
}

/**
 * Raises and clears alarms once each: a condition that persists is one alarm (bus
 * `alarm.raised` and one event-log record), not one per poll (style: no log floods).
 */
export class AlarmLatch {
  private readonly active = new Map<string, AlarmSpec>();

  constructor(
    private readonly deps: {
      source: string;
      actor: Actor;
      bus: DeviceBus;
      events: DeviceEventLog;
      log: Logger;
      sessionIds: () => string[];
    },
  ) {}

  isActive(id: string): boolean {
    return this.active.has(id);
  }

  list(): AlarmSpec[] {
    return [...this.active.values()];
  }

  /** Resolves once the event is durable; true when it was newly raised. */
  async raise(alarm: AlarmSpec): Promise<boolean> {
    if (this.active.has(alarm.id)) return false;
    this.active.set(alarm.id, alarm);
    const { bus, events, log, source, actor } = this.deps;
    const level = alarm.severity === 'info' ? 'info' : alarm.severity === 'warning' ? 'warn' : 'error';
    log[level]({ alarm: alarm.id, ...(alarm.data ?? {}) }, alarm.message);
    bus.emit('alarm.raised', { id: alarm.id, source, severity: alarm.severity, message: alarm.message, ...(alarm.deviceId ? { deviceId: alarm.deviceId } : {}) });
    try {
      await events.append({
        type: 'alarm.raised',
        actor,
        deviceId: alarm.deviceId ?? null,
        sessionIds: this.deps.sessionIds(),
        data: { id: alarm.id, source, severity: alarm.severity, message: alarm.message, ...(alarm.data ?? {}) },
      });
    } catch (err) {
      log.error({ err, alarm: alarm.id }, 'alarm not logged');
    }
    return true;
  }

  async clear(id: string, why: string): Promise<boolean> {
    const alarm = this.active.get(id);
    if (!alarm) return false;
    this.active.delete(id);
    const { bus, events, log, source, actor } = this.deps;
    log.info({ alarm: id, why }, 'alarm cleared');
    bus.emit('alarm.cleared', { id, source });
    try {
      await events.append({ type: 'alarm.cleared', actor, deviceId: alarm.deviceId ?? null, sessionIds: this.deps.sessionIds(), data: { id, source, why } });
    } catch (err) {
      log.error({ err, alarm: id }, 'alarm clearance not logged');
    }
    return true;
  }

  async clearAll(why: string): Promise<void> {
    for (const id of [...this.active.keys()]) await this.clear(id, why);
  }
}
