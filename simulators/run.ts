import type { Facility, DeviceConfig } from '../config/schema.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import type { SimulatedMqttDevice, SimulatedDeviceOptions } from './mqtt-device.js';
import { NON_MQTT_SIMULATORS, type RunningSimulator } from './register.js';
import { firePanelSimulator } from './kinds.js';
import { DoorSimulator, doorSimulator } from './door.js';
import { RobotSimulator, robotSimulator } from './robot.js';
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
  /** The robot moves this many times faster than a real one (the demo: 10); default 1. */
  robotSpeed?: number;
  /**
   * Which simulators: MQTT devices need the hub's broker, the others (Modbus, serial) are
   * servers the hub connects to and can start before it. Default: all.
   */
  which?: 'mqtt' | 'other' | 'all';
  /**
   * Stop at the first simulator that fails (stopping those already started) and throw
   * SimulatorStartError. `start` uses it: a simulator that cannot bind its port must not
   * leave the hub connecting to whatever else listens there (another hub's simulator).
   */
  failFast?: boolean;
}

/** A simulator could not start; names the device, where it should listen and why. */
export class SimulatorStartError extends Error {
  constructor(
    readonly deviceId: string,
    readonly where: string | null,
    override readonly cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const inUse = (cause as NodeJS.ErrnoException | null)?.code === 'EADDRINUSE' || /EADDRINUSE/.test(why);
    super(
      `the simulator of ${deviceId} cannot start${where ? ` on ${where}` : ''}: ${why}` +
        (inUse ? ' (the port is taken, perhaps by another hub\'s simulators: give this facility other ports, or use --sim-port-base N, or --sim-port-base 0 for free ports)' : ''),
    );
    this.name = 'SimulatorStartError';
  }
}

/** The device's own listening endpoint when a simulator serves it (Modbus TCP, TCP). */
function serverEndpoint(config: DeviceConfig): { host: string; port: number } | null {
  const t = config.transport;
  return t.type === 'modbus-tcp' || t.type === 'tcp' ? { host: t.host, port: t.port } : null;
}

/**
 * The facility with the simulated server devices (Modbus TCP, TCP) moved to other ports:
 * base N gives them N, N+1, ... in config order; base 0 gives each a free port, chosen when
 * its simulator binds (read the result back with `withBoundPorts`). Two hubs on one machine
 * thus each talk to their own simulators. A copy: the given facility is not changed.
 */
export function withSimulatorPorts(facility: Facility, base: number, only?: string[]): Facility {
  const copy = structuredClone(facility);
  const chosen = new Set(simulatedDevices(copy, only).map((d) => d.id));
  let next = base;
  for (const d of copy.devices) {
    const t = d.transport;
    if (!chosen.has(d.id) || (t.type !== 'modbus-tcp' && t.type !== 'tcp')) continue;
    if (base > 0 && next > 65535) throw new Error(`--sim-port-base ${base}: device ${d.id} would get port ${next}, beyond 65535`);
    t.port = base === 0 ? 0 : next++;
  }
  return copy;
}

/** The facility with each server device's port set to where its running simulator listens. */
export function withBoundPorts(facility: Facility, running: RunningSimulator[]): Facility {
  const copy = structuredClone(facility);
  for (const sim of running) {
    const d = copy.devices.find((x) => x.id === sim.deviceId);
    const t = d?.transport;
    if (sim.endpoint && t && (t.type === 'modbus-tcp' || t.type === 'tcp')) t.port = sim.endpoint.port;
  }
  return copy;
}

type MqttBase = Omit<SimulatedDeviceOptions, 'deviceId' | 'initialState' | 'commands' | 'extraSubscriptions'>;

const MQTT_SIMULATORS: Record<string, (config: DeviceConfig, base: MqttBase, opts: SimulatorsOptions) => SimulatedMqttDevice> = {
  gate: (config, base) => gateSimulator(config, base),
  door: (config, base) => doorSimulator(config, base),
  robot: (config, base, opts) => robotSimulator(config, base, { speed: opts.robotSpeed ?? 1 }),
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
      if (opts.failFast) {
        await stopSimulators(running);
        const at = serverEndpoint(config);
        throw new SimulatorStartError(config.id, at ? `${at.host}:${at.port}` : null, err);
      }
      log.error({ err }, 'simulator failed to start');
    }
  }
  linkRobotsAndDoors(running);
  return running;
}

/**
 * The physical world between the robot and the door: the door's reader recognises the robot
 * at the door (its badge) and asks the hub to open; the robot passes once the contact opens.
 * In a site that is radio and sensors; here both simulators run in this process.
 */
export function linkRobotsAndDoors(running: RunningSimulator[]): void {
  const robots = running.flatMap((r) => (r.handle instanceof RobotSimulator ? [r.handle] : []));
  const doors = new Map(running.flatMap((r) => (r.handle instanceof DoorSimulator ? [[r.deviceId, r.handle] as const] : [])));
  for (const robot of robots) {
    robot.on('at-door', (doorId, robotId) => {
      void doors.get(doorId)?.requestOpen({ kind: 'robot', id: robotId }).catch(() => undefined);
    });
  }
  for (const [doorId, door] of doors) door.on('opened', () => robots.forEach((r) => r.doorOpened(doorId)));
}

export async function stopSimulators(list: RunningSimulator[]): Promise<void> {
  for (const s of [...list].reverse()) {
    await s.stop().catch(() => undefined);
  }
}
