import { Type } from '@sinclair/typebox';
import { formatTime } from '../../kernel/time.js';
import { HubError } from '../errors.js';
import { MAX_PASSWORD, ROLES, USERNAME_PATTERN, checkPassword, type UserChanges, type UserInfo } from '../users.js';
import { ADMIN, type Api, type ApiDeps } from './types.js';
import { ErrorSchema } from './schemas.js';

const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));
const DisplayName = Type.String({ minLength: 1, maxLength: 100 });

const UserView = Type.Object({
  username: Type.String(),
  displayName: Type.String(),
  role: Type.String(),
  disabled: Type.Boolean(),
  createdAt: Type.String(),
});

/**
 * User administration (admin only): `POST /api/users`, `GET /api/users`,
 * `GET/PATCH /api/users/{username}`. Each change is logged as an event naming the admin;
 * disabling a user or changing their password ends their tokens at once.
 */
export async function userRoutes(app: Api, deps: ApiDeps): Promise<void> {
  const offset = deps.facility.site.utcOffset;
  const view = (u: UserInfo) => ({ username: u.username, displayName: u.displayName, role: u.role, disabled: u.disabled, createdAt: formatTime(u.createdAt, offset) });
  const usernameParams = Type.Object({ username: Type.String({ maxLength: 64 }) });

  app.post(
    '/api/users',
    {
      config: { roles: ADMIN },
      schema: {
        tags: ['users'],
        summary: 'Adds a user',
        body: Type.Object(
          {
            username: Type.String({ pattern: USERNAME_PATTERN }),
            role: RoleSchema,
            password: Type.String({ minLength: 1, maxLength: MAX_PASSWORD }),
            displayName: Type.Optional(DisplayName),
          },
          { additionalProperties: false },
        ),
        response: { 201: UserView, 400: ErrorSchema, 409: ErrorSchema },
      },
    },
    async (request, reply) => {
      const b = request.body;
      // The password policy is not in the schema (its length is the rule): checked here so the 400 names the body's field.
      checkPassword(b.password, 'body.password');
      const user = await deps.users.add({ username: b.username, role: b.role, password: b.password, ...(b.displayName ? { displayName: b.displayName } : {}) }, `user:${request.user!.username}`);
      request.log.info({ by: request.user!.username, username: user.username, role: user.role }, 'user added');
      return reply.status(201).send(view(user));
    },
  );

  app.get(
    '/api/users',
    { config: { roles: ADMIN }, schema: { tags: ['users'], summary: 'Every user, disabled ones included', response: { 200: Type.Array(UserView) } } },
    async () => deps.users.list().map(view),
  );

  app.get(
    '/api/users/:username',
    { config: { roles: ADMIN }, schema: { tags: ['users'], summary: 'One user', params: usernameParams, response: { 200: UserView, 404: ErrorSchema } } },
    async (request) => {
      const u = deps.users.info(request.params.username);
      if (!u) throw new HubError('HUB_ERR_NOT_FOUND', [`user ${request.params.username}`]);
      return view(u);
    },
  );

  app.patch(
    '/api/users/:username',
    {
      config: { roles: ADMIN },
      schema: {
        tags: ['users'],
        summary: 'Changes role, display name, password or disabled; disabling or a new password ends their tokens at once',
        params: usernameParams,
        body: Type.Object(
          {
            role: Type.Optional(RoleSchema),
            displayName: Type.Optional(DisplayName),
            password: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_PASSWORD })),
            disabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: UserView, 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema },
      },
    },
    async (request) => {
      const b = request.body;
      if (b.password !== undefined) checkPassword(b.password, 'body.password');
      const changes: UserChanges = {
        ...(b.role !== undefined ? { role: b.role } : {}),
        ...(b.displayName !== undefined ? { displayName: b.displayName } : {}),
        ...(b.password !== undefined ? { password: b.password } : {}),
        ...(b.disabled !== undefined ? { disabled: b.disabled } : {}),
      };
      const user = await deps.users.update(request.params.username, changes, `user:${request.user!.username}`);
      request.log.info({ by: request.user!.username, username: user.username, changed: Object.keys(changes) }, 'user changed');
      return view(user);
    },
  );
}
