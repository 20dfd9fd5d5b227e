import { Type } from '@sinclair/typebox';
import { formatTime } from '../../kernel/time.js';
import { ADMIN, STAFF, type Api, type ApiDeps } from '../api/types.js';
import { ErrorSchema } from '../api/schemas.js';
import type { DoorFeature } from './feature.js';

const errors = { 400: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 502: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema };

/** GET /api/doors and the admin open (docs/door.md). */
export function doorRoutes(app: Api, deps: ApiDeps, doors: DoorFeature): void {
  const offset = deps.facility.site.utcOffset;
  const t = (ms: number): string => formatTime(ms, offset);

  app.get(
    '/api/doors',
    { config: { roles: STAFF }, schema: { tags: ['doors'], summary: 'Every door: lock, contact, a pending lock check, its active alarms and its last open-request decisions' } },
    async () => {
      const s = doors.snapshot();
      return {
        fireActive: s.fireActive,
        doors: s.doors.map((d) => ({
          ...d,
          lockCheck: d.lockCheck ? { ...d.lockCheck, since: t(d.lockCheck.since) } : null,
          alarms: d.alarms.map((a) => ({ ...a, raisedAt: t(a.raisedAt) })),
          decisions: d.decisions.map((r) => ({ ...r, at: t(r.at) })),
        })),
      };
    },
  );

  app.post(
    '/api/doors/:id/open',
    {
      config: { roles: ADMIN },
      schema: {
        tags: ['doors'],
        summary: 'Admin open: the door lets one passage through and relocks behind; the reason is logged with the user',
        params: Type.Object({ id: Type.String() }),
        body: Type.Object({ reason: Type.String({ minLength: 2, maxLength: 500, description: 'why (logged with the user)' }) }, { additionalProperties: false }),
        response: { 200: Type.Unknown(), ...errors },
      },
    },
    async (request) => doors.adminOpen(request.params.id, request.body.reason, request.user!.username),
  );
}
