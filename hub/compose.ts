import { Hub, type HubOptions } from './hub.js';
import { installPower } from './power/feature.js';
import { createCheckInFeature } from './checkin/feature.js';
import { installBroadcast } from './broadcast/feature.js';
import { RelayDevice } from '../devices/relay.js';
import { createJammerFeature, type SavedJammerState } from './jammers/feature.js';
import { createFireFeature } from './fire/feature.js';
import { createDeviceHealthFeature } from './health/feature.js';

/**
 * Builds a hub with every feature of the product wired in. Tests that need only the
 * foundation construct `Hub` directly. Each feature owns one block below.
 */
export function createHub(opts: HubOptions): Hub {
  const hub = new Hub(opts);

  // --- fire: the critical alarm, gates refuse entry, doors unlocked, robot stopped (jammers: their own interlock) ---
  const fire = createFireFeature({
    facility: hub.facility,
    bus: hub.bus,
    events: hub.events,
    clock: hub.clock,
    log: hub.log.child({ module: 'fire' }),
    devicesOfKind: (kind) => [...hub.devices.values()].filter((d) => d.kind === kind),
    runningSessions: () => hub.runningSessions(),
  });
  hub.addFeature(fire);

  // --- check-in at the gates (sessions, rosters, dispersed seating) ---
  const checkin = createCheckInFeature(hub, { entryGuard: fire });
  hub.addFeature(checkin);

  // --- power: UPS, relay modules, failover playbook ---
  installPower(hub);
  // The generic command API refuses the sheddable loads too: the playbook switches them.
  hub.addFeature({
    name: 'power-outputs',
    async start() {
      for (const d of hub.devices.values()) if (d instanceof RelayDevice) for (const o of d.outputs()) if (o.role === 'sheddable') d.claim(o.id, 'power');
    },
    async stop() {},
  });

  // --- call/broadcast: PA controller, supervisor warnings, announcements ---
  // Seat warnings are logged against the session of the expert at that seat.
  installBroadcast(hub, { seatHolder: (room, seat) => checkin.checkin().holderOf(room, seat) });

  // --- jammers: zones follow the sessions of their rooms, the fire interlock, the regulator report ---
  const JAMMER_STATE_KEY = 'jammers.state';
  hub.addFeature(
    createJammerFeature({
      facility: hub.facility,
      clock: hub.clock,
      log: hub.log.child({ module: 'jammers' }),
      bus: hub.bus,
      events: hub.events,
      sessions: hub.sessions,
      relays: () => [...hub.devices.values()].filter((d): d is RelayDevice => d instanceof RelayDevice),
      runningSessions: () => hub.runningSessions(),
      persistence: {
        load: () => {
          const row = hub.store.stmt('SELECT value FROM meta WHERE key = ?').get(JAMMER_STATE_KEY) as { value: string } | undefined;
          return row ? (JSON.parse(row.value) as SavedJammerState) : null;
        },
        save: (state) =>
          hub.store.write(() => {
            hub.store.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(JAMMER_STATE_KEY, JSON.stringify(state));
          }),
      },
    }),
  );

  // --- device health: an unavailable device is an alarm of its role's severity; /healthz says degraded ---
  hub.addFeature(
    createDeviceHealthFeature({
      devices: hub.facility.devices,
      bus: hub.bus,
      events: hub.events,
      clock: hub.clock,
      log: hub.log.child({ module: 'device-health' }),
      isAvailable: (id) => hub.availability.isAvailable(id),
      reasonOf: (id) => hub.availability.get(id)?.reason ?? 'unknown',
      sessionsFor: (id) => hub.sessionsFor(id),
    }),
  );

  return hub;
}
