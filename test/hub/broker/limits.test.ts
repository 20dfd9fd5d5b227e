import t from 'tap';
import { startTestHub, waitFor } from '../../helpers/hub.js';
import { metricValue } from '../../fixtures/mqtt.js';
import { RawSession, connackOf, connectPacket, field, publishPacket, u16, varint } from '../../fixtures/mqtt-raw.js';

/**
 * The packet size limit is enforced when the fixed header is read, on the socket, before
 * aedes buffers anything: for a client that has not authenticated and for one that has.
 */

const th = await startTestHub();
t.teardown(() => th.stop());
const port = th.hub.mqttPort;
const token = th.hub.tokens.issue('gate-1');

/** Streams `total` bytes after `header` until the broker closes; answers how many bytes it managed to write. */
async function streamUntilClosed(s: RawSession, header: Buffer, total: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  let written = 0;
  s.socket.write(header);
  while (written < total && !s.isClosed && !s.socket.destroyed) {
    written += chunk.length;
    if (!s.socket.write(chunk)) {
      await Promise.race([new Promise((r) => s.socket.once('drain', r)), s.closed]);
    } else {
      await new Promise((r) => setImmediate(r)); // let the close from the hub be seen
    }
  }
  await s.closed;
  return written;
}

void t.test('a CONNECT header announcing 256 MiB (the largest length MQTT can encode) is closed after five bytes, without CONNACK', async (t) => {
  const header = Buffer.concat([Buffer.from([0x10]), varint(256 * 1024 * 1024 - 1)]);
  t.equal(header.length, 5);
  // Nothing but the header is sent: the connection can only close because of it.
  t.equal(await connackOf(port, header), null);
});

void t.test('a CONNECT streaming 200 MiB is cut off at the header, not buffered', async (t) => {
  const s = await RawSession.open(port);
  t.teardown(() => s.end());
  const before = process.memoryUsage();
  const header = Buffer.concat([Buffer.from([0x10]), varint(200 * 1024 * 1024), field('MQTT'), Buffer.from([4, 0x02]), u16(60)]);
  const written = await streamUntilClosed(s, header, 200 * 1024 * 1024);
  const after = process.memoryUsage();
  t.ok(written < 32 * 1024 * 1024, `closed after ${written} bytes (kernel buffers), far below the 200 MiB announced`);
  t.equal(s.received.length, 0, 'no CONNACK');
  t.comment(`arrayBuffers ${(before.arrayBuffers / 2 ** 20).toFixed(1)} → ${(after.arrayBuffers / 2 ** 20).toFixed(1)} MiB, rss ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB`);
  t.ok(after.arrayBuffers - before.arrayBuffers < 64 * 1024 * 1024, 'the hub did not keep the streamed bytes');
});

void t.test('an authenticated PUBLISH of 32 MB is closed at its header: no PUBACK, the device disconnected', async (t) => {
  const s = await RawSession.open(port);
  t.teardown(() => s.end());
  s.send(connectPacket({ clientId: 'big-publisher', username: 'gate-1', password: token }));
  t.equal((await s.next(2))?.body[1], 0, 'connected');
  await waitFor(() => th.hub.broker.connectedDevices().includes('gate-1'), 5000, 'gate-1 connected');
  const topic = field('fh/demo/gate-1/state');
  const size = 32 * 1000 * 1000;
  const header = Buffer.concat([Buffer.from([0x32]), varint(topic.length + 2 + size), topic, u16(1)]);
  const written = await streamUntilClosed(s, header, size);
  t.ok(written < 32 * 1024 * 1024 && s.isClosed, `closed after ${written} bytes`);
  t.notOk(s.received.some((r) => r.type === 4), 'no PUBACK');
  await waitFor(() => !th.hub.broker.connectedDevices().includes('gate-1'), 5000, 'gate-1 disconnected');
});

void t.test('a payload above the hub limit but within the packet limit is acknowledged and rejected', async (t) => {
  const s = await RawSession.open(port);
  t.teardown(() => s.end());
  s.send(connectPacket({ clientId: 'mid-publisher', username: 'gate-1', password: token }));
  t.equal((await s.next(2))?.body[1], 0);
  const before = metricValue(await th.hub.metrics.registry.metrics(), 'fh_mqtt_rejected_total', { reason: 'too-large' });
  s.send(publishPacket('fh/demo/gate-1/state', JSON.stringify({ pad: 'x'.repeat(100 * 1024) }), { qos: 1, id: 2 }));
  t.same((await s.next(4))?.body, u16(2), 'PUBACK');
  t.equal(metricValue(await th.hub.metrics.registry.metrics(), 'fh_mqtt_rejected_total', { reason: 'too-large' }), before + 1, 'rejected as too large');
  t.notOk(s.isClosed, 'the device stays connected');
});

void t.test('oversize violations are counted and logged as protocol refusals', async (t) => {
  t.ok(metricValue(await th.hub.metrics.registry.metrics(), 'fh_mqtt_refused_total', { what: 'protocol' }) >= 3);
});
