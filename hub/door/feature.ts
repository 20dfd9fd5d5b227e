/**
 * The sealed evaluation area's door (docs/door.md). The door controller asks before
 * letting anything through (`open-request`); this feature answers `grant` or `deny` per
 * `policy.ts` (the robot only with an active task at that door; nobody else while a session
 * runs, and that attempt is an alarm), logs every decision with its requester against the
 * running sessions, raises `forced-open` (critical, acknowledged by a person) and
 * `held-open` (major, cleared on `closed`), and makes sure the door is closed and locked
 * behind the robot: once the robot's task is past the door it sends `lock` and waits for the
 * door to report locked and closed (written, read back, compared); a door that does not
 * within `policy.door.lockCheckSeconds` is a critical alarm, like a jammer relay that does
 * not follow.
 *
 * Fire: the fire feature unlocks the doors per `fire.door`. While any panel is in alarm this
 * feature grants every request and never relocks (exits stay open); once every panel has
 * cleared it relocks every door, with the same check.
 *
 * Only this feature (and the fire feature) switch a door: it claims each door at start, so
 * the generic command API refuses open/unlock/lock/grant with 409. An admin opens the door
 * through `POST /api/doors/{id}/open` with a reason, logged with the user.
 */
import type { TimerHandle } from '../../kernel/clock.js';
import type { Actor } from '../../kernel/actor.js';
import type { CommandOutcome } from '../../devices/seam.js';
import type { DeviceCommand } from '../../devices/types.js';
import { AlarmLatch } from '../../devices/alarm.js';
import { doorStateOf, type DoorState, type Requester } from '../../devices/door.js';
import { HubError } from '../errors.js';
import type { HubEvents } from '../events.js';
import type { Feature, HubServices } from '../services.js';
import { decideOpen, denyMessage, DOORWAY_STATES, TASK_PAST_DOOR_STATES, type DoorDecision } from './policy.js';
import { doorRoutes } from './routes.js';

export const DOOR_OWNER = 'door';
const ACTOR: Actor = 'automation:door';
/** Decisions kept per door for GET /api/doors (the event log has them all). */
const RECENT = 20;

/** What the feature needs of a door device (devices/door.ts). */
export interface DoorHandle {
  readonly id: string;
  execute(command: DeviceCommand): Promise<CommandOutcome>;
  claim(owner: string): void;
}

export type DoorDeps = Pick<HubServices, 'facility' | 'bus' | 'clock' | 'log' | 'events' | 'availability' | 'alarms' | 'runningSessions'> & {
  /** The door devices of the facility (they exist once the hub has started its devices). */
  doors: () => DoorHandle[];
  /** The robot's active task at this door, or null (the robot feature's `activeTaskAt`). */
  robotTaskAt: (doorId: string, robotId: string) => string | null;
};

export interface DecisionRecord {
  at: number;
  requestId: string;
  requester: Requester;
  decision: 'grant' | 'deny';
  /** grant: robot-task | fire | outside-sessions; deny: the reason sent to the door. */
  why: string;
  taskId: string | null;
  sessionIds: string[];
  /** Whether the door acknowledged the answer. */
  delivered: boolean;
}

export interface DoorView {
  id: string;
  name: string;
  available: boolean;
  locked: boolean | null;
  contact: 'open' | 'closed' | null;
  /** A lock written and not yet reported back (since when), or null. */
  lockCheck: { since: number; why: string } | null;
  alarms: { id: string; severity: string; message: string; raisedAt: number }[];
  decisions: DecisionRecord[];
}

export interface DoorFeature extends Feature {
  snapshot(): { fireActive: boolean; doors: DoorView[] };
  /** Admin open with a reason (logged with the user); throws HubError (404, 502, 503, 504). */
  adminOpen(doorId: string, reason: string, username: string): Promise<CommandOutcome>;
  /** Resolves once every decision, command and record under way has finished (tests). */
  idle(): Promise<void>;
}

export function createDoorFeature(deps: DoorDeps): DoorFeature {
  const { bus, clock, log, events } = deps;
  const policy = deps.facility.policy.door;
  const firePanels = new Set<string>();
  const decisions = new Map<string, DecisionRecord[]>();
  const lastTask = new Map<string, { taskId: string; state: string; doorId: string | null }>();
  const checks = new Map<string, { since: number; why: string; timer: TimerHandle }>();
  const alarms = new AlarmLatch({ source: DOOR_OWNER, actor: ACTOR, bus, events, log, sessionIds: () => deps.runningSessions() });
  // One queue per door: its decisions, alarms and locks in the order they happened; a door
  // slow to acknowledge never holds up another.
  const queues = new Map<string, Promise<unknown>>();
  const later = (doorId: string, job: () => Promise<unknown>): void => {
    const next = (queues.get(doorId) ?? Promise.resolve()).then(job).catch((err: unknown) => log.error({ err, doorId }, 'door job failed'));
    queues.set(doorId, next);
  };
  const drain = async (): Promise<void> => {
    let pending = [...queues.values()];
    while (pending.length) {
      await Promise.all(pending);
      const now = [...queues.values()];
      pending = now.filter((q) => !pending.includes(q));
    }
  };

  const door = (id: string): DoorHandle | undefined => deps.doors().find((d) => d.id === id);
  const stateOf = (id: string): DoorState => doorStateOf(deps.availability.get(id)?.state);
  const secure = (s: DoorState): boolean => s.locked === true && s.contact === 'closed';
  const fireActive = (): boolean => firePanels.size > 0;
  const notLockedId = (id: string): string => `door-not-locked:${id}`;

  /** Something that happened (not a condition): listed until a person acknowledges it. */
  const oneShot = async (a: { id: string; severity: 'warning' | 'critical'; message: string; deviceId: string; data: Record<string, unknown> }): Promise<void> => {
    log[a.severity === 'critical' ? 'error' : 'warn']({ alarm: a.id, ...a.data }, a.message);
    bus.emit('alarm.raised', { id: a.id, source: DOOR_OWNER, severity: a.severity, message: a.message, deviceId: a.deviceId, oneShot: true });
    await events.append({ type: 'alarm.raised', actor: ACTOR, deviceId: a.deviceId, sessionIds: deps.runningSessions(), data: { id: a.id, source: DOOR_OWNER, severity: a.severity, message: a.message, oneShot: true, ...a.data } });
  };

  const remember = (doorId: string, r: DecisionRecord): void => {
    const list = decisions.get(doorId) ?? [];
    list.unshift(r);
    if (list.length > RECENT) list.length = RECENT;
    decisions.set(doorId, list);
  };

  const onRequest = async (doorId: string, requestId: string, requester: Requester): Promise<void> => {
    const sessionIds = deps.runningSessions();
    const d: DoorDecision = decideOpen({
      requester,
      robotTask: requester.kind === 'robot' ? deps.robotTaskAt(doorId, requester.id) : null,
      runningSessions: sessionIds,
      fireActive: fireActive(),
      outsideSessions: policy.outsideSessions,
    });
    const why = d.decision === 'grant' ? d.why : d.reason;
    const taskId = d.decision === 'grant' ? (d.taskId ?? null) : null;
    const record: DecisionRecord = { at: clock.now(), requestId, requester, decision: d.decision, why, taskId, sessionIds, delivered: false };
    remember(doorId, record);
    // The decision is durable before the door hears it.
    await events.append({ type: 'door.decision', actor: ACTOR, deviceId: doorId, sessionIds, data: { requestId, requester: { ...requester }, decision: d.decision, why, taskId } });
    if (d.decision === 'grant') log.info({ doorId, requestId, requester, why, taskId }, 'door open-request granted');
    else log.warn({ doorId, requestId, requester, reason: d.reason }, 'door open-request denied');
    const target = door(doorId);
    if (target) {
      const outcome = await target.execute(
        d.decision === 'grant'
          ? { cmd: 'grant', args: { requestId }, issuer: ACTOR }
          : { cmd: 'deny', args: { requestId, reason: d.reason, message: denyMessage(d.reason) }, issuer: ACTOR },
      );
      record.delivered = outcome.ok;
      if (!outcome.ok) log.error({ doorId, requestId, decision: d.decision, outcome: outcome.outcome, error: outcome.error }, 'door did not take the answer to its open-request');
    }
    if (d.decision === 'deny' && d.alarm) {
      const who = `${requester.kind} ${requester.id}`;
      await oneShot({
        id: `door-denied:${doorId}:${requestId}`,
        severity: 'warning',
        deviceId: doorId,
        message: `评标期间有人请求进入封闭区：${doorId}，${who}，已拒绝 / Entry to the sealed area requested during a session at ${doorId} by ${who}: denied`,
        data: { requestId, requester: { ...requester }, reason: d.reason },
      });
    }
  };

  /** The door must end up locked and closed: `lock`, then its report compared within lockCheckSeconds. */
  const relock = async (doorId: string, why: string): Promise<void> => {
    const target = door(doorId);
    if (!target) return;
    if (fireActive()) {
      log.info({ doorId, why }, 'door not relocked: a fire alarm is active (exits stay open)');
      return;
    }
    checks.get(doorId)?.timer.cancel();
    checks.delete(doorId);
    const outcome = await target.execute({ cmd: 'lock', args: {}, issuer: ACTOR });
    await events.append({ type: 'door.lock', actor: ACTOR, deviceId: doorId, sessionIds: deps.runningSessions(), data: { why, outcome: outcome.outcome, ...(outcome.error ? { error: outcome.error } : {}) } });
    if (fireActive()) {
      // The alarm came while the lock was on its way: a retry of it may reach the door after
      // the fire feature's unlock, so the unlock is said again (exits stay open).
      if (deps.facility.fire.door === 'unlock') {
        const again = await target.execute({ cmd: 'unlock', args: {}, issuer: ACTOR });
        if (!again.ok) log.error({ doorId, outcome: again.outcome, error: again.error }, 'door not unlocked again after a lock crossed the fire alarm');
      }
      return;
    }
    if (!outcome.ok) {
      await raiseNotLocked(doorId, why, `lock ${outcome.outcome}${outcome.error ? `: ${outcome.error}` : ''}`);
      return;
    }
    if (secure(stateOf(doorId))) {
      await alarms.clear(notLockedId(doorId), 'the door reports locked and closed');
      return;
    }
    const since = clock.now();
    const timer = clock.setTimeout(() => {
      checks.delete(doorId);
      if (fireActive() || secure(stateOf(doorId))) return;
      const s = stateOf(doorId);
      later(doorId, () => raiseNotLocked(doorId, why, `reports locked=${String(s.locked)}, contact=${String(s.contact)} ${policy.lockCheckSeconds} s after the lock`));
    }, policy.lockCheckSeconds * 1000);
    checks.set(doorId, { since, why, timer });
  };

  const raiseNotLocked = (doorId: string, why: string, found: string): Promise<boolean> =>
    alarms.raise({
      id: notLockedId(doorId),
      severity: 'critical',
      deviceId: doorId,
      message: `封闭区门未能锁闭：${doorId} / Door ${doorId} did not lock: ${found}`,
      data: { why, found },
    });

  const onDoorState = (p: HubEvents['device.state']): void => {
    if (!door(p.deviceId)) return;
    if (reconnected.delete(p.deviceId)) sealIfRunning(p.deviceId, 'the door came back online during a session');
    if (!secure(doorStateOf(p.state))) return;
    const check = checks.get(p.deviceId);
    check?.timer.cancel();
    checks.delete(p.deviceId);
    if (alarms.isActive(notLockedId(p.deviceId))) later(p.deviceId, () => alarms.clear(notLockedId(p.deviceId), 'the door reports locked and closed'));
  };

  const onDeviceEvent = (p: HubEvents['device.event']): void => {
    if (p.kind !== 'door') return;
    const doorId = p.deviceId;
    const e = p.event;
    switch (e.type) {
      case 'open-request': {
        const requester = e.requester as Requester;
        const requestId = e.requestId as string;
        later(doorId, () => onRequest(doorId, requestId, requester));
        return;
      }
      case 'forced-open':
        later(doorId, () =>
          oneShot({
            id: `door-forced:${doorId}:${e.ts}`,
            severity: 'critical',
            deviceId: doorId,
            message: `封闭区门被强行打开：${doorId} / Door ${doorId} forced open`,
            data: { fireActive: fireActive() },
          }),
        );
        return;
      case 'held-open':
        if (fireActive()) {
          log.info({ doorId }, 'door held open during a fire alarm (expected: exits stay open)');
          return;
        }
        later(doorId, () =>
          alarms.raise({
            id: `door-held:${doorId}`,
            severity: 'warning',
            deviceId: doorId,
            message: `封闭区门长时间未关：${doorId} / Door ${doorId} held open`,
            data: { ...(typeof e.seconds === 'number' ? { seconds: e.seconds } : {}) },
          }),
        );
        return;
      case 'closed':
        later(doorId, () => alarms.clear(`door-held:${doorId}`, 'the door reported closed'));
        return;
      default:
        return;
    }
  };

  const onRobotTask = (p: HubEvents['robot.task']): void => {
    const before = lastTask.get(p.robotId);
    lastTask.set(p.robotId, { taskId: p.taskId, state: p.state, doorId: p.doorId });
    if (p.doorId === null || !door(p.doorId)) return;
    const repeated = before?.taskId === p.taskId && before.state === p.state;
    // Through the door (inside or done), or out of the doorway some other way (re-queued).
    const past = (TASK_PAST_DOOR_STATES as readonly string[]).includes(p.state);
    const leftDoorway = before !== undefined && (DOORWAY_STATES as readonly string[]).includes(before.state) && !(DOORWAY_STATES as readonly string[]).includes(p.state);
    if (repeated || !(past || leftDoorway)) return;
    const doorId = p.doorId;
    later(doorId, () => relock(doorId, `robot ${p.robotId} task ${p.taskId} ${p.state}`));
  };

  const robotInDoorway = (doorId: string): boolean =>
    [...lastTask.values()].some((t) => t.doorId === doorId && (DOORWAY_STATES as readonly string[]).includes(t.state));

  /**
   * The area is sealed while a session runs: a door found unlocked or open when a session
   * starts, or when the door comes back online during one, is locked and checked like the
   * relock behind the robot. Not while the door is offline, the robot is in the doorway (its
   * passage relocks it), a lock check is already pending, or a fire alarm holds the exits open.
   * (An offline door is the device-health alarm's; it is sealed when it comes back.)
   */
  const wantsSeal = (doorId: string): boolean =>
    !fireActive() && deps.runningSessions().length > 0 && deps.availability.get(doorId)?.available === true && !secure(stateOf(doorId)) && !checks.has(doorId) && !robotInDoorway(doorId);
  const sealIfRunning = (doorId: string, why: string): void => {
    if (!wantsSeal(doorId)) return;
    later(doorId, async () => {
      // Asked again in the door's queue: a passage or a report may have settled it meanwhile.
      if (wantsSeal(doorId)) await relock(doorId, why);
    });
  };

  const onSessionStatus = (p: HubEvents['session.status']): void => {
    if (p.to !== 'check-in' && p.to !== 'in-progress') return;
    for (const d of deps.doors()) sealIfRunning(d.id, `session ${p.sessionId} ${p.to}`);
  };

  // A door that reconnects is sealed on its first state report, not on the CONNECT: by
  // then it has subscribed to its commands (a controller subscribes, then announces), so
  // the lock is not sent into the void.
  const reconnected = new Set<string>();
  const onAvailability = (p: HubEvents['device.availability']): void => {
    if (!door(p.deviceId)) return;
    if (p.available) reconnected.add(p.deviceId);
    else reconnected.delete(p.deviceId);
  };

  const onFire = (p: HubEvents['fire.alarm']): void => {
    const wasActive = fireActive();
    if (p.active) {
      firePanels.add(p.deviceId);
      // Pending checks would alarm on a door the fire feature just unlocked.
      for (const c of checks.values()) c.timer.cancel();
      checks.clear();
      return;
    }
    firePanels.delete(p.deviceId);
    if (wasActive && !fireActive()) for (const d of deps.doors()) later(d.id, () => relock(d.id, 'the fire alarm cleared'));
  };

  const feature: DoorFeature = {
    name: 'door',
    routes: async (app, apiDeps) => doorRoutes(app, apiDeps, feature),
    async start() {
      for (const d of deps.doors()) d.claim(DOOR_OWNER);
      bus.on(DOOR_OWNER, 'device.event', onDeviceEvent);
      bus.on(DOOR_OWNER, 'device.state', onDoorState);
      bus.on(DOOR_OWNER, 'robot.task', onRobotTask);
      bus.on(DOOR_OWNER, 'fire.alarm', onFire);
      bus.on(DOOR_OWNER, 'session.status', onSessionStatus);
      bus.on(DOOR_OWNER, 'device.availability', onAvailability);
    },
    async stop() {
      bus.removeOwner(DOOR_OWNER);
      for (const c of checks.values()) c.timer.cancel();
      checks.clear();
      await drain();
    },
    snapshot() {
      const active = deps.alarms.list();
      return {
        fireActive: fireActive(),
        doors: deps.doors().map((d) => {
          const rec = deps.availability.get(d.id);
          const s = stateOf(d.id);
          const check = checks.get(d.id);
          return {
            id: d.id,
            name: rec?.name ?? d.id,
            available: rec?.available ?? false,
            locked: s.locked,
            contact: s.contact,
            lockCheck: check ? { since: check.since, why: check.why } : null,
            alarms: active.filter((a) => a.deviceId === d.id).map((a) => ({ id: a.id, severity: a.severity, message: a.message, raisedAt: a.raisedAt })),
            decisions: [...(decisions.get(d.id) ?? [])],
          };
        }),
      };
    },
    async adminOpen(doorId, reason, username) {
      const target = door(doorId);
      if (!target) throw new HubError('HUB_ERR_NOT_FOUND', [`door ${doorId}`]);
      await events.append({ type: 'door.admin-open', actor: `user:${username}`, deviceId: doorId, sessionIds: deps.runningSessions(), data: { reason } });
      log.warn({ doorId, user: username, reason }, 'door opened by an admin');
      const outcome = await target.execute({ cmd: 'open', args: {}, issuer: `user:${username}` });
      if (outcome.outcome === 'unavailable') throw new HubError('HUB_ERR_DEVICE_UNAVAILABLE', [doorId], outcome);
      if (outcome.outcome === 'timeout') throw new HubError('HUB_ERR_DEVICE_TIMEOUT', [doorId], outcome);
      if (!outcome.ok) throw new HubError('HUB_ERR_DEVICE_REJECTED', [doorId, outcome.error ?? 'refused'], outcome);
      return outcome;
    },
    idle: drain,
  };
  return feature;
}

