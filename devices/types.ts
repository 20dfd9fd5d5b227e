import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import type { DeviceConfig, DeviceKind, Facility } from '../config/schema.js';
import type { ModbusDeviceDriver } from '../drivers/modbus-pool.js';
import type { NutClient } from '../drivers/nut.js';
import type { SerialLink } from '../drivers/serial-link.js';
import type { PaFrame } from '../drivers/pa-protocol.js';
import type { DigitalInput } from '../drivers/gpio.js';
import type { Result } from '../kernel/result.js';
import type { CommandOutcome, DeviceAvailability, DeviceBus, DeviceCommands, DeviceEventLog, DeviceMessage, DeviceMetrics, IngestOutcome } from './seam.js';

/** The MQTT transport as a device sees it: publish to one of its own topics. */
export interface MqttDriver {
  publish(deviceId: string, subtopic: 'cmd' | 'verify/result', payload: unknown): Promise<void>;
}

/** Opens the dry-contact input behind a `gpio` device (onoff on a board, a fake in tests). */
export interface GpioOpener {
  open(): Result<DigitalInput>;
}

/**
 * The transport a device is given, built by the composition root for the device's
 * `transport` and told apart by `type`, so that a device narrows it instead of casting.
 * Lines (Modbus, serial) are owned by the hub and shared by every device on them.
 */
export type DeviceDriver =
  | { type: 'mqtt'; mqtt: MqttDriver }
  | { type: 'modbus'; modbus: ModbusDeviceDriver }
  | { type: 'nut'; nut: NutClient }
  | { type: 'gpio'; gpio: GpioOpener }
  | { type: 'pa-link'; link: SerialLink<PaFrame> };

/** The driver of one type, or an error naming what the device needed (a config the schema let through). */
export function driverOf<T extends DeviceDriver['type']>(ctx: { config: DeviceConfig; driver: DeviceDriver }, ...types: T[]): Extract<DeviceDriver, { type: T }> {
  const d = ctx.driver;
  if ((types as string[]).includes(d.type)) return d as Extract<DeviceDriver, { type: T }>;
  throw new Error(`${ctx.config.id}: a ${ctx.config.kind} device cannot use a ${d.type} driver (needs ${types.join(' or ')})`);
}

/**
 * The one context object every device gets (style pattern 3): adding a field never breaks
 * a device. Every service in it is an interface of `./seam.ts`, which the hub implements.
 */
export interface DeviceContext {
  config: DeviceConfig;
  facility: Facility;
  bus: DeviceBus;
  log: Logger;
  clock: Clock;
  driver: DeviceDriver;
  availability: DeviceAvailability;
  events: DeviceEventLog;
  commands: DeviceCommands;
  metrics: DeviceMetrics;
  /** Sessions this device serves right now (by its rooms and zones). */
  sessionsFor: (deviceId: string) => string[];
}

export interface DeviceCommand {
  cmd: string;
  args: Record<string, unknown>;
  /** `user:NAME` or `automation:WHAT`, for the ledger and the event log. */
  issuer: string;
  sessionId?: string;
}

export interface DeviceHealth {
  available: boolean;
  lastSeen: number | null;
  state: Record<string, unknown>;
  detail?: string;
}

export interface Device {
  readonly id: string;
  readonly kind: DeviceKind;
  start(): Promise<void>;
  stop(): Promise<void>;
  execute(command: DeviceCommand): Promise<CommandOutcome>;
  health(): DeviceHealth;
  /** MQTT devices: a validated-as-JSON message from the device's event or verify topic. */
  handleMessage?(m: DeviceMessage): Promise<IngestOutcome>;
  /** Command names this device accepts, for the API and the console. */
  readonly commandNames: readonly string[];
  /** The hub feature that alone may do what this command does (a jammer output), else null. */
  commandOwner?(command: Pick<DeviceCommand, 'cmd' | 'args'>): { owner: string; what: string } | null;
}

export type DeviceFactory = (ctx: DeviceContext) => Device;
