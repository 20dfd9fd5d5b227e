/**
 * Scheduled announcements per evaluation session ("30 minutes left", "evaluation starts now")
 * and facility-wide cron announcements ("lunch has arrived", every day at 11:30) played to every
 * session in progress. Time is the injected clock: relative announcements are clock timers,
 * cron expressions are node-cron's (its parser and matcher), checked once per clock minute in
 * the site's local time, so tests move a ManualClock instead of waiting.
 *
 * Announcements of the same entry falling due at the same moment for several sessions are
 * coalesced into one request over the union of their rooms (dispersed seating: one room holds
 * several sessions, which must not hear it twice).
 */
import { createTask, type ScheduledTask } from 'node-cron';
import type { Bus } from '../../kernel/bus.js';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { HubEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Session } from '../sessions/sessions.js';
import type { AnnouncementSpec, BroadcastSettings } from './settings.js';

/** An announcement more than this late (the hub was down) is not played any more. */
const LATE_GRACE_MS = 2 * 60_000; // 2 min
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
  announce: (spec: AnnouncementSpec, sessions: Session[]) => Promise<unknown>;
}

export class AnnouncementScheduler {
  private readonly planned = new Map<string, Planned>();
  /** `${spec}@${at}:${session}` already played (or skipped): never twice. */
  private readonly fired = new Set<string>();
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
    this.deps.bus.on('broadcast-announcements', 'session.status', () => this.replan());
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
    this.timer = null;
    this.cronTimer = null;
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
        if (at < now - LATE_GRACE_MS || this.fired.has(`${spec.id}@${at}:${s.id}`)) continue;
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
      if (sessions.length > 0) this.play(p.spec, sessions);
    }
    this.replan();
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
        const sessions = this.deps.sessions.list().filter((s) => s.status !== 'closed' && at >= s.start && at < s.end);
        if (sessions.length > 0) this.play(spec, sessions);
      }
    }
    this.scheduleCron();
  }

  private play(spec: AnnouncementSpec, sessions: Session[]): void {
    const p = this.deps.announce(spec, sessions).catch((err: unknown) => this.deps.log.error({ err, announcement: spec.id }, 'announcement failed'));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}
