import { Type } from '@sinclair/typebox';
import { formatTime } from '../../kernel/time.js';
import { HubError } from '../errors.js';
import { ADMIN, OPERATE, PLATFORM, SESSION_READERS, STAFF, type Api, type ApiDeps } from '../api/types.js';
import { ErrorSchema } from '../api/schemas.js';
import { TASK_STATES } from './machine.js';
import type { RobotFeature } from './feature.js';
import type { RobotTask } from './tasks.js';

const errors = { 400: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 502: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema };
const TaskId = Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$', description: 'chosen by the client: a repeat with the same id never creates a second task' });
const Stop = Type.Object(
  {
    room: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,63}$' }),
    seat: Type.Integer({ minimum: 1, maximum: 500 }),
    items: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 10 }),
  },
  { additionalProperties: false },
);
const StopView = Type.Object({ room: Type.String(), seat: Type.Integer(), items: Type.Array(Type.String()), delivered: Type.Boolean(), sessionId: Type.Optional(Type.String()) });
const TaskView = Type.Object({
  id: Type.String(),
  robotId: Type.String(),
  sessionId: Type.String(),
  sessionIds: Type.Array(Type.String()),
  doorId: Type.String(),
  state: Type.String(),
  suspendedFrom: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  meal: Type.Union([Type.String(), Type.Null()]),
  source: Type.String(),
  stops: Type.Array(StopView),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
const Meal = Type.Object({ name: Type.String({ minLength: 1, maxLength: 32 }), cron: Type.String({ minLength: 9, maxLength: 64 }) }, { additionalProperties: false });
const MealsView = Type.Object({ sessionId: Type.String(), own: Type.Boolean(), meals: Type.Array(Meal) });
const Reason = Type.String({ minLength: 2, maxLength: 500, description: 'why (logged with the user)' });

/** /api/robot: delivery tasks (docs/robot.md, "API"). */
export function robotRoutes(app: Api, deps: ApiDeps, robot: RobotFeature): void {
  const offset = deps.facility.site.utcOffset;
  const view = (t: RobotTask) => ({
    id: t.id,
    robotId: t.robotId,
    sessionId: t.sessionId,
    sessionIds: t.sessionIds,
    doorId: t.doorId,
    state: t.state,
    suspendedFrom: t.suspendedFrom,
    reason: t.reason,
    meal: t.meal,
    source: t.source,
    stops: t.stops,
    createdAt: formatTime(t.createdAt, offset),
    updatedAt: formatTime(t.updatedAt, offset),
  });

  app.get(
    '/api/robot/tasks',
    {
      config: { roles: STAFF },
      schema: {
        tags: ['robot'],
        summary: 'Delivery tasks, oldest first (at most 1000), by session and state',
        querystring: Type.Object({ sessionId: Type.Optional(Type.String({ maxLength: 64 })), state: Type.Optional(Type.Union(TASK_STATES.map((s) => Type.Literal(s)))) }, { additionalProperties: false }),
        response: { 200: Type.Object({ tasks: Type.Array(TaskView) }), 400: ErrorSchema, 403: ErrorSchema },
      },
    },
    async (request) => ({
      tasks: robot.tasks({ ...(request.query.sessionId ? { sessionId: request.query.sessionId } : {}), ...(request.query.state ? { state: request.query.state } : {}) }).map(view),
    }),
  );

  app.get(
    '/api/robot/tasks/:id',
    { config: { roles: STAFF }, schema: { tags: ['robot'], summary: 'One delivery task', params: Type.Object({ id: Type.String() }), response: { 200: TaskView, 403: ErrorSchema, 404: ErrorSchema } } },
    async (request) => {
      const t = robot.get(request.params.id);
      if (!t) throw new HubError('HUB_ERR_NOT_FOUND', [`送餐任务 / robot task ${request.params.id}`]);
      return view(t);
    },
  );

  app.post(
    '/api/robot/tasks',
    {
      config: { roles: OPERATE },
      schema: {
        tags: ['robot'],
        summary: 'Adds a delivery (201), idempotent by the client-supplied id (200 with the same task when repeated; 409 if the id names another request)',
        body: Type.Object(
          {
            id: TaskId,
            sessionId: Type.String({ minLength: 1, maxLength: 64 }),
            robotId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            door: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            stops: Type.Array(Stop, { minItems: 1, maxItems: 64 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: TaskView, 201: TaskView, ...errors },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const r = await robot.create(
        { id: b.id, sessionId: b.sessionId, stops: b.stops, ...(b.robotId !== undefined ? { robotId: b.robotId } : {}), ...(b.door !== undefined ? { door: b.door } : {}) },
        `user:${request.user!.username}`,
      );
      return reply.status(r.created ? 201 : 200).send(view(r.task));
    },
  );

  app.post(
    '/api/robot/tasks/:id/cancel',
    {
      config: { roles: OPERATE },
      schema: {
        tags: ['robot'],
        summary: 'Cancels a delivery (the robot carrying it is told to drop it first)',
        params: Type.Object({ id: Type.String() }),
        body: Type.Object({ reason: Reason }, { additionalProperties: false }),
        response: { 200: TaskView, ...errors },
      },
    },
    async (request) => view(await robot.cancel(request.params.id, `user:${request.user!.username}`, request.body.reason)),
  );

  app.post(
    '/api/robot/tasks/:id/resume',
    {
      config: { roles: ADMIN },
      schema: {
        tags: ['robot'],
        summary: 'Resumes a task suspended by a fire alarm (only after every panel has cleared)',
        params: Type.Object({ id: Type.String() }),
        response: { 200: TaskView, ...errors },
      },
    },
    async (request) => view(await robot.resume(request.params.id, `user:${request.user!.username}`)),
  );

  app.get(
    '/api/robot/sessions/:id/meals',
    {
      config: { roles: SESSION_READERS },
      schema: { tags: ['robot'], summary: "A session's meal times (its own, or the facility's)", params: Type.Object({ id: Type.String() }), response: { 200: MealsView, 403: ErrorSchema, 404: ErrorSchema } },
    },
    async (request) => ({ sessionId: request.params.id, ...robot.sessionMeals(request.params.id) }),
  );

  app.put(
    '/api/robot/sessions/:id/meals',
    {
      config: { roles: PLATFORM },
      schema: {
        tags: ['robot'],
        summary: "Sets a session's own meal times (cron, site local time); null: the facility's again",
        params: Type.Object({ id: Type.String() }),
        body: Type.Object({ meals: Type.Union([Type.Array(Meal, { maxItems: 12 }), Type.Null()]) }, { additionalProperties: false }),
        response: { 200: MealsView, ...errors },
      },
    },
    async (request) => ({ sessionId: request.params.id, ...(await robot.setSessionMeals(request.params.id, request.body.meals, `user:${request.user!.username}`)) }),
  );
}
