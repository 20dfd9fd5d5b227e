import { hubError } from '../errors.js';
import type { Api, ApiDeps } from './types.js';

export async function systemRoutes(app: Api, deps: ApiDeps): Promise<void> {
  app.get('/healthz', { config: { public: true }, schema: { tags: ['system'], summary: '200 once the hub is ready' } }, async (_request, reply) => {
    if (!deps.isReady()) throw hubError('HUB_ERR_NOT_READY');
    const devices = deps.availability.list();
    // Still 200 while degraded: the hub serves; a load balancer must keep it (docs/jammers.md).
    const away = deps.alarms.list().filter((a) => a.source === 'device-health' && a.severity === 'critical' && a.deviceId !== null);
    const byId = new Map(devices.map((d) => [d.id, d]));
    const degraded = away.map((a) => ({ deviceId: a.deviceId!, kind: byId.get(a.deviceId!)?.kind ?? 'unknown', reason: byId.get(a.deviceId!)?.reason ?? '', since: a.raisedAt }));
    // The broker subsystem (external broker mode): the hub's link to its broker is down.
    const broker = deps.alarms.list().filter((a) => a.source === 'broker').map((a) => ({ subsystem: 'broker', reason: a.message, since: a.raisedAt }));
    return reply.send({
      status: degraded.length || broker.length ? 'degraded' : 'ok',
      devicesAvailable: devices.filter((d) => d.available).length,
      devicesConfigured: devices.length,
      ...(degraded.length ? { degraded } : {}),
      ...(broker.length ? { subsystems: broker } : {}),
    });
  });

  // Public for Prometheus scrapers: counters and gauges only, no person and no secret.
  app.get('/metrics', { config: { public: true }, schema: { tags: ['system'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    deps.metrics.eventLogSize.set(deps.events.count());
    const alarms = deps.alarms.list();
    for (const severity of ['critical', 'warning', 'info'] as const) deps.metrics.alarmsActive.set({ severity }, alarms.filter((a) => a.severity === severity).length);
    const devices = deps.availability.list();
    for (const kind of new Set(devices.map((d) => d.kind))) deps.metrics.devicesAvailable.set({ kind }, devices.filter((d) => d.kind === kind && d.available).length);
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });
}
