import { Hub, type HubOptions } from './hub.js';
import { createPowerFeature } from './power/feature.js';
import { createCheckInFeature } from './checkin/feature.js';
import { createBroadcastFeature } from './broadcast/feature.js';
import { createAuditFeature } from './audit/feature.js';
import { ensureAuditSigner } from './audit/keys.js';
import { RelayDevice } from '../devices/relay.js';
import { createJammerFeature, type SavedJammerState } from './jammers/feature.js';
import { createFireFeature } from './fire/feature.js';
import { createDeviceHealthFeature } from './device-health/feature.js';
import { createHealthFeature } from './health/feature.js';
import { createConsoleFeature } from './console/feature.js';
import { createIntegrationsFeature } from './integrations/feature.js';
import { createDoorFeature } from './door/feature.js';
import { createRobotTaskTracker } from './door/robot-tasks.js';
import { DoorDevice } from '../devices/door.js';
import { createUplinkFeature } from './uplink/feature.js';
import { createRobotFeature } from './robot/feature.js';

/**
 * Builds a hub with every feature of the product wired in. Tests that need only the
 * foundation construct `Hub` directly. Each feature owns one block below and gets only
 * the services it declares; features reach each other through the bus or a named
 * function handed over here, never through each other's objects.
 */
export function createHub(opts: HubOptions): Hub {
  const hub = new Hub(opts);
  const services = hub.services();
  const relays = (): RelayDevice[] => [...hub.devices.values()].filter((d): d is RelayDevice => d instanceof RelayDevice);

  // --- fire: the critical alarm, gates refuse entry, doors unlocked, robot stopped (jammers: their own interlock) ---
  const fire = hub.addFeature(
    createFireFeature({
      facility: hub.facility,
      bus: hub.bus,
      events: hub.events,
      clock: hub.clock,
      log: hub.log.child({ module: 'fire' }),
      devicesOfKind: (kind) => [...hub.devices.values()].filter((d) => d.kind === kind),
      runningSessions: () => hub.runningSessions(),
    }),
  );

  // --- check-in at the gates (sessions, rosters, dispersed seating); the fire alarm closes entry ---
  const checkin = hub.addFeature(createCheckInFeature(services, { entryGuard: fire }));

  // --- power: UPS, relay modules, failover playbook ---
  hub.addFeature(createPowerFeature(services));
  // The generic command API refuses the sheddable loads too: the playbook switches them.
  hub.addFeature({
    name: 'power-outputs',
    async start() {
      for (const d of relays()) for (const o of d.outputs()) if (o.role === 'sheddable') d.claim(o.id, 'power');
    },
    async stop() {},
  });

  // --- call/broadcast: PA controller, supervisor warnings, announcements ---
  // Seat warnings are logged against the session of the expert at that seat.
  hub.addFeature(createBroadcastFeature(services, { seatHolder: (room, seat) => checkin.checkin().holderOf(room, seat) }));

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
      relays,
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

  // --- robot: delivery tasks, the meal schedule, fire suspends them (docs/robot.md) ---
  // Every task step is on the bus as robot.task; the door follows it from there.
  hub.addFeature(
    createRobotFeature(services, {
      insideSeats: (sessionId) => checkin.checkin().checkins(sessionId).flatMap((c) => (c.status === 'inside' && c.room !== null && c.seat !== null ? [{ room: c.room, seat: c.seat }] : [])),
    }),
  );

  // --- door: open-requests (the robot on a task only), forced/held-open alarms, relocked behind the robot ---
  // The robot's active task at a door, from the robot feature's robot.task bus events.
  const robotTasks = hub.addFeature(createRobotTaskTracker({ bus: hub.bus }));
  hub.addFeature(
    createDoorFeature({
      ...services,
      log: hub.log.child({ module: 'door' }),
      doors: () => [...hub.devices.values()].filter((d): d is DoorDevice => d instanceof DoorDevice),
      robotTaskAt: (doorId, robotId) => robotTasks.activeTaskAt(doorId, robotId),
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

  // --- integration accounts: MQTT accounts of other systems on site, administered over the API ---
  hub.addFeature(createIntegrationsFeature(services));
  // --- uplink: events without personal data and the signed checkpoints to the county platform (only with `uplink:` in the config) ---
  const uplink = createUplinkFeature(services);
  if (uplink) hub.addFeature(uplink);

  // --- audit: signed checkpoints of the event log, session seals ---
  // Added last, so it starts after every feature; its final checkpoint (afterStop) runs
  // once every feature stopped and hub.stopped is written, the broker still up to publish it.
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
      publish: async (message) => {
        uplink?.poke();
        await hub.publishHubState('checkpoint', message);
      },
    }),
  );

  return hub;
}
