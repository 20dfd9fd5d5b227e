import Fastify, { LogController, type FastifyError } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import helmet from '@fastify/helmet';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import { HubError, hubError } from '../errors.js';
import { unencodable } from '../store/events.js';
import type { Api, ApiDeps } from './types.js';
import { authRoutes, authHook } from './auth.js';
import { fieldProblems, problemsText } from './validation.js';
import { deviceRoutes } from './devices.js';
import { eventRoutes } from './events.js';
import { systemRoutes } from './system.js';
import { consoleRoutes } from './console.js';
import { alarmRoutes } from './alarms.js';
import { userRoutes } from './users.js';

/**
 * Routes registered by plugins that cannot carry our config: swagger-ui's page and
 * assets, and the console's static files. They are public, and this list says so.
 */
const PUBLIC_PLUGIN_TREES = ['/docs', '/console'] as const;
/** `/docs` and `/docs/…`, not `/docsanything`. */
const inPublicTree = (url: string): boolean => PUBLIC_PLUGIN_TREES.some((p) => url === p || url.startsWith(`${p}/`));

/**
 * The console's policy, for every response: nothing inline, nothing from elsewhere, not
 * framed. swagger-ui sets its own (its script and style hashes) on /docs.
 */
function cspDirectives(tls: boolean): Record<string, string[] | null> {
  return {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    scriptSrcAttr: ["'none'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'"],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
    formAction: ["'self'"],
    // Over plain HTTP this would send the browser to an https:// that does not exist.
    upgradeInsecureRequests: tls ? [] : null,
  };
}

/**
 * Fail closed: every route says who may call it, `roles` or `public: true`, or it is
 * not registered at all. The rule is also written into the OpenAPI document.
 */
function requireAccessRule(route: { method: string | string[]; url: string; config?: { roles?: readonly string[]; public?: true }; schema?: Record<string, unknown> }): void {
  const config = route.config ?? {};
  const name = `${String(route.method)} ${route.url}`;
  if (config.roles === undefined && config.public === undefined && inPublicTree(route.url)) {
    route.config = { ...config, public: true };
    return;
  }
  if (config.roles !== undefined && config.public !== undefined) throw new Error(`route ${name}: declares both roles and public; choose one`);
  if (config.public === true) {
    if (route.schema) route.schema.security = [];
    return;
  }
  if (!config.roles || config.roles.length === 0) {
    throw new Error(`route ${name} declares no access rule: set config.roles (who may call it) or config.public: true (anyone may)`);
  }
  // (Fastify calls this twice with one schema for a GET: once more for its HEAD.)
  const description = route.schema && typeof route.schema.description === 'string' ? route.schema.description : '';
  if (route.schema && !description.includes('Roles: ')) {
    const before = description ? `${description} ` : '';
    route.schema.description = `${before}Roles: ${config.roles.join(', ')}.`;
  }
}

/**
 * Builds the HTTP app without listening (tests use `inject`; the hub calls `listen`).
 * Every error leaves as `{code, message, details?}` from the one catalogue.
 */
export async function buildApp(deps: ApiDeps): Promise<Api> {
  const app = Fastify({
    ...(deps.https ? { https: deps.https } : {}),
    loggerInstance: deps.log.child({ module: 'http' }),
    // Requests are not logged one by one; errors are, by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024, // 1 MiB: a roster CSV of thousands of rows fits
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as Api;

  // Bodies are JSON and must have the declared types ({"username": 123} is a 400, not
  // "123"); query strings and path parameters are text, so they are coerced.
  // Every error at once (a form with three mistakes hears of three); verbose for the schemas' own descriptions.
  const common = { useDefaults: true, removeAdditional: false, allErrors: true, verbose: true, strict: false } as const;
  const bodyAjv = new Ajv({ ...common, coerceTypes: false });
  const textAjv = new Ajv({ ...common, coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema));

  app.decorateRequest('user', null);
  // JSON may escape a lone surrogate ("\ud800"): well-formed JSON, but not text, and what
  // the hash-chained log cannot encode. Refused here, naming the field, before any route
  // acts on it (it was a 500 from deep inside the log's append).
  app.addHook('preValidation', async (request) => {
    for (const [part, value] of [['body', request.body], ['querystring', request.query], ['params', request.params]] as const) {
      const bad = unencodable(value, part);
      if (bad) throw new HubError('HUB_ERR_VALIDATION', [`${bad.path} ${bad.what}`], { field: bad.path, problems: [{ field: bad.path, message: bad.what }] });
    }
  });
  // Before any route, so that it sees every one of them (plugins' routes included).
  app.addHook('onRoute', requireAccessRule);

  // Security headers on every response, errors and /docs included.
  const tls = deps.https !== undefined;
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: { useDefaults: false, directives: cspDirectives(tls) },
    // HSTS only means something over HTTPS (browsers ignore it over HTTP).
    hsts: tls ? { maxAge: 180 * 24 * 3600, includeSubDomains: false } : false,
    crossOriginEmbedderPolicy: false,
    frameguard: { action: 'deny' },
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'facility-hub API', version: '1.0.0', description: 'On-site control hub of a bid-evaluation area. See docs/contract.md.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // No inline script: the page's scripts and styles are allowed by their hashes.
    staticCSP: true,
    transformStaticCSP: (header) => {
      let h = header.replace(' validator.swagger.io', '');
      if (!tls) h = h.replace(/\s*upgrade-insecure-requests;?/, '');
      return `${h.trim().replace(/;$/, '')}; frame-ancestors 'none'`.replace("frame-ancestors 'self'; ", '');
    },
  });

  // The API speaks JSON (and CSV for rosters): Fastify's default text/plain parser would hand
  // a route a string, answered as "body must be an object" instead of 415.
  app.removeContentTypeParser('text/plain');
  // Bytes, not a string: a roster CSV may be GBK (Excel on Chinese Windows), decoded by the roster reader.
  app.addContentTypeParser('text/csv', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError | HubError, request, reply) => {
    let e: HubError;
    if (err instanceof HubError) e = err;
    else if (err.validation && err.validationContext === 'body' && !/^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '')) {
      // No JSON was parsed because none was declared (none, or CSV to a JSON route): say
      // that, rather than "body must be an object".
      e = new HubError('HUB_ERR_UNSUPPORTED_MEDIA_TYPE', [request.headers['content-type'] ?? 'none'], { field: 'content-type', expected: 'application/json' });
    } else if (err.validation) {
      const problems = fieldProblems(err.validationContext ?? 'body', err.validation);
      e = new HubError('HUB_ERR_VALIDATION', [problemsText(problems)], { field: problems[0]?.field ?? '', problems });
    } else if (err.statusCode === 415) {
      e = new HubError('HUB_ERR_UNSUPPORTED_MEDIA_TYPE', [String(request.headers['content-type'] ?? 'none')], { field: 'content-type', reason: err.message });
    } else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      e = new HubError('HUB_ERR_VALIDATION', [`请求体不是有效的 JSON / the body is not valid JSON (${err.message})`], { field: 'body' });
    } else if (err.statusCode && err.statusCode < 500) e = new HubError('HUB_ERR_BAD_REQUEST', [], { reason: err.message });
    else {
      request.log.error({ err, url: request.url }, 'request failed');
      e = hubError('HUB_ERR_INTERNAL');
    }
    deps.metrics.httpRejected.inc({ code: e.code });
    void reply.status(e.status).send(e.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const e = hubError('HUB_ERR_NOT_FOUND', `${request.method} ${request.url.split('?')[0] ?? ''}`);
    deps.metrics.httpRejected.inc({ code: e.code });
    void reply.status(404).send(e.toJSON());
  });

  app.addHook('onRequest', authHook(deps));

  // Each route module is its own encapsulated plugin; the auth hook, the access check, the
  // error handler and the CSV parser above are the root's and so apply inside every one of them.
  for (const plugin of [systemRoutes, authRoutes, deviceRoutes, eventRoutes, alarmRoutes, userRoutes, ...(deps.routes ?? [])]) await app.register(plugin, deps);
  await consoleRoutes(app);
  return app;
}
