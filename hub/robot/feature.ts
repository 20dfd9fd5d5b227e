/**
 * The meal-delivery robot (docs/robot.md). This feature owns every delivery task: it
 * creates them (an admin or operator through the API, the meal schedule at meal time),
 * offers the oldest queued one to its robot (`dispatch`, idempotent by task id), follows
 * the robot's `task` reports through the pure life cycle of machine.ts, and answers fire,
 * low battery and faults. Every step is committed to the task table and to the session's
 * event log in one transaction before the robot's report is acknowledged, and announced on
 * the bus as `robot.task`, which the door feature follows; `activeTaskAt` is what the door
 * asks before it opens for a robot.
 */
import canonicalize from 'canonicalize';
import type { Actor } from '../../kernel/actor.js';
import type { TimerHandle } from '../../kernel/clock.js';
import type { DeviceConfig } from '../../config/schema.js';
import type { DeviceEventPayload, DeviceMessage, IngestOutcome } from '../../devices/seam.js';
import { checkEvent } from '../../devices/mqtt-device.js';
import { robotSpec, type ReportedState } from '../../devices/robot.js';
import type { Device } from '../../devices/types.js';
import { HubError } from '../errors.js';
import { cronProblems } from '../../config/checks.js';
import type { Feature, HubServices } from '../services.js';
import type { NewEvent } from '../store/events.js';
import { ON_ROBOT, isTerminal, step, type StepRecord, type TaskInput, type TaskState } from './machine.js';
import { MealSchedule } from './schedule.js';
import { TaskStore, type MealTime, type RobotTask } from './tasks.js';
import { robotRoutes } from './routes.js';

const OWNER = 'robot';
const ACTOR: Actor = 'automation:robot';

export type RobotDeps = Pick<HubServices, 'facility' | 'clock' | 'log' | 'bus' | 'store' | 'events' | 'sessions' | 'ingest' | 'devices' | 'availability'>;

/** Handed over by compose.ts: the seats of the experts inside now (check-in's view). */
export interface RobotOptions {
  insideSeats: (sessionId: string) => { room: string; seat: number }[];
}

export interface NewTask {
  id: string;
  sessionId: string;
  robotId?: string;
  door?: string;
  /** A stop's own session (meal runs serve several sessions in one room); default: `sessionId`. */
  stops: { room: string; seat: number; items: string[]; sessionId?: string }[];
  meal?: string;
}

export interface RobotFeature extends Feature {
  /** The task a robot carries through this door now (dispatched … delivered), or null: the door feature asks this. */
  activeTaskAt(doorId: string, robotId: string): string | null;
  tasks(q?: { sessionId?: string; state?: TaskState }): RobotTask[];
  get(id: string): RobotTask | null;
  /** Idempotent by id: the same request again answers the same task (`created: false`); another request with the id is a 409. */
  create(input: NewTask, actor: Actor): Promise<{ task: RobotTask; created: boolean }>;
  cancel(id: string, actor: Actor, reason: string): Promise<RobotTask>;
  resume(id: string, actor: Actor): Promise<RobotTask>;
  sessionMeals(sessionId: string): { meals: MealTime[]; own: boolean };
  setSessionMeals(sessionId: string, meals: MealTime[] | null, actor: Actor): Promise<{ meals: MealTime[]; own: boolean }>;
  /** The meal schedule's check for the clock's current minute (the cron timer calls it; tests call it with a ManualClock). */
  mealTick(): Promise<RobotTask[]>;
  /** Resolves once every step and command asked for so far has finished (tests). */
  idle(): Promise<void>;
}

export function createRobotFeature(deps: RobotDeps, opts: RobotOptions): RobotFeature {
  const { log, clock, facility } = deps;
  const cfg = facility.robot;
  const tasks = new TaskStore(deps.store, deps.events);
  const robots = (): DeviceConfig[] => facility.devices.filter((d) => d.kind === 'robot');
  const doors = facility.devices.filter((d) => d.kind === 'door');
  const defaultDoor = cfg.door ?? doors[0]?.id ?? null;
  const firePanels = new Set<string>();
  const lowBattery = new Set<string>();
  const sending = new Set<string>();
  const inflight = new Set<Promise<unknown>>();
  let retry: TimerHandle | null = null;
  let running = false;
  // Every change of a task runs after the one before: a report and an API call never interleave.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn, fn);
    chain = p.catch(() => undefined);
    return p;
  };
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => undefined);
    return p;
  };

  const device = (id: string): Device | undefined => deps.devices.get(id);
  const servesRoom = (r: DeviceConfig, room: string): boolean => r.rooms.length === 0 || r.rooms.includes(room);
  const robotFor = (rooms: string[]): DeviceConfig | undefined => robots().find((r) => rooms.every((room) => servesRoom(r, room)));

  const record = (t: RobotTask, rec: StepRecord, actor: Actor): NewEvent => ({
    type: 'robot.task',
    actor,
    deviceId: t.robotId,
    sessionIds: t.sessionIds,
    ts: t.updatedAt,
    data: { taskId: t.id, ...rec, doorId: t.doorId, ...(t.meal ? { meal: t.meal } : {}) },
  });

  const announce = (t: RobotTask): void => {
    deps.bus.emit('robot.task', { robotId: t.robotId, taskId: t.id, state: t.state, doorId: t.doorId, sessionId: t.sessionId });
  };

  /** Applies one input to a stored task: commits task + record, announces it; or answers why not. */
  const apply = async (t: RobotTask, input: TaskInput, actor: Actor): Promise<{ ok: true; task: RobotTask; record: StepRecord } | { ok: false; reason: string }> => {
    const r = step(t, input);
    if (!r.ok) return r;
    const next: RobotTask = { ...t, ...r.task, updatedAt: clock.now() };
    await tasks.update(next, record(next, r.record, actor));
    log.info({ taskId: t.id, robotId: t.robotId, from: r.record.from, to: r.record.to, step: r.record.step, reason: r.record.reason }, 'robot task step');
    announce(next);
    return { ok: true, task: next, record: r.record };
  };

  /** The robot has the task (out for it, or holding it parked by a fire). */
  const carried = (t: RobotTask): boolean => ON_ROBOT.includes(t.state) || (t.state === 'suspended' && t.suspendedFrom !== null && ON_ROBOT.includes(t.suspendedFrom));
  const carrying = (robotId: string): RobotTask | undefined => tasks.open(robotId).find(carried);

  /** Offers the oldest queued task to its robot, when it is free, present, charged and no fire is on. */
  const pump = (robotId?: string): void => {
    if (!running || firePanels.size > 0) return;
    for (const r of robotId ? robots().filter((x) => x.id === robotId) : robots()) {
      if (sending.has(r.id) || lowBattery.has(r.id) || !deps.availability.isAvailable(r.id)) continue;
      if (carrying(r.id)) continue;
      const next = tasks.open(r.id).find((t) => t.state === 'queued');
      const d = device(r.id);
      if (!next || !d) continue;
      sending.add(r.id);
      void track(
        d
          .execute({ cmd: 'dispatch', args: { taskId: next.id, door: next.doorId, stops: next.stops.map((s) => ({ room: s.room, seat: s.seat, items: s.items })) }, issuer: ACTOR, sessionId: next.sessionId })
          .then((o) => {
            if (!o.ok) log.warn({ robotId: r.id, taskId: next.id, outcome: o.outcome, error: o.error }, 'robot did not take the task; offered again later');
          })
          .catch((err: unknown) => log.error({ err, robotId: r.id }, 'dispatch failed'))
          .finally(() => {
            sending.delete(r.id);
            // The robot reports `dispatched` when it sets off; until then the task stays queued
            // and is offered again (the robot answers a task it already carries without starting twice).
            armRetry();
          }),
      );
    }
  };

  const armRetry = (): void => {
    if (!running || retry) return;
    retry = clock.setTimeout(() => {
      retry = null;
      pump();
      if (tasks.open().some((t) => t.state === 'queued')) armRetry();
    }, cfg.retryMs);
  };

  const command = async (t: RobotTask, cmd: 'cancel' | 'resume', actor: Actor): Promise<void> => {
    const d = device(t.robotId);
    if (!d) throw new HubError('HUB_ERR_CONFLICT', [`机器人 ${t.robotId} 不存在 / robot ${t.robotId} is not configured`]);
    const o = await d.execute({ cmd, args: cmd === 'cancel' ? { taskId: t.id } : {}, issuer: actor, sessionId: t.sessionId });
    if (o.outcome === 'unavailable') throw new HubError('HUB_ERR_DEVICE_UNAVAILABLE', [t.robotId], o);
    if (o.outcome === 'timeout') throw new HubError('HUB_ERR_DEVICE_TIMEOUT', [t.robotId], o);
    if (!o.ok) throw new HubError('HUB_ERR_DEVICE_REJECTED', [t.robotId, o.error ?? 'refused'], o);
  };

  // --- the robot's reports ---

  const rejectReport = async (robotId: string, event: DeviceEventPayload, sessionIds: string[], reason: string): Promise<IngestOutcome> => {
    log.warn({ robotId, taskId: event.taskId, state: event.state, reason }, 'robot report rejected');
    await deps.events.append({ type: 'robot.report.rejected', actor: `device:${robotId}`, deviceId: robotId, sessionIds, data: { taskId: event.taskId, state: event.state, reason } });
    return { accepted: false, reason };
  };

  const onTaskReport = (robotId: string, event: DeviceEventPayload): Promise<IngestOutcome> =>
    serial(async () => {
      const id = String(event.taskId);
      const t = tasks.get(id);
      if (!t) return rejectReport(robotId, event, deps.sessions.sessionsForDevice(robotId), `unknown task ${id}`);
      if (t.robotId !== robotId) return rejectReport(robotId, event, t.sessionIds, `task ${id} belongs to ${t.robotId}, not ${robotId}`);
      const input: TaskInput = {
        kind: 'report',
        state: event.state as ReportedState,
        ...(typeof event.room === 'string' ? { room: event.room } : {}),
        ...(typeof event.seat === 'number' ? { seat: event.seat } : {}),
        ...(typeof event.reason === 'string' ? { reason: event.reason } : {}),
      };
      const r = await apply(t, input, `device:${robotId}`);
      if (!r.ok) return rejectReport(robotId, event, t.sessionIds, `task ${id}: ${r.reason}`);
      if (isTerminal(r.task.state)) pump(robotId);
      return { accepted: true };
    });

  /** Low battery or a fault: tasks not yet in the area go back to the queue, the others fail. */
  const onTrouble = (robotId: string, why: string): Promise<void> =>
    serial(async () => {
      for (const t of tasks.open(robotId)) {
        const r = await apply(t, { kind: 'robot-trouble', reason: why }, ACTOR);
        if (!r.ok) continue;
        // The robot drops it (it is going to its dock); a re-queued task is offered afresh later.
        if (carried(t)) {
          void track(command(t, 'cancel', ACTOR).catch((err: unknown) => log.warn({ err: String(err), taskId: t.id }, 'robot not told to drop the task')));
        }
      }
    });

  const onRobotEvent = async (m: DeviceMessage): Promise<IngestOutcome> => {
    const parsed = checkEvent(robotSpec, m.payload, clock.now());
    if ('error' in parsed) return { accepted: false, reason: parsed.error };
    const event = parsed.event;
    if (event.type === 'task') return onTaskReport(m.deviceId, event);
    const d = device(m.deviceId);
    const stored = d?.handleMessage ? await d.handleMessage(m) : { accepted: false as const, reason: 'no robot model' };
    if (!stored.accepted) return stored;
    if (event.type === 'battery-low') {
      lowBattery.add(m.deviceId);
      await onTrouble(m.deviceId, `battery-low${typeof event.battery === 'number' ? ` (${event.battery}%)` : ''}`);
    } else if (event.type === 'fault') {
      await onTrouble(m.deviceId, `fault${typeof event.code === 'string' ? `: ${event.code}` : ''}`);
    }
    return { accepted: true };
  };

  // --- fire ---

  const onFire = (p: { active: boolean; deviceId: string }): Promise<void> =>
    serial(async () => {
      if (!p.active) {
        firePanels.delete(p.deviceId);
        // Suspended tasks stay suspended until an admin resumes them (docs/robot.md, "Fire").
        if (firePanels.size === 0) log.warn('fire alarm cleared: suspended robot tasks wait for an admin to resume them');
        pump();
        return;
      }
      firePanels.add(p.deviceId);
      for (const t of tasks.open()) {
        if (t.state === 'suspended') continue;
        await apply(t, { kind: 'suspend', reason: `fire alarm (${p.deviceId})` }, ACTOR);
      }
    });

  // --- creating tasks ---

  const problem = (field: string, message: string): HubError => new HubError('HUB_ERR_VALIDATION', [`${field}: ${message}`], { field });

  const create = (input: NewTask, actor: Actor): Promise<{ task: RobotTask; created: boolean }> =>
    serial(async () => {
      const request = canonicalize({ ...input, robotId: input.robotId ?? null, door: input.door ?? null, meal: input.meal ?? null }) ?? '';
      const existing = tasks.get(input.id);
      if (existing) {
        if (existing.request === request) return { task: existing, created: false };
        throw new HubError('HUB_ERR_CONFLICT', [`任务编号 ${input.id} 已用于另一请求 / task id ${input.id} is already used by a different request`], { field: 'body.id', taskId: input.id });
      }
      const session = deps.sessions.get(input.sessionId);
      if (!session) throw problem('body.sessionId', `找不到该场次 / no session ${input.sessionId}`);
      if (session.status === 'closed') throw new HubError('HUB_ERR_CONFLICT', [`场次已结束 / session ${session.code} is closed`], { field: 'body.sessionId' });
      const seen = new Set<string>();
      const sessionIds = new Set<string>([session.id]);
      input.stops.forEach((s, i) => {
        const own = s.sessionId === undefined ? session : deps.sessions.get(s.sessionId);
        if (!own || own.status === 'closed') throw problem(`body.stops[${i}].sessionId`, `场次不存在或已结束 / no open session ${String(s.sessionId)}`);
        sessionIds.add(own.id);
        const room = facility.rooms.find((r) => r.id === s.room);
        if (!room) throw problem(`body.stops[${i}].room`, `没有该房间 / no room ${s.room} (rooms: ${facility.rooms.map((r) => r.id).join(', ')})`);
        if (own.rooms.length > 0 && !own.rooms.includes(s.room)) throw problem(`body.stops[${i}].room`, `不是该场次的房间 / ${s.room} is not a room of session ${own.code} (${own.rooms.join(', ')})`);
        if (s.seat > room.seats) throw problem(`body.stops[${i}].seat`, `座位号超出 / ${s.room} has seats 1 to ${room.seats}, found ${s.seat}`);
        if (seen.has(`${s.room}#${s.seat}`)) throw problem(`body.stops[${i}].seat`, `座位重复 / ${s.room} seat ${s.seat} is listed twice`);
        seen.add(`${s.room}#${s.seat}`);
      });
      const rooms = [...new Set(input.stops.map((s) => s.room))];
      let robot: DeviceConfig | undefined;
      if (input.robotId !== undefined) {
        robot = robots().find((r) => r.id === input.robotId);
        if (!robot) throw problem('body.robotId', `不是机器人 / ${input.robotId} is not a robot (robots: ${robots().map((r) => r.id).join(', ') || 'none'})`);
        const off = rooms.find((room) => !servesRoom(robot!, room));
        if (off) throw problem('body.robotId', `机器人不服务该房间 / ${robot.id} does not serve ${off}`);
      } else {
        robot = robotFor(rooms);
        if (!robot) throw problem('body.stops', `没有机器人服务这些房间 / no robot serves ${rooms.join(', ')}`);
      }
      const door = input.door ?? defaultDoor;
      if (!door || !doors.some((d) => d.id === door)) throw problem('body.door', `不是门禁设备 / ${String(door)} is not a door (doors: ${doors.map((d) => d.id).join(', ') || 'none'})`);
      const now = clock.now();
      const task: RobotTask = {
        id: input.id,
        robotId: robot.id,
        sessionId: session.id,
        sessionIds: [...sessionIds],
        doorId: door,
        stops: input.stops.map((s) => ({ room: s.room, seat: s.seat, items: [...s.items], delivered: false, ...(s.sessionId !== undefined ? { sessionId: s.sessionId } : {}) })),
        state: 'queued',
        suspendedFrom: null,
        reason: null,
        source: actor,
        meal: input.meal ?? null,
        request,
        createdAt: now,
        updatedAt: now,
      };
      const first = record(task, { step: 'queued', from: 'queued', to: 'queued' }, actor);
      const ok = await tasks.insert(task, { ...first, data: { ...first.data, stops: task.stops.map((s) => ({ room: s.room, seat: s.seat, items: s.items, ...(s.sessionId ? { sessionId: s.sessionId } : {}) })) } });
      if (!ok) return { task: tasks.get(input.id)!, created: false };
      log.info({ taskId: task.id, robotId: task.robotId, sessionId: task.sessionId, stops: task.stops.length, by: actor }, 'robot task queued');
      announce(task);
      pump(task.robotId);
      return { task, created: true };
    });

  const known = (id: string): RobotTask => {
    const t = tasks.get(id);
    if (!t) throw new HubError('HUB_ERR_NOT_FOUND', [`送餐任务 / robot task ${id}`]);
    return t;
  };

  const schedule = new MealSchedule({
    clock,
    log: log.child({ part: 'meals' }),
    utcOffset: facility.site.utcOffset,
    mealsOf: (sessionId) => tasks.sessionMeals(sessionId) ?? cfg.meals,
    sessions: () => deps.sessions.list().filter((s) => s.status === 'in-progress'),
    insideSeats: opts.insideSeats,
    robotFor: (room) => robotFor([room])?.id ?? null,
    create: async (input) => (await create(input, 'automation:robot-meals')).task,
    skipped: (sessionId, meal, reason) =>
      deps.events.append({ type: 'robot.meal.skipped', actor: 'automation:robot-meals', sessionIds: [sessionId], data: { meal, reason } }).then(() => undefined),
  });

  const feature: RobotFeature = {
    name: 'robot',
    routes: async (app, apiDeps) => robotRoutes(app, apiDeps, feature),
    async start() {
      running = true;
      deps.ingest.register('robot', 'event', onRobotEvent);
      deps.bus.on(OWNER, 'fire.alarm', onFire);
      deps.bus.on(OWNER, 'device.availability', (p) => {
        if (p.kind === 'robot' && p.available) pump(p.deviceId);
      });
      deps.bus.on(OWNER, 'device.state', (p) => {
        const battery = p.state.battery;
        if (lowBattery.has(p.deviceId) && typeof battery === 'number' && battery >= cfg.resumeBatteryPercent) {
          lowBattery.delete(p.deviceId);
          log.info({ robotId: p.deviceId, battery }, 'robot charged: tasks are offered again');
          pump(p.deviceId);
        }
      });
      schedule.start();
      pump();
      if (tasks.open().some((t) => t.state === 'queued')) armRetry();
    },
    async stop() {
      running = false;
      schedule.stop();
      retry?.cancel();
      retry = null;
      deps.bus.removeOwner(OWNER);
      // The steps under way finish; a command still waiting for the robot's answer is the ledger's to close.
      await chain;
    },
    activeTaskAt(doorId, robotId) {
      const t = tasks.open(robotId).find((x) => x.doorId === doorId && ON_ROBOT.includes(x.state));
      return t ? t.id : null;
    },
    tasks: (q = {}) => tasks.list(q),
    get: (id) => tasks.get(id),
    create,
    // The robot's answer is awaited outside the task chain: its reports queue on that chain,
    // and a robot that reports before it acknowledges must not wait on itself.
    async cancel(id, actor, reason) {
      const t = known(id);
      if (isTerminal(t.state)) throw new HubError('HUB_ERR_CONFLICT', [`任务已${t.state === 'returned' ? '完成' : '结束'} / task ${id} is ${t.state}`], { state: t.state });
      // The robot carrying it must drop it first: a task the hub calls cancelled is not still on its way.
      if (carried(t)) await command(t, 'cancel', actor);
      return serial(async () => {
        const r = await apply(known(id), { kind: 'cancel', reason }, actor);
        if (!r.ok) throw new HubError('HUB_ERR_CONFLICT', [r.reason]);
        pump(t.robotId);
        return r.task;
      });
    },
    async resume(id, actor) {
      const t = known(id);
      if (t.state !== 'suspended') throw new HubError('HUB_ERR_CONFLICT', [`任务未暂停 / task ${id} is ${t.state}, not suspended`], { state: t.state });
      if (firePanels.size > 0) throw new HubError('HUB_ERR_CONFLICT', [`火警未解除 / the fire alarm is still active (${[...firePanels].join(', ')}): tasks stay suspended`], { panels: [...firePanels] });
      if (carried(t)) await command(t, 'resume', actor);
      return serial(async () => {
        const r = await apply(known(id), { kind: 'resume' }, actor);
        if (!r.ok) throw new HubError('HUB_ERR_CONFLICT', [r.reason]);
        pump(t.robotId);
        return r.task;
      });
    },
    sessionMeals: (sessionId) => {
      if (!deps.sessions.get(sessionId)) throw new HubError('HUB_ERR_NOT_FOUND', [`场次 / session ${sessionId}`]);
      const own = tasks.sessionMeals(sessionId);
      return { meals: own ?? cfg.meals, own: own !== null };
    },
    setSessionMeals: async (sessionId, meals, actor) => {
      if (!deps.sessions.get(sessionId)) throw new HubError('HUB_ERR_NOT_FOUND', [`场次 / session ${sessionId}`]);
      const names = new Set<string>();
      (meals ?? []).forEach((m, i) => {
        const bad = cronProblems(m.cron, `body.meals[${i}].cron`)[0];
        if (bad) throw problem(bad.path, `无效的 cron 表达式 / ${bad.expected}, found ${bad.found}`);
        if (names.has(m.name)) throw problem(`body.meals[${i}].name`, `餐次名称重复 / meal ${m.name} is listed twice`);
        names.add(m.name);
      });
      await tasks.setSessionMeals(sessionId, meals, actor, clock.now(), { type: 'robot.meals', actor, sessionIds: [sessionId], data: { meals: meals ?? 'facility' } });
      log.info({ sessionId, meals, by: actor }, 'session meal times set');
      return feature.sessionMeals(sessionId);
    },
    mealTick: () => schedule.tick(),
    async idle() {
      for (;;) {
        const c = chain;
        await Promise.all([c, ...inflight]);
        if (inflight.size === 0 && c === chain) return;
      }
    },
  };
  return feature;
}
