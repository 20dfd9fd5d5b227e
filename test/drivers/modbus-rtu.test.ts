/**
 * Modbus RTU over a real pseudo-terminal pair: socat links two ptys, modbus-serial's
 * ServerSerial answers on one end and ModbusLine drives the other.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import modbusSerial from 'modbus-serial';
import type { FCallback, FCallbackVal, IServiceVector } from 'modbus-serial';
import { systemClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import { ModbusLine } from '../../drivers/modbus.js';
import { waitFor } from '../helpers/wait.js';

const SOCAT = '/usr/bin/socat';

async function ptyPair(dir: string): Promise<{ a: string; b: string; socat: ChildProcess }> {
  if (!existsSync(SOCAT)) {
    throw new Error(`socat not found at ${SOCAT}: the RTU test needs it (apt-get install socat)`);
  }
  const a = join(dir, 'A');
  const b = join(dir, 'B');
  const socat = spawn(SOCAT, ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  socat.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // socat logs "starting data transfer loop" once both ptys exist and are linked.
  await waitFor(() => stderr.includes('starting data transfer loop') || socat.exitCode !== null, 3000, 'socat pty pair');
  if (socat.exitCode !== null) throw new Error(`socat exited ${socat.exitCode}: ${stderr}`);
  return { a, b, socat };
}

function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

void t.test('Modbus RTU over a socat pseudo-terminal pair', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fh-rtu-'));
  let { a, b, socat } = await ptyPair(dir);
  t.teardown(async () => {
    await killed(socat);
    rmSync(dir, { recursive: true, force: true });
  });

  const holding = [10, 20, 30, 40];
  const coils = [false, false, false, false];
  const vector: IServiceVector = {
    getHoldingRegister: (addr: number, _unit: number, cb: FCallbackVal<number>) => {
      const v = holding[addr];
      if (v === undefined) cb(Object.assign(new Error('address'), { modbusErrorCode: 2 }), 0);
      else cb(null, v);
    },
    getCoil: (addr: number, _unit: number, cb: FCallbackVal<boolean>) => cb(null, coils[addr] ?? false),
    setCoil: (addr: number, value: boolean, _unit: number, cb: FCallback) => {
      coils[addr] = value;
      cb(null);
    },
    setRegister: (addr: number, value: number, _unit: number, cb: FCallback) => {
      holding[addr] = value;
      cb(null);
    },
  };
  const serve = async (): Promise<void> => {
    const server = new modbusSerial.ServerSerial(vector, { path: b, baudRate: 19200, unitID: 1 });
    server.on('error', () => undefined);
    server.on('socketError', () => undefined);
    await new Promise<void>((resolve) => server.on('initialized', () => resolve()));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  };
  await serve();

  const line = new ModbusLine({
    config: { type: 'modbus-rtu', path: a, baudRate: 19200, timeoutMs: 300 },
    clock: systemClock,
    log: silentLogger(),
    reconnect: { initialMs: 50, maxMs: 200 },
  });
  t.teardown(() => line.stop());
  line.start();
  await waitFor(() => line.isConnected(), 3000, 'rtu line open');

  t.same(await line.readHoldingRegisters(1, 0, 4), { ok: true, value: [10, 20, 30, 40] });
  t.ok((await line.writeRegister(1, 2, 333)).ok);
  t.ok((await line.writeCoil(1, 1, true)).ok);
  t.same(await line.readCoils(1, 0, 4), { ok: true, value: [false, true, false, false] });
  t.same(await line.readHoldingRegisters(1, 2, 1), { ok: true, value: [333] });

  const ex = await line.readHoldingRegisters(1, 3, 2);
  t.same(ex, { ok: false, error: { kind: 'exception', message: 'Illegal data address', code: 2 } });

  const silent = await line.readHoldingRegisters(9, 0, 1);
  t.equal(!silent.ok && silent.error.kind, 'timeout', 'a unit nobody answers for times out');
  t.same(await line.readHoldingRegisters(1, 0, 2), { ok: true, value: [10, 20] }, 'the line carries on after a timeout');

  const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => line.readHoldingRegisters(1, i % 4, 1)));
  t.ok(burst.every((r) => r.ok), 'queued frames do not collide on the shared line');
  t.match(line.stats(), { timeouts: 1 });

  // A pty whose far end vanished reports it only when written to (EIO), not while idle.
  await killed(socat);
  const gone = await line.readHoldingRegisters(1, 0, 1);
  t.equal(!gone.ok && gone.error.kind, 'disconnected');
  t.equal(line.isConnected(), false);

  ({ a, b, socat } = await ptyPair(dir));
  await serve();
  await waitFor(() => line.isConnected(), 3000, 'rtu line reopened after backoff');
  t.same(await line.readHoldingRegisters(1, 0, 2), { ok: true, value: [10, 20] });
  t.equal(line.stats().reconnects, 1);
});
