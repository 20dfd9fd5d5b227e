import type { Store } from '../store/store.js';
import type { NewEvent } from '../store/events.js';
import type { StopState, TaskCore, TaskState } from './machine.js';

/** A delivery task as stored (table robot_tasks, migration 7). */
export interface RobotTask extends TaskCore {
  id: string;
  robotId: string;
  /** The session it was made for (a meal run: the first of those it serves). */
  sessionId: string;
  /** Every session it serves: its steps go into each of their logs. */
  sessionIds: string[];
  doorId: string;
  /** Who asked for it: `user:NAME` or `automation:robot-meals`. */
  source: string;
  /** The meal it delivers (scheduled runs), else null. */
  meal: string | null;
  /** The creating request, canonical, so that a repeat with the same id is told apart from a clash. */
  request: string;
  createdAt: number;
  updatedAt: number;
}

interface Row {
  id: string;
  robot_id: string;
  session_id: string;
  sessions: string;
  door_id: string;
  stops: string;
  state: TaskState;
  suspended_from: TaskState | null;
  reason: string | null;
  source: string;
  meal: string | null;
  request: string;
  created_at: number;
  updated_at: number;
}

const fromRow = (r: Row): RobotTask => ({
  id: r.id,
  robotId: r.robot_id,
  sessionId: r.session_id,
  sessionIds: r.sessions.split(',').filter((x) => x !== ''),
  doorId: r.door_id,
  stops: JSON.parse(r.stops) as StopState[],
  state: r.state,
  suspendedFrom: r.suspended_from,
  reason: r.reason,
  source: r.source,
  meal: r.meal,
  request: r.request,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The per-session meal times (table robot_session_meals). */
export interface MealTime {
  name: string;
  cron: string;
}

/**
 * Reads and writes of the tasks. Every write commits the task and its event-log record in
 * one transaction, so the log never says a step happened that the table does not hold (or
 * the other way round).
 */
export class TaskStore {
  constructor(
    private readonly store: Store,
    private readonly events: { appendInTx(e: NewEvent): unknown },
  ) {}

  get(id: string): RobotTask | null {
    const r = this.store.stmt('SELECT * FROM robot_tasks WHERE id = ?').get(id) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  list(q: { sessionId?: string; state?: TaskState; robotId?: string } = {}): RobotTask[] {
    const all: [string, string | undefined][] = [[`sessions LIKE '%,' || ? || ',%'`, q.sessionId], ['state = ?', q.state], ['robot_id = ?', q.robotId]];
    const filters = all.filter((f): f is [string, string] => f[1] !== undefined);
    const where = filters.map(([clause]) => clause);
    const args = filters.map(([, value]) => value);
    const sql = `SELECT * FROM robot_tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT 1000`;
    return (this.store.stmt(sql).all(...args) as Row[]).map(fromRow);
  }

  /** Tasks that are not returned, failed or cancelled, oldest first. */
  open(robotId?: string): RobotTask[] {
    const rows = robotId
      ? this.store.stmt("SELECT * FROM robot_tasks WHERE robot_id = ? AND state NOT IN ('returned', 'failed', 'cancelled') ORDER BY created_at, id").all(robotId)
      : this.store.stmt("SELECT * FROM robot_tasks WHERE state NOT IN ('returned', 'failed', 'cancelled') ORDER BY created_at, id").all();
    return (rows as Row[]).map(fromRow);
  }

  /** Inserts a new task with its first record; false when the id exists (nothing written). */
  insert(t: RobotTask, record: NewEvent): Promise<boolean> {
    return this.store.write(() => {
      const r = this.store
        .stmt(
          'INSERT INTO robot_tasks (id, robot_id, session_id, sessions, door_id, stops, state, suspended_from, reason, source, meal, request, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
        )
        .run(t.id, t.robotId, t.sessionId, `,${t.sessionIds.join(',')},`, t.doorId, JSON.stringify(t.stops), t.state, t.suspendedFrom, t.reason, t.source, t.meal, t.request, t.createdAt, t.updatedAt);
      if (r.changes === 0) return false;
      this.events.appendInTx(record);
      return true;
    });
  }

  update(t: RobotTask, record: NewEvent): Promise<void> {
    return this.store.write(() => {
      this.store
        .stmt('UPDATE robot_tasks SET stops = ?, state = ?, suspended_from = ?, reason = ?, updated_at = ? WHERE id = ?')
        .run(JSON.stringify(t.stops), t.state, t.suspendedFrom, t.reason, t.updatedAt, t.id);
      this.events.appendInTx(record);
    });
  }

  sessionMeals(sessionId: string): MealTime[] | null {
    const r = this.store.stmt('SELECT meals FROM robot_session_meals WHERE session_id = ?').get(sessionId) as { meals: string } | undefined;
    return r ? (JSON.parse(r.meals) as MealTime[]) : null;
  }

  /** null: the session follows the facility's meal times again. */
  setSessionMeals(sessionId: string, meals: MealTime[] | null, by: string, at: number, record: NewEvent): Promise<void> {
    return this.store.write(() => {
      if (meals === null) this.store.stmt('DELETE FROM robot_session_meals WHERE session_id = ?').run(sessionId);
      else {
        this.store
          .stmt('INSERT INTO robot_session_meals (session_id, meals, set_by, set_at) VALUES (?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET meals = excluded.meals, set_by = excluded.set_by, set_at = excluded.set_at')
          .run(sessionId, JSON.stringify(meals), by, at);
      }
      this.events.appendInTx(record);
    });
  }
}
