/**
 * A relay module (contract: one coil per output, written with function 5 or, for adjacent
 * coils switched together, 15; read back with function 1). Every write is read back and compared, and the outputs are read back every
 * `pollMs` too: an output that does not follow what the hub last commanded raises an alarm
 * (bus `alarm.raised` and the event log) until it matches again. Shared by the jammer zones
 * and the power feature's sheddable/critical loads.
 */
import type { CommandOutcome } from './seam.js';
import type { TimerHandle } from '../kernel/clock.js';
import type { KindOptions } from '../config/schema.js';
import type { ModbusDeviceDriver } from '../drivers/modbus-pool.js';
import { AlarmLatch } from './alarm.js';
import { driverOf, type Device, type DeviceCommand, type DeviceContext, type DeviceHealth } from './types.js';

export type RelayRole = 'jammer' | 'sheddable' | 'critical' | 'other';

export interface RelayOutput {
  id: string;
  coil: number;
  name: string;
  role: RelayRole;
  room?: string;
  restoreOrder: number;
}

export interface RelayOutputView extends RelayOutput {
  /** What the hub last commanded (or found at start); null before the first read. */
  commanded: boolean | null;
  /** What the last read-back said; null before the first read. */
  actual: boolean | null;
  /** commanded and actual agree. */
  verified: boolean;
}

export type SetOutputFailure = 'unknown-output' | 'unavailable' | 'write-failed' | 'readback-failed' | 'mismatch';

export type SetOutputResult =
  | { ok: true; verified: true; deviceId: string; outputId: string; on: boolean; commandId: string }
  | { ok: false; verified: false; deviceId: string; outputId: string; on: boolean; reason: SetOutputFailure; message: string; actual?: boolean; commandId?: string };

export interface SetOutputOptions {
  /** Sessions the change concerns (for the event log); the device's sessions by default. */
  sessionIds?: string[];
}

export const RELAY_DEFAULTS = {
  pollMs: 5000, // 5 s
  missesBeforeUnavailable: 3,
} as const;

interface OutputState {
  commanded: boolean | null;
  actual: boolean | null;
  /** Bumped on every write, so a read-back issued before it is not compared with the new value. */
  version: number;
}

type RelayOptions = KindOptions<'relay'>;

/** A write waiting for its batch (see writeAndVerify). */
interface PendingWrite {
  out: RelayOutput;
  on: boolean;
  issuer: string;
  resolve: (r: SetOutputResult) => void;
}

export class RelayDevice implements Device {
  readonly id: string;
  readonly kind = 'relay' as const;
  readonly commandNames = ['set', 'refresh'] as const;
  private readonly outputsById = new Map<string, RelayOutput>();
  private readonly state = new Map<string, OutputState>();
  private readonly coilCount: number;
  private readonly pollMs: number;
  private readonly alarms: AlarmLatch;
  private readonly driver: ModbusDeviceDriver;
  private timer: TimerHandle | null = null;
  private polling: Promise<void> | null = null;
  private running = false;
  private misses = 0;
  private linkUp = false;
  private unlisten: (() => void) | null = null;
  /** Outputs a hub feature switches alone (jammers, sheddable loads): output id → owner. */
  private readonly owners = new Map<string, string>();
  /** Writes waiting to go out, batch by batch (the one in flight is no longer here). */
  private readonly batches: PendingWrite[][] = [];
  private flushing = false;

  constructor(private readonly ctx: DeviceContext) {
    this.id = ctx.config.id;
    this.driver = driverOf(ctx, 'modbus').modbus;
    const o = ctx.config.options as Partial<RelayOptions>;
    this.pollMs = o.pollMs ?? RELAY_DEFAULTS.pollMs;
    for (const out of o.outputs ?? []) {
      this.outputsById.set(out.id, { id: out.id, coil: out.coil, name: out.name ?? out.id, role: out.role, ...(out.room ? { room: out.room } : {}), restoreOrder: out.restoreOrder ?? 0 });
      this.state.set(out.id, { commanded: null, actual: null, version: 0 });
    }
    // Read every configured coil in one function-1 request (at least the module's count).
    this.coilCount = Math.max(o.coils ?? 1, ...[...this.outputsById.values()].map((x) => x.coil + 1));
    this.alarms = new AlarmLatch({ source: 'relay', actor: `device:${this.id}`, bus: ctx.bus, events: ctx.events, log: ctx.log, sessionIds: () => ctx.sessionsFor(this.id) });
  }

  async start(): Promise<void> {
    this.running = true;
    this.ctx.availability.setLink(this.id, false, 'not read yet');
    this.unlisten = this.driver.line.onStateChange((connected) => {
      if (!connected) this.setLink(false, 'Modbus line lost');
      else void this.readBack();
    });
    this.driver.line.start();
    this.schedule();
    if (this.driver.line.isConnected()) await this.readBack();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
    this.unlisten?.();
    this.unlisten = null;
    await this.polling;
    await this.driver.release();
  }

  outputs(): RelayOutputView[] {
    return [...this.outputsById.values()].map((o) => {
      const s = this.state.get(o.id)!;
      return { ...o, commanded: s.commanded, actual: s.actual, verified: s.commanded !== null && s.commanded === s.actual };
    });
  }

  output(outputId: string): RelayOutputView | null {
    return this.outputs().find((o) => o.id === outputId) ?? null;
  }

  /**
   * Marks an output as switched only by `owner` (a hub feature): the generic command API
   * refuses `set` on it. The owner itself switches it with `setOutput`.
   */
  claim(outputId: string, owner: string): void {
    if (!this.outputsById.has(outputId)) throw new Error(`${this.id} has no output ${outputId}`);
    const held = this.owners.get(outputId);
    if (held !== undefined && held !== owner) throw new Error(`${this.id} output ${outputId} is already owned by ${held}`);
    this.owners.set(outputId, owner);
  }

  /** Who owns the output a command would switch, or null when anyone allowed may. */
  commandOwner(command: Pick<DeviceCommand, 'cmd' | 'args'>): { owner: string; what: string } | null {
    if (command.cmd !== 'set' || typeof command.args.output !== 'string') return null;
    const owner = this.owners.get(command.args.output);
    return owner === undefined ? null : { owner, what: `${this.id} output ${command.args.output}` };
  }

  /**
   * Switches one output: writes its coil (function 5, or 15 together with other outputs
   * switched in the same turn), reads it back (function 1) and compares. Recorded in the command ledger; a mismatch raises an alarm. Never throws.
   */
  async setOutput(outputId: string, on: boolean, issuer: string, opts: SetOutputOptions = {}): Promise<SetOutputResult> {
    return (await this.switchOutput(outputId, on, issuer, opts)).result;
  }

  private async switchOutput(outputId: string, on: boolean, issuer: string, opts: SetOutputOptions): Promise<{ result: SetOutputResult; outcome: CommandOutcome | null }> {
    const out = this.outputsById.get(outputId);
    const base = { deviceId: this.id, outputId, on };
    const req = {
      deviceId: this.id,
      deviceKind: this.kind,
      cmd: 'set',
      args: { output: outputId, on },
      issuer,
      sessionIds: opts.sessionIds ?? this.ctx.sessionsFor(this.id),
    };
    let result: SetOutputResult | null = null;
    let outcome: CommandOutcome;
    try {
      outcome = await this.ctx.commands.run(req, async () => {
        if (!out) {
          result = { ...base, ok: false, verified: false, reason: 'unknown-output', message: `${this.id} has no output ${outputId} (known: ${[...this.outputsById.keys()].join(', ') || 'none'})` };
          return { ok: false, error: result.message };
        }
        if (!this.driver.line.isConnected()) {
          result = { ...base, ok: false, verified: false, reason: 'unavailable', message: `${this.id} is unavailable` };
          return 'unavailable';
        }
        result = await this.writeAndVerify(out, on, issuer);
        return result.ok ? { ok: true, result: { verified: true, actual: on } } : { ok: false, error: result.message, result: { verified: false, ...(result.actual !== undefined ? { actual: result.actual } : {}) } };
      });
    } catch (err) {
      this.ctx.log.error({ err, outputId }, 'relay command not recorded');
      return { result: { ...base, ok: false, verified: false, reason: 'write-failed', message: `not recorded: ${String(err)}` }, outcome: null };
    }
    const r = result as SetOutputResult | null;
    if (!r) return { result: { ...base, ok: false, verified: false, reason: 'write-failed', message: outcome.error ?? 'failed', commandId: outcome.id }, outcome };
    return { result: { ...r, commandId: outcome.id }, outcome };
  }

  /** Reads every output back now and compares with what was commanded. */
  refresh(): Promise<void> {
    return this.readBack();
  }

  health(): DeviceHealth {
    const r = this.ctx.availability.get(this.id);
    return { available: r?.available ?? false, lastSeen: r?.lastSeen ?? null, state: this.stateView(), ...(r ? { detail: r.reason } : {}) };
  }

  async execute(command: DeviceCommand): Promise<CommandOutcome> {
    const req = { deviceId: this.id, deviceKind: this.kind, cmd: command.cmd, args: command.args, issuer: command.issuer, sessionIds: command.sessionId ? [command.sessionId] : this.ctx.sessionsFor(this.id) };
    if (command.cmd === 'set') {
      const { output, on } = command.args;
      if (typeof output !== 'string' || typeof on !== 'boolean') {
        return this.ctx.commands.run(req, async () => ({ ok: false, error: 'set takes {"output": "<output id>", "on": true|false}' }));
      }
      const { result, outcome } = await this.switchOutput(output, on, command.issuer, command.sessionId ? { sessionIds: [command.sessionId] } : {});
      if (outcome) return outcome;
      return { id: '', outcome: 'failed', ok: false, attempts: 1, latencyMs: 0, error: result.ok ? 'not recorded' : result.message };
    }
    if (command.cmd === 'refresh') {
      return this.ctx.commands.run(req, async () => {
        if (!this.driver.line.isConnected()) return 'unavailable';
        await this.readBack();
        return { ok: true, result: this.stateView() };
      });
    }
    return this.ctx.commands.run(req, async () => ({ ok: false, error: `unknown command ${command.cmd} (known: set, refresh)` }));
  }

  /**
   * Writes that arrive in the same turn of the event loop (the jammer zones on a fire
   * alarm, the loads of a shed stage) go out together: one function-15 request per run of
   * adjacent coils (function 5 for a lone coil), then one function-1 read-back over them
   * all, each output compared on its own. On one serialised line that is 2 frames instead
   * of 2 per output.
   */
  private writeAndVerify(out: RelayOutput, on: boolean, issuer: string): Promise<SetOutputResult> {
    return new Promise((resolve) => {
      // A second write of an output already waiting goes in the next batch, after it.
      let batch = this.batches.at(-1);
      if (!batch || batch.some((w) => w.out.id === out.id)) {
        batch = [];
        this.batches.push(batch);
      }
      batch.push({ out, on, issuer, resolve });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flushBatches());
      }
    });
  }

  private async flushBatches(): Promise<void> {
    for (let batch = this.batches.shift(); batch; batch = this.batches.shift()) {
      const b = batch;
      const results = await this.writeBatch(b).catch((err: unknown) => b.map((w) => this.failed(w, 'write-failed', `write: ${String(err)}`)));
      b.forEach((w, i) => w.resolve(results[i]!));
    }
    this.flushing = false;
  }

  private failed(w: PendingWrite, reason: SetOutputFailure, message: string, actual?: boolean): SetOutputResult {
    return { deviceId: this.id, outputId: w.out.id, on: w.on, ok: false, verified: false, reason, message, ...(actual !== undefined ? { actual } : {}) };
  }

  /** One batch: the writes, one read-back, a result per write (in the batch's order). */
  private async writeBatch(batch: PendingWrite[]): Promise<SetOutputResult[]> {
    const results = new Map<PendingWrite, SetOutputResult>();
    for (const w of batch) {
      const s = this.state.get(w.out.id)!;
      s.version++;
      s.commanded = w.on;
    }
    // Runs of adjacent coils, each one request.
    const sorted = [...batch].sort((a, b) => a.out.coil - b.out.coil);
    const runs: PendingWrite[][] = [];
    for (const w of sorted) {
      const run = runs.at(-1);
      if (run && run.at(-1)!.out.coil + 1 === w.out.coil) run.push(w);
      else runs.push([w]);
    }
    const written: PendingWrite[] = [];
    for (const run of runs) {
      const first = run[0]!.out.coil;
      const w = run.length === 1 ? await this.driver.line.writeCoil(this.driver.unitId, first, run[0]!.on) : await this.driver.line.writeCoils(this.driver.unitId, first, run.map((x) => x.on));
      if (w.ok) written.push(...run);
      else {
        const coils = run.length === 1 ? `coil ${first}` : `coils ${first}..${first + run.length - 1}`;
        for (const x of run) results.set(x, this.failed(x, 'write-failed', `write ${coils}: ${w.error.kind}: ${w.error.message}`));
      }
    }
    if (written.length > 0) {
      const lo = written[0]!.out.coil;
      const hi = written.at(-1)!.out.coil;
      const r = await this.driver.line.readCoils(this.driver.unitId, lo, hi - lo + 1);
      if (!r.ok) {
        const coils = lo === hi ? `coil ${lo}` : `coils ${lo}..${hi}`;
        for (const x of written) results.set(x, this.failed(x, 'readback-failed', `read back ${coils}: ${r.error.kind}: ${r.error.message}`));
      } else {
        this.gotAnswer();
        for (const x of written) {
          const s = this.state.get(x.out.id)!;
          const actual = r.value[x.out.coil - lo] === true;
          s.actual = actual;
          const verified = actual === x.on;
          await this.compare(x.out, s);
          this.ctx.bus.emit('relay.output', { deviceId: this.id, outputId: x.out.id, role: x.out.role, on: x.on, verified, issuer: x.issuer });
          results.set(
            x,
            verified
              ? { deviceId: this.id, outputId: x.out.id, on: x.on, ok: true, verified: true, commandId: '' }
              : this.failed(x, 'mismatch', `${x.out.id} (coil ${x.out.coil}) reads ${actual ? 'on' : 'off'} after being switched ${x.on ? 'on' : 'off'}`, actual),
          );
        }
      }
    }
    this.publishState();
    return batch.map((w) => results.get(w)!);
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.ctx.clock.setTimeout(() => {
      this.timer = null;
      void this.readBack().then(() => this.schedule());
    }, this.pollMs);
  }

  private readBack(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = this.doReadBack().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private async doReadBack(): Promise<void> {
    const versions = new Map([...this.state].map(([id, s]) => [id, s.version]));
    const r = await this.driver.line.readCoils(this.driver.unitId, 0, this.coilCount);
    if (!this.running) return;
    if (!r.ok) {
      this.misses++;
      this.ctx.metrics.driverFailures.inc({ device: this.id, kind: r.error.kind });
      if (this.misses >= RELAY_DEFAULTS.missesBeforeUnavailable || !this.driver.line.isConnected()) {
        this.setLink(false, `${this.misses} read-backs failed: ${r.error.kind}: ${r.error.message}`);
      }
      return;
    }
    this.gotAnswer();
    for (const out of this.outputsById.values()) {
      const s = this.state.get(out.id)!;
      if (s.version !== versions.get(out.id)) continue; // written meanwhile: that write verifies itself
      s.actual = r.value[out.coil] === true;
      // At start the hub adopts what it finds: it has not commanded anything yet.
      if (s.commanded === null) s.commanded = s.actual;
      await this.compare(out, s);
    }
    this.publishState();
  }

  private async compare(out: RelayOutput, s: OutputState): Promise<void> {
    const id = `relay-mismatch:${this.id}:${out.id}`;
    if (s.commanded === null || s.actual === null) return;
    if (s.commanded === s.actual) {
      await this.alarms.clear(id, 'output follows again');
      return;
    }
    await this.alarms.raise({
      id,
      severity: out.role === 'sheddable' || out.role === 'other' ? 'warning' : 'critical',
      message: `${this.id} output ${out.id} (${out.role}, coil ${out.coil}) does not follow: commanded ${s.commanded ? 'on' : 'off'}, reads ${s.actual ? 'on' : 'off'}`,
      deviceId: this.id,
      data: { outputId: out.id, coil: out.coil, role: out.role, commanded: s.commanded, actual: s.actual },
    });
  }

  private gotAnswer(): void {
    this.misses = 0;
    if (!this.linkUp) this.setLink(true, 'answering');
    else this.ctx.availability.seen(this.id);
  }

  private setLink(up: boolean, reason: string): void {
    if (up === this.linkUp) return;
    this.linkUp = up;
    this.ctx.availability.setLink(this.id, up, reason);
  }

  private publishState(): void {
    this.ctx.availability.patchState(this.id, this.stateView());
  }

  private stateView(): Record<string, unknown> {
    const outputs: Record<string, unknown> = {};
    for (const o of this.outputs()) outputs[o.id] = { on: o.actual, commanded: o.commanded, verified: o.verified, role: o.role, coil: o.coil };
    return { outputs, mismatches: this.alarms.list().map((a) => a.id.split(':').pop()) };
  }
}

export function createRelayDevice(ctx: DeviceContext): Device {
  return new RelayDevice(ctx);
}
