/**
 * Who the sealed-area door lets through (docs/door.md, "Policy"). Pure: the feature gathers
 * the facts (the robot's task, the running sessions, the fire alarm) and this decides, so
 * every rule is a unit test.
 *
 * - A fire alarm is active: everyone is let out (and in: the fire brigade). The door is
 *   already unlocked per `fire.door`; refusing it on security grounds would block an exit.
 * - The robot: only with an active task at this door (`robotTaskAt`), session or not.
 * - Anyone else while a session runs: denied, and that is an alarm (someone tried to enter
 *   the sealed area while experts are inside).
 * - Anyone else outside sessions: the kinds listed in `policy.door.outsideSessions`
 *   (default card and button: cleaners, technicians and the exit button between sessions).
 */
import type { DenyReason, Requester } from '../../devices/door.js';

export interface DoorFacts {
  requester: Requester;
  /** The robot's active task at this door, when the requester is a robot (else null). */
  robotTask: string | null;
  /** Sessions in check-in or in progress now. */
  runningSessions: readonly string[];
  fireActive: boolean;
  /** Requester kinds granted outside sessions (`policy.door.outsideSessions`). */
  outsideSessions: readonly string[];
}

export type DoorDecision =
  | { decision: 'grant'; why: 'robot-task' | 'fire' | 'outside-sessions'; taskId?: string }
  | { decision: 'deny'; reason: DenyReason; alarm: boolean };

export function decideOpen(f: DoorFacts): DoorDecision {
  if (f.fireActive) return { decision: 'grant', why: 'fire' };
  if (f.requester.kind === 'robot') {
    if (f.robotTask !== null) return { decision: 'grant', why: 'robot-task', taskId: f.robotTask };
    // A robot without a task at this door is as suspect as a stranger during a session.
    return { decision: 'deny', reason: 'not-on-task', alarm: f.runningSessions.length > 0 };
  }
  if (f.runningSessions.length > 0) return { decision: 'deny', reason: 'session-running', alarm: true };
  if (f.outsideSessions.includes(f.requester.kind)) return { decision: 'grant', why: 'outside-sessions' };
  return { decision: 'deny', reason: 'outside-policy', alarm: false };
}

/** The short text a door's display may show with a refusal: Chinese first, English second. */
export function denyMessage(reason: DenyReason): string {
  switch (reason) {
    case 'not-on-task':
      return '机器人无此门的配送任务 / The robot has no task at this door';
    case 'session-running':
      return '评标进行中，禁止进入 / Evaluation in progress: no entry';
    case 'outside-policy':
      return '未获授权 / Not authorised';
    case 'door-unavailable':
      return '门禁不可用 / Door unavailable';
  }
}

/** Robot task states in which the robot may pass this door (its way in, inside, its way out). */
export const TASK_AT_DOOR_STATES = ['dispatched', 'at-door', 'in-area', 'delivered'] as const;
/** States in which the robot is at or in the doorway: the door may stand open for it. */
export const DOORWAY_STATES = ['at-door', 'in-area'] as const;
/** States after which the robot is through (inside or gone): the door must then be closed and locked. */
export const TASK_PAST_DOOR_STATES = ['delivered', 'returned', 'failed', 'suspended'] as const;
