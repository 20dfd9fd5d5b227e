import { formatTime } from '../../kernel/time.js';
import { powerConfigProblems } from '../../config/checks.js';
/**
 * The power feature: the power state machine fed by every UPS device's `ups.status`, the
 * failover playbook (its loads on relay modules whose lines the hub owns), the retained `fh/{site}/hub/power` state and `GET /api/power`.
 * Every transition goes to the event log attached to every running session.
 */
import type { Feature, HubServices } from '../services.js';
import type { RoutePlugin } from '../api/types.js';
import { AlarmLatch } from '../../devices/alarm.js';
import { UpsDevice } from '../../devices/ups.js';
import { RelayDevice } from '../../devices/relay.js';
import { PowerMachine, combineInputs, upsInput, type PendingTimer, type PowerState, type Transition } from './machine.js';
import { Playbook, type RuntimeShortfall, type ShedLoad, type StageRecord } from './playbook.js';
import { powerRoutes } from './routes.js';

export interface PowerOptions {
  /**
   * What the hub-shutdown stage calls. Default: `stopHub(reason)` when
   * `power.shutdown.stopHub` is true; null never stops anything (tests).
   */
  onShutdown?: ((reason: string) => void | Promise<void>) | null;
}

export interface PowerSnapshot {
  state: PowerState;
  since: number;
  mains: boolean | null;
  battery: { charge: number | null; runtime: number | null; low: boolean };
  /** Runtime remaining on battery, s (the lowest across UPSes). */
  runtime: number | null;
  /** The failover stage running now, else null. */
  stage: string | null;
  /** Forced shutdown announced (hosts are being told to shut down). */
  fsd: boolean;
  reason: string;
  pending: PendingTimer | null;
  stages: StageRecord[];
  ups: { deviceId: string; available: boolean; source: string; comm: string; onBattery: boolean | null; charge: number | null; runtime: number | null; lostOnBattery: boolean; lastError: string | null }[];
  loads: { deviceId: string; outputId: string; name: string; role: string; on: boolean | null; commanded: boolean | null; verified: boolean; shed: boolean }[];
  shedLoads: ShedLoad[];
  runtimeShortfall: RuntimeShortfall | null;
}

export interface PowerFeature extends Feature {
  snapshot(): PowerSnapshot;
  /** Waits until the stages queued so far have run (tests). */
  idle(): Promise<void>;
}

const OWNER = 'power';
const PUBLISH_EVERY_MS = 5000; // readings alone republish the retained state at most every 5 s

export type PowerDeps = Pick<
  HubServices,
  'facility' | 'clock' | 'log' | 'bus' | 'events' | 'commands' | 'availability' | 'devices' | 'sessions' | 'publish' | 'publishHubState' | 'runningSessions' | 'stopHub' | 'store'
>;

/** The store's meta key of the loads owed a restore (they survive a restart, kill -9 included). */
// Not named like an event (power.*): it is a row in meta, never in the event log.
const OWED_KEY = 'playbook.owed-restore';

/** The power feature; the "power" block of compose.ts adds it to the hub. */
export function createPowerFeature(deps: PowerDeps, opts: PowerOptions = {}): PowerFeature {
  const log = deps.log.child({ module: 'power' });
  const policy = deps.facility.power;
  checkPolicy(deps);

  const onShutdown = opts.onShutdown !== undefined ? opts.onShutdown : policy.shutdown.stopHub ? (reason: string) => deps.stopHub(reason) : null;
  const running = () => deps.sessions.active();
  const alarms = new AlarmLatch({ source: 'power', actor: 'automation:power', bus: deps.bus, events: deps.events, log, sessionIds: () => deps.runningSessions() });

  const upsDevices = (): UpsDevice[] => [...deps.devices.values()].filter((d): d is UpsDevice => d instanceof UpsDevice);
  const relayDevices = (): RelayDevice[] => [...deps.devices.values()].filter((d): d is RelayDevice => d instanceof RelayDevice);
  const runtime = (): number | null => {
    const values = upsDevices()
      .map((u) => u.status().reading?.runtime ?? null)
      .filter((v): v is number => v !== null);
    return values.length ? Math.min(...values) : null;
  };

  let lastPublished = { key: '', at: 0 };
  let started = false;
  const publish = (force: boolean): void => {
    if (!started) return;
    const snap = snapshot();
    const key = JSON.stringify([snap.state, snap.stage, snap.fsd, snap.mains, snap.stages.map((s) => s.status), snap.shedLoads.length, snap.runtimeShortfall !== null]);
    const now = deps.clock.now();
    if (!force && key === lastPublished.key && now - lastPublished.at < PUBLISH_EVERY_MS) return;
    lastPublished = { key, at: now };
    deps.publishHubState('power', wireView(snap, deps.facility.site.utcOffset)).catch((err: unknown) => log.debug({ err }, 'power state not published'));
  };

  const playbook = new Playbook({
    policy,
    clock: deps.clock,
    log,
    bus: deps.bus,
    events: deps.events,
    commands: deps.commands,
    availability: deps.availability,
    devices: deps.devices,
    alarms,
    site: deps.facility.site.id,
    activeSessions: running,
    publishToDevice: (deviceId, message) => deps.publish(`fh/${deps.facility.site.id}/${deviceId}/cmd`, message, { qos: 1 }),
    runtime,
    onShutdown,
    changed: () => publish(false),
    owed: {
      load: () => {
        const row = deps.store.stmt('SELECT value FROM meta WHERE key = ?').get(OWED_KEY) as { value: string } | undefined;
        return row ? (JSON.parse(row.value) as ShedLoad[]) : [];
      },
      save: (loads) =>
        deps.store.write(() => {
          deps.store.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(OWED_KEY, JSON.stringify(loads));
        }),
    },
  });

  const onTransition = (t: Transition): void => {
    const snap = snapshot();
    // Mains lost (or no longer known) is something an operator must see: warn; back to mains: info.
    if (t.to === 'mains-ok') log.info({ from: t.from, to: t.to, reason: t.reason }, 'power state');
    else log.warn({ from: t.from, to: t.to, reason: t.reason }, 'power state');
    deps.events
      .append({
        type: 'power.state',
        actor: 'automation:power',
        sessionIds: deps.runningSessions(),
        data: { from: t.from, to: t.to, reason: t.reason, mains: snap.mains, charge: snap.battery.charge, runtime: snap.runtime },
      })
      .catch((err: unknown) => log.error({ err }, 'power transition not logged'));
    deps.bus.emit('power.state', { from: t.from, to: t.to, snapshot: snap as unknown as Record<string, unknown> });
    if (t.to === 'unknown') {
      // Nothing is shed or restored on a guess: the playbook waits for a UPS to answer.
      void alarms.raise({ id: 'power-unknown', severity: 'warning', message: `供电状态未知：${t.reason} / power state unknown: ${t.reason}`, data: { from: t.from } });
    } else {
      if (t.from === 'unknown') void alarms.clear('power-unknown', t.reason);
      playbook.onState(t.from, t.to);
    }
    publish(true);
  };

  const machine = new PowerMachine({ clock: deps.clock, rideThroughMs: policy.rideThroughMs, mainsStableMs: policy.mainsStableMs, onTransition });

  const evaluate = (): void => {
    const all = upsDevices();
    const lost = all.filter((u) => u.status().comm === 'lost').map((u) => u.id);
    machine.update(combineInputs(all.map((u) => upsInput(u.id, u.status(), policy))), lost.length ? `${lost.join(', ')} not answering` : 'no UPS has answered yet');
  };

  function snapshot(): PowerSnapshot {
    const ups = upsDevices().map((u) => {
      const s = u.status();
      return {
        deviceId: u.id,
        available: deps.availability.isAvailable(u.id),
        source: s.source,
        comm: s.comm,
        onBattery: s.reading ? s.reading.onBattery || !s.reading.mainsPresent : null,
        charge: s.reading?.charge ?? null,
        runtime: s.reading?.runtime ?? null,
        lostOnBattery: s.lostOnBattery,
        lastError: s.lastError,
      };
    });
    const input = machine.input();
    const charges = ups.map((u) => u.charge).filter((c): c is number => c !== null);
    const shed = playbook.shedLoads();
    const state = machine.state();
    return {
      state,
      since: machine.since(),
      mains: input ? input.mains : null,
      battery: { charge: charges.length ? Math.min(...charges) : null, runtime: runtime(), low: state === 'low-battery' || state === 'critical' },
      runtime: runtime(),
      stage: playbook.activeStage()?.stage ?? null,
      fsd: playbook.forcedShutdown(),
      reason: input?.reason ?? (ups.some((u) => u.comm === 'lost') ? `${ups.filter((u) => u.comm === 'lost').map((u) => u.deviceId).join(', ')} not answering` : 'no UPS has answered yet'),
      pending: machine.pending(),
      stages: playbook.stages(),
      ups,
      loads: relayDevices().flatMap((r) =>
        r.outputs()
          .filter((o) => o.role !== 'jammer')
          .map((o) => ({ deviceId: r.id, outputId: o.id, name: o.name, role: o.role, on: o.actual, commanded: o.commanded, verified: o.verified, shed: shed.some((s) => s.deviceId === r.id && s.outputId === o.id) })),
      ),
      shedLoads: shed,
      runtimeShortfall: playbook.runtimeShortfall(),
    };
  }

  const routes: RoutePlugin = async (app, deps) => powerRoutes(app, deps, { snapshot });

  const feature: PowerFeature = {
    name: OWNER,
    routes,
    async start() {
      started = true;
      playbook.loadOwed();
      deps.bus.on(OWNER, 'device.availability', (p) => {
        if (p.available && p.kind === 'relay') playbook.relayBack(p.deviceId, machine.state());
      });
      deps.bus.on(OWNER, 'ups.status', () => {
        evaluate();
        playbook.recheckRuntime();
        publish(false);
      });
      evaluate();
      publish(true);
    },
    async stop() {
      started = false;
      deps.bus.removeOwner(OWNER);
      machine.stop();
      await playbook.stop();
    },
    snapshot,
    idle: () => playbook.idle(),
  };
  return feature;
}

/** Fails closed: shutdown hosts must be MQTT devices of this facility. */
function checkPolicy(deps: Pick<PowerDeps, 'facility'>): void {
  // The loader already refuses these; a facility built in code is checked here too.
  const problems = powerConfigProblems(deps.facility);
  if (problems.length) throw new Error(`invalid power config: ${problems.map((p) => `${p.path}: found ${p.found}, expected ${p.expected}`).join('; ')}`);
}

/** The retained fh/{site}/hub/power payload: the contract's fields first; times as ISO-8601 with the site's offset, like every time the hub writes. */
export function wireView(s: PowerSnapshot, utcOffset: string): Record<string, unknown> {
  return {
    state: s.state,
    since: formatTime(s.since, utcOffset),
    mains: s.mains,
    battery: s.battery,
    runtime: s.runtime,
    stage: s.stage,
    fsd: s.fsd,
    reason: s.reason,
    stages: s.stages.map((x) => ({ stage: x.stage, at: x.at, status: x.status })),
    shedLoads: s.shedLoads.map((l) => `${l.deviceId}/${l.outputId}`),
  };
}
