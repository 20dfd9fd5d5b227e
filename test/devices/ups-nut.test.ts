/**
 * A UPS behind Debian's real upsd with dummy-ups (issue 11, items 1 and 6): the hub logs in,
 * a refused login is a clear configuration alarm, and the first poll does not run ahead of
 * the connection ("poll missed" before anything could answer).
 */
import t from 'tap';
import { ManualClock } from '../../kernel/clock.js';
import type { UpsDevice } from '../../devices/ups.js';
import { captureLogs } from '../fixtures/logs.js';
import { startRealUpsd, startNutServer } from '../helpers/nut-server.js';
import { advanceUntil, startPowerHub } from '../helpers/power-sims.js';

const facilityFor = (port: number, password: string): string => `
version: 1
site: { id: demo }
devices:
  - { id: ups-n, kind: ups, transport: { type: nut, host: 127.0.0.1, port: ${port}, ups: rack, username: monitor, passwordEnv: FH_TEST_NUT_PW }, options: { pollMs: 100, missesBeforeLost: 2 } }
`.replace('FH_TEST_NUT_PW', password);

void t.test('real upsd: logged in, counted as a client, reading used', async (t) => {
  const upsd = await startRealUpsd({ ups: 'rack', vars: { 'ups.status': 'OL', 'battery.charge': '97', 'battery.runtime': '1800' }, users: [{ name: 'monitor', password: 'good-pw', upsmon: 'secondary' }] });
  t.teardown(() => upsd.stop());
  process.env.FH_TEST_NUT_PW_OK = 'good-pw';
  t.teardown(() => void delete process.env.FH_TEST_NUT_PW_OK);
  const clock = new ManualClock();
  const h = await startPowerHub(facilityFor(upsd.port, 'FH_TEST_NUT_PW_OK'), clock);
  t.teardown(() => h.stop());
  const ups = h.hub.devices.get('ups-n') as UpsDevice;
  await advanceUntil(clock, () => ups.status().comm === 'ok', 'NUT reading', 100, 10_000);
  t.match(ups.status().reading, { mainsPresent: true, charge: 97, runtime: 1800 });
  t.ok((await upsd.ask(['LIST CLIENT rack'])).includes('CLIENT rack 127.0.0.1'), 'upsd counts the hub');
});

void t.test('real upsd: a wrong password is a configuration alarm, raised once', async (t) => {
  const upsd = await startRealUpsd({ ups: 'rack', users: [{ name: 'monitor', password: 'good-pw', upsmon: 'secondary' }] });
  t.teardown(() => upsd.stop());
  process.env.FH_TEST_NUT_PW_BAD = 'wrong-pw';
  t.teardown(() => void delete process.env.FH_TEST_NUT_PW_BAD);
  const logs = captureLogs();
  const clock = new ManualClock();
  const h = await startPowerHub(facilityFor(upsd.port, 'FH_TEST_NUT_PW_BAD'), clock, { log: logs.log });
  t.teardown(() => h.stop());
  const ups = h.hub.devices.get('ups-n') as UpsDevice;
  await advanceUntil(clock, () => ups.status().comm === 'lost', 'lost', 100, 10_000);
  await advanceUntil(clock, () => h.hub.events.query({ type: 'alarm.raised', deviceId: 'ups-n' }).some((e) => e.data.id === 'ups-config:ups-n'), 'config alarm', 100, 10_000);
  for (let i = 0; i < 20; i++) {
    clock.advance(500);
    await new Promise((r) => setTimeout(r, 5));
  }
  const config = h.hub.events.query({ type: 'alarm.raised', deviceId: 'ups-n' }).filter((e) => e.data.id === 'ups-config:ups-n');
  t.equal(config.length, 1, 'raised once');
  t.match(config[0]?.data.message, /配置错误.*upsd refused LOGIN for user "monitor" on UPS "rack": ACCESS-DENIED/);
  t.equal(h.power.snapshot().state, 'unknown');
  t.notOk(logs.text().includes('wrong-pw'), 'the password is never logged');
});

void t.test('the first NUT poll waits for the connection: no spurious "poll missed"', async (t) => {
  const nut = await startNutServer({ ups: 'rack', vars: { 'ups.status': 'OL' }, auth: { username: 'monitor', password: 'pw' } });
  t.teardown(() => nut.stop());
  process.env.FH_TEST_NUT_PW_6 = 'pw';
  t.teardown(() => void delete process.env.FH_TEST_NUT_PW_6);
  const logs = captureLogs();
  const clock = new ManualClock();
  const h = await startPowerHub(facilityFor(nut.port, 'FH_TEST_NUT_PW_6'), clock, { log: logs.log });
  t.teardown(() => h.stop());
  const ups = h.hub.devices.get('ups-n') as UpsDevice;
  // Fire the first poll at once, while the TCP connect and the login are still under way.
  clock.advance(0);
  await advanceUntil(clock, () => ups.status().comm === 'ok', 'first reading', 100, 10_000);
  t.same(logs.records().filter((l) => l.msg === 'UPS poll missed'), [], 'no poll missed');
  t.equal(ups.status().misses, 0);
});
