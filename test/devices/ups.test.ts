/**
 * The UPS device through each source: Modbus against the real simulator (register map
 * overrides, impossible values, exception responses, comm loss and recovery), NUT against
 * a NUT-protocol server, and a GPIO dry contact with the fake input.
 */
import t from 'tap';
import { ManualClock } from '../../kernel/clock.js';
import { FakeDigitalInput } from '../../drivers/gpio.js';
import type { UpsDevice } from '../../devices/ups.js';
import { decodeRegisters, imageKey, readPlan, upsMapFrom, DEFAULT_UPS_MAP } from '../../devices/ups-map.js';
import { readingFromNut } from '../../devices/ups-sources.js';
import type { HubEvents } from '../../hub/events.js';
import { startNutServer } from '../helpers/nut-server.js';
import { advanceUntil, startPowerHub, startPowerRig } from '../helpers/power-sims.js';

void t.test('register map: defaults, overrides, signed values, impossible values refused', async (t) => {
  const image = new Map([0b100001, 87, 1200, 2201, 2199, 33, 0xffec, 5000].map((v, i) => [imageKey(3, i), v]));
  const d = decodeRegisters(DEFAULT_UPS_MAP, image);
  t.match(d, { ok: true, reading: { mainsPresent: true, onBattery: false, charging: true, charge: 87, runtime: 1200, inputVoltage: 220.1, batteryTemperature: -2, inputFrequency: 50 } });
  const map = upsMapFrom({ registers: { charge: { register: 10, function: 4, scale: 0.5 } }, flags: { mainsPresent: { register: 11, function: 4, bit: 3, invert: true } } });
  t.same(readPlan(map), [{ function: 3, start: 0, count: 8 }, { function: 4, start: 10, count: 2 }], 'two reads cover the map');
  image.set(imageKey(4, 10), 120);
  image.set(imageKey(4, 11), 0b0000);
  t.match(decodeRegisters(map, image), { ok: true, reading: { charge: 60, mainsPresent: true } }, 'override applied, inverted bit');
  image.set(imageKey(3, 1), 250);
  t.match(decodeRegisters(DEFAULT_UPS_MAP, image), { ok: false, reason: /impossible charge 250 %/ });
  image.set(imageKey(3, 1), 50);
  image.set(imageKey(3, 0), 0b11);
  t.match(decodeRegisters(DEFAULT_UPS_MAP, image), { ok: false, reason: /contradictory/ });
});

void t.test('Modbus UPS: polls, refuses charge 250 %, survives exceptions, goes lost after N misses and comes back', async (t) => {
  const r = await startPowerRig({ upsOptions: 'registers: { load: { register: 5, scale: 2 } }' });
  t.teardown(() => r.stop());
  const ups = r.hub.devices.get('ups-1') as UpsDevice;
  const statuses: HubEvents['ups.status'][] = [];
  r.hub.bus.on('test', 'ups.status', (s) => void statuses.push(s));
  await advanceUntil(r.clock, () => ups.status().comm === 'ok', 'first reading');
  t.match(ups.status().reading, { mainsPresent: true, charge: 100, load: 66, inputVoltage: 220 }, 'load register overridden (scale 2)');
  t.equal(r.hub.availability.isAvailable('ups-1'), true);
  t.match(r.hub.availability.get('ups-1')?.state, { comm: 'ok', charge: 100 });

  r.ups.setFault({ overrideCharge: 250 });
  await advanceUntil(r.clock, () => ups.status().lastError !== null, 'refused reading');
  t.match(ups.status(), { comm: 'ok', lastError: /impossible charge 250/, reading: { charge: 100 } }, 'last valid reading kept');
  t.equal(r.hub.events.query({ type: 'alarm.raised', deviceId: 'ups-1' }).filter((e) => e.data.id === 'ups-invalid-data:ups-1').length, 1);
  await advanceUntil(r.clock, () => ups.status().comm === 'lost', 'lost after misses');
  t.equal(r.hub.availability.isAvailable('ups-1'), false, 'impossible values count as misses');
  r.ups.setFault({ overrideCharge: null, exception: 4 });
  r.clock.advance(60_000);
  await advanceUntil(r.clock, () => ups.status().lastError?.includes('exception 4') === true, 'exception seen', 1000);
  t.equal(ups.status().comm, 'lost');
  r.ups.setFault({ exception: null });
  await advanceUntil(r.clock, () => ups.status().comm === 'ok', 'recovered', 1000);
  t.equal(r.hub.availability.isAvailable('ups-1'), true);
  t.equal(r.hub.events.query({ type: 'device.unavailable', deviceId: 'ups-1' }).length, 1, 'unavailable logged once');
  t.ok(r.hub.events.query({ type: 'alarm.cleared', deviceId: 'ups-1' }).length >= 1, 'alarms cleared on recovery');
  t.ok(statuses.length > 3);

  const outcome = await ups.execute({ cmd: 'refresh', args: {}, issuer: 'user:admin' });
  t.match(outcome, { ok: true, outcome: 'acked', result: { comm: 'ok' } });
  t.match(await ups.execute({ cmd: 'explode', args: {}, issuer: 'user:admin' }), { ok: false, error: /unknown command/ });
});

void t.test('NUT source: LIST VAR, status tokens, lost on battery, bad numbers', async (t) => {
  t.match(readingFromNut({ 'ups.status': 'OB LB', 'battery.charge': '12', 'battery.runtime': '240' }), { ok: true, reading: { onBattery: true, mainsPresent: false, batteryLow: true, charge: 12, runtime: 240 } });
  t.match(readingFromNut({ 'ups.status': 'OB FSD' }), { ok: true, reading: { forcedShutdown: true } });
  t.match(readingFromNut({ 'ups.status': 'OL', 'battery.charge': 'lots' }), { ok: false, reason: /not a number/ });
  t.match(readingFromNut({ 'ups.status': 'OL', 'battery.charge': '250' }), { ok: false, reason: /impossible charge/ });
  t.match(readingFromNut({ 'ups.status': 'OFF' }), { ok: false, reason: /neither OL nor OB/ });

  const nut = await startNutServer({ ups: 'rack', vars: { 'ups.status': 'OL CHRG', 'battery.charge': '100', 'battery.runtime': '3000' } });
  t.teardown(() => nut.stop());
  const clock = new ManualClock();
  const h = await startPowerHub(
    `
version: 1
site: { id: demo }
devices:
  - { id: ups-n, kind: ups, transport: { type: nut, host: 127.0.0.1, port: ${nut.port}, ups: rack }, options: { pollMs: 100, missesBeforeLost: 2 } }
`,
    clock,
  );
  t.teardown(() => h.stop());
  const ups = h.hub.devices.get('ups-n') as UpsDevice;
  await advanceUntil(clock, () => ups.status().comm === 'ok', 'NUT reading');
  t.match(ups.status(), { source: 'nut', reading: { mainsPresent: true, charging: true, runtime: 3000 } });
  await advanceUntil(clock, () => h.power.snapshot().state === 'mains-ok', 'mains-ok');
  nut.setVar('ups.status', 'OB DISCHRG');
  await advanceUntil(clock, () => h.power.snapshot().state === 'on-battery', 'on-battery via NUT');
  nut.setUnresponsive(true);
  await advanceUntil(clock, () => h.power.snapshot().state === 'low-battery', 'silent on battery = low battery', 100, 15000);
  t.match(ups.status(), { comm: 'lost', lostOnBattery: true });
  t.ok(nut.commands().some((c) => c.startsWith('LIST VAR rack')));
});

void t.test('GPIO dry contact: an edge is seen once it held for debounceMs, without waiting for a poll', async (t) => {
  const clock = new ManualClock();
  const input = new FakeDigitalInput({ initial: 0 });
  const h = await startPowerHub(
    `
version: 1
site: { id: demo }
devices:
  - { id: ups-g, kind: ups, transport: { type: gpio, line: 17 }, options: { pollMs: 60000 } }
`,
    clock,
    { gpioInput: () => input },
  );
  t.teardown(() => h.stop());
  const ups = h.hub.devices.get('ups-g') as UpsDevice;
  await advanceUntil(clock, () => ups.status().comm === 'ok', 'first read', 1);
  t.equal(h.power.snapshot().state, 'mains-ok');
  input.set(1);
  t.equal(h.power.snapshot().state, 'mains-ok', 'not before the level held for debounceMs (20 ms)');
  clock.advance(20);
  await advanceUntil(clock, () => h.power.snapshot().state === 'on-battery', 'on the edge, after the debounce, without a poll', 0);
  t.match(ups.status().reading, { onBattery: true, charge: null });
  input.set(0);
  clock.advance(20);
  await advanceUntil(clock, () => h.power.snapshot().pending?.kind === 'mains-stable', 'mains back after the debounce', 0);
  input.setFailure({ kind: 'disconnected', message: 'gone' });
  clock.advance(60_000);
  await advanceUntil(clock, () => ups.status().misses > 0, 'a failed read', 1);
  t.match(ups.status().lastError, /GPIO disconnected: gone/);
  await h.power.idle();
});

void t.test('GPIO not accessible: the UPS is unavailable, the hub runs on', async (t) => {
  const clock = new ManualClock();
  const h = await startPowerHub(
    `
version: 1
site: { id: demo }
devices:
  - { id: ups-g, kind: ups, transport: { type: gpio, line: 1000 }, options: { pollMs: 100, missesBeforeLost: 1 } }
`,
    clock,
  );
  t.teardown(() => h.stop());
  const ups = h.hub.devices.get('ups-g') as UpsDevice;
  await advanceUntil(clock, () => ups.status().comm === 'lost', 'lost');
  t.match(h.hub.availability.get('ups-g')?.reason, /GPIO/);
  t.equal(h.power.snapshot().state, 'unknown');
});
