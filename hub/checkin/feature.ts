import type { Feature, Hub } from '../hub.js';
import { IdHasher } from '../privacy.js';
import { parseEvent } from '../../devices/mqtt-device.js';
import { CheckIn, type CheckInDeps } from './checkin.js';
import { sessionRoutes } from '../api/sessions.js';

/**
 * Check-in at the face + ID-card gates: answers each gate's `verify`, completes
 * check-ins from `passed`, records `exit`, reconciles offline passes, and keeps each
 * gate's retained allow-list current as rosters and sessions change.
 */
export type CheckInFeature = Feature & { checkin: () => CheckIn };

export function createCheckInFeature(hub: Hub, opts: { entryGuard?: CheckInDeps['entryGuard'] } = {}): CheckInFeature {
  let service: CheckIn | null = null;
  const get = (): CheckIn => {
    if (!service) {
      service = new CheckIn({
        facility: hub.facility,
        store: hub.store,
        events: hub.events,
        sessions: hub.sessions,
        hasher: IdHasher.fromDataDir(hub.dataDir),
        bus: hub.bus,
        clock: hub.clock,
        log: hub.log.child({ module: 'checkin' }),
        publish: (gateId, subtopic, payload, retain) => hub.broker.publish(`fh/${hub.facility.site.id}/${gateId}/${subtopic}`, payload, { qos: 1, retain }),
        ...(opts.entryGuard ? { entryGuard: opts.entryGuard } : {}),
      });
    }
    return service;
  };
  const checkin = get();

  hub.ingest.register('gate', 'verify', (m) => checkin.onVerify(m.deviceId, m.payload));
  hub.ingest.register('gate', 'event', async (m) => {
    const parsed = parseEvent(m.payload, hub.clock.now());
    if ('error' in parsed) return { accepted: false, reason: parsed.error };
    const own = await checkin.onGateEvent(m.deviceId, parsed.event.type, m.payload as Record<string, unknown>);
    if (own) return own;
    const device = hub.devices.get(m.deviceId);
    return device?.handleMessage ? device.handleMessage(m) : { accepted: false, reason: 'no gate model' };
  });

  return {
    name: 'checkin',
    checkin: get,
    routes: sessionRoutes(hub.sessions, checkin),
    async start() {
      hub.bus.on('checkin', 'session.status', () => checkin.publishAllowLists());
      await checkin.start();
    },
    async stop() {
      hub.bus.removeOwner('checkin');
      checkin.stop();
    },
  };
}
