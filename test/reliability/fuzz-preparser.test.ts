import t from 'tap';
import fc from 'fast-check';
import { MqttPreparser } from '../../hub/broker/preparser.js';
import { PINGREQ, connectPacket, publishPacket, subscribePacket, unsubscribePacket } from '../fixtures/mqtt-raw.js';

/**
 * Property tests of the strict pre-parser: whatever bytes arrive, in whatever chunks, it
 * never throws, never holds more than one packet, forwards only a prefix of what it was
 * given, and reaches the same verdict however the stream was cut.
 */

const LIMIT = 2048;

function run(stream: Uint8Array, cuts: number[], maxQos: 0 | 1 | 2): { out: Buffer; violation: string | null; maxHeld: number } {
  const p = new MqttPreparser({ maxPacketBytes: LIMIT, maxQos });
  const copy = Buffer.from(stream); // the pre-parser may cap SUBSCRIBE QoS in place
  const points = [...new Set(cuts.map((c) => c % (copy.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let violation: string | null = null;
  let maxHeld = 0;
  let from = 0;
  for (const to of [...points, copy.length]) {
    if (to <= from) continue;
    const r = p.feed(copy.subarray(from, to));
    out.push(...r.forward);
    maxHeld = Math.max(maxHeld, p.heldBytes);
    from = to;
    if (r.violation) {
      violation = r.violation.reason;
      break;
    }
  }
  return { out: Buffer.concat(out), violation, maxHeld };
}

const CONNECT = connectPacket({ clientId: 'fuzz', username: 'gate-1', password: 'x' });

/** Streams that start like a real session: a valid CONNECT, then anything. */
const afterConnect = fc.uint8Array({ maxLength: 300 }).map((tail) => Buffer.concat([CONNECT, tail]));
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 300 }), afterConnect);
const cuts = fc.array(fc.nat(), { maxLength: 12 });

void t.test('never throws; forwards a prefix of the input; holds at most one packet under the limit', async (t) => {
  fc.assert(
    fc.property(anyBytes, cuts, (bytes, cs) => {
      const r = run(bytes, cs, 2); // maxQos 2: nothing is rewritten, so the output must be a prefix
      return r.out.equals(Buffer.from(bytes).subarray(0, r.out.length)) && r.maxHeld < LIMIT;
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random streams');
});

void t.test('the verdict and the forwarded bytes do not depend on how the stream is cut', async (t) => {
  fc.assert(
    fc.property(anyBytes, cuts, (bytes, cs) => {
      const whole = run(bytes, [], 1);
      const cut = run(bytes, cs, 1);
      return whole.violation === cut.violation && whole.out.equals(cut.out);
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random streams, two cuttings each');
});

const level = fc.stringMatching(/^[a-z0-9\u4e00-\u4e10-]{1,8}$/);
const topicName = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
const filter = fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 4 }).chain((l) => fc.boolean().map((hash) => [...l, ...(hash ? ['#'] : [])].join('/')));
const id = fc.integer({ min: 1, max: 65535 });
const validPacket = fc.oneof(
  fc.tuple(topicName, fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 2 }), id).map(([tp, payload, qos, i]) => publishPacket(tp, Buffer.from(payload), { qos, id: i })),
  fc.tuple(id, fc.array(fc.tuple(filter, fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 4 })).map(([i, subs]) => subscribePacket(i, subs)),
  fc.tuple(id, fc.array(filter, { minLength: 1, maxLength: 4 })).map(([i, fs]) => unsubscribePacket(i, fs)),
  fc.constant(PINGREQ),
);

void t.test('a valid session of any shape passes whole, in any chunks', async (t) => {
  fc.assert(
    fc.property(fc.array(validPacket, { maxLength: 20 }), cuts, (packets, cs) => {
      const stream = Buffer.concat([CONNECT, ...packets]);
      const r = run(stream, cs, 2);
      return r.violation === null && r.out.equals(stream);
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 valid sessions');
});
