import type { Bus } from '../hub/bus.js';
import type { Clock } from '../hub/clock.js';
import type { HubEvents } from '../hub/events.js';
import type { Logger } from '../hub/log.js';
import type { DeviceConfig, DeviceKind, Facility } from '../config/schema.js';
import type { DeviceMessage, IngestOutcome } from '../hub/broker/broker.js';
import type { CommandLedger, CommandOutcome } from '../hub/commands.js';
import type { Availability } from '../hub/availability.js';
import type { EventLog } from '../hub/store/events.js';
import type { Metrics } from '../hub/metrics.js';

/**
 * The one context object every device gets (style pattern 3): adding a field never breaks
 * a device. `driver` is the transport this kind talks through.
 */
export interface DeviceContext<TDriver = unknown> {
  config: DeviceConfig;
  facility: Facility;
  bus: Bus<HubEvents>;
  log: Logger;
  clock: Clock;
  driver: TDriver;
  availability: Availability;
  events: EventLog;
  commands: CommandLedger;
  metrics: Metrics;
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
}

export type DeviceFactory = (ctx: DeviceContext) => Device;
