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
  hub.addFeature(createCheckInFeature(hub));

  // --- power: UPS, relay modules, failover playbook ---
  installPower(hub);

  // --- call/broadcast: PA controller, supervisor warnings, announcements ---
  installBroadcast(hub);

  return hub;
}
