/**
 * Announcements that name a project, with dispersed seating: two projects' experts share
 * the rooms. The project's own text reaches only the seat speakers of seats its experts
 * hold; the rooms hear it with the project left out. Real hub (check-in seats the experts
 * through a real MQTT gate), real PA simulator over TCP.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGatePaRig } from '../helpers/gate-pa.js';
import { waitFor } from '../helpers/wait.js';
import { demoPerson } from '../helpers/checkin.js';
import { namesNoProject } from '../../hub/broadcast/service.js';

const MIN = 60_000;

void t.test('the project-naming text leaves out the project for the rooms', async (t) => {
  t.equal(namesNoProject('【{project}】距离评标结束还有三十分钟。'), '距离评标结束还有三十分钟。');
  t.equal(namesNoProject('{code}：请专家签字确认。'), '请专家签字确认。');
  t.equal(namesNoProject('{project}'), '', 'nothing left: the rooms hear nothing');
});

void t.test('a project-naming announcement goes only to its experts\' seat speakers; rooms hear it without the project', async (t) => {
  // room-1 has a speaker per seat (zones 3..6), room-2 only its room speaker.
  const rig = await startGatePaRig(t, {
    rooms: [
      { id: 'room-1', seats: 4 },
      { id: 'room-2', seats: 4 },
    ],
    zones: [{ zone: 1, room: 'room-1' }, { zone: 2, room: 'room-2' }, ...[1, 2, 3, 4].map((seat) => ({ zone: 2 + seat, room: 'room-1', seat }))],
    broadcast: `  announcements:
    - { id: thirty-left, beforeEndMinutes: 30, text: "【{project}】距离评标结束还有三十分钟。" }
  warningWaitMs: 0
  controller: { pollSeconds: 0 }`,
  });
  const { hub } = rig.th;
  const now = rig.clock.now();
  const mk = async (code: string, name: string, endMin: number, people: number[]): Promise<string> => {
    const { session } = await hub.sessions.create({ code, name, start: now - MIN, end: now + endMin * MIN, rooms: ['room-1', 'room-2'] }, 'user:admin');
    const { entries } = rig.checkin.validateRoster(people.map((i) => demoPerson(i)));
    await rig.checkin.replaceRoster(session.id, entries, 'user:admin');
    return session.id;
  };
  const a = await mk('P-A', '甲项目施工', 60, [1, 2]);
  const b = await mk('P-B', '乙项目监理', 120, [3, 4]);
  const seats: Record<string, { room: string; seat: number }[]> = { [a]: [], [b]: [] };
  for (const i of [1, 2, 3, 4]) {
    const r = await rig.gate.present(demoPerson(i));
    t.equal(r.decision, 'grant', `expert ${i} granted`);
    seats[r.sessionId!]!.push({ room: r.room!, seat: r.seat! });
  }
  await sleep(50);
  const aInRoom1 = seats[a]!.filter((s) => s.room === 'room-1');
  t.ok(aInRoom1.length >= 1 && seats[b]!.some((s) => s.room === 'room-1'), 'dispersed seating: both projects sit in room-1');

  rig.clock.advance(30 * MIN); // P-A's "thirty minutes left"
  await waitFor(() => rig.sim.log().length >= 2, 8000, 'the announcement played');
  await sleep(50);
  const log = rig.sim.log();
  const named = log.filter((e) => typeof e.text === 'string' && e.text.includes('甲项目施工'));
  t.same(
    named.flatMap((e) => e.zones).sort(),
    aInRoom1.map((s) => 2 + s.seat).sort(),
    'the text naming P-A plays only on the seat speakers of P-A\'s experts',
  );
  const neutral = log.filter((e) => e.text === '距离评标结束还有三十分钟。');
  t.same(neutral.flatMap((e) => e.zones).sort(), [1, 2], 'the rooms hear it without the project');
  t.notOk(log.some((e) => typeof e.text === 'string' && e.text.includes('乙项目')), 'nothing names P-B');
  const records = hub.events.query({ type: 'broadcast.announcement' });
  t.ok(records.some((e) => (e.data as { to?: string }).to === 'seats' && e.sessionIds.length === 1 && e.sessionIds[0] === a), 'the seat play is logged against P-A only');
});
