import t from 'tap';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import { ModbusLine } from '../../drivers/modbus.js';
import { startRelaySimulator, type RelaySimulatorOptions } from '../../simulators/relay-modbus.js';
import { waitFor } from '../helpers/wait.js';

interface Teardown {
  teardown(fn: () => Promise<void>): void;
}

async function setup(t: Teardown, extra: Partial<RelaySimulatorOptions> = {}) {
  const relay = await startRelaySimulator({ port: 0, log: silentLogger(), ...extra });
  const line = new ModbusLine({
    config: { type: 'modbus-tcp', host: '127.0.0.1', port: relay.port, timeoutMs: 200 },
    clock: new ManualClock(),
    log: silentLogger(),
  });
  t.teardown(async () => {
    await line.stop();
    await relay.stop();
  });
  line.start();
  await waitFor(() => line.isConnected(), 3000, 'connect');
  return { relay, line };
}

void t.test('eight coils, all off by default, or as given', async (t) => {
  const { relay, line } = await setup(t);
  t.same(relay.coils(), [false, false, false, false, false, false, false, false]);
  t.same(await line.readCoils(1, 0, 8), { ok: true, value: relay.coils() });

  const other = await setup(t, { coils: 3, initial: [true, false, true] });
  t.same(await other.line.readCoils(1, 0, 3), { ok: true, value: [true, false, true] });
  const past = await other.line.readCoils(1, 0, 4);
  t.same(past, { ok: false, error: { kind: 'exception', message: 'Illegal data address', code: 2 } });
});

void t.test('function 5 and 15 writes, read back with function 1', async (t) => {
  const { relay, line } = await setup(t);
  const changes: Array<[number, boolean]> = [];
  const off = relay.onChange((coil, value) => changes.push([coil, value]));
  t.ok((await line.writeCoil(1, 3, true)).ok);
  t.ok((await line.writeCoil(1, 3, true)).ok, 'writing the same value again');
  t.ok((await line.writeCoils(1, 0, [true, true, false])).ok);
  t.same(relay.coils(), [true, true, false, true, false, false, false, false]);
  t.same(await line.readCoils(1, 0, 8), { ok: true, value: relay.coils() });
  t.same(changes, [[3, true], [0, true], [1, true]], 'only real changes are reported');
  off();
  t.ok((await line.writeCoil(1, 7, true)).ok);
  t.equal(changes.length, 3, 'unsubscribed');
});

void t.test('out-of-range writes answer exception 2 and change nothing', async (t) => {
  const { relay, line } = await setup(t);
  const single = await line.writeCoil(1, 8, true);
  t.same(single, { ok: false, error: { kind: 'exception', message: 'Illegal data address', code: 2 } });
  const multi = await line.writeCoils(1, 6, [true, true, true]);
  t.equal(!multi.ok && multi.error.code, 2);
  t.same(relay.coils(), [false, false, false, false, false, false, false, false]);
});

void t.test('a stuck relay reads back its stuck state until released', async (t) => {
  const { relay, line } = await setup(t);
  relay.stick(1, true);
  t.ok((await line.writeCoil(1, 1, false)).ok);
  t.same(await line.readCoils(1, 1, 1), { ok: true, value: [true] });
  relay.stick(1, null);
  t.same(await line.readCoils(1, 1, 1), { ok: true, value: [false] }, 'follows the last write again');
  t.throws(() => relay.stick(9, true), RangeError);
});

void t.test('only its own unit id is answered', async (t) => {
  const { line } = await setup(t, { unitId: 4 });
  t.ok((await line.readCoils(4, 0, 1)).ok);
  const other = await line.readCoils(1, 0, 1);
  t.equal(!other.ok && other.error.kind, 'timeout');
});

void t.test('registers are not part of a relay module', async (t) => {
  const { line } = await setup(t);
  const r = await line.readHoldingRegisters(1, 0, 1);
  t.equal(!r.ok && r.error.code, 1);
  const w = await line.writeRegister(1, 0, 1);
  t.equal(!w.ok && w.error.code, 1);
});
