/**
 * Broadcast authority (style pattern 2: the hub holds the rules). Supervisor warnings, live
 * calls, scheduled announcements and emergencies all go through `deliver`, which applies the
 * priority policy on top of the controller's own enforcement:
 *
 *   emergency (3) > supervisor warning / live call (2) > scheduled announcement (1)
 *
 * - higher preempts lower: the request is sent at once and the controller takes the zones over
 *   (the loser hears PREEMPTED; its entry shows `preempted`);
 * - equal or lower waits, bounded (warningWaitMs, announcementWaitMs, emergencyWaitMs), for the
 *   zones to be free, then is refused with a clear answer (409 with what occupies which room);
 * - a zone in fault is refused at once.
 *
 * Every request becomes one entry of the played log and one record in the event log, against
 * each evaluation session it reached, with the supervisor's name.
 */
import { randomBytes } from 'node:crypto';
import type { Bus } from '../../kernel/bus.js';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { HubEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Actor, EventLog } from '../store/events.js';
import type { User } from '../users.js';
import { HubError } from '../errors.js';
import { formatTime } from '../../kernel/time.js';
import type { Facility } from '../../config/schema.js';
import { PA_PRIORITY, type PaActivityKind, type PaCommand } from '../../drivers/pa-protocol.js';
import { priorityName, type ActivityEnd, type ActivityInfo, type BroadcastDevice, type BroadcastPriority, type ZoneView } from '../../devices/broadcast.js';
import { RateLimiter } from './rate-limit.js';
import type { AnnouncementSpec, BroadcastSettings } from './settings.js';
import { resolveTarget, sessionsReached, type Delivery, type ResolvedTarget, type SessionSource, type TargetInput } from './targets.js';

export type EntrySource = 'warning' | 'call' | 'announcement' | 'emergency';

export type DeliveryOutcome =
  | 'playing'
  | 'live'
  | 'done'
  | 'stopped'
  | 'fault'
  | 'preempted'
  | 'busy'
  | 'timeout'
  | 'unavailable'
  | 'rejected'
  | 'invalid';

export interface BusyInfo {
  zone: number;
  room: string | null;
  what: PaActivityKind | 'fault';
  priority: BroadcastPriority | `p${number}`;
  /** The entry that occupies the zone, when the hub started it. */
  entryId?: string;
  source?: EntrySource;
  by?: string;
  fault?: string;
}

export interface DeliveryResult {
  deviceId: string;
  zones: number[];
  rooms: string[];
  seat: number | null;
  confirmed: boolean;
  outcome: DeliveryOutcome;
  /** How it was played: a stored message, TTS (text, or a message the controller lacks), a live call. */
  via: 'play' | 'tts' | 'call' | null;
  activityId?: number;
  recordingId?: string;
  error?: string;
  busy?: BusyInfo[];
  /** Zones taken over by a higher priority. */
  preemptedBy?: { kind: PaActivityKind; priority: BroadcastPriority | `p${number}` };
  commandId?: string;
}

export interface PlayedEntry {
  id: string;
  source: EntrySource;
  priority: BroadcastPriority;
  at: number;
  actor: Actor;
  displayName: string | null;
  reason: string | null;
  target: string;
  sessionIds: string[];
  rooms: string[];
  seat: number | null;
  messageId: number | null;
  text: string | null;
  confirmed: boolean;
  deliveries: DeliveryResult[];
  /** Calls: when it was hung up and how long the recording is. */
  endedAt?: number;
  durationMs?: number;
}

type Content = { kind: 'message'; messageId: number; text: string; repeat: number } | { kind: 'text'; text: string; repeat: number } | { kind: 'call' };

export interface WarningInput extends TargetInput {
  messageId?: number;
  text?: string;
  reason: string;
  repeat?: number;
}

export interface CallInput extends TargetInput {
  reason: string;
}

interface CallRecord {
  entry: PlayedEntry;
  timer: TimerHandle | null;
  stopping: Promise<PlayedEntry> | null;
}

export interface BroadcastServiceDeps {
  facility: Facility;
  settings: BroadcastSettings;
  devices: BroadcastDevice[];
  sessions: SessionSource;
  events: EventLog;
  bus: Bus<HubEvents>;
  clock: Clock;
  log: Logger;
  /** The session whose expert holds a seat now (from check-in), or null when nobody does. */
  seatHolder?: (room: string, seat: number) => string | null;
}

/** An announcement text that names the project it is about. */
const PROJECT_PLACEHOLDER = /\{(project|code)\}/;

/**
 * The text with the project left out: every `{project}` / `{code}`, with the brackets or
 * quotes around it (【{project}】, “{code}”, ({project})), and the separator after it.
 */
export function namesNoProject(text: string): string {
  return text
    .replace(/[【[（(“"《]?\{(?:project|code)\}[】\]）)”"》]?[：:，,、\s]*/g, '')
    .trim();
}

function newId(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export class BroadcastService {
  private readonly limiter: RateLimiter;
  private readonly recent: PlayedEntry[] = [];
  private readonly byId = new Map<string, PlayedEntry>();
  private readonly calls = new Map<string, CallRecord>();
  private readonly unsubscribe: (() => void)[] = [];
  private fireEntry: string | null = null;
  readonly counters = { warnings: 0, refused: 0, rateLimited: 0, calls: 0, announcements: 0, skipped: 0, emergencies: 0, preempted: 0 };

  constructor(private readonly deps: BroadcastServiceDeps) {
    this.limiter = new RateLimiter(deps.clock, deps.settings.rateLimit.max, deps.settings.rateLimit.windowMs);
  }

  start(): void {
    for (const d of this.deps.devices) {
      this.unsubscribe.push(d.onActivity({ onActivityEnd: (a, zones, end, remaining, by) => this.onActivityEnd(d, a, zones, end, remaining, by) }));
    }
    const { bus } = this.deps;
    bus.on('broadcast', 'power.announce', (p) => this.onPowerAnnounce(p));
    bus.on('broadcast', 'fire.alarm', (p) => this.onFireAlarm(p));
  }

  async stop(): Promise<void> {
    this.deps.bus.removeOwner('broadcast');
    for (const u of this.unsubscribe.splice(0)) u();
    for (const c of this.calls.values()) c.timer?.cancel();
  }

  // ------------------------------------------------------------------------------------------
  // Supervisor warnings

  async warn(input: WarningInput, user: User): Promise<PlayedEntry> {
    const { settings, facility, sessions, devices } = this.deps;
    const reason = input.reason.trim();
    if (reason === '') throw new HubError('HUB_ERR_VALIDATION', ['body.reason must say why (it is logged against the session)'], { field: 'body.reason' });
    let content: Content;
    if (input.messageId !== undefined && input.text !== undefined) {
      throw new HubError('HUB_ERR_VALIDATION', ['give body.messageId or body.text, not both'], { field: 'body.text' });
    } else if (input.messageId !== undefined) {
      const m = settings.messages.get(input.messageId);
      if (!m) throw new HubError('HUB_ERR_VALIDATION', [`body.messageId ${input.messageId} is not in the message catalogue (${[...settings.messages.keys()].join(', ') || 'empty'})`], { field: 'body.messageId' });
      content = { kind: 'message', messageId: m.id, text: m.text, repeat: input.repeat ?? 1 };
    } else if (input.text !== undefined && input.text.trim() !== '') {
      content = { kind: 'text', text: input.text.trim(), repeat: input.repeat ?? 1 };
    } else {
      throw new HubError('HUB_ERR_VALIDATION', ['body.messageId or body.text is required: what to play'], { field: 'body.messageId' });
    }
    const target = resolveTarget(input, facility, sessions, devices);
    const limit = this.limiter.take(target.key);
    if (!limit.ok) {
      this.counters.rateLimited++;
      const seconds = Math.ceil(limit.retryAfterMs / 1000);
      throw new HubError('HUB_ERR_RATE_LIMITED', [`${target.label} was warned ${settings.rateLimit.max} times in ${settings.rateLimit.windowMs / 1000} s; try again in ${seconds} s`], {
        target: target.label,
        retryAfterSeconds: seconds,
      });
    }
    const sessionIds = sessionsReached(target.rooms, sessions, target.sessionId, this.holderOf(target));
    const entry = this.newEntry('warning', 'warning', `user:${user.username}`, user.displayName, reason, target.label, sessionIds, target.rooms, target.seat, content);
    this.counters.warnings++;
    entry.deliveries = await Promise.all(target.deliveries.map((d) => this.deliverOne(entry, d, target.seat, PA_PRIORITY.warning, content, settings.warningWaitMs)));
    entry.confirmed = entry.deliveries.some((d) => d.confirmed);
    await this.record(entry, 'broadcast.warning', { notCovered: target.notCovered });
    if (!entry.confirmed) {
      this.counters.refused++;
      throw this.failure(entry);
    }
    return entry;
  }

  // ------------------------------------------------------------------------------------------
  // Live calls

  async startCall(input: CallInput, user: User): Promise<PlayedEntry> {
    const { facility, sessions, devices, settings, clock } = this.deps;
    const reason = input.reason.trim();
    if (reason === '') throw new HubError('HUB_ERR_VALIDATION', ['body.reason must say why (it is logged against the session)'], { field: 'body.reason' });
    const target = resolveTarget(input, facility, sessions, devices);
    const sessionIds = sessionsReached(target.rooms, sessions, target.sessionId, this.holderOf(target));
    const entry = this.newEntry('call', 'warning', `user:${user.username}`, user.displayName, reason, target.label, sessionIds, target.rooms, target.seat, { kind: 'call' });
    this.counters.calls++;
    entry.deliveries = await Promise.all(target.deliveries.map((d) => this.deliverOne(entry, d, target.seat, PA_PRIORITY.warning, { kind: 'call' }, settings.warningWaitMs)));
    entry.confirmed = entry.deliveries.some((d) => d.confirmed);
    await this.record(entry, 'broadcast.call.started', { notCovered: target.notCovered });
    if (!entry.confirmed) {
      this.counters.refused++;
      throw this.failure(entry);
    }
    const rec: CallRecord = { entry, timer: null, stopping: null };
    // A forgotten open microphone is hung up by the hub.
    rec.timer = clock.setTimeout(() => {
      rec.timer = null;
      this.stopCall(entry.id, null, 'maximum call length reached').catch((err: unknown) => this.deps.log.error({ err, callId: entry.id }, 'automatic call stop failed'));
    }, settings.maxCallMs);
    this.calls.set(entry.id, rec);
    return entry;
  }

  /** Hangs up a call (idempotent: a second stop answers the first one's result). */
  async stopCall(id: string, user: User | null, why = 'stopped by a supervisor'): Promise<PlayedEntry> {
    const rec = this.calls.get(id);
    if (!rec) {
      const done = this.byId.get(id);
      if (done?.source === 'call' && done.endedAt !== undefined) return done;
      throw new HubError('HUB_ERR_NOT_FOUND', [`live call ${id}`]);
    }
    rec.stopping ??= this.doStopCall(rec, user, why);
    return rec.stopping;
  }

  private async doStopCall(rec: CallRecord, user: User | null, why: string): Promise<PlayedEntry> {
    const { entry } = rec;
    rec.timer?.cancel();
    const actor: Actor = user ? `user:${user.username}` : 'automation:broadcast';
    let total = 0;
    const results: { deviceId: string; recordingId: string; durationMs: number | null; error?: string }[] = [];
    for (const d of entry.deliveries) {
      if (!d.recordingId) continue;
      const device = this.deps.devices.find((x) => x.id === d.deviceId);
      if (!device) continue;
      const out = await device.send('call-stop', { type: 'CALL_STOP', recordingId: d.recordingId }, { issuer: actor, sessionIds: entry.sessionIds });
      if (out.ok) {
        const dur = out.ack.durationMs ?? 0;
        total = Math.max(total, dur);
        results.push({ deviceId: d.deviceId, recordingId: d.recordingId, durationMs: dur });
        if (d.outcome === 'live') d.outcome = 'done';
      } else {
        results.push({ deviceId: d.deviceId, recordingId: d.recordingId, durationMs: null, error: out.message });
      }
    }
    const failed = results.filter((r) => r.error !== undefined);
    if (failed.length > 0 && failed.length === results.length) {
      // Not hung up: keep the call so the supervisor can try again.
      rec.stopping = null;
      const first = failed[0];
      const timeout = first?.error?.includes('did not answer');
      throw new HubError(timeout ? 'HUB_ERR_DEVICE_TIMEOUT' : 'HUB_ERR_DEVICE_UNAVAILABLE', [first?.deviceId ?? ''], { callId: entry.id, results });
    }
    this.calls.delete(entry.id);
    entry.endedAt = this.deps.clock.now();
    entry.durationMs = total;
    await this.deps.events.append({
      type: 'broadcast.call.stopped',
      actor,
      sessionIds: entry.sessionIds,
      deviceId: entry.deliveries[0]?.deviceId ?? null,
      data: { id: entry.id, target: entry.target, rooms: entry.rooms, startedBy: entry.actor, ...(user ? { displayName: user.displayName } : {}), reason: why, recordings: results, durationMs: total },
    });
    this.deps.bus.emit('broadcast.played', { id: entry.id, source: 'call', priority: entry.priority, rooms: entry.rooms, sessionIds: entry.sessionIds, confirmed: true, outcome: 'ended', actor });
    return entry;
  }

  activeCalls(): PlayedEntry[] {
    return [...this.calls.values()].map((c) => c.entry);
  }

  // ------------------------------------------------------------------------------------------
  // Scheduled announcements and emergencies

  /**
   * Plays an announcement to these sessions. A text that names no project goes to the room
   * zones of their rooms, coalesced (one request; a shared room hears it once). A text that
   * names the project (`{project}` or `{code}`) would tell other projects' experts, seated in
   * the same rooms by dispersed seating, which project is evaluated beside them: it goes, per
   * session, only to the seat speakers of seats its own experts hold; the rooms hear the
   * text with the project left out (namesNoProject), or nothing when nothing is left.
   */
  async announce(spec: AnnouncementSpec, sessionList: { id: string; rooms: string[]; name?: string; code?: string }[]): Promise<PlayedEntry | null> {
    if (!PROJECT_PLACEHOLDER.test(spec.text)) return this.announceToRooms(spec, sessionList);
    const neutral = namesNoProject(spec.text);
    const seatEntries: PlayedEntry[] = [];
    for (const s of sessionList) {
      const text = spec.text.replaceAll('{project}', s.name ?? '').replaceAll('{code}', s.code ?? '');
      const deliveries = this.seatDeliveries(s.id, s.rooms);
      if (deliveries.length === 0) continue;
      const content: Content = { kind: 'text', text, repeat: spec.repeat };
      const rooms = [...new Set(deliveries.flatMap((d) => d.rooms))];
      const entry = this.newEntry('announcement', 'scheduled', 'automation:announcements', null, null, `announcement ${spec.id} (seats of ${s.id})`, [s.id], rooms, null, content);
      this.counters.announcements++;
      entry.deliveries = await Promise.all(deliveries.map((d) => this.deliverOne(entry, d, null, PA_PRIORITY.scheduled, content, this.deps.settings.announcementWaitMs)));
      entry.confirmed = entry.deliveries.some((d) => d.confirmed);
      if (!entry.confirmed) this.counters.skipped++;
      await this.record(entry, 'broadcast.announcement', { announcement: spec.id, skipped: !entry.confirmed, to: 'seats' });
      seatEntries.push(entry);
    }
    const roomEntry = neutral === '' ? null : await this.announceToRooms({ ...spec, messageId: null, text: neutral }, sessionList);
    const all = [...seatEntries, ...(roomEntry ? [roomEntry] : [])];
    const first = all[0];
    if (!first) return null;
    // One answer for the scheduler: confirmed when any part played, with every delivery.
    return { ...first, confirmed: all.some((e) => e.confirmed), deliveries: all.flatMap((e) => e.deliveries) };
  }

  /** The seat-speaker zones of seats this session's experts hold now, in its rooms. */
  private seatDeliveries(sessionId: string, rooms: string[]): Delivery[] {
    const out: Delivery[] = [];
    for (const device of this.deps.devices) {
      const zones: number[] = [];
      const reached: string[] = [];
      for (const z of device.zoneViews()) {
        if (z.room === null || z.seat === null || !rooms.includes(z.room)) continue;
        if (this.deps.seatHolder?.(z.room, z.seat) !== sessionId) continue;
        zones.push(z.zone);
        reached.push(z.room);
      }
      if (zones.length > 0) out.push({ device, zones, rooms: [...new Set(reached)] });
    }
    return out;
  }

  private async announceToRooms(spec: AnnouncementSpec, sessionList: { id: string; rooms: string[] }[]): Promise<PlayedEntry | null> {
    const rooms = [...new Set(sessionList.flatMap((s) => s.rooms))];
    if (rooms.length === 0) return null;
    const deliveries = this.deliveriesForRooms(rooms);
    const sessionIds = sessionsReached(rooms, this.deps.sessions, null).filter((id) => sessionList.some((s) => s.id === id));
    const content: Content = spec.messageId !== null ? { kind: 'message', messageId: spec.messageId, text: spec.text, repeat: spec.repeat } : { kind: 'text', text: spec.text, repeat: spec.repeat };
    const entry = this.newEntry('announcement', 'scheduled', 'automation:announcements', null, null, `announcement ${spec.id}`, sessionIds, rooms, null, content);
    this.counters.announcements++;
    entry.deliveries = await Promise.all(deliveries.map((d) => this.deliverOne(entry, d, null, PA_PRIORITY.scheduled, content, this.deps.settings.announcementWaitMs)));
    entry.confirmed = entry.deliveries.some((d) => d.confirmed);
    if (!entry.confirmed) this.counters.skipped++;
    await this.record(entry, 'broadcast.announcement', { announcement: spec.id, skipped: !entry.confirmed });
    return entry;
  }

  /** Evacuation, power: every configured zone, highest priority (preempts everything else). */
  async emergency(content: { messageId?: number; text: string }, why: string, actor: Actor, repeat = 1): Promise<PlayedEntry> {
    const { settings } = this.deps;
    const c: Content = content.messageId !== undefined && settings.messages.has(content.messageId) ? { kind: 'message', messageId: content.messageId, text: settings.messages.get(content.messageId)?.text ?? content.text, repeat } : { kind: 'text', text: content.text, repeat };
    const deliveries = this.deps.devices.map((device) => {
      const zones = device.zoneViews();
      return { device, zones: zones.map((z) => z.zone), rooms: [...new Set(zones.map((z) => z.room).filter((r): r is string => r !== null))] };
    });
    const rooms = [...new Set(deliveries.flatMap((d) => d.rooms))];
    const sessionIds = this.deps.sessions.active().map((s) => s.id);
    const entry = this.newEntry('emergency', 'emergency', actor, null, why, 'all zones', sessionIds, rooms, null, c);
    this.counters.emergencies++;
    entry.deliveries = await Promise.all(deliveries.filter((d) => d.zones.length > 0).map((d) => this.deliverOne(entry, d, null, PA_PRIORITY.emergency, c, settings.emergencyWaitMs)));
    entry.confirmed = entry.deliveries.some((d) => d.confirmed);
    await this.record(entry, 'broadcast.emergency', {});
    return entry;
  }

  private onPowerAnnounce(p: unknown): void {
    const a = p as { messageId?: unknown; text?: unknown; state?: unknown };
    if (typeof a.text !== 'string' || a.text === '') {
      this.deps.log.warn({ payload: p }, 'power.announce without text: ignored');
      return;
    }
    const content = typeof a.messageId === 'number' ? { messageId: a.messageId, text: a.text } : { text: a.text };
    void this.emergency(content, `power: ${typeof a.state === 'string' ? a.state : 'announcement'}`, 'automation:power').catch((err: unknown) => this.deps.log.error({ err }, 'power announcement failed'));
  }

  private onFireAlarm(p: { active: boolean; deviceId: string }): void {
    const id = this.deps.settings.fireAlarmMessageId;
    if (id === null) return;
    if (p.active) {
      const text = this.deps.settings.messages.get(id)?.text ?? '';
      void this.emergency({ messageId: id, text }, `fire alarm from ${p.deviceId}`, `device:${p.deviceId}`, this.deps.settings.emergencyRepeat)
        .then((e) => {
          this.fireEntry = e.id;
        })
        .catch((err: unknown) => this.deps.log.error({ err }, 'evacuation message failed'));
      return;
    }
    // Alarm cleared: stop the evacuation message where it still plays (and only there).
    const entry = this.fireEntry ? this.byId.get(this.fireEntry) : undefined;
    this.fireEntry = null;
    if (!entry) return;
    for (const d of entry.deliveries) {
      const device = this.deps.devices.find((x) => x.id === d.deviceId);
      if (!device || d.activityId === undefined) continue;
      const zones = device.zoneViews().filter((z) => z.activity?.activityId === d.activityId).map((z) => z.zone);
      if (zones.length === 0) continue;
      void device.send('stop', { type: 'STOP', zones }, { issuer: `device:${p.deviceId}`, sessionIds: entry.sessionIds });
    }
  }

  // ------------------------------------------------------------------------------------------
  // Views

  recentEntries(limit = 50): PlayedEntry[] {
    return this.recent.slice(-limit).reverse();
  }

  entry(id: string): PlayedEntry | null {
    return this.byId.get(id) ?? null;
  }

  /** The JSON view of an entry (times in the site's offset). */
  view(e: PlayedEntry): Record<string, unknown> {
    const offset = this.deps.facility.site.utcOffset;
    return {
      id: e.id,
      source: e.source,
      priority: e.priority,
      at: formatTime(e.at, offset),
      by: e.actor,
      displayName: e.displayName,
      reason: e.reason,
      target: e.target,
      sessionIds: e.sessionIds,
      rooms: e.rooms,
      seat: e.seat,
      message: e.messageId !== null || e.text !== null ? { id: e.messageId, text: e.text } : null,
      confirmed: e.confirmed,
      played: e.deliveries.map((d) => ({ ...d })),
      ...(e.source === 'call' ? { recordingId: e.deliveries.find((d) => d.recordingId)?.recordingId ?? null, live: this.calls.has(e.id) } : {}),
      ...(e.endedAt !== undefined ? { endedAt: formatTime(e.endedAt, offset), durationMs: e.durationMs ?? 0 } : {}),
    };
  }

  // ------------------------------------------------------------------------------------------
  // Delivery and the priority policy

  private deliveriesForRooms(rooms: string[]): Delivery[] {
    const out: Delivery[] = [];
    for (const room of rooms) {
      for (const device of this.deps.devices) {
        const zone = device.zoneFor(room);
        if (zone === null) continue;
        let d = out.find((x) => x.device === device);
        if (!d) {
          d = { device, zones: [], rooms: [] };
          out.push(d);
        }
        if (!d.zones.includes(zone)) d.zones.push(zone);
        d.rooms.push(room);
        break;
      }
    }
    return out;
  }

  /** Who a seat-speaker-only target reaches: the seat's checked-in expert, if any. */
  private holderOf(target: ResolvedTarget): string | null {
    if (!target.seatSpeaker || target.seat === null || target.rooms.length !== 1) return null;
    return this.deps.seatHolder?.(target.rooms[0]!, target.seat) ?? null;
  }

  private async deliverOne(entry: PlayedEntry, d: Delivery, seat: number | null, priority: number, content: Content, waitMs: number): Promise<DeliveryResult> {
    const { device, zones } = d;
    const { clock } = this.deps;
    const base = { deviceId: device.id, zones: [...zones], rooms: [...d.rooms], seat };
    const deadline = clock.now() + waitMs;
    let useTts = content.kind === 'text';
    for (let attempt = 0; attempt < 8; attempt++) {
      const blockers = device.blockers(zones, priority);
      if (blockers.some((z) => z.fault !== null)) {
        const faulted = blockers.filter((z) => z.fault !== null);
        return { ...base, confirmed: false, outcome: 'fault', via: null, busy: this.describe(faulted), error: this.busyText(faulted, priority) };
      }
      if (blockers.length > 0) {
        const free = await device.waitFree(zones, priority, deadline - clock.now());
        if (!free) {
          const now = device.blockers(zones, priority);
          return { ...base, confirmed: false, outcome: now.some((z) => z.fault !== null) ? 'fault' : 'busy', via: null, busy: this.describe(now.length > 0 ? now : blockers), error: this.busyText(now.length > 0 ? now : blockers, priority) };
        }
      }
      const cmd: PaCommand =
        content.kind === 'call'
          ? { type: 'CALL_START', zones, priority }
          : content.kind === 'message' && !useTts
            ? { type: 'PLAY', zones, message: content.messageId, priority, repeat: content.repeat }
            : { type: 'TTS', zones, text: content.text, priority, repeat: content.repeat };
      const cmdName = cmd.type === 'CALL_START' ? 'call-start' : cmd.type === 'PLAY' ? 'play' : 'tts';
      const out = await device.send(cmdName, cmd, { issuer: entry.actor, sessionIds: entry.sessionIds, tag: entry.id });
      const via = cmd.type === 'CALL_START' ? 'call' : cmd.type === 'PLAY' ? 'play' : 'tts';
      const commandId = out.command?.id;
      if (out.ok) {
        return {
          ...base,
          confirmed: true,
          outcome: cmd.type === 'CALL_START' ? 'live' : 'playing',
          via,
          ...(out.ack.activityId !== undefined ? { activityId: out.ack.activityId } : {}),
          ...(out.ack.recordingId !== undefined ? { recordingId: out.ack.recordingId } : {}),
          ...(commandId ? { commandId } : {}),
        };
      }
      if (out.kind === 'rejected' && out.code === 'BAD_MESSAGE' && content.kind === 'message' && !useTts) {
        // The controller lacks the recording: speak the catalogue's text instead.
        this.deps.log.warn({ deviceId: device.id, messageId: content.messageId }, 'controller has no such stored message: using TTS');
        useTts = true;
        continue;
      }
      if ((out.kind === 'busy' || out.kind === 'fault') && clock.now() < deadline) {
        // Our view was stale (another client, a missed event): read the truth and try again.
        const st = await device.status();
        if (st.ok && device.blockers(zones, priority).length > 0) continue;
      }
      const failureOutcome: DeliveryOutcome = out.kind;
      return { ...base, confirmed: false, outcome: failureOutcome, via: null, error: out.message, ...(commandId ? { commandId } : {}), ...(out.kind === 'busy' || out.kind === 'fault' ? { busy: this.describe(device.blockers(zones, priority)) } : {}) };
    }
    return { ...base, confirmed: false, outcome: 'busy', via: null, error: 'the zones stayed busy' };
  }

  private describe(zones: ZoneView[]): BusyInfo[] {
    return zones.map((z) => {
      if (z.fault !== null) return { zone: z.zone, room: z.room, what: 'fault', priority: priorityName(0), fault: z.fault };
      const a = z.activity;
      const owner = a?.tag ? this.byId.get(a.tag) : undefined;
      return {
        zone: z.zone,
        room: z.room,
        what: a?.kind ?? 'play',
        priority: priorityName(a?.priority ?? z.priority),
        ...(owner ? { entryId: owner.id, source: owner.source, by: owner.displayName ?? owner.actor } : {}),
      };
    });
  }

  private busyText(zones: ZoneView[], priority: number): string {
    const parts = this.describe(zones).map((b) => {
      if (b.what === 'fault') return `${b.room ?? `zone ${b.zone}`} is in fault (${b.fault ?? ''})`;
      const kind = b.source === 'call' || (!b.source && b.what === 'call') ? 'a live call' : `${/^[aeiou]/.test(b.source ?? b.what) ? 'an' : 'a'} ${b.source ?? b.what}`;
      const what = `${kind}${b.by ? ` by ${b.by}` : ''}`;
      return `${b.room ?? `zone ${b.zone}`} is busy with ${what} at priority ${b.priority}`;
    });
    return `${parts.join('; ')} (this request: ${priorityName(priority)})`;
  }

  private failure(entry: PlayedEntry): HubError {
    const first = entry.deliveries[0];
    const details = { [entry.source === 'call' ? 'call' : 'warning']: this.view(entry) };
    const deviceId = first?.deviceId ?? '';
    switch (first?.outcome) {
      case 'busy':
      case 'fault':
        return new HubError('HUB_ERR_CONFLICT', [`not played: ${first.error ?? 'busy'}`], details);
      case 'timeout':
        return new HubError('HUB_ERR_DEVICE_TIMEOUT', [deviceId], details);
      case 'unavailable':
        return new HubError('HUB_ERR_DEVICE_UNAVAILABLE', [deviceId], details);
      default:
        return new HubError('HUB_ERR_DEVICE_REJECTED', [deviceId, first?.error ?? 'refused'], details);
    }
  }

  private newEntry(
    source: EntrySource,
    priority: BroadcastPriority,
    actor: Actor,
    displayName: string | null,
    reason: string | null,
    target: string,
    sessionIds: string[],
    rooms: string[],
    seat: number | null,
    content: Content,
  ): PlayedEntry {
    const entry: PlayedEntry = {
      id: newId(source === 'warning' ? 'w' : source === 'call' ? 'c' : source === 'announcement' ? 'a' : 'e'),
      source,
      priority,
      at: this.deps.clock.now(),
      actor,
      displayName,
      reason,
      target,
      sessionIds,
      rooms,
      seat,
      messageId: content.kind === 'message' ? content.messageId : null,
      text: content.kind === 'call' ? null : content.text,
      confirmed: false,
      deliveries: [],
    };
    this.recent.push(entry);
    this.byId.set(entry.id, entry);
    while (this.recent.length > this.deps.settings.recentEntries) {
      const old = this.recent.shift();
      if (old && !this.calls.has(old.id)) this.byId.delete(old.id);
    }
    return entry;
  }

  private async record(entry: PlayedEntry, type: string, extra: Record<string, unknown>): Promise<void> {
    const outcome = entry.confirmed ? (entry.deliveries.every((d) => d.confirmed) ? 'confirmed' : 'partial') : (entry.deliveries[0]?.outcome ?? 'not-sent');
    await this.deps.events.append({
      type,
      actor: entry.actor,
      deviceId: entry.deliveries[0]?.deviceId ?? null,
      sessionIds: entry.sessionIds,
      data: {
        id: entry.id,
        priority: entry.priority,
        target: entry.target,
        rooms: entry.rooms,
        ...(entry.seat !== null ? { seat: entry.seat } : {}),
        ...(entry.displayName !== null ? { displayName: entry.displayName } : {}),
        ...(entry.reason !== null ? { reason: entry.reason } : {}),
        ...(entry.messageId !== null ? { messageId: entry.messageId } : {}),
        ...(entry.text !== null ? { text: entry.text } : {}),
        confirmed: entry.confirmed,
        outcome,
        played: entry.deliveries.map((d) => ({
          deviceId: d.deviceId,
          zones: d.zones,
          rooms: d.rooms,
          outcome: d.outcome,
          ...(d.via ? { via: d.via } : {}),
          ...(d.activityId !== undefined ? { activityId: d.activityId } : {}),
          ...(d.recordingId !== undefined ? { recordingId: d.recordingId } : {}),
          ...(d.error !== undefined ? { error: d.error } : {}),
        })),
        ...extra,
      },
    });
    this.deps.bus.emit('broadcast.played', { id: entry.id, source: entry.source, priority: entry.priority, rooms: entry.rooms, sessionIds: entry.sessionIds, confirmed: entry.confirmed, outcome, actor: entry.actor });
  }

  private onActivityEnd(device: BroadcastDevice, a: ActivityInfo, zones: number[], end: ActivityEnd, remaining: number[], by?: { kind: PaActivityKind; activityId: number; priority: number }): void {
    if (!a.tag) return;
    const entry = this.byId.get(a.tag);
    const d = entry?.deliveries.find((x) => x.deviceId === device.id && x.activityId === a.activityId);
    if (!entry || !d) return;
    if (end === 'preempted' && by) {
      d.preemptedBy = { kind: by.kind, priority: priorityName(by.priority) };
      this.counters.preempted++;
      this.deps.events
        .append({
          type: 'broadcast.preempted',
          actor: `device:${device.id}`,
          deviceId: device.id,
          sessionIds: entry.sessionIds,
          data: { id: entry.id, source: entry.source, zones, by: { kind: by.kind, priority: priorityName(by.priority) } },
        })
        .catch((err: unknown) => this.deps.log.error({ err }, 'preemption not logged'));
    }
    if (remaining.length === 0) {
      d.outcome = end;
      // A call that lost every zone has ended; CALL_STOP still answers its duration.
      if (entry.source === 'call' && end !== 'done') this.deps.log.info({ callId: entry.id, end }, 'live call ended by the controller');
    }
  }
}
