import t from 'tap';
import { connect as netConnect } from 'node:net';
import { startTestHub } from '../helpers/hub.js';
import { metricValue } from '../fixtures/mqtt.js';
import { RawSession, connectPacket, publishPacket, varint } from '../fixtures/mqtt-raw.js';

/**
 * 100,000 malformed MQTT packets at the broker port (random bytes, truncated packets,
 * oversize lengths, a valid CONNECT followed by garbage): the hub survives, keeps serving
 * devices, and holds no memory for the connections once they are gone.
 */

const PACKETS = Number(process.env.FH_FLOOD_PACKETS ?? 100_000);
const PARALLEL = 64;

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

// 100,000 connections take about a minute of CPU; on a shared, loaded machine the wall
// time varies far more than that, so this file gets its own generous limit (10 min).
t.setTimeout(600_000);

const th = await startTestHub();
t.teardown(() => th.stop());
const port = th.hub.mqttPort;
const token = th.hub.tokens.issue('gate-1');
const SEED = 14;
const rand = rng(SEED);
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
const validConnect = connectPacket({ clientId: 'flood-valid', username: 'gate-1', password: token });

/** The i-th malformed packet (several packets per kind, chosen by i). */
function malformed(i: number): Buffer {
  switch (process.env.FH_FLOOD_KIND ? Number(process.env.FH_FLOOD_KIND) : i % 4) {
    case 0: // random bytes
      return bytes(2 + Math.floor(rand() * 62));
    case 1: {
      // a valid CONNECT cut short, or with a remaining length that does not match
      const c = connectPacket({ clientId: `t-${i}`, username: 'gate-1', password: 'x' });
      return rand() < 0.5 ? c.subarray(0, 1 + Math.floor(rand() * (c.length - 1))) : Buffer.concat([c.subarray(0, 1), Buffer.from([c[1]! + 1 + Math.floor(rand() * 5)]), c.subarray(2)]);
    }
    case 2: // an oversize length, CONNECT or PUBLISH, with a little body
      return Buffer.concat([Buffer.from([rand() < 0.5 ? 0x10 : 0x30]), varint(200_000 + Math.floor(rand() * 268_000_000)), bytes(16)]);
    default: {
      // A valid CONNECT, then garbage: 1 in 32 from a real device with its token (admitted,
      // so the garbage hits an authenticated session), the others from unknown devices.
      const c = rand() < 1 / 32 ? validConnect : connectPacket({ clientId: `g-${i}`, username: `no-such-device-${i % 7}`, password: 'x' });
      return Buffer.concat([c, bytes(1 + Math.floor(rand() * 40))]);
    }
  }
}

/** Sends one packet on its own connection and ends it; resolves when the socket is closed. */
function fire(packet: Buffer, i: number): Promise<void> {
  return new Promise((resolve) => {
    // Source addresses spread over 127.0.0.0/8: 100,000 short connections from one address
    // would exhaust its ephemeral ports while the hub's closes sit in TIME_WAIT.
    const s = netConnect({ port, host: '127.0.0.1', localAddress: `127.0.${1 + (i % 200)}.${1 + ((i >> 8) % 250)}` });
    s.on('error', () => undefined);
    s.on('close', () => resolve());
    s.on('connect', () => s.end(packet));
    s.resume(); // discard any CONNACK
  });
}

void t.test(`${PACKETS} malformed packets: the hub survives and keeps serving`, async (t) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const rssBefore = process.memoryUsage().rss;
  const cpuBefore = process.cpuUsage();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < PACKETS) {
      const i = next++;
      await fire(malformed(i), i);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  t.equal(next, PACKETS, 'every packet sent');
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
