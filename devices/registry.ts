import type { DeviceKind } from '../config/schema.js';
import type { DeviceContext, Device } from './types.js';
import { createMqttDevice } from './kinds.js';
import type { MqttDriver } from './mqtt-device.js';
import { createUpsDevice } from './ups.js';
import { createRelayDevice } from './relay.js';
import { createBroadcastDevice } from './broadcast.js';

/**
 * The table of device kinds (style pattern 3). A factory receives the one context object;
 * its `driver` is what the composition root built for the device's transport.
 */
export type KindFactory = (ctx: DeviceContext) => Device;

export const KIND_FACTORIES: Partial<Record<DeviceKind, KindFactory>> = {
  gate: (ctx) => createMqttDevice(ctx as DeviceContext<MqttDriver>),
  door: (ctx) => createMqttDevice(ctx as DeviceContext<MqttDriver>),
  robot: (ctx) => createMqttDevice(ctx as DeviceContext<MqttDriver>),
  'fire-panel': (ctx) => createMqttDevice(ctx as DeviceContext<MqttDriver>),
  // --- power: driver from the power feature's factories (ModbusDeviceDriver, NutClient, GpioOpener) ---
  ups: createUpsDevice,
  relay: createRelayDevice,
  // --- broadcast: driver = the PA controller's line (serial or tcp), from installBroadcast ---
  broadcast: createBroadcastDevice,
};
