/**
 * Session times the platform gets wrong (issue #11, item 10): epoch seconds for
 * milliseconds, sessions already over, times far off; and an admin cancelling a session
 * that has not started. Over the hub's HTTP API (inject), on a ManualClock.
 */
import t from 'tap';
import { checkinHarness, iso, T0 } from '../../helpers/checkin.js';
import { demoPeople } from '../../../simulators/demo-people.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

void t.test('times outside a sane range and sessions already over are refused with the reason', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const api = h.th.hub.api();
  const auth = { authorization: `Bearer ${h.token}` };
  const post = (payload: object) => api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload });
  const base = { name: '时间', start: T0 + 60 * MIN, end: T0 + 180 * MIN };

  const seconds = await post({ ...base, code: 'TM-1', start: Math.floor(base.start / 1000), end: Math.floor(base.end / 1000) });
  t.equal(seconds.statusCode, 400, 'epoch seconds');
  t.equal(seconds.json().code, 'HUB_ERR_VALIDATION');
  t.same(
    (seconds.json().details.problems as { field: string }[]).map((p) => p.field),
    ['body.start', 'body.end'],
    'both fields at once',
  );
  t.match(seconds.json().message, new RegExp(`body.start ${Math.floor(base.start / 1000)} .*looks like epoch seconds.*send epoch milliseconds \\(${Math.floor(base.start / 1000) * 1000}\\)`));

  const micro = await post({ ...base, code: 'TM-2', start: base.start * 1000, end: base.end * 1000 });
  t.equal(micro.statusCode, 400, 'microseconds');
  t.match(micro.json().message, /outside the sane range/);

  const ended = await post({ ...base, code: 'TM-3', start: iso(T0 - 100 * MIN), end: iso(T0 - 10 * MIN) });
  t.equal(ended.statusCode, 400, 'a session that has ended');
  t.equal(ended.json().details.field, 'body.end');
  t.match(ended.json().message, /has already ended/);

  const farAhead = await post({ ...base, code: 'TM-4', start: iso(T0 + 400 * DAY), end: iso(T0 + 400 * DAY + 60 * MIN) });
  t.equal(farAhead.statusCode, 400, 'more than a year ahead');
  t.match(farAhead.json().message, /more than a year ahead/);
  const tooLong = await post({ ...base, code: 'TM-5', end: iso(T0 + 30 * DAY) });
  t.equal(tooLong.statusCode, 400, 'a month-long session');
  t.match(tooLong.json().message, /at most 7 days/);

  t.equal((await api.inject({ method: 'GET', url: '/api/sessions', headers: auth })).json().length, 0, 'nothing was created');
  t.equal(h.th.hub.events.query({ type: 'session.created' }).length, 0);

  // Still accepted: ms, ISO, a session already running, and the same push again after its end.
  const ms = await post({ ...base, code: 'TM-6' });
  t.equal(ms.statusCode, 201, ms.body);
  const running = await post({ ...base, code: 'TM-7', start: iso(T0 - 10 * MIN), end: iso(T0 + 10 * MIN) });
  t.equal(running.statusCode, 201);
  t.equal(running.json().status, 'in-progress');
  h.clock.advance(20 * MIN);
  await h.th.hub.sessions.tick();
  const retry = await post({ ...base, code: 'TM-7', start: iso(T0 - 10 * MIN), end: iso(T0 + 10 * MIN) });
  t.equal(retry.statusCode, 200, 'a platform retrying a push it made gets the (now closed) session');
  t.equal(retry.json().id, running.json().id);
  t.equal(retry.json().status, 'closed');
});

void t.test('an admin cancels a session that has not started; logged; started or closed ones are 409', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const api = h.th.hub.api();
  const auth = { authorization: `Bearer ${h.token}` };
  const later = await h.createSession({ code: 'CX-1', name: '取消', start: iso(T0 + 90 * MIN), end: iso(T0 + 200 * MIN) });
  const checkIn = await h.createSession({ code: 'CX-2', name: '签到中', start: iso(T0 + 30 * MIN), end: iso(T0 + 200 * MIN), rooms: ['room-1', 'room-2'] });
  const running = await h.createSession({ code: 'CX-3', name: '进行中', start: iso(T0 - 10 * MIN), end: iso(T0 + 60 * MIN), rooms: ['room-3'] });
  t.equal(checkIn.status, 'check-in');
  await h.roster(checkIn.id, demoPeople(300, 2));

  await h.th.hub.users.create('op', 'operator', 'operator-password');
  const op = await h.th.login('op', 'operator-password');
  const denied = await api.inject({ method: 'POST', url: `/api/sessions/${later.id}/cancel`, headers: { authorization: `Bearer ${op}` } });
  t.equal(denied.statusCode, 403, 'operators may not cancel');

  const cancelled = await api.inject({ method: 'POST', url: `/api/sessions/${later.id}/cancel`, headers: auth });
  t.equal(cancelled.statusCode, 200, cancelled.body);
  t.match(cancelled.json(), { status: 'closed', cancelled: true, closedBy: 'user:admin' });
  const logged = h.th.hub.events.query({ sessionId: later.id, type: 'session.status' });
  t.match(logged.at(-1), { actor: 'user:admin', data: { from: 'scheduled', to: 'closed', reason: 'cancelled before its start' } }, 'in the event log with who and why');

  const inCheckIn = await api.inject({ method: 'POST', url: `/api/sessions/${checkIn.id}/cancel`, headers: auth });
  t.equal(inCheckIn.statusCode, 200, 'in check-in it has not started yet');
  t.equal(inCheckIn.json().cancelled, true);
  t.equal(h.feature().checkin().roster(checkIn.id).length, 2, 'the roster is kept as a record');

  const started = await api.inject({ method: 'POST', url: `/api/sessions/${running.id}/cancel`, headers: auth });
  t.equal(started.statusCode, 409, 'a started session is closed, not cancelled');
  t.match(started.json().message, /has started.*close it instead/);
  t.equal(h.th.hub.sessions.get(running.id)!.status, 'in-progress', 'unchanged');
  const again = await api.inject({ method: 'POST', url: `/api/sessions/${later.id}/cancel`, headers: auth });
  t.equal(again.statusCode, 409, 'already closed');
  const closedNormally = await api.inject({ method: 'POST', url: `/api/sessions/${running.id}/close`, headers: auth });
  t.equal(closedNormally.json().cancelled, false, 'a session closed after its start is not "cancelled"');
  t.equal((await api.inject({ method: 'POST', url: '/api/sessions/s-nope/cancel', headers: auth })).statusCode, 404);
  // Its times no longer move it: past its start it is still the cancelled session.
  h.clock.advance(100 * MIN);
  await h.th.hub.sessions.tick();
  t.match(h.th.hub.sessions.get(later.id), { status: 'closed', closedBy: 'user:admin' });
  t.equal(h.th.hub.events.query({ sessionId: later.id, type: 'session.status' }).length, 1, 'no transition after the cancel');
});
