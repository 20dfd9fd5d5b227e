import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import { ok } from '../kernel/result.js';
import type { DeviceConfig, Facility } from '../config/schema.js';
import { ModbusPool } from '../drivers/modbus-pool.js';
import type { ReconnectPolicy } from '../drivers/modbus.js';
import { NutClient } from '../drivers/nut.js';
import { openGpioInput, type DigitalInput } from '../drivers/gpio.js';
import { createBroadcastDriver } from '../devices/broadcast.js';
import type { DeviceDriver, MqttDriver } from '../devices/types.js';

export interface LineOptions {
  /** Reconnect backoff of the Modbus and NUT drivers (tests shorten it). */
  reconnect?: ReconnectPolicy;
  /** The input behind a `gpio` device (tests pass a FakeDigitalInput); onoff's sysfs GPIO otherwise. */
  gpioInput?: (deviceId: string) => DigitalInput;
  /** Where a NUT transport's `passwordEnv` is read (defaults to the process environment). */
  env?: Record<string, string | undefined>;
}

/**
 * The hub owns every physical line (the Home Assistant modbus pattern): one ModbusLine per
 * Modbus TCP endpoint or RTU port, shared by every device on it, whichever feature uses
 * the device (a relay module serves jammer zones and sheddable loads through one line).
 * Devices and features borrow; the composition root builds and closes.
 */
export class HubLines {
  private readonly modbus: ModbusPool;
  private readonly closers: (() => Promise<void> | void)[] = [];

  constructor(
    private readonly deps: { facility: Facility; clock: Clock; log: Logger; mqtt: MqttDriver; options?: LineOptions },
  ) {
    const reconnect = deps.options?.reconnect;
    this.modbus = new ModbusPool({ clock: deps.clock, log: deps.log.child({ driver: 'modbus' }), ...(reconnect ? { reconnect } : {}) });
  }

  /** The driver for a device's transport; Modbus devices on one line share it. */
  driverFor(config: DeviceConfig): DeviceDriver {
    const t = config.transport;
    const log = this.deps.log;
    const reconnect = this.deps.options?.reconnect;
    switch (t.type) {
      case 'mqtt':
        return { type: 'mqtt', mqtt: this.deps.mqtt };
      case 'modbus-tcp':
        return { type: 'modbus', modbus: this.modbus.acquire({ type: 'modbus-tcp', host: t.host, port: t.port, timeoutMs: t.timeoutMs }, t.unitId) };
      case 'modbus-rtu':
        return {
          type: 'modbus',
          modbus: this.modbus.acquire({ type: 'modbus-rtu', path: t.path, baudRate: t.baudRate, parity: t.parity, dataBits: t.dataBits, stopBits: t.stopBits, timeoutMs: t.timeoutMs }, t.unitId),
        };
      case 'nut': {
        const env = this.deps.options?.env ?? process.env;
        const password = t.passwordEnv ? env[t.passwordEnv] : undefined;
        const nut = new NutClient({
          config: { host: t.host, port: t.port, ups: t.ups, ...(t.username !== undefined ? { username: t.username } : {}), ...(password !== undefined ? { password } : {}) },
          clock: this.deps.clock,
          log: log.child({ driver: 'nut', deviceId: config.id }),
          ...(reconnect ? { reconnect } : {}),
        });
        return { type: 'nut', nut };
      }
      case 'gpio': {
        const fake = this.deps.options?.gpioInput;
        return {
          type: 'gpio',
          gpio: { open: () => (fake ? ok(fake(config.id)) : openGpioInput({ line: t.line, activeLow: t.activeLow, debounceMs: t.debounceMs, edge: 'both' }, log.child({ driver: 'gpio', deviceId: config.id }))) },
        };
      }
      case 'serial':
      case 'tcp': {
        if (config.kind !== 'broadcast') throw new Error(`no ${t.type} line for a ${config.kind} device`);
        const c = this.deps.facility.broadcast?.controller;
        const tunables = c ? { reconnectMinMs: c.reconnectMinMs, reconnectMaxMs: c.reconnectMaxMs } : {};
        return createBroadcastDriver(t, { clock: this.deps.clock, log: log.child({ device: config.id, module: 'pa-link' }) }, tunables);
      }
    }
  }

  /** Modbus lines currently open (health output and tests). */
  modbusLines(): number {
    return this.modbus.size();
  }

  async close(): Promise<void> {
    await this.modbus.stopAll();
  }
}
