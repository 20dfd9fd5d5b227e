import t from 'tap';
import { startTestHub } from '../helpers/hub.js';
import { metricValue } from '../fixtures/mqtt.js';
import { RawSession, connectPacket, publishPacket } from '../fixtures/mqtt-raw.js';
import { flood, floodGenerator } from '../fixtures/flood.js';

/**
 * Malformed MQTT packets at the broker port (20,000 here, in process; 100,000 at the CLI hub in
 * malformed-flood-rss.test.ts) (random bytes, truncated packets,
 * oversize lengths, a valid CONNECT followed by garbage): the hub survives, keeps serving
 * devices, and holds no memory for the connections once they are gone.
 */

// 100,000 go at the hub as a child process, with its RSS measured (malformed-flood-rss.test.ts);
// here, in-process, 20,000 (the count the issue's report measured) show the same survival for a fifth of the time.
const PACKETS = Number(process.env.FH_FLOOD_PACKETS ?? 20_000);
// 100,000 connections take about a minute of CPU; on a shared, loaded machine the wall
// time varies far more than that, so this file gets its own generous limit (10 min).
t.setTimeout(600_000);

const th = await startTestHub();
t.teardown(() => th.stop());
const port = th.hub.mqttPort;
const token = th.hub.tokens.issue('gate-1');
const malformed = floodGenerator({ seed: 14, deviceId: 'gate-1', token, kind: process.env.FH_FLOOD_KIND ? Number(process.env.FH_FLOOD_KIND) : undefined });

void t.test(`${PACKETS} malformed packets: the hub survives and keeps serving`, async (t) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const rssBefore = process.memoryUsage().rss;
  const cpuBefore = process.cpuUsage();
  const sent = await flood(port, malformed, PACKETS);
  t.equal(sent, PACKETS, 'every packet sent');
  gc?.();
  const rssAfter = process.memoryUsage().rss;
  const cpu = process.cpuUsage(cpuBefore);
  t.comment(`cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s for ${PACKETS} connections (hub and generator in one process)`);
  t.comment(`rss ${(rssBefore / 2 ** 20).toFixed(0)} MiB → ${(rssAfter / 2 ** 20).toFixed(0)} MiB after ${PACKETS} malformed packets (gc ${gc ? 'forced' : 'not exposed'})`);

  const text = await th.hub.metrics.registry.metrics();
  const refused = metricValue(text, 'fh_mqtt_refused_total', { what: 'protocol' });
  t.comment(`${refused} connections refused by the pre-parser`);

  // Still serving: a device connects, publishes and is acknowledged; HTTP answers.
  const s = await RawSession.open(port);
  t.teardown(() => s.end());
  s.send(connectPacket({ clientId: 'after-flood', username: 'gate-1', password: token }));
  t.equal((await s.next(2))?.body[1], 0, 'a device still connects');
  s.send(publishPacket('fh/demo/gate-1/state', '{"mode":"normal"}', { qos: 1, id: 1 }));
  t.ok(await s.next(4), 'and is acknowledged');
  const health = await th.hub.api().inject({ method: 'GET', url: '/healthz' });
  t.equal(health.statusCode, 200, '/healthz still 200');
});
