/**
 * Durability before PUBACK in external broker mode: the device's PUBACK now comes from
 * Mosquitto, so what is not yet committed must stay queued there. A hub whose client ends
 * between the broker's delivery and the commit gets the message again on its next session
 * (a fixed client id, clean session 0), also across a restart of Mosquitto (persistence
 * true), and stores it once.
 */
import t from 'tap';
import mqtt from 'mqtt';
import { facility, MQTT_ONLY_FACILITY, startTestHub, tempDir, waitFor, type TestHub } from '../../helpers/hub.js';
import { contractAcl, startMosquitto } from '../../helpers/mosquitto.js';
import type { Facility } from '../../../config/schema.js';

const PASSWORDS = { hub: 'hub-broker-password', 'fire-1': 'fire-1-token' };

void t.test('a message not committed when the hub went away is delivered again and stored once', async (t) => {
  const mq = await startMosquitto({ users: PASSWORDS, acl: contractAcl('demo') });
  t.teardown(() => mq.cleanup());
  const data = tempDir();
  t.teardown(() => data.cleanup());
  const base = facility(MQTT_ONLY_FACILITY);
  const fac: Facility = { ...base, mqtt: { ...base.mqtt, external: { url: mq.url, username: 'hub', clientId: 'fh-hub-redelivery' } } };
  const start = (): Promise<TestHub> => startTestHub({ facility: fac, dataDir: data.dir, extra: { externalBroker: { password: PASSWORDS.hub, reconnectMinMs: 100, reconnectMaxMs: 400 } } });
  const fireEvents = (th: TestHub): string[] =>
    th.hub.events
      .query({ type: 'device.event' })
      .filter((e) => e.deviceId === 'fire-1')
      .map((e) => (e.data as { zone?: string }).zone ?? '');

  // The first hub takes the message from the broker and never commits it: the handler
  // (the Ingest's own extension point) hangs, as a hub that dies mid-commit would.
  const first = await start();
  let delivered!: () => void;
  const arrived = new Promise<void>((r) => (delivered = r));
  first.hub.ingest.register('fire-panel', 'event', () => {
    delivered();
    return new Promise(() => undefined);
  });
  const panel = await mqtt.connectAsync(mq.url, { username: 'fire-1', password: PASSWORDS['fire-1'], clientId: 'dev-fire-1', protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(() => panel.endAsync(true));
  await panel.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'fault', zone: 'one' }), { qos: 1 });
  await arrived;
  t.same(fireEvents(first), [], 'not stored by the first hub');
  // Its client ends without acknowledging it, and the hub stops.
  await first.stop();

  // While no hub is connected the broker queues for the hub's session, and keeps the
  // queue across its own restart (persistence).
  await panel.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'fault', zone: 'two' }), { qos: 1 });
  await panel.endAsync();
  await mq.stop();
  await mq.restart();

  const second = await start();
  t.teardown(() => second.stop());
  await waitFor(() => fireEvents(second).length >= 2, 10_000, 'both faults stored');
  // A third message, behind the others in the session's order: once it is stored, any
  // duplicate of the first two would have been too.
  const again = await mqtt.connectAsync(mq.url, { username: 'fire-1', password: PASSWORDS['fire-1'], clientId: 'dev-fire-1', protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(() => again.endAsync(true));
  await again.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'fault', zone: 'three' }), { qos: 1 });
  await waitFor(() => fireEvents(second).includes('three'), 10_000, 'the third fault stored');
  t.same(fireEvents(second).sort(), ['one', 'three', 'two'], 'each stored exactly once');
});
