/**
 * External broker mode against a real Mosquitto: the same contract as the embedded broker,
 * with the ACL enforced by Mosquitto (its password and ACL files) and availability from
 * the devices' status messages and wills.
 */
import t, { type Test } from 'tap';
import mqtt, { type MqttClient } from 'mqtt';
import { ManualClock } from '../../../kernel/clock.js';
import { silentLogger } from '../../../hub/log.js';
import { gateSimulator } from '../../../simulators/gate.js';
import { demoPeople } from '../../../simulators/demo-people.js';
import type { CheckInFeature } from '../../../hub/checkin/feature.js';
import { facility, MQTT_ONLY_FACILITY, startTestHub, waitFor, type TestHub } from '../../helpers/hub.js';
import { iso, T0 } from '../../helpers/checkin.js';
import { contractAcl, startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { metricValue } from '../../fixtures/mqtt.js';

const MIN = 60_000;
const PASSWORDS: Record<string, string> = {
  hub: 'hub-broker-password',
  'gate-1': 'gate-1-token',
  'gate-2': 'gate-2-token',
  'door-1': 'door-1-token',
  'robot-1': 'robot-1-token',
  'fire-1': 'fire-1-token',
};

interface Rig {
  mq: Mosquitto;
  th: TestHub;
  clock: ManualClock;
  token: string;
  device(id: string, extra?: mqtt.IClientOptions): Promise<MqttClient>;
}

async function rig(t: Test): Promise<Rig> {
  const mq = await startMosquitto({ users: PASSWORDS, acl: contractAcl('demo') });
  t.teardown(() => mq.cleanup());
  const base = facility(MQTT_ONLY_FACILITY);
  const clock = new ManualClock(T0);
  const th = await startTestHub({
    full: true,
    clock,
    facility: { ...base, mqtt: { ...base.mqtt, external: { url: mq.url, username: 'hub' } } },
    extra: { externalBroker: { password: PASSWORDS.hub!, reconnectMinMs: 100, reconnectMaxMs: 400 } },
  });
  const clients: MqttClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => undefined);
    await th.stop();
  });
  const login = await th.hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: 'test-admin-password' } });
  return {
    mq,
    th,
    clock,
    token: login.json<{ token: string }>().token,
    async device(id, extra = {}) {
      const c = await mqtt.connectAsync(mq.url, { username: id, password: PASSWORDS[id]!, clientId: `dev-${id}-${clients.length}`, protocolVersion: 4, reconnectPeriod: 0, ...extra });
      clients.push(c);
      return c;
    },
  };
}

void t.test('a gate verify is granted over Mosquitto, and its passage is stored', async (t) => {
  const r = await rig(t);
  t.equal(r.th.hub.broker.mode, 'external');
  t.equal(r.th.hub.mqttPort, 0, 'the hub listens on no MQTT port');
  const auth = { authorization: `Bearer ${r.token}` };
  const api = r.th.hub.api();
  const s = (await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { code: 'X-1', name: 'External', start: iso(T0 + 30 * MIN), end: iso(T0 + 180 * MIN) } })).json<{ id: string }>();
  const [person] = demoPeople(0, 1);
  t.equal((await api.inject({ method: 'POST', url: `/api/sessions/${s.id}/roster`, headers: auth, payload: [person] })).statusCode, 200);
  const gate = gateSimulator(r.th.hub.facility.devices.find((d) => d.id === 'gate-1')!, { url: r.mq.url, site: 'demo', token: PASSWORDS['gate-1']!, clock: r.clock, log: silentLogger(), reconnectMs: 0 });
  await gate.start();
  t.teardown(() => gate.stop());
  const answer = await gate.present(person!, { requestId: 'ext-1', pass: false });
  t.equal(answer.decision, 'grant');
  t.equal(answer.sessionId, s.id);
  await gate.event('passed', { requestId: 'ext-1' });
  const checkin = r.th.hub.features.find((f): f is CheckInFeature => f.name === 'checkin')!;
  await waitFor(() => checkin.checkin().checkins(s.id)[0]?.status === 'inside', 5000, 'the passage recorded');
  t.equal(r.th.hub.events.query({ type: 'checkin.granted' }).length, 1, 'the decision is in the event log');
  t.equal(r.th.hub.events.query({ type: 'checkin.passed' }).length, 1, 'the passage is in the event log');
  await waitFor(() => r.th.hub.availability.isAvailable('gate-1'), 5000, 'gate-1 available from its status');
});

void t.test('a command round trip with ack; a device cannot publish as another; availability via the will', async (t) => {
  const r = await rig(t);
  // The fire panel's `silence` (the door's commands belong to the door feature, not to this API).
  const panel = await r.device('fire-1');
  await panel.subscribeAsync('fh/demo/fire-1/cmd', { qos: 1 });
  panel.on('message', (topic, payload) => {
    if (topic !== 'fh/demo/fire-1/cmd') return;
    const cmd = JSON.parse(payload.toString()) as { id: string };
    // A device answering while the test may be ending: its PUBACK may never come.
    void panel.publishAsync('fh/demo/fire-1/cmd/ack', JSON.stringify({ id: cmd.id, ok: true }), { qos: 1 }).catch(() => undefined);
  });
  await panel.publishAsync('fh/demo/fire-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });
  await waitFor(() => r.th.hub.availability.isAvailable('fire-1'), 5000, 'fire-1 available');
  const res = await r.th.hub.api().inject({ method: 'POST', url: '/api/devices/fire-1/commands', headers: { authorization: `Bearer ${r.token}` }, payload: { cmd: 'silence' } });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { ok: true, outcome: 'acked' });

  // door-1 publishes under gate-1's topics: Mosquitto's ACL drops it (MQTT 3.1.1 still
  // acknowledges it). Its own state, sent after on the same connection, arrives after it would have.
  const door = await r.device('door-1');
  const gate = await r.device('gate-1');
  await gate.publishAsync('fh/demo/gate-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });
  await waitFor(() => r.th.hub.availability.isAvailable('gate-1'), 5000, 'gate-1 available');
  const before = r.th.hub.events.count();
  await door.publishAsync('fh/demo/gate-1/status', JSON.stringify({ online: false }), { qos: 1, retain: true });
  await door.publishAsync('fh/demo/gate-1/event', JSON.stringify({ type: 'tamper' }), { qos: 1 });
  await door.publishAsync('fh/demo/door-1/event', JSON.stringify({ type: 'closed' }), { qos: 1 });
  await waitFor(() => r.th.hub.events.query({ type: 'device.event' }).some((e) => e.deviceId === 'door-1'), 5000, "door-1's own event stored");
  t.ok(r.th.hub.availability.isAvailable('gate-1'), "the forged status did not reach the hub");
  const stored = r.th.hub.events.query({ type: 'device.event' });
  t.notOk(stored.some((e) => e.deviceId === 'gate-1'), 'the forged gate event was not stored');
  t.ok(r.th.hub.events.count() > before);

  // The robot's will ({"online": false}, retained) is published by Mosquitto when its
  // connection dies without a DISCONNECT; the hub marks it unavailable from that.
  const robot = await r.device('robot-1', { will: { topic: 'fh/demo/robot-1/status', payload: Buffer.from(JSON.stringify({ online: false })), qos: 1, retain: true } });
  await robot.publishAsync('fh/demo/robot-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });
  await waitFor(() => r.th.hub.availability.isAvailable('robot-1'), 5000, 'robot-1 available');
  t.ok(r.th.hub.broker.connectedDevices().includes('robot-1'));
  robot.stream.destroy();
  await waitFor(() => !r.th.hub.availability.isAvailable('robot-1'), 5000, 'robot-1 unavailable from its will');
  t.notOk(r.th.hub.broker.connectedDevices().includes('robot-1'));
});

void t.test('the broker away: degraded with one alarm, devices kept, back on its return', async (t) => {
  const r = await rig(t);
  const door = await r.device('door-1', { reconnectPeriod: 100 });
  await door.publishAsync('fh/demo/door-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });
  await waitFor(() => r.th.hub.availability.isAvailable('door-1'), 5000, 'door-1 available');
  const api = r.th.hub.api();
  const health = async (): Promise<{ status: string; subsystems?: { subsystem: string }[] }> => (await api.inject({ method: 'GET', url: '/healthz' })).json();
  t.equal((await health()).status, 'ok');

  await r.mq.stop();
  await waitFor(async () => (await health()).status === 'degraded', 5000, 'degraded while the broker is away');
  t.match((await health()).subsystems, [{ subsystem: 'broker' }]);
  t.equal(r.th.hub.alarms.list().filter((a) => a.source === 'broker').length, 1, 'one alarm');
  // Reconnect attempts fail a few times (backoff 100 → 400 ms): still one alarm, one record.
  await new Promise((done) => setTimeout(done, 600));
  t.equal(r.th.hub.events.query({ type: 'alarm.raised' }).filter((e) => (e.data as { source?: string }).source === 'broker').length, 1, 'raised once');
  t.ok(r.th.hub.availability.isAvailable('door-1'), "the hub's link loss does not mark devices offline");
  let metrics = (await api.inject({ method: 'GET', url: '/metrics' })).body;
  t.equal(metricValue(metrics, 'fh_mqtt_broker_connected'), 0);

  await r.mq.restart();
  await waitFor(async () => (await health()).status === 'ok', 10_000, 'ok again');
  t.equal(r.th.hub.alarms.list().filter((a) => a.source === 'broker').length, 0, 'alarm cleared');
  metrics = (await api.inject({ method: 'GET', url: '/metrics' })).body;
  t.equal(metricValue(metrics, 'fh_mqtt_broker_connected'), 1);
  t.equal(metricValue(metrics, 'fh_mqtt_broker_reconnects_total'), 1);
  // The door reconnects too, and its messages flow again.
  await waitFor(() => door.connected, 5000, 'the door reconnected');
  await door.publishAsync('fh/demo/door-1/event', JSON.stringify({ type: 'opened', by: 'card' }), { qos: 1 });
  await waitFor(() => r.th.hub.events.query({ type: 'device.event' }).some((e) => e.deviceId === 'door-1'), 5000, 'door event after the return');
});
