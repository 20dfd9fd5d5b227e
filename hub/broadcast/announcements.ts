/**
 * Scheduled announcements per evaluation session ("30 minutes left", "evaluation starts now")
 * and facility-wide cron announcements ("lunch has arrived", every day at 11:30) played to every
 * session in progress. Time is the injected clock: relative announcements are clock timers,
 * cron expressions are node-cron's (its parser and matcher), checked once per clock minute in
 * the site's local time, so tests move a ManualClock instead of waiting.
 *
 * Announcements of the same entry falling due at the same moment for several sessions are
 * coalesced into one request (see BroadcastService.announce for which rooms and seats hear
 * what).
 *
 * What was played is kept in the store (`announcements_played`), not only in memory: a hub
 * restarted a minute after "evaluation starts" must not say it again. An announcement that
 * could not reach a controller because the controller was unavailable (the line down, or
 * still connecting: the catch-up after a restart runs before the PA link is up) is retried
 * when a broadcast controller becomes available again, as long as it is within its validity
 * window (VALID_MS after it fell due, and the session still running); after that it is
 * recorded and logged as missed (`broadcast.announcement.missed`). One skipped because the
 * rooms stayed busy is not retried (it waited announcementWaitSeconds already).
 */
import { createTask, type ScheduledTask } from 'node-cron';
import type { Bus } from '../../kernel/bus.js';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { HubEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Session } from '../sessions/sessions.js';
import type { Store } from '../store/store.js';
import type { EventLog } from '../store/events.js';
import type { AnnouncementSpec, BroadcastSettings } from './settings.js';

/**
 * An announcement is valid this long after it fell due: played late (the hub was down, the
 * PA link was down) within it, never after ("thirty minutes left" said twenty minutes late
 * would mislead).
 */
export const VALID_MS = 5 * 60_000; // 5 min
/** Long delays are re-planned at least this often (system timers, clock steps). */
const MAX_TIMER_MS = 60 * 60_000; // 1 h
const MINUTE = 60_000;

export interface PlannedAnnouncement {
  announcement: string;
  at: number;
  sessionIds: string[];
}

interface Planned {
  spec: AnnouncementSpec;
  at: number;
  sessionIds: Set<string>;
}

export interface AnnouncementDeps {
  settings: BroadcastSettings;
  clock: Clock;
  bus: Bus<HubEvents>;
  log: Logger;
  sessions: { list(): readonly Session[]; get(id: string): Session | null };
  /** Plays it; resolves how it went (null: nothing to play to). */
  announce: (spec: AnnouncementSpec, sessions: Session[]) => Promise<AnnounceResult | null>;
  /** What was played, kept across restarts (StorePlayedLog). */
  played: PlayedLog;
  events: Pick<EventLog, 'append'>;
}

/** How an announcement went, as the scheduler needs it. */
export interface AnnounceResult {
  confirmed: boolean;
  /** Every delivery failed because its controller was unavailable (line down, not answering). */
  unreachable: boolean;
  outcome: string;
}

export type PlayedOutcome = 'played' | 'skipped' | 'missed';

export interface PlayedRecord {
  announcement: string;
  at: number;
  sessionId: string;
  outcome: PlayedOutcome;
}

/** The persistent "already played" set. */
export interface PlayedLog {
  /** Keys `${announcement}@${at}:${sessionId}` of everything decided that fell due at or after `since`. */
  decidedSince(since: number): Set<string>;
  record(records: PlayedRecord[], now: number): Promise<void>;
}

/** The played set in the hub's store (migration 3, table announcements_played). */
export class StorePlayedLog implements PlayedLog {
  constructor(private readonly store: Store) {}

  decidedSince(since: number): Set<string> {
    const rows = this.store.stmt('SELECT announcement, due_at, session_id FROM announcements_played WHERE due_at >= ?').all(since) as { announcement: string; due_at: number; session_id: string }[];
    return new Set(rows.map((r) => `${r.announcement}@${r.due_at}:${r.session_id}`));
  }

  record(records: PlayedRecord[], now: number): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return this.store.write(() => {
      const st = this.store.stmt('INSERT OR REPLACE INTO announcements_played (announcement, due_at, session_id, outcome, recorded_at) VALUES (?, ?, ?, ?, ?)');
      for (const r of records) st.run(r.announcement, r.at, r.sessionId, r.outcome, now);
    });
  }
}

/** An announcement that could not reach a controller, waiting for one to come back. */
interface Pending {
  spec: AnnouncementSpec;
  at: number;
  sessionIds: string[];
}

export class AnnouncementScheduler {
  private readonly planned = new Map<string, Planned>();
  /** `${spec}@${at}:${session}` played, skipped, missed, in flight or pending: never twice. */
  private readonly fired = new Set<string>();
  /** Waiting for a controller to be available again, by `${spec}@${at}`. */
  private readonly pending = new Map<string, Pending>();
  private expiryTimer: TimerHandle | null = null;
  private readonly cronTasks: { spec: AnnouncementSpec; task: ScheduledTask }[] = [];
  private timer: TimerHandle | null = null;
  private cronTimer: TimerHandle | null = null;
  private lastCronMinute = 0;
  private running = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly deps: AnnouncementDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const spec of this.deps.settings.announcements) {
      if (spec.when.kind !== 'cron') continue;
      // Matching only: the task is never started, the clock drives it (node-cron would use real time).
      const task = createTask(spec.when.expression, () => undefined, { name: `fh-announcement-${spec.id}`, timezone: 'Etc/UTC' });
      this.cronTasks.push({ spec, task });
    }
    for (const key of this.deps.played.decidedSince(this.deps.clock.now() - VALID_MS)) this.fired.add(key);
    this.deps.bus.on('broadcast-announcements', 'session.status', () => this.replan());
    this.deps.bus.on('broadcast-announcements', 'device.availability', (e) => {
      if (e.kind === 'broadcast' && e.available) this.retryPending();
    });
    this.replan();
    if (this.cronTasks.length > 0) {
      this.lastCronMinute = Math.floor(this.deps.clock.now() / MINUTE);
      this.scheduleCron();
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.deps.bus.removeOwner('broadcast-announcements');
    this.timer?.cancel();
    this.cronTimer?.cancel();
    this.expiryTimer?.cancel();
    this.timer = null;
    this.cronTimer = null;
    this.expiryTimer = null;
    for (const { task } of this.cronTasks.splice(0)) await task.destroy();
    await Promise.allSettled([...this.inFlight]);
  }

  /** What is planned from now on (for the console). */
  upcoming(): PlannedAnnouncement[] {
    return [...this.planned.values()].sort((a, b) => a.at - b.at).map((p) => ({ announcement: p.spec.id, at: p.at, sessionIds: [...p.sessionIds].sort() }));
  }

  /** Recomputes the relative announcements of every open session and sets the timer for the next. */
  replan(): void {
    if (!this.running) return;
    const now = this.deps.clock.now();
    this.planned.clear();
    for (const s of this.deps.sessions.list()) {
      if (s.status === 'closed') continue;
      for (const spec of this.deps.settings.announcements) {
        const at = spec.when.kind === 'before-end' ? s.end - spec.when.minutes * MINUTE : spec.when.kind === 'after-start' ? s.start + spec.when.minutes * MINUTE : null;
        if (at === null || at < s.start || at >= s.end) continue;
        if (at < now - VALID_MS || this.fired.has(`${spec.id}@${at}:${s.id}`)) continue;
        const key = `${spec.id}@${at}`;
        const p = this.planned.get(key) ?? { spec, at, sessionIds: new Set<string>() };
        p.sessionIds.add(s.id);
        this.planned.set(key, p);
      }
    }
    this.timer?.cancel();
    this.timer = null;
    const next = Math.min(...[...this.planned.values()].map((p) => p.at));
    if (!Number.isFinite(next)) return;
    this.timer = this.deps.clock.setTimeout(() => this.fireDue(), Math.min(Math.max(0, next - now), MAX_TIMER_MS));
  }

  private fireDue(): void {
    this.timer = null;
    const now = this.deps.clock.now();
    for (const [key, p] of this.planned) {
      if (p.at > now) continue;
      this.planned.delete(key);
      // Only sessions still running at that moment (closed early, or times changed: not played).
      const sessions = [...p.sessionIds].map((id) => this.deps.sessions.get(id)).filter((s): s is Session => s !== null && s.status !== 'closed' && now >= s.start && now < s.end);
      for (const id of p.sessionIds) this.fired.add(`${key}:${id}`);
      if (sessions.length > 0) this.play(p.spec, p.at, sessions);
    }
    this.replan();
  }

  /** What waits for a controller (for the console and tests). */
  waiting(): PlannedAnnouncement[] {
    return [...this.pending.values()].map((p) => ({ announcement: p.spec.id, at: p.at, sessionIds: [...p.sessionIds].sort() }));
  }

  /** A controller is available again: play what is still valid, record what is not as missed. */
  private retryPending(): void {
    if (!this.running) return;
    const now = this.deps.clock.now();
    for (const [key, p] of this.pending) {
      this.pending.delete(key);
      const sessions = this.stillRunning(p.sessionIds, now);
      if (now > p.at + VALID_MS || sessions.length === 0) {
        this.track(this.missed(p, now > p.at + VALID_MS ? 'its validity window passed while no controller was available' : 'its sessions are no longer running'));
        continue;
      }
      this.deps.log.info({ announcement: p.spec.id, lateMs: now - p.at }, 'a controller is back: playing the announcement it missed');
      this.play(p.spec, p.at, sessions);
    }
    this.scheduleExpiry();
  }

  private stillRunning(ids: string[], now: number): Session[] {
    return ids.map((id) => this.deps.sessions.get(id)).filter((s): s is Session => s !== null && s.status !== 'closed' && now < s.end);
  }

  /** Pending announcements whose window ends before a controller returns become missed then. */
  private scheduleExpiry(): void {
    this.expiryTimer?.cancel();
    this.expiryTimer = null;
    if (!this.running || this.pending.size === 0) return;
    const now = this.deps.clock.now();
    const next = Math.min(...[...this.pending.values()].map((p) => p.at + VALID_MS));
    this.expiryTimer = this.deps.clock.setTimeout(() => {
      this.expiryTimer = null;
      const at = this.deps.clock.now();
      for (const [key, p] of this.pending) {
        if (at <= p.at + VALID_MS) continue;
        this.pending.delete(key);
        this.track(this.missed(p, 'its validity window passed while no controller was available'));
      }
      this.scheduleExpiry();
    }, Math.max(0, next - now) + 1);
  }

  private async missed(p: Pending, why: string): Promise<void> {
    const now = this.deps.clock.now();
    this.deps.log.warn({ announcement: p.spec.id, dueAt: p.at, sessionIds: p.sessionIds, why }, 'announcement missed');
    await this.deps.played.record(p.sessionIds.map((sessionId) => ({ announcement: p.spec.id, at: p.at, sessionId, outcome: 'missed' })), now);
    await this.deps.events.append({ type: 'broadcast.announcement.missed', actor: 'automation:announcements', sessionIds: p.sessionIds, data: { announcement: p.spec.id, dueAt: p.at, reason: why } });
  }

  private scheduleCron(): void {
    if (!this.running) return;
    const now = this.deps.clock.now();
    this.cronTimer = this.deps.clock.setTimeout(() => this.cronTick(), MINUTE - (now % MINUTE));
  }

  private cronTick(): void {
    this.cronTimer = null;
    const minute = Math.floor(this.deps.clock.now() / MINUTE);
    // Every minute since the last tick, at most 5 (a late timer or a short clock step).
    const from = Math.max(this.lastCronMinute + 1, minute - 4);
    this.lastCronMinute = minute;
    for (let m = from; m <= minute; m++) {
      // node-cron matches in its timezone (UTC here); shifting by the site offset gives site local time.
      const local = new Date(m * MINUTE + this.deps.settings.utcOffsetMinutes * MINUTE);
      for (const { spec, task } of this.cronTasks) {
        if (!task.match(local)) continue;
        const at = m * MINUTE;
        const sessions = this.deps.sessions.list().filter((s) => s.status !== 'closed' && at >= s.start && at < s.end && !this.fired.has(`${spec.id}@${at}:${s.id}`));
        for (const s of sessions) this.fired.add(`${spec.id}@${at}:${s.id}`);
        if (sessions.length > 0) this.play(spec, at, sessions);
      }
    }
    this.scheduleCron();
  }

  private play(spec: AnnouncementSpec, at: number, sessions: Session[]): void {
    const ids = sessions.map((s) => s.id);
    this.track(
      this.deps
        .announce(spec, sessions)
        .then(async (r) => {
          if (r && !r.confirmed && r.unreachable && this.running) {
            // Kept in memory only: after a restart the plan finds it again (not recorded as decided).
            this.pending.set(`${spec.id}@${at}`, { spec, at, sessionIds: ids });
            this.deps.log.warn({ announcement: spec.id, outcome: r.outcome }, 'announcement could not reach a controller: retried when one is available again');
            this.scheduleExpiry();
            return;
          }
          const outcome: PlayedOutcome = r?.confirmed ? 'played' : 'skipped';
          await this.deps.played.record(ids.map((sessionId) => ({ announcement: spec.id, at, sessionId, outcome })), this.deps.clock.now());
        })
        .catch((err: unknown) => this.deps.log.error({ err, announcement: spec.id }, 'announcement failed')),
    );
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}
