import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { MqttPreparser, type PreparserOptions, type Violation } from './preparser.js';

/** How long a connection refused with a CONNACK may take to flush it before it is destroyed (5 s). */
const CONNACK_FLUSH_MS = 5_000;

/**
 * Packets that lie back to back in one buffer (the usual case: a read holding many
 * complete packets) handed on as one slice: one push instead of one per packet, and
 * aedes' read() then has nothing to concatenate. Still only complete, checked packets.
 */
export function joinAdjacent(parts: Buffer[]): Buffer[] {
  if (parts.length < 2) return parts;
  const out: Buffer[] = [];
  let run = parts[0]!;
  for (let i = 1; i < parts.length; i++) {
    const b = parts[i]!;
    if (b.buffer === run.buffer && run.byteOffset + run.length === b.byteOffset) {
      run = Buffer.from(run.buffer, run.byteOffset, run.length + b.length);
    } else {
      out.push(run);
      run = b;
    }
  }
  out.push(run);
  return out;
}

/**
 * The connection aedes sees: the client's bytes reach it only through the strict
 * pre-parser (one complete, valid packet at a time), and what aedes writes goes straight to
 * the socket. Back-pressure holds both ways: a full aedes read buffer pauses the socket, and
 * a socket that does not drain holds aedes' writes (so its `drainTimeout` still applies).
 */
export class StrictMqttStream extends Duplex {
  /** The peer's address, for the per-address throttles of the broker. */
  readonly remoteAddress: string;
  private readonly parser: MqttPreparser;
  private pendingWrite: ((err?: Error | null) => void) | null = null;
  private refusedWithConnack = false;
  private outq: Buffer[] = [];
  private flushScheduled = false;

  constructor(
    /** The socket underneath (a TLS socket carries the client's certificate). */
    readonly socket: Socket,
    opts: PreparserOptions,
    private readonly onViolation: (v: Violation, stream: StrictMqttStream) => void,
  ) {
    super({ allowHalfOpen: false });
    this.remoteAddress = socket.remoteAddress ?? '';
    this.parser = new MqttPreparser(opts);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
    socket.on('drain', () => {
      const cb = this.pendingWrite;
      this.pendingWrite = null;
      cb?.();
    });
  }

  /** Bytes held for an incomplete packet (at most the packet limit). */
  get heldBytes(): number {
    return this.parser.heldBytes;
  }

  private onData(chunk: Buffer): void {
    const { forward, violation } = this.parser.feed(chunk);
    let more = true;
    for (const b of joinAdjacent(forward)) more = this.push(b) && more;
    if (violation) {
      this.socket.pause();
      this.socket.removeAllListeners('data');
      this.onViolation(violation, this);
      if (violation.connack !== undefined) {
        // [MQTT-3.1.2-2]: answer the return code, then disconnect.
        this.refusedWithConnack = true;
        this.socket.setTimeout(CONNACK_FLUSH_MS, () => this.socket.destroy());
        this.socket.end(Buffer.from([0x20, 0x02, 0x00, violation.connack]));
      } else {
        this.socket.destroy();
      }
      this.destroy();
      return;
    }
    if (!more) this.socket.pause();
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.queueOut(chunk);
    this.accepted(cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    for (const c of chunks) this.queueOut(c.chunk);
    this.accepted(cb);
  }

  /**
   * What aedes writes in one turn of the event loop leaves in one socket write: each
   * packet is written in its own tick (mqtt-packet corks only until the next tick), and a
   * read of many packets would otherwise cost a writev syscall per answer.
   */
  private queueOut(chunk: Buffer): void {
    this.outq.push(chunk);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushOut);
    }
  }

  private readonly flushOut = (): void => {
    this.flushScheduled = false;
    const q = this.outq;
    if (q.length === 0 || this.socket.destroyed || this.socket.writableEnded) return;
    this.outq = [];
    this.socket.cork();
    for (const b of q) this.socket.write(b);
    this.socket.uncork();
  };

  /** Back-pressure: a socket that does not drain holds aedes' next write (its drainTimeout applies). */
  private accepted(cb: (err?: Error | null) => void): void {
    if (this.socket.writableNeedDrain) this.pendingWrite = cb;
    else cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.flushOut();
    this.socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // What aedes wrote just before closing (a refusing CONNACK, then close) still goes out:
    // handed to the socket first, it leaves before the socket is destroyed.
    this.flushOut();
    // A CONNACK refusal is still flushing: the socket ends itself (or times out).
    if (!this.refusedWithConnack) this.socket.destroy();
    const pending = this.pendingWrite;
    this.pendingWrite = null;
    pending?.(err ?? new Error('connection closed'));
    cb(err);
  }
}
