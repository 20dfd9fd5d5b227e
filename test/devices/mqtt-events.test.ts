import t from 'tap';
import { checkEvent, MAX_EVENT_BYTES } from '../../devices/mqtt-device.js';
import { MQTT_KINDS, firePanelSpec, gateSpec, robotSpec } from '../../devices/kinds.js';
import { doorSpec } from '../../devices/door.js';
import { startTestHub } from '../helpers/hub.js';
import { captureLogs } from '../fixtures/logs.js';

const NOW = 1_790_000_000_000;

void t.test('every kind accepts the events other code and the simulators rely on', async (t) => {
  const good: [typeof gateSpec, Record<string, unknown>][] = [
    [gateSpec, { type: 'passed', requestId: 'gate-1:42', ts: NOW }],
    [gateSpec, { type: 'exit', requestId: 'gate-1:42' }],
    [gateSpec, { type: 'exit', idNumber: '11010519491231002X', ts: '2026-11-28T09:30:00+08:00' }],
    [gateSpec, { type: 'tamper', detail: 'cover opened' }],
    [gateSpec, { type: 'forced-open' }],
    [gateSpec, { type: 'offline-pass', requestId: 'off-1', idHash: 'a'.repeat(64), sessionId: 's-1', ts: NOW }],
    [doorSpec, { type: 'opened' }],
    [doorSpec, { type: 'opened', by: 'card' }],
    [doorSpec, { type: 'closed', ts: NOW }],
    [doorSpec, { type: 'forced-open' }],
    [doorSpec, { type: 'held-open', seconds: 90 }],
    [doorSpec, { type: 'open-request', requestId: 'door-1-42', requester: { kind: 'robot', id: 'robot-1' } }],
    [doorSpec, { type: 'open-request', requestId: 'r:7', requester: { kind: 'card', id: '0012345678' }, ts: NOW }],
    [doorSpec, { type: 'opened', by: 'robot', requestId: 'door-1-42' }],
    [robotSpec, { type: 'task', taskId: 'meal-202611281130-room-1', state: 'at-door' }],
    [robotSpec, { type: 'task', taskId: 't-1', state: 'delivered', room: 'room-2', seat: 3 }],
    [robotSpec, { type: 'task', taskId: 't-1', state: 'failed', reason: 'door-not-opened' }],
    [robotSpec, { type: 'blocked', where: 'corridor B' }],
    [robotSpec, { type: 'battery-low', battery: 12.5, taskId: 't-1' }],
    [robotSpec, { type: 'fault', code: 'E-DRIVE' }],
    [firePanelSpec, { type: 'alarm', zone: 'evaluation-area' }],
    [firePanelSpec, { type: 'clear' }],
    [firePanelSpec, { type: 'fault', code: 'E12' }],
  ];
  for (const [spec, payload] of good) {
    const r = checkEvent(spec, payload, NOW);
    t.notOk('error' in r, `${spec.kind} ${String(payload.type)}: ${'error' in r ? r.error : 'ok'}`);
    if (!('error' in r)) t.type(r.event.ts, 'number', 'ts normalised to epoch ms');
  }
  t.same(Object.keys(MQTT_KINDS).sort(), ['door', 'fire-panel', 'gate', 'robot']);
});

void t.test('what does not fit its kind is rejected with the reason', async (t) => {
  const bad: [typeof gateSpec, unknown, RegExp][] = [
    [doorSpec, { type: 'opened', marker: 'x' }, /opened: event\.marker: Unexpected property/],
    [doorSpec, { type: 'held-open', seconds: -1 }, /held-open: event\.seconds: .*(greater|>=)/i],
    [doorSpec, { type: 'opened', by: 'crowbar' }, /event\.by/],
    [doorSpec, { type: 'open-request', requester: { kind: 'robot', id: 'robot-1' } }, /open-request: event.*requestId/],
    [doorSpec, { type: 'open-request', requestId: 'r-1', requester: { kind: 'drone', id: 'd-1' } }, /event\.requester\.kind/],
    [doorSpec, { type: 'open-request', requestId: 'r-1', requester: { kind: 'card', id: 'has space' } }, /event\.requester\.id/],
    [doorSpec, { type: 'open-request', requestId: 'r-1', requester: { kind: 'card', id: 'c', name: '张三' } }, /Unexpected property/],
    [doorSpec, { type: 'self-destruct' }, /unknown event type "self-destruct" for a door \(known: opened, closed, forced-open, held-open, open-request\)/],
    [gateSpec, { type: 'passed' }, /passed: event(\.requestId)?: .*requestId|Expected required property/],
    [gateSpec, { type: 'passed', requestId: 'has space' }, /event\.requestId/],
    [gateSpec, { type: 'offline-pass', requestId: 'o', idHash: 'xyz', sessionId: 's' }, /event\.idHash/],
    [robotSpec, { type: 'task', taskId: 't-1', state: 'delivered', room: 'Room 1', seat: 1 }, /event\.room/],
    [robotSpec, { type: 'task', taskId: 't-1', state: 'teleported' }, /event\.state/],
    [robotSpec, { type: 'task', state: 'returned' }, /taskId/],
    [robotSpec, { type: 'arrived', room: 'room-1' }, /unknown event type "arrived" for a robot/],
    [robotSpec, { type: 'battery-low', battery: 120 }, /event\.battery/],
    [firePanelSpec, { type: 'alarm', zone: 'z'.repeat(65) }, /event\.zone/],
    [firePanelSpec, { type: 'alarm', detail: 'd'.repeat(201) }, /event\.detail/],
    [firePanelSpec, { type: 'alarm', nested: { deep: [1, 2, 3] } }, /Unexpected property/],
    [firePanelSpec, { type: 'alarm', ts: 'yesterday' }, /event\.ts must be ISO-8601/],
    [firePanelSpec, { type: 'alarm', ts: -5 }, /event\.ts/],
    [firePanelSpec, { type: 'Alarm' }, /event\.type must be a lower-case name/],
    [firePanelSpec, ['alarm'], /event must be a JSON object/],
    [firePanelSpec, { type: 'alarm', detail: 'x'.repeat(MAX_EVENT_BYTES) }, /event too large: \d+ bytes > 2048/],
  ];
  for (const [spec, payload, reason] of bad) {
    const r = checkEvent(spec, payload, NOW);
    t.ok('error' in r, `${spec.kind} ${JSON.stringify(payload).slice(0, 60)} rejected`);
    if ('error' in r) t.match(r.error, reason);
  }
});

void t.test('over real MQTT: a rejected event is not stored, the reason is logged; valid ones keep their effects', async (t) => {
  const logs = captureLogs();
  const th = await startTestHub({ log: logs.log });
  t.teardown(() => th.stop());
  const door = await th.connectDevice('door-1');
  const fire = await th.connectDevice('fire-1');
  const fired: boolean[] = [];
  th.hub.bus.on('test', 'fire.alarm', (e) => {
    fired.push(e.active);
  });
  const count = (): number => th.hub.events.query({ type: 'device.event', limit: 5000 }).length;
  const before = count();
  await door.publishAsync('fh/demo/door-1/event', JSON.stringify({ type: 'opened', payload: 'x'.repeat(1000) }), { qos: 1 });
  await door.publishAsync('fh/demo/door-1/event', JSON.stringify({ type: 'forced-open', detail: 'y'.repeat(3000) }), { qos: 1 });
  await fire.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'alarm', zone: 42 }), { qos: 1 });
  t.equal(count(), before, 'nothing stored');
  const rejected = logs.records().filter((r) => r.msg === 'device message rejected');
  t.equal(rejected.length, 3);
  t.match(rejected.map((r) => r.reason), [/opened: event\.payload: Unexpected property/, /event too large/, /alarm: event\.zone/]);
  t.same(fired, [], 'a rejected alarm has no effect');

  await door.publishAsync('fh/demo/door-1/event', JSON.stringify({ type: 'forced-open' }), { qos: 1 });
  await door.publishAsync('fh/demo/door-1/event', JSON.stringify({ type: 'held-open', seconds: 120 }), { qos: 1 });
  await fire.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'alarm', zone: 'evaluation-area' }), { qos: 1 });
  await fire.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'clear' }), { qos: 1 });
  t.same(
    th.hub.events.query({ type: 'device.event', limit: 5000 }).slice(-4).map((e) => e.data.type),
    ['forced-open', 'held-open', 'alarm', 'clear'],
  );
  t.same(fired, [true, false], 'the fire alarm and its clear reach the bus');
});
