/**
 * Device health: a configured device that is unavailable raises an alarm whose severity
 * comes from what it does (docs/jammers.md, "Device health"): the jammer relay module, the
 * fire panel, the call/broadcast controller, doors and gates are critical (the evaluation
 * area is not safe or not sealed without them); every other device (UPS, robot, a load
 * relay module) is a warning. Cleared when the device is back. At start a device gets
 * `graceMs` to connect before its absence is an alarm; after that, going away is one at
 * once. `/healthz` answers `degraded` while a critical one is away.
 */
import type { Bus } from '../../kernel/bus.js';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/log.js';
import type { DeviceConfig } from '../../config/schema.js';
import type { AlarmSeverity, DeviceEventLog } from '../../devices/seam.js';
import { AlarmLatch } from '../../devices/alarm.js';
import type { HubEvents } from '../events.js';
import type { Feature } from '../services.js';

export const DEVICE_HEALTH_SOURCE = 'device-health';
const OWNER = 'device-health';
export const HEALTH_DEFAULTS = {
  graceMs: 30_000, // 30 s for every device to connect after the hub starts
} as const;

export function offlineSeverity(d: Pick<DeviceConfig, 'kind' | 'options'>): AlarmSeverity {
  if (d.kind === 'fire-panel' || d.kind === 'broadcast' || d.kind === 'door' || d.kind === 'gate') return 'critical';
  if (d.kind === 'relay') {
    const outputs = (d.options as { outputs?: { role?: string }[] }).outputs ?? [];
    if (outputs.some((o) => o.role === 'jammer')) return 'critical';
  }
  return 'warning';
}

export interface DeviceHealthDeps {
  devices: readonly DeviceConfig[];
  bus: Bus<HubEvents>;
  events: DeviceEventLog;
  clock: Clock;
  log: Logger;
  isAvailable: (deviceId: string) => boolean;
  reasonOf: (deviceId: string) => string;
  sessionsFor: (deviceId: string) => string[];
  graceMs?: number;
}

export function createDeviceHealthFeature(deps: DeviceHealthDeps): Feature {
  const alarms = new AlarmLatch({ source: DEVICE_HEALTH_SOURCE, actor: 'hub', bus: deps.bus, events: deps.events, log: deps.log, sessionIds: () => [] });
  const byId = new Map(deps.devices.map((d) => [d.id, d]));
  let graceOver = false;
  let grace: TimerHandle | null = null;

  const raise = async (d: DeviceConfig, reason: string): Promise<void> => {
    const severity = offlineSeverity(d);
    await alarms.raise({
      id: `device-offline:${d.id}`,
      severity,
      message: `设备离线：${d.name ?? d.id}（${d.kind}）/ Device unavailable: ${d.id} (${d.kind}): ${reason}`,
      deviceId: d.id,
      data: { kind: d.kind, reason, sessionIds: deps.sessionsFor(d.id) },
    });
  };

  return {
    name: 'device-health',
    async start() {
      deps.bus.on(OWNER, 'device.availability', async (p) => {
        const d = byId.get(p.deviceId);
        if (!d) return;
        if (p.available) await alarms.clear(`device-offline:${d.id}`, 'available again');
        else if (graceOver) await raise(d, p.reason);
      });
      grace = deps.clock.setTimeout(() => {
        grace = null;
        graceOver = true;
        void (async () => {
          for (const d of deps.devices) if (!deps.isAvailable(d.id)) await raise(d, deps.reasonOf(d.id));
        })();
      }, deps.graceMs ?? HEALTH_DEFAULTS.graceMs);
    },
    async stop() {
      grace?.cancel();
      deps.bus.removeOwner(OWNER);
    },
  };
}
