/**
 * Reports the hub cannot place: an unknown task, a step out of order, a seat that is not a
 * stop. Sent by a raw MQTT client logged in as the robot; each is rejected with a logged
 * reason (a `robot.report.rejected` record) and changes nothing.
 */
import t from 'tap';
import type { MqttClient } from 'mqtt';
import { robotRig } from '../../helpers/robot-rig.js';

void t.test('unknown tasks and out-of-order reports are rejected and change nothing', async (t) => {
  const r = await robotRig({ startSim: false });
  t.teardown(() => r.stop());
  const robot: MqttClient = await r.h.th.connectDevice('robot-1');
  // This robot takes every command (acks ok) and reports only what the test says.
  await robot.subscribeAsync('fh/demo/robot-1/cmd', { qos: 1 });
  robot.on('message', (topic, payload) => {
    const cmd = JSON.parse(payload.toString()) as { id: string };
    // A device answering while the test may be ending: its PUBACK may never come.
    void robot.publishAsync(`${topic}/ack`, JSON.stringify({ id: cmd.id, ok: true }), { qos: 1 }).catch(() => undefined);
  });
  const sessionId = await r.session();
  const report = (fields: Record<string, unknown>) => robot.publishAsync('fh/demo/robot-1/event', JSON.stringify({ type: 'task', ...fields }), { qos: 1 });
  const rejected = () => r.h.th.hub.events.query({ type: 'robot.report.rejected' });

  t.equal((await r.api('POST', '/api/robot/tasks', { id: 't-1', sessionId, stops: [{ room: 'room-1', seat: 1, items: ['午餐'] }] })).statusCode, 201);
  const before = JSON.stringify(r.task('t-1'));

  await report({ taskId: 'nope', state: 'dispatched' });
  await report({ taskId: 't-1', state: 'in-area' });
  await report({ taskId: 't-1', state: 'returned' });
  t.equal(JSON.stringify(r.task('t-1')), before, 'the task is as it was');
  t.same(
    rejected().map((e) => e.data.reason),
    ['unknown task nope', 'task t-1: in-area reported while the task is queued (expected after at-door)', 'task t-1: returned reported while the task is queued (expected after delivered)'],
    'each rejection is logged with its reason',
  );
  t.same(rejected()[1]!.sessionIds, [sessionId], "in the task's session log");

  await report({ taskId: 't-1', state: 'dispatched' });
  await report({ taskId: 't-1', state: 'at-door' });
  await report({ taskId: 't-1', state: 'in-area' });
  t.equal(r.task('t-1').state, 'in-area');
  const inArea = JSON.stringify(r.task('t-1'));
  await report({ taskId: 't-1', state: 'delivered', room: 'room-2', seat: 1 });
  await report({ taskId: 't-1', state: 'delivered', room: 'room-1', seat: 1 });
  await report({ taskId: 't-1', state: 'delivered', room: 'room-1', seat: 1 });
  t.match(rejected().map((e) => e.data.reason).slice(3), ['task t-1: room-2 seat 1 is not a stop of this task', 'task t-1: delivered reported while the task is delivered (expected after in-area)']);
  t.not(JSON.stringify(r.task('t-1')), inArea, 'the right seat was delivered');
  t.equal(r.task('t-1').state, 'delivered');
  // A report that does not match the schema never reaches the life cycle.
  await robot.publishAsync('fh/demo/robot-1/event', JSON.stringify({ type: 'task', taskId: 't-1', state: 'teleported' }), { qos: 1 });
  t.equal(r.task('t-1').state, 'delivered', 'an unknown state changes nothing');
  t.equal(r.h.th.hub.events.query({ sessionId }).filter((e) => e.type === 'robot.task').length, 5, 'queued + four accepted steps, nothing for the rejected ones');
});
