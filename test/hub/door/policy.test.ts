/** The door's open-request policy, rule by rule (pure). */
import t from 'tap';
import { decideOpen, denyMessage, type DoorFacts } from '../../../hub/door/policy.js';
import { DENY_REASONS } from '../../../devices/door.js';
import { createRobotTaskTracker } from '../../../hub/door/robot-tasks.js';
import { Bus } from '../../../kernel/bus.js';
import { silentLogger } from '../../../hub/log.js';
import type { HubEvents } from '../../../hub/events.js';

const facts = (f: Partial<DoorFacts>): DoorFacts => ({
  requester: { kind: 'card', id: 'c-1' },
  robotTask: null,
  runningSessions: [],
  fireActive: false,
  outsideSessions: ['card', 'button'],
  ...f,
});

void t.test('the robot passes only with an active task at the door, in a session or not', async (t) => {
  const robot = { kind: 'robot', id: 'robot-1' } as const;
  t.same(decideOpen(facts({ requester: robot, robotTask: 'task-1', runningSessions: ['s-1'] })), { decision: 'grant', why: 'robot-task', taskId: 'task-1' });
  t.same(decideOpen(facts({ requester: robot, robotTask: 'task-1' })), { decision: 'grant', why: 'robot-task', taskId: 'task-1' });
  t.same(decideOpen(facts({ requester: robot, runningSessions: ['s-1'] })), { decision: 'deny', reason: 'not-on-task', alarm: true }, 'a robot without a task during a session is alarmed');
  t.same(decideOpen(facts({ requester: robot })), { decision: 'deny', reason: 'not-on-task', alarm: false });
  t.same(decideOpen(facts({ requester: robot, outsideSessions: ['card', 'button', 'key', 'remote'] })), { decision: 'deny', reason: 'not-on-task', alarm: false }, 'outsideSessions never covers the robot');
});

void t.test('anyone else is denied and alarmed while a session runs; outside sessions the configured kinds pass', async (t) => {
  for (const kind of ['card', 'button', 'key', 'remote', 'unknown'] as const) {
    t.same(decideOpen(facts({ requester: { kind, id: 'x' }, runningSessions: ['s-1', 's-2'] })), { decision: 'deny', reason: 'session-running', alarm: true }, kind);
  }
  t.same(decideOpen(facts({ requester: { kind: 'card', id: 'x' } })), { decision: 'grant', why: 'outside-sessions' });
  t.same(decideOpen(facts({ requester: { kind: 'button', id: 'x' } })), { decision: 'grant', why: 'outside-sessions' });
  t.same(decideOpen(facts({ requester: { kind: 'key', id: 'x' } })), { decision: 'deny', reason: 'outside-policy', alarm: false });
  t.same(decideOpen(facts({ requester: { kind: 'card', id: 'x' }, outsideSessions: [] })), { decision: 'deny', reason: 'outside-policy', alarm: false });
});

void t.test('during a fire alarm everyone passes (exits stay open)', async (t) => {
  t.same(decideOpen(facts({ fireActive: true, runningSessions: ['s-1'] })), { decision: 'grant', why: 'fire' });
  t.same(decideOpen(facts({ fireActive: true, requester: { kind: 'robot', id: 'robot-9' } })), { decision: 'grant', why: 'fire' });
});

void t.test('every deny reason has a Chinese-first message', async (t) => {
  for (const r of DENY_REASONS) t.match(denyMessage(r), /^\p{Script=Han}.* \/ [A-Z]/u, r);
});

void t.test('the robot task tracker: the latest task state per robot, active at its door only in the passing states', async (t) => {
  const bus = new Bus<HubEvents>(silentLogger());
  const tracker = createRobotTaskTracker({ bus });
  await tracker.start();
  const task = (state: HubEvents['robot.task']['state'], doorId: string | null = 'door-1', taskId = 'task-1') => bus.emit('robot.task', { robotId: 'robot-1', taskId, state, doorId, sessionId: 's-1' });
  t.equal(tracker.activeTaskAt('door-1', 'robot-1'), null, 'nothing known');
  task('queued');
  t.equal(tracker.activeTaskAt('door-1', 'robot-1'), null, 'queued is not on its way yet');
  for (const s of ['dispatched', 'at-door', 'in-area', 'delivered'] as const) {
    task(s);
    t.equal(tracker.activeTaskAt('door-1', 'robot-1'), 'task-1', s);
    t.equal(tracker.activeTaskAt('door-2', 'robot-1'), null, `${s}: not at another door`);
    t.equal(tracker.activeTaskAt('door-1', 'robot-2'), null, `${s}: not another robot`);
  }
  for (const s of ['returned', 'failed', 'suspended'] as const) {
    task(s);
    t.equal(tracker.activeTaskAt('door-1', 'robot-1'), null, s);
  }
  task('at-door', null, 'task-2');
  t.equal(tracker.activeTaskAt('door-1', 'robot-1'), null, 'a task without a door');
  task('at-door', 'door-1', 'task-3');
  t.equal(tracker.activeTaskAt('door-1', 'robot-1'), 'task-3');
  await tracker.stop();
  task('returned', 'door-1', 'task-3');
  t.equal(tracker.activeTaskAt('door-1', 'robot-1'), 'task-3', 'stopped: no longer follows the bus');
});
