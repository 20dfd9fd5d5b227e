import t, { type Test } from 'tap';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { StrictMqttStream } from '../../../hub/broker/strict-stream.js';

/** A connected pair over loopback TCP: the server's end wrapped in the broker's stream. */
async function pair(t: Test): Promise<{ stream: StrictMqttStream; server: Socket; client: Socket; received: () => Buffer }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const accepted = once(srv, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  const [server] = await accepted;
  const chunks: Buffer[] = [];
  client.on('data', (b: Buffer) => chunks.push(b));
  const stream = new StrictMqttStream(server, { maxPacketBytes: 65_536, maxQos: 1 }, () => undefined);
  t.teardown(() => {
    client.destroy();
    server.destroy();
    srv.close();
  });
  return { stream, server, client, received: () => Buffer.concat(chunks) };
}

const puback = (id: number): Buffer => Buffer.from([0x40, 0x02, 0x00, id]);

void t.test("what is written in one turn of the loop reaches the socket as one write, in order", async (t) => {
  const { stream, server, received } = await pair(t);
  // Socket writes as the kernel sees them: a write outside cork/uncork is one, and a corked
  // group is one (a writev).
  let socketWrites = 0;
  let corked = false;
  let inGroup = 0;
  const { cork, uncork, write } = { cork: server.cork.bind(server), uncork: server.uncork.bind(server), write: server.write.bind(server) };
  server.cork = () => {
    corked = true;
    cork();
  };
  server.uncork = () => {
    if (corked && inGroup > 0) socketWrites++;
    corked = false;
    inGroup = 0;
    uncork();
  };
  server.write = ((chunk: Buffer) => {
    if (corked) inGroup++;
    else socketWrites++;
    return write(chunk);
  });
  // Three answers in three ticks of one turn, as aedes writes them (mqtt-packet uncorks
  // on the next tick).
  stream.write(puback(1));
  process.nextTick(() => stream.write(puback(2)));
  process.nextTick(() => process.nextTick(() => stream.write(puback(3))));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.equal(socketWrites, 1, 'one corked socket write for the turn');
  await new Promise((r) => setTimeout(r, 50));
  t.same([...received()], [...puback(1), ...puback(2), ...puback(3)], 'every byte, in order');
});

void t.test('a write made just before the stream is destroyed still leaves (a refusal, then close)', async (t) => {
  const { stream, client, received } = await pair(t);
  stream.write(Buffer.from([0x20, 0x02, 0x00, 0x05]));
  process.nextTick(() => stream.destroy());
  await once(client, 'close');
  t.same([...received()], [0x20, 0x02, 0x00, 0x05], 'the CONNACK arrived before the close');
});

void t.test('a socket that does not drain holds the next write until it does', async (t) => {
  const { stream, server, client } = await pair(t);
  client.pause();
  const big = Buffer.alloc(1 << 20, 0x30);
  let more = true;
  let writes = 0;
  // Fill until the stream itself refuses more (its own buffer full behind a held write).
  while (more && writes < 64) {
    more = stream.write(big);
    writes++;
    await new Promise((r) => setImmediate(r));
  }
  t.equal(more, false, 'the stream says stop once the socket is full');
  t.ok(server.writableNeedDrain, 'the socket is the one that is full');
  const drained = once(stream, 'drain');
  client.resume();
  await drained;
  t.pass('drain reached the writer once the peer read');
});
