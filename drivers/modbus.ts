/**
 * ModbusLine: the one owner of one Modbus line (a TCP endpoint or an RTU serial port).
 * Every request goes through one FIFO so that devices sharing an RS-485 line never
 * interleave frames; nothing is thrown across this seam, every outcome is a Result.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Backoff, ConnectionState, FailureStreak } from './retry.js';
import modbusSerial from 'modbus-serial';
import type { Clock, TimerHandle } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import { fail, ok, type Result } from '../kernel/result.js';

export type ModbusLineConfig =
  | { type: 'modbus-tcp'; host: string; port: number; timeoutMs?: number }
  | {
      type: 'modbus-rtu';
      path: string;
      baudRate?: number;
      parity?: 'none' | 'even' | 'odd';
      dataBits?: 7 | 8;
      stopBits?: 1 | 2;
      timeoutMs?: number;
      /** Silence between frames; defaults to the Modbus t3.5 for the baud rate, at least 2 ms. */
      interFrameGapMs?: number;
    };

export interface ReconnectPolicy {
  initialMs?: number;
  maxMs?: number;
}

export interface ModbusLineContext {
  config: ModbusLineConfig;
  clock: Clock;
  log: Logger;
  /** Backoff between connection attempts; tests shorten it. */
  reconnect?: ReconnectPolicy;
}

export interface ModbusLineStats {
  requests: number;
  failures: number;
  timeouts: number;
  /** Successful connections after the first one. */
  reconnects: number;
}

export const MODBUS_DEFAULTS = {
  timeoutMs: 1000, // per request, 1 s
  baudRate: 9600,
  minInterFrameGapMs: 2,
  reconnectInitialMs: 500,
  reconnectMaxMs: 30_000, // 30 s
  closeGraceMs: 1000, // how long stop() waits for the transport to confirm it closed
} as const;

/** Modbus exception codes (Modbus Application Protocol v1.1b3, section 7). */
const EXCEPTION_NAMES: Record<number, string> = {
  1: 'Illegal function',
  2: 'Illegal data address',
  3: 'Illegal data value',
  4: 'Server device failure',
  5: 'Acknowledge',
  6: 'Server device busy',
  8: 'Memory parity error',
  10: 'Gateway path unavailable',
  11: 'Gateway target device failed to respond',
};

/** Modbus t3.5: 3.5 characters of 11 bits; fixed at 1.75 ms above 19200 Bd (spec, 2.5.1.1). */
export function interFrameGapFor(baudRate: number): number {
  const t35 = baudRate > 19200 ? 1.75 : (3.5 * 11 * 1000) / baudRate;
  return Math.max(MODBUS_DEFAULTS.minInterFrameGapMs, t35);
}

// The package is CommonJS with a `export default` typing: under NodeNext the default import is
// module.exports, and the class is typed on `.default` (which the package aliases to itself).
const ModbusRTU = modbusSerial.default;
type Client = InstanceType<typeof ModbusRTU>;

export class ModbusLine {
  private readonly config: ModbusLineConfig;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly gapMs: number;

  private client: Client | null = null;
  private running = false;
  /** The connection attempt in progress, so stop() can wait for its socket to be closed. */
  private connecting: Promise<void> | null = null;
  private everConnected = false;
  private readonly backoff: Backoff;
  private retryTimer: TimerHandle | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private lastFrameAt = 0;
  /** Settles the request on the wire when the connection goes away under it. */
  private abortInFlight: ((reason: Result<never>) => void) | null = null;
  private readonly streak: FailureStreak;
  private readonly state: ConnectionState;
  private readonly counters: ModbusLineStats = { requests: 0, failures: 0, timeouts: 0, reconnects: 0 };

  constructor(ctx: ModbusLineContext) {
    this.config = ctx.config;
    this.clock = ctx.clock;
    this.log = ctx.log.child({ line: describe(ctx.config) });
    this.timeoutMs = ctx.config.timeoutMs ?? MODBUS_DEFAULTS.timeoutMs;
    this.gapMs =
      ctx.config.type === 'modbus-rtu'
        ? (ctx.config.interFrameGapMs ?? interFrameGapFor(ctx.config.baudRate ?? MODBUS_DEFAULTS.baudRate))
        : 0;
    this.backoff = new Backoff(ctx.reconnect?.initialMs ?? MODBUS_DEFAULTS.reconnectInitialMs, ctx.reconnect?.maxMs ?? MODBUS_DEFAULTS.reconnectMaxMs);
    this.streak = new FailureStreak(this.log, 'modbus line recovered');
    this.state = new ConnectionState(this.log, 'modbus');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.retryTimer?.cancel();
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    this.abortInFlight?.(fail('disconnected', 'line stopped'));
    this.state.set(false);
    if (client) await closeClient(client);
    await this.connecting;
    await this.tail;
  }

  isConnected(): boolean {
    return this.state.connected;
  }

  onStateChange(listener: (connected: boolean) => void): () => void {
    return this.state.onChange(listener);
  }

  stats(): ModbusLineStats {
    return { ...this.counters };
  }

  readHoldingRegisters(unit: number, addr: number, len: number): Promise<Result<number[]>> {
    const bad = checkUnit(unit) ?? checkRange(addr, len, 125);
    if (bad) return this.rejectArgs(bad);
    return this.enqueue('read holding registers', unit, async (c) => (await c.readHoldingRegisters(addr, len)).data);
  }

  readInputRegisters(unit: number, addr: number, len: number): Promise<Result<number[]>> {
    const bad = checkUnit(unit) ?? checkRange(addr, len, 125);
    if (bad) return this.rejectArgs(bad);
    return this.enqueue('read input registers', unit, async (c) => (await c.readInputRegisters(addr, len)).data);
  }

  readCoils(unit: number, addr: number, len: number): Promise<Result<boolean[]>> {
    const bad = checkUnit(unit) ?? checkRange(addr, len, 2000);
    if (bad) return this.rejectArgs(bad);
    // modbus-serial answers whole bytes of bits: trim the padding past len.
    return this.enqueue('read coils', unit, async (c) => (await c.readCoils(addr, len)).data.slice(0, len));
  }

  writeCoil(unit: number, addr: number, value: boolean): Promise<Result<void>> {
    const bad = checkUnit(unit) ?? checkRange(addr, 1, 1) ?? (typeof value === 'boolean' ? null : 'value must be a boolean');
    if (bad) return this.rejectArgs(bad);
    return this.enqueue('write coil', unit, async (c) => {
      await c.writeCoil(addr, value);
    });
  }

  writeCoils(unit: number, addr: number, values: boolean[]): Promise<Result<void>> {
    const bad =
      checkUnit(unit) ??
      checkRange(addr, values.length, 1968) ??
      (values.every((v) => typeof v === 'boolean') ? null : 'values must be booleans');
    if (bad) return this.rejectArgs(bad);
    return this.enqueue('write coils', unit, async (c) => {
      await c.writeCoils(addr, values);
    });
  }

  writeRegister(unit: number, addr: number, value: number): Promise<Result<void>> {
    const bad = checkUnit(unit) ?? checkRange(addr, 1, 1) ?? checkWord(value);
    if (bad) return this.rejectArgs(bad);
    return this.enqueue('write register', unit, async (c) => {
      await c.writeRegister(addr, value);
    });
  }

  private rejectArgs<T>(message: string): Promise<Result<T>> {
    this.counters.requests++;
    this.counters.failures++;
    this.log.debug({ reason: message }, 'modbus request refused before sending');
    return Promise.resolve(fail('invalid-argument', message));
  }

  private enqueue<T>(what: string, unit: number, op: (client: Client) => Promise<T>): Promise<Result<T>> {
    const run = async (): Promise<Result<T>> => {
      this.counters.requests++;
      const outcome = await this.execute(unit, op);
      this.account(what, unit, outcome);
      return outcome;
    };
    const result = this.tail.then(run);
    this.tail = result;
    return result;
  }

  private async execute<T>(unit: number, op: (client: Client) => Promise<T>): Promise<Result<T>> {
    if (this.gapMs > 0) {
      const wait = this.lastFrameAt + this.gapMs - performance.now();
      if (wait > 0) await delay(wait);
    }
    // A connect attempt under way (at start, or after a drop) is waited for: a request
    // made a moment before the socket is up should not count as a failure.
    if (!this.state.connected && this.connecting) await this.connecting;
    const client = this.client;
    if (!this.state.connected || !client) return fail('disconnected', 'Modbus line not connected');

    let guard: NodeJS.Timeout | undefined;
    const aborted = new Promise<Result<T>>((resolve) => {
      this.abortInFlight = resolve;
      // Backstop in case the library never calls back (it drops pending callbacks on destroy).
      guard = setTimeout(() => resolve(fail('timeout', `no answer within ${this.timeoutMs} ms`)), this.timeoutMs + 500);
    });
    const answered = (async (): Promise<Result<T>> => {
      try {
        client.setID(unit);
        if (this.config.type === 'modbus-rtu') discardInput(client);
        return ok(await op(client));
      } catch (err) {
        return classify(err, this.timeoutMs);
      }
    })();
    try {
      return await Promise.race([answered, aborted]);
    } finally {
      clearTimeout(guard);
      this.abortInFlight = null;
      this.lastFrameAt = performance.now();
    }
  }

  private account<T>(what: string, unit: number, outcome: Result<T>): void {
    if (outcome.ok) {
      this.streak.recovered();
      return;
    }
    this.counters.failures++;
    if (outcome.error.kind === 'timeout') this.counters.timeouts++;
    this.streak.failed({ op: what, unit, error: outcome.error }, 'modbus request failed');
    // The library reports a dead socket only when asked: treat that as the line dropping.
    if (outcome.error.kind === 'disconnected' && this.client) this.dropped(this.client, 'request found the port closed');
  }

  private connect(): void {
    if (!this.running || this.connecting || this.client) return;
    this.connecting = this.attempt().finally(() => {
      this.connecting = null;
    });
  }

  private async attempt(): Promise<void> {
    const client = new ModbusRTU();
    // The promise API would otherwise wait forever for an answer that never comes.
    client.setTimeout(this.timeoutMs);
    // Serial errors are re-emitted as 'error' on the client; unhandled, they would crash the process.
    client.on('error', (err) => {
      this.log.debug({ err }, 'modbus transport error');
      if (client === this.client) this.dropped(client, 'transport error');
    });
    client.on('close', () => {
      if (client === this.client) this.dropped(client, 'connection closed');
    });
    try {
      await openClient(client, this.config);
    } catch (err) {
      await closeClient(client);
      this.streak.failed({ err: describeError(err) }, 'modbus connect failed');
      this.scheduleRetry();
      return;
    }
    if (!this.running) {
      await closeClient(client);
      return;
    }
    this.client = client;
    this.backoff.reset();
    if (this.everConnected) this.counters.reconnects++;
    this.everConnected = true;
    this.streak.recovered();
    this.log.info('modbus line connected');
    this.state.set(true);
  }

  private dropped(client: Client, why: string): void {
    if (client !== this.client) return;
    this.client = null;
    this.abortInFlight?.(fail('disconnected', why));
    this.state.set(false);
    void closeClient(client);
    this.streak.failed({ reason: why }, 'modbus line lost');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (!this.running || this.retryTimer) return;
    const wait = this.backoff.next();
    this.log.debug({ inMs: wait }, 'modbus reconnect scheduled');
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, wait);
  }

}

/**
 * RTU has no transaction ids: an answer is known only by its unit, function and length.
 * modbus-serial's buffered RTU port keeps every byte it received across requests and
 * takes the first run that looks like the awaited answer, so an answer that came too late
 * for the last request (or the rest of a truncated or padded one, or line noise) was read
 * as the answer to the next: a reading one request old. Nothing is owed before a request
 * is sent, so what is buffered then is discarded, as a Modbus master flushes its receiver.
 * The buffer is the library's own field (no API for it); a port without one is left alone.
 */
function discardInput(client: Client): void {
  const port = (client as unknown as { _port?: { _buffer?: unknown } })._port;
  if (port && Buffer.isBuffer(port._buffer) && port._buffer.length > 0) port._buffer = Buffer.alloc(0);
}

function describe(config: ModbusLineConfig): string {
  return config.type === 'modbus-tcp' ? `tcp://${config.host}:${config.port}` : `rtu:${config.path}`;
}

async function openClient(client: Client, config: ModbusLineConfig): Promise<void> {
  if (config.type === 'modbus-tcp') {
    await client.connectTCP(config.host, { port: config.port });
    return;
  }
  await client.connectRTUBuffered(config.path, {
    baudRate: config.baudRate ?? MODBUS_DEFAULTS.baudRate,
    parity: config.parity ?? 'none',
    dataBits: config.dataBits ?? 8,
    stopBits: config.stopBits ?? 1,
  });
}

/** Closes without ever rejecting or hanging: TcpPort only calls back on a 'close' it still sees as open. */
function closeClient(client: Client): Promise<void> {
  return new Promise((resolve) => {
    const done = setTimeout(() => {
      client.destroy(() => undefined);
      resolve();
    }, MODBUS_DEFAULTS.closeGraceMs);
    const finish = (): void => {
      clearTimeout(done);
      resolve();
    };
    try {
      if (!client.isOpen) {
        client.destroy(() => undefined);
        finish();
        return;
      }
      client.close(finish);
    } catch {
      finish();
    }
  });
}

interface LibraryError {
  message?: unknown;
  errno?: unknown;
  modbusCode?: unknown;
}

function classify(err: unknown, timeoutMs: number): Result<never> {
  const e: LibraryError = typeof err === 'object' && err !== null ? err : {};
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.modbusCode === 'number') {
    return fail('exception', EXCEPTION_NAMES[e.modbusCode] ?? `Modbus exception ${e.modbusCode}`, e.modbusCode);
  }
  if (e.errno === 'ETIMEDOUT') return fail('timeout', `no answer within ${timeoutMs} ms`);
  if (message === 'Port Not Open') return fail('disconnected', 'Modbus line not connected');
  if (/CRC|length|Unexpected data/i.test(message)) return fail('protocol', message);
  return fail('disconnected', message);
}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'message' in err) return String(err.message);
  return String(err);
}

function checkUnit(unit: number): string | null {
  return Number.isInteger(unit) && unit >= 0 && unit <= 255 ? null : `unit id must be an integer 0..255, got ${unit}`;
}

function checkRange(addr: number, len: number, maxLen: number): string | null {
  if (!Number.isInteger(addr) || addr < 0 || addr > 0xffff) return `address must be an integer 0..65535, got ${addr}`;
  if (!Number.isInteger(len) || len < 1 || len > maxLen) return `length must be an integer 1..${maxLen}, got ${len}`;
  if (addr + len > 0x10000) return `address ${addr} + length ${len} runs past 65535`;
  return null;
}

function checkWord(value: number): string | null {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff ? null : `register value must be an integer 0..65535, got ${value}`;
}
