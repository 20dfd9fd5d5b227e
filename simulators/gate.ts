import type { DeviceConfig, Facility } from '../config/schema.js';
import { SimulatedMqttDevice, type SimulatedDeviceOptions } from './mqtt-device.js';

type Base = Omit<SimulatedDeviceOptions, 'deviceId' | 'initialState' | 'commands' | 'extraSubscriptions'>;

/** A face + ID-card gate: asks the hub on `verify`, hears `verify/result`. */
export class GateSimulator extends SimulatedMqttDevice {}

export function gateSimulator(config: DeviceConfig, base: Base, _facility: Facility): GateSimulator {
  const sim: GateSimulator = new GateSimulator({
    ...base,
    deviceId: config.id,
    initialState: { mode: 'normal', locked: true },
    extraSubscriptions: ['verify/result'],
    commands: {
      open: () => ({ ok: true }),
      lock: async () => {
        await sim.setState({ locked: true });
        return { ok: true };
      },
      unlock: async () => {
        await sim.setState({ locked: false });
        return { ok: true };
      },
      reboot: () => ({ ok: true }),
    },
  });
  return sim;
}
