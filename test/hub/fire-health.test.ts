/** Fire alarm reactions and device health over real transports (MQTT devices, the relay simulator over Modbus TCP). */
import t from 'tap';
import { checkCharFor } from '../../kernel/id-number.js';
import { startRelaySimulator } from '../../simulators/relay-modbus.js';
import { silentLogger } from '../../hub/log.js';
import { waitFor } from '../helpers/wait.js';
import { nextMessage } from '../helpers/hub.js';
import { MIN, T0, createSession, startJammerRig } from '../helpers/jammer-rig.js';

const ID17 = '11010519491231002';
const ID_NUMBER = `${ID17}${checkCharFor(ID17)}`;

void t.test('fire: a critical alarm attached to the running session, gates refuse entry (emergency), the door is unlocked, jammers off; cleared with the panel', async (t) => {
  const r = await startJammerRig();
  t.teardown(() => r.stop());
  const token = await r.login();
  const s = await createSession(r, token, { code: 'F-1', start: T0 + 10 * MIN, end: T0 + 120 * MIN, rooms: ['room-1'] });
  r.clock.set(T0 + 10 * MIN);
  await r.until(() => r.zones()[0] === true, 'jammer on');
  const fire = await r.device('fire-1');
  const door = await r.device('door-1');
  const gate = await r.device('gate-1');
  await waitFor(() => r.hub.availability.isAvailable('door-1') && r.hub.availability.isAvailable('gate-1'), 3000, 'devices online');
  // The door controller acknowledges what it is told.
  const doorCmds: { cmd: string }[] = [];
  await door.subscribeAsync('fh/demo/door-1/cmd', { qos: 1 });
  door.on('message', (topic, payload) => {
    if (topic !== 'fh/demo/door-1/cmd') return;
    const m = JSON.parse(payload.toString()) as { id: string; cmd: string };
    doorCmds.push(m);
    // A device answering while the test may be ending: its PUBACK may never come.
    void door.publishAsync('fh/demo/door-1/cmd/ack', JSON.stringify({ id: m.id, ok: true }), { qos: 1 }).catch(() => undefined);
  });

  await fire.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'alarm' }), { qos: 1 });
  await waitFor(() => r.hub.alarms.list().some((a) => a.id === 'fire:fire-1'), 2000, 'fire alarm listed');
  const listed = await r.call('GET', '/api/alarms', token);
  t.match(listed.json(), [{ id: 'fire:fire-1', severity: 'critical', source: 'fire', message: /火警.*Fire alarm from fire-1/ }]);
  await waitFor(() => r.hub.events.query({ type: 'alarm.raised' }).some((e) => e.data.id === 'fire:fire-1'), 2000, 'logged');
  t.ok(r.hub.events.query({ type: 'alarm.raised', sessionId: s.id }).some((e) => e.data.id === 'fire:fire-1'), 'attached to the running session');
  await waitFor(() => r.zones().every((z) => !z), 1000, 'jammers off');
  await waitFor(() => doorCmds.some((c) => c.cmd === 'unlock'), 3000, 'door unlocked per the fire policy');

  const answer = nextMessage(gate, 'fh/demo/gate-1/verify/result');
  await gate.publishAsync('fh/demo/gate-1/verify', JSON.stringify({ requestId: 'r-fire-1', idNumber: ID_NUMBER, name: '张三', faceScore: 0.99, liveness: true }), { qos: 1 });
  t.match(await answer, { requestId: 'r-fire-1', decision: 'deny', reason: 'emergency', message: /火警疏散中/ });

  const ack = await r.call('POST', '/api/alarms/fire%3Afire-1/ack', token, {});
  t.equal(ack.statusCode, 200, ack.body);
  t.ok(r.hub.alarms.list().some((a) => a.id === 'fire:fire-1'), 'a condition alarm stays listed until the panel clears');

  await fire.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'clear' }), { qos: 1 });
  await waitFor(() => !r.hub.alarms.list().some((a) => a.id === 'fire:fire-1'), 2000, 'fire alarm cleared');
  const after = nextMessage(gate, 'fh/demo/gate-1/verify/result');
  await gate.publishAsync('fh/demo/gate-1/verify', JSON.stringify({ requestId: 'r-fire-2', idNumber: ID_NUMBER, name: '张三', faceScore: 0.99, liveness: true }), { qos: 1 });
  t.match(await after, { requestId: 'r-fire-2', reason: 'not-on-roster' }, 'entry decided by the roster again');
  t.same(r.zones(), [false, false, false], 'jammers stay off until an admin releases the interlock');
});

void t.test('a device going offline raises an alarm of its role severity; /healthz says degraded while a critical one is away; fh_devices_available', async (t) => {
  const r = await startJammerRig();
  t.teardown(() => r.stop());
  await r.device('fire-1');
  await r.device('door-1');
  await r.device('gate-1');
  await waitFor(() => ['fire-1', 'door-1', 'gate-1', 'relay-1', 'relay-2'].every((id) => r.hub.availability.isAvailable(id)), 3000, 'everything online');
  const before = await r.hub.api().inject({ method: 'GET', url: '/healthz' });
  t.match(before.json(), { status: 'ok' });
  r.clock.advance(31_000); // past the start-up grace
  await new Promise((res) => setTimeout(res, 50));
  t.same(r.hub.alarms.list().filter((a) => a.source === 'device-health'), [], 'no alarm while everything is up');

  const port = r.sim.port;
  await r.sim.stop();
  await r.until(() => r.hub.alarms.list().some((a) => a.id === 'device-offline:relay-1'), 'relay alarm');
  t.match(r.hub.alarms.list().find((a) => a.id === 'device-offline:relay-1'), { severity: 'critical', source: 'device-health', deviceId: 'relay-1' });
  const degraded = await r.hub.api().inject({ method: 'GET', url: '/healthz' });
  t.equal(degraded.statusCode, 200, 'still 200');
  t.match(degraded.json(), { status: 'degraded', degraded: [{ deviceId: 'relay-1', kind: 'relay' }] });
  const metrics = await r.hub.api().inject({ method: 'GET', url: '/metrics' });
  t.match(metrics.body, /fh_devices_available\{kind="relay"\} 1/);
  t.match(metrics.body, /fh_devices_available\{kind="fire-panel"\} 1/);

  const fresh = await startRelaySimulator({ port, log: silentLogger(), coils: 4 });
  t.teardown(() => fresh.stop());
  await r.until(() => !r.hub.alarms.list().some((a) => a.id === 'device-offline:relay-1'), 'cleared on return');
  t.match((await r.hub.api().inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
});

void t.test('devices that never connect are alarmed after the start-up grace, by role', async (t) => {
  const r = await startJammerRig({ extra: '  - { id: robot-1, kind: robot, transport: { type: mqtt } }' });
  t.teardown(() => r.stop());
  t.same(r.hub.alarms.list().filter((a) => a.source === 'device-health'), [], 'nothing during the grace');
  r.clock.advance(31_000);
  await waitFor(() => r.hub.alarms.list().some((a) => a.id === 'device-offline:robot-1'), 2000, 'alarms after the grace');
  const bySeverity = Object.fromEntries(r.hub.alarms.list().filter((a) => a.source === 'device-health').map((a) => [a.deviceId, a.severity]));
  t.match(bySeverity, { 'fire-1': 'critical', 'door-1': 'critical', 'gate-1': 'critical', 'robot-1': 'warning' });
  t.notOk('relay-1' in bySeverity, 'the relay modules answer');
  const h = (await r.hub.api().inject({ method: 'GET', url: '/healthz' })).json();
  t.equal(h.status, 'degraded');
  t.same(h.degraded.map((d: { deviceId: string }) => d.deviceId).sort(), ['door-1', 'fire-1', 'gate-1']);
});
