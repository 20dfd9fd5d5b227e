/**
 * The console feature: what the console's page needs beyond the public API — the facility's
 * configured (Chinese) names and layout, the live feed (hub/api/live.ts), and the public
 * display's snapshot, which carries no personal data at all (no names, no ID numbers, masked
 * or not): rooms in session, jammer state, counts.
 */
import { Type } from '@sinclair/typebox';
import type { Feature, HubServices } from '../services.js';
import { STAFF, type RoutePlugin } from '../api/types.js';
import { liveRoutes } from '../api/live.js';
import { formatTime } from '../../kernel/time.js';
import { RelayDevice } from '../../devices/relay.js';
import type { StoredEvent } from '../store/events.js';

export type ConsoleDeps = Pick<HubServices, 'facility' | 'clock' | 'events' | 'sessions' | 'devices'>;

export interface ConsoleOptions {
  /** How many experts are inside each room of a session now (from check-in). */
  insideByRoom: (sessionId: string) => Map<string, number>;
}

export interface PublicSnapshot {
  site: string;
  at: string;
  rooms: {
    id: string;
    name: string;
    seats: number;
    /** Sessions using the room now (check-in or in progress): code, project name, status. */
    sessions: { code: string; name: string; status: string }[];
    inside: number;
    /** The room's jammer zone: on, off, or unknown (not read yet); null when the room has none. */
    jammer: 'on' | 'off' | 'unknown' | null;
  }[];
  totals: { sessions: number; inside: number; jammersOn: number };
}

/** Endpoints the console shows when present and marks "未提供 / not available" when not. */
export const OPTIONAL_APIS = ['/api/jammers', '/api/robot/tasks', '/api/users', '/api/audit/verify', '/api/demo'] as const;

/** Which event-log records change the public display. */
const PUBLIC_TYPES = /^(checkin\.|session\.|relay\.|jammer\.|device\.)/;

export function createConsoleFeature(deps: ConsoleDeps, opts: ConsoleOptions): Feature & { publicSnapshot(): PublicSnapshot } {
  const f = deps.facility;
  const offset = f.site.utcOffset;

  const jammers = (): Map<string, 'on' | 'off' | 'unknown'> => {
    const out = new Map<string, 'on' | 'off' | 'unknown'>();
    for (const d of deps.devices.values()) {
      if (!(d instanceof RelayDevice)) continue;
      for (const o of d.outputs()) if (o.role === 'jammer' && o.room) out.set(o.room, o.actual === null ? 'unknown' : o.actual ? 'on' : 'off');
    }
    return out;
  };

  const publicSnapshot = (): PublicSnapshot => {
    const active = deps.sessions.active();
    const inside = new Map<string, number>();
    for (const s of active) for (const [room, n] of opts.insideByRoom(s.id)) inside.set(room, (inside.get(room) ?? 0) + n);
    const jam = jammers();
    const rooms = f.rooms.map((r) => ({
      id: r.id,
      name: r.name || r.id,
      seats: r.seats,
      sessions: active.filter((s) => s.rooms.length === 0 || s.rooms.includes(r.id)).map((s) => ({ code: s.code, name: s.name, status: s.status })),
      inside: inside.get(r.id) ?? 0,
      jammer: jam.get(r.id) ?? null,
    }));
    return {
      site: f.site.name || f.site.id,
      at: formatTime(deps.clock.now(), offset),
      rooms,
      totals: { sessions: active.length, inside: [...inside.values()].reduce((a, b) => a + b, 0), jammersOn: [...jam.values()].filter((v) => v === 'on').length },
    };
  };

  const live = liveRoutes({
    events: deps.events,
    clock: deps.clock,
    utcOffset: offset,
    publicStreams: { public: { snapshot: publicSnapshot, changedBy: (e: StoredEvent) => PUBLIC_TYPES.test(e.type) } },
  });

  const routes: RoutePlugin = async (app, apiDeps) => {
    await app.register(live, apiDeps);
    app.get(
      '/api/console/facility',
      { config: { roles: STAFF }, schema: { tags: ['console'], summary: 'The configured names and layout: site, zones, rooms and seats, devices and their outputs' } },
      async () => ({
        site: { id: f.site.id, name: f.site.name, utcOffset: offset },
        // Parts of the API other features add (docs/console.md): the page asks only for those that exist.
        apis: Object.fromEntries(OPTIONAL_APIS.map((url) => [url, app.hasRoute({ method: 'GET', url })])),
        language: f.policy.checkIn.language,
        zones: f.zones,
        rooms: f.rooms.map((r) => ({ id: r.id, name: r.name || r.id, zone: r.zone ?? null, seats: r.seats })),
        devices: f.devices.map((d) => ({
          id: d.id,
          kind: d.kind,
          name: d.name ?? d.id,
          rooms: d.rooms,
          outputs: d.kind === 'relay' ? ((d.options as { outputs?: { id: string; name?: string; role: string; room?: string }[] }).outputs ?? []).map((o) => ({ id: o.id, name: o.name ?? o.id, role: o.role, room: o.room ?? null })) : [],
        })),
      }),
    );
    app.get(
      '/api/public',
      {
        config: { public: true },
        schema: {
          tags: ['console'],
          summary: 'The public display: rooms in session, jammer state, counts; no login and no personal data',
          security: [],
          response: {
            200: Type.Object({
              site: Type.String(),
              at: Type.String(),
              rooms: Type.Array(
                Type.Object({
                  id: Type.String(),
                  name: Type.String(),
                  seats: Type.Integer(),
                  sessions: Type.Array(Type.Object({ code: Type.String(), name: Type.String(), status: Type.String() })),
                  inside: Type.Integer(),
                  jammer: Type.Union([Type.Literal('on'), Type.Literal('off'), Type.Literal('unknown'), Type.Null()]),
                }),
              ),
              totals: Type.Object({ sessions: Type.Integer(), inside: Type.Integer(), jammersOn: Type.Integer() }),
            }),
          },
        },
      },
      async () => publicSnapshot(),
    );
  };

  return { name: 'console', routes, publicSnapshot, start: async () => undefined, stop: async () => undefined };
}
