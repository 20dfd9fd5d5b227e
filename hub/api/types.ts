import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Availability } from '../availability.js';
import type { ActiveAlarms } from '../alarms.js';
import type { Clock } from '../../kernel/clock.js';
import type { EventLog } from '../store/events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Role, User, Users } from '../users.js';
import type { Device } from '../../devices/types.js';
import type { Facility } from '../../config/schema.js';
import type { LoginThrottlePolicy } from './auth.js';

export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/**
 * A route module: a Fastify plugin (`async (app, deps)`) registered with `app.register`, so
 * its routes, hooks and decorators stay encapsulated; the core modules and each feature's
 * routes (sessions, power, broadcast…) are all of this shape. `deps` is the plugin's options.
 */
export type RoutePlugin = FastifyPluginAsync<ApiDeps, RawServerDefault, TypeBoxTypeProvider>;

export interface ApiDeps {
  facility: Facility;
  users: Users;
  availability: Availability;
  alarms: ActiveAlarms;
  devices: Map<string, Device>;
  events: EventLog;
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  isReady: () => boolean;
  routes?: RoutePlugin[];
  /** HTTPS instead of HTTP (certificate, key, optional client CA), from hub/tls.ts. */
  https?: HttpsOptions;
  /** Login throttling; the defaults of auth.ts unless a test shortens them. */
  loginThrottle?: LoginThrottlePolicy;
}

/** What Node's https server needs; built by hub/tls.ts from the files named in the config. */
export interface HttpsOptions {
  key: Buffer;
  cert: Buffer;
  ca?: Buffer;
  /** Ask browsers/clients for a certificate signed by `ca`. */
  requestCert?: boolean;
  /** Refuse connections without a valid client certificate. */
  rejectUnauthorized?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    user: User | null;
  }
  interface FastifyContextConfig {
    /**
     * Roles allowed on this route. Every route declares either `roles` or `public: true`;
     * app.ts refuses to register a route with neither (fail closed).
     */
    roles?: readonly Role[];
    /** Open to anyone without a token (health, login, the console's files). Said explicitly. */
    public?: true;
  }
}

/** Every account, the trading platform's included (logout, who am I). */
export const ANY_USER: readonly Role[] = ['admin', 'supervisor', 'operator', 'platform', 'viewer'];
/** The people who watch the facility: devices, events, power, alarms (not the platform's integration account). */
export const STAFF: readonly Role[] = ['admin', 'supervisor', 'operator', 'viewer'];
/** Sessions and rosters: the people, and the trading platform that pushes them. */
export const SESSION_READERS: readonly Role[] = ['admin', 'supervisor', 'operator', 'platform', 'viewer'];
/** Creates sessions and pushes rosters: the trading platform, and admins by hand. */
export const PLATFORM: readonly Role[] = ['admin', 'platform'];
export const OPERATE: readonly Role[] = ['admin', 'operator'];
export const SUPERVISE: readonly Role[] = ['admin', 'supervisor'];
export const ADMIN: readonly Role[] = ['admin'];
