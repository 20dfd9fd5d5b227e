import type { DeviceConfig } from '../config/schema.js';
import { SimulatedMqttDevice, type SimulatedDeviceOptions } from './mqtt-device.js';

type Base = Omit<SimulatedDeviceOptions, 'deviceId' | 'initialState' | 'commands' | 'extraSubscriptions'>;

/** Door controller: open/lock/unlock change its state; opening reports opened then closed. */
export function doorSimulator(config: DeviceConfig, base: Base): SimulatedMqttDevice {
  const sim: SimulatedMqttDevice = new SimulatedMqttDevice({
    ...base,
    deviceId: config.id,
    initialState: { locked: true, open: false },
    commands: {
      open: async () => {
        await sim.setState({ locked: false, open: true });
        await sim.event('opened');
        base.clock.setTimeout(() => {
          void sim.setState({ locked: true, open: false }).then(() => sim.event('closed')).catch(() => undefined);
        }, 5000);
        return { ok: true };
      },
      lock: async () => {
        await sim.setState({ locked: true });
        return { ok: true };
      },
      unlock: async () => {
        await sim.setState({ locked: false });
        return { ok: true };
      },
    },
  });
  return sim;
}

/** Fire panel: quiet until told (tests and the console drive `alarm()` / `clear()`). */
export class FirePanelSimulator extends SimulatedMqttDevice {
  async alarm(zone = 'evaluation-area'): Promise<void> {
    await this.setState({ alarm: true, zone });
    await this.event('alarm', { zone });
  }

  async clear(): Promise<void> {
    await this.setState({ alarm: false });
    await this.event('clear');
  }
}

export function firePanelSimulator(config: DeviceConfig, base: Base): FirePanelSimulator {
  const sim: FirePanelSimulator = new FirePanelSimulator({
    ...base,
    deviceId: config.id,
    initialState: { alarm: false, faults: 0 },
    commands: {
      silence: () => ({ ok: true }),
      reset: async () => {
        await sim.clear();
        return { ok: true };
      },
    },
  });
  return sim;
}
