/**
 * The jammer zones (docs/jammers.md). This feature alone switches every relay output with
 * `role: jammer`: it claims them on the relay device so the generic command API refuses
 * them (409), and it writes them through the relay device, which reads every write back
 * and raises a critical alarm on a mismatch. The wanted state of each zone comes from
 * `rule.ts`; it is applied at start, on every session change, at every window edge, when
 * a relay module comes back, after every failed write (retried until it holds) and every
 * `reapplyMs` against the read-back. Every decision, with its cause, is a `jammer.zone`
 * record in the event log, which is what the regulator report is computed from.
 */
import type { Bus } from '../../kernel/bus.js';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/log.js';
import type { Actor } from '../../kernel/actor.js';
import type { Facility } from '../../config/schema.js';
import type { RelayOutputView, SetOutputOptions, SetOutputResult } from '../../devices/relay.js';
import { AlarmLatch } from '../../devices/alarm.js';
import type { HubEvents } from '../events.js';
import type { Feature } from '../services.js';
import type { NewEvent, StoredEvent, EventQuery } from '../store/events.js';
import { HubError } from '../errors.js';
import { decide, nextEdge, type Decision, type JammerCause, type Override, type SessionSpan, type ZoneTiming } from './rule.js';
import { jammerRoutes } from './routes.js';

export const JAMMER_OWNER = 'jammers';
const ACTOR: Actor = 'automation:jammers';

/** What the feature needs of a relay device (devices/relay.ts). */
export interface JammerRelay {
  readonly id: string;
  outputs(): RelayOutputView[];
  output(outputId: string): RelayOutputView | null;
  setOutput(outputId: string, on: boolean, issuer: string, opts?: SetOutputOptions): Promise<SetOutputResult>;
  claim(outputId: string, owner: string): void;
}

/** What survives a restart: overrides and the interlock (a fire must not be forgotten by a reboot). */
export interface SavedJammerState {
  interlock: Interlock | null;
  overrides: Record<string, Override>;
}

export interface JammerPersistence {
  load(): SavedJammerState | null;
  save(state: SavedJammerState): Promise<void>;
}

export interface JammerDeps {
  facility: Pick<Facility, 'jammers' | 'site'>;
  clock: Clock;
  log: Logger;
  bus: Bus<HubEvents>;
  events: { append(e: NewEvent): Promise<StoredEvent>; query(q: EventQuery): StoredEvent[] };
  sessions: { list(): readonly SessionSpan[] };
  /** Every relay device of the facility (they exist once the hub has started its devices). */
  relays: () => JammerRelay[];
  persistence: JammerPersistence;
  /** Sessions in check-in or in progress, for facility-wide records (the interlock). */
  runningSessions: () => string[];
}

export interface Interlock {
  since: number;
  /** Panels (device ids) that reported the alarm and have not reported clear since. */
  panelsInAlarm: string[];
  /** The panel that tripped it. */
  trippedBy: string;
}

export interface ZoneView {
  id: string;
  deviceId: string;
  outputId: string;
  name: string;
  room: string;
  /** What the rule wants now and why. */
  wanted: boolean;
  cause: JammerCause;
  sessions: { id: string; code: string }[];
  /** The relay's read-back (null before the first read). */
  on: boolean | null;
  commanded: boolean | null;
  verified: boolean;
  override: Override | null;
  cutOff: boolean;
  onSince: number | null;
  /** The last write's failure, until a write holds again. */
  failing: string | null;
  leadMinutes: number;
  lagMinutes: number;
  maxOnMinutes: number;
}

export interface JammerSnapshot {
  interlock: Interlock | null;
  zones: ZoneView[];
}

export interface JammerFeature extends Feature {
  snapshot(): JammerSnapshot;
  setOverride(zoneId: string, o: { mode: 'on' | 'off'; reason: string; until: number }, by: string): Promise<ZoneView>;
  cancelOverride(zoneId: string, reason: string, by: string): Promise<ZoneView>;
  releaseInterlock(reason: string, by: string): Promise<JammerSnapshot>;
  /** Resolves once every write asked for so far has been tried (tests, the bench). */
  idle(): Promise<void>;
  zoneIds(): string[];
  events(): JammerDeps['events'];
}

interface Zone {
  id: string;
  deviceId: string;
  outputId: string;
  name: string;
  timing: ZoneTiming;
  override: Override | null;
  cutOff: boolean;
  onSince: number | null;
  last: { on: boolean; cause: JammerCause; sessions: string } | null;
  failing: string | null;
  chain: Promise<void>;
  queued: boolean;
  forceNext: boolean;
}

export function createJammerFeature(deps: JammerDeps): JammerFeature {
  const cfg = deps.facility.jammers;
  const log = deps.log;
  const zones = new Map<string, Zone>();
  let interlock: Interlock | null = null;
  let running = false;
  let wake: TimerHandle | null = null;
  let retry: TimerHandle | null = null;
  let reapply: TimerHandle | null = null;
  const alarms = new AlarmLatch({ source: 'jammers', actor: ACTOR, bus: deps.bus, events: deps.events, log, sessionIds: () => deps.runningSessions() });

  const relayOf = (z: Zone): JammerRelay | undefined => deps.relays().find((r) => r.id === z.deviceId);

  const buildZones = (): void => {
    const perZone = new Map(cfg.zones.map((z) => [z.output, z]));
    for (const relay of deps.relays()) {
      for (const out of relay.outputs()) {
        if (out.role !== 'jammer') continue;
        if (!out.room) throw new Error(`jammer output ${relay.id}/${out.id} has no room: every jammer zone covers one room`);
        if (zones.has(out.id)) throw new Error(`jammer output id ${out.id} is used on two relay modules: jammer zones are named by their output id`);
        const own = perZone.get(out.id);
        zones.set(out.id, {
          id: out.id,
          deviceId: relay.id,
          outputId: out.id,
          name: out.name,
          timing: {
            room: out.room,
            leadMs: (own?.leadMinutes ?? cfg.leadMinutes) * 60_000,
            lagMs: (own?.lagMinutes ?? cfg.lagMinutes) * 60_000,
            maxOnMs: (own?.maxOnMinutes ?? cfg.maxOnMinutes) * 60_000,
          },
          override: null,
          cutOff: false,
          onSince: null,
          last: null,
          failing: null,
          chain: Promise.resolve(),
          queued: false,
          forceNext: false,
        });
        relay.claim(out.id, JAMMER_OWNER);
      }
    }
    const unknown = cfg.zones.filter((z) => !zones.has(z.output)).map((z) => z.output);
    if (unknown.length) throw new Error(`jammers.zones names outputs that are not jammer outputs: ${unknown.join(', ')} (jammer outputs: ${[...zones.keys()].join(', ') || 'none'})`);
  };

  const save = (): void => {
    const overrides: Record<string, Override> = {};
    for (const z of zones.values()) if (z.override) overrides[z.id] = z.override;
    deps.persistence.save({ interlock, overrides }).catch((err: unknown) => log.error({ err }, 'jammer state not saved'));
  };

  const decision = (z: Zone, now: number): Decision =>
    decide({ sessions: deps.sessions.list(), timing: z.timing, now, interlock: interlock !== null, override: z.override, cutOff: z.cutOff });

  /** Resolves once durable (the regulator's record); a failure to log is logged, never thrown. */
  const append = (e: NewEvent): Promise<void> =>
    deps.events.append(e).then(
      () => undefined,
      (err: unknown) => log.error({ err, type: e.type }, 'jammer record not logged'),
    );

  /** Bookkeeping before a decision: expired overrides, the maximum on-time, a cut-off that no longer applies. */
  const housekeep = async (z: Zone, now: number): Promise<void> => {
    if (z.override && now >= z.override.until) {
      const o = z.override;
      z.override = null;
      save();
      log.info({ zone: z.id, mode: o.mode }, 'jammer override expired');
      await append({ type: 'jammer.override', actor: ACTOR, deviceId: z.deviceId, sessionIds: sessionIdsOf(decision(z, now)), ts: now, data: { zone: z.id, action: 'expired', mode: o.mode, reason: o.reason, by: o.by, until: o.until } });
    }
    if (z.cutOff && !decide({ sessions: deps.sessions.list(), timing: z.timing, now, interlock: false, override: z.override, cutOff: false }).on) {
      z.cutOff = false;
      await alarms.clear(`jammer-max-on:${z.id}`, 'nothing asks for the zone any more');
    }
    if (!z.cutOff && z.timing.maxOnMs > 0 && z.onSince !== null && now - z.onSince >= z.timing.maxOnMs) {
      z.cutOff = true;
      await alarms.raise({
        id: `jammer-max-on:${z.id}`,
        severity: 'warning',
        message: `jammer zone ${z.id} (${z.timing.room}) reached its maximum continuous on-time of ${z.timing.maxOnMs / 60_000} min and was switched off / 屏蔽器已达最长连续工作时间，已关闭`,
        deviceId: z.deviceId,
        data: { zone: z.id, room: z.timing.room, onSince: z.onSince, maxOnMinutes: z.timing.maxOnMs / 60_000 },
      });
    }
  };

  const sessionIdsOf = (d: Decision): string[] => d.sessions.map((s) => s.id);

  const applyZone = async (z: Zone, trigger: string, force: boolean): Promise<void> => {
    if (!running) return;
    const now = deps.clock.now();
    await housekeep(z, now);
    const d = decision(z, now);
    const sessions = d.sessions.map((s) => s.code).join(',');
    const relay = relayOf(z);
    const view = relay?.output(z.outputId) ?? null;
    const changed = !z.last || z.last.on !== d.on || z.last.cause !== d.cause || z.last.sessions !== sessions;
    const needWrite = force || z.failing !== null || !view || view.commanded !== d.on || view.actual !== d.on;
    log.debug({ zone: z.id, trigger, on: d.on, cause: d.cause, needWrite, commanded: view?.commanded, actual: view?.actual }, 'jammer decision');
    const record = (extra: Record<string, unknown>): Promise<void> =>
      append({
        type: 'jammer.zone',
        actor: d.cause === 'override-on' || d.cause === 'override-off' ? (`user:${z.override?.by ?? 'unknown'}` as Actor) : ACTOR,
        deviceId: z.deviceId,
        sessionIds: sessionIdsOf(d),
        ts: now,
        data: { zone: z.id, room: z.timing.room, on: d.on, cause: d.cause, trigger, sessions: d.sessions.map((s) => ({ id: s.id, code: s.code })), ...(z.override ? { override: { ...z.override } } : {}), ...extra },
      });
    if (!needWrite) {
      if (changed) await record({ switched: false, verified: view?.verified ?? false, actual: view?.actual ?? null });
      z.last = { on: d.on, cause: d.cause, sessions };
      return;
    }
    if (!relay) {
      z.failing = `relay module ${z.deviceId} is not running`;
      scheduleRetry();
      return;
    }
    const issuer = d.cause === 'override-on' || d.cause === 'override-off' ? `user:${z.override?.by ?? 'unknown'}` : ACTOR;
    const res = await relay.setOutput(z.outputId, d.on, issuer, { sessionIds: sessionIdsOf(d) });
    const done = deps.clock.now();
    if (res.ok) {
      const wasFailing = z.failing;
      z.failing = null;
      // The coil moved when the write went out: the on-time counts from the decision.
      if (d.on) z.onSince ??= now;
      else z.onSince = null;
      await record({ switched: view?.actual !== d.on, verified: true, actual: d.on, commandId: res.commandId, ...(wasFailing ? { recovered: wasFailing } : {}) });
      z.last = { on: d.on, cause: d.cause, sessions };
      await alarms.clear(`jammer-write:${z.id}`, 'a write holds again');
      return;
    }
    const first = z.failing === null;
    z.failing = res.message;
    // What the coil really is, when the read-back could tell (a relay that does not follow).
    const actual = res.actual ?? relay.output(z.outputId)?.actual ?? null;
    if (actual === true) z.onSince ??= done;
    else if (actual === false) z.onSince = null;
    if (first) {
      log.error({ zone: z.id, on: d.on, cause: d.cause, reason: res.reason, message: res.message }, 'jammer write failed; retrying');
      await append({ type: 'jammer.write-failed', actor: ACTOR, deviceId: z.deviceId, sessionIds: sessionIdsOf(d), ts: done, data: { zone: z.id, room: z.timing.room, on: d.on, cause: d.cause, trigger, reason: res.reason, message: res.message, actual } });
      // An unverified jammer is critical either way: on outside a session, or off during one.
      await alarms.raise({
        id: `jammer-write:${z.id}`,
        severity: 'critical',
        message: `jammer zone ${z.id} (${z.timing.room}) could not be switched ${d.on ? 'on' : 'off'}: ${res.message} / 屏蔽器切换失败`,
        deviceId: z.deviceId,
        data: { zone: z.id, on: d.on, cause: d.cause, reason: res.reason },
      });
    }
    scheduleRetry();
  };

  /** Queues one apply per zone (at most one waiting behind the one in flight). */
  const enqueue = (z: Zone, trigger: string, force: boolean): Promise<void> => {
    if (force) z.forceNext = true;
    if (z.queued) return z.chain;
    z.queued = true;
    z.chain = z.chain.then(async () => {
      z.queued = false;
      const f = z.forceNext;
      z.forceNext = false;
      try {
        await applyZone(z, trigger, f);
      } catch (err) {
        log.error({ err, zone: z.id }, 'jammer apply failed');
      }
    });
    return z.chain;
  };

  const inflight = new Set<Promise<void>>();
  const applyAll = (trigger: string, force = false, only?: (z: Zone) => boolean): Promise<void> => {
    // Zones in parallel: the hub's Modbus line serialises the frames, the ledger's writes are group-committed.
    const p = Promise.all([...zones.values()].filter((z) => !only || only(z)).map((z) => enqueue(z, trigger, force))).then(() => scheduleWake());
    inflight.add(p);
    const done = (): void => void inflight.delete(p);
    p.then(done, done);
    return p;
  };

  const scheduleRetry = (): void => {
    if (!running || retry) return;
    retry = deps.clock.setTimeout(() => {
      retry = null;
      void applyAll('retry', false, (z) => z.failing !== null);
    }, cfg.retryMs);
  };

  const scheduleWake = (): void => {
    if (!running) return;
    wake?.cancel();
    wake = null;
    const now = deps.clock.now();
    // The next edge exactly; a clock step (NTP) is caught up by the periodic re-apply.
    let at = Number.POSITIVE_INFINITY;
    for (const z of zones.values()) {
      const edge = nextEdge(deps.sessions.list(), z.timing, now);
      if (edge !== null) at = Math.min(at, edge);
      if (z.override) at = Math.min(at, z.override.until);
      if (z.onSince !== null && z.timing.maxOnMs > 0 && !z.cutOff) at = Math.min(at, z.onSince + z.timing.maxOnMs);
    }
    if (at === Number.POSITIVE_INFINITY) return;
    wake = deps.clock.setTimeout(() => {
      wake = null;
      void applyAll('schedule');
    }, Math.max(0, at - now));
  };

  const onFire = (p: HubEvents['fire.alarm']): void => {
    const now = deps.clock.now();
    if (p.active) {
      const fresh = interlock === null;
      interlock ??= { since: now, panelsInAlarm: [], trippedBy: p.deviceId };
      if (!interlock.panelsInAlarm.includes(p.deviceId)) interlock.panelsInAlarm.push(p.deviceId);
      // Off first, records after: the writes are what must happen within a second.
      void applyAll('fire-alarm');
      save();
      if (fresh) {
        log.error({ panel: p.deviceId }, 'fire alarm: every jammer zone off, switching on blocked until an admin releases the interlock');
        void append({ type: 'jammer.interlock', actor: `device:${p.deviceId}`, deviceId: p.deviceId, sessionIds: deps.runningSessions(), ts: now, data: { action: 'engaged', panel: p.deviceId } });
      }
      return;
    }
    if (!interlock) return;
    interlock.panelsInAlarm = interlock.panelsInAlarm.filter((d) => d !== p.deviceId);
    save();
    void append({ type: 'jammer.interlock', actor: `device:${p.deviceId}`, deviceId: p.deviceId, sessionIds: deps.runningSessions(), ts: now, data: { action: 'panel-cleared', panel: p.deviceId, stillInAlarm: [...interlock.panelsInAlarm] } });
  };

  const viewOf = (z: Zone, now: number): ZoneView => {
    const d = decision(z, now);
    const out = relayOf(z)?.output(z.outputId) ?? null;
    return {
      id: z.id,
      deviceId: z.deviceId,
      outputId: z.outputId,
      name: z.name,
      room: z.timing.room,
      wanted: d.on,
      cause: d.cause,
      sessions: d.sessions.map((s) => ({ id: s.id, code: s.code })),
      on: out?.actual ?? null,
      commanded: out?.commanded ?? null,
      verified: out?.verified ?? false,
      override: z.override && now < z.override.until ? { ...z.override } : null,
      cutOff: z.cutOff,
      onSince: z.onSince,
      failing: z.failing,
      leadMinutes: z.timing.leadMs / 60_000,
      lagMinutes: z.timing.lagMs / 60_000,
      maxOnMinutes: z.timing.maxOnMs / 60_000,
    };
  };

  const zoneOrThrow = (zoneId: string): Zone => {
    const z = zones.get(zoneId);
    if (!z) throw new HubError('HUB_ERR_NOT_FOUND', [`jammer zone ${zoneId} (zones: ${[...zones.keys()].join(', ') || 'none'})`]);
    return z;
  };

  const feature: JammerFeature = {
    name: 'jammers',
    routes: async (app, apiDeps) => jammerRoutes(app, apiDeps, feature),
    async start() {
      buildZones();
      const saved = deps.persistence.load();
      if (saved) {
        interlock = saved.interlock;
        for (const [id, o] of Object.entries(saved.overrides)) {
          const z = zones.get(id);
          if (z) z.override = o;
        }
      }
      running = true;
      deps.bus.on(JAMMER_OWNER, 'session.status', () => void applyAll('session'));
      deps.bus.on(JAMMER_OWNER, 'fire.alarm', onFire);
      deps.bus.on(JAMMER_OWNER, 'device.availability', (p) => {
        // A module that comes back may have lost its coils (power cycle): write them all again.
        if (p.available) void applyAll('reconnect', true, (z) => z.deviceId === p.deviceId);
      });
      reapply = deps.clock.setInterval(() => void applyAll('reapply'), cfg.reapplyMs);
      if (interlock) log.error({ interlock }, 'jammer fire interlock still engaged from before the restart');
      // Whatever the coils were left at, the hub writes what the rule wants now.
      await applyAll('start', true);
    },
    async stop() {
      running = false;
      deps.bus.removeOwner(JAMMER_OWNER);
      for (const t of [wake, retry, reapply]) t?.cancel();
      wake = retry = reapply = null;
      await Promise.all([...zones.values()].map((z) => z.chain));
    },
    snapshot() {
      const now = deps.clock.now();
      return { interlock: interlock ? { ...interlock, panelsInAlarm: [...interlock.panelsInAlarm] } : null, zones: [...zones.values()].map((z) => viewOf(z, now)) };
    },
    async setOverride(zoneId, o, by) {
      const z = zoneOrThrow(zoneId);
      const now = deps.clock.now();
      if (o.reason.trim().length < 2) throw new HubError('HUB_ERR_VALIDATION', ['body.reason must say why (at least 2 characters)'], { field: 'body.reason' });
      if (!(o.until > now)) throw new HubError('HUB_ERR_VALIDATION', ['body.until must be in the future'], { field: 'body.until' });
      if (o.until - now > cfg.overrideMaxMinutes * 60_000) {
        throw new HubError('HUB_ERR_VALIDATION', [`body.until is more than jammers.overrideMaxMinutes (${cfg.overrideMaxMinutes} min) away`], { field: 'body.until' });
      }
      if (o.mode === 'on' && interlock) throw new HubError('HUB_ERR_CONFLICT', ['the fire interlock is engaged: no jammer may be switched on until an admin releases it'], { interlock });
      z.override = { mode: o.mode, reason: o.reason.trim(), by, from: now, until: o.until };
      // A force-on is a fresh decision by a person: the on-time count starts again.
      if (o.mode === 'on' && z.cutOff) {
        z.cutOff = false;
        z.onSince = null;
        await alarms.clear(`jammer-max-on:${z.id}`, `override by ${by}`);
      }
      await deps.events.append({ type: 'jammer.override', actor: `user:${by}`, deviceId: z.deviceId, sessionIds: sessionIdsOf(decision(z, now)), ts: now, data: { zone: z.id, action: 'set', ...z.override } });
      log.warn({ zone: z.id, mode: o.mode, by, until: o.until }, 'jammer override set');
      save();
      await applyAll('override', false, (x) => x === z);
      return viewOf(z, deps.clock.now());
    },
    async cancelOverride(zoneId, reason, by) {
      const z = zoneOrThrow(zoneId);
      const now = deps.clock.now();
      if (!z.override || now >= z.override.until) throw new HubError('HUB_ERR_CONFLICT', [`jammer zone ${z.id} has no active override`]);
      const o = z.override;
      z.override = null;
      await deps.events.append({ type: 'jammer.override', actor: `user:${by}`, deviceId: z.deviceId, sessionIds: sessionIdsOf(decision(z, now)), ts: now, data: { zone: z.id, action: 'cancelled', mode: o.mode, reason, by, overrideReason: o.reason, until: o.until } });
      log.info({ zone: z.id, by }, 'jammer override cancelled');
      save();
      await applyAll('override-cancelled', false, (x) => x === z);
      return viewOf(z, deps.clock.now());
    },
    async releaseInterlock(reason, by) {
      if (!interlock) throw new HubError('HUB_ERR_CONFLICT', ['the fire interlock is not engaged']);
      if (reason.trim().length < 2) throw new HubError('HUB_ERR_VALIDATION', ['body.reason must say why (at least 2 characters)'], { field: 'body.reason' });
      if (interlock.panelsInAlarm.length) {
        throw new HubError('HUB_ERR_CONFLICT', [`the fire panel has not cleared (${interlock.panelsInAlarm.join(', ')} still in alarm): the interlock stays`], { panelsInAlarm: interlock.panelsInAlarm });
      }
      const was = interlock;
      interlock = null;
      await deps.events.append({ type: 'jammer.interlock', actor: `user:${by}`, sessionIds: deps.runningSessions(), data: { action: 'released', reason: reason.trim(), by, since: was.since, trippedBy: was.trippedBy } });
      log.warn({ by, reason }, 'jammer fire interlock released');
      save();
      await applyAll('interlock-released');
      return feature.snapshot();
    },
    async idle() {
      for (;;) {
        const chains = [...zones.values()].map((z) => z.chain);
        await Promise.all([...inflight, ...chains]);
        if (inflight.size === 0 && [...zones.values()].every((z, i) => z.chain === chains[i])) return;
      }
    },
    zoneIds: () => [...zones.keys()],
    events: () => deps.events,
  };
  return feature;
}
