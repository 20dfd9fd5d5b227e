import type { DeviceConfig, Facility } from '../config/schema.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import { startUpsSimulator } from './ups-modbus.js';
import { startRelaySimulator } from './relay-modbus.js';
import { lstat, symlink, unlink } from 'node:fs/promises';
import { findSocat, startPaSimulator } from './pa-controller.js';

/** A running simulator of any kind. */
export interface RunningSimulator {
  deviceId: string;
  stop(): Promise<void>;
  /** The simulator object itself, for tests and the console's demo controls. */
  handle?: unknown;
  /** Where a server simulator listens (the port it bound, also when asked for port 0). */
  endpoint?: { host: string; port: number };
}

export interface SimulatorEnv {
  facility: Facility;
  clock: Clock;
  log: Logger;
}

export type NonMqttStarter = (config: DeviceConfig, env: SimulatorEnv) => Promise<RunningSimulator>;

// --- power: the UPS and relay-module simulators listen where the device's modbus-tcp transport points ---
function modbusEndpoint(config: DeviceConfig): { host: string; port: number; unitId: number } {
  const t = config.transport;
  if (t.type !== 'modbus-tcp') throw new Error(`the ${config.kind} simulator serves Modbus TCP only, not ${t.type}`);
  return { host: t.host, port: t.port, unitId: t.unitId };
}

async function startUpsSim(config: DeviceConfig, env: SimulatorEnv): Promise<RunningSimulator> {
  const at = modbusEndpoint(config);
  const sim = await startUpsSimulator({ ...at, clock: env.clock, log: env.log });
  return { deviceId: config.id, stop: () => sim.stop(), handle: sim, endpoint: { host: at.host, port: sim.port } };
}

async function startRelaySim(config: DeviceConfig, env: SimulatorEnv): Promise<RunningSimulator> {
  const o = config.options as { coils?: number; outputs?: { coil: number; role: string }[] };
  const coils = o.coils ?? 8;
  // The building's loads are powered when the demo starts; jammers start off.
  const initial = Array.from({ length: coils }, (_, i) => (o.outputs ?? []).some((x) => x.coil === i && (x.role === 'sheddable' || x.role === 'critical')));
  const at = modbusEndpoint(config);
  const sim = await startRelaySimulator({ ...at, coils, initial, log: env.log });
  return { deviceId: config.id, stop: () => sim.stop(), handle: sim, endpoint: { host: at.host, port: sim.port } };
}
// --- end power ---

// --- broadcast: the PA controller simulator on the device's tcp host/port, or on a pty where its transport is serial ---
async function startPaSim(config: DeviceConfig, env: SimulatorEnv): Promise<RunningSimulator> {
  const t = config.transport;
  const zones = Math.max(1, ...((config.options as { zones?: { zone: number }[] }).zones ?? []).map((z) => z.zone));
  if (t.type === 'tcp') {
    // The contract's TCP port, plus a pseudo-terminal where socat exists (for trying the serial path by hand).
    const sim = await startPaSimulator({ host: t.host, port: t.port, zones, pty: findSocat() !== null, clock: env.clock, log: env.log });
    if (sim.ptyPath) env.log.info({ ptyPath: sim.ptyPath }, 'PA simulator also serves a pseudo-terminal');
    return { deviceId: config.id, stop: () => sim.stop(), handle: sim, endpoint: { host: t.host, port: sim.port } };
  }
  if (t.type !== 'serial') throw new Error(`the broadcast simulator serves tcp or serial, not ${t.type}`);
  // socat makes the pty in a temporary directory; the configured path becomes a link to it.
  const sim = await startPaSimulator({ host: '127.0.0.1', port: 0, zones, pty: true, clock: env.clock, log: env.log });
  try {
    const existing = await lstat(t.path).catch(() => null);
    if (existing && !existing.isSymbolicLink()) throw new Error(`${t.path} exists and is not a link: not replacing a real device`);
    if (existing) await unlink(t.path);
    await symlink(sim.ptyPath ?? '', t.path);
  } catch (err) {
    await sim.stop();
    throw err;
  }
  return {
    deviceId: config.id,
    stop: async () => {
      await unlink(t.path).catch(() => undefined);
      await sim.stop();
    },
    handle: sim,
  };
}
// --- end broadcast ---

/**
 * Simulators of devices on other transports (Modbus, serial), by device kind: one entry
 * per kind, each starting a simulator that listens where the device's config points
 * (e.g. a Modbus TCP server on the configured host and port).
 */
export const NON_MQTT_SIMULATORS = new Map<string, NonMqttStarter>([
  // --- power: ups, relay ---
  ['ups', startUpsSim],
  ['relay', startRelaySim],

  // --- broadcast ---
  ['broadcast', startPaSim],
]);
