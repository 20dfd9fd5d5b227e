import type { Bus } from '../kernel/bus.js';
import type { Clock } from '../kernel/clock.js';
import type { HubEvents } from './events.js';
import { HubError } from './errors.js';
import type { Logger } from './log.js';
import type { EventLog } from './store/events.js';
import type { User } from './users.js';

export interface ActiveAlarm {
  id: string;
  source: string;
  severity: HubEvents['alarm.raised']['severity'];
  message: string;
  deviceId: string | null;
  raisedAt: number;
  /** Clears when acknowledged (something that happened), not when a condition ends. */
  oneShot: boolean;
  acknowledged: { by: string; displayName: string; at: number } | null;
}

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 } as const;

/**
 * The alarms active now, for the console and the API: whatever any part of the hub raises
 * on the bus (a relay that does not follow, a UPS that stopped answering, a PA zone fault,
 * a gate that let an unknown person in offline). A condition alarm leaves the list when
 * its source clears it; a one-shot alarm when someone acknowledges it. Acknowledging is
 * logged with the user. Sources re-raise their conditions after a restart, so the list is
 * kept in memory.
 */
export class ActiveAlarms {
  private readonly active = new Map<string, ActiveAlarm>();

  constructor(
    private readonly deps: {
      bus: Bus<HubEvents>;
      events: EventLog;
      clock: Clock;
      log: Logger;
    },
  ) {}

  start(): void {
    const { bus, clock } = this.deps;
    bus.on('alarms', 'alarm.raised', (a) => {
      const known = this.active.get(a.id);
      this.active.set(a.id, {
        id: a.id,
        source: a.source,
        severity: a.severity,
        message: a.message,
        deviceId: a.deviceId ?? null,
        raisedAt: known?.raisedAt ?? clock.now(),
        oneShot: a.oneShot === true,
        acknowledged: known?.acknowledged ?? null,
      });
    });
    bus.on('alarms', 'alarm.cleared', (a) => {
      this.active.delete(a.id);
    });
  }

  stop(): void {
    this.deps.bus.removeOwner('alarms');
  }

  /** Most severe first, then the newest. */
  list(): ActiveAlarm[] {
    return [...this.active.values()].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || b.raisedAt - a.raisedAt);
  }

  /** Acknowledges an alarm (once; a repeat changes nothing); a one-shot alarm is then cleared. Resolves once logged. */
  async acknowledge(id: string, user: User): Promise<ActiveAlarm> {
    const alarm = this.active.get(id);
    if (!alarm) throw new HubError('HUB_ERR_NOT_FOUND', [`active alarm ${id}`]);
    if (alarm.acknowledged) return alarm; // already: the first acknowledgement stands
    const at = this.deps.clock.now();
    await this.deps.events.append({
      type: 'alarm.acknowledged',
      actor: `user:${user.username}`,
      deviceId: alarm.deviceId,
      data: { id, source: alarm.source, severity: alarm.severity, message: alarm.message, cleared: alarm.oneShot },
    });
    alarm.acknowledged = { by: user.username, displayName: user.displayName, at };
    if (alarm.oneShot) this.active.delete(id);
    this.deps.log.info({ alarm: id, by: user.username }, alarm.oneShot ? 'alarm acknowledged and cleared' : 'alarm acknowledged');
    return alarm;
  }
}
