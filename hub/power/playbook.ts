/**
 * The failover playbook: the configured stages, run one at a time in order when the power
 * state reaches their `at` state (milder states' stages first when an outage jumps ahead).
 * Stages: announce (a bus event the broadcast feature plays), shed (sheddable relay outputs
 * off, each read back), runtime-check (UPS runtime against the time left in running
 * sessions, re-checked on every reading), shutdown-hosts (ordered MQTT commands, each with
 * a sync wait), hub-shutdown (the hub flushes and closes its store), restore (shed loads
 * back one at a time, lowest restoreOrder first, with a stagger).
 */
import type { Clock } from '../../kernel/clock.js';
import type { Logger } from '../log.js';
import type { Bus } from '../../kernel/bus.js';
import type { HubEvents } from '../events.js';
import type { EventLog } from '../store/events.js';
import type { CommandLedger } from '../commands.js';
import type { Availability } from '../availability.js';
import type { Session } from '../sessions/sessions.js';
import type { Facility, PowerStageName, PowerStateName } from '../../config/schema.js';
import type { Device } from '../../devices/types.js';
import { RelayDevice, type SetOutputResult } from '../../devices/relay.js';
import type { AlarmLatch } from '../../devices/alarm.js';
import { SEVERITY } from './machine.js';

export type PowerPolicy = Facility['power'];
export type StageStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface StageRecord {
  stage: PowerStageName;
  at: PowerStateName;
  status: StageStatus;
  startedAt: number | null;
  finishedAt: number | null;
  detail: string;
}

export interface ShedLoad {
  deviceId: string;
  outputId: string;
  restoreOrder: number;
}

export interface RuntimeShortfall {
  runtimeS: number;
  neededS: number;
  sessions: { id: string; code: string; endsAt: number; leftS: number }[];
}

export interface PlaybookDeps {
  policy: PowerPolicy;
  clock: Clock;
  log: Logger;
  bus: Bus<HubEvents>;
  events: EventLog;
  commands: CommandLedger;
  availability: Availability;
  devices: ReadonlyMap<string, Device>;
  alarms: AlarmLatch;
  site: string;
  activeSessions: () => Session[];
  publishToDevice: (deviceId: string, message: unknown) => Promise<void>;
  /** The UPS runtime estimate now (s), null when unknown. */
  runtime: () => number | null;
  /** The hub-shutdown stage calls this (detached); null = only log it. */
  onShutdown: ((reason: string) => void | Promise<void>) | null;
  /** Something the API and the retained topic show changed. */
  changed: () => void;
  /**
   * Where the loads owed a restore are kept across restarts (the store's meta): a hub killed
   * during an outage must still restore what it shed once the mains are back.
   */
  owed?: { load(): ShedLoad[]; save(loads: ShedLoad[]): Promise<void> };
}

const ISSUER = 'automation:power';

export class Playbook {
  private records: StageRecord[] = [];
  private chain: Promise<void> = Promise.resolve();
  private generation = 0;
  private stopped = false;
  private running: StageRecord | null = null;
  private runtimeArmed = false;
  private shortfall: RuntimeShortfall | null = null;
  private fsd = false;
  /** Loads the hub turned off and owes a restore, across outages until restored. */
  private readonly shed = new Map<string, ShedLoad>();

  constructor(private readonly deps: PlaybookDeps) {}

  /** At start, before the first power state: the loads an earlier run shed and still owes. */
  loadOwed(): void {
    for (const l of this.deps.owed?.load() ?? []) this.shed.set(`${l.deviceId}/${l.outputId}`, l);
  }

  /** Durable (or logged as not) before it resolves; never throws. */
  private async saveOwed(): Promise<void> {
    try {
      await this.deps.owed?.save([...this.shed.values()]);
    } catch (err) {
      this.deps.log.error({ err }, 'loads owed a restore not saved');
    }
  }

  stages(): StageRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  activeStage(): StageRecord | null {
    return this.running ? { ...this.running } : null;
  }

  shedLoads(): ShedLoad[] {
    return [...this.shed.values()];
  }

  runtimeShortfall(): RuntimeShortfall | null {
    return this.shortfall;
  }

  forcedShutdown(): boolean {
    return this.fsd;
  }

  /** Waits for the stages queued so far (tests, and stop). */
  idle(): Promise<void> {
    return this.chain;
  }

  onState(from: string, to: PowerStateName): void {
    if (this.stopped) return;
    const outageBefore = from !== 'unknown' && from !== 'mains-ok';
    if (to === 'mains-ok') {
      if (!outageBefore) {
        // Mains found present after not knowing (a restart, or a UPS that stopped answering,
        // during an outage): the loads shed then are still owed their restore.
        const restoring = this.records.some((r) => r.stage === 'restore' && (r.status === 'pending' || r.status === 'running'));
        if (from === 'unknown' && this.shed.size > 0 && !restoring) {
          this.generation++;
          this.records = this.records.concat(this.fresh('mains-ok').filter((r) => r.stage === 'restore'));
          this.enqueue(to);
        }
        return;
      }
      this.generation++;
      for (const r of this.records) if (r.status === 'pending') this.finish(r, 'skipped', 'mains back before this stage ran');
      this.runtimeArmed = false;
      this.shortfall = null;
      this.fsd = false;
      void this.deps.alarms.clear('power-runtime-short', 'mains back');
      this.records = this.records.concat(this.fresh('mains-ok'));
      this.enqueue(to);
      return;
    }
    if (!outageBefore) {
      // A new outage: a restore still in progress stops where it is.
      this.generation++;
      this.records = this.fresh(null);
    }
    this.enqueue(to);
  }

  /**
   * A relay module that answers again (the hub restarted before it connected, or the module
   * was away) may hold coils the playbook could not write meanwhile: during an outage whose
   * shed stage has run, its sheddable loads go off (again); with the mains present, what it
   * is owed is restored. Found by kill9.test.ts: a hub restarted on battery ran its shed
   * stage before the load module had connected, the writes failed and the loads stayed on.
   */
  relayBack(deviceId: string, state: PowerStateName | 'unknown'): void {
    if (this.stopped) return;
    const relay = this.deps.devices.get(deviceId);
    if (!(relay instanceof RelayDevice)) return;
    if (state === 'mains-ok') {
      const owed = [...this.shed.values()].some((l) => l.deviceId === deviceId);
      const restoring = this.records.some((r) => r.stage === 'restore' && (r.status === 'pending' || r.status === 'running'));
      if (owed && !restoring) {
        this.records = this.records.concat(this.fresh('mains-ok').filter((r) => r.stage === 'restore'));
        this.enqueue('mains-ok');
      }
      return;
    }
    if (state === 'unknown' || !this.records.some((r) => r.stage === 'shed' && r.status !== 'pending' && r.status !== 'running')) return;
    const gen = this.generation;
    this.chain = this.chain.then(async () => {
      if (gen !== this.generation || this.stopped) return;
      try {
        const outs = relay.outputs().filter((o) => o.role === 'sheddable');
        for (const out of outs) {
          const key = `${relay.id}/${out.id}`;
          if (out.actual !== false || this.shed.has(key)) this.shed.set(key, { deviceId: relay.id, outputId: out.id, restoreOrder: out.restoreOrder });
        }
        await this.saveOwed();
        const sessionIds = this.deps.activeSessions().map((s) => s.id);
        const results = await Promise.all(outs.map((out) => relay.setOutput(out.id, false, ISSUER, { sessionIds })));
        this.deps.log.info({ deviceId, off: results.filter((r) => r.ok).length, of: results.length }, 'relay module back during an outage: sheddable loads off again');
        this.deps.changed();
      } catch (err) {
        this.deps.log.error({ err, deviceId }, 'shedding on a relay module that came back failed');
      }
    });
  }

  /** Re-checks runtime against the running sessions on each reading once the stage has run. */
  recheckRuntime(): void {
    if (this.runtimeArmed && !this.stopped) void this.checkRuntime();
  }

  async stop(graceMs = 2000): Promise<void> {
    this.stopped = true;
    this.generation++;
    let timer: NodeJS.Timeout | undefined;
    // Infrastructure bound, not logic: a host sync wait must not hold the hub's stop.
    await Promise.race([this.chain, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }

  private fresh(only: PowerStateName | null): StageRecord[] {
    return this.deps.policy.playbook
      .filter((s) => (only === null ? s.at !== 'mains-ok' : s.at === only))
      .map((s) => ({ stage: s.stage, at: s.at, status: 'pending', startedAt: null, finishedAt: null, detail: '' }));
  }

  private queued = new WeakSet<StageRecord>();

  private enqueue(state: PowerStateName): void {
    const due = this.records
      .map((r, i) => ({ r, i }))
      .filter(({ r }) => r.status === 'pending' && !this.queued.has(r) && (state === 'mains-ok' ? r.at === 'mains-ok' : r.at !== 'mains-ok' && SEVERITY[r.at] <= SEVERITY[state]))
      .sort((a, b) => SEVERITY[a.r.at] - SEVERITY[b.r.at] || a.i - b.i)
      .map(({ r }) => r);
    const gen = this.generation;
    for (const r of due) {
      this.queued.add(r);
      this.chain = this.chain.then(() => this.run(r, gen));
    }
  }

  private async run(r: StageRecord, gen: number): Promise<void> {
    if (r.status !== 'pending') return;
    if (this.stopped || gen !== this.generation) {
      this.finish(r, 'skipped', this.stopped ? 'hub stopping' : 'the power state changed before this stage ran');
      return;
    }
    r.status = 'running';
    r.startedAt = this.deps.clock.now();
    this.running = r;
    this.deps.bus.emit('power.stage', { stage: r.stage, at: r.at, status: 'running', detail: '' });
    this.deps.changed();
    let outcome: { status: 'done' | 'failed' | 'skipped'; detail: string };
    try {
      outcome = await this.execute(r, gen);
    } catch (err) {
      this.deps.log.error({ err, stage: r.stage }, 'power stage threw');
      outcome = { status: 'failed', detail: `internal error: ${String(err)}` };
    }
    this.running = null;
    this.finish(r, outcome.status, outcome.detail);
    try {
      await this.deps.events.append({ type: 'power.stage', actor: ISSUER, sessionIds: this.deps.activeSessions().map((s) => s.id), data: { stage: r.stage, at: r.at, status: outcome.status, detail: outcome.detail } });
    } catch (err) {
      this.deps.log.error({ err }, 'power stage not logged');
    }
    if (r.stage === 'hub-shutdown' && outcome.status === 'done' && this.deps.onShutdown) {
      const stopHub = this.deps.onShutdown;
      // Detached: the hub's stop waits for the playbook, which must not wait for the stop.
      setImmediate(() => {
        Promise.resolve()
          .then(() => stopHub(`power ${r.at}`))
          .catch((err: unknown) => this.deps.log.error({ err }, 'hub shutdown failed'));
      });
    }
  }

  private finish(r: StageRecord, status: StageStatus, detail: string): void {
    r.status = status;
    r.detail = detail;
    r.finishedAt = this.deps.clock.now();
    if (status !== 'pending' && status !== 'running') this.deps.bus.emit('power.stage', { stage: r.stage, at: r.at, status, detail });
    this.deps.log.info({ stage: r.stage, at: r.at, status, detail }, 'power stage');
    this.deps.changed();
  }

  private execute(r: StageRecord, gen: number): Promise<{ status: 'done' | 'failed' | 'skipped'; detail: string }> {
    switch (r.stage) {
      case 'announce':
        return this.announce(r.at);
      case 'shed':
        return this.shedLoadsNow();
      case 'runtime-check':
        this.runtimeArmed = true;
        return this.checkRuntime();
      case 'shutdown-hosts':
        return this.shutdownHosts(r.at);
      case 'hub-shutdown':
        return this.hubShutdown(r.at);
      case 'restore':
        return this.restore(gen);
    }
  }

  private async announce(state: PowerStateName): Promise<{ status: 'done' | 'skipped'; detail: string }> {
    const a = this.deps.policy.announce;
    const text = a[state];
    const messageId = a.messageIds[state];
    const listeners = this.deps.bus.listenerCount('power.announce');
    const hasBroadcast = [...this.deps.devices.values()].some((d) => d.kind === 'broadcast');
    if (listeners === 0 && !hasBroadcast) return { status: 'skipped', detail: 'no broadcast system in this facility' };
    this.deps.bus.emit('power.announce', { text, priority: 'emergency', state, ...(messageId !== undefined ? { messageId } : {}) });
    return { status: 'done', detail: `asked the broadcast system to announce "${text}"${messageId !== undefined ? ` (message ${messageId})` : ''}${listeners === 0 ? ' (no listener yet)' : ''}` };
  }

  private relays(): RelayDevice[] {
    return [...this.deps.devices.values()].filter((d): d is RelayDevice => d instanceof RelayDevice);
  }

  private async shedLoadsNow(): Promise<{ status: 'done' | 'failed' | 'skipped'; detail: string }> {
    const sessionIds = this.deps.activeSessions().map((s) => s.id);
    const sheddable = this.relays().map((relay) => ({ relay, outs: relay.outputs().filter((o) => o.role === 'sheddable') }));
    for (const { relay, outs } of sheddable) {
      for (const out of outs) {
        const key = `${relay.id}/${out.id}`;
        // Only what was on (or unknown) is owed a restore; a load already off stays off.
        if (out.actual !== false || this.shed.has(key)) this.shed.set(key, { deviceId: relay.id, outputId: out.id, restoreOrder: out.restoreOrder });
      }
    }
    // Owed before the coils move: a hub killed between the two still restores them after
    // its restart (restoring a load that never went off is harmless).
    await this.saveOwed();
    const work = sheddable.map(async ({ relay, outs }) => {
      // All at once: the line serialises the frames, and the ledger entries share one commit.
      const results: Promise<SetOutputResult>[] = outs.map((out) => relay.setOutput(out.id, false, ISSUER, { sessionIds }));
      return Promise.all(results);
    });
    const results = (await Promise.all(work)).flat();
    if (results.length === 0) return { status: 'skipped', detail: 'no sheddable loads configured' };
    const bad = results.filter((x) => !x.ok);
    const critical = this.relays().flatMap((rl) => rl.outputs().filter((o) => o.role === 'critical').map((o) => `${rl.id}/${o.id}`));
    const kept = critical.length ? `; critical loads kept on: ${critical.join(', ')}` : '';
    if (bad.length === 0) return { status: 'done', detail: `${results.length} sheddable load(s) off, verified by read-back${kept}` };
    return { status: 'failed', detail: `${bad.length} of ${results.length} load(s) not verified off: ${bad.map((b) => `${b.deviceId}/${b.outputId}: ${b.ok ? '' : b.message}`).join('; ')}${kept}` };
  }

  private async checkRuntime(): Promise<{ status: 'done' | 'failed' | 'skipped'; detail: string }> {
    const now = this.deps.clock.now();
    const running = this.deps.activeSessions().filter((s) => s.end > now);
    if (running.length === 0) {
      this.shortfall = null;
      return { status: 'done', detail: 'no evaluation session running' };
    }
    const runtime = this.deps.runtime();
    if (runtime === null) return { status: 'skipped', detail: 'the UPS does not report its runtime' };
    const sessions = running.map((s) => ({ id: s.id, code: s.code, endsAt: s.end, leftS: Math.ceil((s.end - now) / 1000) }));
    const neededS = Math.max(...sessions.map((s) => s.leftS));
    if (runtime >= neededS) {
      return { status: 'done', detail: `runtime ${runtime} s covers the ${neededS} s left in the running session(s)` };
    }
    const short = sessions.filter((s) => s.leftS > runtime);
    this.shortfall = { runtimeS: runtime, neededS, sessions: short };
    const message = `UPS runtime ${Math.floor(runtime / 60)} min will not cover the ${Math.ceil(neededS / 60)} min left in session(s) ${short.map((s) => s.code).join(', ')}`;
    const raised = await this.deps.alarms.raise({ id: 'power-runtime-short', severity: 'critical', message, data: { runtimeS: runtime, neededS, sessions: short.map((s) => s.id) } });
    if (raised) {
      await this.deps.events.append({ type: 'power.runtime-short', actor: ISSUER, sessionIds: short.map((s) => s.id), data: { runtimeS: runtime, neededS, sessions: short } });
      this.deps.changed();
    }
    return { status: 'done', detail: `supervisors warned: ${message}` };
  }

  private async shutdownHosts(state: PowerStateName): Promise<{ status: 'done' | 'failed' | 'skipped'; detail: string }> {
    const { hosts, hostSyncMs } = this.deps.policy.shutdown;
    this.fsd = true; // like NUT's FSD flag: on fh/{site}/hub/power for every device that watches it
    this.deps.changed();
    if (hosts.length === 0) return { status: 'skipped', detail: 'no shutdown hosts configured (fsd published)' };
    const sessionIds = this.deps.activeSessions().map((s) => s.id);
    const lines: string[] = [];
    let failed = 0;
    for (const h of hosts) {
      const req = {
        deviceId: h.device,
        deviceKind: this.deps.availability.config(h.device)?.kind ?? 'unknown',
        cmd: h.cmd,
        args: { reason: `power ${state}`, state, runtimeS: this.deps.runtime() },
        issuer: ISSUER,
        sessionIds,
        timeoutMs: hostSyncMs,
        retries: 0,
      };
      const outcome = this.deps.availability.isAvailable(h.device)
        ? await this.deps.commands.dispatch(req, (message) => this.deps.publishToDevice(h.device, message))
        : await this.deps.commands.refuse(req, 'unavailable', `${h.device} is unavailable`);
      if (!outcome.ok) failed++;
      lines.push(`${h.device}: ${outcome.outcome}${outcome.error ? ` (${outcome.error})` : ''}`);
    }
    return { status: failed ? 'failed' : 'done', detail: `shutdown notices in order: ${lines.join(', ')}` };
  }

  private async hubShutdown(state: PowerStateName): Promise<{ status: 'done' | 'skipped'; detail: string }> {
    await this.deps.events.append({ type: 'power.hub-shutdown', actor: ISSUER, sessionIds: this.deps.activeSessions().map((s) => s.id), data: { state, stopHub: this.deps.onShutdown !== null } });
    if (!this.deps.onShutdown) return { status: 'skipped', detail: 'power.shutdown.stopHub is false: the hub keeps running' };
    return { status: 'done', detail: 'the hub flushes and closes its store and stops' };
  }

  private async restore(gen: number): Promise<{ status: 'done' | 'failed' | 'skipped'; detail: string }> {
    const loads = [...this.shed.values()].sort((a, b) => a.restoreOrder - b.restoreOrder);
    if (loads.length === 0) return { status: 'skipped', detail: 'nothing was shed' };
    const sessionIds = this.deps.activeSessions().map((s) => s.id);
    const done: string[] = [];
    const bad: string[] = [];
    for (const [i, load] of loads.entries()) {
      if (gen !== this.generation) return { status: 'failed', detail: `interrupted by a new outage after ${done.length} load(s)` };
      if (i > 0 && this.deps.policy.restore.staggerMs > 0) await this.deps.clock.sleep(this.deps.policy.restore.staggerMs);
      if (gen !== this.generation) return { status: 'failed', detail: `interrupted by a new outage after ${done.length} load(s)` };
      const relay = this.deps.devices.get(load.deviceId);
      if (!(relay instanceof RelayDevice)) continue;
      const r = await relay.setOutput(load.outputId, true, ISSUER, { sessionIds });
      if (r.ok) {
        this.shed.delete(`${load.deviceId}/${load.outputId}`);
        await this.saveOwed();
        done.push(`${load.deviceId}/${load.outputId}`);
      } else {
        bad.push(`${load.deviceId}/${load.outputId}: ${r.message}`);
      }
      this.deps.changed();
    }
    if (bad.length) return { status: 'failed', detail: `restored ${done.join(', ') || 'none'}; not verified on: ${bad.join('; ')}` };
    return { status: 'done', detail: `restored one at a time: ${done.join(', ')}` };
  }
}
