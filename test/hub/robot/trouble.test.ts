/**
 * Low battery and fire during a delivery, over the real broker with the robot simulator
 * and the fire panel simulator: a task not yet in the area goes back to the queue (and out
 * again once the robot has charged), one in the area fails with the reason; a fire alarm
 * parks the robot and suspends its tasks until an admin resumes them after the clear.
 */
import t from 'tap';
import { robotRig } from '../../helpers/robot-rig.js';

const stop = (seat: number) => [{ room: 'room-1', seat, items: ['午餐'] }];

void t.test('low battery: re-queued before the area, dispatched again once charged; failed in the area', async (t) => {
  const r = await robotRig({ sim: { chargePerMinute: 20 } });
  t.teardown(() => r.stop());
  const sessionId = await r.session();
  await r.api('POST', '/api/robot/tasks', { id: 'b-1', sessionId, stops: stop(1) });
  await r.until(() => r.task('b-1').state === 'at-door' && r.doorRequests.length === 1, 'at the door');
  await r.sim.batteryLow(12);
  await r.robot.idle();
  t.match(r.task('b-1'), { state: 'queued', reason: 'battery-low (12%)' }, 're-queued with the reason');
  t.equal(r.sim.currentTask(), null, 'the robot dropped it');
  const requeued = r.h.th.hub.events.query({ sessionId }).find((e) => e.type === 'robot.task' && e.data.step === 'requeued');
  t.match(requeued, { data: { taskId: 'b-1', from: 'at-door', to: 'queued', reason: 'battery-low (12%)' } }, 'the step is in the session log');
  // Nothing goes out until the robot has charged (50 %): two minutes at 20 %/min.
  r.clock.advance(30_000);
  await r.robot.idle();
  t.equal(r.task('b-1').state, 'queued', 'held while the battery is low');
  await r.until(() => r.task('b-1').state === 'at-door' && r.doorRequests.length === 2, 'dispatched again after charging', 1000);
  t.ok(Number(r.h.th.hub.availability.get('robot-1')!.state.battery) >= 50, 'charged');
  r.sim.doorOpened('door-1');
  await r.until(() => r.task('b-1').state === 'in-area', 'in the area');
  await r.sim.batteryLow(9);
  await r.robot.idle();
  t.match(r.task('b-1'), { state: 'failed', reason: 'battery-low (9%)' }, 'in the area: failed with the reason');
});

void t.test('a fault fails the task in the area', async (t) => {
  const r = await robotRig();
  t.teardown(() => r.stop());
  const sessionId = await r.session();
  await r.api('POST', '/api/robot/tasks', { id: 'f-1', sessionId, stops: stop(2) });
  await r.until(() => r.doorRequests.length === 1, 'at the door');
  r.sim.doorOpened('door-1');
  await r.until(() => r.task('f-1').state === 'in-area', 'in the area');
  await r.sim.fault('E-DRIVE');
  await r.robot.idle();
  t.match(r.task('f-1'), { state: 'failed', reason: 'fault: E-DRIVE' });
});

void t.test('fire during a delivery: the robot parks, the task is suspended until an admin resumes it after the clear', async (t) => {
  const r = await robotRig();
  t.teardown(() => r.stop());
  const panel = await r.firePanel();
  const sessionId = await r.session();
  await r.api('POST', '/api/robot/tasks', { id: 'x-1', sessionId, stops: [...stop(1), ...stop(3)] });
  await r.until(() => r.doorRequests.length === 1, 'at the door');
  r.sim.doorOpened('door-1');
  await r.until(() => r.task('x-1').state === 'in-area', 'in the area');

  await panel.alarm();
  await r.until(() => r.task('x-1').state === 'suspended' && r.h.th.hub.availability.get('robot-1')?.state.parked === true, 'suspended and parked');
  t.match(r.task('x-1'), { state: 'suspended', suspendedFrom: 'in-area', reason: 'fire alarm (fire-1)' });
  t.ok(r.sim.executed.some((c) => c.cmd === 'park'), 'the fire reaction parked the robot');
  const delivered = r.task('x-1').stops.filter((s) => s.delivered).length;
  r.clock.advance(30_000);
  await r.robot.idle();
  t.equal(r.task('x-1').stops.filter((s) => s.delivered).length, delivered, 'a parked robot delivers nothing');
  t.equal(r.task('x-1').state, 'suspended');

  const during = await r.api('POST', '/api/robot/tasks/x-1/resume');
  t.equal(during.statusCode, 409, 'no resume while the panel is in alarm');
  t.match(during.json().message, /^火警未解除/);

  await panel.clear();
  await r.until(() => r.h.th.hub.alarms.list().every((a) => !a.id.startsWith('fire:')), 'the fire alarm cleared');
  r.clock.advance(30_000);
  await r.robot.idle();
  t.equal(r.task('x-1').state, 'suspended', 'after the clear it stays suspended');

  const res = await r.api('POST', '/api/robot/tasks/x-1/resume');
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { state: 'in-area', suspendedFrom: null });
  await r.until(() => r.doorRequests.length === 2, 'delivered and back at the door');
  r.sim.doorOpened('door-1');
  await r.until(() => r.task('x-1').state === 'returned', 'returned');
  const steps = r.h.th.hub.events.query({ sessionId }).filter((e) => e.type === 'robot.task').map((e) => e.data.step);
  t.match(steps.join(' '), /in-area .*suspended .*resumed .*delivered .*returned/, 'suspended and resumed are steps in the log');
});
