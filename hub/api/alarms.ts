import { Type } from '@sinclair/typebox';
import { formatTime } from '../../kernel/time.js';
import type { ActiveAlarm } from '../alarms.js';
import { ErrorSchema } from './schemas.js';
import { STAFF, type Api, type ApiDeps } from './types.js';

/** Who may acknowledge an alarm: whoever watches the area (not viewers). */
const ACKNOWLEDGE = ['admin', 'supervisor', 'operator'] as const;

const AlarmView = Type.Object({
  id: Type.String(),
  source: Type.String(),
  severity: Type.String({ description: 'critical, warning or info' }),
  message: Type.String(),
  deviceId: Type.Union([Type.String(), Type.Null()]),
  raisedAt: Type.String(),
  oneShot: Type.Boolean({ description: 'something that happened: acknowledging clears it' }),
  acknowledged: Type.Union([Type.Object({ by: Type.String(), displayName: Type.String(), at: Type.String() }), Type.Null()]),
  active: Type.Boolean({ description: 'false once cleared (a one-shot alarm that was acknowledged)' }),
});

/** GET /api/alarms and POST /api/alarms/{id}/ack. */
export async function alarmRoutes(app: Api, deps: ApiDeps): Promise<void> {
  const offset = deps.facility.site.utcOffset;
  const view = (a: ActiveAlarm, active: boolean) => ({
    ...a,
    raisedAt: formatTime(a.raisedAt, offset),
    acknowledged: a.acknowledged ? { ...a.acknowledged, at: formatTime(a.acknowledged.at, offset) } : null,
    active,
  });

  app.get(
    '/api/alarms',
    { config: { roles: STAFF }, schema: { tags: ['alarms'], summary: 'The active alarms, most severe and newest first', response: { 200: Type.Array(AlarmView) } } },
    async () => deps.alarms.list().map((a) => view(a, true)),
  );

  app.post(
    '/api/alarms/:id/ack',
    {
      config: { roles: ACKNOWLEDGE },
      schema: {
        tags: ['alarms'],
        summary: 'Acknowledges an alarm (logged with the user); a one-shot alarm is cleared by it',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }),
        response: { 200: AlarmView, 404: ErrorSchema },
      },
    },
    async (request) => {
      const alarm = await deps.alarms.acknowledge(request.params.id, request.user!);
      return view(alarm, !alarm.oneShot);
    },
  );
}
