import { Type } from '@sinclair/typebox';
import { HubError, hubError } from '../errors.js';
import { maskName } from '../log.js';
import { formatTime, parseTime } from '../../kernel/time.js';
import { isCancelled, type Session, type Sessions } from '../sessions/sessions.js';
import { readRosterBody } from '../sessions/roster.js';
import type { CheckIn } from '../checkin/checkin.js';
import type { User } from '../users.js';
import { ADMIN, STAFF, PLATFORM, SESSION_READERS, type Api, type ApiDeps, type RoutePlugin } from './types.js';
import { TimeInput } from './schemas.js';

function seesNames(user: User | null): boolean {
  return user?.role === 'admin' || user?.role === 'supervisor';
}

/** Both times parsed, or every one that is not a time (all errors at once). */
function timeFields(fields: Record<'body.start' | 'body.end', string | number>): { start: number; end: number } {
  const problems: { field: string; message: string }[] = [];
  const parsed = Object.entries(fields).map(([field, value]) => {
    const t = parseTime(value);
    if (t === null) problems.push({ field, message: `${field} 时间格式不对 / must be ISO-8601 with an offset (2026-11-28T09:30:00+08:00) or epoch milliseconds (found ${JSON.stringify(value)})` });
    return t ?? 0;
  });
  if (problems.length) throw new HubError('HUB_ERR_VALIDATION', [problems.map((p) => p.message).join('; ')], { field: problems[0]!.field, problems });
  return { start: parsed[0]!, end: parsed[1]! };
}

export function sessionRoutes(sessions: Sessions, checkin: CheckIn): RoutePlugin {
  return async (app: Api, deps: ApiDeps) => {
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
        cancelled: isCancelled(s),
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
        const { start, end } = timeFields({ 'body.start': b.start, 'body.end': b.end });
        const { session, created } = await sessions.create(
          {
            code: b.code,
            name: b.name,
            start,
            end,
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
          summary:
            'Sets the roster: JSON [{name, idNumber, role?}] or text/csv (UTF-8 or GB18030/GBK) with the header name,idNumber,role. All rows or none; an empty roster is refused; replacing a non-empty roster needs replace=true (else 409).',
          params: idParams,
          querystring: Type.Object({ replace: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false }),
        },
      },
      async (request) => {
        const s = find(request.params.id);
        const type = request.headers['content-type'];
        // Without a content type Fastify parses nothing: the upload would read as empty.
        if (type === undefined) throw new HubError('HUB_ERR_UNSUPPORTED_MEDIA_TYPE', ['none'], { field: 'content-type', expected: 'application/json or text/csv' });
        const read = readRosterBody(request.body, type.toLowerCase());
        if ('error' in read) throw new HubError('HUB_ERR_VALIDATION', [`${read.error}; 名单未更改 / nothing was changed`], { field: 'body' });
        const { entries, errors } = checkin.validateRoster(read.rows);
        if (errors.length) {
          const listed = errors.slice(0, 10).map((e) => `row ${e.row} ${e.field}: ${e.message}`);
          const more = errors.length > listed.length ? `; … ${errors.length - listed.length} more in details.rows` : '';
          throw new HubError('HUB_ERR_VALIDATION', [`名单有 ${errors.length} 处错误，未作更改 / ${errors.length} roster row error(s); nothing was changed: ${listed.join('; ')}${more}`], {
            field: `body[${errors[0]!.row - 1}].${errors[0]!.field}`,
            rows: errors,
          });
        }
        const out = await checkin.replaceRoster(s.id, entries, `user:${request.user!.username}`, { replace: request.query.replace === true });
        return { accepted: out.count, removed: out.removed, errors: [] };
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

    app.post(
      '/api/sessions/:id/cancel',
      {
        config: { roles: ADMIN },
        schema: { tags: ['sessions'], summary: 'Cancels a session that has not started (closed now, marked cancelled; logged). Started or closed: 409', params: idParams },
      },
      async (request) => {
        const s = find(request.params.id);
        const cancelled = await sessions.cancel(s.id, `user:${request.user!.username}`);
        await checkin.publishAllowLists();
        return view(cancelled);
      },
    );
  };
}
