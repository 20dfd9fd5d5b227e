/**
 * Digital inputs and outputs behind one small interface, backed by onoff's sysfs Gpio on
 * hardware and by the fakes below in tests. onoff is an optional dependency with a native
 * part (epoll), so it is loaded only when a line is opened, and a machine without GPIO
 * gets a failure Result rather than an exception.
 */
import { createRequire } from 'node:module';
import type { Gpio as OnoffGpio } from 'onoff';
import type { Logger } from '../kernel/log.js';
import { fail, ok, type DriverError, type Result } from '../kernel/result.js';

export type Bit = 0 | 1;
export type Edge = 'rising' | 'falling' | 'both';

export interface DigitalInput {
  read(): Promise<Result<Bit>>;
  /** Called on each edge of the configured kind, with the new (logical) value. */
  watch(listener: (value: Bit) => void): () => void;
  close(): Promise<void>;
}

export interface DigitalOutput {
  write(v: Bit): Promise<Result<void>>;
  read(): Promise<Result<Bit>>;
  close(): Promise<void>;
}

export interface GpioInputOptions {
  /** The kernel's GPIO number. */
  line: number;
  activeLow?: boolean;
  debounceMs?: number;
  edge?: Edge;
}

export interface GpioOutputOptions {
  line: number;
  activeLow?: boolean;
  /** Level set when the line is opened, so an output never starts in an unknown state. */
  initial?: Bit;
}

type GpioClass = typeof OnoffGpio;

const NOT_ACCESSIBLE = 'GPIO not accessible on this machine';

/** Loads onoff on first use; null when it (or its native epoll module) is missing. */
function loadGpio(log: Logger): GpioClass | null {
  try {
    const require = createRequire(import.meta.url);
    const onoff = require('onoff') as { Gpio: GpioClass };
    return onoff.Gpio;
  } catch (err) {
    log.debug({ err }, 'onoff could not be loaded');
    return null;
  }
}

function isBit(v: unknown): v is Bit {
  return v === 0 || v === 1;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function openGpioInput(opts: GpioInputOptions, log: Logger): Result<DigitalInput> {
  const Gpio = loadGpio(log);
  if (!Gpio?.accessible) return fail('disconnected', NOT_ACCESSIBLE);
  if (!Number.isInteger(opts.line) || opts.line < 0) return fail('invalid-argument', `bad GPIO line ${opts.line}`);
  let gpio: OnoffGpio;
  try {
    gpio = new Gpio(opts.line, 'in', opts.edge ?? 'both', {
      activeLow: opts.activeLow ?? false,
      ...(opts.debounceMs ? { debounceTimeout: opts.debounceMs } : {}),
    });
  } catch (err) {
    return fail('disconnected', `GPIO ${opts.line}: ${message(err)}`);
  }
  const lineLog = log.child({ gpio: opts.line });
  const listeners = new Set<(value: Bit) => void>();
  let closed = false;
  gpio.watch((err, value) => {
    if (err) {
      lineLog.error({ err }, 'GPIO watch failed');
      return;
    }
    for (const listener of [...listeners]) {
      try {
        listener(value);
      } catch (e) {
        lineLog.error({ err: e }, 'GPIO listener threw');
      }
    }
  });
  return ok({
    read: async () => {
      if (closed) return fail('disconnected', 'GPIO line closed');
      try {
        return ok(await gpio.read());
      } catch (err) {
        return fail('disconnected', `GPIO ${opts.line}: ${message(err)}`);
      }
    },
    watch: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    close: async () => {
      if (closed) return;
      closed = true;
      listeners.clear();
      gpio.unwatchAll();
      gpio.unexport();
    },
  });
}

export function openGpioOutput(opts: GpioOutputOptions, log: Logger): Result<DigitalOutput> {
  const Gpio = loadGpio(log);
  if (!Gpio?.accessible) return fail('disconnected', NOT_ACCESSIBLE);
  if (!Number.isInteger(opts.line) || opts.line < 0) return fail('invalid-argument', `bad GPIO line ${opts.line}`);
  let gpio: OnoffGpio;
  try {
    // 'high'/'low' set direction and level in one step, so the pin never glitches; the kernel
    // applies them to the physical level, hence the inversion for active-low lines.
    const physicalHigh = (opts.initial ?? 0) === 1 !== (opts.activeLow ?? false);
    const start = physicalHigh ? 'high' : 'low';
    gpio = new Gpio(opts.line, start, 'none', { activeLow: opts.activeLow ?? false });
  } catch (err) {
    return fail('disconnected', `GPIO ${opts.line}: ${message(err)}`);
  }
  let closed = false;
  return ok({
    write: async (v) => {
      if (closed) return fail('disconnected', 'GPIO line closed');
      if (!isBit(v)) return fail('invalid-argument', `GPIO value must be 0 or 1, got ${String(v)}`);
      try {
        await gpio.write(v);
        return ok(undefined);
      } catch (err) {
        return fail('disconnected', `GPIO ${opts.line}: ${message(err)}`);
      }
    },
    read: async () => {
      if (closed) return fail('disconnected', 'GPIO line closed');
      try {
        return ok(await gpio.read());
      } catch (err) {
        return fail('disconnected', `GPIO ${opts.line}: ${message(err)}`);
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      gpio.unexport();
    },
  });
}

function fires(edge: Edge, from: Bit, to: Bit): boolean {
  if (from === to) return false;
  return edge === 'both' || (edge === 'rising' ? to === 1 : to === 0);
}

/** A digital input driven by the test: set() fires matching watchers synchronously. */
export class FakeDigitalInput implements DigitalInput {
  private value: Bit;
  private readonly edge: Edge;
  private closed = false;
  private failure: DriverError | null = null;
  private readonly listeners = new Set<(value: Bit) => void>();

  constructor(opts: { initial?: Bit; edge?: Edge } = {}) {
    this.value = opts.initial ?? 0;
    this.edge = opts.edge ?? 'both';
  }

  set(value: Bit): void {
    if (!isBit(value)) throw new RangeError(`a digital input is 0 or 1, got ${String(value)}`);
    const before = this.value;
    this.value = value;
    if (this.closed || !fires(this.edge, before, value)) return;
    for (const listener of [...this.listeners]) listener(value);
  }

  /** Makes read() fail with this error until cleared with null. */
  setFailure(error: DriverError | null): void {
    this.failure = error;
  }

  isClosed(): boolean {
    return this.closed;
  }

  async read(): Promise<Result<Bit>> {
    if (this.closed) return fail('disconnected', 'GPIO line closed');
    if (this.failure) return { ok: false, error: this.failure };
    return ok(this.value);
  }

  watch(listener: (value: Bit) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }
}

/**
 * A digital output for tests. It records every write; set() forces what read() answers,
 * like a driver stage that no longer follows its input, and notifies watchers.
 */
export class FakeDigitalOutput implements DigitalOutput {
  private level: Bit;
  private forced: Bit | null = null;
  private closed = false;
  private failure: DriverError | null = null;
  private readonly history: Bit[] = [];
  private readonly listeners = new Set<(value: Bit) => void>();

  constructor(opts: { initial?: Bit } = {}) {
    this.level = opts.initial ?? 0;
  }

  /** Forces the read-back value (null releases it); watchers see the change synchronously. */
  set(value: Bit | null): void {
    const before = this.current();
    this.forced = value;
    this.notify(before);
  }

  /** Makes write() and read() fail with this error until cleared with null. */
  setFailure(error: DriverError | null): void {
    this.failure = error;
  }

  /** Every value written, in order. */
  writes(): Bit[] {
    return [...this.history];
  }

  isClosed(): boolean {
    return this.closed;
  }

  watch(listener: (value: Bit) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async write(v: Bit): Promise<Result<void>> {
    if (this.closed) return fail('disconnected', 'GPIO line closed');
    if (!isBit(v)) return fail('invalid-argument', `GPIO value must be 0 or 1, got ${String(v)}`);
    if (this.failure) return { ok: false, error: this.failure };
    const before = this.current();
    this.level = v;
    this.history.push(v);
    this.notify(before);
    return ok(undefined);
  }

  async read(): Promise<Result<Bit>> {
    if (this.closed) return fail('disconnected', 'GPIO line closed');
    if (this.failure) return { ok: false, error: this.failure };
    return ok(this.current());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }

  private current(): Bit {
    return this.forced ?? this.level;
  }

  private notify(before: Bit): void {
    const now = this.current();
    if (now === before) return;
    for (const listener of [...this.listeners]) listener(now);
  }
}
