import type { DeviceKind } from '../config/schema.js';
import type { DeviceContext, Device } from './types.js';
import { createMqttDevice } from './kinds.js';
import { createDoorDevice } from './door.js';
import { createFirePanelDevice } from './fire-gpio.js';
import { createUpsDevice } from './ups.js';
import { createRelayDevice } from './relay.js';
import { createBroadcastDevice } from './broadcast.js';
import { createRobotDevice } from './robot.js';

/**
 * The table of device kinds (style pattern 3). A factory receives the one context object;
 * its `driver` is what the composition root built for the device's transport, and the
 * device narrows it by its `type` (`driverOf`).
 */
export type KindFactory = (ctx: DeviceContext) => Device;

export const KIND_FACTORIES: Partial<Record<DeviceKind, KindFactory>> = {
  gate: createMqttDevice,
  door: createDoorDevice,
  robot: createRobotDevice,
  // A fire panel reports over MQTT, or is a dry contact on a GPIO input.
  'fire-panel': createFirePanelDevice,
  // --- power: a unit on a hub-owned Modbus line, a NUT client or a GPIO input ---
  ups: createUpsDevice,
  relay: createRelayDevice,
  // --- broadcast: the PA controller's line (serial or tcp), owned by the hub ---
  broadcast: createBroadcastDevice,
};
