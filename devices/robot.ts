import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { MqttDevice, eventSchema, noArgs, type MqttKindSpec } from './mqtt-device.js';
import type { Device, DeviceCommand, DeviceContext } from './types.js';

/*
 * The meal-delivery robot (docs/robot.md, docs/contract.md "Robot"). The hub's robot feature
 * (hub/robot) owns its delivery tasks: it sends `dispatch`, `cancel` and `resume`, and the
 * generic command API refuses them (409 naming the feature). `park`, `return` and `stop`
 * stay open to operators: a person may always stop a machine.
 */
const TaskId = Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' });
const RoomId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' });
const DeviceId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' });
const Seat = Type.Integer({ minimum: 1, maximum: 500 });
const Item = Type.String({ minLength: 1, maxLength: 64 });
const Reason = Type.String({ minLength: 1, maxLength: 200 });

export const RobotStop = Type.Object({ room: RoomId, seat: Seat, items: Type.Array(Item, { minItems: 1, maxItems: 10 }) }, { additionalProperties: false });
export type RobotStop = Static<typeof RobotStop>;

export const DispatchArgs = Type.Object(
  { taskId: TaskId, door: DeviceId, stops: Type.Array(RobotStop, { minItems: 1, maxItems: 64 }) },
  { additionalProperties: false },
);
export type DispatchArgs = Static<typeof DispatchArgs>;
const CancelArgs = Type.Object({ taskId: TaskId }, { additionalProperties: false });

/** What the robot reports of a task it carries (the hub adds queued, suspended, cancelled). */
export const REPORTED_STATES = ['dispatched', 'at-door', 'in-area', 'delivered', 'returned', 'failed'] as const;
export type ReportedState = (typeof REPORTED_STATES)[number];

const checkOf = <T extends Parameters<typeof TypeCompiler.Compile>[0]>(schema: T) => {
  const c = TypeCompiler.Compile(schema);
  return (args: Record<string, unknown>): string | null => {
    if (c.Check(args)) return null;
    const e = c.Errors(args).First();
    const where = e?.path ? `args.${e.path.slice(1).replace(/\//g, '.')}` : 'args';
    return `${where}: ${e?.message ?? 'does not match'}`;
  };
};

export const robotSpec: MqttKindSpec = {
  kind: 'robot',
  commands: {
    dispatch: checkOf(DispatchArgs),
    cancel: checkOf(CancelArgs),
    park: noArgs,
    resume: noArgs,
    return: noArgs,
    stop: noArgs,
  },
  events: {
    task: eventSchema('task', {
      taskId: TaskId,
      state: Type.Union(REPORTED_STATES.map((s) => Type.Literal(s))),
      room: Type.Optional(RoomId),
      seat: Type.Optional(Seat),
      reason: Type.Optional(Reason),
    }),
    'battery-low': eventSchema('battery-low', { battery: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })), taskId: Type.Optional(TaskId) }),
    fault: eventSchema('fault', { code: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })), taskId: Type.Optional(TaskId) }),
    blocked: eventSchema('blocked', { where: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }),
  },
};

/** Commands only the robot feature sends (tasks go through /api/robot/tasks). */
export const ROBOT_OWNED_COMMANDS: readonly string[] = ['dispatch', 'cancel', 'resume'];
export const ROBOT_OWNER = 'robot';

/** The robot: an MQTT device whose task commands are the robot feature's alone. */
export class RobotDevice extends MqttDevice implements Device {
  commandOwner(command: Pick<DeviceCommand, 'cmd' | 'args'>): { owner: string; what: string } | null {
    return ROBOT_OWNED_COMMANDS.includes(command.cmd) ? { owner: ROBOT_OWNER, what: `${this.id} ${command.cmd}` } : null;
  }
}

export function createRobotDevice(ctx: DeviceContext): Device {
  return new RobotDevice(ctx, robotSpec);
}
