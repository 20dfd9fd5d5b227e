import { Type } from '@sinclair/typebox';
import { formatTime } from '../../kernel/time.js';
import { STAFF, type Api, type ApiDeps } from '../api/types.js';
import type { PowerSnapshot } from './feature.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const StageView = Type.Object({
  stage: Type.String(),
  at: Type.String(),
  status: Type.String(),
  startedAt: Nullable(Type.String()),
  finishedAt: Nullable(Type.String()),
  detail: Type.String(),
});

const PowerView = Type.Object({
  state: Type.String({ description: 'unknown, mains-ok, on-battery, low-battery or critical' }),
  since: Type.String(),
  mains: Nullable(Type.Boolean()),
  battery: Type.Object({ charge: Nullable(Type.Number({ description: '%' })), runtime: Nullable(Type.Number({ description: 's' })), low: Type.Boolean() }),
  runtime: Nullable(Type.Number({ description: 'runtime remaining on battery, s' })),
  stage: Nullable(Type.String({ description: 'the failover stage running now' })),
  fsd: Type.Boolean(),
  reason: Type.String(),
  pending: Nullable(Type.Object({ kind: Type.String(), until: Type.String() })),
  stages: Type.Array(StageView),
  ups: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  loads: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  shedLoads: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  runtimeShortfall: Nullable(Type.Record(Type.String(), Type.Unknown())),
});

/** GET /api/power: mains, battery, runtime and the active failover stage (contract). */
export function powerRoutes(app: Api, deps: ApiDeps, power: { snapshot(): PowerSnapshot }): void {
  const offset = deps.facility.site.utcOffset;
  const t = (ms: number | null): string | null => (ms === null ? null : formatTime(ms, offset));
  app.get(
    '/api/power',
    { config: { roles: STAFF }, schema: { tags: ['power'], summary: 'Power state: mains, battery, runtime, the active failover stage', response: { 200: PowerView } } },
    async () => {
      const s = power.snapshot();
      return {
        ...s,
        since: formatTime(s.since, offset),
        pending: s.pending ? { kind: s.pending.kind, until: formatTime(s.pending.until, offset) } : null,
        stages: s.stages.map((x) => ({ ...x, startedAt: t(x.startedAt), finishedAt: t(x.finishedAt) })),
        shedLoads: s.shedLoads.map((l) => ({ ...l })),
        runtimeShortfall: s.runtimeShortfall ? { ...s.runtimeShortfall, sessions: s.runtimeShortfall.sessions.map((x) => ({ ...x, endsAt: formatTime(x.endsAt, offset) })) } : null,
      };
    },
  );
}
