import t from 'tap';
import { checkinHarness, iso, T0, demoPerson } from '../../helpers/checkin.js';
import { waitFor } from '../../helpers/hub.js';
import { checkIdNumber } from '../../../kernel/id-number.js';

const MIN = 60_000;

void t.test('a requestId is bound to its gate and its person: a reuse is bad-request and an alarm, never the stored grant', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const [alice, bob] = [demoPerson(1), demoPerson(2)];
  const s = await h.createSession({ code: 'B-1', name: 'Bound requests', start: iso(T0 + 30 * MIN), end: iso(T0 + 180 * MIN) });
  await h.roster(s.id, [alice, bob]);
  const gate1 = await h.gate('gate-1');
  const gate2 = await h.gate('gate-2');

  const granted = await gate1.present(alice, { requestId: 'r-1', pass: false });
  t.equal(granted.decision, 'grant');
  t.same(await gate1.present(alice, { requestId: 'r-1', pass: false }), granted, 'the same gate asking again for the same person: the same answer');

  const stranger = await gate1.present(bob, { requestId: 'r-1', pass: false });
  t.match(stranger, { requestId: 'r-1', decision: 'deny', reason: 'bad-request' }, 'another person with that requestId');
  t.notOk('room' in stranger || 'seat' in stranger, 'nothing of the grant is given away');
  const otherGate = await gate2.present(alice, { requestId: 'r-1', pass: false });
  t.match(otherGate, { decision: 'deny', reason: 'bad-request' }, 'another gate with that requestId');
  await waitFor(() => h.th.hub.alarms.list().filter((a) => a.id.startsWith('request-reused:')).length === 2, 5000, 'two alarms');
  t.match(h.th.hub.alarms.list().find((a) => a.id === 'request-reused:gate-1:r-1'), { source: 'checkin', severity: 'warning', deviceId: 'gate-1', message: /重复使用请求号 r-1.*reused request id r-1 \(first used for another person\)/ });
  const reused = h.th.hub.events.query({ type: 'checkin.request-reused' });
  t.equal(reused.length, 2);
  t.match(reused[0]!.data, { requestId: 'r-1', firstGate: 'gate-1', samePerson: false });
  t.match(reused[1]!.data, { requestId: 'r-1', firstGate: 'gate-1', samePerson: true });
  t.notOk(JSON.stringify(reused).includes(bob.idNumber), 'the ID number is not in the log');
  t.equal(h.feature().checkin().checkins(s.id).length, 1, 'nobody else got a check-in');

  // The grant lapses: asking again with its requestId no longer repeats it.
  h.clock.advance(121_000);
  await h.feature().checkin().expireStaleGrants();
  t.match(await gate1.present(alice, { requestId: 'r-1', pass: false }), { decision: 'deny', reason: 'bad-request' }, 'an expired grant is not handed out again');
  t.equal(h.th.hub.events.query({ type: 'checkin.repeat-refused' }).length, 1);
  // A deny repeats as it was.
  const badFace = await gate1.present(bob, { requestId: 'r-2', faceScore: 0.2 });
  t.same(await gate1.present(bob, { requestId: 'r-2', faceScore: 0.2 }), badFace);
  // And a fresh requestId decides afresh.
  t.equal((await gate1.present(alice, { requestId: 'r-3' })).decision, 'grant');
});

void t.test('ID numbers with whitespace or control characters are invalid-id at the gate; a roster import still trims its cells', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const carol = demoPerson(3);
  const s = await h.createSession({ code: 'W-1', name: 'Whitespace', start: iso(T0 + 30 * MIN), end: iso(T0 + 180 * MIN) });
  await h.roster(s.id, [{ name: carol.name, idNumber: ` ${carol.idNumber}\t` }]);
  t.equal(h.feature().checkin().roster(s.id).length, 1, 'the padded cell was trimmed and accepted');
  const gate = await h.gate('gate-1');
  for (const [label, id] of [
    ['a trailing newline', `${carol.idNumber}\n`],
    ['a leading space', ` ${carol.idNumber}`],
    ['an inner NUL', `${carol.idNumber.slice(0, 9)}\u0000${carol.idNumber.slice(9)}`],
    ['a trailing carriage return', `${carol.idNumber}\r`],
    ['a no-break space', `${carol.idNumber}\u00a0`],
  ] as const) {
    t.equal((await gate.present({ name: carol.name, idNumber: id })).reason, 'invalid-id', label);
  }
  t.equal((await gate.present(carol)).decision, 'grant', 'the exact number is granted');
  t.match(checkIdNumber(`${carol.idNumber}\n`, h.clock.now()), { ok: false, reason: /whitespace or control/ });
  t.match(checkIdNumber(carol.idNumber.toLowerCase(), h.clock.now()), { ok: true, normalized: carol.idNumber });
});
