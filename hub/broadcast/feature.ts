/**
 * The call/broadcast feature: wires the PA controller line into the hub (driver per transport),
 * the broadcast service (warnings, calls, emergencies), the announcement scheduler and the routes.
 * `installBroadcast(hub)` is what the composition root calls; tests call it on a bare Hub.
 */
import type { Hub, Feature } from '../hub.js';
import { BroadcastDevice } from '../../devices/broadcast.js';
import { BroadcastService } from './service.js';
import { AnnouncementScheduler } from './announcements.js';
import { broadcastRoutes } from './routes.js';
import { broadcastConfigProblems, resolveSettings } from './settings.js';

export interface BroadcastFeature extends Feature {
  service(): BroadcastService | null;
  scheduler(): AnnouncementScheduler | null;
  devices(): BroadcastDevice[];
}

export interface BroadcastWiring {
  /** The session whose expert holds a seat now (check-in's seat map), for seat warnings. */
  seatHolder?: (room: string, seat: number) => string | null;
}

export function installBroadcast(hub: Hub, wiring: BroadcastWiring = {}): BroadcastFeature {
  const problems = broadcastConfigProblems(hub.facility);
  if (problems.length > 0) {
    throw new Error(`invalid broadcast configuration:\n${problems.map((p) => `  ${p.path}: found ${p.found}, expected ${p.expected}`).join('\n')}`);
  }
  const settings = resolveSettings(hub.facility);
  let service: BroadcastService | null = null;
  let scheduler: AnnouncementScheduler | null = null;
  const devices = (): BroadcastDevice[] => [...hub.devices.values()].filter((d): d is BroadcastDevice => d instanceof BroadcastDevice);
  const log = hub.log.child({ module: 'broadcast' });

  const feature: BroadcastFeature = {
    name: 'broadcast',
    routes: broadcastRoutes({ service: () => service, scheduler: () => scheduler, devices, settings }),
    async start() {
      service = new BroadcastService({
        facility: hub.facility,
        settings,
        devices: devices(),
        sessions: hub.sessions,
        events: hub.events,
        bus: hub.bus,
        clock: hub.clock,
        log,
        ...(wiring.seatHolder ? { seatHolder: wiring.seatHolder } : {}),
      });
      service.start();
      const svc = service;
      scheduler = new AnnouncementScheduler({ settings, clock: hub.clock, bus: hub.bus, log, sessions: hub.sessions, announce: (spec, sessions) => svc.announce(spec, sessions) });
      scheduler.start();
      log.info({ devices: devices().map((d) => d.id), messages: settings.messages.size, announcements: settings.announcements.length }, 'broadcast ready');
    },
    async stop() {
      await scheduler?.stop();
      await service?.stop();
    },
    service: () => service,
    scheduler: () => scheduler,
    devices,
  };
  hub.addFeature(feature);
  return feature;
}
