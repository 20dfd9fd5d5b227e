import t from 'tap';
import fc from 'fast-check';
import { capacityProblem, drawSeat, type HeldSeat, type SessionSpan } from '../../../hub/sessions/seating.js';

/**
 * Over 1,000 random facilities, sessions, rosters and arrival orders: sessions that the
 * capacity check accepts always seat every expert, no two experts of a session share a
 * room, no seat is given twice, and every seat is in one of the session's rooms.
 */
const scenario = fc
  .record({
    rooms: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 6 }),
    sessions: fc.array(
      fc.record({
        roomMask: fc.integer({ min: 1, max: 63 }),
        experts: fc.integer({ min: 0, max: 7 }),
        start: fc.integer({ min: 0, max: 10 }),
        length: fc.integer({ min: 1, max: 6 }),
      }),
      { minLength: 1, maxLength: 8 },
    ),
    order: fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
    seed: fc.integer(),
  })
  .map(({ rooms, sessions, order, seed }) => ({ rooms: rooms.map((seats, i) => ({ id: `r${i}`, seats })), sessions, order, seed }));

void t.test('dispersed seating never breaks the rule', async (t) => {
  let seatedTotal = 0;
  let refusedSessions = 0;
  fc.assert(
    fc.property(scenario, ({ rooms, sessions, order, seed }) => {
      // Create sessions as the API would: refused when the rule cannot hold.
      const accepted: SessionSpan[] = [];
      sessions.forEach((s, i) => {
        const own = rooms.filter((_, j) => (s.roomMask >> j) & 1).map((r) => r.id);
        if (own.length === 0) return;
        const span: SessionSpan = { id: `s${i}`, start: s.start, end: s.start + s.length, rooms: own, experts: s.experts };
        if (capacityProblem(span, accepted, rooms) === null) accepted.push(span);
        else refusedSessions++;
      });
      // Worst case for seats: every accepted session's experts arrive while all are running.
      const arrivals = accepted.flatMap((s) => Array.from({ length: s.experts }, () => s));
      for (let i = arrivals.length - 1; i > 0; i--) {
        const j = order[i % order.length]! % (i + 1);
        [arrivals[i], arrivals[j]] = [arrivals[j]!, arrivals[i]!];
      }
      let x = seed >>> 0;
      const rng = (n: number): number => {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        return x % n;
      };
      const held: HeldSeat[] = [];
      for (const s of arrivals) {
        // Sessions that do not overlap in time share nothing; model each arrival against
        // the seats held by sessions overlapping this one.
        const overlapping = held.filter((h) => {
          const o = accepted.find((a) => a.id === h.sessionId)!;
          return o.start < s.end && s.start < o.end;
        });
        const seat = drawSeat(rooms, s.rooms, overlapping, s.id, rng);
        if (seat === null) return false; // an accepted session must seat every expert
        if (!s.rooms.includes(seat.room)) return false;
        const room = rooms.find((r) => r.id === seat.room)!;
        if (seat.seat < 1 || seat.seat > room.seats) return false;
        if (overlapping.some((h) => h.room === seat.room && h.seat === seat.seat)) return false; // a seat given twice
        if (held.some((h) => h.sessionId === s.id && h.room === seat.room)) return false; // same session, same room
        held.push({ sessionId: s.id, room: seat.room, seat: seat.seat });
        seatedTotal++;
      }
      return true;
    }),
    { numRuns: 1000, seed: 20261128 },
  );
  t.ok(seatedTotal > 1000, `the runs seated many experts (${seatedTotal})`);
  t.ok(refusedSessions > 0, `some sessions were refused by the capacity check (${refusedSessions})`);
});

void t.test('the capacity check explains its arithmetic', async (t) => {
  const rooms = [
    { id: 'a', seats: 1 },
    { id: 'b', seats: 2 },
  ];
  const tooMany = capacityProblem({ id: 'x', start: 0, end: 10, rooms: ['a', 'b'], experts: 3 }, [], rooms);
  t.match(tooMany, /3 experts need 3 rooms .* has 2 room/);
  const full = capacityProblem({ id: 'y', start: 5, end: 15, rooms: ['a'], experts: 1 }, [{ id: 'x', start: 0, end: 10, rooms: ['a'], experts: 1 }], rooms);
  t.match(full, /room a has 1 seat\(s\) but 2 overlapping sessions/);
  t.equal(capacityProblem({ id: 'z', start: 10, end: 20, rooms: ['a'], experts: 1 }, [{ id: 'x', start: 0, end: 10, rooms: ['a'], experts: 1 }], rooms), null, 'back-to-back sessions do not overlap');
});

void t.test('the draw is uniform over free seats, not over rooms', async (t) => {
  const rooms = [
    { id: 'small', seats: 1 },
    { id: 'big', seats: 9 },
  ];
  const counts = { small: 0, big: 0 };
  let i = 0;
  for (; i < 1000; i++) counts[drawSeat(rooms, ['small', 'big'], [], 's', (n) => i % n)!.room as 'small' | 'big']++;
  t.equal(counts.small, 100, 'the one small-room seat is drawn 1 time in 10');
});
