import type { Facility, DeviceConfig } from '../config/schema.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import type { SimulatedMqttDevice, SimulatedDeviceOptions } from './mqtt-device.js';
import { NON_MQTT_SIMULATORS, type RunningSimulator } from './register.js';
import { doorSimulator, firePanelSimulator, robotSimulator } from './kinds.js';
import { GateSimulator, gateSimulator } from './gate.js';

export type { RunningSimulator };

export interface SimulatorsOptions {
  facility: Facility;
  /** The hub's broker, e.g. mqtt://127.0.0.1:1883. */
  mqttUrl: string;
  tokens: Record<string, string>;
  /** Only these device ids; all simulated devices when absent. */
  only?: string[];
  clock: Clock;
  log: Logger;
  /** Gates play a stream of arrivals every this many ms (the demo); off when absent. */
  arrivalsMs?: number;
  /**
   * Which simulators: MQTT devices need the hub's broker, the others (Modbus, serial) are
   * servers the hub connects to and can start before it. Default: all.
   */
  which?: 'mqtt' | 'other' | 'all';
}

type MqttBase = Omit<SimulatedDeviceOptions, 'deviceId' | 'initialState' | 'commands' | 'extraSubscriptions'>;

const MQTT_SIMULATORS: Record<string, (config: DeviceConfig, base: MqttBase, opts: SimulatorsOptions) => SimulatedMqttDevice> = {
  gate: (config, base) => gateSimulator(config, base),
  door: (config, base) => doorSimulator(config, base),
  robot: (config, base) => robotSimulator(config, base),
  'fire-panel': (config, base) => firePanelSimulator(config, base),
};


/** Which devices get a simulator: the config's `simulated` ones, narrowed by `only`. */
export function simulatedDevices(facility: Facility, only?: string[]): DeviceConfig[] {
  const wanted = only ? new Set(only) : null;
  return facility.devices.filter((d) => (wanted ? wanted.has(d.id) : d.simulated));
}

/**
 * Starts the simulators; one that fails is logged and the others go on, like real
 * devices that come up in any order.
 */
export async function startSimulators(opts: SimulatorsOptions): Promise<RunningSimulator[]> {
  const running: RunningSimulator[] = [];
  const which = opts.which ?? 'all';
  const chosen = simulatedDevices(opts.facility, opts.only).filter((d) => which === 'all' || (d.transport.type === 'mqtt') === (which === 'mqtt'));
  for (const config of chosen) {
    const log = opts.log.child({ simulator: config.id });
    try {
      if (config.transport.type === 'mqtt') {
        const make = MQTT_SIMULATORS[config.kind];
        const token = opts.tokens[config.id];
        if (!make || !token) throw new Error(make ? 'no token for this device' : `no simulator for kind ${config.kind}`);
        const sim = make(config, { url: opts.mqttUrl, site: opts.facility.site.id, token, clock: opts.clock, log, utcOffset: opts.facility.site.utcOffset }, opts);
        await sim.start();
        if (opts.arrivalsMs && sim instanceof GateSimulator) sim.startArrivals(opts.arrivalsMs, running.length * 3);
        running.push({ deviceId: config.id, stop: () => sim.stop(), handle: sim });
      } else {
        const start = NON_MQTT_SIMULATORS.get(config.kind);
        if (!start) throw new Error(`no simulator for kind ${config.kind}`);
        running.push(await start(config, { facility: opts.facility, clock: opts.clock, log }));
      }
      log.debug('simulator started');
    } catch (err) {
      log.error({ err }, 'simulator failed to start');
    }
  }
  return running;
}

export async function stopSimulators(list: RunningSimulator[]): Promise<void> {
  for (const s of [...list].reverse()) {
    await s.stop().catch(() => undefined);
  }
}
