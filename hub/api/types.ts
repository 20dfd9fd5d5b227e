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
}

declare module 'fastify' {
  interface FastifyRequest {
    user: User | null;
  }
  interface FastifyContextConfig {
    /** Roles allowed on this route; absent = public. */
    roles?: readonly Role[];
  }
}

export const ALL_ROLES: readonly Role[] = ['admin', 'supervisor', 'operator', 'viewer'];
export const OPERATE: readonly Role[] = ['admin', 'operator'];
export const SUPERVISE: readonly Role[] = ['admin', 'supervisor'];
export const ADMIN: readonly Role[] = ['admin'];
