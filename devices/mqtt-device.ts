import { Type, type TProperties, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { CommandOutcome, DeviceEventPayload, DeviceMessage, IngestOutcome } from './seam.js';
import { parseTime } from '../kernel/time.js';
import { driverOf, type Device, type DeviceCommand, type DeviceContext, type DeviceHealth, type MqttDriver } from './types.js';
import type { DeviceKind } from '../config/schema.js';

/**
 * The largest event a device may report, as JSON (2 KiB). The broker's payload limit is
 * for every topic; an event goes into a log that is never erased, so its own bound is
 * far smaller, and what each kind may say is listed field by field below.
 */
export const MAX_EVENT_BYTES = 2048;

/** A compiled TypeBox schema of one event type (its whole payload, envelope included). */
export type EventCheck = TypeCheck<TSchema>;

/** Short text a device may attach to any event (shown to operators, never parsed). */
const Detail = Type.String({ maxLength: 200 });
const EventTime = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 40 })]);

/**
 * The schema of one event type: `{"type", "ts"?, "detail"?}` and the given fields,
 * nothing else (additionalProperties false), compiled once.
 */
export function eventSchema(type: string, fields: TProperties = {}): EventCheck {
  return TypeCompiler.Compile(Type.Object({ type: Type.Literal(type), ts: Type.Optional(EventTime), detail: Type.Optional(Detail), ...fields }, { additionalProperties: false }));
}

export interface MqttKindSpec {
  kind: DeviceKind;
  /** Commands the device accepts, each with an argument check (error text or null). */
  commands: Record<string, (args: Record<string, unknown>) => string | null>;
  /** Event types the device may report; others are rejected. */
  events: Record<string, EventCheck>;
  /** Side effects of an accepted event on the hub (e.g. the fire alarm). */
  onEvent?: (ctx: DeviceContext, event: DeviceEventPayload) => void;
}

/**
 * A device that speaks the contract's MQTT topics (gates, door, robot, fire panel):
 * availability comes from its connection and status topic, events are validated against
 * the kind's spec and logged with the sessions the device serves, commands go through
 * the ledger as `cmd` and come back as `cmd/ack`.
 */
export class MqttDevice implements Device {
  readonly id: string;
  readonly kind: DeviceKind;
  readonly commandNames: readonly string[];
  private readonly mqtt: MqttDriver;

  constructor(
    private readonly ctx: DeviceContext,
    private readonly spec: MqttKindSpec,
  ) {
    this.id = ctx.config.id;
    this.kind = spec.kind;
    this.commandNames = Object.keys(spec.commands);
    this.mqtt = driverOf(ctx, 'mqtt').mqtt;
  }

  async start(): Promise<void> {
    // Nothing to open: the device connects to the broker itself.
  }

  async stop(): Promise<void> {}

  health(): DeviceHealth {
    const r = this.ctx.availability.get(this.id);
    return { available: r?.available ?? false, lastSeen: r?.lastSeen ?? null, state: r?.state ?? {}, ...(r ? { detail: r.reason } : {}) };
  }

  async execute(command: DeviceCommand): Promise<CommandOutcome> {
    const check = this.spec.commands[command.cmd];
    const req = {
      deviceId: this.id,
      deviceKind: this.kind,
      cmd: command.cmd,
      args: command.args,
      issuer: command.issuer,
      sessionIds: command.sessionId ? [command.sessionId] : this.ctx.sessionsFor(this.id),
    };
    if (!check) return this.ctx.commands.run(req, async () => ({ ok: false, error: `unknown command ${command.cmd} (known: ${this.commandNames.join(', ') || 'none'})` }));
    const argError = check(command.args);
    if (argError) return this.ctx.commands.run(req, async () => ({ ok: false, error: argError }));
    if (!this.ctx.availability.isAvailable(this.id)) return this.ctx.commands.refuse(req, 'unavailable', `${this.id} is unavailable`);
    return this.ctx.commands.dispatch(req, (message) => this.mqtt.publish(this.id, 'cmd', message));
  }

  async handleMessage(m: DeviceMessage): Promise<IngestOutcome> {
    if (m.subtopic !== 'event') return { accepted: false, reason: `${this.kind} does not publish ${m.subtopic}` };
    const checked = checkEvent(this.spec, m.payload, this.ctx.clock.now());
    if ('error' in checked) return { accepted: false, reason: checked.error };
    const event = checked.event;
    const sessionIds = this.ctx.sessionsFor(this.id);
    // Durable before the PUBACK (the broker awaits this).
    await this.ctx.events.append({ type: 'device.event', actor: `device:${this.id}`, deviceId: this.id, sessionIds, data: { ...event } });
    this.spec.onEvent?.(this.ctx, event);
    this.ctx.bus.emit('device.event', { deviceId: this.id, kind: this.kind, event, sessionIds });
    return { accepted: true };
  }
}

/** The contract's event envelope: `{"type": "...", "ts": ..., ...}`. */
export function parseEvent(payload: unknown, now: number): { event: DeviceEventPayload } | { error: string } {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return { error: 'event must be a JSON object' };
  const p = payload as Record<string, unknown>;
  if (typeof p.type !== 'string' || !/^[a-z][a-z0-9.-]{0,63}$/.test(p.type)) return { error: 'event.type must be a lower-case name' };
  let ts = now;
  if (p.ts !== undefined) {
    const t = parseTime(p.ts);
    if (t === null) return { error: 'event.ts must be ISO-8601 with an offset or epoch milliseconds' };
    ts = t;
  }
  return { event: { ...p, type: p.type, ts } };
}

export const noArgs = (args: Record<string, unknown>): string | null => (Object.keys(args).length === 0 ? null : `takes no arguments (got ${Object.keys(args).join(', ')})`);

/**
 * Validates a device's event against its kind: the size bound, the envelope, a type the
 * kind reports, and that type's schema. What fails is answered with the reason and never
 * stored (the broker logs and counts it as rejected).
 */
export function checkEvent(spec: MqttKindSpec, payload: unknown, now: number): { event: DeviceEventPayload } | { error: string } {
  let size: number;
  try {
    size = Buffer.byteLength(JSON.stringify(payload) ?? '', 'utf8');
  } catch {
    return { error: 'event is not JSON' };
  }
  if (size > MAX_EVENT_BYTES) return { error: `event too large: ${size} bytes > ${MAX_EVENT_BYTES}` };
  const parsed = parseEvent(payload, now);
  if ('error' in parsed) return parsed;
  const type = parsed.event.type;
  const check = spec.events[type];
  if (!check) return { error: `unknown event type "${type}" for a ${spec.kind} (known: ${Object.keys(spec.events).join(', ')})` };
  if (!check.Check(payload)) {
    const e = check.Errors(payload).First();
    const where = e?.path ? `event.${e.path.slice(1).replace(/\//g, '.')}` : 'event';
    return { error: `${type}: ${where}: ${e?.message ?? 'does not match the schema'} (fields of ${type}: ${fieldsOf(check)})` };
  }
  return parsed;
}

function fieldsOf(check: EventCheck): string {
  const props = (check.Schema() as { properties?: Record<string, unknown> }).properties ?? {};
  return Object.keys(props).join(', ');
}
