/**
 * A delivery end to end over the real broker: an operator adds it through the API, the hub
 * dispatches it to the robot simulator (an MQTT client), the robot reports each step, the
 * test plays the door (it opens when the hub says the robot has a task there), and every
 * step is in the session's log and on the bus as `robot.task`.
 */
import t from 'tap';
import { robotRig, robotSteps } from '../../helpers/robot-rig.js';

const stops = [
  { room: 'room-1', seat: 2, items: ['午餐', '水'] },
  { room: 'room-1', seat: 4, items: ['午餐'] },
];

void t.test('the task life cycle over MQTT, with the door hand-off', async (t) => {
  const r = await robotRig();
  t.teardown(() => r.stop());
  const sessionId = await r.session();
  const res = await r.api('POST', '/api/robot/tasks', { id: 'lunch-1', sessionId, stops });
  t.equal(res.statusCode, 201, res.body);
  t.match(res.json(), { id: 'lunch-1', robotId: 'robot-1', doorId: 'door-1', sessionId, state: 'queued', source: 'user:admin' });

  await r.until(() => r.task('lunch-1').state === 'at-door' && r.doorRequests.length === 1, 'the robot at the door');
  t.same(r.doorRequests, ['door-1'], 'the robot asked the door (its Node event)');
  t.equal(r.robot.activeTaskAt('door-1', 'robot-1'), 'lunch-1', 'the door may open for it');
  t.equal(r.robot.activeTaskAt('door-1', 'robot-2'), null, 'not for another robot');
  t.equal(r.robot.activeTaskAt('door-2', 'robot-1'), null, 'not at another door');
  r.sim.doorOpened('door-1');

  await r.until(() => r.task('lunch-1').state === 'delivered', 'both seats delivered');
  t.same(r.task('lunch-1').stops.map((s) => s.delivered), [true, true]);
  t.equal(r.robot.activeTaskAt('door-1', 'robot-1'), 'lunch-1', 'on its way out it still has the task at the door');
  await r.until(() => r.doorRequests.length === 2, 'the robot at the door from inside');
  r.sim.doorOpened('door-1');
  await r.until(() => r.task('lunch-1').state === 'returned', 'returned');
  await r.robot.idle();
  t.equal(r.robot.activeTaskAt('door-1', 'robot-1'), null, 'no task at the door once returned');

  t.same(robotSteps(r.h.th.hub, sessionId), [
    ['queued', 'queued', null],
    ['dispatched', 'dispatched', null],
    ['at-door', 'at-door', null],
    ['in-area', 'in-area', null],
    ['delivered', 'in-area', 2],
    ['delivered', 'delivered', 4],
    ['returned', 'returned', null],
  ], "every step is in the session's log");
  t.same(
    r.busEvents.map((e) => e.state),
    ['queued', 'dispatched', 'at-door', 'in-area', 'in-area', 'delivered', 'returned'],
    'robot.task on the bus at every step',
  );
  t.match(r.busEvents[0], { robotId: 'robot-1', taskId: 'lunch-1', doorId: 'door-1', sessionId });
  t.equal(r.sim.executed.filter((c) => c.cmd === 'dispatch').length, 1, 'dispatched once');

  const list = await r.api('GET', `/api/robot/tasks?sessionId=${sessionId}&state=returned`);
  t.equal(list.statusCode, 200);
  t.same(list.json().tasks.map((x: { id: string }) => x.id), ['lunch-1']);
});

void t.test('a repeated request never creates a second task; the id with another request is a conflict', async (t) => {
  const r = await robotRig();
  t.teardown(() => r.stop());
  const sessionId = await r.session();
  const body = { id: 'extra-water', sessionId, stops: [{ room: 'room-2', seat: 1, items: ['水'] }] };
  t.equal((await r.api('POST', '/api/robot/tasks', body)).statusCode, 201);
  const again = await r.api('POST', '/api/robot/tasks', body);
  t.equal(again.statusCode, 200, 'the same request again: the same task');
  t.equal(again.json().id, 'extra-water');
  const clash = await r.api('POST', '/api/robot/tasks', { ...body, stops: [{ room: 'room-2', seat: 3, items: ['水'] }] });
  t.equal(clash.statusCode, 409);
  t.match(clash.json(), { code: 'HUB_ERR_CONFLICT', message: /^任务编号 extra-water 已用于另一请求 \/ task id extra-water is already used/ });
  t.equal(r.robot.tasks({ sessionId }).length, 1, 'one task');
  t.equal(r.h.th.hub.events.query({ sessionId }).filter((e) => e.type === 'robot.task' && e.data.step === 'queued').length, 1, 'queued once in the log');
  await r.until(() => r.task('extra-water').state === 'at-door' && r.doorRequests.length === 1, 'at the door');
  // The same dispatch again (a retry after a lost ack, with a new command id) does not start a second run.
  const again2 = await r.h.th.hub.devices.get('robot-1')!.execute({ cmd: 'dispatch', args: { taskId: 'extra-water', door: 'door-1', stops: [{ room: 'room-2', seat: 1, items: ['水'] }] }, issuer: 'automation:robot' });
  t.match(again2, { ok: true, result: { taskId: 'extra-water', already: true } }, 'the robot answers that it carries it already');
  await r.robot.idle();
  t.equal(r.sim.currentTask(), 'extra-water');
  t.equal(r.task('extra-water').state, 'at-door', 'still the one run');
  t.equal(r.doorRequests.length, 1, 'it did not set off again');
});

void t.test('the door does not open: the task fails with door-not-opened', async (t) => {
  const r = await robotRig();
  t.teardown(() => r.stop());
  const sessionId = await r.session();
  await r.api('POST', '/api/robot/tasks', { id: 'no-door', sessionId, stops: [{ room: 'room-1', seat: 1, items: ['午餐'] }] });
  await r.until(() => r.task('no-door').state === 'at-door', 'at the door');
  await r.until(() => r.task('no-door').state === 'failed', 'failed after the door timeout');
  t.equal(r.task('no-door').reason, 'door-not-opened');
  t.equal(r.robot.activeTaskAt('door-1', 'robot-1'), null);
});
