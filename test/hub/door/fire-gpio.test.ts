/**
 * A fire panel as a dry contact on a GPIO input (the fake GPIO behind the driver's
 * interface, lent through hub/lines.ts): debounced on the hub's clock, it raises the same
 * fire alarm as an MQTT panel, and the fire behaviour follows (gates refuse `emergency`,
 * the door is unlocked, and relocked after the clear).
 */
import t from 'tap';
import { FakeDigitalInput } from '../../../drivers/gpio.js';
import { checkCharFor } from '../../../kernel/id-number.js';
import { facility, nextMessage, startTestHub } from '../../helpers/hub.js';
import { startDoorRig } from '../../helpers/door-rig.js';
import { waitFor } from '../../helpers/wait.js';

const ID17 = '11010519491231002';
const ID_NUMBER = `${ID17}${checkCharFor(ID17)}`;

const yaml = (initial = '') => `
version: 1
site: { id: demo }
zones: [{ id: eval }]
rooms:
  - { id: room-1, zone: eval, seats: 4 }
devices:
  - { id: gate-1, kind: gate, transport: { type: mqtt }, zones: [eval] }
  - { id: door-1, kind: door, transport: { type: mqtt }, zones: [eval] }
  - { id: fire-gpio, kind: fire-panel, transport: { type: gpio, line: 17, debounceMs: 50 }, zones: [eval] }
${initial}
`;

void t.test('the GPIO fire input raises the fire alarm after the debounce; gates refuse entry (emergency); the door unlocks, relocks after the clear', async (t) => {
  const input = new FakeDigitalInput({ initial: 0 });
  const r = await startDoorRig({ facility: facility(yaml()), gpioInput: (id) => (id === 'fire-gpio' ? input : new FakeDigitalInput()) });
  t.teardown(() => r.stop());
  const s = await r.runningSession();
  await waitFor(() => r.th.hub.availability.isAvailable('fire-gpio'), 2000, 'the input is open');
  const gate = await r.device('gate-1');
  await gate.publishAsync('fh/demo/gate-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });

  // Contact bounce: edges that do not hold for debounceMs change nothing.
  input.set(1);
  r.clock.advance(20);
  input.set(0);
  r.clock.advance(20);
  input.set(1);
  r.clock.advance(20);
  input.set(0);
  r.clock.advance(100);
  await r.settle();
  t.notOk(r.th.hub.alarms.list().some((a) => a.source === 'fire'), 'a bounce is not a fire');

  input.set(1);
  r.clock.advance(49);
  await r.settle();
  t.notOk(r.th.hub.alarms.list().some((a) => a.source === 'fire'), 'not before the level held for debounceMs');
  r.clock.advance(1);
  await waitFor(() => r.th.hub.alarms.list().some((a) => a.id === 'fire:fire-gpio'), 2000, 'the fire alarm');
  t.match(r.th.hub.alarms.list().find((a) => a.id === 'fire:fire-gpio'), { severity: 'critical', source: 'fire', deviceId: 'fire-gpio' });
  await waitFor(() => r.th.hub.events.query({ type: 'alarm.raised', sessionId: s.id }).some((e) => e.data.id === 'fire:fire-gpio'), 2000, 'attached to the session');
  t.match(r.th.hub.events.query({ type: 'device.event' }).filter((e) => e.deviceId === 'fire-gpio'), [{ data: { type: 'alarm', source: 'gpio' } }], 'the panel event in the log');
  t.match(r.th.hub.availability.get('fire-gpio')?.state, { alarm: true });

  const answer = nextMessage(gate, 'fh/demo/gate-1/verify/result');
  await gate.publishAsync('fh/demo/gate-1/verify', JSON.stringify({ requestId: 'r-gpio-1', idNumber: ID_NUMBER, name: '张三', faceScore: 0.99, liveness: true }), { qos: 1 });
  t.match(await answer, { requestId: 'r-gpio-1', decision: 'deny', reason: 'emergency' }, 'gates refuse entry');
  await waitFor(() => !r.door.locked() && r.door.executed.some((c) => c.cmd === 'unlock'), 3000, 'the door unlocked per fire.door');

  input.set(0);
  r.clock.advance(50);
  await waitFor(() => !r.th.hub.alarms.list().some((a) => a.id === 'fire:fire-gpio'), 2000, 'cleared with the contact');
  await waitFor(() => r.door.locked() && r.door.executed.some((c) => c.cmd === 'lock'), 3000, 'the door relocked after the clear');
  const after = nextMessage(gate, 'fh/demo/gate-1/verify/result');
  await gate.publishAsync('fh/demo/gate-1/verify', JSON.stringify({ requestId: 'r-gpio-2', idNumber: ID_NUMBER, name: '张三', faceScore: 0.99, liveness: true }), { qos: 1 });
  t.match(await after, { requestId: 'r-gpio-2', reason: 'not-on-roster' }, 'entry decided by the roster again');
});

void t.test('a GPIO fire input already closed when the hub starts is a fire at once; one that cannot be opened is unavailable', async (t) => {
  const input = new FakeDigitalInput({ initial: 1 });
  const r = await startDoorRig({ facility: facility(yaml()), gpioInput: () => input });
  t.teardown(() => r.stop());
  await waitFor(() => r.th.hub.alarms.list().some((a) => a.id === 'fire:fire-gpio'), 2000, 'fire at start');

  const broken = new FakeDigitalInput();
  broken.setFailure({ kind: 'disconnected', message: 'line 17 busy' });
  const th = await startTestHub({ full: true, facility: facility(yaml()), extra: { lines: { gpioInput: () => broken } } });
  t.teardown(() => th.stop());
  t.notOk(th.hub.availability.isAvailable('fire-gpio'));
  t.match(th.hub.availability.get('fire-gpio')?.reason, /GPIO disconnected: line 17 busy/);
  t.notOk(th.hub.alarms.list().some((a) => a.source === 'fire'), 'an unreadable input is no fire');
  broken.setFailure(null);
  broken.set(1);
  await waitFor(() => th.hub.availability.isAvailable('fire-gpio'), 3000, 'available again once it answers (its debounce runs on the system clock here)');
  await waitFor(() => th.hub.alarms.list().some((a) => a.id === 'fire:fire-gpio'), 3000, 'and its alarm counts');
});

void t.test('the config accepts a fire panel on GPIO, and only the GPIO fields', async (t) => {
  t.match(facility(yaml()).devices.find((d) => d.id === 'fire-gpio')?.transport, { type: 'gpio', line: 17, activeLow: false, debounceMs: 50 });
  t.throws(() => facility(yaml().replace('debounceMs: 50', 'debounceMs: 50, pin: 3')), /pin/);
});
