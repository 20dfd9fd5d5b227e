import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.js';
import { formatTime, parseTime } from '../../kernel/time.js';
import { STAFF, type Api, type ApiDeps } from './types.js';

export async function eventRoutes(app: Api, deps: ApiDeps): Promise<void> {
  const offset = deps.facility.site.utcOffset;
  app.get(
    '/api/events',
    {
      config: { roles: STAFF },
      schema: {
        tags: ['events'],
        summary: 'The tamper-evident event log, oldest first; page with afterSeq',
        querystring: Type.Object(
          {
            sessionId: Type.Optional(Type.String()),
            deviceId: Type.Optional(Type.String()),
            type: Type.Optional(Type.String()),
            since: Type.Optional(Type.String({ description: 'ISO-8601 with offset, or epoch ms' })),
            afterSeq: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 500 })),
            latest: Type.Optional(Type.Boolean({ description: 'the last `limit` matching events instead of the first (still oldest first): where a live view starts' })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const q = request.query;
      let since: number | undefined;
      if (q.since !== undefined) {
        const t = parseTime(/^\d+$/.test(q.since) ? Number(q.since) : q.since);
        if (t === null) throw new HubError('HUB_ERR_VALIDATION', ['querystring.since must be ISO-8601 with an offset or epoch milliseconds'], { field: 'querystring.since' });
        since = t;
      }
      const events = deps.events.query({
        ...(q.sessionId !== undefined ? { sessionId: q.sessionId } : {}),
        ...(q.deviceId !== undefined ? { deviceId: q.deviceId } : {}),
        ...(q.type !== undefined ? { type: q.type } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(q.afterSeq !== undefined ? { afterSeq: q.afterSeq } : {}),
        ...(q.limit !== undefined ? { limit: q.limit } : {}),
        ...(q.latest ? { latest: true } : {}),
      });
      return events.map((e) => ({ ...e, time: formatTime(e.ts, offset) }));
    },
  );
}
