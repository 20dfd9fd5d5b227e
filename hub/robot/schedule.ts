/**
 * The meal schedule (docs/robot.md, "Meal schedule"). Meal times are node-cron expressions
 * in site local time, the facility's (`robot.meals`) or a session's own. Like the
 * announcements (hub/broadcast/announcements.ts), node-cron only parses and matches: the
 * injected clock wakes the schedule once a minute, so tests move a ManualClock and call
 * `tick()` instead of waiting on real time.
 *
 * At a meal time the experts inside of every session in progress whose meal it is are
 * served in one run per room: one task whose stops are their seats (a room holds one
 * expert of each session, so a run serves several sessions and is logged in each). The
 * task id is made of the minute and the room, so a tick repeated for the same minute (a
 * late timer, a restart at 11:30) finds the task there and creates nothing new.
 */
import { createTask, type ScheduledTask } from 'node-cron';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/log.js';
import type { Session } from '../sessions/sessions.js';
import type { MealTime, RobotTask } from './tasks.js';
import type { NewTask } from './feature.js';

const MINUTE = 60_000;

export interface MealScheduleDeps {
  clock: Clock;
  log: Logger;
  utcOffset: string;
  mealsOf: (sessionId: string) => readonly MealTime[];
  sessions: () => readonly Session[];
  insideSeats: (sessionId: string) => { room: string; seat: number }[];
  robotFor: (room: string) => string | null;
  create: (input: NewTask) => Promise<RobotTask>;
  skipped: (sessionId: string, meal: string, reason: string) => Promise<void>;
}

export function offsetMinutes(offset: string): number {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

/** `202612011130` in site local time: part of a scheduled task's id. */
function localMinute(ms: number, offsetMin: number): string {
  return new Date(ms + offsetMin * MINUTE).toISOString().slice(0, 16).replace(/[-T:]/g, '');
}

export class MealSchedule {
  private readonly matchers = new Map<string, ScheduledTask>();
  private timer: TimerHandle | null = null;
  private readonly offset: number;

  constructor(private readonly deps: MealScheduleDeps) {
    this.offset = offsetMinutes(deps.utcOffset);
  }

  start(): void {
    this.arm();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private arm(): void {
    const now = this.deps.clock.now();
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = null;
      this.tick().catch((err: unknown) => this.deps.log.error({ err }, 'meal schedule tick failed'));
      this.arm();
    }, MINUTE - (now % MINUTE));
  }

  private matches(cron: string, localDate: Date): boolean {
    let m = this.matchers.get(cron);
    if (!m) {
      // Matching only: never started (node-cron would use real time). UTC, shifted by the site offset.
      m = createTask(cron, () => undefined, { timezone: 'Etc/UTC' });
      this.matchers.set(cron, m);
    }
    return m.match(localDate);
  }

  /** Creates the runs due at the clock's current minute; answers the tasks created or found. */
  async tick(): Promise<RobotTask[]> {
    const minute = Math.floor(this.deps.clock.now() / MINUTE) * MINUTE;
    const local = new Date(minute + this.offset * MINUTE);
    // One expert of a session per room (the seating rule): a run gathers every session's
    // experts in its room, each seat with its own session's meal.
    const byRoom = new Map<string, { sessionId: string; seat: number; meal: string }[]>();
    for (const session of this.deps.sessions()) {
      for (const meal of this.deps.mealsOf(session.id)) {
        if (!this.matches(meal.cron, local)) continue;
        const seats = this.deps.insideSeats(session.id);
        if (seats.length === 0) await this.deps.skipped(session.id, meal.name, 'nobody is checked in');
        for (const s of seats) byRoom.set(s.room, [...(byRoom.get(s.room) ?? []), { sessionId: session.id, seat: s.seat, meal: meal.name }]);
      }
    }
    const out: RobotTask[] = [];
    for (const [room, seats] of [...byRoom].sort(([a], [b]) => a.localeCompare(b))) {
      const sessionIds = [...new Set(seats.map((s) => s.sessionId))];
      const meals = [...new Set(seats.map((s) => s.meal))];
      const robotId = this.deps.robotFor(room);
      if (!robotId) {
        this.deps.log.warn({ sessionIds, room, meals }, 'no robot serves this room: meal not scheduled');
        for (const id of sessionIds) await this.deps.skipped(id, meals.join('、'), `no robot serves ${room}`);
        continue;
      }
      const stops = new Map<number, { room: string; seat: number; items: string[]; sessionId: string }>();
      for (const s of seats) if (!stops.has(s.seat)) stops.set(s.seat, { room, seat: s.seat, items: [s.meal], sessionId: s.sessionId });
      try {
        out.push(
          await this.deps.create({
            id: `meal-${localMinute(minute, this.offset)}-${room}`,
            sessionId: sessionIds[0]!,
            robotId,
            stops: [...stops.values()].sort((a, b) => a.seat - b.seat),
            meal: meals.join('、'),
          }),
        );
      } catch (err) {
        this.deps.log.error({ err, sessionIds, room, meals }, 'meal run not created');
        for (const id of sessionIds) await this.deps.skipped(id, meals.join('、'), `${room}: ${String(err)}`);
      }
    }
    return out;
  }
}
