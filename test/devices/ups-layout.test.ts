/**
 * A Modbus UPS with a register layout nobody here wrote (APC-style: sparse addresses,
 * other scales, no temperature, frequency or fault registers), served by the simulator
 * over real Modbus TCP: entries turned off, one entry past the device's range, a UPS that
 * stops answering and comes back (issue 11, items 2, 3 and 5).
 */
import t from 'tap';
import type { UpsDevice } from '../../devices/ups.js';
import { APC_STYLE_LAYOUT } from '../../simulators/ups-modbus.js';
import { captureLogs } from '../fixtures/logs.js';
import { advanceUntil, startPowerRig } from '../helpers/power-sims.js';

/** The hub's register map for APC_STYLE_LAYOUT: `scale` multiplies the raw value, registers are 0-based. */
const APC_OPTIONS = `registers: {
      runtime: { register: 128 },
      charge: { register: 130, scale: 0.001953125 },
      load: { register: 136, scale: 0.00390625 },
      outputVoltage: { register: 142, scale: 0.015625 },
      inputVoltage: { register: 151, scale: 0.015625 },
      batteryTemperature: null,
      inputFrequency: null },
    flags: {
      mainsPresent: { register: 0, bit: 1 },
      onBattery: { register: 0, bit: 2 },
      charging: { register: 0, bit: 4 },
      batteryLow: { register: 0, bit: 9 },
      replaceBattery: null, overload: null, bypass: null, fault: null }`.replace(/\s+/g, ' ');

void t.test('APC-style layout: entries turned off read as null, not 0 °C, 0 Hz or flags never sent', async (t) => {
  const r = await startPowerRig({ upsLayout: APC_STYLE_LAYOUT, upsOptions: APC_OPTIONS });
  t.teardown(() => r.stop());
  const ups = r.hub.devices.get('ups-1') as UpsDevice;
  await advanceUntil(r.clock, () => ups.status().comm === 'ok', 'first reading');
  t.match(ups.status().reading, {
    mainsPresent: true,
    onBattery: false,
    charge: 100,
    runtime: 4320,
    load: 33,
    inputVoltage: 220,
    outputVoltage: 220,
    batteryTemperature: null,
    inputFrequency: null,
    overload: null,
    bypass: null,
    fault: null,
    replaceBattery: null,
  });
  t.equal(r.hub.events.query({ type: 'alarm.raised', deviceId: 'ups-1' }).length, 0, 'gaps between its registers are no configuration error');
  r.ups.setMains(false);
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'on-battery', 'on-battery');
  await r.power.idle();
  t.same(r.loads.coils().slice(0, 4), [false, false, false, true], 'shed');
});

void t.test('one entry past the device range: the reading is used, a configuration error is raised once', async (t) => {
  const logs = captureLogs();
  const r = await startPowerRig({
    upsLayout: APC_STYLE_LAYOUT,
    upsOptions: APC_OPTIONS.replace('inputFrequency: null', 'inputFrequency: { register: 300, scale: 0.01 }'),
    log: logs.log,
  });
  t.teardown(() => r.stop());
  const ups = r.hub.devices.get('ups-1') as UpsDevice;
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'mains-ok', 'mains-ok despite the bad entry');
  t.match(ups.status().reading, { charge: 100, inputFrequency: null });

  r.ups.setMains(false);
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'on-battery', 'on-battery through the cut');
  await r.power.idle();
  t.match(logs.records().filter((l) => l.msg === 'power state').map((l) => [l.level, l.to]), [[30, 'mains-ok'], [40, 'on-battery']], 'mains loss logged at warn (issue 11, item 19)');
  t.same(r.loads.coils().slice(0, 4), [false, false, false, true], 'loads shed');
  const noisy = (): number => logs.records().filter((l) => (l.msg === 'modbus request failed' && l.level >= 50) || /recovered/.test(l.msg ?? '')).length;
  const atDiscovery = noisy();
  // Many polls later: still one alarm, and no error / "recovered" pair per poll.
  for (let i = 0; i < 50; i++) {
    r.clock.advance(100);
    await new Promise((res) => setTimeout(res, 2));
  }
  await advanceUntil(r.clock, () => ups.status().misses === 0, 'a good poll');
  const raised = r.hub.events.query({ type: 'alarm.raised', deviceId: 'ups-1' });
  t.equal(raised.length, 1, 'one alarm');
  t.match(raised[0]?.data, { id: 'ups-config:ups-1', message: /配置错误.*register 300 \(inputFrequency\).*exception 2/ });
  t.equal(ups.status().comm, 'ok', 'not "does not answer"');
  t.equal(noisy(), atDiscovery, 'no error / recovered lines after the discovery');
  t.equal(logs.records().filter((l) => l.msg?.includes('配置错误') === true).length, 1, 'the configuration error logged once');
});

void t.test('the register that tells mains from battery is missing: a configuration error, state unknown', async (t) => {
  const r = await startPowerRig({
    upsLayout: APC_STYLE_LAYOUT,
    upsOptions: APC_OPTIONS.replace('mainsPresent: { register: 0, bit: 1 }', 'mainsPresent: { register: 400, bit: 1 }').replace('onBattery: { register: 0, bit: 2 }', 'onBattery: null'),
  });
  t.teardown(() => r.stop());
  const ups = r.hub.devices.get('ups-1') as UpsDevice;
  await advanceUntil(r.clock, () => ups.status().comm === 'lost', 'no usable reading');
  t.equal(r.power.snapshot().state, 'unknown');
  await advanceUntil(r.clock, () => r.hub.events.query({ type: 'alarm.raised', deviceId: 'ups-1' }).length === 2, 'two alarms', 1);
  t.same(r.hub.events.query({ type: 'alarm.raised', deviceId: 'ups-1' }).map((e) => e.data.id).sort(), ['ups-comm-lost:ups-1', 'ups-config:ups-1']);
});

void t.test('a UPS that stops answering: unknown with an alarm, last seen = last answer, back within 5 s', async (t) => {
  const r = await startPowerRig({ upsLayout: APC_STYLE_LAYOUT, upsOptions: APC_OPTIONS, modbusTimeoutMs: 200 }); // it falls silent: short timeouts
  t.teardown(() => r.stop());
  const ups = r.hub.devices.get('ups-1') as UpsDevice;
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'mains-ok', 'mains-ok');
  r.ups.setFault({ unresponsive: true });
  await advanceUntil(r.clock, () => ups.status().comm === 'lost', 'lost');
  const lastAnswer = ups.status().readingAt;
  t.equal(r.hub.availability.get('ups-1')?.lastSeen, lastAnswer, 'last seen is the last answer');
  t.equal(r.power.snapshot().state, 'unknown', 'power state unknown, not mains-ok');
  t.equal(r.power.snapshot().mains, null);
  await advanceUntil(r.clock, () => r.hub.events.query({ type: 'alarm.raised' }).some((e) => e.data.id === 'power-unknown'), 'a power alarm', 1);
  t.pass('a power alarm');
  const token = await r.login();
  const res = await r.hub.api().inject({ method: 'GET', url: '/api/power', headers: { authorization: `Bearer ${token}` } });
  t.match(res.json(), { state: 'unknown', mains: null });

  // A long silence: the poll interval must not have grown past what recovers in 5 s.
  r.clock.advance(10 * 60_000);
  for (let i = 0; i < 20; i++) {
    r.clock.advance(1000);
    await new Promise((res) => setTimeout(res, 2));
  }
  t.equal(r.hub.availability.get('ups-1')?.lastSeen, lastAnswer, 'still the last answer after minutes of silence');
  r.ups.setFault({ unresponsive: false });
  const back = r.clock.now();
  // Small steps: hub time moves on while the simulator's answer travels in real time, and a
  // large step would count that travel as seconds of hub time.
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'mains-ok', 'mains-ok again', 50, 20_000);
  t.ok(r.clock.now() - back <= 5000, `back after ${r.clock.now() - back} ms of hub time`);
  await advanceUntil(r.clock, () => r.hub.events.query({ type: 'alarm.cleared' }).some((e) => e.data.id === 'power-unknown'), 'power alarm cleared', 1);
  t.pass('power alarm cleared');
});
