/** The jammer feature against the real relay simulator over Modbus TCP, the full hub and a manual clock. */
import t, { type Test } from 'tap';
import { startRelaySimulator } from '../../simulators/relay-modbus.js';
import { silentLogger } from '../../hub/log.js';
import { waitFor } from '../helpers/wait.js';
import { MIN, T0, createSession, startJammerRig, type JammerRig, type JammerRigOptions } from '../helpers/jammer-rig.js';

async function rig(t: Test, o: JammerRigOptions = {}): Promise<{ r: JammerRig; token: string }> {
  const r = await startJammerRig(o);
  t.teardown(() => r.stop());
  return { r, token: await r.login() };
}

const zone = (r: JammerRig, id: string) => r.jammers.snapshot().zones.find((z) => z.id === id)!;

void t.test('a zone is on exactly while a session holding its room runs', async (t) => {
  const { r, token } = await rig(t);
  t.same(r.zones(), [false, false, false], 'all off before any session');
  const s = await createSession(r, token, { code: 'P-1', start: T0 + 30 * MIN, end: T0 + 90 * MIN, rooms: ['room-1', 'room-3'] });
  await r.jammers.idle();
  t.same(r.zones(), [false, false, false], 'off during check-in');
  t.equal(zone(r, 'jammer-room-1').cause, 'no-session');
  r.clock.set(T0 + 30 * MIN - 1);
  await r.jammers.idle();
  t.same(r.zones(), [false, false, false], 'still off a millisecond before the start');
  await r.until(() => r.zones()[0] === true && r.zones()[2] === true, 'zones on at the start');
  t.equal(r.zones()[1], false, 'room-2 holds no session');
  t.match(zone(r, 'jammer-room-1'), { wanted: true, on: true, verified: true, cause: 'session', sessions: [{ id: s.id, code: 'P-1' }] });
  r.clock.set(T0 + 90 * MIN - 50);
  await r.jammers.idle();
  t.same(r.zones(), [true, false, true], 'on until the end');
  await r.until(() => r.zones().every((z) => !z), 'off at the end');
  t.equal(zone(r, 'jammer-room-3').cause, 'no-session');
  const records = r.hub.events.query({ type: 'jammer.zone' });
  for (const z of ['jammer-room-1', 'jammer-room-3']) {
    t.ok(records.some((e) => e.data.zone === z && e.data.on === true && e.data.cause === 'session' && e.data.verified === true), `${z}: on, verified, cause session`);
    t.ok(records.some((e) => e.data.zone === z && e.data.on === false && e.data.cause === 'no-session' && e.ts >= T0 + 90 * MIN), `${z}: off at the end, cause no-session`);
  }
  t.notOk(records.some((e) => e.data.zone === 'jammer-room-2' && e.data.on === true), 'room-2 never on');
  t.ok(records.filter((e) => e.data.on === true).every((e) => e.sessionIds.includes(s.id)), 'an on record is attached to its session');
});

void t.test('an early close switches the zone off; lead and lag move the window', async (t) => {
  const { r, token } = await rig(t, { jammers: '  leadMinutes: 10\n  lagMinutes: 5\n  zones: [{ output: jammer-room-2, leadMinutes: 0, lagMinutes: 0 }]' });
  const s = await createSession(r, token, { code: 'P-2', start: T0 + 30 * MIN, end: T0 + 90 * MIN, rooms: ['room-1', 'room-2'] });
  r.clock.set(T0 + 20 * MIN - 100);
  await r.jammers.idle();
  t.same(r.zones(), [false, false, false]);
  await r.until(() => r.zones()[0] === true, 'room-1 on 10 min before the start');
  t.equal(r.zones()[1], false, 'room-2 has no lead of its own');
  r.clock.set(T0 + 30 * MIN - 100);
  await r.jammers.idle();
  t.equal(r.zones()[1], false, 'room-2 off until the start');
  await r.until(() => r.zones()[1] === true, 'room-2 on at the start');
  r.clock.set(T0 + 40 * MIN);
  const closed = await r.call('POST', `/api/sessions/${s.id}/close`, token, { reason: 'done early' });
  t.equal(closed.statusCode, 200, closed.body);
  await r.until(() => r.zones()[1] === false, 'room-2 off at the close');
  t.equal(r.zones()[0], true, 'room-1 keeps its lag');
  r.clock.set(T0 + 45 * MIN - 100);
  await r.jammers.idle();
  t.equal(r.zones()[0], true);
  await r.until(() => r.zones()[0] === false, 'room-1 off 5 min after the close');
});

void t.test('the generic command API refuses jammer and sheddable outputs for every role, 409 naming the owner', async (t) => {
  const { r, token } = await rig(t);
  await r.hub.users.create('op1', 'operator', 'operator-password-1', 'Op');
  const op = (await r.hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'op1', password: 'operator-password-1' } })).json<{ token: string }>().token;
  for (const who of [token, op]) {
    const res = await r.call('POST', '/api/devices/relay-1/commands', who, { cmd: 'set', args: { output: 'jammer-room-1', on: true } });
    t.equal(res.statusCode, 409, res.body);
    t.match(res.json(), { code: 'HUB_ERR_CONFLICT', message: /relay-1 output jammer-room-1 is switched only by the jammers feature/, details: { owner: 'jammers' } });
  }
  const shed = await r.call('POST', '/api/devices/relay-2/commands', token, { cmd: 'set', args: { output: 'hall-display', on: false } });
  t.equal(shed.statusCode, 409);
  t.match(shed.json(), { details: { owner: 'power' } });
  t.same(r.zones(), [false, false, false], 'nothing switched');
  t.equal(r.hub.events.query({ type: 'command.refused' }).length, 3, 'each refusal logged with the user');
  t.match(r.hub.events.query({ type: 'command.refused' })[1], { actor: 'user:op1', data: { owner: 'jammers' } });
  const spare = await r.call('POST', '/api/devices/relay-1/commands', token, { cmd: 'set', args: { output: 'spare', on: true } });
  t.equal(spare.statusCode, 200, 'an output no feature owns still switches');
  t.equal(r.sim.coils()[3], true);
});

void t.test('fire: every zone off within a second (read on the coils), switching on blocked until released after the panel clears', async (t) => {
  const { r, token } = await rig(t);
  const fire = await r.device('fire-1');
  await createSession(r, token, { code: 'P-3', start: T0 + 10 * MIN, end: T0 + 120 * MIN, rooms: ['room-1', 'room-2', 'room-3'] });
  r.clock.set(T0 + 10 * MIN);
  await r.until(() => r.zones().every(Boolean), 'all on');
  await fire.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'alarm', ts: r.clock.now() }), { qos: 1 });
  // No clock advance: the interlock does not wait for a timer.
  await waitFor(() => r.zones().every((z) => !z), 1000, 'every zone off within 1 s');
  await r.jammers.idle();
  t.match(r.jammers.snapshot(), { interlock: { trippedBy: 'fire-1', panelsInAlarm: ['fire-1'] } });
  t.ok(r.jammers.snapshot().zones.every((z) => z.cause === 'fire-interlock' && z.verified), 'off, verified, with the interlock as cause');

  const on = await r.call('POST', '/api/jammers/jammer-room-1/override', token, { mode: 'on', reason: 'test', minutes: 10 });
  t.equal(on.statusCode, 409, 'no force-on during the interlock');
  const early = await r.call('POST', '/api/jammers/interlock/release', token, { reason: 'checked' });
  t.equal(early.statusCode, 409, 'no release while the panel is in alarm');
  t.match(early.json(), { message: /fire-1 still in alarm/ });

  await fire.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'clear' }), { qos: 1 });
  await waitFor(() => r.jammers.snapshot().interlock?.panelsInAlarm.length === 0, 2000, 'panel cleared');
  r.clock.advance(10 * MIN);
  await r.jammers.idle();
  t.same(r.zones(), [false, false, false], 'a cleared panel alone does not switch anything on');
  const missing = await r.call('POST', '/api/jammers/interlock/release', token, {});
  t.equal(missing.statusCode, 400, 'a reason is required');
  const released = await r.call('POST', '/api/jammers/interlock/release', token, { reason: 'fire brigade confirmed a false alarm' });
  t.equal(released.statusCode, 200, released.body);
  await r.until(() => r.zones().every(Boolean), 'back on for the running session');
  t.match(r.hub.events.query({ type: 'jammer.interlock' }).map((e) => [e.data.action, e.actor]), [
    ['engaged', 'device:fire-1'],
    ['panel-cleared', 'device:fire-1'],
    ['released', 'user:admin'],
  ]);
});

void t.test('admin overrides: force off inside a session and force on outside, each until its expiry, logged with the user', async (t) => {
  const { r, token } = await rig(t);
  await createSession(r, token, { code: 'P-4', start: T0 + 10 * MIN, end: T0 + 60 * MIN, rooms: ['room-1'] });
  r.clock.set(T0 + 10 * MIN);
  await r.until(() => r.zones()[0] === true, 'on');
  const bad = await r.call('POST', '/api/jammers/jammer-room-1/override', token, { mode: 'off', reason: 'no expiry' });
  t.equal(bad.statusCode, 400, 'an expiry is required');
  const noReason = await r.call('POST', '/api/jammers/jammer-room-1/override', token, { mode: 'off', minutes: 5 });
  t.equal(noReason.statusCode, 400, 'a reason is required');
  const tooLong = await r.call('POST', '/api/jammers/jammer-room-1/override', token, { mode: 'off', reason: 'long', minutes: 3000 });
  t.equal(tooLong.statusCode, 400, 'longer than overrideMaxMinutes');
  const unknown = await r.call('POST', '/api/jammers/jammer-room-9/override', token, { mode: 'off', reason: 'x1', minutes: 5 });
  t.equal(unknown.statusCode, 404);
  t.same(r.zones(), [true, false, false], 'refused overrides change nothing');

  const off = await r.call('POST', '/api/jammers/jammer-room-1/override', token, { mode: 'off', reason: 'radio survey by the regulator', minutes: 5 });
  t.equal(off.statusCode, 200, off.body);
  t.match(off.json(), { cause: 'override-off', on: false, override: { mode: 'off', by: 'admin', reason: 'radio survey by the regulator' } });
  t.equal(r.zones()[0], false, 'off at once');
  r.clock.set(T0 + 15 * MIN - 500);
  await r.jammers.idle();
  t.equal(r.zones()[0], false, 'off until the expiry');
  await r.until(() => r.zones()[0] === true, 'on again once the override expires');
  t.ok(r.clock.now() >= T0 + 15 * MIN, 'not before the expiry');
  t.equal(zone(r, 'jammer-room-1').cause, 'session');

  const onOutside = await r.call('POST', '/api/jammers/jammer-room-2/override', token, { mode: 'on', reason: 'coverage test', minutes: 3 });
  t.equal(onOutside.statusCode, 200);
  t.equal(r.zones()[1], true, 'forced on outside any session');
  const cancelled = await r.call('DELETE', '/api/jammers/jammer-room-2/override', token, { reason: 'test finished' });
  t.equal(cancelled.statusCode, 200, cancelled.body);
  t.equal(r.zones()[1], false, 'off once cancelled');
  const again = await r.call('DELETE', '/api/jammers/jammer-room-2/override', token, { reason: 'again' });
  t.equal(again.statusCode, 409);
  t.match(r.hub.events.query({ type: 'jammer.override' }).map((e) => [e.data.zone, e.data.action, e.actor]), [
    ['jammer-room-1', 'set', 'user:admin'],
    ['jammer-room-1', 'expired', 'automation:jammers'],
    ['jammer-room-2', 'set', 'user:admin'],
    ['jammer-room-2', 'cancelled', 'user:admin'],
  ]);
  await r.hub.users.create('v1', 'operator', 'viewer-password-1', 'V');
  const opToken = (await r.hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'v1', password: 'viewer-password-1' } })).json<{ token: string }>().token;
  t.equal((await r.call('POST', '/api/jammers/jammer-room-1/override', opToken, { mode: 'off', reason: 'x1', minutes: 5 })).statusCode, 403, 'admins only');
});

void t.test('the maximum continuous on-time switches a zone off with an alarm', async (t) => {
  const { r, token } = await rig(t, { jammers: '  maxOnMinutes: 30' });
  const alarms: string[] = [];
  r.hub.bus.on('test', 'alarm.raised', (a) => void alarms.push(a.id));
  await createSession(r, token, { code: 'P-5', start: T0 + 10 * MIN, end: T0 + 120 * MIN, rooms: ['room-3'] });
  r.clock.set(T0 + 10 * MIN);
  await r.until(() => r.zones()[2] === true, 'on');
  r.clock.set(T0 + 40 * MIN - 100);
  await r.jammers.idle();
  t.equal(r.zones()[2], true, 'on until the limit');
  await r.until(() => r.zones()[2] === false, 'off at the limit');
  t.equal(zone(r, 'jammer-room-3').cause, 'max-on-time');
  t.ok(alarms.includes('jammer-max-on:jammer-room-3'), 'alarm raised');
  t.ok(r.hub.alarms.list().some((a) => a.id === 'jammer-max-on:jammer-room-3'), 'listed');
  // An admin's force-on starts a fresh count.
  const on = await r.call('POST', '/api/jammers/jammer-room-3/override', token, { mode: 'on', reason: 'evaluation overruns', minutes: 20 });
  t.equal(on.statusCode, 200, on.body);
  t.equal(r.zones()[2], true);
  t.notOk(r.hub.alarms.list().some((a) => a.id === 'jammer-max-on:jammer-room-3'), 'alarm cleared by the override');
});

void t.test('re-applied after a hub restart and after the module comes back empty', async (t) => {
  const first = await startJammerRig();
  let r = first;
  t.teardown(() => r.stop());
  const token = await r.login();
  await createSession(r, token, { code: 'P-6', start: T0 + 10 * MIN, end: T0 + 120 * MIN, rooms: ['room-2'] });
  await r.call('POST', '/api/jammers/jammer-room-3/override', token, { mode: 'on', reason: 'survives a restart', minutes: 60 });
  r.clock.set(T0 + 10 * MIN);
  await r.until(() => r.zones()[1] === true, 'on');
  await r.stopHub();
  // While the hub is down, a coil changes (a technician, a module power cycle).
  r.sim.stick(1, false);
  r.sim.stick(0, true);
  r.sim.stick(1, null);
  r.sim.stick(0, null);
  r = await first.restart();
  await r.jammers.idle();
  t.same(r.zones(), [false, true, true], 'the restarted hub writes what the rule and the saved override want');
  t.match(zone(r, 'jammer-room-3'), { cause: 'override-on', override: { reason: 'survives a restart' } });

  // The module loses power: it comes back with every coil off, on the same port.
  const port = r.sim.port;
  await r.sim.stop();
  await r.until(() => !r.hub.availability.isAvailable('relay-1'), 'module unavailable');
  const fresh = await startRelaySimulator({ port, log: silentLogger(), coils: 4 });
  // The rig stops its own (already stopped) simulator; the new one is this test's.
  t.teardown(() => fresh.stop());
  await r.until(() => r.hub.availability.isAvailable('relay-1'), 'module back');
  await r.until(() => fresh.coils()[1] === true && fresh.coils()[2] === true, 'coils re-applied on reconnect');
});

void t.test('regulator report: on-time per zone per session and per day, every change with its cause, JSON and CSV', async (t) => {
  const { r, token } = await rig(t);
  const s = await createSession(r, token, { code: 'P-7', start: T0 + 10 * MIN, end: T0 + 70 * MIN, rooms: ['room-1'] });
  r.clock.set(T0 + 10 * MIN);
  await r.until(() => r.zones()[0] === true, 'on');
  r.clock.set(T0 + 40 * MIN);
  await r.call('POST', '/api/jammers/jammer-room-1/override', token, { mode: 'off', reason: 'inspection', minutes: 10 });
  r.clock.set(T0 + 50 * MIN);
  await r.until(() => r.zones()[0] === true, 'on after the override');
  r.clock.set(T0 + 70 * MIN);
  await r.until(() => r.zones()[0] === false, 'off at the end');
  r.clock.advance(MIN);
  await r.jammers.idle();
  const from = new Date(T0).toISOString();
  const to = new Date(T0 + 3 * 60 * MIN).toISOString();
  const res = await r.call('GET', `/api/jammers/report?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, token);
  t.equal(res.statusCode, 200, res.body);
  const report = res.json();
  const row = report.onTime.find((x: { zone: string }) => x.zone === 'jammer-room-1');
  t.match(row, { sessionId: s.id, sessionCode: 'P-7', day: '2026-11-28', room: 'room-1' });
  // 30 + 20 minutes on; the writes take a few ms of real time, not of the manual clock.
  t.equal(row.onMinutes, 50);
  t.ok(report.changes.some((c: { cause: string; type: string }) => c.type === 'jammer.override' && c.cause === 'override-off'), 'the override is a change with its cause');
  t.ok(report.changes.some((c: { cause: string; on: boolean }) => c.cause === 'override-off' && c.on === false));
  const csv = await r.call('GET', `/api/jammers/report?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&format=csv`, token);
  t.equal(csv.statusCode, 200);
  t.match(String(csv.headers['content-type']), /text\/csv/);
  t.match(csv.body, /on-time,jammer-room-1,room-1,s-[0-9a-f]+,P-7,2026-11-28,50\.00/);
  t.match(csv.body, /change,.*jammer.override,jammer-room-1,.*override-off,user:admin/);
  const bad = await r.call('GET', `/api/jammers/report?from=${encodeURIComponent(to)}&to=${encodeURIComponent(from)}`, token);
  t.equal(bad.statusCode, 400);
});
