import t from 'tap';
import { startTestHub } from '../helpers/hub.js';
import { buildApp } from '../../hub/api/app.js';
import { silentLogger } from '../../hub/log.js';
import { ROLES, type Role } from '../../hub/users.js';

/**
 * The one table of who may call what: every operation of the OpenAPI document, and
 * nothing else, with the roles allowed (or 'public'). The test walks it × every role.
 */
const ACCESS: Record<string, readonly Role[] | 'public' | 'public-stream'> = {
  'GET /healthz': 'public',
  'GET /metrics': 'public',
  'POST /api/auth/login': 'public',
  'POST /api/auth/logout': ['admin', 'supervisor', 'operator', 'platform', 'viewer'],
  'GET /api/auth/me': ['admin', 'supervisor', 'operator', 'platform', 'viewer'],
  'GET /api/devices': ['admin', 'supervisor', 'operator', 'viewer'],
  'GET /api/devices/{id}': ['admin', 'supervisor', 'operator', 'viewer'],
  'POST /api/devices/{id}/commands': ['admin', 'operator'],
  'GET /api/events': ['admin', 'supervisor', 'operator', 'viewer'],
  'GET /api/alarms': ['admin', 'supervisor', 'operator', 'viewer'],
  'POST /api/alarms/{id}/ack': ['admin', 'supervisor', 'operator'],
  'POST /api/users': ['admin'],
  'GET /api/users': ['admin'],
  'GET /api/users/{username}': ['admin'],
  'PATCH /api/users/{username}': ['admin'],
  'POST /api/sessions': ['admin', 'platform'],
  'GET /api/sessions': ['admin', 'supervisor', 'operator', 'platform', 'viewer'],
  'GET /api/sessions/{id}': ['admin', 'supervisor', 'operator', 'platform', 'viewer'],
  'POST /api/sessions/{id}/roster': ['admin', 'platform'],
  'GET /api/sessions/{id}/roster': ['admin', 'supervisor', 'operator', 'platform', 'viewer'],
  'GET /api/sessions/{id}/checkins': ['admin', 'supervisor', 'operator', 'viewer'],
  'POST /api/sessions/{id}/close': ['admin'],
  'GET /api/power': ['admin', 'supervisor', 'operator', 'viewer'],
  'POST /api/broadcast/warnings': ['admin', 'supervisor'],
  'POST /api/broadcast/calls': ['admin', 'supervisor'],
  'POST /api/broadcast/calls/{id}/stop': ['admin', 'supervisor'],
  'GET /api/broadcast': ['admin', 'supervisor', 'operator'],
  'POST /api/sessions/{id}/cancel': ['admin'],
  'GET /api/jammers': ['admin', 'supervisor', 'operator', 'viewer'],
  'POST /api/jammers/{zone}/override': ['admin'],
  'DELETE /api/jammers/{zone}/override': ['admin'],
  'POST /api/jammers/interlock/release': ['admin'],
  'GET /api/jammers/report': ['admin', 'supervisor'],
  'GET /api/doors': ['admin', 'supervisor', 'operator', 'viewer'],
  'POST /api/doors/{id}/open': ['admin'],
  'GET /api/robot/tasks': ['admin', 'supervisor', 'operator', 'viewer'],
  'GET /api/robot/tasks/{id}': ['admin', 'supervisor', 'operator', 'viewer'],
  'POST /api/robot/tasks': ['admin', 'operator'],
  'POST /api/robot/tasks/{id}/cancel': ['admin', 'operator'],
  'POST /api/robot/tasks/{id}/resume': ['admin'],
  'GET /api/robot/sessions/{id}/meals': ['admin', 'supervisor', 'operator', 'platform', 'viewer'],
  'PUT /api/robot/sessions/{id}/meals': ['admin', 'platform'],
  'GET /api/console/facility': ['admin', 'supervisor', 'operator', 'viewer'],
  'GET /api/health/index': ['admin', 'supervisor', 'operator', 'viewer'],
  'POST /api/live/ticket': ['admin', 'supervisor', 'operator', 'viewer'],
  // The stream's credential is the single-use ticket, not a bearer token.
  'GET /api/live': 'public',
  // An endless event stream for the hall's screen: public, answered by test/console/live.test.ts.
  'GET /api/live/public': 'public-stream',
  'GET /api/public': 'public',
  'GET /api/integrations': ['admin'],
  'POST /api/integrations': ['admin'],
  'POST /api/integrations/{name}/rotate': ['admin'],
  'POST /api/integrations/{name}/disable': ['admin'],
};

const PASSWORD = 'access-table-password';

void t.test('every OpenAPI path × every role answers as the access table says', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const api = th.hub.api();
  const docs = (await api.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
  const operations = Object.entries(docs.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
  t.same([...operations].sort(), Object.keys(ACCESS).sort(), 'the table covers exactly the documented operations');

  const tokens = new Map<Role, string>();
  for (const role of ROLES) {
    const name = `u-${role}`;
    await th.hub.users.create(name, role, PASSWORD);
    tokens.set(role, await th.login(name, PASSWORD));
  }
  // Logging out ends the token: those rows go last.
  const rows = Object.entries(ACCESS).sort(([a], [b]) => Number(a.includes('/logout')) - Number(b.includes('/logout')));
  let checked = 0;
  for (const [op, rule] of rows) {
    if (rule === 'public-stream') continue;
    const [method, path] = op.split(' ') as ['GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', string];
    const url = path.replace('{id}', 'no-such-id').replace('{username}', 'nobody').replace('{zone}', 'no-such-zone').replace('{name}', 'nobody');
    const send = (token?: string) =>
      api.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(method === 'GET' ? {} : { payload: {} }) });
    const anonymous = await send();
    if (rule === 'public') t.notOk([401, 403].includes(anonymous.statusCode), `${op}: public, anonymous gets ${anonymous.statusCode}`);
    else t.equal(anonymous.statusCode, 401, `${op}: anonymous is 401`);
    for (const role of ROLES) {
      const res = await send(tokens.get(role));
      const allowed = rule === 'public' || rule.includes(role);
      if (allowed) t.notOk([401, 403].includes(res.statusCode), `${op} as ${role}: allowed (${res.statusCode} ${res.statusCode >= 400 ? res.body.slice(0, 80) : ''})`);
      else {
        t.equal(res.statusCode, 403, `${op} as ${role}: forbidden`);
        t.equal(res.json<{ code: string }>().code, 'HUB_ERR_FORBIDDEN');
      }
      checked++;
    }
  }
  t.equal(checked, rows.filter(([, r]) => r !== 'public-stream').length * ROLES.length, 'every cell of the table');
});

void t.test('a route that declares no access rule cannot be registered', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const h = th.hub;
  const base = { facility: h.facility, users: h.users, availability: h.availability, alarms: h.alarms, devices: h.devices, events: h.events, metrics: h.metrics, log: silentLogger(), clock: h.clock, isReady: () => true };
  await t.rejects(
    buildApp({ ...base, routes: [async (app) => void app.get('/api/forgotten', async () => ({ secret: true }))] }),
    /route GET \/api\/forgotten declares no access rule: set config.roles .* or config.public: true/,
  );
  await t.rejects(buildApp({ ...base, routes: [async (app) => void app.get('/docs-export', async () => ({}))] }), /route GET \/docs-export declares no access rule/, 'only the /docs tree itself is public by name');
  await t.rejects(buildApp({ ...base, routes: [async (app) => void app.get('/api/empty', { config: { roles: [] } }, async () => ({}))] }), /declares no access rule/, 'an empty role list admits nobody and is refused too');
  await t.rejects(buildApp({ ...base, routes: [async (app) => void app.get('/api/both', { config: { roles: ['admin'], public: true } }, async () => ({}))] }), /both roles and public/);
  const ok = await buildApp({ ...base, routes: [async (app) => void app.get('/api/open', { config: { public: true } }, async () => ({ open: true }))] });
  t.teardown(() => ok.close());
  t.equal((await ok.inject({ method: 'GET', url: '/api/open' })).statusCode, 200, 'an explicitly public route is open');
});

void t.test('security headers on every response: API, errors, console, /docs', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const api = th.hub.api();
  const token = await th.login();
  const cases = [
    { url: '/healthz', status: 200 },
    { url: '/api/devices', status: 401 },
    { url: '/api/devices', status: 200, token },
    { url: '/api/nothing-here', status: 404 },
    { url: '/console/', status: 200 },
    { url: '/docs', status: 200 },
    { url: '/docs/json', status: 200 },
  ];
  for (const c of cases) {
    const res = await api.inject({ method: 'GET', url: c.url, headers: c.token ? { authorization: `Bearer ${c.token}` } : {} });
    t.equal(res.statusCode, c.status, `${c.url} ${c.status}`);
    const csp = String(res.headers['content-security-policy'] ?? '');
    t.match(csp, /default-src 'self'/, `${c.url}: CSP`);
    t.match(csp, /object-src 'none'/, `${c.url}: no plugins`);
    t.match(csp, /frame-ancestors 'none'/, `${c.url}: not framed`);
    t.notMatch(csp, /upgrade-insecure-requests/, `${c.url}: no https upgrade over plain HTTP`);
    t.notMatch(csp, /unsafe-inline|unsafe-eval/, `${c.url}: no inline script or eval`);
    t.equal(res.headers['x-content-type-options'], 'nosniff');
    t.equal(res.headers['x-frame-options'], 'DENY');
    t.equal(res.headers['referrer-policy'], 'no-referrer');
    t.notOk(res.headers['strict-transport-security'], 'no HSTS over plain HTTP');
  }
  const page = await api.inject({ method: 'GET', url: '/docs/static/index.html' });
  t.notMatch(page.body, /<script>[^<]/, 'the docs page has no inline script');
});
