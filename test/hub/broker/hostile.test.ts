import t from 'tap';
import { ManualClock } from '../../../kernel/clock.js';
import { startTestHub, waitFor } from '../../helpers/hub.js';
import { captureLogs } from '../../fixtures/logs.js';
import { metricValue } from '../../fixtures/mqtt.js';
import { RawSession, connackOf, connectPacket, subscribePacket } from '../../fixtures/mqtt-raw.js';

/** Slow and hostile clients: a frozen subscriber, connection floods, wrong-token floods. */

void t.test('a frozen subscriber is dropped after the drain timeout; another subscriber gets every message', async (t) => {
  const th = await startTestHub({ extra: { brokerLimits: { drainTimeoutMs: 300 } } });
  t.teardown(() => th.stop());
  const token = th.hub.tokens.issue('gate-1');
  const frozen = await RawSession.open(th.hub.mqttPort);
  t.teardown(() => frozen.end());
  frozen.send(connectPacket({ clientId: 'frozen', username: 'gate-1', password: token }));
  t.equal((await frozen.next(2))?.body[1], 0);
  frozen.send(subscribePacket(1, [['fh/demo/hub/#', 1]]));
  t.ok(await frozen.next(9), 'SUBACK');
  frozen.socket.pause(); // from now on it reads nothing: its socket fills up

  const door = await th.connectDevice('door-1');
  await door.subscribeAsync('fh/demo/hub/#', { qos: 1 });
  let got = 0;
  door.on('message', () => got++);

  // 400 × 60 KiB = 24 MB: far more than the loopback socket buffers hold.
  const payload = { pad: 'x'.repeat(60 * 1024) };
  const N = 400;
  for (let i = 0; i < N; i++) await th.hub.broker.publish(`fh/demo/hub/bulk`, { ...payload, i }, { qos: 1 });
  await waitFor(() => !th.hub.broker.connectedDevices().includes('gate-1'), 10_000, 'the frozen gate was dropped');
  await waitFor(() => got === N, 20_000, `the door received all ${N} messages (got ${got})`);
  t.equal(got, N, 'no message lost for the healthy subscriber');
  t.ok(door.connected, 'the healthy subscriber stays connected');
});

void t.test('a connection flood from one address is cut off, logged once, and admitted again once it slows', async (t) => {
  const clock = new ManualClock();
  const logs = captureLogs();
  const th = await startTestHub({ clock, log: logs.log, extra: { brokerLimits: { exemptLoopback: false, connectBurst: 5, connectPerSecond: 1 } } });
  t.teardown(() => th.stop());
  const codes: (number | null)[] = [];
  for (let i = 0; i < 20; i++) codes.push(await connackOf(th.hub.mqttPort, connectPacket({ clientId: `flood-${i}` })));
  t.same(codes.slice(0, 5), [4, 4, 4, 4, 4], 'the burst is served (and refused for lacking credentials)');
  t.same(codes.slice(5), new Array(15).fill(null), 'the rest closed at once, without reading a byte');
  t.equal(metricValue(await th.hub.metrics.registry.metrics(), 'fh_mqtt_refused_total', { what: 'flood' }), 15);
  t.equal(logs.records().filter((r) => /connection flood/.test(String(r.msg))).length, 1, 'logged once');
  clock.advance(3_000); // three connections' worth of refill
  t.equal(await connackOf(th.hub.mqttPort, connectPacket({ clientId: 'after' })), 4, 'served again');
});

void t.test('a wrong-token flood locks the address out before any token is checked, logged once', async (t) => {
  const clock = new ManualClock();
  const logs = captureLogs();
  const th = await startTestHub({ clock, log: logs.log, extra: { connectThrottle: { freeFailures: 3, baseLockMs: 60_000, maxLockMs: 60_000, forgetAfterMs: 600_000, maxKeys: 100 } } });
  t.teardown(() => th.stop());
  const token = th.hub.tokens.issue('gate-1');
  let checks = 0;
  const original = th.hub.tokens.check.bind(th.hub.tokens);
  th.hub.tokens.check = (id, tk) => {
    checks++;
    return original(id, tk);
  };
  const codes: (number | null)[] = [];
  for (let i = 0; i < 8; i++) codes.push(await connackOf(th.hub.mqttPort, connectPacket({ clientId: `guess-${i}`, username: 'gate-1', password: `fhd_guess-${i}` })));
  t.same(codes, [4, 4, 4, 3, 3, 3, 3, 3], 'three wrong tokens refused, then the address is locked out (server unavailable)');
  t.equal(checks, 3, 'only the first three tokens were checked (hashing spared)');
  t.equal(await connackOf(th.hub.mqttPort, connectPacket({ clientId: 'right', username: 'gate-1', password: token })), 3, 'even the right token waits out the lock');
  t.equal(logs.records().filter((r) => /throttled/.test(String(r.msg))).length, 1, 'logged once');
  t.notOk(logs.text().includes('fhd_guess'), 'no presented token in the logs');
  clock.advance(60_001);
  t.equal(await connackOf(th.hub.mqttPort, connectPacket({ clientId: 'right-later', username: 'gate-1', password: token })), 0, 'admitted after the lock');
});
