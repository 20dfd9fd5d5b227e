import t from 'tap';
import { checkinHarness, iso, T0, demoPerson } from '../../helpers/checkin.js';
import { badIdNumber, demoPeople } from '../../../simulators/demo-people.js';
import { waitFor } from '../../helpers/hub.js';

const MIN = 60_000;

void t.test('every decision of the gate, through real MQTT gates', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const people = demoPeople(0, 3);
  const early = demoPerson(20);
  const s = await h.createSession({ code: 'P-1', name: 'Project one', start: iso(T0 + 30 * MIN), end: iso(T0 + 180 * MIN) });
  t.equal(s.status, 'check-in', 'window opened 60 minutes before the start');
  await h.roster(s.id, people);
  const later = await h.createSession({ code: 'P-2', name: 'Later project', start: iso(T0 + 300 * MIN), end: iso(T0 + 400 * MIN) });
  t.equal(later.status, 'scheduled');
  await h.roster(later.id, [early]);
  const gate = await h.gate('gate-1');

  const ok = await gate.present(people[0]!);
  t.equal(ok.decision, 'grant');
  t.equal(ok.reason, 'granted');
  t.equal(ok.sessionId, s.id);
  t.match(ok.room, /^room-[123]$/);
  t.ok(ok.seat! >= 1 && ok.seat! <= 4);
  t.match(ok.message, /请到/);

  t.equal((await gate.present({ name: 'x', idNumber: badIdNumber(1) })).reason, 'invalid-id');
  t.equal((await gate.present(people[1]!, { liveness: false })).reason, 'liveness-failed');
  t.equal((await gate.present(people[1]!, { faceScore: 0.5 })).reason, 'face-mismatch');
  t.equal((await gate.present(demoPerson(99))).reason, 'not-on-roster');
  const tooEarly = await gate.present(early);
  t.equal(tooEarly.reason, 'outside-window');
  t.match(tooEarly.message, /\d\d:\d\d/, 'tells when the window opens');
  t.equal((await gate.present(people[0]!)).reason, 'already-inside', 'anti-passback');

  // Leaving, then trying to come back: denied by default policy.
  await gate.exit(people[0]!.idNumber);
  await waitFor(() => h.feature().checkin().checkins(s.id).some((c) => c.status === 'left'), 5000, 'exit recorded');
  t.equal((await gate.present(people[0]!)).reason, 'reentry-not-allowed');

  // A malformed verify with a requestId is answered bad-request; without one it is only logged.
  const bad = new Promise((resolve) => gate.onDeviceMessage((sub, p) => sub === 'verify/result' && (p as { requestId: string }).requestId === 'bad-1' && resolve(p)));
  await gate.publish('verify', { requestId: 'bad-1', idNumber: people[1]!.idNumber, faceScore: 7, liveness: true });
  t.match(await bad, { decision: 'deny', reason: 'bad-request' });

  // Closed session: deny.
  h.clock.advance(181 * MIN);
  await h.th.hub.sessions.tick();
  t.equal(h.th.hub.sessions.get(s.id)!.status, 'closed');
  t.equal((await gate.present(people[2]!)).reason, 'session-closed');

  // Every decision is in the event log, with the ID only masked.
  const denied = h.th.hub.events.query({ type: 'checkin.denied' });
  t.ok(denied.length >= 8);
  const raw = JSON.stringify(h.th.hub.events.query({ limit: 5000 }));
  for (const p of people) t.notOk(raw.includes(p.idNumber), 'no clear ID number in the log');
  const rows = h.th.hub.store.db.prepare('SELECT * FROM roster').all();
  t.notOk(JSON.stringify(rows).includes(people[0]!.idNumber), 'no clear ID number in the roster table');
});

void t.test('a repeated verify gets the same answer, decided once; passed completes the check-in', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const s = await h.createSession({ code: 'R-1', name: 'Repeat', start: iso(T0 + 10 * MIN), end: iso(T0 + 100 * MIN) });
  const [p] = demoPeople(3, 1);
  await h.roster(s.id, [p!]);
  const gate = await h.gate('gate-2');
  const a = await gate.present(p!, { requestId: 'rq-1', pass: false });
  const b = await gate.present(p!, { requestId: 'rq-1', pass: false });
  t.same(b, a, 'same decision again');
  const grants = h.th.hub.events.query({ type: 'checkin.granted' });
  t.equal(grants.length, 1, 'decided once');
  t.equal(h.feature().checkin().checkins(s.id)[0]!.status, 'granted');
  await gate.event('passed', { requestId: 'rq-1' });
  await waitFor(() => h.feature().checkin().checkins(s.id)[0]!.status === 'inside', 5000, 'inside');
  // passed for an unknown request is rejected and changes nothing
  const before = h.th.hub.events.count();
  await gate.event('passed', { requestId: 'nope' });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(h.th.hub.events.count(), before, 'nothing logged for an unknown requestId');
  t.equal(h.feature().checkin().checkins(s.id).length, 1);
});

void t.test('a grant that is not used in time expires and frees the seat; a re-presented person gets the same seat', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const s = await h.createSession({ code: 'E-1', name: 'Expiry', start: iso(T0 + 10 * MIN), end: iso(T0 + 100 * MIN), rooms: ['room-1'] });
  const [p] = demoPeople(5, 1);
  await h.roster(s.id, [p!]);
  const gate = await h.gate('gate-1');
  const first = await gate.present(p!, { pass: false });
  const again = await gate.present(p!, { pass: false });
  t.equal(again.decision, 'grant');
  t.same([again.room, again.seat], [first.room, first.seat], 'same seat when re-presented');
  const statuses = h.feature().checkin().checkins(s.id).map((c) => c.status).sort();
  t.same(statuses, ['granted', 'superseded']);
  h.clock.advance(130_000);
  await waitFor(() => h.feature().checkin().checkins(s.id).every((c) => c.status !== 'granted'), 5000, 'expiry sweep');
  t.ok(h.th.hub.events.query({ type: 'checkin.expired' }).length >= 1);
});

void t.test('a lapsed grant the sweep has not reached yet does not block a new grant', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const s = await h.createSession({ code: 'E-2', name: 'Lapsed', start: iso(T0 + 10 * MIN), end: iso(T0 + 100 * MIN) });
  const [p] = demoPeople(6, 1);
  await h.roster(s.id, [p!]);
  const gate = await h.gate('gate-1');
  const first = await gate.present(p!, { requestId: 'lapse-1', pass: false });
  t.equal(first.decision, 'grant');
  // The sweep runs every 5 s: at 121 s the grant is past the 120 s passage timeout, but
  // the last sweep (at 120 s) still found it valid.
  h.clock.advance(121_000);
  t.equal(h.feature().checkin().checkins(s.id)[0]!.status, 'granted', 'not swept yet');
  const again = await gate.present(p!, { requestId: 'lapse-2', pass: false });
  t.equal(again.decision, 'grant', 'a new grant, not reentry-not-allowed');
  t.equal(again.sessionId, s.id);
  const grants = h.th.hub.events.query({ type: 'checkin.granted' });
  t.equal(grants.length, 2);
  t.notOk(grants[1]!.data.supersedes, 'a fresh draw, not the lapsed grant renewed');
});

void t.test('an expert on two sessions the same day: the earlier first, then the later one', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const [p] = demoPeople(8, 1);
  const a = await h.createSession({ code: 'D-1', name: 'Morning', start: iso(T0 + 10 * MIN), end: iso(T0 + 60 * MIN) });
  const b = await h.createSession({ code: 'D-2', name: 'Late morning', start: iso(T0 + 20 * MIN), end: iso(T0 + 120 * MIN) });
  await h.roster(a.id, [p!]);
  await h.roster(b.id, [p!]);
  const gate = await h.gate('gate-1');
  const first = await gate.present(p!);
  t.equal(first.sessionId, a.id, 'the earlier session first');
  const grant = h.th.hub.events.query({ type: 'checkin.granted' })[0]!;
  t.same(grant.data.alsoOnRosterOf, [b.id], 'the other session is noted');
  await gate.exit(p!.idNumber);
  await waitFor(() => h.feature().checkin().checkins(a.id)[0]!.status === 'left', 5000, 'left');
  const second = await gate.present(p!);
  t.equal(second.sessionId, b.id, 'then the later session');
});

void t.test('re-entry where policy allows it returns the same seat', async (t) => {
  const { facility, MQTT_ONLY_FACILITY } = await import('../../helpers/hub.js');
  const f = facility(`${MQTT_ONLY_FACILITY}\npolicy:\n  checkIn: { allowReentry: true }\n`);
  const h = await checkinHarness({ facility: f });
  t.teardown(() => h.stop());
  const [p] = demoPeople(9, 1);
  const s = await h.createSession({ code: 'RE-1', name: 'Re-entry', start: iso(T0 + 10 * MIN), end: iso(T0 + 60 * MIN) });
  await h.roster(s.id, [p!]);
  const gate = await h.gate('gate-1');
  const first = await gate.present(p!);
  await gate.exit(p!.idNumber);
  await waitFor(() => h.feature().checkin().checkins(s.id)[0]!.status === 'left', 5000, 'left');
  const back = await gate.present(p!);
  t.equal(back.decision, 'grant');
  t.same([back.room, back.seat], [first.room, first.seat]);
});
