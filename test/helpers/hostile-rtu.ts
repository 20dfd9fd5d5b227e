/**
 * A hostile Modbus RTU bus for the RTU fuzz: a socat pseudo-terminal pair, and on its far
 * end a "device" (serialport, raw bytes) that answers for two units: unit 1 a UPS (holding
 * registers, function 3), unit 2 a relay module (coils: function 1 read, 5 and 15 written,
 * and the coils follow the writes). Its answers are exact RTU frames, unless the test armed
 * a fault for the next request of one unit and function: then what goes on the wire is what
 * the fault makes of the good answer (bytes, and a delay).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { waitFor } from './wait.js';

const SOCAT = '/usr/bin/socat';

/** CRC-16/MODBUS (polynomial 0xA001 reflected, initial 0xFFFF), appended low byte first. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

export function withCrc(body: Uint8Array | number[]): Buffer {
  const b = Buffer.from(body);
  const c = crc16(b);
  return Buffer.concat([b, Buffer.from([c & 0xff, c >>> 8])]);
}

export interface RtuRequest {
  unit: number;
  fn: number;
  addr: number;
  count: number;
}

/** What goes on the wire instead of the good answer. */
export interface RtuAnswer {
  bytes: Buffer;
  /** Real milliseconds before writing (a late answer). */
  delayMs?: number;
}

export type RtuFault = (good: Buffer, req: RtuRequest) => RtuAnswer;

export interface HostileRtu {
  /** The hub's end of the pty pair. */
  path: string;
  registers: number[];
  coils: boolean[];
  /** The next request of this unit and function gets what the fault makes of its answer. */
  arm(unit: number, fn: number, fault: RtuFault): void;
  /** Whether the armed fault has been used. */
  consumed(): boolean;
  /** Answers written so far (late ones counted once written). */
  written(): number;
  /** The exact answer the device would give. */
  answerFor(req: RtuRequest): Buffer | null;
  stop(): Promise<void>;
}

function ptyPair(dir: string): Promise<{ a: string; b: string; socat: ChildProcess }> {
  if (!existsSync(SOCAT)) throw new Error(`socat not found at ${SOCAT}: the RTU fuzz needs it (apt-get install socat)`);
  const a = join(dir, 'A');
  const b = join(dir, 'B');
  const socat = spawn(SOCAT, ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  socat.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return waitFor(() => stderr.includes('starting data transfer loop') || socat.exitCode !== null, 5000, 'socat pty pair').then(() => {
    if (socat.exitCode !== null) throw new Error(`socat exited ${socat.exitCode}: ${stderr}`);
    return { a, b, socat };
  });
}

export async function startHostileRtu(opts: { registers: number[]; coils: number }): Promise<HostileRtu> {
  const dir = mkdtempSync(join(tmpdir(), 'fh-rtu-fuzz-'));
  const { a, b, socat } = await ptyPair(dir);
  const port = new SerialPort({ path: b, baudRate: 19200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const registers = [...opts.registers];
  const coils = Array.from({ length: opts.coils }, () => false);
  let armed: { unit: number; fn: number; fault: RtuFault } | null = null;
  let used = true;
  let writtenCount = 0;
  const timers = new Set<NodeJS.Timeout>();
  let buf = Buffer.alloc(0);

  const answerFor = (req: RtuRequest): Buffer | null => {
    const { unit, fn, addr, count } = req;
    if (unit === 1 && fn === 3) {
      if (addr + count > registers.length) return withCrc([unit, 0x83, 2]);
      const body = [unit, fn, count * 2];
      for (let i = 0; i < count; i++) body.push((registers[addr + i]! >> 8) & 0xff, registers[addr + i]! & 0xff);
      return withCrc(body);
    }
    if (unit === 2 && fn === 1) {
      if (addr + count > coils.length) return withCrc([unit, 0x81, 2]);
      const bytes = Array.from({ length: Math.ceil(count / 8) }, () => 0);
      for (let i = 0; i < count; i++) if (coils[addr + i]) bytes[i >> 3]! |= 1 << (i & 7);
      return withCrc([unit, fn, bytes.length, ...bytes]);
    }
    return null;
  };

  const write = (bytes: Buffer): void => {
    if (bytes.length) port.write(bytes);
    writtenCount++;
  };

  const handle = (frame: Buffer): void => {
    const unit = frame[0]!;
    const fn = frame[1]!;
    const addr = frame.readUInt16BE(2);
    const count = fn === 5 ? 1 : frame.readUInt16BE(4);
    let good: Buffer | null;
    if (unit === 2 && fn === 5) {
      coils[addr] = frame.readUInt16BE(4) === 0xff00;
      good = Buffer.from(frame); // function 5 answers with the request itself
    } else if (unit === 2 && fn === 15) {
      for (let i = 0; i < count; i++) coils[addr + i] = ((frame[7 + (i >> 3)]! >> (i & 7)) & 1) === 1;
      good = withCrc(frame.subarray(0, 6));
    } else good = answerFor({ unit, fn, addr, count });
    if (!good) return; // no such unit on this bus: silence, as RS-485 gives
    if (armed && armed.unit === unit && armed.fn === fn) {
      const a = armed.fault(good, { unit, fn, addr, count });
      armed = null;
      used = true;
      if (a.delayMs) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          write(a.bytes);
        }, a.delayMs);
        timers.add(timer);
      } else write(a.bytes);
      return;
    }
    write(good);
  };

  port.on('error', () => undefined);
  port.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    // Requests: 8 bytes for functions 1..6; function 15: 7 + byte count + CRC.
    while (buf.length >= 8) {
      const fn = buf[1]!;
      const len = fn === 15 || fn === 16 ? 9 + (buf[6] ?? 0) : 8;
      if (buf.length < len) return;
      const frame = buf.subarray(0, len);
      if (crc16(frame.subarray(0, -2)) !== frame.readUInt16LE(len - 2)) {
        buf = buf.subarray(1); // out of step: resynchronise byte by byte
        continue;
      }
      buf = buf.subarray(len);
      handle(Buffer.from(frame));
    }
  });

  return {
    path: a,
    registers,
    coils,
    arm: (unit, fn, fault) => {
      armed = { unit, fn, fault };
      used = false;
    },
    consumed: () => used,
    written: () => writtenCount,
    answerFor,
    async stop() {
      for (const t of timers) clearTimeout(t);
      await new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
      if (socat.exitCode === null && socat.signalCode === null) {
        await new Promise<void>((resolve) => {
          socat.once('exit', () => resolve());
          socat.kill('SIGTERM');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
