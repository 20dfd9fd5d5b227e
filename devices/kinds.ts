import { Type } from '@sinclair/typebox';
import { MqttDevice, eventSchema, noArgs, type MqttKindSpec } from './mqtt-device.js';
import type { DeviceContext, Device } from './types.js';
import type { DeviceKind } from '../config/schema.js';
import { doorSpec } from './door.js';
import { robotSpec } from './robot.js';

export { robotSpec };

/*
 * What each MQTT kind may report, field by field (TypeBox, compiled once; docs/contract.md
 * lists them). Every event also has `type`, `ts`? and a short `detail`?; anything else is
 * rejected with the reason and not stored.
 */
const RequestId = Type.String({ pattern: '^[A-Za-z0-9._:-]{1,64}$' });
const Name = Type.String({ minLength: 1, maxLength: 64 });

/** Gate (face + ID-card): verify requests go to the check-in policy; these are its events. */
export const gateSpec: MqttKindSpec = {
  kind: 'gate',
  commands: { open: noArgs, lock: noArgs, unlock: noArgs, reboot: noArgs },
  events: {
    passed: eventSchema('passed', { requestId: RequestId }),
    // The person leaving, by the requestId of their entry or by their card (checked as at entry).
    exit: eventSchema('exit', { requestId: Type.Optional(RequestId), idNumber: Type.Optional(Type.String({ maxLength: 32 })) }),
    tamper: eventSchema('tamper'),
    'forced-open': eventSchema('forced-open'),
    'offline-pass': eventSchema('offline-pass', { requestId: RequestId, idHash: Type.String({ pattern: '^[0-9a-f]{64}$' }), sessionId: Type.String({ minLength: 1, maxLength: 64 }) }),
  },
};

export const firePanelSpec: MqttKindSpec = {
  kind: 'fire-panel',
  commands: { silence: noArgs, reset: noArgs },
  events: {
    alarm: eventSchema('alarm', { zone: Type.Optional(Name) }),
    clear: eventSchema('clear', { zone: Type.Optional(Name) }),
    fault: eventSchema('fault', { zone: Type.Optional(Name), code: Type.Optional(Type.String({ maxLength: 32 })) }),
  },
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
