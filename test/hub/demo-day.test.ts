/**
 * The living demo (hub/demo/day.ts) over a full hub with a real MQTT gate and a real PA
 * simulator, on a ManualClock moved through twelve hours: sessions keep being created as
 * others close, experts keep arriving with a realistic mix, rooms empty as sessions close,
 * announcements and warnings play. The one-off seed it replaced went quiet after ten minutes.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../../hub/log.js';
import { DemoDay, demoWarner } from '../../hub/demo/day.js';
import type { BroadcastFeature } from '../../hub/broadcast/feature.js';
import { startGatePaRig } from '../helpers/gate-pa.js';

const MIN = 60_000;
const HOURS = 12;

void t.test('the demo runs a living day: hours later the centre still grants, seats, announces and warns', async (t) => {
  const rooms = ['room-1', 'room-2', 'room-3', 'room-4'];
  const rig = await startGatePaRig(t, {
    rooms: rooms.map((id) => ({ id, seats: 8 })),
    zones: rooms.map((room, i) => ({ zone: i + 1, room })),
    broadcast: `  messages:
    - { id: 3, text: 请遵守评标纪律，独立评审，不得互相讨论。 }
    - { id: 10, text: 评标现在开始，请各位专家独立评审。 }
  announcements:
    - { id: evaluation-starts, afterStartMinutes: 0, messageId: 10 }
  warningWaitMs: 0
  controller: { pollSeconds: 0 }`,
  });
  const { hub } = rig.th;
  const broadcast = hub.features.find((f): f is BroadcastFeature => f.name === 'broadcast');
  if (!broadcast) throw new Error('no broadcast feature');
  const day = new DemoDay({ facility: hub.facility, sessions: hub.sessions, checkin: rig.checkin, clock: rig.clock, log: silentLogger(), gates: [rig.gate], warn: demoWarner(broadcast, hub.facility) });
  t.teardown(() => day.stop());
  await day.start();

  const grantsPerHour: number[] = [];
  const openAtHour: number[] = [];
  let granted = 0;
  for (let hour = 0; hour < HOURS; hour++) {
    for (let m = 0; m < 60; m++) {
      rig.clock.advance(MIN);
      await day.settle();
      await sleep(20); // the gate's `passed` event and the PA's answers cross real sockets before the clock moves on
    }
    grantsPerHour.push(day.stats.granted - granted);
    granted = day.stats.granted;
    openAtHour.push(hub.sessions.list().filter((s) => s.status !== 'closed').length);
  }
  t.comment(`grants per hour ${grantsPerHour.join(' ')}; open sessions ${openAtHour.join(' ')}; ${JSON.stringify(day.stats)}`);
  t.ok(openAtHour.every((n) => n >= 1), 'every hour some session is open');
  t.ok(day.stats.sessionsCreated >= 8, 'sessions are created as others close');
  t.ok(hub.sessions.list().filter((s) => s.status === 'closed').length >= 4, 'and sessions do close');
  // Sessions last up to 3 h and check-in opens 1 h before: every 4-hour stretch has arrivals.
  for (let h = 0; h + 4 <= HOURS; h += 4) t.ok(grantsPerHour.slice(h, h + 4).reduce((a, b) => a + b, 0) > 0, `grants in hours ${h}..${h + 4}`);
  t.ok(grantsPerHour.slice(HOURS - 4).reduce((a, b) => a + b, 0) >= 4, 'still granting experts in the last four hours');
  const denied = Object.values(day.stats.denied).reduce((a, b) => a + b, 0);
  t.ok(day.stats.granted > 2 * denied, `mostly grants (${day.stats.granted} granted, ${denied} denied)`);
  t.ok((day.stats.denied['face-mismatch'] ?? 0) > 0, 'some faces do not match');
  t.ok((day.stats.denied['outside-window'] ?? 0) > 0, 'some experts come before check-in opens');
  t.ok((day.stats.denied['not-on-roster'] ?? 0) > 0, 'now and then someone not on any roster');
  t.ok(day.stats.exits > 0, 'experts walk out when their session closes');
  t.ok(day.stats.warnings > 0, 'supervisor warnings play');
  const log = rig.sim.log();
  t.ok(log.some((e) => e.priority === 2), 'a warning reached the PA controller');
  t.ok(log.some((e) => e.priority === 1), 'announcements reached it');
  const starts = hub.events.query({ type: 'broadcast.announcement' });
  const playedStarts = starts.filter((e) => (e.data as { skipped?: boolean }).skipped === false).length;
  t.comment(`announcement outcomes: ${starts.map((e) => String((e.data as { outcome?: string }).outcome)).join(' ')}`);
  t.ok(playedStarts >= 1 && starts.length >= 8, `"evaluation starts" announced through the day (${playedStarts} of ${starts.length} played, the rest skipped and logged)`);
  // The hub's own record agrees: grants in the check-in table from the last hours too.
  const lastHours = hub.events.query({ type: 'checkin.passed' }).filter((e) => e.ts > rig.clock.now() - 4 * 3600_000);
  t.ok(lastHours.length > 0, 'the event log shows experts passing the gate in the last hours');
});
