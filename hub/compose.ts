import { Hub, type HubOptions } from './hub.js';
import { createPowerFeature } from './power/feature.js';
import { createCheckInFeature } from './checkin/feature.js';
import { createBroadcastFeature } from './broadcast/feature.js';
import { createAuditFeature } from './audit/feature.js';
import { ensureAuditSigner } from './audit/keys.js';

/**
 * Builds a hub with every feature of the product wired in. Tests that need only the
 * foundation construct `Hub` directly. Each feature owns one block below and gets only
 * the services it declares; features reach each other through the bus or a named
 * function handed over here, never through each other's objects.
 */
export function createHub(opts: HubOptions): Hub {
  const hub = new Hub(opts);
  const services = hub.services();

  // --- check-in at the gates (sessions, rosters, dispersed seating) ---
  const checkin = hub.addFeature(createCheckInFeature(services));

  // --- power: UPS, relay modules, failover playbook ---
  hub.addFeature(createPowerFeature(services));

  // --- call/broadcast: PA controller, supervisor warnings, announcements ---
  // Seat warnings are logged against the session of the expert at that seat.
  hub.addFeature(createBroadcastFeature(services, { seatHolder: (room, seat) => checkin.checkin().holderOf(room, seat) }));

  // --- audit: signed checkpoints of the event log, session seals ---
  // Added last, so it starts after every feature and stops first: its final checkpoint
  // covers the hub.stopped record, and the broker is still up to publish it.
  hub.addFeature(
    createAuditFeature({
      store: hub.store,
      events: hub.events,
      bus: hub.bus,
      clock: hub.clock,
      log: hub.log.child({ module: 'audit' }),
      sessions: hub.sessions,
      signer: ensureAuditSigner(hub.dataDir, hub.facility.site.id),
      policy: hub.facility.policy.audit,
      publish: (message) => hub.publishHubState('checkpoint', message),
    }),
  );

  return hub;
}
