import t from 'tap';
import { joinAdjacent } from '../../../hub/broker/strict-stream.js';
import { MqttPreparser } from '../../../hub/broker/preparser.js';

void t.test('packets back to back in one read are handed on as one slice of it', async (t) => {
  const pingreq = Buffer.from([0xc0, 0x00]);
  const puback = (id: number): Buffer => Buffer.from([0x40, 0x02, 0x00, id]);
  const chunk = Buffer.concat([puback(1), pingreq, puback(2), puback(3)]);
  const parts = [chunk.subarray(0, 4), chunk.subarray(4, 6), chunk.subarray(6, 10), chunk.subarray(10, 14)];
  const joined = joinAdjacent(parts);
  t.equal(joined.length, 1, 'one slice');
  t.same(joined[0], chunk, 'the same bytes, in order');
  t.equal(joined[0]!.buffer, chunk.buffer, 'a view of the read, not a copy');
});

void t.test('a copy (a packet completed across two reads) or a gap is not joined', async (t) => {
  const a = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const copy = Buffer.from([9, 9]);
  const parts = [copy, a.subarray(0, 2), a.subarray(2, 4), a.subarray(5, 8)];
  const joined = joinAdjacent(parts);
  t.same(
    joined.map((b) => [...b]),
    [[9, 9], [1, 2, 3, 4], [6, 7, 8]],
    'joined only where adjacent in the same buffer',
  );
  t.same(joinAdjacent([]), []);
});

void t.test('through the pre-parser: what is handed on equals what was fed, however it is split', async (t) => {
  const connect = Buffer.from([0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x02, 0x63, 0x31]);
  const pingreq = Buffer.from([0xc0, 0x00]);
  const stream = Buffer.concat([connect, pingreq, pingreq, pingreq]);
  for (let cut = 1; cut < stream.length; cut++) {
    const p = new MqttPreparser({ maxPacketBytes: 1024, maxQos: 1 });
    const out: Buffer[] = [];
    for (const chunk of [stream.subarray(0, cut), stream.subarray(cut)]) {
      const { forward, violation } = p.feed(Buffer.from(chunk));
      t.equal(violation, null);
      out.push(...joinAdjacent(forward));
    }
    t.same(Buffer.concat(out), stream, `split at ${cut}`);
  }
});
