/**
 * The robot and the door together, as the demo runs them: the door simulator's reader sees
 * the robot at the door and asks the hub (open-request), the hub's door feature grants it
 * only because the robot feature has the robot's task at that door, the door opens and
 * the robot passes — in and out — and the door is locked again behind it.
 */
import t from 'tap';
import { robotRig } from '../helpers/robot-rig.js';
import { doorSimulator } from '../../simulators/door.js';
import { linkRobotsAndDoors } from '../../simulators/run.js';
import { silentLogger } from '../../hub/log.js';

void t.test('a delivery through the real door: the hub opens it for the robot on its task, twice, and it locks behind', async (t) => {
  const r = await robotRig();
  const hub = r.h.th.hub;
  const door = doorSimulator(hub.facility.devices.find((d) => d.id === 'door-1')!, { url: r.h.th.mqttUrl, site: hub.facility.site.id, token: hub.tokens.issue('door-1'), clock: r.clock, log: silentLogger(), reconnectMs: 0 });
  await door.start();
  // The door first: a stopping hub no longer waits for commands in flight (it abandons them).
  t.teardown(async () => {
    await door.stop().catch(() => undefined);
    await r.stop();
  });
  await r.until(() => hub.availability.isAvailable('door-1'), 'the door online', 1);
  linkRobotsAndDoors([
    { deviceId: 'robot-1', stop: async () => {}, handle: r.sim },
    { deviceId: 'door-1', stop: async () => {}, handle: door },
  ]);
  const opened: string[] = [];
  door.on('opened', (_id, requester) => opened.push(requester ? `${requester.kind}:${requester.id}` : 'unknown'));

  const sessionId = await r.session();
  const res = await r.api('POST', '/api/robot/tasks', { id: 'lunch-link', sessionId, stops: [{ room: 'room-1', seat: 1, items: ['午餐'] }] });
  t.equal(res.statusCode, 201, res.body);

  await r.until(() => r.task('lunch-link').state === 'returned', 'the robot back at its dock');
  t.same(opened, ['robot:robot-1', 'robot:robot-1'], 'the door opened for the robot on the way in and out, for nobody else');
  const decisions = hub.events.query({ type: 'door.decision', sessionId }).map((e) => [e.data.decision, e.data.why, e.data.taskId]);
  t.same(decisions, [
    ['grant', 'robot-task', 'lunch-link'],
    ['grant', 'robot-task', 'lunch-link'],
  ], 'both grants logged against the session with the task');
  await r.until(() => door.locked() && door.contact() === 'closed', 'the door closed and locked behind the robot');
  t.equal(r.task('lunch-link').stops[0]?.delivered, true, 'the seat got its meal');

  // A card at the reader during the session is refused (and raised as an alarm).
  const before = opened.length;
  const denied: string[] = [];
  door.on('denied', (_id, requestId) => denied.push(requestId));
  const cardRequest = await door.requestOpen({ kind: 'card', id: '0012345678' });
  await r.until(() => hub.events.query({ type: 'door.decision', sessionId }).length === 3 && denied.includes(cardRequest), 'the card decided, and the door told');
  t.match(hub.events.query({ type: 'door.decision', sessionId })[2]?.data, { decision: 'deny', requester: { kind: 'card' } });
  t.equal(opened.length, before, 'the door stayed shut for the card');
});
