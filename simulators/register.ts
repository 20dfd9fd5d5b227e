import type { DeviceConfig, Facility } from '../config/schema.js';
import type { Clock } from '../hub/clock.js';
import type { Logger } from '../hub/log.js';

/** A running simulator of any kind. */
export interface RunningSimulator {
  deviceId: string;
  stop(): Promise<void>;
  /** The simulator object itself, for tests and the console's demo controls. */
  handle?: unknown;
}

export interface SimulatorEnv {
  facility: Facility;
  clock: Clock;
  log: Logger;
}

export type NonMqttStarter = (config: DeviceConfig, env: SimulatorEnv) => Promise<RunningSimulator>;

/**
 * Simulators of devices on other transports (Modbus, serial), by device kind: one entry
 * per kind, each starting a simulator that listens where the device's config points
 * (e.g. a Modbus TCP server on the configured host and port).
 */
export const NON_MQTT_SIMULATORS = new Map<string, NonMqttStarter>([
  // --- power: ups, relay ---

  // --- broadcast ---
]);
