/**
 * /api/robot over HTTP (inject): every bad field is a 400 naming it, in Chinese first, and
 * creates nothing; who may do what; cancel; and the generic device-command API refusing
 * the robot's task commands (409 naming the robot feature) for every role.
 */
import t from 'tap';
import { robotRig } from '../../helpers/robot-rig.js';

void t.test('bad requests are 400 naming the field and change nothing', async (t) => {
  const r = await robotRig({ startSim: false });
  t.teardown(() => r.stop());
  const sessionId = await r.session();
  const good = { id: 'a-1', sessionId, stops: [{ room: 'room-1', seat: 1, items: ['午餐'] }] };
  const cases: [string, object, string, RegExp?][] = [
    ['no stops', { ...good, stops: [] }, 'body.stops'],
    ['a seat of 0', { ...good, stops: [{ room: 'room-1', seat: 0, items: ['午餐'] }] }, 'body.stops[0].seat'],
    ['no items', { ...good, stops: [{ room: 'room-1', seat: 1, items: [] }] }, 'body.stops[0].items'],
    ['an unknown field', { ...good, priority: 'high' }, 'body.priority'],
    ['a bad id', { ...good, id: 'a b' }, 'body.id'],
    ['an unknown session', { ...good, sessionId: 's-nope' }, 'body.sessionId', /^请求无效 \/ Invalid request: body.sessionId: 找不到该场次/],
    ['an unknown room', { ...good, stops: [{ room: 'room-9', seat: 1, items: ['午餐'] }] }, 'body.stops[0].room', /没有该房间/],
    ['a room not of the session', { ...good, stops: [{ room: 'room-3', seat: 1, items: ['午餐'] }] }, 'body.stops[0].room', /not a room of session/],
    ['a seat beyond the room', { ...good, stops: [{ room: 'room-1', seat: 9, items: ['午餐'] }] }, 'body.stops[0].seat', /room-1 has seats 1 to 4, found 9/],
    ['a seat twice', { ...good, stops: [good.stops[0], good.stops[0]] }, 'body.stops[1].seat', /listed twice/],
    ['a door that is not a door', { ...good, door: 'gate-1' }, 'body.door', /gate-1 is not a door/],
    ['a robot that is not a robot', { ...good, robotId: 'fire-1' }, 'body.robotId', /fire-1 is not a robot/],
  ];
  for (const [what, body, field, message] of cases) {
    const res = await r.api('POST', '/api/robot/tasks', body);
    t.equal(res.statusCode, 400, `${what}: 400 (${res.body.slice(0, 120)})`);
    t.equal(res.json().code, 'HUB_ERR_VALIDATION', what);
    t.equal(res.json().details.field, field, `${what}: names ${field}`);
    if (message) t.match(res.json().message, message, what);
  }
  t.equal(r.robot.tasks().length, 0, 'nothing was created');
  t.equal(r.h.th.hub.events.query({ type: 'robot.task' }).length, 0, 'nothing was logged as a step');
  const q = await r.api('GET', '/api/robot/tasks?state=flying');
  t.equal(q.statusCode, 400);
  t.equal(q.json().details.field, 'querystring.state');
  t.equal((await r.api('GET', '/api/robot/tasks/none')).statusCode, 404);
});

void t.test('roles: operators add and cancel, supervisors and viewers read, only admins resume', async (t) => {
  const r = await robotRig({ startSim: false });
  t.teardown(() => r.stop());
  const users = r.h.th.hub.users;
  await users.create('op1', 'operator', 'operator-password-1', 'Op');
  await users.create('sup1', 'supervisor', 'supervisor-password-1', 'Sup');
  await users.create('view1', 'viewer', 'viewer-password-1', 'View');
  const op = await r.h.th.login('op1', 'operator-password-1');
  const sup = await r.h.th.login('sup1', 'supervisor-password-1');
  const view = await r.h.th.login('view1', 'viewer-password-1');
  const sessionId = await r.session();
  const body = { id: 'water-7', sessionId, stops: [{ room: 'room-2', seat: 3, items: ['水'] }] };

  t.equal((await r.api('POST', '/api/robot/tasks', body, sup)).statusCode, 403, 'a supervisor may not add');
  t.equal((await r.api('POST', '/api/robot/tasks', body, view)).statusCode, 403, 'a viewer may not add');
  const made = await r.api('POST', '/api/robot/tasks', body, op);
  t.equal(made.statusCode, 201);
  t.equal(made.json().source, 'user:op1');
  t.same(made.json().sessionIds, [sessionId], 'the view lists the sessions it serves');
  for (const token of [sup, view]) {
    const list = await r.api('GET', `/api/robot/tasks?sessionId=${sessionId}`, undefined, token);
    t.equal(list.statusCode, 200);
    t.same(list.json().tasks.map((x: { id: string }) => x.id), ['water-7']);
  }
  t.equal((await r.api('POST', '/api/robot/tasks/water-7/resume', undefined, op)).statusCode, 403, 'resume is for admins');
  const notSuspended = await r.api('POST', '/api/robot/tasks/water-7/resume', {});
  t.equal(notSuspended.statusCode, 409);
  t.match(notSuspended.json().message, /^任务未暂停 \/ task water-7 is queued, not suspended/);

  t.equal((await r.api('POST', '/api/robot/tasks/water-7/cancel', { reason: 'x' }, op)).json().details.field, 'body.reason', 'a reason of one character is too short');
  const cancelled = await r.api('POST', '/api/robot/tasks/water-7/cancel', { reason: '专家已离场' }, op);
  t.equal(cancelled.statusCode, 200, cancelled.body);
  t.match(cancelled.json(), { state: 'cancelled', reason: '专家已离场' });
  t.match(r.h.th.hub.events.query({ sessionId }).find((e) => e.data.step === 'cancelled'), { actor: 'user:op1', data: { taskId: 'water-7', from: 'queued', to: 'cancelled', reason: '专家已离场' } });
  const twice = await r.api('POST', '/api/robot/tasks/water-7/cancel', { reason: '再次取消' }, op);
  t.equal(twice.statusCode, 409, 'a cancelled task cannot be cancelled again');
});

void t.test('the generic command API refuses the robot task commands (409 naming the robot feature)', async (t) => {
  const r = await robotRig();
  t.teardown(() => r.stop());
  await r.h.th.hub.users.create('op2', 'operator', 'operator-password-2', 'Op');
  const op = await r.h.th.login('op2', 'operator-password-2');
  for (const token of [r.token, op]) {
    for (const [cmd, args] of [
      ['dispatch', { taskId: 'sneaky', door: 'door-1', stops: [{ room: 'room-1', seat: 1, items: ['午餐'] }] }],
      ['cancel', { taskId: 'sneaky' }],
      ['resume', {}],
    ] as const) {
      const res = await r.api('POST', '/api/devices/robot-1/commands', { cmd, args }, token);
      t.equal(res.statusCode, 409, `${cmd}: ${res.body}`);
      t.match(res.json(), { code: 'HUB_ERR_CONFLICT', details: { owner: 'robot', deviceId: 'robot-1' } });
    }
  }
  t.equal(r.sim.executed.filter((c) => c.cmd !== 'park').length, 0, 'nothing reached the robot');
  const park = await r.api('POST', '/api/devices/robot-1/commands', { cmd: 'park', args: {} }, op);
  t.equal(park.statusCode, 200, 'an operator may still park the robot');
  t.equal(r.h.th.hub.events.query({ type: 'command.refused' }).filter((e) => e.deviceId === 'robot-1').length, 6, 'every refusal is logged');
});
