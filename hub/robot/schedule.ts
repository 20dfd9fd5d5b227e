/**
 * The meal schedule (docs/robot.md, "Meal schedule"). Meal times are node-cron expressions
 * in site local time, the facility's (`robot.meals`) or a session's own. Like the
 * announcements (hub/broadcast/announcements.ts), node-cron only parses and matches: the
 * injected clock wakes the schedule once a minute, so tests move a ManualClock and call
 * `tick()` instead of waiting on real time.
 *
 * At a meal time every session in progress gets one run per room: one task whose stops
 * are the seats of the experts inside in that room. The task id is made of the session,
 * the minute and the room, so a tick repeated for the same minute (a late timer, a restart
 * at 11:30) finds the task there and creates nothing new.
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
    const out: RobotTask[] = [];
    for (const session of this.deps.sessions()) {
      for (const meal of this.deps.mealsOf(session.id)) {
        if (!this.matches(meal.cron, local)) continue;
        const byRoom = new Map<string, number[]>();
        for (const s of this.deps.insideSeats(session.id)) byRoom.set(s.room, [...(byRoom.get(s.room) ?? []), s.seat]);
        if (byRoom.size === 0) {
          await this.deps.skipped(session.id, meal.name, 'nobody is checked in');
          continue;
        }
        for (const [room, seats] of [...byRoom].sort(([a], [b]) => a.localeCompare(b))) {
          const robotId = this.deps.robotFor(room);
          if (!robotId) {
            this.deps.log.warn({ sessionId: session.id, room, meal: meal.name }, 'no robot serves this room: meal not scheduled');
            await this.deps.skipped(session.id, meal.name, `no robot serves ${room}`);
            continue;
          }
          try {
            out.push(
              await this.deps.create({
                id: `meal-${localMinute(minute, this.offset)}-${room}-${session.id}`,
                sessionId: session.id,
                robotId,
                stops: [...new Set(seats)].sort((a, b) => a - b).map((seat) => ({ room, seat, items: [meal.name] })),
                meal: meal.name,
              }),
            );
          } catch (err) {
            this.deps.log.error({ err, sessionId: session.id, room, meal: meal.name }, 'meal run not created');
            await this.deps.skipped(session.id, meal.name, `${room}: ${String(err)}`);
          }
        }
      }
    }
    return out;
  }
}
