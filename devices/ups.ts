/**
 * A UPS, polled at `pollMs` (default 1 s) through one of three sources (Modbus, NUT, GPIO
 * dry contact). It goes unavailable only after `missesBeforeLost` consecutive misses
 * (logged once), then polls with backoff until it answers again. Impossible readings
 * (charge 250 %) are refused: they count as misses, raise an alarm and keep the last valid
 * reading. A UPS lost while it was on battery is flagged `lostOnBattery` (the power
 * feature treats that as low battery, as NUT does). A configuration error the source finds
 * (a refused NUT login, a register the device does not have) is one alarm, raised once.
 * "Last seen" is the last answer. Every poll ends in a `ups.status` bus event.
 */
import type { CommandOutcome } from './seam.js';
import type { TimerHandle } from '../kernel/clock.js';
import type { KindOptions } from '../config/schema.js';
import { AlarmLatch } from './alarm.js';
import { upsMapFrom, type UpsStatus } from './ups-map.js';
import { GpioUpsSource, ModbusUpsSource, NutUpsSource, type UpsPoll, type UpsSource } from './ups-sources.js';
import { driverOf, type Device, type DeviceCommand, type DeviceContext, type DeviceHealth } from './types.js';

export const UPS_DEFAULTS = {
  pollMs: 1000, // 1 s
  missesBeforeLost: 3,
  // A lost UPS is asked again at most 2 s apart, so it is back within 5 s of answering
  // again. This is the only backoff of a lost UPS: the line reconnects on its own.
  maxBackoffMs: 2000,
} as const;

type UpsOptions = KindOptions<'ups'>;

/** The source for the device's transport; the driver is what the composition root built for it. */
export function upsSourceFor(ctx: DeviceContext): UpsSource {
  const options = ctx.config.options as Partial<UpsOptions>;
  const d = driverOf(ctx, 'modbus', 'nut', 'gpio');
  if (d.type === 'modbus') return new ModbusUpsSource(d.modbus, upsMapFrom(options));
  if (d.type === 'nut') return new NutUpsSource(d.nut);
  const t = ctx.config.transport;
  return new GpioUpsSource(d.gpio, ctx.log, ctx.clock, t.type === 'gpio' ? t.debounceMs : undefined);
}

export class UpsDevice implements Device {
  readonly id: string;
  readonly kind = 'ups' as const;
  readonly commandNames = ['refresh'] as const;
  private readonly pollMs: number;
  private readonly missesBeforeLost: number;
  private readonly alarms: AlarmLatch;
  private current: UpsStatus;
  private timer: TimerHandle | null = null;
  private polling: Promise<void> | null = null;
  private running = false;
  private unpush: (() => void) | null = null;
  private lostPolls = 0;

  constructor(
    private readonly ctx: DeviceContext,
    private readonly source: UpsSource = upsSourceFor(ctx),
  ) {
    this.id = ctx.config.id;
    const o = ctx.config.options as Partial<UpsOptions>;
    this.pollMs = o.pollMs ?? UPS_DEFAULTS.pollMs;
    this.missesBeforeLost = o.missesBeforeLost ?? UPS_DEFAULTS.missesBeforeLost;
    this.current = { source: source.name, comm: 'unknown', reading: null, readingAt: null, lostOnBattery: false, lastError: null, misses: 0 };
    this.alarms = new AlarmLatch({
      source: 'ups',
      actor: `device:${this.id}`,
      bus: ctx.bus,
      events: ctx.events,
      log: ctx.log,
      sessionIds: () => ctx.sessionsFor(this.id),
    });
  }

  status(): UpsStatus {
    return { ...this.current };
  }

  async start(): Promise<void> {
    this.running = true;
    this.ctx.availability.setLink(this.id, false, 'not polled yet');
    await this.source.start();
    this.unpush = this.source.onPush?.((poll) => this.apply(poll, 'edge')) ?? null;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
    this.unpush?.();
    this.unpush = null;
    await this.polling;
    await this.source.stop();
  }

  /** One poll now (also what the periodic timer runs); resolves when it has been applied. */
  pollNow(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = (async () => {
      let poll: UpsPoll;
      try {
        poll = await this.source.read();
      } catch (err) {
        poll = { ok: false, kind: 'comm', reason: `source failed: ${String(err)}` };
      }
      if (this.running) this.apply(poll, 'poll');
    })().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  health(): DeviceHealth {
    const r = this.ctx.availability.get(this.id);
    return { available: r?.available ?? false, lastSeen: r?.lastSeen ?? null, state: this.stateView(), ...(r ? { detail: r.reason } : {}) };
  }

  async execute(command: DeviceCommand): Promise<CommandOutcome> {
    const req = { deviceId: this.id, deviceKind: this.kind, cmd: command.cmd, args: command.args, issuer: command.issuer, sessionIds: this.ctx.sessionsFor(this.id) };
    if (command.cmd !== 'refresh') return this.ctx.commands.run(req, async () => ({ ok: false, error: `unknown command ${command.cmd} (known: refresh)` }));
    return this.ctx.commands.run(req, async () => {
      await this.pollNow();
      const s = this.current;
      if (s.comm !== 'ok' && s.misses > 0) return s.comm === 'lost' ? 'unavailable' : { ok: false, error: s.lastError ?? 'no answer' };
      return { ok: true, result: this.stateView() };
    });
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = this.ctx.clock.setTimeout(() => {
      this.timer = null;
      void this.pollNow().then(() => this.schedule(this.nextDelay()));
    }, ms);
  }

  /** pollMs while answering; doubling up to maxBackoffMs (2 s) while lost. */
  private nextDelay(): number {
    if (this.current.comm !== 'lost') return this.pollMs;
    return Math.min(UPS_DEFAULTS.maxBackoffMs, Math.max(this.pollMs, this.pollMs * 2 ** Math.min(this.lostPolls, 10)));
  }

  private apply(poll: UpsPoll, via: 'poll' | 'edge'): void {
    const now = this.ctx.clock.now();
    const before = this.current;
    if (poll.ok) {
      if (before.comm === 'lost') this.ctx.log.info({ deviceId: this.id, misses: before.misses }, 'UPS answering again');
      this.lostPolls = 0;
      this.current = { source: this.source.name, comm: 'ok', reading: poll.reading, readingAt: now, lostOnBattery: false, lastError: null, misses: 0 };
      if (before.comm !== 'ok') this.ctx.availability.setLink(this.id, true, via === 'edge' ? 'GPIO edge' : 'answering');
      else this.ctx.availability.seen(this.id);
      void this.alarms.clear(`ups-invalid-data:${this.id}`, 'valid reading');
      void this.alarms.clear(`ups-comm-lost:${this.id}`, 'answering again');
      if (poll.problems?.length) this.configError(poll.problems.join('; '));
      else void this.alarms.clear(`ups-config:${this.id}`, 'configuration works');
    } else {
      const misses = before.misses + 1;
      if (poll.kind === 'config') this.configError(poll.reason);
      else if (misses === 1) this.ctx.log.warn({ deviceId: this.id, reason: poll.reason }, 'UPS poll missed');
      else this.ctx.log.debug({ deviceId: this.id, reason: poll.reason, misses }, 'UPS poll missed');
      if (poll.kind === 'invalid') {
        void this.alarms.raise({ id: `ups-invalid-data:${this.id}`, severity: 'warning', message: `${this.id} reports impossible values: ${poll.reason}`, deviceId: this.id, data: { reason: poll.reason } });
      }
      const lost = before.comm === 'lost' || misses >= this.missesBeforeLost;
      if (before.comm === 'lost') this.lostPolls++;
      const lostOnBattery = lost && (before.lostOnBattery || before.reading?.onBattery === true || before.reading?.mainsPresent === false);
      this.current = { ...before, comm: lost ? 'lost' : before.comm, lostOnBattery, lastError: poll.reason, misses };
      if (lost && before.comm !== 'lost') {
        // Availability logs this once; repeats are counted, not logged.
        this.ctx.availability.setLink(this.id, false, `${misses} polls missed: ${poll.reason}`);
        void this.alarms.raise({
          id: `ups-comm-lost:${this.id}`,
          severity: lostOnBattery ? 'critical' : 'warning',
          message: lostOnBattery ? `${this.id} went silent while on battery: treated as low battery` : `${this.id} does not answer (${poll.reason})`,
          deviceId: this.id,
          data: { misses, lostOnBattery },
        });
      }
      this.ctx.metrics.driverFailures.inc({ device: this.id, kind: poll.kind });
    }
    // Last seen is the last answer: seen() above on a good poll, never on a miss.
    this.ctx.availability.patchState(this.id, this.stateView(), { seen: false });
    this.ctx.bus.emit('ups.status', { deviceId: this.id, status: this.status() });
  }

  /** Raised once while it lasts (the latch ignores repeats); logged by the latch. */
  private configError(reason: string): void {
    void this.alarms.raise({
      id: `ups-config:${this.id}`,
      severity: 'warning',
      message: `UPS ${this.id} 配置错误：${reason} / configuration error: ${reason}`,
      deviceId: this.id,
      data: { reason },
    });
  }

  private stateView(): Record<string, unknown> {
    const s = this.current;
    return { source: s.source, comm: s.comm, lostOnBattery: s.lostOnBattery, lastError: s.lastError, misses: s.misses, readingAt: s.readingAt, ...(s.reading ?? {}) };
  }
}

export function createUpsDevice(ctx: DeviceContext): Device {
  return new UpsDevice(ctx);
}
