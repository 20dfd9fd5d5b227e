import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HubError, hubError } from '../errors.js';
import { FailureThrottle, type ThrottlePolicy } from '../throttle.js';
import { ANY_USER, type Api, type ApiDeps } from './types.js';
import { ErrorSchema } from './schemas.js';

/**
 * Authenticates the bearer token and enforces the route's access rule on every request.
 * A route reaches here with either `public: true` or a list of roles (app.ts refuses to
 * register anything else); an unmatched URL (404) has neither and is let through to the
 * not-found handler.
 */
export function authHook(deps: ApiDeps) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const { roles, public: isPublic } = request.routeOptions.config;
    const header = request.headers.authorization;
    if (header?.startsWith('Bearer ')) {
      const user = deps.users.authenticate(header.slice(7).trim());
      if (user === 'expired') {
        if (!isPublic) throw hubError('HUB_ERR_TOKEN_EXPIRED');
      } else request.user = user;
    }
    if (isPublic === true || request.is404) return;
    // Fail closed: a route without roles admits nobody.
    const allowed = roles ?? [];
    if (!request.user) throw hubError('HUB_ERR_UNAUTHENTICATED');
    if (!allowed.includes(request.user.role)) throw new HubError('HUB_ERR_FORBIDDEN', [request.user.role], { allowed });
  };
}

/** Login throttling (escalating locks; see hub/throttle.ts and docs/security.md). */
export interface LoginThrottlePolicy {
  perUsername: ThrottlePolicy;
  perAddress: ThrottlePolicy;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottlePolicy = {
  // 5 wrong passwords for one name, then 2 s, 4 s, 8 s … at most 15 min.
  perUsername: { freeFailures: 5, baseLockMs: 2_000, maxLockMs: 15 * 60_000, forgetAfterMs: 15 * 60_000, maxKeys: 10_000 },
  // One address may fail 20 times (a shared office PC, several names) before it is locked.
  perAddress: { freeFailures: 20, baseLockMs: 2_000, maxLockMs: 15 * 60_000, forgetAfterMs: 15 * 60_000, maxKeys: 10_000 },
};

function tooMany(retryAfterMs: number): HubError {
  const s = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new HubError('HUB_ERR_RATE_LIMITED', [`登录失败次数过多，请 ${s} 秒后再试 / Too many failed logins: try again in ${s} s`], { retryAfterSeconds: s });
}

export async function authRoutes(app: Api, deps: ApiDeps): Promise<void> {
  const policy = deps.loginThrottle ?? DEFAULT_LOGIN_THROTTLE;
  const byName = new FailureThrottle(policy.perUsername, deps.clock);
  const byAddress = new FailureThrottle(policy.perAddress, deps.clock);

  app.post(
    '/api/auth/login',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Log in; answers a bearer token',
        body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ token: Type.String(), expiresAt: Type.String(), username: Type.String(), role: Type.String(), displayName: Type.String() }),
          401: ErrorSchema,
          429: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const address = request.ip;
      // Refused before any hash is computed: a locked name or address costs nothing.
      const refusal = [byName.refusal(username), byAddress.refusal(address)].reduce((a, b) => (a && (!b || a.retryAfterMs >= b.retryAfterMs) ? a : b), null);
      if (refusal) {
        deps.metrics.httpRejected.inc({ code: 'HUB_ERR_RATE_LIMITED' });
        if (refusal.first) request.log.warn({ username, address, retryAfterMs: refusal.retryAfterMs }, 'login throttled: too many failures (logged once per burst)');
        void reply.header('retry-after', String(Math.max(1, Math.ceil(refusal.retryAfterMs / 1000))));
        throw tooMany(refusal.retryAfterMs);
      }
      byName.attempt(username);
      byAddress.attempt(address);
      const out = await deps.users.login(username, password);
      if (!out) {
        request.log.warn({ username, address }, 'login failed');
        throw hubError('HUB_ERR_BAD_CREDENTIALS');
      }
      byName.succeeded(username);
      byAddress.forgive(address);
      request.log.info({ username, address }, 'logged in');
      return { token: out.token, expiresAt: new Date(out.expiresAt).toISOString(), username: out.user.username, role: out.user.role, displayName: out.user.displayName };
    },
  );

  app.post('/api/auth/logout', { config: { roles: ANY_USER }, schema: { tags: ['auth'], summary: 'Ends the bearer token at once' } }, async (request, reply) => {
    const header = request.headers.authorization ?? '';
    await deps.users.logout(header.slice(7).trim());
    request.log.info({ username: request.user?.username }, 'logged out');
    return reply.status(204).send();
  });

  app.get('/api/auth/me', { config: { roles: ANY_USER }, schema: { tags: ['auth'], summary: 'The logged-in user' } }, async (request) => request.user);
}
