import t from 'tap';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import type { RelayDevice } from '../../devices/relay.js';
import { gateSimulator } from '../../simulators/gate.js';
import { ADMIN_PASSWORD, startTestHub, waitFor } from '../helpers/hub.js';
import { advanceUntil, startPowerRig } from '../helpers/power-sims.js';
import type { Hub } from '../../hub/hub.js';
import { metricValue } from '../fixtures/mqtt.js';

const PASSWORD = 'alarm-test-pw';

async function tokens(hub: Hub): Promise<Record<string, string>> {
  await hub.users.create('sup1', 'supervisor', PASSWORD, '监督员一');
  await hub.users.create('view1', 'viewer', PASSWORD, '观察员');
  const out: Record<string, string> = {};
  for (const [username, password] of [['admin', ADMIN_PASSWORD], ['sup1', PASSWORD], ['view1', PASSWORD]] as const) {
    const res = await hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
    out[username] = res.json<{ token: string }>().token;
  }
  return out;
}

interface AlarmBody {
  id: string;
  severity: string;
  source: string;
  message: string;
  deviceId: string | null;
  oneShot: boolean;
  active: boolean;
  acknowledged: { by: string; displayName: string; at: string } | null;
}

async function call(hub: Hub, token: string | undefined, method: 'GET' | 'POST', url: string): Promise<{ status: number; body: AlarmBody[] & AlarmBody & { code?: string } }> {
  const res = await hub.api().inject({ method, url, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
  return { status: res.statusCode, body: res.json() };
}

void t.test('a jammer relay that does not follow: a critical alarm until it follows; acknowledging keeps it listed', async (t) => {
  const r = await startPowerRig();
  t.teardown(() => r.stop());
  const relay = r.hub.devices.get('relay-1') as RelayDevice;
  await advanceUntil(r.clock, () => r.hub.availability.isAvailable('relay-1') && relay.outputs().every((o) => o.actual !== null), 'first read-back');
  const tk = await tokens(r.hub);
  t.same((await call(r.hub, tk.view1, 'GET', '/api/alarms')).body, [], 'no alarm at first');

  r.jammers.stick(0, false);
  await relay.setOutput('jammer-room-1', true, 'automation:test');
  const listed = await call(r.hub, tk.view1, 'GET', '/api/alarms');
  t.equal(listed.status, 200);
  t.match(listed.body, [{ id: 'relay-mismatch:relay-1:jammer-room-1', severity: 'critical', source: 'relay', deviceId: 'relay-1', oneShot: false, active: true, acknowledged: null }]);
  t.match(listed.body[0]!.message, /jammer-room-1/);
  const metrics = (await r.hub.api().inject({ method: 'GET', url: '/metrics' })).body;
  t.equal(metricValue(metrics, 'fh_alarms_active', { severity: 'critical' }), 1, 'counted for monitoring');
  t.equal(metricValue(metrics, 'fh_alarms_active', { severity: 'warning' }), 0);

  t.equal((await call(r.hub, tk.view1, 'POST', '/api/alarms/relay-mismatch:relay-1:jammer-room-1/ack')).status, 403, 'a viewer cannot acknowledge');
  t.equal((await call(r.hub, undefined, 'GET', '/api/alarms')).status, 401);
  const missing = await call(r.hub, tk.sup1, 'POST', '/api/alarms/no-such-alarm/ack');
  t.equal(missing.status, 404);
  t.equal(missing.body.code, 'HUB_ERR_NOT_FOUND');

  const acked = await call(r.hub, tk.sup1, 'POST', '/api/alarms/relay-mismatch:relay-1:jammer-room-1/ack');
  t.equal(acked.status, 200);
  t.match(acked.body, { active: true, acknowledged: { by: 'sup1', displayName: '监督员一', at: /T/ } });
  t.match((await call(r.hub, tk.view1, 'GET', '/api/alarms')).body, [{ id: 'relay-mismatch:relay-1:jammer-room-1', acknowledged: { by: 'sup1' } }], 'still active: the relay still does not follow');
  const again = await call(r.hub, tk.admin, 'POST', '/api/alarms/relay-mismatch:relay-1:jammer-room-1/ack');
  t.match(again.body, { acknowledged: { by: 'sup1' } }, 'a repeat changes nothing: the first acknowledgement stands');
  const logged = r.hub.events.query({ type: 'alarm.acknowledged' });
  t.match(logged, [{ actor: 'user:sup1', deviceId: 'relay-1', data: { id: 'relay-mismatch:relay-1:jammer-room-1', cleared: false } }]);

  r.jammers.stick(0, null);
  await advanceUntil(r.clock, () => r.hub.alarms.list().length === 0, 'cleared when the relay follows');
  t.same((await call(r.hub, tk.view1, 'GET', '/api/alarms')).body, []);
});

void t.test('a gate that let an unknown person in offline: a one-shot alarm, cleared by acknowledging it', async (t) => {
  const clock = new ManualClock();
  const th = await startTestHub({ full: true, clock });
  t.teardown(() => th.stop());
  const tk = await tokens(th.hub);
  const session = (await th.hub.sessions.create({ code: 'OFF-1', name: 'offline', start: clock.now() + 10 * 60_000, end: clock.now() + 120 * 60_000 }, 'user:admin')).session;
  const gate = gateSimulator(th.hub.facility.devices.find((d) => d.id === 'gate-1')!, { url: th.mqttUrl, site: 'demo', token: th.hub.tokens.issue('gate-1'), clock, log: silentLogger(), reconnectMs: 0 });
  await gate.start();
  t.teardown(() => gate.stop());
  await gate.event('offline-pass', { requestId: 'off-1', idHash: 'ab'.repeat(32), sessionId: session.id });
  await waitFor(() => th.hub.alarms.list().length === 1, 5000, 'alarm raised');
  const [alarm] = (await call(th.hub, tk.view1, 'GET', '/api/alarms')).body;
  t.match(alarm, { id: 'offline-unmatched:off-1', severity: 'warning', source: 'checkin', deviceId: 'gate-1', oneShot: true, acknowledged: null });
  const acked = await call(th.hub, tk.sup1, 'POST', '/api/alarms/offline-unmatched:off-1/ack');
  t.equal(acked.status, 200);
  t.match(acked.body, { active: false, acknowledged: { by: 'sup1' } });
  t.same((await call(th.hub, tk.view1, 'GET', '/api/alarms')).body, [], 'cleared by the acknowledgement');
  t.match(th.hub.events.query({ type: 'alarm.acknowledged' }), [{ actor: 'user:sup1', data: { id: 'offline-unmatched:off-1', cleared: true } }]);
});

void t.test('alarms are listed most severe first, then newest first', async (t) => {
  const clock = new ManualClock();
  const th = await startTestHub({ clock });
  t.teardown(() => th.stop());
  // Raised through the bus, the interface every source uses.
  th.hub.bus.emit('alarm.raised', { id: 'w-old', source: 'x', severity: 'warning', message: 'old warning' });
  clock.advance(1000);
  th.hub.bus.emit('alarm.raised', { id: 'i-new', source: 'x', severity: 'info', message: 'info' });
  th.hub.bus.emit('alarm.raised', { id: 'w-new', source: 'x', severity: 'warning', message: 'new warning' });
  th.hub.bus.emit('alarm.raised', { id: 'c', source: 'x', severity: 'critical', message: 'critical' });
  t.same(th.hub.alarms.list().map((a) => a.id), ['c', 'w-new', 'w-old', 'i-new']);
  th.hub.bus.emit('alarm.cleared', { id: 'w-new', source: 'x' });
  t.same(th.hub.alarms.list().map((a) => a.id), ['c', 'w-old', 'i-new']);
});
