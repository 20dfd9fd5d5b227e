import t from 'tap';
import { MqttPreparser, filterProblem, utf8Problem } from '../../../hub/broker/preparser.js';
import { PINGREQ, connectPacket, packet, publishPacket, subscribePacket, varint } from '../../fixtures/mqtt-raw.js';

/** The pre-parser on its own: framing across chunks, what it forwards, what it holds. */

const opts = { maxPacketBytes: 4096, maxQos: 1 as const };
const CONNECT = connectPacket({ clientId: 'p', username: 'gate-1', password: 'x' });

void t.test('packets split across chunks are forwarded whole, once, in order', async (t) => {
  const p = new MqttPreparser(opts);
  const stream = Buffer.concat([CONNECT, publishPacket('a/b', 'x'.repeat(300), { qos: 1, id: 3 }), PINGREQ]);
  const out: Buffer[] = [];
  let maxHeld = 0;
  for (let i = 0; i < stream.length; i++) {
    const r = p.feed(stream.subarray(i, i + 1));
    t.equal(r.violation, null);
    out.push(...r.forward);
    maxHeld = Math.max(maxHeld, p.heldBytes);
  }
  t.same(Buffer.concat(out), stream, 'every byte forwarded exactly once');
  t.ok(maxHeld < 400, 'never more than one packet held');
  t.equal(p.heldBytes, 0);
});

void t.test('several packets in one chunk come out as one slice; a partial tail is held', async (t) => {
  const p = new MqttPreparser(opts);
  const r = p.feed(Buffer.concat([CONNECT, PINGREQ, PINGREQ.subarray(0, 1)]));
  t.equal(r.forward.length, 1);
  t.equal(r.forward[0]!.length, CONNECT.length + 2);
  t.equal(p.heldBytes, 1);
  t.same(p.feed(PINGREQ.subarray(1)).forward, [PINGREQ]);
});

void t.test('the size limit applies when the Remaining Length is read, before the body', async (t) => {
  const p = new MqttPreparser(opts);
  const r = p.feed(Buffer.concat([Buffer.from([0x10]), varint(256 * 1024 * 1024 - 1)]));
  t.match(r.violation?.reason, /announced, limit 4096/);
  t.equal(p.heldBytes, 0, 'nothing held');
  t.match(p.feed(PINGREQ).violation?.reason, /already failed/, 'a failed connection stays failed');
});

void t.test('valid packets before a violation are forwarded, nothing after it', async (t) => {
  const p = new MqttPreparser(opts);
  const r = p.feed(Buffer.concat([CONNECT, PINGREQ, Buffer.from([0xc0, 0x01, 0x00]), PINGREQ]));
  t.same(r.forward, [Buffer.concat([CONNECT, PINGREQ])]);
  t.match(r.violation?.reason, /PINGREQ remaining length 1/);
});

void t.test('a SUBSCRIBE asking for more than the hub grants is capped in place', async (t) => {
  const p = new MqttPreparser(opts);
  p.feed(CONNECT);
  const sub = subscribePacket(1, [['a/#', 2], ['b', 0]]);
  const r = p.feed(sub);
  t.equal(r.violation, null);
  t.same([...r.forward[0]!.subarray(-5)], [1, 0, 1, 0x62, 0], 'QoS 2 became 1; QoS 0 unchanged');
});

void t.test('a CONNECT with an unsupported level asks for CONNACK 0x01', async (t) => {
  const p = new MqttPreparser(opts);
  t.equal(p.feed(connectPacket({ level: 3 })).violation?.connack, 1);
});

void t.test('UTF-8 rules', async (t) => {
  const check = (bytes: number[]): string | null => utf8Problem(Buffer.from(bytes), 0, bytes.length);
  t.equal(check([...Buffer.from('fh/demo/闸机/😀\uFEFF')]), null, 'CJK, emoji and BOM are fine');
  t.match(check([0x00]), /U\+0000/);
  t.match(check([0xed, 0xa0, 0x80]), /surrogate/);
  t.match(check([0xf4, 0x90, 0x80, 0x80]), /out of range/);
  t.match(check([0xe0, 0x80, 0xaf]), /overlong/);
  t.match(check([0xe4, 0x41, 0x41]), /well-formed/);
  t.match(check([0xf0, 0x9f, 0xbf, 0xbe]), /non-character/, 'U+1FFFE');
  t.match(check([0xef, 0xb7, 0x90]), /non-character/, 'U+FDD0');
  t.match(check([0x7f]), /control/);
});

void t.test('topic filter rules', async (t) => {
  const check = (s: string): string | null => filterProblem(Buffer.from(s), 0, Buffer.byteLength(s));
  for (const ok of ['#', '+', '+/+', 'a/+/b', 'a/#', '/', '//', 'a//b', '+/#', 'fh/demo/hub/#']) t.equal(check(ok), null, ok);
  for (const bad of ['ab/+e', 'a+', '+a', 'a/#/b', 'a#', '#/', '##', 'a/b#']) t.not(check(bad), null, bad);
});

void t.test('a whole packet of exactly the limit passes; one byte more does not', async (t) => {
  const p = new MqttPreparser({ maxPacketBytes: 64, maxQos: 1 });
  p.feed(CONNECT.length <= 64 ? CONNECT : connectPacket({ clientId: 'c' }));
  const body = Buffer.alloc(64 - 2);
  body.writeUInt16BE(1, 0);
  body[2] = 0x61; // topic "a", then payload
  t.equal(p.feed(packet(0x30, body)).violation, null);
  t.not(p.feed(packet(0x30, Buffer.concat([body, Buffer.from([0])]))).violation, null);
});
