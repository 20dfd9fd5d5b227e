import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import { MQTT_ONLY_FACILITY, startTestHub, tempDir, waitFor, type TestHub } from '../helpers/hub.js';
import { runCli } from '../fixtures/cli.js';
import { ManualClock } from '../../kernel/clock.js';
import { captureLogs } from '../fixtures/logs.js';
import { connackCode, metricValue, rawConnack, rawConnectPacket, subackCodes } from '../fixtures/mqtt.js';

async function metrics(th: TestHub): Promise<string> {
  const res = await th.hub.api().inject({ method: 'GET', url: '/metrics' });
  return res.body;
}

async function device(th: TestHub, token: string, id: string): Promise<{ available: boolean; lastSeen: string | null; state: Record<string, unknown>; reason: string }> {
  const res = await th.hub.api().inject({ method: 'GET', url: `/api/devices/${id}`, headers: { authorization: `Bearer ${token}` } });
  if (res.statusCode !== 200) throw new Error(`GET /api/devices/${id}: ${res.statusCode} ${res.body}`);
  return res.json();
}

function countEvents(th: TestHub, where = "type IN ('device.state', 'device.event')"): number {
  return (th.hub.store.db.prepare(`SELECT COUNT(*) AS n FROM events WHERE ${where}`).get() as { n: number }).n;
}

/**
 * Collects what `client` receives until a message on `sentinelTopic` arrives. Delivery is
 * ordered per connection, so anything forwarded before the sentinel shows up here.
 */
function collectUntil(client: MqttClient, sentinelTopic: string): Promise<string[]> {
  const seen: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${sentinelTopic}; saw ${seen.join(', ')}`)), 5000);
    const on = (topic: string): void => {
      seen.push(topic);
      if (topic === sentinelTopic) {
        clearTimeout(timer);
        client.off('message', on);
        resolve(seen);
      }
    };
    client.on('message', on);
  });
}

void t.test('a wrong token and an unknown device are refused at CONNACK and counted', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  th.hub.tokens.issue('gate-1');
  t.equal(await connackCode(th.mqttUrl, { username: 'gate-1', password: 'fhd_wrong', clientId: 'wrong-token' }), 4, 'wrong token: bad user name or password');
  t.equal(await connackCode(th.mqttUrl, { username: 'no-such-device', password: 'x', clientId: 'unknown-dev' }), 4, 'unknown device refused');
  t.equal(await connackCode(th.mqttUrl, { clientId: 'anon' }), 4, 'no credentials refused');
  // A device without any issued token cannot connect either.
  t.equal(await connackCode(th.mqttUrl, { username: 'door-1', password: 'anything', clientId: 'no-token' }), 4, 'device without a token refused');
  t.equal(metricValue(await metrics(th), 'fh_mqtt_refused_total', { what: 'connect' }), 4);
  t.same(th.hub.broker.connectedDevices(), [], 'nobody got in');
  t.equal(th.hub.availability.isAvailable('gate-1'), false);
});

void t.test('a will that is not the device status topic is refused with CONNACK 5', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const token = th.hub.tokens.issue('gate-1');
  const code = await connackCode(th.mqttUrl, {
    username: 'gate-1',
    password: token,
    clientId: 'bad-will',
    will: { topic: 'fh/demo/door-1/status', payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
  });
  t.not(code, 0, 'not accepted');
  t.equal(metricValue(await metrics(th), 'fh_mqtt_refused_total', { what: 'connect' }), 1, 'counted');
  t.same(th.hub.broker.connectedDevices(), [], 'not connected');
  // broker.ts's preConnect refusal carries return code 5; the device must get it.
  t.equal(code, 5, 'CONNACK 5 (not authorized), not a silently closed socket');
});

void t.test('an empty client id without clean session gets CONNACK 0x02 [MQTT-3.1.3-9]', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const token = th.hub.tokens.issue('gate-1');
  const code = await rawConnack(th.hub.mqttPort, rawConnectPacket('', { clean: false, username: 'gate-1', password: token }));
  t.not(code, 0, 'not accepted');
  t.same(th.hub.broker.connectedDevices(), [], 'not connected');
  t.equal(code, 2, 'identifier rejected');
  // The same packet with clean session is fine (the broker assigns an id).
  t.equal(await rawConnack(th.hub.mqttPort, rawConnectPacket('', { clean: true, username: 'gate-1', password: token })), 0);
});

void t.test('a refused client is logged once, however often it retries', async (t) => {
  const logs = captureLogs();
  const th = await startTestHub({ log: logs.log });
  t.teardown(() => th.stop());
  th.hub.tokens.issue('gate-1');
  for (let i = 0; i < 4; i++) {
    t.equal(await connackCode(th.mqttUrl, { username: 'gate-1', password: 'fhd_wrong-secret-value', clientId: 'retrying-gate' }), 4);
  }
  const refusals = logs.records().filter((r) => r.msg === 'mqtt connect refused' && r.clientId === 'retrying-gate');
  t.equal(refusals.length, 1, 'one log line for four refusals');
  t.equal(refusals[0]?.reason, 'wrong token');
  t.equal(metricValue(await metrics(th), 'fh_mqtt_refused_total', { what: 'connect' }), 4, 'every refusal is counted');
  t.notOk(logs.text().includes('fhd_wrong-secret-value'), 'the presented token is not logged');
});

void t.test('publishing outside the ACL is neither delivered, nor stored, and is counted', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const token = await th.login();
  const gate = await th.connectDevice('gate-1');
  const door = await th.connectDevice('door-1');
  await gate.subscribeAsync('fh/demo/gate-1/cmd', { qos: 1 });
  await door.subscribeAsync(['fh/demo/door-1/cmd', 'fh/demo/hub/#'], { qos: 1 });
  await waitFor(() => th.hub.availability.isAvailable('gate-1') && th.hub.availability.isAvailable('door-1'), 5000, 'devices available');
  const doorBefore = await device(th, token, 'door-1');
  const eventsBefore = countEvents(th);

  const doorSees = collectUntil(door, 'fh/demo/door-1/cmd');
  const gateSees = collectUntil(gate, 'fh/demo/gate-1/cmd');
  // Another device's command topic, another device's state, its own cmd topic, the hub's tree.
  await gate.publishAsync('fh/demo/door-1/cmd', JSON.stringify({ id: 'evil', cmd: 'open', args: {} }), { qos: 1 });
  await gate.publishAsync('fh/demo/door-1/state', JSON.stringify({ locked: false, hijacked: true }), { qos: 1, retain: true });
  await gate.publishAsync('fh/demo/gate-1/cmd', JSON.stringify({ id: 'self', cmd: 'open', args: {} }), { qos: 1 });
  await gate.publishAsync('fh/demo/hub/x', JSON.stringify({ fake: true }), { qos: 1 });
  await gate.publishAsync('fh/other-site/gate-1/state', JSON.stringify({ a: 1 }), { qos: 1 });
  // Sentinels from the hub itself, sent after every forbidden publish was acknowledged.
  await th.hub.publishHubState('sentinel', { n: 1 });
  await th.hub.broker.publish('fh/demo/door-1/cmd', { id: 'sentinel', cmd: 'lock', args: {} });
  await th.hub.broker.publish('fh/demo/gate-1/cmd', { id: 'sentinel', cmd: 'lock', args: {} });

  t.same(await doorSees, ['fh/demo/hub/sentinel', 'fh/demo/door-1/cmd'], 'the door received only the hub messages');
  t.same(await gateSees, ['fh/demo/gate-1/cmd'], 'the gate did not receive its own forged command');
  t.equal(countEvents(th), eventsBefore, 'nothing stored');
  const doorAfter = await device(th, token, 'door-1');
  t.same(doorAfter.state, doorBefore.state, "the door's state did not change");
  t.equal(metricValue(await metrics(th), 'fh_mqtt_refused_total', { what: 'publish' }), 5);
  t.equal(metricValue(await metrics(th), 'fh_mqtt_messages_total'), 0, 'no device message was accepted');
});

void t.test('subscribing outside the ACL gets SUBACK failure; allowed filters are granted', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const gate = await th.connectDevice('gate-1');
  t.same(await subackCodes(gate, ['fh/demo/door-1/cmd', '#', 'fh/demo/+/state', 'fh/demo/gate-1/#', 'fh/demo/door-1/verify/result']), [128, 128, 128, 128, 128], 'refused filters');
  t.same(await subackCodes(gate, ['fh/demo/gate-1/cmd', 'fh/demo/gate-1/verify/result', 'fh/demo/hub/#']), [1, 1, 1], 'own cmd, own verify/result and the hub tree');
  t.same(await subackCodes(gate, ['fh/demo/gate-1/cmd', 'fh/demo/door-1/cmd']), [1, 128], 'mixed request: each filter on its own');
  t.equal(metricValue(await metrics(th), 'fh_mqtt_refused_total', { what: 'subscribe' }), 6);
  // A refused filter really receives nothing: the hub's command to the door does not reach the gate.
  const seen = collectUntil(gate, 'fh/demo/gate-1/cmd');
  await th.hub.broker.publish('fh/demo/door-1/cmd', { id: 'x', cmd: 'open', args: {} });
  await th.hub.broker.publish('fh/demo/gate-1/cmd', { id: 'y', cmd: 'open', args: {} });
  t.same(await seen, ['fh/demo/gate-1/cmd']);
});

void t.test('bad payloads are rejected and counted, change nothing, and the hub keeps running', async (t) => {
  const logs = captureLogs();
  const th = await startTestHub({ log: logs.log });
  t.teardown(() => th.stop());
  const token = await th.login();
  const gate = await th.connectDevice('gate-1');
  await gate.publishAsync('fh/demo/gate-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });
  await gate.publishAsync('fh/demo/gate-1/state', JSON.stringify({ mode: 'normal', locked: true }), { qos: 1, retain: true });
  const before = await device(th, token, 'gate-1');
  t.same(before.state, { mode: 'normal', locked: true });
  t.equal(before.available, true);
  const eventsBefore = countEvents(th, '1 = 1');

  const bad: [string, string | Buffer, string][] = [
    ['fh/demo/gate-1/state', '{"mode": "normal", ', 'not-json'],
    ['fh/demo/gate-1/state', Buffer.from([0xff, 0xfe, 0x00, 0x7b]), 'not-json'],
    ['fh/demo/gate-1/state', JSON.stringify(['not', 'an', 'object']), 'bad-shape'],
    ['fh/demo/gate-1/status', JSON.stringify({ ts: 1 }), 'bad-shape'],
    ['fh/demo/gate-1/status', JSON.stringify({ online: 'yes' }), 'bad-shape'],
    ['fh/demo/gate-1/event', JSON.stringify({ ts: 1, requestId: 'r' }), 'bad-shape'],
    ['fh/demo/gate-1/event', JSON.stringify({ type: 'self-destruct' }), 'bad-shape'],
    ['fh/demo/gate-1/event', JSON.stringify({ type: 'passed' }), 'bad-shape'],
    ['fh/demo/gate-1/cmd/ack', JSON.stringify({ ok: true }), 'bad-shape'],
    ['fh/demo/gate-1/state', JSON.stringify({ pad: 'x'.repeat(64 * 1024) }), 'too-large'],
  ];
  for (const [topic, payload] of bad) await gate.publishAsync(topic, payload, { qos: 1 });

  const text = await metrics(th);
  t.equal(metricValue(text, 'fh_mqtt_rejected_total'), bad.length, 'every bad payload counted');
  t.equal(metricValue(text, 'fh_mqtt_rejected_total', { reason: 'not-json' }), 2);
  t.equal(metricValue(text, 'fh_mqtt_rejected_total', { reason: 'too-large' }), 1);
  t.equal(metricValue(text, 'fh_mqtt_rejected_total', { reason: 'bad-shape' }), 7);
  const after = await device(th, token, 'gate-1');
  t.same(after.state, before.state, 'state unchanged');
  t.equal(after.available, true, 'availability unchanged (a bad status is not "offline")');
  t.equal(countEvents(th, '1 = 1'), eventsBefore, 'events table unchanged');
  const rejectedLogs = logs.records().filter((r) => r.msg === 'device message rejected');
  t.equal(rejectedLogs.length, bad.length, 'each rejection logged with its reason');
  t.ok(rejectedLogs.every((r) => typeof r.reason === 'string' && r.reason !== ''), 'with a reason');

  // Still running: the same connection's next valid message is taken.
  await gate.publishAsync('fh/demo/gate-1/state', JSON.stringify({ mode: 'maintenance', locked: true }), { qos: 1, retain: true });
  t.same((await device(th, token, 'gate-1')).state, { mode: 'maintenance', locked: true });
  t.equal(gate.connected, true, 'the device stays connected');
  const health = await th.hub.api().inject({ method: 'GET', url: '/healthz' });
  t.equal(health.statusCode, 200);
});

void t.test('availability: connect + status online, the will on an abrupt disconnect, lastSeen', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 10, 28, 1, 0, 0));
  const th = await startTestHub({ clock });
  t.teardown(() => th.stop());
  const token = await th.login();
  const list = async (): Promise<{ id: string; available: boolean; lastSeen: string | null }[]> => {
    const res = await th.hub.api().inject({ method: 'GET', url: '/api/devices', headers: { authorization: `Bearer ${token}` } });
    t.equal(res.statusCode, 200);
    return res.json();
  };
  const door0 = (await list()).find((d) => d.id === 'door-1');
  t.same(door0 && { available: door0.available, lastSeen: door0.lastSeen }, { available: false, lastSeen: null }, 'never seen');

  const door = await th.connectDevice('door-1', {
    clientId: 'door-with-will',
    will: { topic: 'fh/demo/door-1/status', payload: Buffer.from(JSON.stringify({ online: false })), qos: 1, retain: true },
  });
  await door.publishAsync('fh/demo/door-1/status', JSON.stringify({ online: true, ts: '2026-11-28T09:00:00+08:00' }), { qos: 1, retain: true });
  const up = (await list()).find((d) => d.id === 'door-1');
  t.equal(up?.available, true, 'available after connect + status online');
  t.equal(up?.lastSeen, '2026-11-28T09:00:00.000+08:00');
  t.equal(metricValue(await metrics(th), 'fh_devices_online'), 1);

  clock.advance(90_000);
  await door.publishAsync('fh/demo/door-1/state', JSON.stringify({ locked: true, open: false }), { qos: 1, retain: true });
  t.equal((await list()).find((d) => d.id === 'door-1')?.lastSeen, '2026-11-28T09:01:30.000+08:00', 'lastSeen follows the last message');

  // A status offline from the device itself makes it unavailable while still connected.
  await door.publishAsync('fh/demo/door-1/status', JSON.stringify({ online: false }), { qos: 1, retain: true });
  t.equal(th.hub.availability.isAvailable('door-1'), false, 'status offline → unavailable');
  await door.publishAsync('fh/demo/door-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });
  t.equal(th.hub.availability.isAvailable('door-1'), true);

  const statusBefore = metricValue(await metrics(th), 'fh_mqtt_messages_total', { subtopic: 'status' });
  door.stream.destroy(); // abrupt: no DISCONNECT packet, so the broker publishes the will
  await waitFor(() => !th.hub.availability.isAvailable('door-1'), 5000, 'door unavailable');
  await waitFor(async () => metricValue(await metrics(th), 'fh_mqtt_messages_total', { subtopic: 'status' }) === statusBefore + 1, 5000, 'the will reached the hub');
  const down = await device(th, token, 'door-1');
  t.equal(down.available, false);
  t.equal(metricValue(await metrics(th), 'fh_devices_online'), 0);
  await waitFor(() => countEvents(th, "type = 'device.unavailable' AND device_id = 'door-1'") >= 2, 5000, 'unavailable events stored');
  door.end(true);
});

void t.test('a QoS 1 event whose PUBACK arrived is durable', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const th = await startTestHub({ dataDir: tmp.dir });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await th.stop();
  });
  const door = await th.connectDevice('door-1');
  await door.publishAsync('fh/demo/door-1/event', JSON.stringify({ type: 'opened', ts: 1790000000000, detail: 'durable-1' }), { qos: 1 });
  // Read through a second connection: the row is committed, not just inside an open transaction.
  const file = join(tmp.dir, 'hub.sqlite');
  const query = "SELECT type, device_id AS deviceId, data FROM events WHERE type = 'device.event' AND data LIKE '%durable-1%'";
  const other = new Database(file, { readonly: true });
  const seenNow = other.prepare(query).all() as { type: string; deviceId: string; data: string }[];
  other.close();
  t.equal(seenNow.length, 1, 'in the store as soon as the PUBACK arrived');
  t.equal(seenNow[0]?.deviceId, 'door-1');
  t.match(JSON.parse(seenNow[0]?.data ?? '{}'), { type: 'opened', ts: 1790000000000, detail: 'durable-1' });

  await th.stop();
  stopped = true;
  const reopened = new Database(file, { readonly: true });
  t.equal(reopened.prepare(query).all().length, 1, 'still there after stop and reopen');
  reopened.close();
});

void t.test("a device cannot take over another device's client id", async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  // The simulators use `sim-<deviceId>`, a client id anybody can guess.
  const door = await th.connectDevice('door-1', { clientId: 'sim-door-1' });
  await door.publishAsync('fh/demo/door-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });
  t.equal(th.hub.availability.isAvailable('door-1'), true);
  let doorClosed = false;
  door.on('close', () => {
    doorClosed = true;
  });
  const gateToken = th.hub.tokens.issue('gate-1');
  const code = await connackCode(th.mqttUrl, { username: 'gate-1', password: gateToken, clientId: 'sim-door-1' });
  // Whatever the gate is told, the door's session must survive: MQTT session takeover
  // [MQTT-3.1.4-2] applies to the same client, not to another device reusing its id.
  if (!doorClosed && door.connected) {
    // A round trip on the door's own connection (an open socket answers; a kicked one is skipped).
    await door.subscribeAsync('fh/demo/door-1/cmd', { qos: 1 });
    const seen = collectUntil(door, 'fh/demo/door-1/cmd');
    await th.hub.broker.publish('fh/demo/door-1/cmd', { id: 'probe', cmd: 'lock', args: {} });
    t.same(await seen, ['fh/demo/door-1/cmd'], 'the door still receives its commands');
  }
  t.equal(doorClosed, false, 'the door was not disconnected');
  t.ok(th.hub.broker.connectedDevices().includes('door-1'), 'the door is still connected');
  t.equal(th.hub.availability.isAvailable('door-1'), true, 'the door is still available');
  t.not(code, 0, "the gate is refused the door's client id");
});

void t.test('a token rotated by the CLI while its device is connected ends that connection', async (t) => {
  const clock = new ManualClock();
  const logs = captureLogs();
  const th = await startTestHub({ clock, log: logs.log });
  t.teardown(() => th.stop());
  const dir = tempDir('fh-rotate-');
  t.teardown(dir.cleanup);
  const config = join(dir.dir, 'facility.yaml');
  writeFileSync(config, MQTT_ONLY_FACILITY);
  const oldToken = th.hub.tokens.issue('door-1');
  const door = await mqtt.connectAsync(th.mqttUrl, { username: 'door-1', password: oldToken, clientId: 'rotate-door', reconnectPeriod: 0 });
  t.teardown(() => door.endAsync(true));
  const gate = await th.connectDevice('gate-1');
  let closed = false;
  door.on('close', () => {
    closed = true;
  });

  // The CLI rotates the token in the data dir, from another process.
  const out = await runCli(['device', 'token', 'door-1', '--config', config, '--data-dir', th.dataDir]);
  t.equal(out.code, 0, out.stderr);
  const newToken = out.stdout.trim();
  t.not(newToken, oldToken);
  t.equal(closed, false, 'nothing happens before the next check');

  clock.advance(5_000); // the hub's periodic check

  await waitFor(() => closed, 5000, 'the door connection closed');
  t.notOk(th.hub.broker.connectedDevices().includes('door-1'));
  t.ok(gate.connected, 'other devices keep their connections');
  t.equal(metricValue(await metrics(th), 'fh_mqtt_refused_total', { what: 'revoked' }), 1);
  const warned = logs.records().filter((r) => r.deviceId === 'door-1' && /token rotated/.test(String(r.msg)));
  t.equal(warned.length, 1, 'logged once');
  t.notOk(JSON.stringify(logs.records()).includes(newToken) || JSON.stringify(logs.records()).includes(oldToken), 'no token in the logs');

  t.equal(await connackCode(th.mqttUrl, { username: 'door-1', password: oldToken, clientId: 'rotate-door-2' }), 4, 'the old token is refused');
  const again = await mqtt.connectAsync(th.mqttUrl, { username: 'door-1', password: newToken, clientId: 'rotate-door-3', reconnectPeriod: 0 });
  t.teardown(() => again.endAsync(true));
  clock.advance(5_000);
  await new Promise((r) => setTimeout(r, 50));
  t.ok(again.connected, 'the new token is accepted and stays connected');
  t.ok(th.hub.broker.connectedDevices().includes('door-1'));
});
