import { Hub, type HubOptions } from './hub.js';
import { installPower } from './power/feature.js';
import { createCheckInFeature } from './checkin/feature.js';
import { installBroadcast } from './broadcast/feature.js';

/**
 * Builds a hub with every feature of the product wired in. Tests that need only the
 * foundation construct `Hub` directly. Each feature owns one block below.
 */
export function createHub(opts: HubOptions): Hub {
  const hub = new Hub(opts);

  // --- check-in at the gates (sessions, rosters, dispersed seating) ---
  const checkin = createCheckInFeature(hub);
  hub.addFeature(checkin);

  // --- power: UPS, relay modules, failover playbook ---
  installPower(hub);

  // --- call/broadcast: PA controller, supervisor warnings, announcements ---
  // Seat warnings are logged against the session of the expert at that seat.
  installBroadcast(hub, { seatHolder: (room, seat) => checkin.checkin().holderOf(room, seat) });

  return hub;
}
