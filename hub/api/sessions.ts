import { Type } from '@sinclair/typebox';
import { HubError, hubError } from '../errors.js';
import { maskName } from '../log.js';
import { formatTime, parseTime } from '../../kernel/time.js';
import type { Session, Sessions } from '../sessions/sessions.js';
import { readRosterBody } from '../sessions/roster.js';
import type { CheckIn } from '../checkin/checkin.js';
import type { User } from '../users.js';
import { ADMIN, STAFF, PLATFORM, SESSION_READERS, type Api, type ApiDeps, type RoutePlugin } from './types.js';
import { TimeInput } from './schemas.js';

function seesNames(user: User | null): boolean {
  return user?.role === 'admin' || user?.role === 'supervisor';
}

function timeField(value: string | number, field: string): number {
  const t = parseTime(value);
  if (t === null) throw new HubError('HUB_ERR_VALIDATION', [`${field} must be ISO-8601 with an offset or epoch milliseconds`], { field });
  return t;
}

export function sessionRoutes(sessions: Sessions, checkin: CheckIn): RoutePlugin {
  return (app: Api, deps: ApiDeps) => {
    const offset = deps.facility.site.utcOffset;
    const view = (s: Session) => {
      const list = checkin.checkins(s.id);
      return {
        id: s.id,
        code: s.code,
        name: s.name,
        status: s.status,
        start: formatTime(s.start, offset),
        end: formatTime(s.end, offset),
        checkInOpens: formatTime(s.start - s.opensMinutes * 60_000, offset),
        rooms: s.rooms,
        checkInOpensMinutes: s.opensMinutes,
        expectedExperts: s.expectedExperts,
        rosterSize: checkin.roster(s.id).length,
        inside: list.filter((c) => c.status === 'inside').length,
        createdAt: formatTime(s.createdAt, offset),
        closedAt: s.closedAt === null ? null : formatTime(s.closedAt, offset),
        closedBy: s.closedBy,
      };
    };
    const find = (id: string): Session => {
      const s = sessions.get(id);
      if (!s) throw hubError('HUB_ERR_NOT_FOUND', `session ${id}`);
      return s;
    };
    const idParams = Type.Object({ id: Type.String() });

    app.post(
      '/api/sessions',
      {
        config: { roles: PLATFORM },
        schema: {
          tags: ['sessions'],
          summary: 'Creates an evaluation session (the same code and details again answers the existing one; other details: 409)',
          body: Type.Object(
            {
              code: Type.String({ minLength: 1, maxLength: 64 }),
              name: Type.String({ minLength: 1, maxLength: 200 }),
              start: TimeInput,
              end: TimeInput,
              rooms: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
              checkInOpensMinutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 1440 })),
              expectedExperts: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const b = request.body;
        const { session, created } = await sessions.create(
          {
            code: b.code,
            name: b.name,
            start: timeField(b.start, 'body.start'),
            end: timeField(b.end, 'body.end'),
            ...(b.rooms ? { rooms: b.rooms } : {}),
            ...(b.checkInOpensMinutes !== undefined ? { checkInOpensMinutes: b.checkInOpensMinutes } : {}),
            ...(b.expectedExperts !== undefined ? { expectedExperts: b.expectedExperts } : {}),
          },
          `user:${request.user!.username}`,
        );
        await checkin.publishAllowLists();
        return reply.status(created ? 201 : 200).send(view(session));
      },
    );

    app.get(
      '/api/sessions',
      {
        config: { roles: SESSION_READERS },
        schema: {
          tags: ['sessions'],
          summary: 'Sessions with their status (scheduled, check-in, in-progress, closed)',
          querystring: Type.Object({ status: Type.Optional(Type.Union([Type.Literal('scheduled'), Type.Literal('check-in'), Type.Literal('in-progress'), Type.Literal('closed')])) }, { additionalProperties: false }),
        },
      },
      async (request) => sessions.list().filter((s) => !request.query.status || s.status === request.query.status).map(view),
    );

    app.get('/api/sessions/:id', { config: { roles: SESSION_READERS }, schema: { tags: ['sessions'], summary: 'One session', params: idParams } }, async (request) =>
      view(find(request.params.id)),
    );

    app.post(
      '/api/sessions/:id/roster',
      {
        config: { roles: PLATFORM },
        schema: {
          tags: ['sessions'],
          summary: 'Replaces the roster: JSON [{name, idNumber, role?}] or text/csv with the header name,idNumber,role. All rows or none.',
          params: idParams,
        },
      },
      async (request) => {
        const s = find(request.params.id);
        const read = readRosterBody(request.body, String(request.headers['content-type'] ?? 'application/json'));
        if ('error' in read) throw new HubError('HUB_ERR_VALIDATION', [read.error], { field: 'body' });
        const { entries, errors } = checkin.validateRoster(read.rows);
        if (errors.length) {
          throw new HubError('HUB_ERR_VALIDATION', [`${errors.length} roster row error(s); nothing was changed. First: row ${errors[0]!.row}: ${errors[0]!.message}`], { field: `body[${errors[0]!.row - 1}].${errors[0]!.field}`, rows: errors });
        }
        const out = await checkin.replaceRoster(s.id, entries, `user:${request.user!.username}`);
        return { accepted: out.count, errors: [] };
      },
    );

    app.get('/api/sessions/:id/roster', { config: { roles: SESSION_READERS }, schema: { tags: ['sessions'], summary: 'The roster (full names for admins and supervisors only)', params: idParams } }, async (request) => {
      const s = find(request.params.id);
      const full = seesNames(request.user);
      return checkin.roster(s.id).map((r) => ({ ...r, name: full ? r.name : maskName(r.name) }));
    });

    app.get(
      '/api/sessions/:id/checkins',
      { config: { roles: STAFF }, schema: { tags: ['sessions'], summary: 'Who is in, at which room and seat, since when', params: idParams } },
      async (request) => {
        const s = find(request.params.id);
        const full = seesNames(request.user);
        return checkin.checkins(s.id).map((c) => ({
          ...c,
          name: full ? c.name : maskName(c.name),
          grantedAt: formatTime(c.grantedAt, offset),
          passedAt: c.passedAt === null ? null : formatTime(c.passedAt, offset),
          leftAt: c.leftAt === null ? null : formatTime(c.leftAt, offset),
        }));
      },
    );

    app.post(
      '/api/sessions/:id/close',
      { config: { roles: ADMIN }, schema: { tags: ['sessions'], summary: 'Ends the session now; devices bound to it are released', params: idParams } },
      async (request) => {
        const s = find(request.params.id);
        const closed = await sessions.close(s.id, `user:${request.user!.username}`);
        await checkin.publishAllowLists();
        return view(closed);
      },
    );
  };
}
