import { randomInt } from 'node:crypto';

/**
 * Dispersed seating (同室不同标、同标不见面): no two experts of one session share a room,
 * rooms mix sessions, and the seat is drawn at random at the moment of the grant, so
 * nobody can know their room in advance. Pure functions, so the rule can be checked by a
 * property test over thousands of facilities.
 */
export interface RoomSeats {
  id: string;
  seats: number;
}

export interface HeldSeat {
  sessionId: string;
  room: string;
  seat: number;
}

export type Rng = (maxExclusive: number) => number;
export const cryptoRng: Rng = (n) => randomInt(n);

/**
 * Draws a free seat for an expert of `sessionId`, or null when the rule leaves none.
 * Runs inside every first grant at a gate, so it avoids building per-seat strings or
 * arrays: one pass over the held seats, one count of the free ones, then the k-th.
 */
export function drawSeat(rooms: readonly RoomSeats[], sessionRooms: readonly string[], held: readonly HeldSeat[], sessionId: string, rng: Rng = cryptoRng): { room: string; seat: number } | null {
  const wanted = new Set(sessionRooms);
  const taken = new Map<string, Set<number>>();
  const roomsOfSession = new Set<string>();
  for (const h of held) {
    if (!wanted.has(h.room)) continue;
    if (h.sessionId === sessionId) roomsOfSession.add(h.room);
    let seats = taken.get(h.room);
    if (!seats) taken.set(h.room, (seats = new Set()));
    seats.add(h.seat);
  }
  const open = (r: RoomSeats): boolean => wanted.has(r.id) && !roomsOfSession.has(r.id);
  let free = 0;
  for (const r of rooms) {
    if (!open(r)) continue;
    const t = taken.get(r.id);
    for (let s = 1; s <= r.seats; s++) if (!t?.has(s)) free++;
  }
  if (free === 0) return null;
  // Uniform over free seats (not over rooms): every free seat is equally likely. Free seats
  // are counted in facility room order, seats ascending; the k-th of them is the draw.
  let k = rng(free);
  for (const r of rooms) {
    if (!open(r)) continue;
    const t = taken.get(r.id);
    for (let s = 1; s <= r.seats; s++) {
      if (t?.has(s)) continue;
      if (k-- === 0) return { room: r.id, seat: s };
    }
  }
  return null; // unreachable: k < free
}

export interface SessionSpan {
  id: string;
  start: number;
  end: number;
  rooms: readonly string[];
  experts: number;
}

/**
 * Whether a session can keep the rule: one expert per room means at most as many experts
 * as rooms, and every room must have a seat for each session that overlaps in time.
 * Returns the arithmetic of the first problem, or null.
 */
export function capacityProblem(candidate: SessionSpan, others: readonly SessionSpan[], rooms: readonly RoomSeats[]): string | null {
  if (candidate.experts > candidate.rooms.length) {
    return `${candidate.experts} experts need ${candidate.experts} rooms (one expert of a session per room), but the session has ${candidate.rooms.length} room(s): ${candidate.rooms.join(', ')}`;
  }
  const seatsOf = new Map(rooms.map((r) => [r.id, r.seats]));
  const overlapping = others.filter((o) => o.id !== candidate.id && o.start < candidate.end && candidate.start < o.end);
  for (const room of candidate.rooms) {
    const users = overlapping.filter((o) => o.rooms.includes(room));
    const seats = seatsOf.get(room) ?? 0;
    if (users.length + 1 > seats) {
      return `room ${room} has ${seats} seat(s) but ${users.length + 1} overlapping sessions would each seat one expert there (${[...users.map((u) => u.id), candidate.id].join(', ')})`;
    }
  }
  return null;
}
