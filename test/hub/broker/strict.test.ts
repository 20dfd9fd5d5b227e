import t, { type Test } from 'tap';
import { startTestHub, waitFor } from '../../helpers/hub.js';
import { metricValue } from '../../fixtures/mqtt.js';
import { PINGREQ, RawSession, connackOf, connectPacket, field, packet, publishPacket, subscribePacket, u16, unsubscribePacket, varint, type ConnectSpec } from '../../fixtures/mqtt-raw.js';

/**
 * One test per MQTT 3.1.1 rule, each sending the raw packet over TCP to a real hub broker
 * (port 0). "Closed" means the broker ended the connection without answering the packet.
 */

const th = await startTestHub();
t.teardown(() => th.stop());
const port = th.hub.mqttPort;
const token = th.hub.tokens.issue('gate-1');
let n = 0;

function eventsCount(): number {
  return (th.hub.store.db.prepare("SELECT COUNT(*) AS n FROM events WHERE type IN ('device.state', 'device.event')").get() as { n: number }).n;
}

/** A valid CONNECT of gate-1 with a fresh client id, plus overrides. */
function gateConnect(spec: Partial<ConnectSpec> = {}): Buffer {
  return connectPacket({ clientId: `strict-${++n}`, username: 'gate-1', password: token, ...spec });
}

/** A raw session that completed CONNECT / CONNACK 0. */
async function connected(t: Test): Promise<RawSession> {
  const s = await RawSession.open(port);
  t.teardown(() => s.end());
  s.send(gateConnect());
  const ack = await s.next(2);
  if (!ack || ack.body[1] !== 0) throw new Error(`gate-1 could not connect: ${ack ? ack.body[1] : 'closed'}`);
  return s;
}

/** Connects, sends `bytes`, and answers whether the broker closed without a packet of `answerType`. */
async function closedWithoutAnswer(t: Test, bytes: Buffer, answerType: number): Promise<boolean> {
  const s = await connected(t);
  s.send(bytes);
  const answer = await s.next(answerType);
  return answer === null && s.isClosed;
}

void t.test('a valid CONNECT is accepted (the baseline every refusal below differs from by one rule)', async (t) => {
  t.equal(await connackOf(port, gateConnect()), 0);
  // CJK and U+FEFF are valid UTF-8 and kept [MQTT-1.5.3-3].
  t.equal(await connackOf(port, gateConnect({ clientId: '\uFEFF闸机-一号' })), 0);
  const s = await connected(t);
  s.send(PINGREQ);
  t.ok(await s.next(13), 'PINGRESP on a healthy connection');
});

void t.test('CONNECT: the reserved flag set [MQTT-3.1.2-3] closes without CONNACK', async (t) => {
  t.equal(await connackOf(port, gateConnect({ flags: 0xc2 | 0x01 })), null);
});

void t.test('CONNECT: will QoS without the will flag [MQTT-3.1.2-13] closes without CONNACK', async (t) => {
  t.equal(await connackOf(port, gateConnect({ flags: 0xc2 | 0x08 })), null);
});

void t.test('CONNECT: will retain without the will flag [MQTT-3.1.2-15] closes without CONNACK', async (t) => {
  t.equal(await connackOf(port, gateConnect({ flags: 0xc2 | 0x20 })), null);
});

void t.test('CONNECT: will QoS 3 [MQTT-3.1.2-14] closes without CONNACK', async (t) => {
  t.equal(await connackOf(port, gateConnect({ will: { topic: 'fh/demo/gate-1/status', payload: '{"online":false}', qos: 3 } })), null);
});

void t.test('CONNECT: a password without a user name [MQTT-3.1.2-22] closes without CONNACK', async (t) => {
  t.equal(await connackOf(port, connectPacket({ clientId: 'pw-only', password: token, flags: 0x42 })), null);
});

void t.test('CONNECT: a user name its flag says is absent [MQTT-3.1.2-18] closes without CONNACK', async (t) => {
  t.equal(await connackOf(port, connectPacket({ clientId: 'user-no-flag', trailing: field('gate-1') })), null);
});

void t.test('CONNECT: a password its flag says is absent [MQTT-3.1.2-20] closes without CONNACK', async (t) => {
  t.equal(await connackOf(port, gateConnect({ flags: 0x82, password: undefined, trailing: field(token) })), null);
});

void t.test('CONNECT: a will its flag says is absent [MQTT-3.1.2-11] closes without CONNACK', async (t) => {
  // Flags say "user name, password, no will", but a will topic and message come first.
  const body = Buffer.concat([field('MQTT'), Buffer.from([4, 0xc2]), u16(60), field('will-no-flag'), field('fh/demo/gate-1/status'), field('{}'), field('gate-1'), field(token)]);
  t.equal(await connackOf(port, packet(0x10, body)), null);
});

void t.test('CONNECT: trailing bytes after the fields close without CONNACK', async (t) => {
  t.equal(await connackOf(port, gateConnect({ trailing: Buffer.from([0x00]) })), null);
});

void t.test('CONNECT: a remaining length shorter than the fields closes without CONNACK', async (t) => {
  const good = gateConnect();
  // Claim two bytes fewer than the fields need (the password is cut short).
  const body = good.subarray(2);
  t.equal(await connackOf(port, Buffer.concat([Buffer.from([0x10]), varint(body.length - 2), body.subarray(0, body.length - 2)])), null);
});

void t.test('CONNECT: protocol "MQTT" with level 3 gets CONNACK 0x01 [MQTT-3.1.2-2]', async (t) => {
  t.equal(await connackOf(port, gateConnect({ level: 3 })), 1);
});

void t.test('CONNECT: protocol "MQTT" with level 5 gets CONNACK 0x01 [MQTT-3.1.2-2]', async (t) => {
  t.equal(await connackOf(port, gateConnect({ level: 5 })), 1);
});

void t.test('CONNECT: protocol "MQIsdp" with level 4 gets CONNACK 0x01', async (t) => {
  t.equal(await connackOf(port, gateConnect({ protocolName: 'MQIsdp', level: 4 })), 1);
});

void t.test('CONNECT: an unknown protocol name closes without CONNACK [MQTT-3.1.2-1]', async (t) => {
  t.equal(await connackOf(port, gateConnect({ protocolName: 'MQTX' })), null);
});

const badUtf8: [string, Buffer][] = [
  ['U+0000 [MQTT-1.5.3-2]', Buffer.from([0x61, 0x00, 0x62])],
  ['a surrogate U+D800 [MQTT-1.5.3-1]', Buffer.from([0x61, 0xed, 0xa0, 0x80])],
  ['an invalid byte 0xFF [MQTT-1.5.3-1]', Buffer.from([0x61, 0xff])],
  ['an overlong encoding of "/" [MQTT-1.5.3-1]', Buffer.from([0x61, 0xc0, 0xaf])],
  ['a truncated sequence [MQTT-1.5.3-1]', Buffer.from([0x61, 0xe4, 0xb8])],
  ['a control character U+0001', Buffer.from([0x61, 0x01])],
  ['a C1 control character U+0085', Buffer.from([0x61, 0xc2, 0x85])],
  ['a non-character U+FFFF', Buffer.from([0x61, 0xef, 0xbf, 0xbf])],
];

for (const [what, bytes] of badUtf8) {
  void t.test(`CONNECT: client id with ${what} closes without CONNACK`, async (t) => {
    t.equal(await connackOf(port, gateConnect({ clientId: bytes })), null);
  });
}

void t.test('CONNECT: user name with U+0000 closes without CONNACK', async (t) => {
  t.equal(await connackOf(port, gateConnect({ username: Buffer.from('gate-1\u0000', 'utf8') })), null);
});

void t.test('CONNECT: user name with a surrogate closes without CONNACK', async (t) => {
  t.equal(await connackOf(port, gateConnect({ username: Buffer.concat([Buffer.from('gate-1'), Buffer.from([0xed, 0xbf, 0xbf])]) })), null);
});

void t.test('CONNECT: will topic with a surrogate closes without CONNACK', async (t) => {
  const topic = Buffer.concat([Buffer.from('fh/demo/gate-1/status'), Buffer.from([0xed, 0xa0, 0x80])]);
  t.equal(await connackOf(port, gateConnect({ will: { topic, payload: '{}', qos: 1 } })), null);
});

void t.test('CONNECT: will topic with a wildcard closes without CONNACK', async (t) => {
  t.equal(await connackOf(port, gateConnect({ will: { topic: 'fh/demo/gate-1/+', payload: '{}', qos: 1 } })), null);
});

void t.test('CONNECT: will QoS 2 is accepted, downgraded to QoS 1, and the will reaches the hub', async (t) => {
  const s = await RawSession.open(port);
  t.teardown(() => s.end());
  s.send(gateConnect({ will: { topic: 'fh/demo/gate-1/status', payload: '{"online":false}', qos: 2, retain: true } }));
  const ack = await s.next(2);
  t.equal(ack?.body[1], 0, 'CONNACK 0, not 5');
  s.send(publishPacket('fh/demo/gate-1/status', '{"online":true}', { qos: 1, id: 7, retain: true }));
  t.ok(await s.next(4), 'PUBACK');
  t.equal(th.hub.availability.isAvailable('gate-1'), true);
  const before = metricValue(await th.hub.metrics.registry.metrics(), 'fh_mqtt_messages_total', { subtopic: 'status' });
  s.end(); // abrupt close: aedes publishes the will
  await waitFor(() => !th.hub.availability.isAvailable('gate-1'), 5000, 'the will made gate-1 unavailable');
  t.equal(metricValue(await th.hub.metrics.registry.metrics(), 'fh_mqtt_messages_total', { subtopic: 'status' }), before + 1, 'the will was taken by the hub');
});

void t.test('the first packet is not CONNECT [MQTT-3.1.0-1]: closed', async (t) => {
  t.equal(await connackOf(port, PINGREQ), null);
});

void t.test('a second CONNECT [MQTT-3.1.0-2]: closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, gateConnect(), 2));
});

void t.test('a Remaining Length of five bytes is malformed: closed', async (t) => {
  t.equal(await connackOf(port, Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])), null);
});

void t.test('PUBLISH: a topic name with "+" [MQTT-3.3.2-2] is closed, not acknowledged, and stores nothing', async (t) => {
  const before = eventsCount();
  t.ok(await closedWithoutAnswer(t, publishPacket('fh/demo/gate-1/+', '{"type":"x"}', { qos: 1, id: 1 }), 4));
  t.equal(eventsCount(), before, 'nothing stored');
});

void t.test('PUBLISH: a topic name with "#" [MQTT-3.3.2-2] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, publishPacket('fh/demo/gate-1/#', '{}', { qos: 1, id: 1 }), 4));
});

void t.test('PUBLISH: an empty topic name [MQTT-4.7.3-1] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, publishPacket('', '{}', { qos: 1, id: 1 }), 4));
});

void t.test('PUBLISH: a topic name with U+0000 [MQTT-1.5.3-2] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, publishPacket(Buffer.from('fh/demo/gate-1/state\u0000x'), '{}', { qos: 1, id: 1 }), 4));
});

void t.test('PUBLISH: a topic name with invalid UTF-8 [MQTT-1.5.3-1] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, publishPacket(Buffer.concat([Buffer.from('fh/demo/gate-1/'), Buffer.from([0xc3, 0x28])]), '{}', { qos: 1, id: 1 }), 4));
});

void t.test('PUBLISH: QoS 1 with packet identifier 0 [MQTT-2.3.1-1] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, publishPacket('fh/demo/gate-1/event', '{"type":"x"}', { qos: 1, id: 0 }), 4));
});

void t.test('PUBLISH: QoS 0 with the DUP flag [MQTT-3.3.1-2] is closed', async (t) => {
  const s = await connected(t);
  s.send(publishPacket('fh/demo/gate-1/event', '{"type":"x"}', { qos: 0, dup: true }), PINGREQ);
  t.equal(await s.next(13), null, 'no PINGRESP: closed at the PUBLISH');
});

void t.test('PUBLISH: QoS 3 [MQTT-3.3.1-4] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, publishPacket('fh/demo/gate-1/event', '{}', { qos: 3, id: 1 }), 4));
});

void t.test('PUBLISH: a remaining length too short for the packet identifier is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, packet(0x32, field('fh/demo/gate-1/event'), Buffer.from([0x00])), 4));
});

void t.test('PUBLISH: the same packet with a valid topic and id is acknowledged (baseline)', async (t) => {
  const s = await connected(t);
  s.send(publishPacket('fh/demo/gate-1/state', '{"mode":"normal"}', { qos: 1, id: 9 }));
  const ack = await s.next(4);
  t.same(ack?.body, u16(9));
});

void t.test('SUBSCRIBE: the filter "ab/+e" [MQTT-4.7.1-3] is closed without SUBACK', async (t) => {
  t.ok(await closedWithoutAnswer(t, subscribePacket(1, [['ab/+e', 1]]), 9));
});

void t.test('SUBSCRIBE: "#" not last [MQTT-4.7.1-2] is closed without SUBACK', async (t) => {
  t.ok(await closedWithoutAnswer(t, subscribePacket(1, [['fh/#/x', 1]]), 9));
});

void t.test('SUBSCRIBE: "a#" (not a whole level) is closed without SUBACK', async (t) => {
  t.ok(await closedWithoutAnswer(t, subscribePacket(1, [['fh/demo/hub/a#', 1]]), 9));
});

void t.test('SUBSCRIBE: an empty filter [MQTT-4.7.3-1] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, subscribePacket(1, [['', 1]]), 9));
});

void t.test('SUBSCRIBE: a filter with U+0000 is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, subscribePacket(1, [[Buffer.from('fh/demo/hub/\u0000'), 1]]), 9));
});

void t.test('SUBSCRIBE: packet identifier 0 [MQTT-2.3.1-1] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, subscribePacket(0, [['fh/demo/gate-1/cmd', 1]]), 9));
});

void t.test('SUBSCRIBE: reserved fixed header flags 0000 [MQTT-3.8.1-1] are closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, subscribePacket(1, [['fh/demo/gate-1/cmd', 1]], 0x80), 9));
});

void t.test('SUBSCRIBE: no filter at all [MQTT-3.8.3-3] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, subscribePacket(1, []), 9));
});

void t.test('SUBSCRIBE: requested QoS 3 [MQTT-3.8.3-4] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, subscribePacket(1, [['fh/demo/gate-1/cmd', 3]]), 9));
});

void t.test('SUBSCRIBE: reserved bits in the requested QoS byte [MQTT-3.8.3-4] are closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, subscribePacket(1, [['fh/demo/gate-1/cmd', 0x41]]), 9));
});

void t.test('SUBACK carries the granted QoS: 2 requested, 1 granted, messages at QoS 1 [MQTT-3.9.3-2]', async (t) => {
  const s = await connected(t);
  s.send(subscribePacket(5, [['fh/demo/gate-1/cmd', 2], ['fh/demo/hub/#', 0], ['fh/demo/door-1/cmd', 2]]));
  const suback = await s.next(9);
  t.same(suback && [...suback.body], [0, 5, 1, 0, 0x80], 'granted 1, 0, and failure for the filter outside the ACL');
  await th.hub.broker.publish('fh/demo/gate-1/cmd', { id: 'q', cmd: 'lock', args: {} }, { qos: 1 });
  const msg = await s.next(3);
  t.equal(msg && (msg.flags >> 1) & 3, 1, 'delivered at QoS 1, as granted');
});

void t.test('UNSUBSCRIBE: the filter "ab/+e" is closed without UNSUBACK', async (t) => {
  t.ok(await closedWithoutAnswer(t, unsubscribePacket(1, ['ab/+e']), 11));
});

void t.test('UNSUBSCRIBE: packet identifier 0 is closed without UNSUBACK', async (t) => {
  t.ok(await closedWithoutAnswer(t, unsubscribePacket(0, ['fh/demo/gate-1/cmd']), 11));
});

void t.test('UNSUBSCRIBE: no filter [MQTT-3.10.3-2] is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, unsubscribePacket(1, []), 11));
});

void t.test('PUBACK: packet identifier 0 is closed', async (t) => {
  const s = await connected(t);
  s.send(packet(0x40, u16(0)), PINGREQ);
  t.equal(await s.next(13), null);
});

void t.test('PUBACK: a truncated packet (remaining length 1) is closed', async (t) => {
  const s = await connected(t);
  s.send(Buffer.from([0x40, 0x01, 0x01]), PINGREQ);
  t.equal(await s.next(13), null);
});

void t.test('PUBACK: remaining length 3 is closed', async (t) => {
  const s = await connected(t);
  s.send(Buffer.from([0x40, 0x03, 0x00, 0x01, 0x00]), PINGREQ);
  t.equal(await s.next(13), null);
});

void t.test('PUBREL: reserved flags 0000 instead of 0010 are closed', async (t) => {
  const s = await connected(t);
  s.send(packet(0x60, u16(1)), PINGREQ);
  t.equal(await s.next(13), null);
});

void t.test('PINGREQ: a remaining length of 1 is closed', async (t) => {
  t.ok(await closedWithoutAnswer(t, Buffer.from([0xc0, 0x01, 0x00]), 13));
});

void t.test('a server-only packet (CONNACK) sent by a client is closed', async (t) => {
  const s = await connected(t);
  s.send(Buffer.from([0x20, 0x02, 0x00, 0x00]), PINGREQ);
  t.equal(await s.next(13), null);
});

void t.test('a reserved packet type (15) is closed', async (t) => {
  const s = await connected(t);
  s.send(Buffer.from([0xf0, 0x00]), PINGREQ);
  t.equal(await s.next(13), null);
});

void t.test('every violation is counted', async (t) => {
  t.ok(metricValue(await th.hub.metrics.registry.metrics(), 'fh_mqtt_refused_total', { what: 'protocol' }) >= 40);
});
