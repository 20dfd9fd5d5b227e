/**
 * An admin's close (or cancel) racing the scheduler's own transition of the same session:
 * both compute from the same status and commit in one group commit, the scheduler's first.
 * The admin's conditional UPDATE then misses; the close must still happen (found by the
 * jammer property: a close at a session's start was answered 200 and the session ran on).
 */
import t from 'tap';
import { checkinHarness, iso, T0 } from '../../helpers/checkin.js';

const MIN = 60_000;

/** Lets the scheduler's tick run up to its store write (microtasks only: the commit is a setImmediate away). */
async function untilTheTickHasQueuedItsWrite(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

void t.test('close at the instant the scheduler starts the session: closed, once, in the log', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const sessions = h.th.hub.sessions;
  const s = await h.createSession({ code: 'RACE-1', name: '竞态', start: iso(T0 + 10 * MIN), end: iso(T0 + 60 * MIN), rooms: ['room-1'], checkInOpensMinutes: 0 });
  t.equal(s.status, 'scheduled');
  h.clock.set(T0 + 10 * MIN);
  const ticking = sessions.tick();
  await untilTheTickHasQueuedItsWrite();
  const closed = await sessions.close(s.id, 'user:admin', 'test');
  await ticking;
  t.equal(closed.status, 'closed', 'the close answered a closed session');
  t.equal(sessions.get(s.id)!.status, 'closed', 'and it is closed');
  t.equal(closed.closedAt, T0 + 10 * MIN);
  const tos = h.th.hub.events.query({ sessionId: s.id, type: 'session.status' }).map((e) => `${String(e.data.from)}→${String(e.data.to)}`);
  t.same(tos, ['scheduled→in-progress', 'in-progress→closed'], 'the scheduler won the first commit, the close followed');
});

void t.test('cancel at the instant check-in opens: cancelled, not left in check-in', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const sessions = h.th.hub.sessions;
  const s = await h.createSession({ code: 'RACE-2', name: '竞态', start: iso(T0 + 40 * MIN), end: iso(T0 + 90 * MIN), rooms: ['room-1'], checkInOpensMinutes: 30 });
  t.equal(s.status, 'scheduled');
  h.clock.set(T0 + 10 * MIN);
  const ticking = sessions.tick();
  await untilTheTickHasQueuedItsWrite();
  const cancelled = await sessions.cancel(s.id, 'user:admin');
  await ticking;
  t.equal(cancelled.status, 'closed');
  t.equal(sessions.get(s.id)!.status, 'closed');
  const tos = h.th.hub.events.query({ sessionId: s.id, type: 'session.status' }).map((e) => `${String(e.data.from)}→${String(e.data.to)}`);
  t.same(tos, ['scheduled→check-in', 'check-in→closed']);
});
