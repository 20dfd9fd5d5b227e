/**
 * hub/memory.ts: the start's memory settings change what the process keeps, never what goes
 * on the wire. mqtt-packet (aedes' encoder) would otherwise build and keep 65,536 Buffers on
 * its first write (docs/reliability.md, "Memory").
 */
import t from 'tap';
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import { leanMqttEncoder } from '../../hub/memory.js';
import { STORE_CACHE_KIB, Store } from '../../hub/store/store.js';
import { EventLog } from '../../hub/store/events.js';
import { silentLogger } from '../../hub/log.js';
import { systemClock } from '../../kernel/clock.js';
import { tempDir } from '../helpers/hub.js';

interface MqttPacket {
  writeToStream: ((packet: Record<string, unknown>, stream: NodeJS.WritableStream) => boolean) & { cacheNumbers: boolean };
  generate: (packet: Record<string, unknown>) => Buffer;
}

// The copy aedes loads, as hub/memory.ts resolves it.
const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'));
const mqttPacket = fromAedes('mqtt-packet') as MqttPacket;
const numbers = fromAedes('mqtt-packet/numbers') as { cache: Record<number, Buffer> };

void t.test('the encoder keeps no number table and still writes packet ids and lengths right', async (t) => {
  t.equal(leanMqttEncoder(), false, 'the setting is in force');
  t.equal(mqttPacket.writeToStream.cacheNumbers, false);
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const packet = { cmd: 'publish', topic: 'fh/demo/gate-1/verify/result', payload: Buffer.from('{"decision":"grant"}'), qos: 1, messageId: 0x1234, retain: false, dup: false };
  for (let id = 1; id <= 2000; id++) mqttPacket.writeToStream({ ...packet, messageId: id }, out);
  mqttPacket.writeToStream(packet, out);
  await new Promise((r) => setImmediate(r));
  const written = Buffer.concat(chunks);
  // The last packet, byte for byte as mqtt-packet's own generate() (which never uses the table) makes it.
  const expected = mqttPacket.generate(packet);
  t.same(written.subarray(written.length - expected.length), expected, 'the same bytes as without the table');
  t.equal(written.readUInt16BE(written.length - expected.length + 2 + 2 + packet.topic.length), 0x1234, 'the packet id is where it belongs');
  t.equal(Object.keys(numbers.cache).length, 0, 'no table of 65,536 Buffers was built');
});

void t.test("the store's page cache is bounded at 4 MiB, not better-sqlite3's 16 MiB, and the log still reads back", async (t) => {
  const { dir, cleanup } = tempDir();
  const store = new Store({ dataDir: dir, log: silentLogger() });
  t.teardown(async () => {
    await store.close();
    cleanup();
  });
  t.equal(STORE_CACHE_KIB, 4096);
  t.equal(store.db.pragma('cache_size', { simple: true }), -STORE_CACHE_KIB, 'a negative cache_size is KiB');
  // More than the cache holds, so pages leave it and are read again from the file.
  const log = new EventLog(store, () => systemClock.now());
  const big = 'x'.repeat(2_000);
  for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 300 }, (_, j) => log.append({ type: 'device.event', actor: 'device:door-1', deviceId: 'door-1', data: { i, j, big } })));
  const pages = Number(store.db.pragma('page_count', { simple: true }));
  const pageSize = Number(store.db.pragma('page_size', { simple: true }));
  t.ok((pages * pageSize) / 1024 > STORE_CACHE_KIB, 'the file is larger than the cache');
  t.equal(log.count(), 3_000);
  const row = store.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number };
  t.equal(row.n, 3_000, 'every record reads back');
});
