import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HubError, hubError } from '../errors.js';
import type { Api, ApiDeps } from './types.js';
import { ErrorSchema } from './schemas.js';

/** Authenticates the bearer token and enforces the route's roles on every request. */
export function authHook(deps: ApiDeps) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const roles = request.routeOptions.config.roles;
    const header = request.headers.authorization;
    if (header?.startsWith('Bearer ')) {
      const user = deps.users.authenticate(header.slice(7).trim());
      if (user === 'expired') {
        if (roles) throw hubError('HUB_ERR_TOKEN_EXPIRED');
      } else request.user = user;
    }
    if (!roles) return;
    if (!request.user) throw hubError('HUB_ERR_UNAUTHENTICATED');
    if (!roles.includes(request.user.role)) throw new HubError('HUB_ERR_FORBIDDEN', [request.user.role], { allowed: roles });
  };
}

export async function authRoutes(app: Api, deps: ApiDeps): Promise<void> {
  app.post(
    '/api/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log in; answers a bearer token',
        security: [],
        body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ token: Type.String(), expiresAt: Type.String(), role: Type.String(), displayName: Type.String() }),
          401: ErrorSchema,
        },
      },
    },
    async (request) => {
      const out = await deps.users.login(request.body.username, request.body.password);
      if (!out) {
        request.log.warn({ username: request.body.username }, 'login failed');
        throw hubError('HUB_ERR_BAD_CREDENTIALS');
      }
      return { token: out.token, expiresAt: new Date(out.expiresAt).toISOString(), role: out.user.role, displayName: out.user.displayName };
    },
  );

  app.post('/api/auth/logout', { config: { roles: ['admin', 'supervisor', 'operator', 'viewer'] }, schema: { tags: ['auth'], summary: 'Revokes the bearer token' } }, async (request, reply) => {
    const header = request.headers.authorization ?? '';
    await deps.users.logout(header.slice(7).trim());
    return reply.status(204).send();
  });

  app.get(
    '/api/auth/me',
    { config: { roles: ['admin', 'supervisor', 'operator', 'viewer'] }, schema: { tags: ['auth'], summary: 'The logged-in user' } },
    async (request) => request.user,
  );
}
