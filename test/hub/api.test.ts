import t from 'tap';
import { startTestHub, tempDir, ADMIN_PASSWORD, type TestHub } from '../helpers/hub.js';
import { ManualClock } from '../../kernel/clock.js';
import { TOKEN_TTL_MS } from '../../hub/users.js';
import { buildApp } from '../../hub/api/app.js';
import { silentLogger } from '../../hub/log.js';
import { SimulatedMqttDevice } from '../../simulators/mqtt-device.js';
import { captureLogs } from '../fixtures/logs.js';
import { metricValue } from '../fixtures/mqtt.js';

type Method = 'GET' | 'POST';
interface Answer {
  status: number;
  body: Record<string, unknown> & { code?: string; message?: string; details?: unknown };
  raw: string;
  contentType: string;
}

async function call(th: TestHub, method: Method, url: string, opts: { token?: string; payload?: unknown } = {}): Promise<Answer> {
  const res = await th.hub.api().inject({
    method,
    url,
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
    ...(opts.payload !== undefined ? { payload: opts.payload as Record<string, unknown> } : {}),
  });
  let body: Answer['body'] = {};
  try {
    body = JSON.parse(res.body) as Answer['body'];
  } catch {
    body = {};
  }
  return { status: res.statusCode, body, raw: res.body, contentType: String(res.headers['content-type'] ?? '') };
}

function isErrorShape(t: Tap, body: Answer['body'], code: string): void {
  t.equal(body.code, code);
  t.type(body.message, 'string');
  t.ok((body.message ?? '').length > 0, 'a message');
  t.same(
    Object.keys(body).filter((k) => !['code', 'message', 'details'].includes(k)),
    [],
    'only code, message and details',
  );
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

void t.test('system routes: healthz, metrics, OpenAPI', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const health = await call(th, 'GET', '/healthz');
  t.equal(health.status, 200);
  t.match(health.body, { status: 'ok', devicesConfigured: 5, devicesAvailable: 0 });

  const metrics = await call(th, 'GET', '/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.contentType, /^text\/plain/);
  t.match(metrics.raw, /^# HELP fh_devices_online /m);
  t.equal(metricValue(metrics.raw, 'fh_devices_online'), 0);
  t.equal(metricValue(metrics.raw, 'fh_devices_configured'), 5);
  t.ok(metricValue(metrics.raw, 'fh_event_log_records') >= 2, 'event log size exported');

  const docs = await call(th, 'GET', '/docs/json');
  t.equal(docs.status, 200);
  t.match(docs.body, { openapi: /^3\./, info: { title: String } });
  const paths = Object.keys(docs.body.paths as Record<string, unknown>);
  for (const p of ['/api/devices', '/api/devices/{id}', '/api/devices/{id}/commands', '/api/events', '/api/auth/login', '/healthz']) t.ok(paths.includes(p), `documents ${p}`);
});

void t.test('healthz answers 503 while the hub is not ready', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const h = th.hub;
  const app = await buildApp({ facility: h.facility, users: h.users, availability: h.availability, alarms: h.alarms, devices: h.devices, events: h.events, metrics: h.metrics, log: silentLogger(), clock: h.clock, isReady: () => false });
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/healthz' });
  t.equal(res.statusCode, 503);
  t.match(res.json(), { code: 'HUB_ERR_NOT_READY' });
});

void t.test('a real socket: login and list devices over TCP', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const base = `http://127.0.0.1:${th.hub.httpPort}`;
  const health = await fetch(`${base}/healthz`);
  t.equal(health.status, 200);
  const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
  t.equal(login.status, 200);
  const { token } = (await login.json()) as { token: string };
  const devices = await fetch(`${base}/api/devices`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(devices.status, 200);
  const list = (await devices.json()) as { id: string }[];
  t.same(list.map((d) => d.id).sort(), ['door-1', 'fire-1', 'gate-1', 'gate-2', 'robot-1']);
  const anon = await fetch(`${base}/api/devices`);
  t.equal(anon.status, 401);
  t.match(await anon.json(), { code: 'HUB_ERR_UNAUTHENTICATED' });
});

void t.test('authentication: login, wrong password, no token, unknown token, expiry', async (t) => {
  const clock = new ManualClock();
  const th = await startTestHub({ clock });
  t.teardown(() => th.stop());
  const ok = await call(th, 'POST', '/api/auth/login', { payload: { username: 'admin', password: ADMIN_PASSWORD } });
  t.equal(ok.status, 200);
  t.match(ok.body, { token: /^fht_/, role: 'admin', expiresAt: new Date(clock.now() + TOKEN_TTL_MS).toISOString() });
  const token = ok.body.token as string;
  t.match((await call(th, 'GET', '/api/auth/me', { token })).body, { username: 'admin', role: 'admin' });

  const wrong = await call(th, 'POST', '/api/auth/login', { payload: { username: 'admin', password: 'not-the-password' } });
  t.equal(wrong.status, 401);
  isErrorShape(t, wrong.body, 'HUB_ERR_BAD_CREDENTIALS');
  const nobody = await call(th, 'POST', '/api/auth/login', { payload: { username: 'nobody', password: 'whatever' } });
  t.equal(nobody.status, 401);
  t.equal(nobody.body.code, 'HUB_ERR_BAD_CREDENTIALS', 'an unknown user looks the same as a wrong password');

  const none = await call(th, 'GET', '/api/devices');
  t.equal(none.status, 401);
  isErrorShape(t, none.body, 'HUB_ERR_UNAUTHENTICATED');
  const forged = await call(th, 'GET', '/api/devices', { token: 'fht_forged' });
  t.equal(forged.status, 401);
  t.equal(forged.body.code, 'HUB_ERR_UNAUTHENTICATED');

  clock.advance(TOKEN_TTL_MS - 60_000);
  t.equal((await call(th, 'GET', '/api/devices', { token })).status, 200, 'still valid a minute before expiry');
  clock.advance(60_001);
  const expired = await call(th, 'GET', '/api/devices', { token });
  t.equal(expired.status, 401);
  isErrorShape(t, expired.body, 'HUB_ERR_TOKEN_EXPIRED');
  // Logging out revokes the token.
  const fresh = (await call(th, 'POST', '/api/auth/login', { payload: { username: 'admin', password: ADMIN_PASSWORD } })).body.token as string;
  t.equal((await call(th, 'POST', '/api/auth/logout', { token: fresh })).status, 204);
  t.equal((await call(th, 'GET', '/api/devices', { token: fresh })).body.code, 'HUB_ERR_UNAUTHENTICATED');
});

void t.test('roles: a viewer may read but not command; an operator may command', async (t) => {
  const th = await startTestHub({ extra: { commandDefaults: { timeoutMs: 2000, retries: 0 } } });
  t.teardown(() => th.stop());
  th.hub.users.createSync('vera', 'viewer', 'viewer-password');
  th.hub.users.createSync('otto', 'operator', 'operator-password');
  const viewer = await th.login('vera', 'viewer-password');
  const operator = await th.login('otto', 'operator-password');
  t.equal((await call(th, 'GET', '/api/devices', { token: viewer })).status, 200);
  const denied = await call(th, 'POST', '/api/devices/door-1/commands', { token: viewer, payload: { cmd: 'open' } });
  t.equal(denied.status, 403);
  isErrorShape(t, denied.body, 'HUB_ERR_FORBIDDEN');
  t.match(denied.body.message, /viewer/);
  t.equal((th.hub.store.db.prepare('SELECT COUNT(*) AS n FROM commands').get() as { n: number }).n, 0, 'nothing reached the ledger');

  const offline = await call(th, 'POST', '/api/devices/door-1/commands', { token: operator, payload: { cmd: 'open' } });
  t.equal(offline.status, 503);
  t.equal(offline.body.code, 'HUB_ERR_DEVICE_UNAVAILABLE');

  const sim = new SimulatedMqttDevice({ url: th.mqttUrl, site: 'demo', deviceId: 'door-1', token: th.hub.tokens.issue('door-1'), clock: th.hub.clock, log: silentLogger(), reconnectMs: 0, initialState: { locked: true }, commands: { open: () => ({ ok: true }), lock: () => ({ ok: false, error: 'jammed' }) } });
  await sim.start();
  t.teardown(() => sim.stop());
  const until = Date.now() + 5000;
  while (th.hub.availability.get('door-1')?.state.locked !== true && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  const acked = await call(th, 'POST', '/api/devices/door-1/commands', { token: operator, payload: { cmd: 'open' } });
  t.equal(acked.status, 200);
  t.match(acked.body, { outcome: 'acked', ok: true, attempts: 1 });
  const refused = await call(th, 'POST', '/api/devices/door-1/commands', { token: operator, payload: { cmd: 'lock', args: {} } });
  t.equal(refused.status, 502);
  t.match(refused.body, { code: 'HUB_ERR_DEVICE_REJECTED', message: /jammed/ });
});

void t.test('invalid bodies answer 400 HUB_ERR_VALIDATION naming the field', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const token = await th.login();
  const cases: { url: string; payload: unknown; field: RegExp }[] = [
    { url: '/api/auth/login', payload: { username: 'admin' }, field: /password/ },
    { url: '/api/auth/login', payload: { username: { name: 'admin' }, password: 'x' }, field: /username/ },
    { url: '/api/auth/login', payload: { username: 'admin', password: 'x', remember: true }, field: /remember/ },
    { url: '/api/auth/login', payload: { username: '', password: 'x' }, field: /username/ },
    { url: '/api/devices/door-1/commands', payload: { args: {} }, field: /cmd/ },
    { url: '/api/devices/door-1/commands', payload: { cmd: 'open', args: 'now' }, field: /args/ },
    { url: '/api/devices/door-1/commands', payload: { cmd: 'open', urgent: true }, field: /urgent/ },
    { url: '/api/devices/door-1/commands', payload: { cmd: 'fly' }, field: /cmd/ },
  ];
  for (const c of cases) {
    const res = await call(th, 'POST', c.url, { token, payload: c.payload });
    t.equal(res.status, 400, `${c.url} ${JSON.stringify(c.payload)}: 400`);
    isErrorShape(t, res.body, 'HUB_ERR_VALIDATION');
    t.match(`${res.body.message ?? ''} ${JSON.stringify(res.body.details ?? {})}`, c.field, `names the field ${String(c.field)}`);
  }
  const notJson = await th.hub.api().inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username": ' });
  t.equal(notJson.statusCode, 400);
  t.match(notJson.json(), { code: /^HUB_ERR_/ });
});

void t.test('unknown routes and unknown devices answer 404 with the error shape', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const token = await th.login();
  const route = await call(th, 'GET', '/api/nothing-here?x=1');
  t.equal(route.status, 404);
  isErrorShape(t, route.body, 'HUB_ERR_NOT_FOUND');
  t.match(route.body.message, /GET \/api\/nothing-here/);
  const dev = await call(th, 'GET', '/api/devices/no-such-device', { token });
  t.equal(dev.status, 404);
  isErrorShape(t, dev.body, 'HUB_ERR_NOT_FOUND');
  t.match(dev.body.message, /no-such-device/);
  const cmd = await call(th, 'POST', '/api/devices/no-such-device/commands', { token, payload: { cmd: 'open' } });
  t.equal(cmd.status, 404);
  t.equal(cmd.body.code, 'HUB_ERR_NOT_FOUND');
});

void t.test('GET /api/events filters by deviceId and since (ISO and epoch); a bad since is 400', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 10, 28, 1, 0, 0)); // 09:00 +08:00
  const th = await startTestHub({ clock });
  t.teardown(() => th.stop());
  const token = await th.login();
  const door = await th.connectDevice('door-1');
  const gate = await th.connectDevice('gate-1');
  await door.publishAsync('fh/demo/door-1/event', JSON.stringify({ type: 'opened' }), { qos: 1 });
  clock.advance(30 * 60_000); // 09:30
  await gate.publishAsync('fh/demo/gate-1/event', JSON.stringify({ type: 'tamper' }), { qos: 1 });
  await door.publishAsync('fh/demo/door-1/event', JSON.stringify({ type: 'closed' }), { qos: 1 });

  const get = async (q: Record<string, string>): Promise<Answer> => call(th, 'GET', `/api/events?${new URLSearchParams(q).toString()}`, { token });
  const doorEvents = await get({ deviceId: 'door-1', type: 'device.event' });
  t.equal(doorEvents.status, 200);
  const types = (a: Answer): unknown[] => (a.body as unknown as { data: { type: string } }[]).map((e) => e.data.type);
  t.same(types(doorEvents), ['opened', 'closed']);
  t.ok((doorEvents.body as unknown as { deviceId: string }[]).every((e) => e.deviceId === 'door-1'));

  const sinceIso = await get({ type: 'device.event', since: '2026-11-28T09:15:00+08:00' });
  t.equal(sinceIso.status, 200);
  t.same(types(sinceIso), ['tamper', 'closed']);
  const sinceZ = await get({ deviceId: 'door-1', type: 'device.event', since: '2026-11-28T01:15:00Z' });
  t.same(types(sinceZ), ['closed']);
  const sinceEpoch = await get({ type: 'device.event', since: String(Date.UTC(2026, 10, 28, 1, 30, 0)) });
  t.same(types(sinceEpoch), ['tamper', 'closed']);
  const latest = await get({ type: 'device.event', latest: 'true', limit: '2' });
  t.same(types(latest), ['tamper', 'closed'], 'latest: the last two, oldest first');
  const first = (sinceEpoch.body as unknown as { time: string }[])[0];
  t.equal(first?.time, '2026-11-28T09:30:00.000+08:00', 'times are written with the site offset');

  for (const bad of ['yesterday', '2026-11-28T09:15:00', '2026-13-45T99:00:00+08:00', '-5']) {
    const res = await get({ since: bad });
    t.equal(res.status, 400, `since=${bad}`);
    isErrorShape(t, res.body, 'HUB_ERR_VALIDATION');
    t.match(res.body.message, /since/);
  }
  t.equal((await get({ limit: '0' })).status, 400, 'limit out of range');
  t.equal((await get({ colour: 'red' })).status, 400, 'unknown query parameter');
});

void t.test('admin password: FH_ADMIN_PASSWORD is used; a generated one is reported once', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const told: string[] = [];
  const first = await startTestHub({ dataDir: tmp.dir, extra: { adminPassword: undefined, onGeneratedAdminPassword: (pw) => told.push(pw) } });
  t.equal(told.length, 1, 'told once');
  const generated = told[0]!;
  t.ok(generated.length >= 12, 'a real password');
  t.type(await first.login('admin', generated), 'string', 'the generated password works');
  await first.stop();
  // The next start of the same data dir keeps the user and does not tell again.
  const second = await startTestHub({ dataDir: tmp.dir, extra: { adminPassword: 'ignored-now', onGeneratedAdminPassword: (pw) => told.push(pw) } });
  t.teardown(() => second.stop());
  t.equal(told.length, 1, 'not told again');
  t.type(await second.login('admin', generated), 'string');
  await t.rejects(second.login('admin', 'ignored-now'), /401/, 'a later password does not replace the first');

  // A given password (what the CLI takes from FH_ADMIN_PASSWORD) is used and never "told".
  const toldGiven: string[] = [];
  const third = await startTestHub({ extra: { adminPassword: 'from-the-environment', onGeneratedAdminPassword: (pw) => toldGiven.push(pw) } });
  t.teardown(() => third.stop());
  t.type(await third.login('admin', 'from-the-environment'), 'string');
  t.same(toldGiven, []);
});

void t.test('passwords and tokens never reach the logs', async (t) => {
  const logs = captureLogs('trace');
  const told: string[] = [];
  const th = await startTestHub({ log: logs.log, extra: { adminPassword: undefined, onGeneratedAdminPassword: (pw) => told.push(pw) } });
  t.teardown(() => th.stop());
  const adminPw = told[0]!;
  th.hub.users.createSync('vera', 'viewer', 'viewer-secret-pw');
  const token = await th.login('admin', adminPw);
  const viewerToken = await th.login('vera', 'viewer-secret-pw');
  await call(th, 'POST', '/api/auth/login', { payload: { username: 'admin', password: 'wrong-secret-pw' } });
  await call(th, 'POST', '/api/devices/door-1/commands', { token: viewerToken, payload: { cmd: 'open' } });
  await call(th, 'GET', '/api/devices', { token });
  await call(th, 'GET', '/api/events', { token: `${token}x` });
  const device = await th.connectDevice('door-1');
  const deviceToken = th.hub.tokens.issue('gate-1');
  await device.publishAsync('fh/demo/door-1/state', '{"broken json', { qos: 1 });
  await th.connectDevice('gate-1', { password: `${deviceToken}-wrong` }).catch(() => undefined);
  const text = logs.text();
  t.ok(logs.records().length > 5, 'the hub did log');
  t.ok(logs.records().some((r) => r.msg === 'login failed'), 'the failed login was logged');
  for (const [what, secret] of [
    ['generated admin password', adminPw],
    ['viewer password', 'viewer-secret-pw'],
    ['wrong password', 'wrong-secret-pw'],
    ['admin bearer token', token],
    ['viewer bearer token', viewerToken],
    ['device token', deviceToken],
  ] as const) {
    t.notOk(text.includes(secret), `no ${what} in the logs`);
  }
});
