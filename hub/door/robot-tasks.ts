/**
 * The robots' tasks as the door needs them: the latest state of each robot's task, from the
 * `robot.task` bus events, so that `activeTaskAt(doorId, robotId)` answers which task (if
 * any) lets that robot through that door now. The robot feature offers the same function;
 * compose.ts may hand the door that one instead.
 */
import type { Bus } from '../../kernel/bus.js';
import type { HubEvents } from '../events.js';
import type { Feature } from '../services.js';
import { TASK_AT_DOOR_STATES } from './policy.js';

const OWNER = 'robot-task-tracker';

export interface RobotTaskTracker extends Feature {
  activeTaskAt(doorId: string, robotId: string): string | null;
}

export function createRobotTaskTracker(deps: { bus: Bus<HubEvents> }): RobotTaskTracker {
  const latest = new Map<string, HubEvents['robot.task']>();
  return {
    name: OWNER,
    async start() {
      deps.bus.on(OWNER, 'robot.task', (p) => {
        latest.set(p.robotId, { ...p });
      });
    },
    async stop() {
      deps.bus.removeOwner(OWNER);
    },
    activeTaskAt(doorId, robotId) {
      const t = latest.get(robotId);
      if (!t || t.doorId !== doorId || !(TASK_AT_DOOR_STATES as readonly string[]).includes(t.state)) return null;
      return t.taskId;
    },
  };
}
