import { randomBytes } from 'node:crypto';
import type { Bus } from '../../kernel/bus.js';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { HubEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Actor, EventLog } from '../store/events.js';
import type { Store } from '../store/store.js';
import type { Facility } from '../../config/schema.js';
import { HubError } from '../errors.js';
import { capacityProblem, type SessionSpan } from './seating.js';

export const SESSION_STATUSES = ['scheduled', 'check-in', 'in-progress', 'closed'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export interface Session {
  id: string;
  code: string;
  name: string;
  start: number;
  end: number;
  rooms: string[];
  opensMinutes: number;
  expectedExperts: number | null;
  status: SessionStatus;
  createdAt: number;
  createdBy: string;
  closedAt: number | null;
  closedBy: string | null;
}

export interface NewSession {
  code: string;
  name: string;
  start: number;
  end: number;
  rooms?: string[];
  checkInOpensMinutes?: number;
  expectedExperts?: number;
}

interface SessionRow {
  id: string;
  code: string;
  name: string;
  start: number;
  end: number;
  rooms: string;
  opens_minutes: number;
  expected_experts: number | null;
  status: SessionStatus;
  created_at: number;
  created_by: string;
  closed_at: number | null;
  closed_by: string | null;
}

function fromRow(r: SessionRow): Session {
  return {
    id: r.id,
    code: r.code,
    name: r.name,
    start: r.start,
    end: r.end,
    rooms: JSON.parse(r.rooms) as string[],
    opensMinutes: r.opens_minutes,
    expectedExperts: r.expected_experts,
    status: r.status,
    createdAt: r.created_at,
    createdBy: r.created_by,
    closedAt: r.closed_at,
    closedBy: r.closed_by,
  };
}

const DAY = 86_400_000;
/** Times a session may have at all: anything outside is a unit mistake, not a real session. */
export const SANE_TIME = { from: Date.UTC(2000, 0, 1), to: Date.UTC(2100, 0, 1) } as const;
/** How far ahead a session may be pushed, and how long it may last. */
export const SESSION_LIMITS = { aheadMs: 366 * DAY, longestMs: 7 * DAY } as const;

/**
 * What is wrong with a session's times at `now`, one entry per field. Epoch seconds sent
 * where milliseconds are expected land in January 1970, so the message names that mistake.
 */
export function sessionTimeProblems(start: number, end: number, now: number): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  const iso = (ms: number): string => new Date(ms).toISOString();
  for (const [field, t] of [
    ['body.start', start],
    ['body.end', end],
  ] as const) {
    if (t >= SANE_TIME.from && t < SANE_TIME.to) continue;
    const seconds = t * 1000 >= SANE_TIME.from && t * 1000 < SANE_TIME.to;
    out.push({
      field,
      message: seconds
        ? `${field} ${t} 像是秒而不是毫秒 / looks like epoch seconds (it would be ${iso(t)}): send epoch milliseconds (${t * 1000}) or ISO-8601 with an offset`
        : `${field} 超出合理范围 / is outside the sane range ${iso(SANE_TIME.from)} .. ${iso(SANE_TIME.to)}`,
    });
  }
  if (out.length) return out;
  if (!(end > start)) out.push({ field: 'body.end', message: 'body.end 必须晚于开始时间 / must be after body.start' });
  else if (end - start > SESSION_LIMITS.longestMs) out.push({ field: 'body.end', message: `body.end 评标时长超过 7 天 / the session would last ${Math.round((end - start) / 3_600_000)} h; at most 7 days` });
  if (end <= now) out.push({ field: 'body.end', message: `body.end 会话已结束 / the session has already ended (${iso(end)} is before now, ${iso(now)})` });
  if (start - now > SESSION_LIMITS.aheadMs) out.push({ field: 'body.start', message: `body.start 超过一年以后 / is more than a year ahead (${iso(start)})` });
  return out;
}

/** The status a session's times give at `now` (an admin's close overrides). */
export function statusAt(s: Pick<Session, 'start' | 'end' | 'opensMinutes' | 'closedAt'>, now: number): SessionStatus {
  if (s.closedAt !== null || now >= s.end) return 'closed';
  if (now >= s.start) return 'in-progress';
  if (now >= s.start - s.opensMinutes * 60_000) return 'check-in';
  return 'scheduled';
}

/** A session closed before its start was cancelled (automation closes only at the end). */
export function isCancelled(s: Pick<Session, 'start' | 'closedAt'>): boolean {
  return s.closedAt !== null && s.closedAt < s.start;
}

/** When the status next changes by itself, or null once closed. */
export function nextTransition(s: Session): number | null {
  if (s.status === 'closed') return null;
  const opens = s.start - s.opensMinutes * 60_000;
  if (s.status === 'scheduled') return opens;
  if (s.status === 'check-in') return s.start;
  return s.end;
}

/**
 * Evaluation sessions: created through the API (the trading platform pushes them),
 * moved through their statuses by the injected clock (a timer set for the next
 * transition, caught up on start after a restart), each transition an event in the log.
 */
export class Sessions {
  private timer: TimerHandle | null = null;
  private ticking: Promise<void> = Promise.resolve();
  private readonly servedRooms = new Map<string, Set<string> | 'all' | undefined>();
  private sorted: readonly Session[] | null = null;
  private cache = new Map<string, Session>();
  private readonly seatsOf: Map<string, number>;
  /** Called inside the closing transaction, e.g. to release check-ins and devices. */
  private readonly closeHooks: ((s: Session, now: number) => void)[] = [];

  constructor(
    private readonly deps: {
      facility: Facility;
      store: Store;
      events: EventLog;
      bus: Bus<HubEvents>;
      clock: Clock;
      log: Logger;
    },
  ) {
    this.seatsOf = new Map(deps.facility.rooms.map((r) => [r.id, r.seats]));
    this.reload();
  }

  onClose(hook: (s: Session, now: number) => void): void {
    this.closeHooks.push(hook);
  }

  /** Applies transitions missed while the hub was down, then keeps time. */
  async start(): Promise<void> {
    await this.tick();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** All sessions by start; sorted once per change, not per call (device messages ask often). */
  list(): readonly Session[] {
    this.sorted ??= [...this.cache.values()].sort((a, b) => a.start - b.start || a.code.localeCompare(b.code));
    return this.sorted;
  }

  get(id: string): Session | null {
    return this.cache.get(id) ?? null;
  }

  /** Sessions in check-in or in progress. */
  active(): Session[] {
    return this.list().filter((s) => s.status === 'check-in' || s.status === 'in-progress');
  }

  /** Every session (any status) whose rooms a device serves: by its rooms, its zones' rooms, or all for facility-wide devices. */
  servedBy(deviceId: string): Session[] {
    return this.list().filter((s) => this.serves(deviceId, s));
  }

  /** Whether the device serves the session's rooms. */
  serves(deviceId: string, session: Session): boolean {
    const rooms = this.roomsServed(deviceId);
    if (rooms === undefined) return false;
    return rooms === 'all' || session.rooms.some((r) => rooms.has(r));
  }

  /** The rooms a device serves (its rooms and its zones' rooms), computed once per device. */
  private roomsServed(deviceId: string): Set<string> | 'all' | undefined {
    if (this.servedRooms.has(deviceId)) return this.servedRooms.get(deviceId);
    const d = this.deps.facility.devices.find((x) => x.id === deviceId);
    let rooms: Set<string> | 'all' | undefined;
    if (!d) rooms = undefined;
    else if (d.rooms.length === 0 && d.zones.length === 0) rooms = 'all';
    else {
      rooms = new Set(d.rooms);
      for (const r of this.deps.facility.rooms) if (r.zone !== undefined && d.zones.includes(r.zone)) rooms.add(r.id);
    }
    this.servedRooms.set(deviceId, rooms);
    return rooms;
  }

  /** Sessions a device serves now (in check-in or in progress). */
  sessionsForDevice(deviceId: string): string[] {
    return this.active()
      .filter((s) => this.serves(deviceId, s))
      .map((s) => s.id);
  }

  /**
   * Creates a session. The same code with the same content answers the existing session
   * (`created: false`) so a platform may retry; the same code with other content is 409.
   */
  async create(input: NewSession, actor: Actor): Promise<{ session: Session; created: boolean }> {
    const { facility, store, events, clock } = this.deps;
    const rooms = input.rooms && input.rooms.length ? [...new Set(input.rooms)] : facility.rooms.map((r) => r.id);
    const opensMinutes = input.checkInOpensMinutes ?? facility.policy.checkIn.opensMinutes;
    const existing = [...this.cache.values()].find((s) => s.code === input.code);
    const same = existing && existing.name === input.name && existing.start === input.start && existing.end === input.end && JSON.stringify(existing.rooms) === JSON.stringify(rooms) && existing.opensMinutes === opensMinutes;
    // A platform retrying a push it made earlier gets the session, even once that has ended.
    if (existing && same) return { session: existing, created: false };

    const problems = sessionTimeProblems(input.start, input.end, clock.now());
    const unknown = rooms.filter((r) => !this.seatsOf.has(r));
    if (unknown.length) problems.push({ field: 'body.rooms', message: `body.rooms 房间不存在 / names rooms that do not exist: ${unknown.join(', ')} (rooms: ${[...this.seatsOf.keys()].join(', ')})` });
    if (problems.length) throw new HubError('HUB_ERR_VALIDATION', [problems.map((p) => p.message).join('; ')], { field: problems[0]!.field, problems });

    if (existing) {
      throw new HubError('HUB_ERR_CONFLICT', [`a session with code ${input.code} already exists with other details (id ${existing.id})`], { id: existing.id });
    }
    const id = `s-${randomBytes(6).toString('hex')}`;
    const span: SessionSpan = { id, start: input.start, end: input.end, rooms, experts: input.expectedExperts ?? 0 };
    const problem = capacityProblem(span, this.spans(), this.roomSeats());
    if (problem) throw new HubError('HUB_ERR_UNPROCESSABLE', [`the seating rule cannot hold: ${problem}`], { rule: 'one expert of a session per room' });
    const now = clock.now();
    const status = statusAt({ start: input.start, end: input.end, opensMinutes, closedAt: null }, now);
    const session: Session = {
      id,
      code: input.code,
      name: input.name,
      start: input.start,
      end: input.end,
      rooms,
      opensMinutes,
      expectedExperts: input.expectedExperts ?? null,
      status,
      createdAt: now,
      createdBy: actor,
      closedAt: status === 'closed' ? now : null,
      closedBy: status === 'closed' ? 'automation:scheduler' : null,
    };
    await store.write(() => {
      store.db
        .prepare(
          'INSERT INTO sessions (id, code, name, start, end, rooms, opens_minutes, expected_experts, status, created_at, created_by, closed_at, closed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(id, session.code, session.name, session.start, session.end, JSON.stringify(rooms), opensMinutes, session.expectedExperts, status, now, actor, session.closedAt, session.closedBy);
      events.appendInTx({ type: 'session.created', actor, sessionIds: [id], data: { code: session.code, name: session.name, start: session.start, end: session.end, rooms, status } });
    });
    this.cache.set(id, session);
    this.sorted = null;
    this.deps.bus.emit('session.status', { sessionId: id, from: null, to: status });
    this.schedule();
    return { session, created: true };
  }

  /** Admin close: ends the session now and releases what was bound to it. */
  async close(id: string, actor: Actor, reason = 'closed by an administrator'): Promise<Session> {
    return this.closeNow(id, actor, reason, (s) => (s.status === 'closed' ? s : null));
  }

  /**
   * Closes the session now. The scheduler may move it (scheduled → check-in → in-progress)
   * between the read and the commit: the conditional UPDATE then misses and the close is
   * tried again from the status it lost to (`settled` is asked again each time), so an
   * admin's close or cancel is never answered without having happened.
   */
  private async closeNow(id: string, actor: Actor, reason: string, settled: (s: Session) => Session | null): Promise<Session> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const s = this.cache.get(id);
      if (!s) throw new HubError('HUB_ERR_NOT_FOUND', [`session ${id}`]);
      const answer = settled(s);
      if (answer) return answer;
      const after = await this.transition(s, 'closed', actor, reason);
      if (after.status === 'closed') return after;
    }
    throw new HubError('HUB_ERR_CONFLICT', [`会话状态正在变化，请重试 / session ${id} kept changing status while it was being closed; try again`]);
  }

  /**
   * Admin cancel of a session that has not started (a wrong push, a postponed project):
   * it closes now, before its start, which is what marks it cancelled (`cancelledAt`).
   * Its code stays taken: the record of what was pushed is kept.
   */
  async cancel(id: string, actor: Actor): Promise<Session> {
    const closed = await this.closeNow(id, actor, 'cancelled before its start', (s) => {
      if (s.status === 'closed') throw new HubError('HUB_ERR_CONFLICT', [`会话已关闭 / session ${s.code} is already closed`], { status: s.status });
      if (this.deps.clock.now() >= s.start) throw new HubError('HUB_ERR_CONFLICT', [`会话已开始，只能关闭 / session ${s.code} has started (${new Date(s.start).toISOString()}); close it instead`], { status: s.status });
      return null;
    });
    this.deps.log.info({ sessionId: closed.id, code: closed.code, actor }, 'session cancelled');
    return closed;
  }

  /** Checks that a roster of `experts` people keeps the seating rule for this session. */
  rosterProblem(sessionId: string, experts: number): string | null {
    const s = this.cache.get(sessionId);
    if (!s) return `session ${sessionId} not found`;
    return capacityProblem({ id: s.id, start: s.start, end: s.end, rooms: s.rooms, experts }, this.spans(), this.roomSeats());
  }

  roomSeats(): { id: string; seats: number }[] {
    return this.deps.facility.rooms.map((r) => ({ id: r.id, seats: r.seats }));
  }

  /**
   * Runs the transitions that are due and sets the timer for the next one. Ticks run one
   * after another: a timer firing while an explicit tick is under way must not apply the
   * same transition twice.
   */
  tick(): Promise<void> {
    const run = this.ticking.then(async () => {
      const now = this.deps.clock.now();
      for (const s of this.list()) {
        const due = statusAt(s, now);
        if (due !== s.status) await this.transition(s, due, 'automation:scheduler', 'scheduled time reached');
      }
      this.schedule();
    });
    this.ticking = run.catch(() => undefined);
    return run;
  }

  private spans(): SessionSpan[] {
    const experts = new Map(
      (this.deps.store.stmt('SELECT session_id, COUNT(*) AS n FROM roster GROUP BY session_id').all() as { session_id: string; n: number }[]).map((r) => [r.session_id, r.n]),
    );
    return this.list()
      .filter((s) => s.status !== 'closed')
      .map((s) => ({ id: s.id, start: s.start, end: s.end, rooms: s.rooms, experts: experts.get(s.id) ?? s.expectedExperts ?? 0 }));
  }

  private async transition(s: Session, to: SessionStatus, actor: Actor, reason: string): Promise<Session> {
    const { store, events, clock } = this.deps;
    const now = clock.now();
    const from = s.status;
    const next: Session = { ...s, status: to, ...(to === 'closed' ? { closedAt: now, closedBy: actor } : {}) };
    const applied = await store.write(() => {
      // Only from the status this transition was computed from (an admin close may have won).
      const r = store.stmt('UPDATE sessions SET status = ?, closed_at = ?, closed_by = ? WHERE id = ? AND status = ?').run(to, next.closedAt, next.closedBy, s.id, from);
      if (r.changes === 0) return false;
      events.appendInTx({ type: 'session.status', actor, sessionIds: [s.id], data: { code: s.code, from, to, reason } });
      if (to === 'closed') for (const hook of this.closeHooks) hook(next, now);
      return true;
    });
    if (!applied) {
      this.reload();
      return this.cache.get(s.id) ?? next;
    }
    this.cache.set(s.id, next);
    this.sorted = null;
    this.deps.log.info({ sessionId: s.id, code: s.code, from, to }, 'session status changed');
    this.deps.bus.emit('session.status', { sessionId: s.id, from, to });
    if (to === 'closed') this.schedule();
    return next;
  }

  private schedule(): void {
    this.timer?.cancel();
    this.timer = null;
    const times = this.list()
      .map(nextTransition)
      .filter((t): t is number => t !== null);
    if (times.length === 0) return;
    const at = Math.min(...times);
    // Re-checked at least every minute so a clock jump (NTP step) is caught up soon.
    const delay = Math.min(Math.max(0, at - this.deps.clock.now()), 60_000);
    this.timer = this.deps.clock.setTimeout(() => {
      this.tick().catch((err: unknown) => this.deps.log.error({ err }, 'session tick failed'));
    }, delay);
  }

  private reload(): void {
    const rows = this.deps.store.stmt('SELECT * FROM sessions').all() as SessionRow[];
    this.cache = new Map(rows.map((r) => [r.id, fromRow(r)]));
    this.sorted = null;
  }
}
