import type { Feature, HubServices } from '../services.js';
import { IdHasher } from '../privacy.js';
import { checkEvent } from '../../devices/mqtt-device.js';
import { gateSpec } from '../../devices/kinds.js';
import { CheckIn, type CheckInDeps } from './checkin.js';
import { sessionRoutes } from '../api/sessions.js';

/**
 * Check-in at the face + ID-card gates: answers each gate's `verify`, completes
 * check-ins from `passed`, records `exit`, reconciles offline passes, and keeps each
 * gate's retained allow-list current as rosters and sessions change.
 */
export type CheckInFeature = Feature & { checkin: () => CheckIn };

export type CheckInFeatureDeps = Pick<HubServices, 'facility' | 'dataDir' | 'store' | 'events' | 'sessions' | 'bus' | 'clock' | 'log' | 'ingest' | 'devices' | 'publish' | 'metrics'>;

/** `entryGuard`: another feature that may close the gates (the fire alarm), handed over by compose.ts. */
export function createCheckInFeature(deps: CheckInFeatureDeps, opts: { entryGuard?: CheckInDeps['entryGuard'] } = {}): CheckInFeature {
  let service: CheckIn | null = null;
  const get = (): CheckIn => {
    if (!service) {
      service = new CheckIn({
        facility: deps.facility,
        store: deps.store,
        events: deps.events,
        sessions: deps.sessions,
        hasher: IdHasher.fromDataDir(deps.dataDir),
        bus: deps.bus,
        clock: deps.clock,
        log: deps.log.child({ module: 'checkin' }),
        publish: (gateId, subtopic, payload, retain) => deps.publish(`fh/${deps.facility.site.id}/${gateId}/${subtopic}`, payload, { qos: 1, retain }),
        ...(opts.entryGuard ? { entryGuard: opts.entryGuard } : {}),
      });
    }
    return service;
  };
  const checkin = get();

  deps.ingest.register('gate', 'verify', async (m) => {
    // Wall time, not the injected clock: this measures the hub, it decides nothing.
    const started = performance.now();
    try {
      return await checkin.onVerify(m.deviceId, m.payload);
    } finally {
      deps.metrics.decisionLatency.observe((performance.now() - started) / 1000);
    }
  });
  deps.ingest.register('gate', 'event', async (m) => {
    // The gate's own schema first (size, fields), then the check-in policy's own events.
    const parsed = checkEvent(gateSpec, m.payload, deps.clock.now());
    if ('error' in parsed) return { accepted: false, reason: parsed.error };
    const own = await checkin.onGateEvent(m.deviceId, parsed.event.type, m.payload as Record<string, unknown>);
    if (own) return own;
    const device = deps.devices.get(m.deviceId);
    return device?.handleMessage ? device.handleMessage(m) : { accepted: false, reason: 'no gate model' };
  });

  return {
    name: 'checkin',
    checkin: get,
    routes: sessionRoutes(deps.sessions, checkin),
    async start() {
      deps.bus.on('checkin', 'session.status', () => checkin.publishAllowLists());
      await checkin.start();
    },
    async stop() {
      deps.bus.removeOwner('checkin');
      checkin.stop();
    },
  };
}
