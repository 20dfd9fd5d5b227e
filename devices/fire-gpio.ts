/**
 * A fire panel as a dry contact on a GPIO input (docs/config.md, "A fire panel on a GPIO
 * input"): the panel's alarm relay closes (logical 1; `activeLow` for a contact wired the
 * other way) while the panel is in alarm. The level must hold for `debounceMs` of the
 * hub's clock before it counts, so contact bounce or a spike on a long cable never raises
 * (or clears) a fire alarm; the accepted level is logged as the panel's `alarm` / `clear`
 * event and emitted as the same `fire.alarm` bus event an MQTT panel's events give, so the
 * fire feature, the jammer interlock, the gates and the door all follow it unchanged.
 */
import type { TimerHandle } from '../kernel/clock.js';
import type { Bit, DigitalInput } from '../drivers/gpio.js';
import type { TransportOf } from '../config/schema.js';
import type { CommandOutcome } from './seam.js';
import { driverOf, type Device, type DeviceCommand, type DeviceContext, type DeviceHealth, type GpioOpener } from './types.js';
import { createMqttDevice } from './kinds.js';

/** A line that cannot be opened (no GPIO on this machine, exported elsewhere) is tried again this often. */
const REOPEN_MS = 5000; // 5 s

export class GpioFirePanel implements Device {
  readonly id: string;
  readonly kind = 'fire-panel' as const;
  readonly commandNames: readonly string[] = [];
  private readonly opener: GpioOpener;
  private readonly debounceMs: number;
  private input: DigitalInput | null = null;
  private unwatch: (() => void) | null = null;
  private reopen: TimerHandle | null = null;
  private pending: TimerHandle | null = null;
  /** The level accepted after debouncing (null before the first read). */
  private accepted: Bit | null = null;
  private stopped = false;
  private work: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: DeviceContext) {
    this.id = ctx.config.id;
    this.opener = driverOf(ctx, 'gpio').gpio;
    this.debounceMs = (ctx.config.transport as TransportOf<'gpio'>).debounceMs ?? 20;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.ctx.availability.setLink(this.id, false, 'GPIO line not opened yet');
    await this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.reopen?.cancel();
    this.pending?.cancel();
    this.unwatch?.();
    this.unwatch = null;
    const input = this.input;
    this.input = null;
    await input?.close();
    await this.work;
  }

  health(): DeviceHealth {
    const r = this.ctx.availability.get(this.id);
    return { available: r?.available ?? false, lastSeen: r?.lastSeen ?? null, state: r?.state ?? {}, ...(r ? { detail: r.reason } : {}) };
  }

  async execute(command: DeviceCommand): Promise<CommandOutcome> {
    const req = { deviceId: this.id, deviceKind: this.kind, cmd: command.cmd, args: command.args, issuer: command.issuer, sessionIds: this.ctx.sessionsFor(this.id) };
    return this.ctx.commands.run(req, async () => ({ ok: false, error: `a fire panel on a GPIO input takes no commands (got ${command.cmd})` }));
  }

  /** Resolves once every accepted change so far is logged and emitted (tests). */
  async idle(): Promise<void> {
    await this.work;
  }

  private async open(): Promise<void> {
    if (this.stopped || this.input) return;
    const r = this.opener.open();
    if (!r.ok) {
      this.ctx.availability.setLink(this.id, false, `GPIO: ${r.error.message}`);
      this.reopen = this.ctx.clock.setTimeout(() => void this.open(), REOPEN_MS);
      return;
    }
    this.input = r.value;
    this.unwatch = r.value.watch((value) => this.edge(value));
    await this.firstRead();
  }

  /** The level at start counts at once: a panel already in alarm when the hub starts is a fire now. */
  private async firstRead(): Promise<void> {
    const input = this.input;
    if (!input || this.stopped) return;
    const first = await input.read();
    if (!first.ok) {
      this.ctx.availability.setLink(this.id, false, `GPIO ${first.error.kind}: ${first.error.message}`);
      this.reopen = this.ctx.clock.setTimeout(() => void this.firstRead(), REOPEN_MS);
      return;
    }
    this.ctx.availability.setLink(this.id, true, 'GPIO line open');
    if (this.pending === null && this.accepted === null) this.accept(first.value);
  }

  /** A level must hold for debounceMs: each edge restarts the wait, and the level read then is what counts. */
  private edge(value: Bit): void {
    this.ctx.availability.seen(this.id);
    this.pending?.cancel();
    this.pending = this.ctx.clock.setTimeout(() => {
      this.pending = null;
      void this.settle(value);
    }, this.debounceMs);
  }

  private async settle(edgeValue: Bit): Promise<void> {
    const input = this.input;
    if (!input || this.stopped) return;
    const r = await input.read();
    if (r.ok && !this.ctx.availability.isAvailable(this.id)) this.ctx.availability.setLink(this.id, true, 'GPIO line answering');
    this.accept(r.ok ? r.value : edgeValue);
  }

  private accept(value: Bit): void {
    if (value === this.accepted) return;
    const first = this.accepted === null;
    this.accepted = value;
    const active = value === 1;
    this.ctx.availability.patchState(this.id, { alarm: active });
    // A quiet panel at start is not news: only an alarm, or a change, is logged and emitted.
    if (first && !active) return;
    const type = active ? 'alarm' : 'clear';
    const ts = this.ctx.clock.now();
    const sessionIds = this.ctx.sessionsFor(this.id);
    this.work = this.work.then(async () => {
      try {
        await this.ctx.events.append({ type: 'device.event', actor: `device:${this.id}`, deviceId: this.id, sessionIds, data: { type, ts, source: 'gpio' } });
      } catch (err) {
        this.ctx.log.error({ err, deviceId: this.id }, 'fire input change not logged');
      }
      this.ctx.bus.emit('fire.alarm', { active, deviceId: this.id });
      this.ctx.bus.emit('device.event', { deviceId: this.id, kind: this.kind, event: { type, ts, source: 'gpio' }, sessionIds });
    });
  }
}

/** The `fire-panel` kind: over MQTT per the contract, or a dry contact on a GPIO input. */
export function createFirePanelDevice(ctx: DeviceContext): Device {
  return ctx.driver.type === 'gpio' ? new GpioFirePanel(ctx) : createMqttDevice(ctx);
}
