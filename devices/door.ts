/**
 * The sealed evaluation area's door controller (docs/door.md), an MQTT device per the
 * contract. Its state is `{locked, contact: 'open'|'closed'}` (retained). It reports the
 * contact's changes, `forced-open` (the contact opened while locked), `held-open` (left open
 * past its hold time) and `open-request`: someone or something at the reader (the robot's
 * badge, a card, the exit button) asks to pass, and the hub answers with `grant` (the
 * controller unlocks, lets one passage through, closes and relocks behind) or `deny`.
 *
 * Only the door feature (and the fire feature, per `fire.door`) switch a door: once
 * claimed, the generic command API refuses every command that would open, unlock, lock or
 * grant it (409 naming the owner), whatever the caller's role.
 */
import { Type } from '@sinclair/typebox';
import { MqttDevice, eventSchema, noArgs, type MqttKindSpec } from './mqtt-device.js';
import type { DeviceCommand, DeviceContext } from './types.js';

const RequestId = Type.String({ pattern: '^[A-Za-z0-9._:-]{1,64}$' });

/** Who asks at the reader: the robot (by its device id), a card (its number), the exit button, a key switch. */
export const REQUESTER_KINDS = ['robot', 'card', 'button', 'key', 'remote', 'unknown'] as const;
export type RequesterKind = (typeof REQUESTER_KINDS)[number];
export interface Requester {
  kind: RequesterKind;
  id: string;
}
const RequesterSchema = Type.Object(
  { kind: Type.Union(REQUESTER_KINDS.map((k) => Type.Literal(k))), id: Type.String({ pattern: '^[A-Za-z0-9._:-]{1,64}$' }) },
  { additionalProperties: false },
);

/** Why a door refused an open-request (the `deny` command's `reason`). */
export const DENY_REASONS = ['not-on-task', 'session-running', 'outside-policy', 'door-unavailable'] as const;
export type DenyReason = (typeof DENY_REASONS)[number];

const requestIdArg = (args: Record<string, unknown>): string | null => {
  const extra = Object.keys(args).filter((k) => k !== 'requestId');
  if (extra.length) return `grant takes only requestId (got ${extra.join(', ')})`;
  return typeof args.requestId === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(args.requestId) ? null : 'argument requestId must be the open-request id';
};
const denyArgs = (args: Record<string, unknown>): string | null => {
  const extra = Object.keys(args).filter((k) => k !== 'requestId' && k !== 'reason' && k !== 'message');
  if (extra.length) return `deny takes requestId, reason and message (got ${extra.join(', ')})`;
  if (typeof args.requestId !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(args.requestId)) return 'argument requestId must be the open-request id';
  if (typeof args.reason !== 'string' || !(DENY_REASONS as readonly string[]).includes(args.reason)) return `argument reason must be one of ${DENY_REASONS.join(', ')}`;
  if (args.message !== undefined && (typeof args.message !== 'string' || args.message.length > 200)) return 'argument message must be a short text';
  return null;
};

export const doorSpec: MqttKindSpec = {
  kind: 'door',
  commands: { open: noArgs, lock: noArgs, unlock: noArgs, grant: requestIdArg, deny: denyArgs },
  events: {
    opened: eventSchema('opened', { by: Type.Optional(Type.Union(['card', 'button', 'key', 'remote', 'robot', 'unknown'].map((b) => Type.Literal(b)))), requestId: Type.Optional(RequestId) }),
    closed: eventSchema('closed'),
    'forced-open': eventSchema('forced-open'),
    'held-open': eventSchema('held-open', { seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })) }),
    'open-request': eventSchema('open-request', { requestId: RequestId, requester: RequesterSchema }),
  },
};

/** Commands that move the lock or let someone through: the door feature's alone once it claims the door. */
export const DOOR_SWITCHING_COMMANDS: readonly string[] = ['open', 'unlock', 'lock', 'grant'];

/** What a door reports as its state, read defensively (a controller may publish more fields). */
export interface DoorState {
  locked: boolean | null;
  contact: 'open' | 'closed' | null;
}

export function doorStateOf(state: Record<string, unknown> | undefined): DoorState {
  const s = state ?? {};
  const locked = typeof s.locked === 'boolean' ? s.locked : null;
  // Older controllers say `open: true|false` instead of `contact`.
  const contact = s.contact === 'open' || s.contact === 'closed' ? s.contact : typeof s.open === 'boolean' ? (s.open ? 'open' : 'closed') : null;
  return { locked, contact };
}

export class DoorDevice extends MqttDevice {
  private owner: string | null = null;

  constructor(ctx: DeviceContext) {
    super(ctx, doorSpec);
  }

  /** Marks the door as switched only by `owner` (the door feature): the generic command API refuses the switching commands. */
  claim(owner: string): void {
    if (this.owner !== null && this.owner !== owner) throw new Error(`${this.id} is already owned by ${this.owner}`);
    this.owner = owner;
  }

  commandOwner(command: Pick<DeviceCommand, 'cmd' | 'args'>): { owner: string; what: string } | null {
    if (this.owner === null || !DOOR_SWITCHING_COMMANDS.includes(command.cmd)) return null;
    return { owner: this.owner, what: `door ${this.id} (${command.cmd})` };
  }
}

export function createDoorDevice(ctx: DeviceContext): DoorDevice {
  return new DoorDevice(ctx);
}
