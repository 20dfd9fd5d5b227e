import { hubError } from '../errors.js';
import type { Api, ApiDeps } from './types.js';

export function systemRoutes(app: Api, deps: ApiDeps): void {
  app.get('/healthz', { config: { public: true }, schema: { tags: ['system'], summary: '200 once the hub is ready' } }, async (_request, reply) => {
    if (!deps.isReady()) throw hubError('HUB_ERR_NOT_READY');
    const devices = deps.availability.list();
    return reply.send({ status: 'ok', devicesAvailable: devices.filter((d) => d.available).length, devicesConfigured: devices.length });
  });

  // Public for Prometheus scrapers: counters and gauges only, no person and no secret.
  app.get('/metrics', { config: { public: true }, schema: { tags: ['system'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    deps.metrics.eventLogSize.set(deps.events.count());
    const alarms = deps.alarms.list();
    for (const severity of ['critical', 'warning', 'info'] as const) deps.metrics.alarmsActive.set({ severity }, alarms.filter((a) => a.severity === severity).length);
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });
}
