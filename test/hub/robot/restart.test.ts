/**
 * A hub restart in the middle of a delivery: the task, its state and the seats already
 * served are on disk (migration 7); the new hub lets the robot finish it without
 * dispatching it again, lets the door open for it on its way out, and logs the steps that
 * follow against the same session.
 */
import t from 'tap';
import { ManualClock } from '../../../kernel/clock.js';
import { silentLogger } from '../../../hub/log.js';
import type { RobotFeature } from '../../../hub/robot/feature.js';
import { robotSimulator } from '../../../simulators/robot.js';
import { checkinHarness, iso, T0 } from '../../helpers/checkin.js';
import { facility, tempDir } from '../../helpers/hub.js';
import { FAST, MIN, ROBOT_FACILITY, robotSteps } from '../../helpers/robot-rig.js';
import { advanceUntil } from '../../helpers/power-sims.js';
import { waitFor } from '../../helpers/wait.js';

void t.test('a hub restart mid-delivery: the task resumes where it was, not dispatched again', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const clock = new ManualClock(T0);
  const fac = facility(ROBOT_FACILITY);

  // --- first run: dispatched, through the door, the first seat served ---
  const h1 = await checkinHarness({ facility: fac, clock, dataDir: tmp.dir });
  const hub1 = h1.th.hub;
  const robot1 = hub1.features.find((f) => f.name === 'robot') as RobotFeature;
  const sim = robotSimulator(hub1.facility.devices.find((d) => d.id === 'robot-1')!, { url: h1.th.mqttUrl, site: 'demo', token: hub1.tokens.issue('robot-1'), clock, log: silentLogger(), reconnectMs: 0 }, { timing: FAST });
  const atDoor: string[] = [];
  sim.on('at-door', (door) => atDoor.push(door));
  await sim.start();
  await waitFor(() => hub1.availability.isAvailable('robot-1'), 5000, 'robot-1 online');
  const session = await h1.createSession({ code: 'R-RESTART', name: '送餐重启', start: iso(clock.now() - 10 * MIN), end: iso(clock.now() + 300 * MIN), rooms: ['room-1', 'room-2'] });
  const auth = { authorization: `Bearer ${h1.token}` };
  const created = await hub1.api().inject({ method: 'POST', url: '/api/robot/tasks', headers: auth, payload: { id: 'lunch-r', sessionId: session.id, stops: [{ room: 'room-1', seat: 1, items: ['午餐'] }, { room: 'room-1', seat: 3, items: ['午餐'] }] } });
  t.equal(created.statusCode, 201, `task created (${created.statusCode === 201 ? 'ok' : created.body})`);
  const step = (cond: () => boolean, what: string): Promise<void> => advanceUntil(clock, cond, what, 200, 8000);
  await step(() => robot1.get('lunch-r')?.state === 'at-door' && atDoor.length === 1, 'the robot at the door');
  sim.doorOpened('door-1');
  await step(() => robot1.get('lunch-r')?.stops[0]?.delivered === true, 'the first seat served');
  await robot1.idle();
  // The robot keeps its job; the hub goes away (an upgrade, a crash) while it is in the area.
  await sim.stop();
  await h1.stop();

  // --- second run, same data dir ---
  const h2 = await checkinHarness({ facility: fac, clock, dataDir: tmp.dir });
  t.teardown(() => h2.stop());
  const hub2 = h2.th.hub;
  const robot2 = hub2.features.find((f) => f.name === 'robot') as RobotFeature;
  const task = robot2.get('lunch-r');
  t.match(task, { id: 'lunch-r', sessionId: session.id, robotId: 'robot-1', doorId: 'door-1', state: 'in-area' }, 'the task is back in its state');
  t.same(task?.stops.map((s) => s.delivered), [true, false], 'the seat already served stays served');
  t.equal(robot2.activeTaskAt('door-1', 'robot-1'), 'lunch-r', 'the door may still open for it on its way out');

  // The robot, reconnecting, reports the rest as it would (a raw client speaking the contract).
  const raw = await h2.th.connectDevice('robot-1');
  t.teardown(() => raw.endAsync(true));
  const commands: string[] = [];
  await raw.subscribeAsync('fh/demo/robot-1/cmd', { qos: 1 });
  raw.on('message', (topic, payload) => {
    if (topic === 'fh/demo/robot-1/cmd') commands.push((JSON.parse(payload.toString()) as { cmd: string }).cmd);
  });
  await raw.publishAsync('fh/demo/robot-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });
  const report = (state: string, fields: Record<string, unknown> = {}): Promise<unknown> =>
    raw.publishAsync('fh/demo/robot-1/event', JSON.stringify({ type: 'task', ts: clock.now(), taskId: 'lunch-r', state, ...fields }), { qos: 1 });
  await report('delivered', { room: 'room-1', seat: 3 });
  await waitFor(() => robot2.get('lunch-r')?.state === 'delivered', 5000, 'the second seat served after the restart');
  await report('returned');
  await waitFor(() => robot2.get('lunch-r')?.state === 'returned', 5000, 'returned');
  await robot2.idle();
  t.same(commands.filter((c) => c === 'dispatch'), [], 'not dispatched a second time');
  t.same(robotSteps(hub2, session.id), [
    ['queued', 'queued', null],
    ['dispatched', 'dispatched', null],
    ['at-door', 'at-door', null],
    ['in-area', 'in-area', null],
    ['delivered', 'in-area', 1],
    ['delivered', 'delivered', 3],
    ['returned', 'returned', null],
  ], 'one log across both runs, every step once');
  t.equal(robot2.activeTaskAt('door-1', 'robot-1'), null, 'no task at the door once returned');
});
