/**
 * A framed byte transport: the same code drives a local serial port (serialport) or a TCP
 * connection to a serial device server (the usual RS-232/RS-485-over-Ethernet box). The link
 * knows nothing of the protocol on top: framing and resynchronisation belong to the codec's
 * decoder, request/response correlation to RequestTracker.
 *
 * One link owns one physical line (style pattern 4). Loss of the line never throws and never
 * exits: the link reports the state change and reconnects with exponential backoff.
 */
import net from 'node:net';
import { SerialPort } from 'serialport';
import type { Clock, TimerHandle } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import { ok, fail, type Result } from '../kernel/result.js';

export interface DecodeResult<F> {
  frames: F[];
  /** Bytes seen outside any frame (line noise, a peer's banner, the tail of a lost frame). */
  garbageBytes: number;
  /** Frames that were delimited but rejected: bad checksum, oversize, truncated, unparsable. */
  badFrames: number;
}

/** Stateful: keeps a partial frame between chunks. One decoder per connection. */
export interface FrameDecoder<F> {
  push(chunk: Buffer): DecodeResult<F>;
}

export interface FrameCodec<F> {
  /** May throw (RangeError) for a frame that cannot be put on the wire; the link maps it to a failure. */
  encode(frame: F): Buffer;
  createDecoder(): FrameDecoder<F>;
}

interface SerialLinkCommon {
  /** Gives up on one connection attempt after this long. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** First reconnect delay; doubles after each failed attempt. Default 500 ms. */
  reconnectMinMs?: number;
  /** Ceiling for the reconnect delay. Default 30000 ms (30 s). */
  reconnectMaxMs?: number;
}

export type SerialLinkConfig =
  | (SerialLinkCommon & {
      type: 'serial';
      path: string;
      /** Default 9600 Bd, the common factory setting of PA controllers. */
      baudRate?: number;
      /** Default 'none'. */
      parity?: 'none' | 'even' | 'odd';
      /** Default 8. */
      dataBits?: 7 | 8;
      /** Default 1. */
      stopBits?: 1 | 2;
    })
  | (SerialLinkCommon & { type: 'tcp'; host: string; port: number });

export const SERIAL_LINK_DEFAULTS = {
  connectTimeoutMs: 5000, // 5 s
  reconnectMinMs: 500, // 0.5 s
  reconnectMaxMs: 30000, // 30 s
  baudRate: 9600,
} as const;

/** stopped: not started or stopped; connecting: an attempt is running; connected; waiting: backing off before the next attempt. */
/** At most one warn about line noise per this long (ms, clock time); the rest is counted. */
export const NOISE_LOG_INTERVAL_MS = 60_000;

export type LinkState = 'stopped' | 'connecting' | 'connected' | 'waiting';

export interface LinkStateInfo {
  /** Why the link left 'connected' or why an attempt failed. */
  error?: string;
  /** Delay before the next attempt, when state is 'waiting'. */
  retryInMs?: number;
}

export interface SerialLinkStats {
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
  garbageBytes: number;
  badFrames: number;
  /** Successful connections, the first one included. */
  connects: number;
  /** Successful connections after the first (each one follows a lost line). */
  reconnects: number;
  connectFailures: number;
}

export interface SerialLinkContext<F> {
  config: SerialLinkConfig;
  codec: FrameCodec<F>;
  clock: Clock;
  log: Logger;
}

type Unsubscribe = () => void;

interface Transport {
  /** Resolves once the bytes are written out; `accepted` runs as soon as the OS has taken them. */
  write(bytes: Buffer, accepted: () => void): Promise<Result<void>>;
  close(): Promise<void>;
}

interface TransportHandlers {
  onData(chunk: Buffer): void;
  onClose(error: string | undefined): void;
}

export class SerialLink<F> {
  private readonly config: SerialLinkConfig;
  private readonly codec: FrameCodec<F>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly connectTimeoutMs: number;
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;

  private state: LinkState = 'stopped';
  private running = false;
  /** Bumped on every attempt and on stop, so callbacks of a superseded transport are ignored. */
  private generation = 0;
  private transport: Transport | null = null;
  private retryTimer: TimerHandle | null = null;
  private failedAttempts = 0;
  private failureStreak = 0;
  private noiseLoggedAt: number | null = null;
  private noiseSince = { garbageBytes: 0, badFrames: 0 };

  private readonly frameListeners = new Set<(frame: F) => void>();
  private readonly stateListeners = new Set<(state: LinkState, info: LinkStateInfo) => void>();
  private readonly writeListeners = new Set<(bytes: Buffer) => void>();
  private readonly counters: SerialLinkStats = {
    bytesIn: 0,
    bytesOut: 0,
    framesIn: 0,
    framesOut: 0,
    garbageBytes: 0,
    badFrames: 0,
    connects: 0,
    reconnects: 0,
    connectFailures: 0,
  };

  constructor(ctx: SerialLinkContext<F>) {
    this.config = ctx.config;
    this.codec = ctx.codec;
    this.clock = ctx.clock;
    this.log = ctx.log;
    this.connectTimeoutMs = ctx.config.connectTimeoutMs ?? SERIAL_LINK_DEFAULTS.connectTimeoutMs;
    this.reconnectMinMs = Math.max(1, ctx.config.reconnectMinMs ?? SERIAL_LINK_DEFAULTS.reconnectMinMs);
    this.reconnectMaxMs = Math.max(this.reconnectMinMs, ctx.config.reconnectMaxMs ?? SERIAL_LINK_DEFAULTS.reconnectMaxMs);
  }

  /** Connects in the background; never rejects. Watch onStateChange or isConnected(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.failedAttempts = 0;
    this.connect();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    this.retryTimer?.cancel();
    this.retryTimer = null;
    const transport = this.transport;
    this.transport = null;
    if (transport) await transport.close();
    this.setState('stopped', {});
  }

  isConnected(): boolean {
    return this.state === 'connected';
  }

  currentState(): LinkState {
    return this.state;
  }

  describe(): string {
    return this.config.type === 'tcp' ? `tcp://${this.config.host}:${this.config.port}` : `serial:${this.config.path}`;
  }

  async send(frame: F): Promise<Result<void>> {
    const transport = this.transport;
    if (!transport || this.state !== 'connected') return fail('disconnected', `${this.describe()} is not connected`);
    let bytes: Buffer;
    try {
      bytes = this.codec.encode(frame);
    } catch (err) {
      return fail('invalid-argument', err instanceof Error ? err.message : String(err));
    }
    // Listeners hear of the bytes when the OS accepted them: on a serial port the drain
    // that follows can finish after the device has already answered.
    const written = await transport.write(bytes, () => this.emit(this.writeListeners, 'bytesWritten', (l) => l(bytes)));
    if (!written.ok) return written;
    this.counters.bytesOut += bytes.length;
    this.counters.framesOut++;
    return ok(undefined);
  }

  onFrame(listener: (frame: F) => void): Unsubscribe {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  onStateChange(listener: (state: LinkState, info: LinkStateInfo) => void): Unsubscribe {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Every encoded frame exactly as it went on the line (benchmarks, protocol traces). */
  onBytesWritten(listener: (bytes: Buffer) => void): Unsubscribe {
    this.writeListeners.add(listener);
    return () => this.writeListeners.delete(listener);
  }

  stats(): SerialLinkStats {
    return { ...this.counters };
  }

  private connect(): void {
    const gen = ++this.generation;
    this.retryTimer = null;
    this.setState('connecting', {});
    // A fresh decoder per connection: a half frame from a dead connection must not prefix the next one.
    const decoder = this.codec.createDecoder();
    const handlers: TransportHandlers = {
      onData: (chunk) => {
        if (gen !== this.generation) return;
        this.counters.bytesIn += chunk.length;
        const r = decoder.push(chunk);
        this.counters.garbageBytes += r.garbageBytes;
        this.counters.badFrames += r.badFrames;
        if (r.garbageBytes > 0 || r.badFrames > 0) this.noise(r.garbageBytes, r.badFrames);
        for (const frame of r.frames) {
          this.counters.framesIn++;
          this.emit(this.frameListeners, 'frame', (l) => l(frame));
        }
      },
      onClose: (error) => {
        if (gen !== this.generation) return;
        this.transport = null;
        this.failure('connection lost', error ?? 'closed by peer');
      },
    };
    void this.open(handlers).then((r) => {
      if (gen !== this.generation) {
        // stop() or a newer attempt overtook this one.
        if (r.ok) void r.value.close();
        return;
      }
      if (!r.ok) {
        this.counters.connectFailures++;
        this.failure('connect failed', r.error.message);
        return;
      }
      this.transport = r.value;
      this.failedAttempts = 0;
      this.counters.connects++;
      if (this.counters.connects > 1) this.counters.reconnects++;
      if (this.failureStreak > 0) {
        this.log.info({ link: this.describe(), failures: this.failureStreak }, 'link recovered');
      } else {
        this.log.info({ link: this.describe() }, 'link connected');
      }
      this.failureStreak = 0;
      this.setState('connected', {});
    });
  }

  /**
   * Line noise: a warn at most every NOISE_LOG_INTERVAL_MS, counting what was discarded since
   * the last one; the chunks in between at debug. A noisy line is worth one line in the log,
   * not one per chunk (a storm of garbage would otherwise be a storm of log lines).
   */
  private noise(garbageBytes: number, badFrames: number): void {
    this.noiseSince.garbageBytes += garbageBytes;
    this.noiseSince.badFrames += badFrames;
    const now = this.clock.now();
    if (this.noiseLoggedAt !== null && now - this.noiseLoggedAt < NOISE_LOG_INTERVAL_MS) {
      this.log.debug({ link: this.describe(), garbageBytes, badFrames }, 'discarded bytes on line');
      return;
    }
    this.log.warn({ link: this.describe(), ...this.noiseSince, repeatsLoggedEveryMs: NOISE_LOG_INTERVAL_MS }, 'line noise: bytes discarded');
    this.noiseLoggedAt = now;
    this.noiseSince = { garbageBytes: 0, badFrames: 0 };
  }

  private failure(what: string, error: string): void {
    if (!this.running) return;
    const delay = Math.min(this.reconnectMaxMs, this.reconnectMinMs * 2 ** Math.min(this.failedAttempts, 30));
    this.failedAttempts++;
    const fields = { link: this.describe(), error, retryInMs: delay };
    // One error line per outage; the repeats of the same outage only at debug (no log floods).
    if (this.failureStreak === 0) this.log.error(fields, what);
    else this.log.debug({ ...fields, failures: this.failureStreak + 1 }, what);
    this.failureStreak++;
    this.setState('waiting', { error, retryInMs: delay });
    this.retryTimer = this.clock.setTimeout(() => {
      if (this.running) this.connect();
    }, delay);
  }

  private open(handlers: TransportHandlers): Promise<Result<Transport>> {
    return this.config.type === 'tcp'
      ? openTcp(this.config.host, this.config.port, this.connectTimeoutMs, this.clock, handlers)
      : openSerial(this.config, this.connectTimeoutMs, this.clock, handlers);
  }

  private setState(state: LinkState, info: LinkStateInfo): void {
    if (state === this.state && state !== 'waiting') return;
    this.state = state;
    this.emit(this.stateListeners, 'state', (l) => l(state, info));
  }

  /** A listener that throws is logged and skipped; it never breaks the link or other listeners. */
  private emit<L>(listeners: Set<L>, what: string, call: (l: L) => void): void {
    for (const l of listeners) {
      try {
        call(l);
      } catch (err) {
        this.log.error({ link: this.describe(), err }, `serial-link ${what} listener threw`);
      }
    }
  }
}

function openTcp(host: string, port: number, timeoutMs: number, clock: Clock, h: TransportHandlers): Promise<Result<Transport>> {
  return new Promise((resolve) => {
    // noDelay: a command frame is tiny and must leave now, not after the peer's delayed ACK (facts.md, ~40 ms).
    const sock = net.connect({ host, port, noDelay: true });
    let settled = false;
    let lastError: string | undefined;
    const timer = clock.setTimeout(() => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve(fail('timeout', `connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('error', (err) => {
      lastError = err.message;
      if (settled) return;
      settled = true;
      timer.cancel();
      resolve(fail('disconnected', `connect to ${host}:${port}: ${err.message}`));
    });
    sock.once('connect', () => {
      if (settled) return;
      settled = true;
      timer.cancel();
      // Device servers sit behind switches that drop idle state; keepalive notices a half-open line.
      sock.setKeepAlive(true, 10_000);
      sock.on('data', (chunk: Buffer) => h.onData(chunk));
      sock.once('close', () => h.onClose(lastError));
      resolve(
        ok({
          write: (bytes, accepted) =>
            new Promise<Result<void>>((res) => {
              if (sock.destroyed || !sock.writable) {
                res(fail('disconnected', 'socket closed'));
                return;
              }
              sock.write(bytes, (err) => {
                if (!err) accepted();
                res(err ? fail('disconnected', err.message) : ok(undefined));
              });
            }),
          close: () =>
            new Promise<void>((res) => {
              if (sock.destroyed && sock.closed) {
                res();
                return;
              }
              sock.once('close', () => res());
              sock.destroy();
            }),
        }),
      );
    });
  });
}

function openSerial(
  config: Extract<SerialLinkConfig, { type: 'serial' }>,
  timeoutMs: number,
  clock: Clock,
  h: TransportHandlers,
): Promise<Result<Transport>> {
  return new Promise((resolve) => {
    let settled = false;
    let lastError: string | undefined;
    let port: SerialPort;
    try {
      port = new SerialPort({
        path: config.path,
        baudRate: config.baudRate ?? SERIAL_LINK_DEFAULTS.baudRate,
        parity: config.parity ?? 'none',
        dataBits: config.dataBits ?? 8,
        stopBits: config.stopBits ?? 1,
        autoOpen: false,
      });
    } catch (err) {
      resolve(fail('invalid-argument', `serial ${config.path}: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    const closePort = (): Promise<void> =>
      new Promise<void>((res) => {
        if (!port.isOpen) {
          res();
          return;
        }
        port.close(() => res());
      });
    const timer = clock.setTimeout(() => {
      if (settled) return;
      settled = true;
      void closePort();
      resolve(fail('timeout', `open ${config.path} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    port.on('error', (err) => {
      lastError = err.message;
    });
    port.open((err) => {
      if (settled) {
        if (!err) void closePort();
        return;
      }
      settled = true;
      timer.cancel();
      if (err) {
        resolve(fail('disconnected', `open ${config.path}: ${err.message}`));
        return;
      }
      port.on('data', (chunk: Buffer) => h.onData(chunk));
      port.once('close', () => h.onClose(lastError));
      resolve(
        ok({
          write: (bytes, accepted) =>
            new Promise<Result<void>>((res) => {
              if (!port.isOpen) {
                res(fail('disconnected', 'serial port closed'));
                return;
              }
              port.write(bytes, (werr) => {
                if (werr) {
                  res(fail('disconnected', werr.message));
                  return;
                }
                accepted();
                // drain: the callback above fires when queued; a command counts as sent once the OS has it.
                port.drain((derr) => res(derr ? fail('disconnected', derr.message) : ok(undefined)));
              });
            }),
          close: closePort,
        }),
      );
    });
  });
}
