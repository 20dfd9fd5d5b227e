/**
 * The call/broadcast (PA) controller as a hub device. It owns one SerialLink (a serial port or
 * a TCP connection to a serial device server) and speaks FHPA/1 through PaClient; everything
 * protocol-specific stays in devices/pa-protocol.ts, so a vendor protocol can replace the client
 * behind the same typed calls.
 *
 * What it decides: availability (line up and the controller answering; unavailable after N
 * consecutive unanswered requests, then probed with backoff), the hub's view of every zone
 * (what plays there at which priority, which zone is in fault), and turning controller events
 * into hub events (a zone fault is an alarm). Business rules (who may warn whom, waiting,
 * rate limits, sessions) live in hub/broadcast.
 */
import type { Clock, TimerHandle } from '../kernel/clock.js';
import type { CommandOutcome, CommandRequest } from './seam.js';
import type { Actor } from '../kernel/actor.js';
import type { Result } from '../kernel/result.js';
import type { DeviceKind } from '../config/schema.js';
import { SerialLink, type SerialLinkConfig, type LinkState } from '../drivers/serial-link.js';
import {
  PA_PRIORITY,
  PaClient,
  paCodec,
  type PaAck,
  type PaActivityKind,
  type PaCommand,
  type PaEvent,
  type PaFrame,
  type PaZoneState,
} from '../drivers/pa-protocol.js';
import { driverOf, type Device, type DeviceCommand, type DeviceContext, type DeviceDriver, type DeviceHealth } from './types.js';

export type BroadcastPriority = keyof typeof PA_PRIORITY;
export const PRIORITY_NAMES: readonly BroadcastPriority[] = ['scheduled', 'warning', 'emergency'];

export function priorityName(p: number): BroadcastPriority | `p${number}` {
  return PRIORITY_NAMES.find((n) => PA_PRIORITY[n] === p) ?? `p${p}`;
}

/** The driver a broadcast device is given: its line, not yet started. */
export type BroadcastDriver = Extract<DeviceDriver, { type: 'pa-link' }>;

export interface BroadcastLinkTunables {
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** Builds the line for a `serial` or `tcp` transport (the composition root registers this per transport). */
export function createBroadcastDriver(transport: Record<string, unknown>, deps: { clock: Clock; log: DeviceContext['log'] }, tunables: BroadcastLinkTunables = {}): BroadcastDriver {
  let config: SerialLinkConfig;
  if (transport.type === 'tcp') {
    config = { type: 'tcp', host: String(transport.host), port: Number(transport.port), ...tunables };
  } else if (transport.type === 'serial') {
    config = {
      type: 'serial',
      path: String(transport.path),
      baudRate: Number(transport.baudRate ?? 9600),
      parity: (transport.parity as 'none' | 'even' | 'odd' | undefined) ?? 'none',
      dataBits: (Number(transport.dataBits ?? 8) === 7 ? 7 : 8),
      stopBits: (Number(transport.stopBits ?? 1) === 2 ? 2 : 1),
      ...tunables,
    };
  } else {
    throw new Error(`a broadcast controller needs a serial or tcp transport, not ${String(transport.type)}`);
  }
  return { type: 'pa-link', link: new SerialLink<PaFrame>({ config, codec: paCodec, clock: deps.clock, log: deps.log }) };
}

/** The device's own options (config `devices[].options` of a broadcast device). */
export interface BroadcastOptions {
  zones: { zone: number; room: string; seat?: number }[];
  timeoutMs: number;
}

/** Line-level behaviour, from the facility's `broadcast.controller` section. */
export interface BroadcastDeviceSettings {
  /** STATUS poll while idle; 0 = off. */
  pollMs: number;
  missesBeforeUnavailable: number;
  /** First delay between probes of an unanswering controller; doubles up to probeMaxMs. */
  probeMinMs: number;
  probeMaxMs: number;
}

export const BROADCAST_DEVICE_DEFAULTS: BroadcastDeviceSettings = {
  pollMs: 15_000, // 15 s
  missesBeforeUnavailable: 3,
  probeMinMs: 500, // 0.5 s
  probeMaxMs: 30_000, // 30 s
};

/** Something playing (or live) on the controller, as the hub knows it. */
export interface ActivityInfo {
  activityId: number;
  kind: PaActivityKind;
  priority: number;
  zones: number[];
  startedAt: number;
  recordingId?: string;
  /** Opaque: who asked for it (the broadcast feature's entry id). */
  tag?: string;
}

export interface ZoneView {
  zone: number;
  room: string | null;
  seat: number | null;
  state: PaZoneState | 'unknown';
  priority: number;
  activity: ActivityInfo | null;
  fault: string | null;
}

export type ActivityEnd = 'done' | 'stopped' | 'fault' | 'preempted';

export interface BroadcastListener {
  /** An activity lost zones: ended, stopped, cut by a fault, or taken over by a higher priority. */
  onActivityEnd?(a: ActivityInfo, zones: number[], end: ActivityEnd, remaining: number[], by?: { kind: PaActivityKind; activityId: number; priority: number }): void;
  onZoneFault?(zone: ZoneView, fault: string | null): void;
}

export type PaFailureKind = 'unavailable' | 'timeout' | 'busy' | 'fault' | 'rejected' | 'invalid';

export type PaOutcome =
  | { ok: true; ack: PaAck; command: CommandOutcome | null }
  | { ok: false; kind: PaFailureKind; code?: string; message: string; command: CommandOutcome | null };

export interface SendMeta {
  issuer: Actor;
  sessionIds: string[];
  /** Stored with the activity the ACK opens. */
  tag?: string;
}

interface Waiter {
  check: () => boolean;
  resolve: (ok: boolean) => void;
  timer: TimerHandle | null;
}

const COMMANDS = ['play', 'tts', 'chime', 'stop', 'status'] as const;

/**
 * A FHPA/1 controller: all-or-nothing zone requests, priorities enforced by the controller,
 * unsolicited DONE / PREEMPTED / FAULT events (docs/pa-protocol.md).
 */
export class BroadcastDevice implements Device {
  readonly id: string;
  readonly kind: DeviceKind = 'broadcast';
  readonly commandNames: readonly string[] = COMMANDS;
  readonly options: BroadcastOptions;
  readonly link: SerialLink<PaFrame>;
  readonly client: PaClient;

  private readonly settings: BroadcastDeviceSettings;
  private readonly zones = new Map<number, ZoneView>();
  private readonly activities = new Map<number, ActivityInfo>();
  /**
   * DONE / PREEMPTED for an activity whose ACK has not been handled yet (both frames can come
   * in one chunk: a short chime ends within a millisecond). Applied when the ACK is tracked.
   */
  private readonly earlyEnds = new Map<number, { zones: number[]; end: ActivityEnd; by?: { kind: PaActivityKind; activityId: number; priority: number } }[]>();
  /**
   * Requests that open an activity (PLAY, TTS, CHIME, CALL_START) sent and not yet tracked.
   * An end for an unknown activity is kept only while one is: otherwise it is not ours, and
   * kept, it would end the next activity the controller happens to give that id (a stray or
   * corrupted DONE/PREEMPTED made a real warning look finished or preempted at once).
   */
  private startsInFlight = 0;
  private readonly listeners = new Set<BroadcastListener>();
  private readonly waiters = new Set<Waiter>();
  private readonly unsubscribe: (() => void)[] = [];
  private running = false;
  private handshaken = false;
  private version: number | null = null;
  private model: string | null = null;
  private zoneCount: number | null = null;
  private misses = 0;
  private probing = false;
  private probeDelay: number;
  private probeTimer: TimerHandle | null = null;
  private pollTimer: TimerHandle | null = null;
  private handshakeRunning: Promise<void> | null = null;
  private readonly counters = { requests: 0, acks: 0, naks: 0, timeouts: 0, unavailable: 0, faults: 0, preemptions: 0, handshakes: 0 };

  constructor(
    private readonly ctx: DeviceContext,
    settings: Partial<BroadcastDeviceSettings> = {},
  ) {
    this.id = ctx.config.id;
    const o = ctx.config.options as Partial<BroadcastOptions>;
    this.options = { zones: o.zones ?? [], timeoutMs: o.timeoutMs ?? 2000 };
    this.settings = { ...BROADCAST_DEVICE_DEFAULTS, ...settings };
    this.probeDelay = this.settings.probeMinMs;
    this.link = driverOf(ctx, 'pa-link').link;
    this.client = new PaClient({ link: this.link, clock: ctx.clock, log: ctx.log, requestTimeoutMs: this.options.timeoutMs });
    for (const z of this.options.zones) {
      this.zones.set(z.zone, { zone: z.zone, room: z.room, seat: z.seat ?? null, state: 'unknown', priority: 0, activity: null, fault: null });
    }
  }

  // ------------------------------------------------------------------------------------------
  // Device seam

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.unsubscribe.push(
      this.link.onStateChange((s, info) => this.onLinkState(s, info.error)),
      this.client.onEvent((e) => this.onEvent(e)),
    );
    this.ctx.availability.setLink(this.id, false, `connecting to ${this.link.describe()}`);
    this.link.start();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.pollTimer?.cancel();
    this.probeTimer?.cancel();
    this.pollTimer = null;
    this.probeTimer = null;
    for (const u of this.unsubscribe.splice(0)) u();
    this.client.close();
    await this.link.stop();
    for (const w of [...this.waiters]) this.settleWaiter(w, false);
  }

  health(): DeviceHealth {
    const r = this.ctx.availability.get(this.id);
    return { available: r?.available ?? false, lastSeen: r?.lastSeen ?? null, state: this.snapshot(), ...(r ? { detail: r.reason } : {}) };
  }

  /** The generic device command path (POST /api/devices/:id/commands, operators): scheduled priority only. */
  async execute(command: DeviceCommand): Promise<CommandOutcome> {
    const sessionIds = command.sessionId ? [command.sessionId] : this.ctx.sessionsFor(this.id);
    const req: CommandRequest = { deviceId: this.id, deviceKind: this.kind, cmd: command.cmd, args: command.args, issuer: command.issuer, sessionIds };
    const parsed = this.parseCommand(command.cmd, command.args);
    if (typeof parsed === 'string') return this.ctx.commands.run(req, async () => ({ ok: false, error: parsed }));
    if (parsed.type === 'STATUS') {
      return this.ctx.commands.run(req, async () => {
        const r = await this.status();
        if (!r.ok) return r.kind === 'timeout' ? 'timeout' : r.kind === 'unavailable' ? 'unavailable' : { ok: false, error: r.message };
        return { ok: true, result: { zones: this.zoneViews() } };
      });
    }
    const out = await this.send(command.cmd, parsed, { issuer: command.issuer as Actor, sessionIds });
    return out.command ?? { id: '', outcome: 'failed', ok: false, attempts: 0, latencyMs: 0, error: out.ok ? 'not recorded' : out.message };
  }

  // ------------------------------------------------------------------------------------------
  // Typed calls for the broadcast feature

  isAvailable(): boolean {
    return this.ctx.availability.isAvailable(this.id);
  }

  onActivity(l: BroadcastListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  zoneFor(room: string, seat?: number): number | null {
    let roomZone: number | null = null;
    for (const z of this.options.zones) {
      if (z.room !== room) continue;
      if (seat !== undefined && z.seat === seat) return z.zone;
      if (z.seat === undefined && roomZone === null) roomZone = z.zone;
    }
    return roomZone;
  }

  zoneViews(): ZoneView[] {
    return [...this.zones.values()].sort((a, b) => a.zone - b.zone).map((z) => ({ ...z, activity: z.activity ? { ...z.activity, zones: [...z.activity.zones] } : null }));
  }

  zone(zone: number): ZoneView | null {
    return this.zones.get(zone) ?? null;
  }

  /** Zones (of those given) where something plays at `priority` or above, or that are in fault. */
  blockers(zones: number[], priority: number): ZoneView[] {
    return zones.map((z) => this.zones.get(z)).filter((z): z is ZoneView => z !== undefined && (z.fault !== null || (z.activity !== null && z.activity.priority >= priority)));
  }

  /**
   * Resolves true once no zone of `zones` plays at `priority` or above (nor is in fault —
   * a fault does not wait: it answers false at once), false after timeoutMs.
   */
  waitFree(zones: number[], priority: number, timeoutMs: number): Promise<boolean> {
    const blocked = () => this.blockers(zones, priority);
    const now = blocked();
    if (now.length === 0) return Promise.resolve(true);
    if (now.some((z) => z.fault !== null) || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w: Waiter = {
        check: () => {
          const b = blocked();
          if (b.length === 0) return true;
          if (b.some((z) => z.fault !== null)) {
            this.settleWaiter(w, false);
            return false;
          }
          return false;
        },
        resolve,
        timer: null,
      };
      w.timer = this.ctx.clock.setTimeout(() => this.settleWaiter(w, false), timeoutMs);
      this.waiters.add(w);
    });
  }

  /**
   * Sends an actuating request through the command ledger (every command's fate is recorded).
   * Never throws; a NAK is a classified failure.
   */
  async send(cmdName: string, cmd: PaCommand, meta: SendMeta): Promise<PaOutcome> {
    const req: CommandRequest = {
      deviceId: this.id,
      deviceKind: this.kind,
      cmd: cmdName,
      args: commandArgs(cmd),
      issuer: meta.issuer,
      sessionIds: meta.sessionIds,
      timeoutMs: this.options.timeoutMs,
    };
    if (!this.isAvailable()) {
      const reason = this.ctx.availability.get(this.id)?.reason ?? 'unavailable';
      this.counters.unavailable++;
      const c = await this.ctx.commands.refuse(req, 'unavailable', `${this.id} is unavailable (${reason})`);
      return { ok: false, kind: 'unavailable', message: `${this.id} is unavailable (${reason})`, command: c };
    }
    let out: PaOutcome | null = null;
    const starts = cmd.type === 'PLAY' || cmd.type === 'TTS' || cmd.type === 'CHIME' || cmd.type === 'CALL_START';
    const c = await this.ctx.commands.run(req, async () => {
      if (starts) this.startsInFlight++;
      try {
        const r = await this.request(cmd);
        out = this.classify(r);
        if (out.ok) {
          this.track(cmd, out.ack, meta.tag);
          return { ok: true, result: ackResult(out.ack) };
        }
        if (out.kind === 'timeout') return 'timeout';
        if (out.kind === 'unavailable') return 'unavailable';
        return { ok: false, error: out.message };
      } finally {
        // Early ends nobody's ACK claimed were about activities the hub did not start.
        if (starts && --this.startsInFlight === 0) this.earlyEnds.clear();
      }
    });
    const o = out as PaOutcome | null;
    if (o === null) return { ok: false, kind: 'rejected', message: c.error ?? 'not sent', command: c };
    return { ...o, command: c };
  }

  /** STATUS: refreshes every zone's state (not a command: not in the ledger). */
  async status(): Promise<PaOutcome> {
    const r = this.classify(await this.request({ type: 'STATUS' }));
    if (r.ok && r.ack.status) this.reconcile(r.ack.status);
    return r;
  }

  stats(): Record<string, number> {
    return { ...this.counters, misses: this.misses, pending: this.client.pendingRequests() };
  }

  snapshot(): Record<string, unknown> {
    return {
      link: this.link.currentState(),
      line: this.link.describe(),
      protocolVersion: this.version,
      model: this.model,
      zoneCount: this.zoneCount,
      zones: this.zoneViews().map((z) => ({ zone: z.zone, room: z.room, seat: z.seat, state: z.state, priority: z.priority, activity: z.activity?.kind ?? null, fault: z.fault })),
      faultedZones: [...this.zones.values()].filter((z) => z.fault !== null).map((z) => z.zone),
      stats: { ...this.stats(), ...this.link.stats() },
    };
  }

  // ------------------------------------------------------------------------------------------
  // Internals

  private async request(cmd: PaCommand): Promise<Result<PaAck>> {
    this.counters.requests++;
    const r = await this.client.request(cmd);
    if (r.ok || r.error.kind === 'rejected') {
      if (r.ok) this.counters.acks++;
      else this.counters.naks++;
      this.answered();
    } else if (r.error.kind === 'timeout') {
      this.counters.timeouts++;
      this.missed(r.error.message);
    }
    return r;
  }

  private classify(r: Result<PaAck>): PaOutcome {
    if (r.ok) return { ok: true, ack: r.value, command: null };
    const e = r.error;
    if (e.kind === 'timeout') return { ok: false, kind: 'timeout', message: `${this.id} did not answer within ${this.options.timeoutMs} ms`, command: null };
    if (e.kind === 'disconnected') return { ok: false, kind: 'unavailable', message: `${this.id}: ${e.message}`, command: null };
    if (e.kind === 'invalid-argument') return { ok: false, kind: 'invalid', message: e.message, command: null };
    const code = typeof e.code === 'string' ? e.code : undefined;
    const kind: PaFailureKind = code === 'BUSY' ? 'busy' : code === 'FAULT' ? 'fault' : 'rejected';
    return { ok: false, kind, ...(code ? { code } : {}), message: e.message, command: null };
  }

  private answered(): void {
    if (this.misses === 0 && !this.probing) return;
    this.misses = 0;
    if (this.probing) {
      this.probing = false;
      this.probeTimer?.cancel();
      this.probeTimer = null;
      this.probeDelay = this.settings.probeMinMs;
      this.ctx.log.info({ deviceId: this.id }, 'controller answers again');
      void this.handshake();
    }
  }

  private missed(why: string): void {
    this.misses++;
    if (this.misses < this.settings.missesBeforeUnavailable || this.probing) return;
    this.enterProbing(`${this.misses} requests unanswered`, why);
    // A device server that rebooted can leave a half-open connection: start the line afresh.
    void this.link.stop().then(() => {
      if (this.running) this.link.start();
    });
  }

  /** Unavailable until the controller answers a probe (HELLO with backoff) and a handshake. */
  private enterProbing(reason: string, why: string): void {
    if (this.probing) return;
    this.probing = true;
    this.handshaken = false;
    // Logged once per outage (no log floods); the probes that follow stay quiet.
    this.ctx.log.error({ deviceId: this.id, misses: this.misses, why }, 'controller does not answer: unavailable');
    this.ctx.availability.setLink(this.id, false, reason);
    this.scheduleProbe();
  }

  /** While the controller stays silent: HELLO with exponential backoff until it answers. */
  private scheduleProbe(): void {
    if (!this.running || !this.probing) return;
    this.probeTimer?.cancel();
    const delay = this.probeDelay;
    this.probeDelay = Math.min(this.settings.probeMaxMs, this.probeDelay * 2);
    this.probeTimer = this.ctx.clock.setTimeout(() => {
      this.probeTimer = null;
      if (!this.running || !this.probing) return;
      if (!this.link.isConnected()) {
        this.scheduleProbe();
        return;
      }
      void this.request({ type: 'HELLO', versions: [1] }).then(() => {
        if (this.probing) this.scheduleProbe();
      });
    }, delay);
  }

  private onLinkState(s: LinkState, error: string | undefined): void {
    if (s === 'connected') {
      void this.handshake();
      return;
    }
    this.handshaken = false;
    this.pollTimer?.cancel();
    this.pollTimer = null;
    // While probing the reason stays "requests unanswered": the line cycling is our own doing.
    if ((s === 'waiting' || s === 'connecting') && !this.probing) {
      this.ctx.availability.setLink(this.id, false, error ? `line down: ${error}` : `connecting to ${this.link.describe()}`);
    }
  }

  /** After (re)connecting: negotiate the version, then read every zone (events may have been missed). */
  private handshake(): Promise<void> {
    this.handshakeRunning ??= (async () => {
      try {
        const hello = await this.client.hello();
        if (!hello.ok) {
          if (hello.error.kind === 'timeout') {
            this.counters.timeouts++;
            this.enterProbing('no answer to HELLO', hello.error.message);
          } else if (hello.error.kind !== 'disconnected') {
            this.ctx.log.warn({ deviceId: this.id, error: hello.error }, 'HELLO failed');
            this.enterProbing(`HELLO refused: ${hello.error.message}`, hello.error.message);
          }
          return;
        }
        this.answered();
        this.counters.handshakes++;
        this.version = hello.value.version;
        this.zoneCount = hello.value.zoneCount;
        this.model = hello.value.model ?? null;
        const missing = this.options.zones.filter((z) => z.zone > hello.value.zoneCount).map((z) => z.zone);
        if (missing.length > 0) this.ctx.log.error({ deviceId: this.id, zones: missing, zoneCount: hello.value.zoneCount }, 'configured zones the controller does not have');
        const st = await this.status();
        if (!st.ok) {
          if (st.kind === 'timeout') this.enterProbing('no answer to STATUS', st.message);
          return;
        }
        this.handshaken = true;
        this.misses = 0;
        this.probing = false;
        this.probeTimer?.cancel();
        this.probeTimer = null;
        this.probeDelay = this.settings.probeMinMs;
        this.ctx.availability.setLink(this.id, true, `FHPA/${this.version} ${this.model ?? ''}`.trim());
        this.publishState();
        this.schedulePoll();
      } finally {
        this.handshakeRunning = null;
      }
    })();
    return this.handshakeRunning;
  }

  private schedulePoll(): void {
    this.pollTimer?.cancel();
    this.pollTimer = null;
    if (!this.running || this.settings.pollMs <= 0) return;
    this.pollTimer = this.ctx.clock.setTimeout(() => {
      this.pollTimer = null;
      if (!this.running || !this.link.isConnected()) return;
      if (this.probing || this.client.pendingRequests() > 0 || !this.handshaken) {
        this.schedulePoll();
        return;
      }
      void this.status().then(() => this.schedulePoll());
    }, this.settings.pollMs);
  }

  private onEvent(e: PaEvent): void {
    switch (e.type) {
      case 'FAULT': {
        const z = this.zones.get(e.zone);
        this.counters.faults++;
        if (!z) {
          this.ctx.log.warn({ deviceId: this.id, zone: e.zone, text: e.text }, 'fault on an unconfigured zone');
          return;
        }
        z.fault = e.text;
        z.state = 'fault';
        z.priority = 0;
        this.emitFault(z, e.text);
        break;
      }
      case 'FAULT_CLEARED': {
        const z = this.zones.get(e.zone);
        if (!z || z.fault === null) return;
        z.fault = null;
        z.state = z.activity ? (z.activity.kind === 'call' ? 'live' : 'playing') : 'idle';
        this.emitFault(z, null);
        break;
      }
      case 'DONE': {
        const a = this.activities.get(e.activityId);
        // A DONE that follows a PREEMPTED for the same zones repeats what we already know.
        if (a) this.release(a, e.zones, e.end);
        else this.rememberEarlyEnd(e.activityId, { zones: e.zones, end: e.end });
        break;
      }
      case 'PREEMPTED': {
        const a = this.activities.get(e.activityId);
        this.counters.preemptions++;
        const by = { kind: e.by, activityId: e.byActivityId, priority: e.priority };
        if (a) this.release(a, e.zones, 'preempted', by);
        else this.rememberEarlyEnd(e.activityId, { zones: e.zones, end: 'preempted', by });
        break;
      }
    }
    this.publishState();
    this.checkWaiters();
  }

  private emitFault(z: ZoneView, fault: string | null): void {
    const alarmId = `broadcast:${this.id}:zone-${z.zone}`;
    const where = `zone ${z.zone}${z.room ? ` (${z.room}${z.seat ? ` seat ${z.seat}` : ''})` : ''}`;
    const sessionIds = z.room ? this.ctx.sessionsFor(this.id) : [];
    if (fault !== null) {
      this.ctx.log.error({ deviceId: this.id, zone: z.zone, room: z.room, fault }, 'broadcast zone fault');
      this.ctx.bus.emit('alarm.raised', { id: alarmId, source: this.id, severity: 'warning', message: `${this.id} ${where}: ${fault}`, deviceId: this.id });
    } else {
      this.ctx.log.info({ deviceId: this.id, zone: z.zone }, 'broadcast zone fault cleared');
      this.ctx.bus.emit('alarm.cleared', { id: alarmId, source: this.id });
    }
    this.ctx.bus.emit('broadcast.zone', { deviceId: this.id, zone: z.zone, room: z.room, seat: z.seat, fault });
    this.ctx.events
      .append({
        type: fault !== null ? 'broadcast.zone.fault' : 'broadcast.zone.fault-cleared',
        actor: `device:${this.id}`,
        deviceId: this.id,
        sessionIds,
        data: { zone: z.zone, room: z.room, seat: z.seat, ...(fault !== null ? { fault } : {}) },
      })
      .catch((err: unknown) => this.ctx.log.error({ err }, 'zone fault not logged'));
    for (const l of this.listeners) guard(this.ctx.log, () => l.onZoneFault?.(z, fault));
  }

  /** Records what an ACK opened (PLAY, TTS, CHIME, CALL_START); stopping answers release zones. */
  private track(cmd: PaCommand, ack: PaAck, tag: string | undefined): void {
    if ((cmd.type === 'PLAY' || cmd.type === 'TTS' || cmd.type === 'CHIME' || cmd.type === 'CALL_START') && ack.activityId !== undefined) {
      const kind: PaActivityKind = cmd.type === 'PLAY' ? 'play' : cmd.type === 'TTS' ? 'tts' : cmd.type === 'CHIME' ? 'chime' : 'call';
      const a: ActivityInfo = {
        activityId: ack.activityId,
        kind,
        priority: cmd.priority,
        zones: [...new Set(cmd.zones)],
        startedAt: this.ctx.clock.now(),
        ...(ack.recordingId ? { recordingId: ack.recordingId } : {}),
        ...(tag ? { tag } : {}),
      };
      this.activities.set(a.activityId, a);
      for (const zn of a.zones) {
        const z = this.zones.get(zn);
        if (!z) continue;
        z.activity = a;
        z.priority = a.priority;
        if (z.state !== 'fault') z.state = kind === 'call' ? 'live' : 'playing';
      }
      const early = this.earlyEnds.get(a.activityId);
      this.earlyEnds.delete(a.activityId);
      for (const e of early ?? []) this.release(a, e.zones, e.end, e.by);
      this.publishState();
      if (early) this.checkWaiters();
    }
  }

  private rememberEarlyEnd(activityId: number, e: { zones: number[]; end: ActivityEnd; by?: { kind: PaActivityKind; activityId: number; priority: number } }): void {
    if (this.startsInFlight === 0) {
      this.ctx.log.debug({ deviceId: this.id, activityId, end: e.end }, 'end of an activity the hub did not start: ignored');
      return;
    }
    const list = this.earlyEnds.get(activityId) ?? [];
    list.push(e);
    this.earlyEnds.set(activityId, list);
    // Bounded: ids of activities we never started (another client) must not accumulate.
    while (this.earlyEnds.size > 64) this.earlyEnds.delete(this.earlyEnds.keys().next().value as number);
  }

  private release(a: ActivityInfo, zones: number[], end: ActivityEnd, by?: { kind: PaActivityKind; activityId: number; priority: number }): void {
    const taken = zones.filter((zn) => a.zones.includes(zn));
    if (taken.length === 0) return;
    a.zones = a.zones.filter((zn) => !taken.includes(zn));
    for (const zn of taken) {
      const z = this.zones.get(zn);
      if (z?.activity === a) {
        z.activity = null;
        z.priority = 0;
        if (z.state !== 'fault') z.state = 'idle';
      }
    }
    if (a.zones.length === 0) this.activities.delete(a.activityId);
    for (const l of this.listeners) guard(this.ctx.log, () => l.onActivityEnd?.(a, taken, end, [...a.zones], by));
  }

  /** Applies a STATUS answer: the controller is the truth (after a reconnect, events may be lost). */
  private reconcile(status: { zone: number; state: PaZoneState; priority: number }[]): void {
    for (const s of status) {
      const z = this.zones.get(s.zone);
      if (!z) continue;
      if (s.state === 'idle' && z.activity) {
        const a = z.activity;
        this.release(a, [s.zone], 'done');
      }
      if (s.state === 'fault' && z.fault === null) {
        z.fault = 'reported by STATUS';
        z.state = 'fault';
        this.emitFault(z, z.fault);
      } else if (s.state !== 'fault' && z.fault !== null) {
        z.fault = null;
        this.emitFault(z, null);
      }
      z.state = s.state;
      z.priority = s.priority;
      if ((s.state === 'playing' || s.state === 'live') && !z.activity) {
        // Something we did not start (another client, or before our reconnect): known by priority only.
        z.activity = { activityId: 0, kind: s.state === 'live' ? 'call' : 'play', priority: s.priority, zones: [s.zone], startedAt: this.ctx.clock.now() };
      }
    }
    this.publishState();
    this.checkWaiters();
  }

  private publishState(): void {
    this.ctx.availability.patchState(this.id, this.snapshot());
  }

  private checkWaiters(): void {
    for (const w of [...this.waiters]) if (w.check()) this.settleWaiter(w, true);
  }

  private settleWaiter(w: Waiter, ok: boolean): void {
    if (!this.waiters.delete(w)) return;
    w.timer?.cancel();
    w.resolve(ok);
  }

  private parseCommand(cmd: string, args: Record<string, unknown>): PaCommand | string {
    if (!(COMMANDS as readonly string[]).includes(cmd)) return `unknown command ${cmd} (known: ${COMMANDS.join(', ')})`;
    if (cmd === 'status') return { type: 'STATUS' };
    let zones: number[] = [];
    if (args.room !== undefined) {
      const z = typeof args.room === 'string' ? this.zoneFor(args.room) : null;
      if (z === null) return `argument room must be a room with a zone on ${this.id} (${[...new Set(this.options.zones.map((x) => x.room))].join(', ')})`;
      zones = [z];
    } else if (Array.isArray(args.zones)) {
      zones = args.zones.filter((z): z is number => Number.isInteger(z));
      if (zones.length !== args.zones.length || zones.some((z) => !this.zones.has(z))) return `argument zones must list configured zones (${[...this.zones.keys()].join(', ')})`;
    } else if (cmd === 'stop' && args.zones === 'all') {
      return { type: 'STOP', zones: 'all' };
    }
    if (zones.length === 0) return 'argument room or zones is required';
    const priority = PA_PRIORITY.scheduled;
    const repeat = Number.isInteger(args.repeat) ? Math.min(10, Math.max(1, args.repeat as number)) : 1;
    switch (cmd) {
      case 'play':
        if (!Number.isInteger(args.message)) return 'argument message must be a stored message number';
        return { type: 'PLAY', zones, message: args.message as number, priority, repeat };
      case 'tts':
        if (typeof args.text !== 'string' || args.text.trim() === '') return 'argument text must be a non-empty string';
        return { type: 'TTS', zones, text: args.text, priority, repeat };
      case 'chime':
        return { type: 'CHIME', zones, priority };
      default:
        return { type: 'STOP', zones };
    }
  }
}

function guard(log: DeviceContext['log'], fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log.error({ err }, 'broadcast listener threw');
  }
}

function commandArgs(cmd: PaCommand): Record<string, unknown> {
  const { type: _type, ...rest } = cmd;
  return rest;
}

function ackResult(ack: PaAck): Record<string, unknown> {
  const { type: _t, seq: _s, ...rest } = ack;
  return rest;
}

/** Line behaviour from the facility's `broadcast.controller` section. */
export function deviceSettingsFrom(facility: DeviceContext['facility']): BroadcastDeviceSettings {
  const c = facility.broadcast?.controller;
  return {
    pollMs: (c?.pollSeconds ?? 15) * 1000,
    missesBeforeUnavailable: c?.missesBeforeUnavailable ?? BROADCAST_DEVICE_DEFAULTS.missesBeforeUnavailable,
    probeMinMs: c?.reconnectMinMs ?? BROADCAST_DEVICE_DEFAULTS.probeMinMs,
    probeMaxMs: c?.reconnectMaxMs ?? BROADCAST_DEVICE_DEFAULTS.probeMaxMs,
  };
}

/** The `broadcast` entry of the kind table. */
export function createBroadcastDevice(ctx: DeviceContext): Device {
  return new BroadcastDevice(ctx, deviceSettingsFrom(ctx.facility));
}
