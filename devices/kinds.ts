import { MqttDevice, anyEvent, noArgs, requireString, type MqttKindSpec } from './mqtt-device.js';
import type { DeviceContext, Device } from './types.js';
import type { DeviceKind } from '../config/schema.js';

/** Gate (face + ID-card): verify requests go to the check-in policy; these are its events. */
export const gateSpec: MqttKindSpec = {
  kind: 'gate',
  commands: { open: noArgs, lock: noArgs, unlock: noArgs, reboot: noArgs },
  events: {
    passed: requireString('requestId'),
    exit: anyEvent,
    tamper: anyEvent,
    'forced-open': anyEvent,
    'offline-pass': requireString('requestId'),
  },
};

export const doorSpec: MqttKindSpec = {
  kind: 'door',
  commands: { open: noArgs, lock: noArgs, unlock: noArgs },
  events: { opened: anyEvent, closed: anyEvent, 'forced-open': anyEvent, 'held-open': anyEvent },
};

const roomArg =
  (field: string) =>
  (args: Record<string, unknown>): string | null =>
    typeof args[field] === 'string' && args[field] !== '' ? null : `argument ${field} must be a room id`;

export const robotSpec: MqttKindSpec = {
  kind: 'robot',
  commands: { deliver: roomArg('room'), return: noArgs, stop: noArgs },
  events: { arrived: anyEvent, delivered: anyEvent, returned: anyEvent, blocked: anyEvent, 'battery-low': anyEvent },
};

export const firePanelSpec: MqttKindSpec = {
  kind: 'fire-panel',
  commands: { silence: noArgs, reset: noArgs },
  events: { alarm: anyEvent, clear: anyEvent, fault: anyEvent },
  onEvent: (ctx, event) => {
    if (event.type === 'alarm' || event.type === 'clear') ctx.bus.emit('fire.alarm', { active: event.type === 'alarm', deviceId: ctx.config.id });
  },
};

export const MQTT_KINDS: Partial<Record<DeviceKind, MqttKindSpec>> = {
  gate: gateSpec,
  door: doorSpec,
  robot: robotSpec,
  'fire-panel': firePanelSpec,
};

export function createMqttDevice(ctx: DeviceContext): Device {
  const spec = MQTT_KINDS[ctx.config.kind];
  if (!spec) throw new Error(`${ctx.config.kind} is not an MQTT device kind`);
  return new MqttDevice(ctx, spec);
}
