import t from 'tap';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { startTestHub, tempDir, waitFor, type TestHub } from '../helpers/hub.js';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import { SimulatedMqttDevice } from '../../simulators/mqtt-device.js';
import { metricValue } from '../fixtures/mqtt.js';
import type { Device } from '../../devices/types.js';

interface CommandRow {
  id: string;
  device_id: string;
  cmd: string;
  args: string;
  issuer: string;
  attempts: number;
  status: string;
  error: string | null;
  finished_at: number | null;
}

function commandRow(th: TestHub, id: string): CommandRow | undefined {
  return th.hub.store.db.prepare('SELECT * FROM commands WHERE id = ?').get(id) as CommandRow | undefined;
}

function commandEvents(th: TestHub, id: string): { type: string; data: Record<string, unknown> }[] {
  const rows = th.hub.store.db.prepare("SELECT type, data FROM events WHERE type LIKE 'command.%' AND json_extract(data, '$.id') = ? ORDER BY seq").all(id) as { type: string; data: string }[];
  return rows.map((r) => ({ type: r.type, data: JSON.parse(r.data) as Record<string, unknown> }));
}

function deviceOf(th: TestHub, id: string): Device {
  const d = th.hub.devices.get(id);
  if (!d) throw new Error(`no device ${id}`);
  return d;
}

/** A raw MQTT device that announces itself online and records the commands it receives, never answering. */
async function silentDevice(th: TestHub, id: string): Promise<{ client: MqttClient; received: { id: string; cmd: string }[] }> {
  const client = await th.connectDevice(id, { clientId: `silent-${id}` });
  const received: { id: string; cmd: string }[] = [];
  client.on('message', (topic, payload) => {
    if (topic === `fh/demo/${id}/cmd`) received.push(JSON.parse(payload.toString('utf8')) as { id: string; cmd: string });
  });
  await client.subscribeAsync(`fh/demo/${id}/cmd`, { qos: 1 });
  await client.publishAsync(`fh/demo/${id}/status`, JSON.stringify({ online: true }), { qos: 1, retain: true });
  return { client, received };
}

void t.test('a command to a device that acks: acked, in the ledger and the event log', async (t) => {
  const th = await startTestHub({ extra: { commandDefaults: { timeoutMs: 2000, retries: 1 } } });
  t.teardown(() => th.stop());
  const sim = new SimulatedMqttDevice({
    url: th.mqttUrl,
    site: 'demo',
    deviceId: 'door-1',
    token: th.hub.tokens.issue('door-1'),
    clock: th.hub.clock,
    log: silentLogger(),
    reconnectMs: 0,
    initialState: { locked: true },
    commands: { open: () => ({ ok: true, result: { openedFor: 5 } }), lock: () => ({ ok: false, error: 'bolt jammed' }) },
  });
  await sim.start();
  t.teardown(() => sim.stop());
  await waitFor(() => th.hub.availability.isAvailable('door-1'), 5000, 'door available');
  // The simulator subscribes to its cmd topic right after connecting; wait until it announced itself.
  await waitFor(() => th.hub.availability.get('door-1')?.state.locked === true, 5000, 'door announced');

  const out = await deviceOf(th, 'door-1').execute({ cmd: 'open', args: {}, issuer: 'user:admin' });
  t.match(out, { outcome: 'acked', ok: true, attempts: 1, result: { openedFor: 5 } });
  t.same(sim.executed.map((e) => [e.id, e.cmd]), [[out.id, 'open']], 'executed once, with the ledger id');
  t.match(commandRow(th, out.id), { device_id: 'door-1', cmd: 'open', issuer: 'user:admin', status: 'acked', attempts: 1, error: null });
  t.ok(commandRow(th, out.id)?.finished_at, 'finished_at set');
  const evs = commandEvents(th, out.id);
  t.same(evs.map((e) => e.type), ['command.sent', 'command.finished']);
  t.match(evs[1]?.data, { outcome: 'acked', attempts: 1, cmd: 'open' });

  const failed = await deviceOf(th, 'door-1').execute({ cmd: 'lock', args: {}, issuer: 'user:admin' });
  t.match(failed, { outcome: 'failed', ok: false, attempts: 1, error: 'bolt jammed' });
  t.match(commandRow(th, failed.id), { status: 'failed', error: 'bolt jammed' });
  t.match(commandEvents(th, failed.id)[1]?.data, { outcome: 'failed', error: 'bolt jammed' });
  const text = await th.hub.metrics.registry.metrics();
  t.equal(metricValue(text, 'fh_commands_total', { outcome: 'acked' }), 1);
  t.equal(metricValue(text, 'fh_commands_total', { outcome: 'failed' }), 1);
});

void t.test('a device that never answers: timeout after the retries, same id each attempt', async (t) => {
  const th = await startTestHub({ extra: { commandDefaults: { timeoutMs: 200, retries: 1 } } });
  t.teardown(() => th.stop());
  const dev = await silentDevice(th, 'door-1');
  t.equal(th.hub.availability.isAvailable('door-1'), true);
  const out = await deviceOf(th, 'door-1').execute({ cmd: 'unlock', args: {}, issuer: 'automation:test' });
  t.match(out, { outcome: 'timeout', ok: false, attempts: 2 });
  t.match(out.error, /no answer after 2 attempt/);
  await waitFor(() => dev.received.length >= 2, 2000, 'both attempts delivered');
  t.same(dev.received.map((m) => [m.id, m.cmd]), [[out.id, 'unlock'], [out.id, 'unlock']], 'two attempts, one id');
  t.match(commandRow(th, out.id), { status: 'timeout', attempts: 2 });
  t.match(commandEvents(th, out.id).map((e) => e.type), ['command.sent', 'command.finished']);
  t.equal(th.hub.commands.pendingCount(), 0, 'nothing left waiting');
});

void t.test('acks for unknown ids, or from another device, are rejected', async (t) => {
  const th = await startTestHub({ extra: { commandDefaults: { timeoutMs: 3000, retries: 0 } } });
  t.teardown(() => th.stop());
  const door = await silentDevice(th, 'door-1');
  const gate = await th.connectDevice('gate-1');
  await gate.publishAsync('fh/demo/gate-1/cmd/ack', JSON.stringify({ id: 'no-such-command', ok: true }), { qos: 1 });
  t.equal(metricValue(await th.hub.metrics.registry.metrics(), 'fh_mqtt_rejected_total'), 1, 'unknown id rejected');

  const pending = deviceOf(th, 'door-1').execute({ cmd: 'open', args: {}, issuer: 'user:admin' });
  await waitFor(() => door.received.length === 1, 2000, 'command delivered');
  const id = door.received[0]!.id;
  // The gate answers the door's command: refused, the command stays pending.
  await gate.publishAsync('fh/demo/gate-1/cmd/ack', JSON.stringify({ id, ok: true }), { qos: 1 });
  t.equal(metricValue(await th.hub.metrics.registry.metrics(), 'fh_mqtt_rejected_total'), 2, "another device's ack rejected");
  t.equal(commandRow(th, id)?.status, 'pending');
  await door.client.publishAsync('fh/demo/door-1/cmd/ack', JSON.stringify({ id, ok: true }), { qos: 1 });
  t.match(await pending, { id, outcome: 'acked', attempts: 1 });
  // A late duplicate of an answered ack is harmless (accepted, not counted as rejected).
  await door.client.publishAsync('fh/demo/door-1/cmd/ack', JSON.stringify({ id, ok: true }), { qos: 1 });
  t.equal(metricValue(await th.hub.metrics.registry.metrics(), 'fh_mqtt_rejected_total'), 2);
  t.equal(commandRow(th, id)?.status, 'acked');
});

void t.test('a command to an unavailable device is refused without sending', async (t) => {
  const th = await startTestHub({ extra: { commandDefaults: { timeoutMs: 200, retries: 1 } } });
  t.teardown(() => th.stop());
  // Not connected at all.
  const gone = await deviceOf(th, 'robot-1').execute({ cmd: 'return', args: {}, issuer: 'user:admin' });
  t.match(gone, { outcome: 'unavailable', ok: false, attempts: 0 });
  t.match(commandRow(th, gone.id), { status: 'unavailable', attempts: 0 });
  t.same(commandEvents(th, gone.id).map((e) => e.type), ['command.sent', 'command.finished']);

  // Connected but reporting offline: nothing reaches its cmd topic.
  const door = await silentDevice(th, 'door-1');
  await door.client.publishAsync('fh/demo/door-1/status', JSON.stringify({ online: false }), { qos: 1, retain: true });
  t.equal(th.hub.availability.isAvailable('door-1'), false);
  const out = await deviceOf(th, 'door-1').execute({ cmd: 'open', args: {}, issuer: 'user:admin' });
  t.match(out, { outcome: 'unavailable', attempts: 0, error: 'door-1 is unavailable' });
  await th.hub.broker.publish('fh/demo/door-1/cmd', { id: 'sentinel', cmd: 'lock', args: {} });
  await waitFor(() => door.received.length > 0, 2000, 'sentinel');
  t.same(door.received.map((m) => m.id), ['sentinel'], 'the refused command was never published');
});

void t.test('unknown commands and bad arguments fail in the ledger without sending', async (t) => {
  const th = await startTestHub({ extra: { commandDefaults: { timeoutMs: 200, retries: 0 } } });
  t.teardown(() => th.stop());
  const door = await silentDevice(th, 'door-1');
  const unknown = await deviceOf(th, 'door-1').execute({ cmd: 'fly', args: {}, issuer: 'user:admin' });
  t.match(unknown, { outcome: 'failed', error: /unknown command fly/ });
  const badArgs = await deviceOf(th, 'door-1').execute({ cmd: 'open', args: { seconds: 5 }, issuer: 'user:admin' });
  t.match(badArgs, { outcome: 'failed', error: /takes no arguments/ });
  t.match(commandRow(th, badArgs.id), { status: 'failed' });
  await th.hub.broker.publish('fh/demo/door-1/cmd', { id: 'sentinel', cmd: 'lock', args: {} });
  await waitFor(() => door.received.length > 0, 2000, 'sentinel');
  t.same(door.received.map((m) => m.id), ['sentinel'], 'neither was published');
});

void t.test('a command waiting when the hub stops is abandoned at the stop; one a crash left pending is abandoned at the next start', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const crashed = tempDir();
  t.teardown(crashed.cleanup);
  const clock = new ManualClock();
  // The manual clock never fires the timeout by itself: the command waits until the stop.
  const first = await startTestHub({ dataDir: tmp.dir, clock, extra: { commandDefaults: { timeoutMs: 1000, retries: 0 } } });
  let firstStopped = false;
  t.teardown(async () => {
    if (!firstStopped) await first.stop();
  });
  const door = await silentDevice(first, 'door-1');
  const outcome = deviceOf(first, 'door-1').execute({ cmd: 'open', args: {}, issuer: 'user:admin' });
  await waitFor(() => door.received.length === 1, 2000, 'command delivered');
  const id = door.received[0]!.id;
  t.equal(commandRow(first, id)?.status, 'pending');
  // What a kill -9 at this moment would leave on disk: the committed database, as it is now.
  cpSync(tmp.dir, crashed.dir, { recursive: true });

  await first.stop();
  firstStopped = true;
  t.match(await outcome, { id, outcome: 'abandoned', ok: false, error: 'the hub stopped before an answer' }, 'the stop did not wait out the timeout');
  const stoppedDb = new Database(join(tmp.dir, 'hub.sqlite'), { readonly: true });
  t.teardown(() => stoppedDb.close());
  t.match(stoppedDb.prepare('SELECT status, error FROM commands WHERE id = ?').get(id), { status: 'abandoned', error: 'the hub stopped before an answer' }, 'recorded before the store closed');

  const second = await startTestHub({ dataDir: crashed.dir, extra: { commandDefaults: { timeoutMs: 1000, retries: 0 } } });
  t.teardown(() => second.stop());
  t.match(commandRow(second, id), { status: 'abandoned', error: 'hub restarted' });
  t.ok(commandRow(second, id)?.finished_at, 'finished_at set');
  t.same(commandEvents(second, id).map((e) => e.type), ['command.sent', 'command.abandoned']);
  t.equal((second.hub.store.db.prepare("SELECT COUNT(*) AS n FROM commands WHERE status = 'pending'").get() as { n: number }).n, 0);
});
