import type { DeviceConfig } from '../config/schema.js';
import { SimulatedMqttDevice, type SimulatedDeviceOptions } from './mqtt-device.js';

type Base = Omit<SimulatedDeviceOptions, 'deviceId' | 'initialState' | 'commands' | 'extraSubscriptions'>;

/** Meal-delivery robot: delivers to a room it serves, so that nobody else enters. */
export function robotSimulator(config: DeviceConfig, base: Base): SimulatedMqttDevice {
  const rooms = new Set(config.rooms);
  const sim: SimulatedMqttDevice = new SimulatedMqttDevice({
    ...base,
    deviceId: config.id,
    initialState: { position: 'dock', task: 'idle', battery: 96 },
    commands: {
      deliver: async (args) => {
        const room = String(args.room);
        if (!rooms.has(room)) return { ok: false, error: `room ${room} is not on this robot's route` };
        if (sim.currentState().task !== 'idle') return { ok: false, error: 'busy with another delivery' };
        await sim.setState({ task: 'delivering', target: room });
        base.clock.setTimeout(() => {
          void (async () => {
            await sim.setState({ position: room, task: 'waiting-pickup' });
            await sim.event('arrived', { room });
            await sim.event('delivered', { room });
            await sim.setState({ position: 'dock', task: 'idle', target: null });
            await sim.event('returned');
          })().catch(() => undefined);
        }, 3000);
        return { ok: true, result: { etaSeconds: 3 } };
      },
      return: async () => {
        await sim.setState({ position: 'dock', task: 'idle', target: null });
        return { ok: true };
      },
      stop: async () => {
        await sim.setState({ task: 'stopped' });
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
