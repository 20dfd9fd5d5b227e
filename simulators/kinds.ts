import type { DeviceConfig } from '../config/schema.js';
import { SimulatedMqttDevice, type SimulatedDeviceOptions } from './mqtt-device.js';

type Base = Omit<SimulatedDeviceOptions, 'deviceId' | 'initialState' | 'commands' | 'extraSubscriptions'>;

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
