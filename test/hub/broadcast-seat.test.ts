import t from 'tap';
import { demoPeople } from '../../simulators/demo-people.js';
import type { BroadcastFeature } from '../../hub/broadcast/feature.js';
import type { User } from '../../hub/users.js';
import { waitFor } from '../helpers/hub.js';
import { startGatePaRig, T0 } from '../helpers/gate-pa.js';

const MIN = 60_000;

// room-1 has two seats, each with its own speaker; room-2 has only a room speaker.
const SEAT_FACILITY = {
  rooms: [
    { id: 'room-1', seats: 2 },
    { id: 'room-2', seats: 2 },
  ],
  zones: [
    { zone: 1, room: 'room-1' },
    { zone: 2, room: 'room-2' },
    { zone: 3, room: 'room-1', seat: 1 },
    { zone: 4, room: 'room-1', seat: 2 },
  ],
  broadcast: '  rateLimit: { max: 10, windowSeconds: 60 }\n  warningWaitMs: 0',
};

void t.test("a warning on a seat's own speaker is logged against the session of the expert sitting there", async (t) => {
  const { th, checkin, gate } = await startGatePaRig(t, SEAT_FACILITY);
  const { hub } = th;
  const [a, b] = demoPeople(0, 2);
  const sessionA = (await hub.sessions.create({ code: 'A', name: 'A', start: T0 + 30 * MIN, end: T0 + 180 * MIN, rooms: ['room-1'] }, 'user:admin')).session;
  const sessionB = (await hub.sessions.create({ code: 'B', name: 'B', start: T0 + 30 * MIN, end: T0 + 180 * MIN, rooms: ['room-1', 'room-2'] }, 'user:admin')).session;
  await checkin.replaceRoster(sessionA.id, checkin.validateRoster([a!]).entries, 'user:admin');
  await checkin.replaceRoster(sessionB.id, checkin.validateRoster([b!]).entries, 'user:admin');
  const seated = await gate.present(a!);
  t.equal(seated.room, 'room-1');
  await waitFor(() => checkin.checkins(sessionA.id)[0]?.status === 'inside', 5000, 'inside');
  const other = seated.seat === 1 ? 2 : 1;

  const supervisor: User = { username: 'sup1', role: 'supervisor', displayName: '监督员一' };
  const service = (hub.features.find((f) => f.name === 'broadcast') as BroadcastFeature).service()!;
  const reached = async (target: { room: string; seat?: number }): Promise<string[]> => (await service.warn({ text: '请遵守纪律', reason: 'test', ...target }, supervisor)).sessionIds;

  t.same(await reached({ room: 'room-1', seat: seated.seat }), [sessionA.id], "the seat's expert's session only");
  t.same(await reached({ room: 'room-1', seat: other }), [sessionA.id, sessionB.id].sort(), 'an empty seat: every session seated in the room');
  t.same(await reached({ room: 'room-1' }), [sessionA.id, sessionB.id].sort(), 'the room speaker: every session in the room');
  t.same(await reached({ room: 'room-2', seat: 1 }), [sessionB.id], 'a seat without a speaker of its own plays in its room, reaching its sessions');
  const logged = hub.events.query({ sessionId: sessionB.id, type: 'broadcast.warning' });
  t.equal(logged.length, 3, "session B's log has the three warnings that reached it, not the one at A's seat");
});
