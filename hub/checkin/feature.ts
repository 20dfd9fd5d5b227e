import type { Feature, Hub } from '../hub.js';
import { IdHasher } from '../privacy.js';
import { checkEvent } from '../../devices/mqtt-device.js';
import { gateSpec } from '../../devices/kinds.js';
import { CheckIn } from './checkin.js';
import { sessionRoutes } from '../api/sessions.js';

/**
 * Check-in at the face + ID-card gates: answers each gate's `verify`, completes
 * check-ins from `passed`, records `exit`, reconciles offline passes, and keeps each
 * gate's retained allow-list current as rosters and sessions change.
 */
export type CheckInFeature = Feature & { checkin: () => CheckIn };

export function createCheckInFeature(hub: Hub): CheckInFeature {
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
      });
    }
    return service;
  };
  const checkin = get();

  hub.ingest.register('gate', 'verify', (m) => checkin.onVerify(m.deviceId, m.payload));
  hub.ingest.register('gate', 'event', async (m) => {
    // The gate's own schema first (size, fields), then the check-in policy's own events.
    const parsed = checkEvent(gateSpec, m.payload, hub.clock.now());
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
