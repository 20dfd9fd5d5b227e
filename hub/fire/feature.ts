/**
 * The fire alarm as the hub sees it (docs/jammers.md, "Fire"): a fire panel's `alarm` is a
 * critical alarm (raised, listed, acknowledged through /api/alarms, cleared when the panel
 * reports `clear`), logged at error and attached to every running session. While any panel
 * is in alarm the gates refuse entry with the reason `emergency` (exits stay possible: the
 * hub never refuses an exit), the evaluation-area doors are unlocked per `fire.door`, and
 * the robot is stopped per `fire.robot`. The jammer zones go off through their own
 * interlock (hub/jammers) and the evacuation message through the broadcast feature; both
 * listen to the same `fire.alarm` bus event, so none of them waits for another.
 */
import type { Bus } from '../../kernel/bus.js';
import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/log.js';
import type { Facility } from '../../config/schema.js';
import type { Device } from '../../devices/types.js';
import type { DeviceEventLog } from '../../devices/seam.js';
import { AlarmLatch } from '../../devices/alarm.js';
import type { HubEvents } from '../events.js';
import type { Feature } from '../services.js';

const OWNER = 'fire';
const ISSUER = 'automation:fire';

/** What check-in asks before admitting anyone (handed to it by compose.ts). */
export interface EntryGuard {
  /** Why entry is refused now (`emergency` while a fire alarm is active), or null. */
  entryRefusal(): 'emergency' | null;
}

export interface FireDeps {
  facility: Pick<Facility, 'fire'>;
  bus: Bus<HubEvents>;
  events: DeviceEventLog;
  clock: Clock;
  log: Logger;
  /** Devices of a kind (the doors and robots to act on). */
  devicesOfKind: (kind: 'door' | 'robot') => Device[];
  runningSessions: () => string[];
}

export interface FireFeature extends Feature, EntryGuard {
  /** Panels (device ids) in alarm now, with since when. */
  active(): { deviceId: string; since: number }[];
  /** Resolves once the reactions to the last alarm (door, robot) have been tried (tests). */
  idle(): Promise<void>;
}

export function createFireFeature(deps: FireDeps): FireFeature {
  const { log } = deps;
  const inAlarm = new Map<string, number>();
  const alarms = new AlarmLatch({ source: 'fire', actor: ISSUER, bus: deps.bus, events: deps.events, log, sessionIds: () => deps.runningSessions() });
  let reactions: Promise<unknown> = Promise.resolve();

  const react = async (panel: string): Promise<void> => {
    const policy = deps.facility.fire;
    const jobs: Promise<unknown>[] = [];
    const run = (d: Device, cmd: string): void => {
      jobs.push(
        d.execute({ cmd, args: {}, issuer: ISSUER }).then((o) => {
          if (!o.ok) log.error({ deviceId: d.id, cmd, outcome: o.outcome, error: o.error, panel }, 'fire reaction not carried out');
        }),
      );
    };
    if (policy.door === 'unlock') for (const d of deps.devicesOfKind('door')) if (d.commandNames.includes('unlock')) run(d, 'unlock');
    if (policy.robot === 'park') for (const d of deps.devicesOfKind('robot')) run(d, d.commandNames.includes('park') ? 'park' : 'stop');
    await Promise.allSettled(jobs);
  };

  const onFire = async (p: HubEvents['fire.alarm']): Promise<void> => {
    const id = `fire:${p.deviceId}`;
    if (p.active) {
      if (!inAlarm.has(p.deviceId)) inAlarm.set(p.deviceId, deps.clock.now());
      reactions = reactions.then(() => react(p.deviceId));
      await alarms.raise({
        id,
        severity: 'critical',
        message: `火警：${p.deviceId} 报警，闸机暂停入场，门禁已按消防策略处理 / Fire alarm from ${p.deviceId}: entry suspended, doors handled per the fire policy`,
        deviceId: p.deviceId,
        data: { panel: p.deviceId, doorPolicy: deps.facility.fire.door, robotPolicy: deps.facility.fire.robot },
      });
      return;
    }
    inAlarm.delete(p.deviceId);
    await alarms.clear(id, 'the panel reported clear');
  };

  return {
    name: 'fire',
    async start() {
      deps.bus.on(OWNER, 'fire.alarm', onFire);
    },
    async stop() {
      deps.bus.removeOwner(OWNER);
      await reactions;
    },
    entryRefusal: () => (inAlarm.size > 0 ? 'emergency' : null),
    active: () => [...inAlarm].map(([deviceId, since]) => ({ deviceId, since })),
    async idle() {
      await reactions;
    },
  };
}
