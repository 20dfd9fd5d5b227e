import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger, type Logger } from '../../hub/log.js';
import { ModbusLine, interFrameGapFor, type ModbusLineConfig } from '../../drivers/modbus.js';
import { startUpsSimulator, type UpsSimulator } from '../../simulators/ups-modbus.js';
import { startRelaySimulator } from '../../simulators/relay-modbus.js';
import { waitFor } from '../helpers/wait.js';

interface LogLine {
  level: number;
  msg: string;
}

function captureLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

function tcp(port: number, timeoutMs = 300): ModbusLineConfig {
  return { type: 'modbus-tcp', host: '127.0.0.1', port, timeoutMs };
}

interface Teardown {
  teardown(fn: () => Promise<void>): void;
}

async function upsAndLine(t: Teardown, timeoutMs = 300): Promise<{ ups: UpsSimulator; line: ModbusLine; clock: ManualClock }> {
  const clock = new ManualClock();
  const ups = await startUpsSimulator({ port: 0, clock, log: silentLogger() });
  const line = new ModbusLine({ config: tcp(ups.port, timeoutMs), clock, log: silentLogger() });
  t.teardown(async () => {
    await line.stop();
    await ups.stop();
  });
  line.start();
  await waitFor(() => line.isConnected(), 3000, 'connect');
  return { ups, line, clock };
}

void t.test('reads the whole UPS map as holding and input registers', async (t) => {
  const { ups, line } = await upsAndLine(t);
  const holding = await line.readHoldingRegisters(1, 0, 8);
  t.same(holding, { ok: true, value: ups.state().registers });
  t.same(holding.ok && holding.value, [0b1, 100, 4320, 2200, 2200, 33, 250, 5000], 'full battery on mains');
  const input = await line.readInputRegisters(1, 0, 8);
  t.same(input, holding);
  const one = await line.readHoldingRegisters(1, 1, 1);
  t.same(one, { ok: true, value: [100] }, 'single-register reads take the other server path');
});

void t.test('coil 0 cuts and restores the simulated mains', async (t) => {
  const { ups, line } = await upsAndLine(t);
  t.same(await line.writeCoil(1, 0, false), { ok: true, value: undefined });
  t.equal(ups.state().mains, false);
  const regs = await line.readHoldingRegisters(1, 0, 1);
  t.same(regs, { ok: true, value: [0b10] }, 'on battery, visible on the very next poll');
  t.same(await line.readCoils(1, 0, 1), { ok: true, value: [false] });
  t.ok((await line.writeCoil(1, 0, true)).ok);
  t.same(await line.readCoils(1, 0, 1), { ok: true, value: [true] });
});

void t.test('Modbus exceptions come back as exception results with their code', async (t) => {
  const { ups, line } = await upsAndLine(t);
  t.same(await line.readHoldingRegisters(1, 4, 8), {
    ok: false,
    error: { kind: 'exception', message: 'Illegal data address', code: 2 },
  });
  t.same(await line.writeRegister(1, 1, 5), {
    ok: false,
    error: { kind: 'exception', message: 'Illegal data address', code: 2 },
  });
  ups.setFault({ exception: 4 });
  const r = await line.readInputRegisters(1, 0, 8);
  t.same(r, { ok: false, error: { kind: 'exception', message: 'Server device failure', code: 4 } });
  ups.setFault({ exception: null });
  t.ok((await line.readInputRegisters(1, 0, 8)).ok, 'answers again once the fault clears');
  t.match(line.stats(), { requests: 4, failures: 3, timeouts: 0 });
});

void t.test('bad arguments are refused without touching the wire', async (t) => {
  const { line } = await upsAndLine(t);
  for (const r of [
    await line.readHoldingRegisters(1, 0, 0),
    await line.readHoldingRegisters(1, 0, 126),
    await line.readCoils(300, 0, 1),
    await line.readInputRegisters(1, 65535, 2),
    await line.writeRegister(1, 0, 70000),
    await line.writeCoils(1, 0, []),
    await line.writeRegister(1, -1, 0),
  ]) {
    t.equal(!r.ok && r.error.kind, 'invalid-argument');
  }
  t.ok((await line.readHoldingRegisters(1, 0, 8)).ok);
});

void t.test('an unresponsive UPS times out, then answers again', async (t) => {
  const { ups, line } = await upsAndLine(t, 150);
  ups.setFault({ unresponsive: true });
  const r = await line.readHoldingRegisters(1, 0, 8);
  t.equal(!r.ok && r.error.kind, 'timeout');
  const w = await line.writeCoil(1, 0, false);
  t.equal(!w.ok && w.error.kind, 'timeout', 'writes time out too');
  t.equal(line.isConnected(), true, 'a timeout alone does not drop a TCP line');
  ups.setFault({ unresponsive: false });
  const again = await line.readHoldingRegisters(1, 0, 8);
  t.ok(again.ok);
  t.match(line.stats(), { timeouts: 2, failures: 2 });
});

void t.test('a wrong unit id is not answered by the simulator', async (t) => {
  const { line } = await upsAndLine(t, 150);
  const r = await line.readHoldingRegisters(7, 0, 8);
  t.equal(!r.ok && r.error.kind, 'timeout');
});

void t.test('requests are serialised in order', async (t) => {
  const { ups, line } = await upsAndLine(t);
  const writes = [false, true, false, true, false].map((v) => line.writeCoil(1, 0, v));
  const reads = Array.from({ length: 20 }, () => line.readHoldingRegisters(1, 0, 8));
  const all = await Promise.all([...writes, ...reads]);
  t.ok(all.every((r) => r.ok), 'every request answered');
  t.equal(ups.state().mains, false, 'the last write queued is the last applied');
});

void t.test('relay module: writes, read back, stuck relay, out of range', async (t) => {
  const clock = new ManualClock();
  const relay = await startRelaySimulator({ port: 0, log: silentLogger() });
  const line = new ModbusLine({ config: tcp(relay.port), clock, log: silentLogger() });
  t.teardown(async () => {
    await line.stop();
    await relay.stop();
  });
  line.start();
  await waitFor(() => line.isConnected(), 3000, 'connect');

  t.ok((await line.writeCoil(1, 2, true)).ok);
  t.same(await line.readCoils(1, 0, 8), { ok: true, value: [false, false, true, false, false, false, false, false] });
  t.ok((await line.writeCoils(1, 4, [true, false, true, true])).ok);
  t.same(await line.readCoils(1, 2, 6), { ok: true, value: [true, false, true, false, true, true] });

  relay.stick(2, false);
  t.ok((await line.writeCoil(1, 2, true)).ok, 'the module acknowledges the write');
  t.same(await line.readCoils(1, 2, 1), { ok: true, value: [false] }, 'but reads back the stuck state');

  const out = await line.writeCoils(1, 6, [false, false, true]);
  t.same(out, { ok: false, error: { kind: 'exception', message: 'Illegal data address', code: 2 } });
  t.same(relay.coils().slice(6), [true, true], 'a rejected multi-write changes nothing');
  const read = await line.readCoils(1, 0, 9);
  t.equal(!read.ok && read.error.code, 2);
});

void t.test('a server that goes away: disconnected results, then reconnect after backoff', async (t) => {
  const clock = new ManualClock();
  const { log, lines } = captureLogger();
  let ups = await startUpsSimulator({ port: 0, clock, log: silentLogger() });
  const port = ups.port;
  const line = new ModbusLine({ config: tcp(port), clock, log, reconnect: { initialMs: 500, maxMs: 2000 } });
  const states: boolean[] = [];
  line.onStateChange((c) => states.push(c));
  t.teardown(async () => {
    await line.stop();
    await ups.stop();
  });
  line.start();
  await waitFor(() => line.isConnected(), 3000, 'connect');

  await ups.stop();
  await waitFor(() => !line.isConnected(), 3000, 'drop noticed');
  const r = await line.readHoldingRegisters(1, 0, 8);
  t.same(r, { ok: false, error: { kind: 'disconnected', message: 'Modbus line not connected' } });
  t.equal(clock.pendingTimers(), 1, 'one retry scheduled');

  clock.advance(500);
  await waitFor(() => lines.filter((l) => l.msg === 'modbus connect failed').length === 1, 3000, 'first retry failed');
  const lost = lines.filter((l) => l.msg === 'modbus line lost' || l.msg === 'modbus connect failed' || l.msg === 'modbus request failed');
  t.equal(lost[0]?.level, 50, 'first failure of the streak at error');
  t.ok(lost.slice(1).every((l) => l.level === 20), 'repeats at debug');

  ups = await startUpsSimulator({ port, clock, log: silentLogger() });
  clock.advance(999);
  await new Promise((r) => setImmediate(r));
  t.equal(line.isConnected(), false, 'backoff doubled: no attempt before 1000 ms');
  clock.advance(1);
  await waitFor(() => line.isConnected(), 3000, 'reconnect');
  t.ok((await line.readHoldingRegisters(1, 0, 8)).ok);
  t.same(states, [true, false, true]);
  t.equal(line.stats().reconnects, 1);
  t.ok(lines.some((l) => l.msg === 'modbus line recovered' && l.level === 30), 'recovery at info');
});

void t.test('connecting to a closed port fails quietly and keeps retrying; stop() leaves no timers', async (t) => {
  const clock = new ManualClock();
  const probe = await startUpsSimulator({ port: 0, clock, log: silentLogger() });
  const port = probe.port;
  await probe.stop();
  const { log, lines } = captureLogger();
  const line = new ModbusLine({ config: tcp(port), clock, log });
  line.start();
  await waitFor(() => lines.some((l) => l.msg === 'modbus connect failed'), 3000, 'connect failure');
  t.equal(line.isConnected(), false);
  const r = await line.readCoils(1, 0, 1);
  t.equal(!r.ok && r.error.kind, 'disconnected');
  t.equal(clock.pendingTimers(), 1);
  await line.stop();
  t.equal(clock.pendingTimers(), 0, 'no retry left behind');
  clock.advance(60_000);
  t.equal(line.isConnected(), false);
  const after = await line.readCoils(1, 0, 1);
  t.equal(!after.ok && after.error.kind, 'disconnected', 'requests after stop fail, never throw');
});

void t.test('stop() while connected closes the line and cancels everything', async (t) => {
  const { line, clock } = await upsAndLine(t);
  await line.stop();
  t.equal(line.isConnected(), false);
  t.equal(clock.pendingTimers(), 1, 'only the simulator tick remains');
});

void t.test('the RTU inter-frame gap follows t3.5 with a 2 ms floor', async (t) => {
  t.ok(Math.abs(interFrameGapFor(9600) - 4.01) < 0.01);
  t.equal(interFrameGapFor(115200), 2);
  t.ok(Math.abs(interFrameGapFor(19200) - 2.005) < 0.001);
});
