import t from 'tap';
import { checkinHarness, iso, T0 } from '../../helpers/checkin.js';
import { badIdNumber, demoPeople } from '../../../simulators/demo-people.js';

const MIN = 60_000;

void t.test('sessions: create, idempotent push, 409, validation, status from times', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const api = h.th.hub.api();
  const auth = { authorization: `Bearer ${h.token}` };
  const body = { code: 'ZB-1', name: '工程', start: iso(T0 + 90 * MIN), end: iso(T0 + 200 * MIN), rooms: ['room-1', 'room-2'] };
  const first = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: body });
  t.equal(first.statusCode, 201);
  t.equal(first.json().status, 'scheduled');
  t.match(first.json().start, /\+08:00$/, 'times are answered with the site offset');
  const again = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: body });
  t.equal(again.statusCode, 200, 'the same push again is idempotent');
  t.equal(again.json().id, first.json().id);
  const other = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { ...body, name: 'different' } });
  t.equal(other.statusCode, 409);
  t.equal(other.json().code, 'HUB_ERR_CONFLICT');
  t.equal((await api.inject({ method: 'GET', url: '/api/sessions', headers: auth })).json().length, 1, 'never a duplicate');

  const backwards = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { ...body, code: 'ZB-2', end: iso(T0) } });
  t.equal(backwards.statusCode, 400);
  t.equal(backwards.json().details.field, 'body.end');
  const noRoom = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { ...body, code: 'ZB-3', rooms: ['room-9'] } });
  t.equal(noRoom.statusCode, 400);
  t.match(noRoom.json().message, /room-9/);
  const missing = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { name: 'x', start: iso(T0), end: iso(T0 + MIN) } });
  t.equal(missing.statusCode, 400);
  t.equal(missing.json().details.field, 'body.code');
  const tooMany = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { ...body, code: 'ZB-4', expectedExperts: 3 } });
  t.equal(tooMany.statusCode, 422);
  t.match(tooMany.json().message, /3 experts need 3 rooms .* has 2 room/);
  const badTime = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { ...body, code: 'ZB-5', start: 'tomorrow' } });
  t.equal(badTime.statusCode, 400);
  t.equal(badTime.json().details.field, 'body.start');

  // A session created after its start goes straight to the status its times give.
  const running = await h.createSession({ code: 'ZB-6', name: 'running', start: iso(T0 - 10 * MIN), end: iso(T0 + 10 * MIN) });
  t.equal(running.status, 'in-progress');
  const past = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { code: 'ZB-7', name: 'past', start: iso(T0 - 100 * MIN), end: iso(T0 - 10 * MIN) } });
  t.equal(past.statusCode, 400, 'a session that has already ended is refused (test/hub/sessions/times.test.ts)');

  // Transitions run from the clock, each one in the log.
  h.clock.advance(31 * MIN);
  await h.th.hub.sessions.tick();
  t.equal(h.th.hub.sessions.get(first.json().id)!.status, 'check-in');
  h.clock.advance(60 * MIN);
  await h.th.hub.sessions.tick();
  t.equal(h.th.hub.sessions.get(first.json().id)!.status, 'in-progress');
  const transitions = h.th.hub.events.query({ sessionId: first.json().id, type: 'session.status' }).map((e) => e.data.to);
  t.same(transitions, ['check-in', 'in-progress']);

  // Close: admin only.
  await h.th.hub.users.create('op', 'operator', 'operator-password');
  const opToken = await h.th.login('op', 'operator-password');
  const denied = await api.inject({ method: 'POST', url: `/api/sessions/${first.json().id}/close`, headers: { authorization: `Bearer ${opToken}` } });
  t.equal(denied.statusCode, 403);
  const closed = await api.inject({ method: 'POST', url: `/api/sessions/${first.json().id}/close`, headers: auth });
  t.equal(closed.json().status, 'closed');
  t.equal(closed.json().closedBy, 'user:admin');
});

void t.test('rosters: JSON and CSV, per-row errors, nothing changes on error, names by role', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const api = h.th.hub.api();
  const auth = { authorization: `Bearer ${h.token}` };
  const s = await h.createSession({ code: 'RO-1', name: 'Roster', start: iso(T0 + 30 * MIN), end: iso(T0 + 90 * MIN) });
  const people = demoPeople(30, 3);
  const bad = await api.inject({
    method: 'POST',
    url: `/api/sessions/${s.id}/roster`,
    headers: auth,
    payload: [people[0], { name: 'x', idNumber: badIdNumber(2) }, people[0], { idNumber: people[1]!.idNumber }, { ...people[2], role: 'boss' }],
  });
  t.equal(bad.statusCode, 400);
  const rows = bad.json().details.rows as { row: number; field: string }[];
  t.same(
    rows.map((r) => `${r.row}:${r.field}`),
    ['2:idNumber', '3:idNumber', '4:name', '5:role'],
    'every bad row, by row and field',
  );
  t.notOk(bad.body.includes(people[0]!.idNumber), 'the error does not echo the ID number');
  t.equal((await api.inject({ method: 'GET', url: `/api/sessions/${s.id}/roster`, headers: auth })).json().length, 0, 'nothing changed');

  const csv = `name,idNumber,role\n${people[0]!.name},${people[0]!.idNumber},expert\n"${people[1]!.name}",${people[1]!.idNumber.toLowerCase()},leader\n`;
  const ok = await api.inject({ method: 'POST', url: `/api/sessions/${s.id}/roster`, headers: { ...auth, 'content-type': 'text/csv' }, payload: csv });
  t.equal(ok.statusCode, 200, ok.body);
  t.equal(ok.json().accepted, 2);
  const roster = (await api.inject({ method: 'GET', url: `/api/sessions/${s.id}/roster`, headers: auth })).json<{ name: string; idMasked: string }[]>();
  t.equal(roster[0]!.name, people[0]!.name, 'admins see full names');
  t.match(roster[0]!.idMasked, /^\d{4}\*{10}[\dX]{4}$/);
  await h.th.hub.users.create('v', 'viewer', 'viewer-password');
  const vt = await h.th.login('v', 'viewer-password');
  const masked = (await api.inject({ method: 'GET', url: `/api/sessions/${s.id}/roster`, headers: { authorization: `Bearer ${vt}` } })).json<{ name: string }[]>();
  t.not(masked[0]!.name, people[0]!.name, 'viewers see masked names');
  t.match(masked[0]!.name, /^.\*+$/);
  const viewerPush = await api.inject({ method: 'POST', url: `/api/sessions/${s.id}/roster`, headers: { authorization: `Bearer ${vt}` }, payload: [people[2]] });
  t.equal(viewerPush.statusCode, 403);

  // A roster larger than the rooms allow is refused with the arithmetic.
  const big = await h.createSession({ code: 'RO-2', name: 'Big', start: iso(T0 + 30 * MIN), end: iso(T0 + 90 * MIN), rooms: ['room-1'] });
  const over = await api.inject({ method: 'POST', url: `/api/sessions/${big.id}/roster`, headers: auth, payload: people.slice(0, 2) });
  t.equal(over.statusCode, 422);
  t.match(over.json().message, /2 experts need 2 rooms/);
  const garbage = await api.inject({ method: 'POST', url: `/api/sessions/${s.id}/roster`, headers: { ...auth, 'content-type': 'text/csv' }, payload: 'foo;bar\n1;2\n' });
  t.equal(garbage.statusCode, 400);
  t.match(garbage.json().message, /header/);
});

void t.test('a restart during a session keeps sessions, check-ins, decisions and catches up on transitions', async (t) => {
  const { tempDir } = await import('../../helpers/hub.js');
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const h = await checkinHarness({ dataDir: tmp.dir });
  const s = await h.createSession({ code: 'RS-1', name: 'Restart', start: iso(T0 + 5 * MIN), end: iso(T0 + 60 * MIN) });
  const people = demoPeople(40, 2);
  await h.roster(s.id, people);
  const gate = await h.gate('gate-1');
  const granted = await gate.present(people[0]!, { requestId: 'before-restart' });
  await h.stop();

  // Down for ten minutes: the start passed meanwhile.
  h.clock.advance(10 * MIN);
  const h2 = await checkinHarness({ dataDir: tmp.dir, clock: h.clock });
  t.teardown(() => h2.stop());
  t.equal(h2.th.hub.sessions.get(s.id)!.status, 'in-progress', 'the missed transition was applied on start');
  const list = h2.feature().checkin().checkins(s.id);
  t.equal(list.length, 1);
  t.same([list[0]!.room, list[0]!.seat, list[0]!.status], [granted.room, granted.seat, 'inside']);
  const gate2 = await h2.gate('gate-1');
  const repeat = await gate2.present(people[0]!, { requestId: 'before-restart', pass: false });
  t.same(repeat, granted, 'a verify repeated across the restart gets the stored answer');
  t.equal((await gate2.present(people[0]!)).reason, 'already-inside');
  const other = await gate2.present(people[1]!);
  t.equal(other.decision, 'grant');
  t.not(other.room, granted.room, 'the rule still holds after the restart');
});

void t.test('offline: the allow-list is retained per gate, and offline passes are reconciled once', async (t) => {
  const h = await checkinHarness();
  t.teardown(() => h.stop());
  const s = await h.createSession({ code: 'OF-1', name: 'Offline', start: iso(T0 + 5 * MIN), end: iso(T0 + 60 * MIN) });
  const people = demoPeople(50, 2);
  // gate-2 is provisioned with its key (the CLI's "gate key"); gate-1 is not.
  const issued = h.feature().checkin().gateKeys.issue('gate-2', T0);
  await h.roster(s.id, people);
  const gate = await h.gate('gate-2');
  const other = await h.gate('gate-1');
  const { waitFor } = await import('../../helpers/hub.js');
  await waitFor(() => ((gate.allowList as { entries?: unknown[] } | null)?.entries?.length ?? 0) === 2, 5000, 'allow-list received');
  await waitFor(() => other.allowList !== null, 5000, 'the unprovisioned gate hears its (empty) list');
  t.match(other.allowList, { provisioned: false, entries: [] }, 'no key, no offline list');
  const list = gate.allowList as { keyVersion: number; kdf: Record<string, unknown>; entries: { h: string; sessionId: string; from: number; to: number }[] };
  t.notOk('key' in (list as object), 'the key is never published beside the hashes');
  t.notOk(JSON.stringify(list).includes(issued.key), 'not anywhere in the list');
  t.match(list, { keyVersion: 1, kdf: { alg: 'scrypt', N: 16384, r: 8, p: 1, salt: 'facility-hub allow-list v2:demo' } });
  const { allowEntry, allowSeed } = await import('../../../hub/checkin/allow-list.js');
  const { checkIdNumber } = await import('../../../kernel/id-number.js');
  const norm = (id: string): string => (checkIdNumber(id, h.clock.now()) as { normalized: string }).normalized;
  // The gate decides alone: the person's seed under the gate's provisioned key is on its list.
  const gateSide = async (key: string, id: string): Promise<string> => allowEntry(key, await allowSeed(norm(id), 'demo'));
  const h0 = await gateSide(issued.key, people[0]!.idNumber);
  const entry = list.entries.find((e) => e.h === h0);
  t.ok(entry, 'the gate can match the card offline');
  t.notOk(JSON.stringify(list).includes(people[0]!.idNumber), 'no clear ID number in the allow-list');
  const stranger = await gateSide(issued.key, demoPeople(70, 1)[0]!.idNumber);
  t.notOk(list.entries.some((e) => e.h === stranger), 'strangers are not on it');
  const seeds = h.th.hub.store.db.prepare('SELECT allow_seed FROM roster WHERE session_id = ?').pluck().all(s.id) as string[];
  t.equal(seeds.length, 2);
  t.notOk(JSON.stringify(seeds).includes(people[0]!.idNumber));

  // Uploaded later: reconciled by requestId, marked offline, seat drawn now; repeats change nothing.
  await gate.event('offline-pass', { requestId: 'off-1', idHash: h0, sessionId: s.id, ts: iso(T0 + 2 * MIN) });
  await gate.event('offline-pass', { requestId: 'off-1', idHash: h0, sessionId: s.id, ts: iso(T0 + 2 * MIN) });
  await waitFor(() => h.feature().checkin().checkins(s.id).length === 1, 5000, 'reconciled');
  await new Promise((r) => setTimeout(r, 100));
  const c = h.feature().checkin().checkins(s.id);
  t.equal(c.length, 1, 'no duplicate');
  t.equal(c[0]!.offline, true);
  t.equal(c[0]!.status, 'inside');
  t.ok(c[0]!.room, 'a seat was drawn at reconciliation');
  const rec = h.th.hub.events.query({ type: 'checkin.offline-reconciled' });
  t.equal(rec.length, 1);
  t.equal(rec[0]!.data.offline, true);
  // The same person presenting online now is inside already.
  t.equal((await gate.present(people[0]!)).reason, 'already-inside');
  // An offline pass of someone not on the list raises an alarm and is logged.
  const alarms: string[] = [];
  h.th.hub.bus.on('test', 'alarm.raised', (a) => {
    alarms.push(a.id);
  });
  await gate.event('offline-pass', { requestId: 'off-2', idHash: 'f'.repeat(64), sessionId: s.id });
  await waitFor(() => alarms.length === 1, 5000, 'alarm');
  t.equal(h.th.hub.events.query({ type: 'checkin.offline-unmatched' }).length, 1);

  // Rotation: the running hub notices the new key version and republishes; old entries are gone.
  const rotated = h.feature().checkin().gateKeys.issue('gate-2', T0 + MIN);
  t.match(rotated, { rotated: true, version: 2 });
  h.clock.advance(5_000);
  await waitFor(() => (gate.allowList as { keyVersion?: number }).keyVersion === 2, 5000, 'republished under the new key');
  const after = gate.allowList as { entries: { h: string }[] };
  t.notOk(after.entries.some((e) => e.h === h0), 'the old key matches nothing');
  const h1 = await gateSide(rotated.key, people[1]!.idNumber);
  t.ok(after.entries.some((e) => e.h === h1), 'the new key matches');
});
