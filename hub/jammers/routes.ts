import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.js';
import { formatTime, parseTime } from '../../kernel/time.js';
import { ADMIN, STAFF, SUPERVISE, type Api, type ApiDeps } from '../api/types.js';
import { ErrorSchema } from '../api/schemas.js';
import type { JammerFeature, ZoneView } from './feature.js';
import { buildReport, reportCsv } from './report.js';

const errors = { 200: Type.Unknown(), 400: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };
const Reason = Type.String({ minLength: 2, maxLength: 500, description: 'why (logged with the user)' });

function time(field: string, v: string): number {
  const t = parseTime(/^\d+$/.test(v) ? Number(v) : v);
  if (t === null) throw new HubError('HUB_ERR_VALIDATION', [`${field} must be ISO-8601 with an offset or epoch milliseconds`], { field });
  return t;
}

/** GET /api/jammers, overrides, the interlock release and the regulator report (docs/jammers.md). */
export function jammerRoutes(app: Api, deps: ApiDeps, jammers: JammerFeature): void {
  const offset = deps.facility.site.utcOffset;
  const t = (ms: number | null): string | null => (ms === null ? null : formatTime(ms, offset));
  const zoneView = (z: ZoneView) => ({
    ...z,
    onSince: t(z.onSince),
    override: z.override ? { ...z.override, from: formatTime(z.override.from, offset), until: formatTime(z.override.until, offset) } : null,
  });

  app.get(
    '/api/jammers',
    { config: { roles: STAFF }, schema: { tags: ['jammers'], summary: 'Every jammer zone: wanted state and its cause, the read-back, overrides; the fire interlock' } },
    async () => {
      const s = jammers.snapshot();
      return { interlock: s.interlock ? { ...s.interlock, since: formatTime(s.interlock.since, offset) } : null, zones: s.zones.map(zoneView) };
    },
  );

  app.post(
    '/api/jammers/:zone/override',
    {
      config: { roles: ADMIN },
      schema: {
        tags: ['jammers'],
        summary: 'Admin override: force a zone off, or on outside the rule, with a reason and an expiry (until, or minutes from now)',
        params: Type.Object({ zone: Type.String() }),
        body: Type.Object(
          {
            mode: Type.Union([Type.Literal('on'), Type.Literal('off')]),
            reason: Reason,
            until: Type.Optional(Type.String({ description: 'ISO-8601 with offset, or epoch ms' })),
            minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10080 })),
          },
          { additionalProperties: false },
        ),
        response: errors,
      },
    },
    async (request) => {
      const b = request.body;
      if ((b.until === undefined) === (b.minutes === undefined)) throw new HubError('HUB_ERR_VALIDATION', ['give exactly one of body.until and body.minutes (the override must expire)'], { field: 'body.until' });
      const until = b.until !== undefined ? time('body.until', b.until) : deps.clock.now() + b.minutes! * 60_000;
      return zoneView(await jammers.setOverride(request.params.zone, { mode: b.mode, reason: b.reason, until }, request.user!.username));
    },
  );

  app.delete(
    '/api/jammers/:zone/override',
    {
      config: { roles: ADMIN },
      schema: {
        tags: ['jammers'],
        summary: 'Ends an admin override before its expiry',
        params: Type.Object({ zone: Type.String() }),
        body: Type.Object({ reason: Reason }, { additionalProperties: false }),
        response: errors,
      },
    },
    async (request) => zoneView(await jammers.cancelOverride(request.params.zone, request.body.reason, request.user!.username)),
  );

  app.post(
    '/api/jammers/interlock/release',
    {
      config: { roles: ADMIN },
      schema: {
        tags: ['jammers'],
        summary: 'Releases the fire interlock (only after every fire panel has cleared), with a reason',
        body: Type.Object({ reason: Reason }, { additionalProperties: false }),
        response: errors,
      },
    },
    async (request) => {
      const s = await jammers.releaseInterlock(request.body.reason, request.user!.username);
      return { interlock: null, zones: s.zones.map(zoneView) };
    },
  );

  app.get(
    '/api/jammers/report',
    {
      config: { roles: SUPERVISE },
      schema: {
        tags: ['jammers'],
        summary: 'Regulator report: on-time per zone per session and per day, every change with its cause (JSON, or CSV with format=csv or Accept: text/csv)',
        querystring: Type.Object(
          {
            from: Type.String({ description: 'ISO-8601 with offset, or epoch ms' }),
            to: Type.String({ description: 'ISO-8601 with offset, or epoch ms' }),
            format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Unknown({ description: 'JSON { from, to, onTime, changes }, or CSV text' }), 400: ErrorSchema, 403: ErrorSchema },
      },
    },
    async (request, reply) => {
      const from = time('querystring.from', request.query.from);
      const to = time('querystring.to', request.query.to);
      if (!(to > from)) throw new HubError('HUB_ERR_VALIDATION', ['querystring.to must be after querystring.from'], { field: 'querystring.to' });
      const report = buildReport((q) => jammers.events().query(q), { from, to }, deps.clock.now(), offset);
      const csv = request.query.format === 'csv' || (request.query.format === undefined && (request.headers.accept ?? '').includes('text/csv'));
      if (csv) {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="jammers-${formatTime(from, offset).slice(0, 10)}-${formatTime(to, offset).slice(0, 10)}.csv"`)
          .send(reportCsv(report, offset));
      }
      return {
        from: formatTime(report.from, offset),
        to: formatTime(report.to, offset),
        onTime: report.onTime.map((r) => ({ ...r, onMinutes: Math.round((r.onMs / 60_000) * 100) / 100 })),
        changes: report.changes.map((c) => ({ ...c, time: formatTime(c.ts, offset) })),
      };
    },
  );
}
