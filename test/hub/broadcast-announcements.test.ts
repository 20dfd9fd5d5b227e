import t from 'tap';
import { MESSAGE_MS, startBroadcastHub } from '../helpers/broadcast-hub.js';
import { waitFor } from '../helpers/wait.js';

// ManualClock starts at 2026-11-28 01:00 UTC = 09:00 site time (+08:00).
const SCHEDULE = `  announcements:
    - { id: starts, afterStartMinutes: 0, messageId: 1 }
    - { id: thirty-left, beforeEndMinutes: 30, messageId: 11 }
    - { id: lunch, cron: "30 11 * * *", text: 午餐已送达 }
  announcementWaitSeconds: 30
  warningWaitMs: 0
  maxCallSeconds: 7200`;

const MIN = 60_000;

void t.test('per-session announcements play at their time, to the session rooms, coalesced across sessions sharing a room', async (t) => {
  const b = await startBroadcastHub(t, 'tcp', { broadcast: SCHEDULE });
  // Two sessions starting together in 10 minutes, sharing room-1; a third one later, alone in room-3.
  const a = await b.session('P-A', ['room-1', 'room-2'], 10 * MIN, 60 * MIN);
  const c = await b.session('P-C', ['room-1'], 10 * MIN, 60 * MIN);
  const late = await b.session('P-L', ['room-3'], 20 * MIN, 60 * MIN);
  const upcoming = await b.call('GET', '/api/broadcast', 'sup1');
  t.match(upcoming.body.upcoming, [{ announcement: 'starts', sessionIds: [a.id, c.id].sort(), at: '2026-11-28T09:10:00.000+08:00' }], 'the console sees what is planned');

  await b.advance(10 * MIN - 1000);
  t.same(b.sim.log(), [], 'nothing before the start');
  await b.advance(1000);
  await waitFor(() => b.sim.log().length === 1, 8000, 'start announcement');
  t.match(b.sim.log()[0], { kind: 'play', message: 1, priority: 1, zones: [1, 2] }, 'one request for both sessions: room-1 hears it once');
  await waitFor(() => b.hub.events.query({ type: 'broadcast.announcement' }).length === 1, 8000, 'logged');
  const ev = b.hub.events.query({ type: 'broadcast.announcement' })[0];
  t.equal(ev?.actor, 'automation:announcements');
  t.same(ev?.sessionIds, [a.id, c.id].sort());
  t.match(ev?.data, { announcement: 'starts', skipped: false, messageId: 1 });

  await b.advance(10 * MIN);
  await waitFor(() => b.sim.log().length === 2, 8000, 'late session start');
  t.match(b.sim.log()[1], { message: 1, zones: [3] });

  // 30 minutes before the end of P-A and P-C (09:40).
  await b.advance(20 * MIN);
  await waitFor(() => b.sim.log().length === 3, 8000, 'thirty minutes left');
  t.match(b.sim.log()[2], { message: 11, zones: [1, 2], priority: 1 });
  t.equal(b.sim.log().filter((e) => e.message === 11).length, 1, 'played once');

  // P-L closes early: its "30 minutes left" (09:50) is not played.
  await b.hub.sessions.close(late.id, 'user:admin');
  await b.advance(20 * MIN);
  t.equal(b.sim.log().filter((e) => e.message === 11).length, 1, 'nothing for a closed session');
});

void t.test('cron announcements play to every session in progress at that site-local time', async (t) => {
  const b = await startBroadcastHub(t, 'tcp', { broadcast: SCHEDULE });
  await b.session('P-1', ['room-2'], -MIN, 6 * 3600_000);
  await b.session('P-2', ['room-3'], -MIN, 6 * 3600_000);
  await b.session('P-3', ['room-1'], 4 * 3600_000, 3600_000); // not yet in progress at 11:30
  // 09:00 → 11:29, in steps so that nothing else is missed.
  for (let i = 0; i < 149; i++) await b.advance(MIN);
  t.equal(b.sim.log().filter((e) => e.kind === 'tts').length, 0, 'not before 11:30');
  await b.advance(MIN);
  await waitFor(() => b.sim.log().some((e) => e.kind === 'tts'), 8000, 'lunch');
  t.match(b.sim.log().filter((e) => e.kind === 'tts'), [{ text: '午餐已送达', zones: [2, 3], priority: 1 }]);
  await b.advance(MIN);
  t.equal(b.sim.log().filter((e) => e.kind === 'tts').length, 1, 'once a day');
});

void t.test('an announcement waits for a warning, and is skipped (logged) when the zone stays busy', async (t) => {
  const b = await startBroadcastHub(t, 'tcp', { broadcast: SCHEDULE });
  const s = await b.session('P-1', ['room-1'], 5 * MIN, 60 * MIN);
  await b.advance(5 * MIN - 2000);
  t.equal((await b.call('POST', '/api/broadcast/warnings', 'sup1', { room: 'room-1', messageId: 2, reason: 'phones' })).status, 200);
  await b.advance(2000); // the start announcement falls due while the warning plays
  t.equal(b.sim.log().length, 1, 'the announcement does not cut the warning');
  await b.advance(MESSAGE_MS);
  await waitFor(() => b.sim.log().length === 2, 8000, 'announcement after the warning');
  t.match(b.sim.log(), [{ message: 2, outcome: 'done' }, { message: 1, priority: 1 }]);

  // A live call holds room-1 past the 30 s wait when "thirty minutes left" falls due.
  await b.advance(MESSAGE_MS);
  t.equal((await b.call('POST', '/api/broadcast/calls', 'sup1', { room: 'room-1', reason: 'long talk' })).status, 201);
  const end = s.end;
  await b.advance(end - 30 * MIN - b.clock.now());
  await b.advance(30_000);
  await waitFor(() => b.hub.events.query({ type: 'broadcast.announcement' }).length === 2, 8000, 'skipped announcement logged');
  t.match(b.hub.events.query({ type: 'broadcast.announcement' })[1]?.data, { announcement: 'thirty-left', skipped: true, outcome: 'busy' });
  t.equal(b.sim.log().filter((e) => e.message === 11).length, 0);
});

void t.test('an invalid broadcast section is refused by the loader and by the feature, naming every problem', async (t) => {
  const { facility } = await import('../helpers/hub.js');
  const { parseFacility } = await import('../../config/load.js');
  const { broadcastFacilityYaml } = await import('../helpers/broadcast-hub.js');
  const { broadcastConfigProblems } = await import('../../hub/broadcast/settings.js');
  const section = `  announcements:
    - { id: x, cron: "61 * * * *", messageId: 1 }
    - { id: y, beforeEndMinutes: 5, afterStartMinutes: 1, messageId: 404 }
    - { id: x, cron: "* * * * * *", text: 秒 }
  emergency: { fireAlarmMessageId: 77 }`;
  const expected = [
    { path: '/broadcast/announcements/0/cron', expected: /valid cron/ },
    { path: '/broadcast/announcements/1', expected: /exactly one of beforeEndMinutes/ },
    { path: '/broadcast/announcements/1/messageId', found: '404' },
    { path: '/broadcast/announcements/2/id' },
    { path: '/broadcast/announcements/2/cron', expected: /5 fields/ },
    { path: '/broadcast/emergency/fireAlarmMessageId', found: '77' },
  ];
  // `config check` and `start` refuse the file, every problem with its file and line.
  const loaded = parseFacility(broadcastFacilityYaml('{ type: tcp, host: 127.0.0.1, port: 1 }', { broadcast: section }), 'site.yaml');
  t.equal(loaded.ok, false);
  if (!loaded.ok) {
    t.match(loaded.errors, expected.map((e) => ({ ...e, file: 'site.yaml', line: Number })));
  }
  // A facility built in code with the same section: the feature fails closed too.
  const f = facility(broadcastFacilityYaml('{ type: tcp, host: 127.0.0.1, port: 1 }'));
  const { parse } = await import('yaml');
  const raw = parse(broadcastFacilityYaml('{ type: tcp, host: 127.0.0.1, port: 1 }', { broadcast: section })) as { broadcast: Record<string, unknown> };
  f.broadcast = { ...f.broadcast, ...raw.broadcast };
  t.match(broadcastConfigProblems(f), expected);
  const { Hub } = await import('../../hub/hub.js');
  const { createBroadcastFeature } = await import('../../hub/broadcast/feature.js');
  const { tempDir } = await import('../helpers/hub.js');
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const hub = new Hub({ facility: f, dataDir: tmp.dir, httpPort: 0, mqttPort: 0 });
  t.teardown(() => hub.stop('test'));
  t.throws(() => createBroadcastFeature(hub.services()), /invalid broadcast configuration:\n.*\/broadcast\/announcements\/0\/cron/);
});
