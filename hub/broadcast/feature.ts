/**
 * The call/broadcast feature: the broadcast service (warnings, calls, emergencies) over the
 * PA controllers (their lines are the hub's), the announcement scheduler and the routes.
 * compose.ts adds it; tests add it to a bare Hub the same way.
 */
import type { Feature, HubServices } from '../services.js';
import { BroadcastDevice } from '../../devices/broadcast.js';
import { BroadcastService } from './service.js';
import { AnnouncementScheduler, StorePlayedLog, type AnnounceResult } from './announcements.js';
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

export type BroadcastDeps = Pick<HubServices, 'facility' | 'clock' | 'log' | 'bus' | 'events' | 'sessions' | 'devices' | 'store'>;

export function createBroadcastFeature(deps: BroadcastDeps, wiring: BroadcastWiring = {}): BroadcastFeature {
  const problems = broadcastConfigProblems(deps.facility);
  if (problems.length > 0) {
    throw new Error(`invalid broadcast configuration:\n${problems.map((p) => `  ${p.path}: found ${p.found}, expected ${p.expected}`).join('\n')}`);
  }
  const settings = resolveSettings(deps.facility);
  let service: BroadcastService | null = null;
  let scheduler: AnnouncementScheduler | null = null;
  const devices = (): BroadcastDevice[] => [...deps.devices.values()].filter((d): d is BroadcastDevice => d instanceof BroadcastDevice);
  const log = deps.log.child({ module: 'broadcast' });

  const feature: BroadcastFeature = {
    name: 'broadcast',
    routes: broadcastRoutes({ service: () => service, scheduler: () => scheduler, devices, settings }),
    async start() {
      service = new BroadcastService({
        facility: deps.facility,
        settings,
        devices: devices(),
        sessions: deps.sessions,
        events: deps.events,
        bus: deps.bus,
        clock: deps.clock,
        log,
        ...(wiring.seatHolder ? { seatHolder: wiring.seatHolder } : {}),
      });
      service.start();
      const svc = service;
      const announce = async (...args: Parameters<BroadcastService['announce']>): Promise<AnnounceResult | null> => {
        const entry = await svc.announce(...args);
        if (!entry) return null;
        const outcomes = entry.deliveries.map((d) => d.outcome);
        // Unreachable: every controller was down or silent (worth retrying when one is back); busy rooms are not.
        const unreachable = outcomes.length > 0 && outcomes.every((o) => o === 'unavailable' || o === 'timeout');
        return { confirmed: entry.confirmed, unreachable, outcome: [...new Set(outcomes)].join(',') || 'no-zone' };
      };
      scheduler = new AnnouncementScheduler({ settings, clock: deps.clock, bus: deps.bus, log, sessions: deps.sessions, announce, played: new StorePlayedLog(deps.store), events: deps.events });
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
  return feature;
}
