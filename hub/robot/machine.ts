/**
 * The life cycle of one delivery task (docs/robot.md, "Task life cycle"), as a pure
 * function: a task and an input give the next task, or a refusal with the reason. Nothing
 * here reads a clock, the store or the bus, so every path is unit-tested (and checked by a
 * fast-check property) without a robot.
 *
 *   queued → dispatched → at-door → in-area → delivered → returned
 *   (per seat, in-area: one `delivered` report per stop; the last one makes the task `delivered`)
 *   any open state → failed (the robot's reason, a fault, low battery in the area)
 *   any open state → cancelled (an admin or operator)
 *   any open state → suspended (fire) → back where it was, by an admin's resume (a step the
 *   robot reports while suspended, made before the park reached it, moves where it was)
 *   dispatched / at-door → queued again on low battery or a fault (not yet in the area)
 */
import type { ReportedState } from '../../devices/robot.js';

export const TASK_STATES = ['queued', 'dispatched', 'at-door', 'in-area', 'delivered', 'returned', 'failed', 'cancelled', 'suspended'] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** Nothing follows these. */
export const TERMINAL: readonly TaskState[] = ['returned', 'failed', 'cancelled'];
/** The robot carries the task (it is out of its dock for it). */
export const ON_ROBOT: readonly TaskState[] = ['dispatched', 'at-door', 'in-area', 'delivered'];

export interface StopState {
  room: string;
  seat: number;
  items: string[];
  delivered: boolean;
  /** The session of the expert at this seat (a meal run may serve several sessions in one room). */
  sessionId?: string;
}

export interface TaskCore {
  state: TaskState;
  stops: StopState[];
  /** While suspended: the state it was suspended in. */
  suspendedFrom: TaskState | null;
  /** Why it failed, was cancelled, re-queued or suspended (the last such reason). */
  reason: string | null;
}

export type TaskInput =
  | { kind: 'report'; state: ReportedState; room?: string; seat?: number; reason?: string }
  | { kind: 'cancel'; reason: string }
  | { kind: 'suspend'; reason: string }
  | { kind: 'resume' }
  /** Low battery or a fault of the robot carrying (or about to carry) the task. */
  | { kind: 'robot-trouble'; reason: string };

/** One step as it goes into the session's log: the task's new state and what happened. */
export interface StepRecord {
  /** What happened: a reported state, or queued (created) / cancelled / suspended / resumed / requeued. */
  step: ReportedState | 'queued' | 'cancelled' | 'suspended' | 'resumed' | 'requeued';
  from: TaskState;
  to: TaskState;
  room?: string;
  seat?: number;
  reason?: string;
}

export type StepResult = { ok: true; task: TaskCore; record: StepRecord } | { ok: false; reason: string };

const refuse = (reason: string): StepResult => ({ ok: false, reason });

export function isTerminal(s: TaskState): boolean {
  return TERMINAL.includes(s);
}

/** The next task after `input`, or why the input does not fit the task now (nothing changes). */
export function step(task: TaskCore, input: TaskInput): StepResult {
  const from = task.state;
  if (isTerminal(from)) return refuse(`the task is ${from}: nothing follows`);
  const next = (to: TaskState, rec: Omit<StepRecord, 'from' | 'to'>, patch: Partial<TaskCore> = {}): StepResult => ({
    ok: true,
    task: { ...task, ...patch, state: to, stops: patch.stops ?? task.stops },
    record: { ...rec, from, to },
  });

  switch (input.kind) {
    case 'cancel':
      return next('cancelled', { step: 'cancelled', reason: input.reason }, { reason: input.reason, suspendedFrom: null });
    case 'suspend':
      if (from === 'suspended') return refuse('the task is already suspended');
      return next('suspended', { step: 'suspended', reason: input.reason }, { suspendedFrom: from, reason: input.reason });
    case 'resume':
      if (from !== 'suspended' || task.suspendedFrom === null) return refuse(`only a suspended task resumes (this one is ${from})`);
      return next(task.suspendedFrom, { step: 'resumed' }, { suspendedFrom: null });
    case 'robot-trouble': {
      // Still outside the area: someone (another run, or the same robot recharged) can take it.
      const where = from === 'suspended' ? task.suspendedFrom! : from;
      if (where === 'queued') return refuse('the task is queued: nothing to re-queue');
      if (where === 'dispatched' || where === 'at-door') {
        return from === 'suspended'
          ? next('suspended', { step: 'requeued', reason: input.reason }, { suspendedFrom: 'queued', reason: input.reason })
          : next('queued', { step: 'requeued', reason: input.reason }, { reason: input.reason });
      }
      return next('failed', { step: 'failed', reason: input.reason }, { reason: input.reason, suspendedFrom: null });
    }
    case 'report':
      return report(task, input, next);
  }
}

function report(
  task: TaskCore,
  input: Extract<TaskInput, { kind: 'report' }>,
  next: (to: TaskState, rec: Omit<StepRecord, 'from' | 'to'>, patch?: Partial<TaskCore>) => StepResult,
): StepResult {
  if (task.state === 'suspended' && task.suspendedFrom !== null && task.suspendedFrom !== 'queued') {
    // A step the robot made before the park reached it (the report crossed the fire alarm):
    // recorded, and the task stays suspended at the new place (or ends, if that step ends it).
    const inner = step({ ...task, state: task.suspendedFrom, suspendedFrom: null }, input);
    if (!inner.ok) return inner;
    const ended = isTerminal(inner.task.state);
    return {
      ok: true,
      task: { ...inner.task, state: ended ? inner.task.state : 'suspended', suspendedFrom: ended ? null : inner.task.state },
      record: { ...inner.record, from: 'suspended', to: ended ? inner.task.state : 'suspended' },
    };
  }
  const from = task.state;
  const out = (expected: TaskState): StepResult => refuse(`${input.state} reported while the task is ${from} (expected after ${expected})`);
  switch (input.state) {
    case 'dispatched':
      return from === 'queued' ? next('dispatched', { step: 'dispatched' }) : out('queued');
    case 'at-door':
      return from === 'dispatched' ? next('at-door', { step: 'at-door' }) : out('dispatched');
    case 'in-area':
      return from === 'at-door' ? next('in-area', { step: 'in-area' }) : out('at-door');
    case 'delivered': {
      if (from !== 'in-area') return out('in-area');
      if (input.room === undefined || input.seat === undefined) return refuse('delivered must name the room and the seat');
      const i = task.stops.findIndex((s) => s.room === input.room && s.seat === input.seat);
      if (i < 0) return refuse(`${input.room} seat ${input.seat} is not a stop of this task`);
      if (task.stops[i]!.delivered) return refuse(`${input.room} seat ${input.seat} was already delivered`);
      const stops = task.stops.map((s, j) => (j === i ? { ...s, delivered: true } : s));
      const all = stops.every((s) => s.delivered);
      return next(all ? 'delivered' : 'in-area', { step: 'delivered', room: input.room, seat: input.seat }, { stops });
    }
    case 'returned':
      return from === 'delivered' ? next('returned', { step: 'returned' }) : out('delivered');
    case 'failed':
      if (from === 'queued' || from === 'suspended') return refuse(`failed reported while the task is ${from} (the robot does not carry it)`);
      return next('failed', { step: 'failed', reason: input.reason ?? 'the robot gave no reason' }, { reason: input.reason ?? 'the robot gave no reason' });
  }
}
