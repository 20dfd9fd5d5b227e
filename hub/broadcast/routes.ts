/**
 * The broadcast API (contract: POST /api/broadcast/warnings). Supervisors and admins warn and
 * talk; everyone on the console's side (admin, supervisor, operator) reads the status and the
 * recent played log.
 */
import { Type } from '@sinclair/typebox';
import { hubError } from '../errors.js';
import { formatTime } from '../../kernel/time.js';
import { SUPERVISE, type Api, type ApiDeps, type RoutePlugin } from '../api/types.js';
import { ErrorSchema } from '../api/schemas.js';
import type { BroadcastService } from './service.js';
import type { AnnouncementScheduler } from './announcements.js';
import type { BroadcastSettings } from './settings.js';
import type { BroadcastDevice } from '../../devices/broadcast.js';

const READ_ROLES = ['admin', 'supervisor', 'operator'] as const;

const Target = {
  sessionId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'an evaluation session: all its rooms' })),
  room: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'a room (with sessionId: a room of that session)' })),
  seat: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: "a seat of the room: its seat speaker if configured, else the room's zone" })),
};
const Reason = Type.String({ minLength: 1, maxLength: 500, description: 'why: logged against every session reached' });

const WarningBody = Type.Object(
  {
    ...Target,
    messageId: Type.Optional(Type.Integer({ minimum: 1, maximum: 9999, description: 'a message of the catalogue (GET /api/broadcast)' })),
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: "spoken by the controller's TTS" })),
    repeat: Type.Optional(Type.Integer({ minimum: 1, maximum: 3 })),
    reason: Reason,
  },
  { additionalProperties: false },
);

const CallBody = Type.Object({ ...Target, reason: Reason }, { additionalProperties: false });

const Played = Type.Object({
  deviceId: Type.String(),
  zones: Type.Array(Type.Integer()),
  rooms: Type.Array(Type.String()),
  seat: Type.Union([Type.Integer(), Type.Null()]),
  confirmed: Type.Boolean(),
  outcome: Type.String(),
  via: Type.Union([Type.String(), Type.Null()]),
  activityId: Type.Optional(Type.Integer()),
  recordingId: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
  busy: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()))),
  preemptedBy: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  commandId: Type.Optional(Type.String()),
});

const EntryView = Type.Object({
  id: Type.String(),
  source: Type.String(),
  priority: Type.String(),
  at: Type.String(),
  by: Type.String(),
  displayName: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  target: Type.String(),
  sessionIds: Type.Array(Type.String()),
  rooms: Type.Array(Type.String()),
  seat: Type.Union([Type.Integer(), Type.Null()]),
  message: Type.Union([Type.Object({ id: Type.Union([Type.Integer(), Type.Null()]), text: Type.Union([Type.String(), Type.Null()]) }), Type.Null()]),
  confirmed: Type.Boolean(),
  played: Type.Array(Played),
  recordingId: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  live: Type.Optional(Type.Boolean()),
  endedAt: Type.Optional(Type.String()),
  durationMs: Type.Optional(Type.Integer()),
});

const errors = { 400: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema, 429: ErrorSchema, 502: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema };

export interface BroadcastRouteDeps {
  service: () => BroadcastService | null;
  scheduler: () => AnnouncementScheduler | null;
  devices: () => BroadcastDevice[];
  settings: BroadcastSettings;
}

export function broadcastRoutes(b: BroadcastRouteDeps): RoutePlugin {
  return async (app: Api, deps: ApiDeps): Promise<void> => {
    const service = (): BroadcastService => {
      const s = b.service();
      if (!s) throw hubError('HUB_ERR_NOT_READY');
      return s;
    };
    const offset = deps.facility.site.utcOffset;

    app.post(
      '/api/broadcast/warnings',
      {
        config: { roles: SUPERVISE },
        schema: {
          tags: ['broadcast'],
          summary: 'Warns a session (all its rooms), a room or a seat; answers whether the controller confirmed and what was played where',
          body: WarningBody,
          response: { 200: EntryView, ...errors },
        },
      },
      async (request, reply) => {
        const entry = await service().warn(request.body, request.user!);
        return reply.status(200).send(service().view(entry) as never);
      },
    );

    app.post(
      '/api/broadcast/calls',
      {
        config: { roles: SUPERVISE },
        schema: {
          tags: ['broadcast'],
          summary: "Opens the supervisor's microphone live to a session, room or seat (recorded); answers the recording id",
          body: CallBody,
          response: { 201: EntryView, ...errors },
        },
      },
      async (request, reply) => {
        const entry = await service().startCall(request.body, request.user!);
        return reply.status(201).send(service().view(entry) as never);
      },
    );

    app.post(
      '/api/broadcast/calls/:id/stop',
      {
        config: { roles: SUPERVISE },
        schema: {
          tags: ['broadcast'],
          summary: 'Hangs up a live call; answers the recording id and its duration',
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
          response: { 200: EntryView, ...errors },
        },
      },
      async (request) => service().view(await service().stopCall(request.params.id, request.user)) as never,
    );

    app.get(
      '/api/broadcast',
      {
        config: { roles: READ_ROLES },
        schema: {
          tags: ['broadcast'],
          summary: 'Broadcast controllers (zones, faults, line), live calls, the recent played log, the message catalogue and upcoming announcements',
          querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }) }, { additionalProperties: false }),
        },
      },
      async (request) => {
        const s = b.service();
        return {
          devices: b.devices().map((d) => {
            const r = deps.availability.get(d.id);
            return { id: d.id, available: r?.available ?? false, reason: r?.reason ?? '', ...d.snapshot() };
          }),
          calls: (s?.activeCalls() ?? []).map((e) => s!.view(e)),
          recent: (s?.recentEntries(request.query.limit) ?? []).map((e) => s!.view(e)),
          messages: [...b.settings.messages.values()],
          upcoming: (b.scheduler()?.upcoming() ?? []).map((u) => ({ ...u, at: formatTime(u.at, offset) })),
          limits: { warningsPerTarget: b.settings.rateLimit.max, windowSeconds: b.settings.rateLimit.windowMs / 1000 },
        };
      },
    );
  };
}
