import type { Bus } from '../kernel/bus.js';
import type { Clock } from '../kernel/clock.js';
import type { HubEvents } from './events.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Store } from './store/store.js';
import type { EventLog } from './store/events.js';
import type { DeviceConfig, Facility } from '../config/schema.js';
import type { DeviceAvailability, DeviceRecord } from '../devices/seam.js';

interface Entry {
  config: DeviceConfig;
  linkUp: boolean;
  linkReason: string;
  statusOnline: boolean | null;
  lastSeen: number | null;
  state: Record<string, unknown>;
  available: boolean;
  since: number;
}

/**
 * Availability, last-seen and last state of every configured device. A device is
 * available when its transport is up (an authenticated MQTT connection, or a driver that
 * answers) and it has not said `online: false`. Each change is one event in the log and
 * one bus event; the last known state is kept in the store across restarts.
 */
export class Availability implements DeviceAvailability {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly deps: {
      facility: Facility;
      store: Store;
      events: EventLog;
      bus: Bus<HubEvents>;
      clock: Clock;
      log: Logger;
      metrics: Metrics;
      sessionsFor: (deviceId: string) => string[];
    },
  ) {
    const rows = deps.store.stmt('SELECT id, last_seen, state FROM devices').all() as { id: string; last_seen: number | null; state: string | null }[];
    const saved = new Map(rows.map((r) => [r.id, r]));
    for (const d of deps.facility.devices) {
      const row = saved.get(d.id);
      this.entries.set(d.id, {
        config: d,
        linkUp: false,
        linkReason: 'not connected yet',
        statusOnline: null,
        lastSeen: row?.last_seen ?? null,
        state: row?.state ? (JSON.parse(row.state) as Record<string, unknown>) : {},
        available: false,
        since: deps.clock.now(),
      });
    }
    deps.metrics.devicesConfigured.set(this.entries.size);
    deps.metrics.devicesOnline.set(0);
  }

  has(deviceId: string): boolean {
    return this.entries.has(deviceId);
  }

  config(deviceId: string): DeviceConfig | undefined {
    return this.entries.get(deviceId)?.config;
  }

  /** The transport's view: connected / answering, or not (with why). */
  setLink(deviceId: string, up: boolean, reason: string): void {
    const e = this.entries.get(deviceId);
    if (!e) return;
    e.linkUp = up;
    e.linkReason = reason;
    if (up) {
      e.lastSeen = this.deps.clock.now();
    } else {
      // A new connection must announce itself again.
      e.statusOnline = null;
    }
    this.recompute(deviceId, e, reason);
  }

  /** The device's own status message (or its will). */
  setStatus(deviceId: string, online: boolean): void {
    const e = this.entries.get(deviceId);
    if (!e) return;
    e.statusOnline = online;
    e.lastSeen = this.deps.clock.now();
    this.recompute(deviceId, e, online ? 'status: online' : 'status: offline');
  }

  seen(deviceId: string): void {
    const e = this.entries.get(deviceId);
    if (e) e.lastSeen = this.deps.clock.now();
  }

  /** Replaces the device's state; resolves once durable. */
  setState(deviceId: string, state: Record<string, unknown>): Promise<void> {
    const e = this.entries.get(deviceId);
    if (!e) return Promise.resolve();
    e.state = state;
    e.lastSeen = this.deps.clock.now();
    this.deps.bus.emit('device.state', { deviceId, state });
    return this.persist(deviceId, e, () => {
      this.deps.events.appendInTx({
        type: 'device.state',
        actor: `device:${deviceId}`,
        deviceId,
        sessionIds: this.deps.sessionsFor(deviceId),
        data: { state },
      });
    });
  }

  /**
   * Merges into the state (for polled devices that own their state), and counts as seen
   * unless `seen: false`: a polled device also patches after a miss, when last seen must
   * stay the last answer.
   */
  patchState(deviceId: string, patch: Record<string, unknown>, opts: { seen?: boolean } = {}): void {
    const e = this.entries.get(deviceId);
    if (!e) return;
    e.state = { ...e.state, ...patch };
    if (opts.seen !== false) e.lastSeen = this.deps.clock.now();
    this.deps.bus.emit('device.state', { deviceId, state: e.state });
  }

  get(deviceId: string): DeviceRecord | null {
    const e = this.entries.get(deviceId);
    return e ? this.record(deviceId, e) : null;
  }

  list(): DeviceRecord[] {
    return [...this.entries.entries()].map(([id, e]) => this.record(id, e));
  }

  isAvailable(deviceId: string): boolean {
    return this.entries.get(deviceId)?.available ?? false;
  }

  private record(id: string, e: Entry): DeviceRecord {
    return {
      id,
      kind: e.config.kind,
      name: e.config.name ?? id,
      transport: e.config.transport.type,
      available: e.available,
      reason: e.available ? 'available' : e.linkUp ? 'status: offline' : e.linkReason,
      lastSeen: e.lastSeen,
      state: e.state,
      since: e.since,
    };
  }

  private recompute(deviceId: string, e: Entry, reason: string): void {
    const available = e.linkUp && e.statusOnline !== false;
    if (available === e.available) return;
    e.available = available;
    e.since = this.deps.clock.now();
    this.deps.metrics.devicesOnline.set([...this.entries.values()].filter((x) => x.available).length);
    // Logged once per change: a device that stays down does not flood the log.
    if (available) this.deps.log.info({ deviceId, reason }, 'device available');
    else this.deps.log.warn({ deviceId, reason }, 'device unavailable');
    this.deps.bus.emit('device.availability', { deviceId, kind: e.config.kind, available, reason });
    this.persist(deviceId, e, () => {
      this.deps.events.appendInTx({
        type: available ? 'device.available' : 'device.unavailable',
        actor: 'hub',
        deviceId,
        sessionIds: this.deps.sessionsFor(deviceId),
        data: { reason },
      });
    }).catch((err: unknown) => this.deps.log.error({ err, deviceId }, 'availability not persisted'));
  }

  private persist(deviceId: string, e: Entry, also: () => void): Promise<void> {
    const state = JSON.stringify(e.state);
    const online = e.available ? 1 : 0;
    const lastSeen = e.lastSeen;
    const now = this.deps.clock.now();
    return this.deps.store.write(() => {
      this.deps.store.db
        .prepare(
          'INSERT INTO devices (id, online, last_seen, state, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET online = excluded.online, last_seen = excluded.last_seen, state = excluded.state, updated_at = excluded.updated_at',
        )
        .run(deviceId, online, lastSeen, state, now);
      also();
    });
  }
}
