/**
 * Where a warning or call goes: a session (all its rooms), a room, or a seat (its seat speaker
 * zone if one is configured, else the room's zone); which controller zones that is, and which
 * running evaluation sessions it reaches (dispersed seating puts several sessions in one room).
 */
import { HubError } from '../errors.js';
import type { Facility } from '../../config/schema.js';
import type { BroadcastDevice } from '../../devices/broadcast.js';
import type { Session } from '../sessions/sessions.js';

export interface TargetInput {
  sessionId?: string;
  room?: string;
  seat?: number;
}

export interface Delivery {
  device: BroadcastDevice;
  zones: number[];
  rooms: string[];
}

export interface ResolvedTarget {
  /** The rate-limit key: what the request named. */
  key: string;
  label: string;
  sessionId: string | null;
  rooms: string[];
  seat: number | null;
  /** A seat target played on that seat's own speaker only (nobody else in the room hears it). */
  seatSpeaker: boolean;
  deliveries: Delivery[];
  /** Rooms of the target that no broadcast zone covers. */
  notCovered: string[];
}

export interface SessionSource {
  get(id: string): Session | null;
  active(): Session[];
}

function invalid(field: string, message: string): HubError {
  return new HubError('HUB_ERR_VALIDATION', [message], { field });
}

export function resolveTarget(input: TargetInput, facility: Facility, sessions: SessionSource, devices: BroadcastDevice[]): ResolvedTarget {
  const roomSeats = new Map(facility.rooms.map((r) => [r.id, r.seats]));
  const roomList = [...roomSeats.keys()].join(', ');
  if (input.seat !== undefined && input.room === undefined) throw invalid('body.room', 'body.room is required with body.seat (a seat is numbered within its room)');
  if (input.sessionId === undefined && input.room === undefined) throw invalid('body.room', 'body.sessionId or body.room is required: the session, room or seat to reach');
  let session: Session | null = null;
  if (input.sessionId !== undefined) {
    session = sessions.get(input.sessionId);
    if (!session) throw new HubError('HUB_ERR_NOT_FOUND', [`session ${input.sessionId}`], { field: 'body.sessionId' });
    if (session.status === 'closed' || session.status === 'scheduled') {
      throw new HubError('HUB_ERR_CONFLICT', [`session ${session.code} (${session.id}) is ${session.status}: nobody of it is in the evaluation area`], { field: 'body.sessionId', status: session.status });
    }
  }
  let rooms: string[];
  if (input.room !== undefined) {
    const seats = roomSeats.get(input.room);
    if (seats === undefined) throw invalid('body.room', `body.room ${JSON.stringify(input.room)} is not a room of this facility (rooms: ${roomList})`);
    if (session && !session.rooms.includes(input.room)) {
      throw invalid('body.room', `body.room ${input.room} is not a room of session ${session.code} (its rooms: ${session.rooms.join(', ')})`);
    }
    if (input.seat !== undefined && (input.seat < 1 || input.seat > seats)) throw invalid('body.seat', `body.seat must be a seat of ${input.room} (1..${seats})`);
    rooms = [input.room];
  } else {
    rooms = [...(session?.rooms ?? [])];
  }
  const deliveries: Delivery[] = [];
  const notCovered: string[] = [];
  let seatSpeaker = input.seat !== undefined;
  for (const room of rooms) {
    let placed = false;
    for (const device of devices) {
      const zone = device.zoneFor(room, input.seat);
      if (zone === null) continue;
      // zoneFor falls back to the room's zone when the seat has no speaker of its own.
      if (input.seat !== undefined && device.zoneFor(room) === zone) seatSpeaker = false;
      let d = deliveries.find((x) => x.device === device);
      if (!d) {
        d = { device, zones: [], rooms: [] };
        deliveries.push(d);
      }
      if (!d.zones.includes(zone)) d.zones.push(zone);
      d.rooms.push(room);
      placed = true;
      break;
    }
    if (!placed) notCovered.push(room);
  }
  const seat = input.seat ?? null;
  const key = input.room !== undefined ? (seat !== null ? `seat:${input.room}:${seat}` : `room:${input.room}`) : `session:${session?.id ?? ''}`;
  const label = input.room !== undefined ? (seat !== null ? `${input.room} seat ${seat}` : input.room) : `session ${session?.code ?? ''} (${rooms.join(', ')})`;
  if (deliveries.length === 0) {
    throw new HubError('HUB_ERR_UNPROCESSABLE', [`no broadcast zone covers ${rooms.join(', ') || 'the target'}`], { field: input.room !== undefined ? 'body.room' : 'body.sessionId', notCovered });
  }
  return { key, label, sessionId: session?.id ?? null, rooms, seat, seatSpeaker, deliveries, notCovered };
}

/**
 * The running sessions (check-in or in progress) a target reaches, plus the one named. A
 * seat's own speaker reaches only whoever sits there: the session of the expert checked in
 * at that seat (`holder`), when known. Otherwise every session seated in the target's rooms.
 */
export function sessionsReached(rooms: string[], sessions: SessionSource, named: string | null, holder: string | null = null): string[] {
  if (holder !== null) return [...new Set([holder, ...(named ? [named] : [])])].sort();
  const out = new Set<string>();
  if (named) out.add(named);
  for (const s of sessions.active()) if (s.rooms.some((r) => rooms.includes(r))) out.add(s.id);
  return [...out].sort();
}
