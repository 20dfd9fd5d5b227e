/**
 * The three ways a UPS reaches the hub, behind one interface: Modbus registers (the
 * contract's map), a NUT server (`upsd`, for UPSes on USB), and a GPIO dry contact
 * (mains-fail, edge interrupt: the fastest signal). Each answers a poll with a reading,
 * a communication failure, or a refused (impossible) reading; nothing is thrown.
 */
import type { ModbusDeviceDriver } from '../drivers/modbus-pool.js';
import type { NutClient } from '../drivers/nut.js';
import { parseUpsStatus } from '../drivers/nut.js';
import type { Bit, DigitalInput } from '../drivers/gpio.js';
import type { Logger } from '../kernel/log.js';
import type { GpioOpener } from './types.js';
import type { DriverError, Result } from '../kernel/result.js';
import type { Clock, TimerHandle } from '../kernel/clock.js';
import { DECIDING_FLAGS, decodeRegisters, entriesAt, imageKey, readPlan, validateReading, type ReadBlock, type UpsReading, type UpsRegisterMap } from './ups-map.js';

/**
 * A failed poll: `comm` the source does not answer, `invalid` it answered impossible values,
 * `config` it answered that the configuration is wrong (a refused NUT login, a register
 * the device does not have): an alarm raised once, not a transient miss.
 */
export type UpsPoll =
  | { ok: true; reading: UpsReading; /** Configuration errors found while reading (what could not be read). */ problems?: string[] }
  | { ok: false; kind: 'comm' | 'invalid' | 'config'; reason: string };

export interface UpsSource {
  readonly name: 'modbus' | 'nut' | 'gpio';
  start(): Promise<void>;
  stop(): Promise<void>;
  read(): Promise<UpsPoll>;
  /** Sources with interrupts report a change as soon as it happens. */
  onPush?(listener: (poll: UpsPoll) => void): () => void;
}

const NULL_EXTRAS = {
  replaceBattery: null,
  overload: null,
  charging: null,
  bypass: null,
  fault: null,
  charge: null,
  runtime: null,
  inputVoltage: null,
  outputVoltage: null,
  load: null,
  batteryTemperature: null,
  inputFrequency: null,
} as const;

/** Modbus exception 2, "illegal data address": the device has no such register. */
const ILLEGAL_DATA_ADDRESS = 2;

/**
 * Holding or input registers per the (overridable) map, in as few reads as possible. A
 * block the device refuses with exception 2 is read register by register: the registers it
 * does not have are a configuration error, reported by every poll (the device raises it
 * once) and left out of later reads, and the rest of the reading is used.
 */
export class ModbusUpsSource implements UpsSource {
  readonly name = 'modbus' as const;
  private plan: ReadBlock[];
  /** imageKey → the map entries that point at a register the device does not have. */
  private readonly missing = new Map<string, string[]>();

  constructor(
    private readonly driver: ModbusDeviceDriver,
    private readonly map: UpsRegisterMap,
  ) {
    this.plan = readPlan(map);
  }

  async start(): Promise<void> {
    this.driver.line.start();
  }

  async stop(): Promise<void> {
    await this.driver.release();
  }

  async read(): Promise<UpsPoll> {
    const image = new Map<string, number>();
    const plan: ReadBlock[] = [];
    const lacking = new Map<string, string[]>();
    // What the device lacks is learnt only from a device that serves something (see below).
    const learn = (): void => {
      if (image.size > 0) for (const [key, entries] of lacking) this.missing.set(key, entries);
    };
    for (const block of this.plan) {
      const r = await this.readBlock(block.function, block.start, block.count);
      if (r.ok) {
        r.value.forEach((v, i) => image.set(imageKey(block.function, block.start + i), v));
        plan.push(block);
        continue;
      }
      if (r.error.kind !== 'exception' || r.error.code !== ILLEGAL_DATA_ADDRESS) {
        learn();
        return commFailure(block, r.error);
      }
      // Which registers does it lack? Ask one by one; from now on read only the runs it has
      // (a merged gap it does not serve would otherwise fail every poll).
      let run: ReadBlock | null = null;
      for (let reg = block.start; reg < block.start + block.count; reg++) {
        const entries = entriesAt(this.map, block.function, reg);
        if (entries.length === 0) continue; // a gap merged into the block; nobody needs it
        const one = await this.readBlock(block.function, reg, 1);
        if (one.ok) {
          image.set(imageKey(block.function, reg), one.value[0] ?? 0);
          if (run && run.start + run.count === reg) run.count++;
          else plan.push((run = { function: block.function, start: reg, count: 1 }));
        } else if (one.error.kind === 'exception' && one.error.code === ILLEGAL_DATA_ADDRESS) {
          lacking.set(imageKey(block.function, reg), entries);
          run = null;
        } else {
          learn();
          return commFailure({ function: block.function, start: reg, count: 1 }, one.error);
        }
      }
    }
    if (image.size === 0 && lacking.size > 0) {
      // A device that refuses every register (a comms card restarting answers exception 2 to
      // everything) says nothing about its map: remembering them as missing would stop the
      // hub from ever reading this UPS again. A miss; the plan and the map stay as they were.
      return { ok: false, kind: 'comm', reason: 'every register answered Modbus exception 2 (illegal data address)' };
    }
    learn();
    this.plan = plan;
    const problems = this.configProblems();
    const decoded = decodeRegisters(this.map, image);
    if (decoded.ok) return { ok: true, reading: decoded.reading, ...(problems.length ? { problems } : {}) };
    const lacksDeciding = DECIDING_FLAGS.every((f) => {
      const spec = this.map.flags[f];
      return spec === undefined || this.missing.has(imageKey(spec.function, spec.register));
    });
    if (lacksDeciding && problems.length) return { ok: false, kind: 'config', reason: `${problems.join('; ')}: mains or battery cannot be told` };
    return { ok: false, kind: 'invalid', reason: decoded.reason };
  }

  private readBlock(fn: 3 | 4, start: number, count: number): Promise<Result<number[]>> {
    const { line, unitId } = this.driver;
    return fn === 3 ? line.readHoldingRegisters(unitId, start, count) : line.readInputRegisters(unitId, start, count);
  }

  private configProblems(): string[] {
    return [...this.missing].map(([key, entries]) => {
      const [fn, reg] = key.split(':');
      return `function ${fn} register ${reg} (${entries.join(', ')}): Modbus exception 2, the device has no such register`;
    });
  }
}

function commFailure(block: ReadBlock, error: DriverError): UpsPoll {
  const what = error.kind === 'exception' ? `Modbus exception ${String(error.code)} (${error.message})` : `${error.kind}: ${error.message}`;
  return { ok: false, kind: 'comm', reason: `function ${block.function} registers ${block.start}..${block.start + block.count - 1}: ${what}` };
}

/** NUT variable → reading field (NUT's names, docs/nut-names.txt). */
const NUT_NUMBERS: [string, keyof UpsReading][] = [
  ['battery.charge', 'charge'],
  ['battery.runtime', 'runtime'],
  ['input.voltage', 'inputVoltage'],
  ['output.voltage', 'outputVoltage'],
  ['ups.load', 'load'],
  ['battery.temperature', 'batteryTemperature'],
  ['input.frequency', 'inputFrequency'],
];

const DECIMAL = /^[+-]?\d+(\.\d+)?$/;

/** Reads `LIST VAR` from upsd; `ups.status` tokens OL, OB, LB, RB, FSD, CHRG, OVER, BYPASS. */
export function readingFromNut(vars: Record<string, string>): UpsPoll {
  const status = vars['ups.status'];
  if (status === undefined) return { ok: false, kind: 'invalid', reason: 'upsd has no ups.status for this UPS' };
  const s = parseUpsStatus(status);
  // NUT's status flags are upper-case words (OL, OB, LB, CHRG, TRIM, ...): anything else is garbage, not a flag.
  const odd = s.tokens.find((tok) => !/^[A-Z]+$/.test(tok));
  if (odd !== undefined) return { ok: false, kind: 'invalid', reason: `ups.status ${JSON.stringify(status.slice(0, 40))} has a token that is no NUT status flag: ${JSON.stringify(odd.slice(0, 20))}` };
  if (!s.online && !s.onBattery) {
    // e.g. "OFF", or "WAIT" while the driver starts: nothing to base a decision on yet.
    return { ok: false, kind: 'invalid', reason: `ups.status "${status}" says neither OL nor OB` };
  }
  const reading: UpsReading = {
    ...NULL_EXTRAS,
    mainsPresent: s.online,
    onBattery: s.onBattery,
    batteryLow: s.lowBattery,
    replaceBattery: s.replaceBattery,
    overload: s.overload,
    charging: s.charging,
    bypass: s.bypass,
    fault: null,
    forcedShutdown: s.forcedShutdown,
  };
  for (const [name, field] of NUT_NUMBERS) {
    const raw = vars[name];
    if (raw === undefined) continue;
    // upsd's numbers are plain decimals ("230.0", "-5.2"); Number() would also take "0x61",
    // "1e2", " 97 " or "0b1", none of which a UPS driver writes.
    const n = DECIMAL.test(raw) ? Number(raw) : NaN;
    if (!Number.isFinite(n)) return { ok: false, kind: 'invalid', reason: `${name} ${JSON.stringify(raw.slice(0, 40))} is not a number` };
    (reading as unknown as Record<string, unknown>)[field] = n;
  }
  const v = validateReading(reading);
  return v.ok ? { ok: true, reading: v.reading } : { ok: false, kind: 'invalid', reason: v.reason };
}

export class NutUpsSource implements UpsSource {
  readonly name = 'nut' as const;

  constructor(private readonly client: NutClient) {}

  async start(): Promise<void> {
    // Connects in the background and keeps retrying; polls fail as misses meanwhile.
    void this.client.connect();
  }

  async stop(): Promise<void> {
    await this.client.close();
  }

  async read(): Promise<UpsPoll> {
    // The first poll comes right after start: wait for the connection attempt under way
    // rather than count a miss that only says "not connected yet".
    await this.client.settled();
    if (!this.client.isConnected()) {
      const why = this.client.connectError();
      if (why?.kind === 'rejected') return { ok: false, kind: 'config', reason: `${why.message} (check username, passwordEnv and upsd.users; the user needs "upsmon secondary")` };
    }
    const r = await this.client.listVars();
    if (!r.ok) return { ok: false, kind: 'comm', reason: `upsd ${r.error.kind}: ${r.error.message}` };
    return readingFromNut(r.value);
  }
}

/** A GPIO dry contact's default debounce, ms: the `gpio` transport's `debounceMs` default. */
export const GPIO_UPS_DEBOUNCE_MS = 20;

/**
 * A dry contact: logical 1 = mains failed (the contact closes on "AC fail"; set `activeLow`
 * for contacts wired the other way). It knows mains and nothing else.
 *
 * Debounced on the hub's clock like the GPIO fire input: a level counts once it has held
 * for `debounceMs` (the transport's, default 20 ms) with no edge; each edge restarts the
 * wait, and the level read when it ends is what counts. Without it a bouncing contact (or a
 * spike on a long cable) was a mains loss per bounce: with the default `rideThroughMs: 0`
 * every one shed the loads, and the next restored them. While a wait runs, a poll answers
 * the last settled level, never the bouncing one. `debounceMs: 0` takes every edge at once.
 */
export class GpioUpsSource implements UpsSource {
  readonly name = 'gpio' as const;
  private input: DigitalInput | null = null;
  private openError = 'GPIO line not opened';
  private unwatch: (() => void) | null = null;
  private readonly listeners = new Set<(poll: UpsPoll) => void>();
  /** The debounce wait under way, restarted by every edge. */
  private pending: TimerHandle | null = null;
  /** The last level that held for debounceMs (null before the first read). */
  private settled: Bit | null = null;
  /** Edges seen so far: a settle whose wait was restarted meanwhile decides nothing. */
  private edges = 0;

  constructor(
    private readonly opener: GpioOpener,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly debounceMs: number = GPIO_UPS_DEBOUNCE_MS,
  ) {}

  static readingFor(value: Bit): UpsReading {
    return { ...NULL_EXTRAS, mainsPresent: value === 0, onBattery: value === 1, batteryLow: false, forcedShutdown: false };
  }

  async start(): Promise<void> {
    this.ensureOpen();
  }

  async stop(): Promise<void> {
    this.pending?.cancel();
    this.pending = null;
    this.unwatch?.();
    this.unwatch = null;
    this.listeners.clear();
    const input = this.input;
    this.input = null;
    await input?.close();
  }

  async read(): Promise<UpsPoll> {
    const input = this.ensureOpen();
    if (!input) return { ok: false, kind: 'comm', reason: this.openError };
    const r = await input.read();
    if (!r.ok) return { ok: false, kind: 'comm', reason: `GPIO ${r.error.kind}: ${r.error.message}` };
    // Mid-bounce the line says nothing yet: the settled level stands until the wait ends.
    if (this.pending !== null && this.settled !== null) return { ok: true, reading: GpioUpsSource.readingFor(this.settled) };
    this.settled = r.value;
    return { ok: true, reading: GpioUpsSource.readingFor(r.value) };
  }

  onPush(listener: (poll: UpsPoll) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private ensureOpen(): DigitalInput | null {
    if (this.input) return this.input;
    const r = this.opener.open();
    if (!r.ok) {
      this.openError = `GPIO: ${r.error.message}`;
      return null;
    }
    this.input = r.value;
    this.unwatch = r.value.watch((value) => this.edge(value));
    return this.input;
  }

  private edge(value: Bit): void {
    this.edges++;
    if (this.debounceMs <= 0) {
      this.accept(value);
      return;
    }
    this.pending?.cancel();
    const edges = this.edges;
    this.pending = this.clock.setTimeout(() => {
      this.pending = null;
      void this.settle(value, edges);
    }, this.debounceMs);
  }

  private async settle(edgeValue: Bit, edges: number): Promise<void> {
    const input = this.input;
    if (!input) return;
    const r = await input.read();
    // An edge while the read was under way started a new wait: that one decides.
    if (edges !== this.edges || this.input !== input) return;
    this.accept(r.ok ? r.value : edgeValue);
  }

  private accept(value: Bit): void {
    if (value === this.settled) return;
    this.settled = value;
    const poll: UpsPoll = { ok: true, reading: GpioUpsSource.readingFor(value) };
    for (const l of [...this.listeners]) {
      try {
        l(poll);
      } catch (err) {
        this.log.error({ err }, 'UPS GPIO listener threw');
      }
    }
  }
}
