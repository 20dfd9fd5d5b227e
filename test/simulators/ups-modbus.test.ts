import t from 'tap';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import { ModbusLine } from '../../drivers/modbus.js';
import { startUpsSimulator, UPS_STATUS_BITS, type UpsSimulatorOptions } from '../../simulators/ups-modbus.js';
import { waitFor } from '../helpers/wait.js';

const MINUTE = 60_000;
const MAINS = 1 << UPS_STATUS_BITS.mains;
const ON_BATTERY = 1 << UPS_STATUS_BITS.onBattery;
const LOW = 1 << UPS_STATUS_BITS.batteryLow;
const CHARGING = 1 << UPS_STATUS_BITS.charging;

interface Teardown {
  teardown(fn: () => Promise<void>): void;
}

/** A simulator on an ephemeral port with a real Modbus client; the sim's clock is manual. */
async function setup(t: Teardown, extra: Partial<UpsSimulatorOptions> = {}) {
  const clock = new ManualClock();
  const ups = await startUpsSimulator({ port: 0, clock, log: silentLogger(), capacityWh: 720, loadW: 600, ...extra });
  const line = new ModbusLine({
    config: { type: 'modbus-tcp', host: '127.0.0.1', port: ups.port, timeoutMs: 200 },
    clock: new ManualClock(),
    log: silentLogger(),
  });
  t.teardown(async () => {
    await line.stop();
    await ups.stop();
  });
  line.start();
  await waitFor(() => line.isConnected(), 3000, 'connect');
  const regs = async (): Promise<number[]> => {
    const r = await line.readHoldingRegisters(1, 0, 8);
    if (!r.ok) throw new Error(`read failed: ${r.error.message}`);
    return r.value;
  };
  /** Advances simulated time tick by tick, the way the hub would see it. */
  const minutes = (n: number): void => clock.advance(n * MINUTE);
  return { clock, ups, line, regs, minutes };
}

void t.test('starts full on mains', async (t) => {
  const { regs } = await setup(t);
  t.same(await regs(), [MAINS, 100, 4320, 2200, 2200, 33, 250, 5000]);
});

void t.test('mains cut through coil 0 shows on the very next poll', async (t) => {
  const { line, regs, ups } = await setup(t);
  t.ok((await line.writeCoil(1, 0, false)).ok);
  const r = await regs();
  t.equal(r[0], ON_BATTERY, 'on battery, mains bit clear, not charging');
  t.equal(r[3], 0, 'no input voltage');
  t.equal(r[4], 2200, 'output kept up by the battery');
  t.equal(r[7], 0, 'no input frequency');
  t.equal(ups.state().onBattery, true);
});

void t.test('the battery drains on battery, goes low, runs empty, and recharges on mains', async (t) => {
  const { line, regs, minutes } = await setup(t);
  t.ok((await line.writeCoil(1, 0, false)).ok);

  minutes(36); // 600 W out of 720 Wh for 0.6 h
  let r = await regs();
  t.equal(r[1], 50, 'half charge');
  t.equal(r[2], 2160, 'runtime follows charge and load');
  t.equal(r[0], ON_BATTERY);

  minutes(21); // 150 Wh left: 21 %, 15 min
  r = await regs();
  t.equal(r[0]! & LOW, 0, 'not low yet at 21 %');
  minutes(1); // 140 Wh: 19 %
  r = await regs();
  t.equal(r[0], ON_BATTERY | LOW, 'battery low below 20 %');

  minutes(30);
  r = await regs();
  t.same([r[1], r[2], r[4], r[5]], [0, 0, 0, 0], 'empty: no charge, no runtime, output off, no load');

  t.ok((await line.writeCoil(1, 0, true)).ok);
  r = await regs();
  t.equal(r[0], MAINS | LOW | CHARGING, 'mains back, charging, still low');
  t.equal(r[4], 2200);

  minutes(90); // recharges in 3 h: half way
  r = await regs();
  t.equal(r[1], 50);
  t.equal(r[0], MAINS | CHARGING);

  minutes(120);
  r = await regs();
  t.equal(r[1], 100);
  t.equal(r[0], MAINS, 'full: charging bit clear');
});

void t.test('setMains drives the same supply as coil 0', async (t) => {
  const { line, regs, ups } = await setup(t);
  ups.setMains(false);
  t.same(await line.readCoils(1, 0, 1), { ok: true, value: [false] });
  t.equal((await regs())[0], ON_BATTERY);
  ups.setMains(true);
  t.same(await line.readCoils(1, 0, 1), { ok: true, value: [true] });
});

void t.test('low runtime alone sets battery low', async (t) => {
  // 100 Wh at 1500 W: 4 min of runtime with a full battery
  const { regs, ups } = await setup(t, { capacityWh: 100, loadW: 1500 });
  ups.setMains(false);
  const r = await regs();
  t.equal(r[1], 100);
  t.equal(r[2], 240);
  t.equal(r[0]! & LOW, LOW);
  t.equal(r[5], 83);
});

void t.test('overload bit above 100 % load', async (t) => {
  const { regs } = await setup(t, { loadW: 2000 });
  const r = await regs();
  t.equal(r[0]! & (1 << UPS_STATUS_BITS.overload), 1 << UPS_STATUS_BITS.overload);
});

void t.test('negative temperature is two\'s complement', async (t) => {
  const { regs } = await setup(t, { temperatureC: -5.5 });
  const raw = (await regs())[6]!;
  t.equal(raw, 0xffc9);
  t.equal(raw > 0x7fff ? raw - 0x10000 : raw, -55);
});

void t.test('input registers mirror the holding registers', async (t) => {
  const { line, regs, minutes, ups } = await setup(t);
  ups.setMains(false);
  minutes(10);
  t.same(await line.readInputRegisters(1, 0, 8), { ok: true, value: await regs() });
  t.same(await line.readInputRegisters(1, 2, 1), { ok: true, value: [ups.state().runtimeS] });
});

void t.test('faults: exception, impossible charge, unresponsive', async (t) => {
  const { line, regs, ups } = await setup(t);
  ups.setFault({ exception: 6 });
  const busy = await line.readHoldingRegisters(1, 0, 8);
  t.same(busy, { ok: false, error: { kind: 'exception', message: 'Server device busy', code: 6 } });
  const busyInput = await line.readInputRegisters(1, 0, 8);
  t.equal(!busyInput.ok && busyInput.error.code, 6);
  ups.setFault({ exception: null, overrideCharge: 250 });
  t.equal((await regs())[1], 250);
  ups.setFault({ overrideCharge: null, unresponsive: true });
  const silent = await line.readHoldingRegisters(1, 0, 8);
  t.equal(!silent.ok && silent.error.kind, 'timeout');
  const silentWrite = await line.writeCoil(1, 0, false);
  t.equal(!silentWrite.ok && silentWrite.error.kind, 'timeout');
  t.equal(ups.state().mains, true, 'an unresponsive UPS ignores writes');
  ups.setFault({ unresponsive: false });
  t.equal((await regs())[1], 100);
});

void t.test('addresses outside the map are refused', async (t) => {
  const { line } = await setup(t);
  const past = await line.readHoldingRegisters(1, 7, 2);
  t.equal(!past.ok && past.error.code, 2);
  const coil = await line.writeCoil(1, 1, true);
  t.equal(!coil.ok && coil.error.code, 2);
  const reg = await line.writeRegister(1, 0, 1);
  t.equal(!reg.ok && reg.error.code, 2, 'registers are read-only');
});

void t.test('stop() cancels the tick and closes the port', async (t) => {
  const clock = new ManualClock();
  const ups = await startUpsSimulator({ port: 0, clock, log: silentLogger() });
  t.equal(clock.pendingTimers(), 1);
  await ups.stop();
  t.equal(clock.pendingTimers(), 0);
  const line = new ModbusLine({
    config: { type: 'modbus-tcp', host: '127.0.0.1', port: ups.port, timeoutMs: 200 },
    clock,
    log: silentLogger(),
  });
  line.start();
  await waitFor(() => clock.pendingTimers() === 1, 3000, 'a connection attempt');
  t.equal(line.isConnected(), false, 'nothing listens any more');
  await line.stop();
});
