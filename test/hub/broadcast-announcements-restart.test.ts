/**
 * Scheduled announcements across a hub restart and a PA link that goes away: what was
 * played is not played again after a restart (the played set is in the store), and an
 * announcement that could not reach the controller is played when the link returns within
 * its validity window, else recorded and logged as missed. Real PA simulator over TCP, real
 * SQLite data dir reused by the second hub, a ManualClock shared by both.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { Hub } from '../../hub/hub.js';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import { createBroadcastFeature, type BroadcastFeature } from '../../hub/broadcast/feature.js';
import { VALID_MS } from '../../hub/broadcast/announcements.js';
import { startPaSimulator, type PaSimulator } from '../../simulators/pa-controller.js';
import { broadcastFacilityYaml, MESSAGE_MS } from '../helpers/broadcast-hub.js';
import { ADMIN_PASSWORD, facility, tempDir } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

const MIN = 60_000;
const SCHEDULE = `  announcements:
    - { id: starts, afterStartMinutes: 0, messageId: 1 }
    - { id: thirty-left, beforeEndMinutes: 30, messageId: 11 }
    - { id: ten-left, beforeEndMinutes: 10, messageId: 2 }
  announcementWaitSeconds: 30
  warningWaitMs: 0`;

interface Booted {
  hub: Hub;
  feature: BroadcastFeature;
}

void t.test('a restart does not replay what was played; a missed announcement is played when the PA link returns, or logged as missed', async (t) => {
  const clock = new ManualClock();
  const log = silentLogger();
  const tmp = tempDir('fh-ann-');
  t.teardown(tmp.cleanup);
  const sims: PaSimulator[] = [];
  const startSim = async (port: number): Promise<PaSimulator> => {
    const sim = await startPaSimulator({ port, zones: 4, clock, log, messageDurationMs: MESSAGE_MS, chimeDurationMs: 1000, messages: 64 });
    sims.push(sim);
    return sim;
  };
  t.teardown(async () => {
    for (const s of sims) await s.stop().catch(() => undefined);
  });
  const sim1 = await startSim(0);
  const port = sim1.port;
  const hubs: Hub[] = [];
  t.teardown(async () => {
    for (const h of hubs) await h.stop('test');
  });
  const boot = async (): Promise<Booted> => {
    const hub = new Hub({
      facility: facility(broadcastFacilityYaml(`{ type: tcp, host: 127.0.0.1, port: ${port} }`, { broadcast: SCHEDULE })),
      dataDir: tmp.dir,
      httpPort: 0,
      mqttPort: 0,
      httpHost: '127.0.0.1',
      mqttHost: '127.0.0.1',
      log,
      clock,
      adminPassword: ADMIN_PASSWORD,
    });
    hubs.push(hub);
    const feature = hub.addFeature(createBroadcastFeature(hub.services()));
    await hub.start();
    return { hub, feature };
  };
  const advance = async (ms: number): Promise<void> => {
    clock.advance(ms);
    await sleep(25);
  };
  /** Moves the clock in small steps (the line's reconnect backoff runs on it) until pa-1 is available. */
  const untilAvailable = async (hub: Hub): Promise<void> => {
    await waitFor(
      async () => {
        if (hub.availability.isAvailable('pa-1')) return true;
        await advance(100);
        return false;
      },
      20_000,
      'pa-1 available',
    );
  };
  const played = (sim: PaSimulator, message: number): number => sim.log().filter((e) => e.message === message).length;

  // --- the first hub plays "evaluation starts" ---
  const first = await boot();
  await untilAvailable(first.hub);
  const start = clock.now() + 5 * MIN;
  const { session } = await first.hub.sessions.create({ code: 'P-1', name: '项目 P-1', start, end: start + 60 * MIN, rooms: ['room-2'], checkInOpensMinutes: 60 }, 'user:admin');
  await advance(start - clock.now());
  await waitFor(() => played(sim1, 1) === 1, 8000, 'the start announcement');
  await waitFor(() => first.hub.events.query({ type: 'broadcast.announcement' }).length === 1, 8000, 'logged');
  await sleep(50); // the played record is written after the controller's answer
  await first.hub.stop('restart');

  // --- restarted 30 s later, well within the validity window ---
  await advance(30_000);
  const second = await boot();
  await untilAvailable(second.hub);
  await advance(1000);
  await sleep(200);
  t.equal(played(sim1, 1), 1, 'the restarted hub does not say "evaluation starts" again');
  t.equal(second.hub.events.query({ type: 'broadcast.announcement' }).length, 1, 'nor log it again');

  // --- the PA link goes away before "thirty minutes left" ---
  await sim1.stop();
  await waitFor(() => !second.hub.availability.isAvailable('pa-1'), 8000, 'pa-1 unavailable');
  await advance(session.end - 30 * MIN - clock.now());
  await waitFor(() => (second.feature.scheduler()?.waiting().length ?? 0) === 1, 8000, 'the announcement waits for a controller');
  t.match(second.feature.scheduler()?.waiting(), [{ announcement: 'thirty-left', sessionIds: [session.id] }]);
  await advance(2 * MIN);
  const sim2 = await startSim(port);
  await untilAvailable(second.hub);
  await waitFor(() => played(sim2, 11) === 1, 8000, 'played once the link is back');
  t.match(sim2.log().find((e) => e.message === 11), { kind: 'play', zones: [2], priority: 1 });
  t.same(second.feature.scheduler()?.waiting(), [], 'nothing waits any more');
  await waitFor(() => second.hub.events.query({ type: 'broadcast.announcement' }).some((e) => (e.data as { skipped?: boolean }).skipped === false && (e.data as { announcement?: string }).announcement === 'thirty-left'), 8000, 'the late play logged');

  // --- down again at "ten minutes left", and back only after its window ---
  await advance(MESSAGE_MS);
  await sim2.stop();
  await waitFor(() => !second.hub.availability.isAvailable('pa-1'), 8000, 'pa-1 unavailable again');
  await advance(session.end - 10 * MIN - clock.now());
  await waitFor(() => (second.feature.scheduler()?.waiting().length ?? 0) === 1, 8000, 'waiting again');
  await advance(VALID_MS + 1000);
  await waitFor(() => second.hub.events.query({ type: 'broadcast.announcement.missed' }).length === 1, 8000, 'missed logged');
  const missed = second.hub.events.query({ type: 'broadcast.announcement.missed' })[0];
  t.equal(missed?.actor, 'automation:announcements');
  t.same(missed?.sessionIds, [session.id]);
  t.match(missed?.data, { announcement: 'ten-left', reason: /validity window/ });
  const sim3 = await startSim(port);
  await untilAvailable(second.hub);
  await advance(1000);
  await sleep(200);
  t.equal(played(sim3, 2), 0, 'a missed announcement is not played after its window');
});
