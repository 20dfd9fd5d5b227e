import { Hub, type HubOptions } from './hub.js';
import { createPowerFeature } from './power/feature.js';
import { createCheckInFeature } from './checkin/feature.js';
import { createBroadcastFeature } from './broadcast/feature.js';
import { createHealthFeature } from './health/feature.js';
import { createConsoleFeature } from './console/feature.js';

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

  // --- IT health index, sampled every minute (hub/health) ---
  hub.addFeature(createHealthFeature(services));

  // --- console: facility names, the live feed (SSE), the public display ---
  hub.addFeature(
    createConsoleFeature(services, {
      insideByRoom: (sessionId) => {
        const out = new Map<string, number>();
        for (const c of checkin.checkin().checkins(sessionId)) if (c.status === 'inside' && c.room) out.set(c.room, (out.get(c.room) ?? 0) + 1);
        return out;
      },
    }),
  );

  return hub;
}
