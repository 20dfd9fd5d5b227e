import type { CommandOutcome, DeviceEventPayload, DeviceMessage, IngestOutcome } from './seam.js';
import { parseTime } from '../kernel/time.js';
import { driverOf, type Device, type DeviceCommand, type DeviceContext, type DeviceHealth, type MqttDriver } from './types.js';
import type { DeviceKind } from '../config/schema.js';

/** Checks a kind-specific event; returns an error text or null. */
export type EventCheck = (event: DeviceEventPayload) => string | null;

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
    const parsed = parseEvent(m.payload, this.ctx.clock.now());
    if ('error' in parsed) return { accepted: false, reason: parsed.error };
    const event = parsed.event;
    const check = this.spec.events[event.type];
    if (!check) return { accepted: false, reason: `unknown event type "${event.type}" for a ${this.kind} (known: ${Object.keys(this.spec.events).join(', ')})` };
    const err = check(event);
    if (err) return { accepted: false, reason: err };
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
export const anyEvent: EventCheck = () => null;
export const requireString =
  (field: string): EventCheck =>
  (e) =>
    typeof e[field] === 'string' && e[field] !== '' ? null : `event.${field} must be a non-empty string`;
