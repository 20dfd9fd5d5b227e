import t from 'tap';
import http from 'node:http';
import { ManualClock } from '../../kernel/clock.js';
import { TOKEN_TTL_MS } from '../../hub/users.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';

// The live feed over a real socket: Server-Sent Events, tickets, resuming after a break.

interface Frame {
  id?: string;
  event: string;
  data: unknown;
}

/** Opens an SSE stream and collects its frames; `next(n)` waits for the n-th frame. */
function openStream(th: TestHub, path: string, headers: Record<string, string> = {}) {
  const frames: Frame[] = [];
  const waiters: (() => void)[] = [];
  let status = 0;
  let contentType = '';
  let buffer = '';
  let markEnded: () => void = () => undefined;
  /** Resolves when the server ends the response (not when we close it). */
  const ended = new Promise<void>((resolve) => (markEnded = resolve));
  const req = http.get({ host: '127.0.0.1', port: th.hub.httpPort, path, headers });
  const ready = new Promise<void>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      contentType = String(res.headers['content-type'] ?? '');
      res.setEncoding('utf8');
      res.on('end', () => markEnded());
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let i;
        while ((i = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const f: Partial<Frame> & { lines: string[] } = { lines: [] };
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) f.id = line.slice(4);
            else if (line.startsWith('event: ')) f.event = line.slice(7);
            else if (line.startsWith('data: ')) f.lines.push(line.slice(6));
          }
          if (f.event) frames.push({ ...(f.id !== undefined ? { id: f.id } : {}), event: f.event, data: JSON.parse(f.lines.join('\n')) });
          for (const w of waiters.splice(0)) w();
        }
      });
      resolve();
    });
  });
  const next = async (n: number): Promise<Frame[]> => {
    const until = Date.now() + 5000;
    while (frames.length < n) {
      if (Date.now() > until) throw new Error(`only ${frames.length} of ${n} frames: ${JSON.stringify(frames)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    return frames;
  };
  return { ready, next, ended, frames, close: () => req.destroy(), status: () => status, contentType: () => contentType };
}

async function ticket(th: TestHub, token: string): Promise<string> {
  const res = await th.hub.api().inject({ method: 'POST', url: '/api/live/ticket', headers: { authorization: `Bearer ${token}` } });
  t.equal(res.statusCode, 200);
  return res.json<{ ticket: string }>().ticket;
}

void t.test('the live feed needs a ticket from an authenticated POST, used once; never the bearer token in the URL', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const app = th.hub.api();
  t.equal((await app.inject({ method: 'POST', url: '/api/live/ticket' })).statusCode, 401, 'no ticket without login');
  const missing = await app.inject({ method: 'GET', url: '/api/live' });
  t.equal(missing.statusCode, 400);
  t.match(missing.json(), { code: 'HUB_ERR_VALIDATION', details: { field: 'querystring.ticket' } });
  const token = await th.login();
  const byToken = await app.inject({ method: 'GET', url: `/api/live?ticket=${token}` });
  t.equal(byToken.statusCode, 401, 'a bearer token is not a ticket');
  t.match(byToken.json(), { code: 'HUB_ERR_UNAUTHENTICATED', details: { reason: /ticket/ } });

  const tk = await ticket(th, token);
  const s = openStream(th, `/api/live?ticket=${tk}`);
  t.teardown(s.close);
  await s.ready;
  t.equal(s.status(), 200);
  t.match(s.contentType(), /^text\/event-stream/);
  const [hello] = await s.next(1);
  t.match(hello, { event: 'hello', data: { user: 'admin', role: 'admin' } });
  const again = await app.inject({ method: 'GET', url: `/api/live?ticket=${tk}` });
  t.equal(again.statusCode, 401, 'a ticket opens one stream only');
});

void t.test('every committed record arrives with its seq as the id; a reconnect resumes after the last one seen', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const token = await th.login();
  const s1 = openStream(th, `/api/live?ticket=${await ticket(th, token)}`);
  t.teardown(s1.close);
  await s1.next(1);
  const a = await th.hub.events.append({ type: 'test.one', actor: 'hub', data: { n: 1 } });
  const frames = await s1.next(2);
  t.match(frames[1], { id: String(a.seq), event: 'event', data: { seq: a.seq, type: 'test.one', data: { n: 1 }, time: /\+00:00$|[+-]\d\d:\d\d$/ } });
  s1.close();

  // Missed while disconnected: replayed in order on reconnect (the page passes `after`), then live again.
  const b = await th.hub.events.append({ type: 'test.two', actor: 'hub' });
  const c = await th.hub.events.append({ type: 'test.three', actor: 'hub' });
  const s2 = openStream(th, `/api/live?ticket=${await ticket(th, token)}&after=${a.seq}`);
  t.teardown(s2.close);
  const replay = await s2.next(3);
  t.same(replay.map((f) => [f.event, f.id]), [['event', String(b.seq)], ['event', String(c.seq)], ['hello', undefined]]);
  await th.hub.events.append({ type: 'test.four', actor: 'hub' });
  t.match((await s2.next(4))[3], { event: 'event', data: { type: 'test.four' } });

  // The browser's own reconnect sends Last-Event-ID; it wins over `after`.
  const s3 = openStream(th, `/api/live?ticket=${await ticket(th, token)}&after=0`, { 'last-event-id': String(c.seq) });
  t.teardown(s3.close);
  const resumed = await s3.next(2);
  t.match(resumed[0], { event: 'event', data: { type: 'test.four' } });
  t.equal(resumed[1]!.event, 'hello');
});

void t.test('a stream ends with its login: logout, a disabled user, a role that may not read it, an expired token', async (t) => {
  const clock = new ManualClock(Date.now());
  const th = await startTestHub({ full: true, clock });
  t.teardown(() => th.stop());
  const app = th.hub.api();
  const admin = await th.login();
  const patch = async (username: string, payload: Record<string, unknown>) => {
    const res = await app.inject({ method: 'PATCH', url: `/api/users/${username}`, headers: { authorization: `Bearer ${admin}` }, payload });
    t.equal(res.statusCode, 200, `PATCH ${username} ${JSON.stringify(payload)}`);
  };
  for (const name of ['live-a', 'live-b', 'live-c', 'live-d']) await th.hub.users.create(name, 'operator', 'live-test-password');
  const open = async (username: string) => {
    const token = await th.login(username, 'live-test-password');
    const s = openStream(th, `/api/live?ticket=${await ticket(th, token)}`);
    t.teardown(s.close);
    await s.next(1);
    return { s, token };
  };

  // Logout: the stream of that token ends at once; another user's stream stays.
  const a = await open('live-a');
  const b = await open('live-b');
  const out = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${a.token}` } });
  t.equal(out.statusCode, 204);
  await a.s.ended;
  t.match(a.s.frames.at(-1), { event: 'ended' }, 'told why before the end');
  await th.hub.events.append({ type: 'test.after-logout', actor: 'hub' });
  t.match((await b.s.next(2))[1], { event: 'event', data: { type: 'test.after-logout' } }, 'the other stream goes on');
  t.notOk(a.s.frames.some((f) => f.event === 'event' && (f.data as { type: string }).type === 'test.after-logout'), 'nothing after logout');

  // A ticket asked for before a logout opens nothing after it.
  const c = await th.login('live-c', 'live-test-password');
  const early = await ticket(th, c);
  await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${c}` } });
  t.equal((await app.inject({ method: 'GET', url: `/api/live?ticket=${early}` })).statusCode, 401, 'the ticket died with its login');

  // Disabled by an admin: ended before the user.disabled record reaches it.
  await patch('live-b', { disabled: true });
  await b.s.ended;
  t.notOk(b.s.frames.some((f) => f.event === 'event' && (f.data as { type: string }).type === 'user.disabled'), 'the disabled user does not see its own disabling');

  // A role that may not read the feed (the platform's integration account).
  const d = await open('live-d');
  await patch('live-d', { role: 'platform' });
  await d.s.ended;

  // Expiry: the token runs out and the next heartbeat ends the stream.
  const e = openStream(th, `/api/live?ticket=${await ticket(th, admin)}`);
  t.teardown(e.close);
  await e.next(1);
  clock.advance(TOKEN_TTL_MS + 16_000);
  await e.ended;
  t.pass('an expired token ends its stream');
});

void t.test('the public stream and /api/public: rooms, counts and jammer state, nothing personal, no login', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const res = await th.hub.api().inject({ method: 'GET', url: '/api/public' });
  t.equal(res.statusCode, 200);
  const body = res.json<{ rooms: Record<string, unknown>[]; totals: unknown }>();
  t.same(Object.keys(body.rooms[0]!).sort(), ['id', 'inside', 'jammer', 'name', 'seats', 'sessions'], 'only these fields per room');
  t.same(body.totals, { sessions: 0, inside: 0, jammersOn: 0 });
  const s = openStream(th, '/api/live/public');
  t.teardown(s.close);
  const [first] = await s.next(1);
  t.match(first, { event: 'public', data: { rooms: [{ id: 'room-1' }, { id: 'room-2' }, { id: 'room-3' }] } });
  // A session starting changes the display: a new snapshot is pushed.
  await th.hub.sessions.create({ code: 'P-1', name: '公示测试', start: Date.now() + 10 * 60_000, end: Date.now() + 60 * 60_000 }, 'user:admin');
  const frames = await s.next(2);
  t.match(frames[1], { event: 'public', data: { totals: { sessions: 1 } } });
});

void t.test('the console pages and the front-end packages are served from the hub with a strict CSP', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const app = th.hub.api();
  const root = await app.inject({ method: 'GET', url: '/' });
  t.equal(root.statusCode, 302);
  t.equal(root.headers.location, '/console/');
  for (const [url, type] of [
    ['/console/', /text\/html/],
    ['/console/console.js', /javascript/],
    ['/console/i18n.js', /javascript/],
    ['/console/console.css', /text\/css/],
    ['/console/vendor/preact.js', /javascript/],
    ['/console/vendor/htm.js', /javascript/],
    ['/console/vendor/uplot.js', /javascript/],
    ['/console/vendor/uplot.css', /text\/css/],
    ['/public', /text\/html/],
  ] as const) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 200, url);
    t.match(res.headers['content-type'], type, url);
    t.match(res.headers['content-security-policy'], /default-src 'self'/, url);
    t.notMatch(res.headers['content-security-policy'], /unsafe/, url);
    t.equal(res.headers['x-content-type-options'], 'nosniff', url);
    t.notMatch(res.body, /<(script|link)[^>]+(src|href)="(https?:)?\/\//, `${url} loads nothing from elsewhere`);
  }
  for (const url of ['/console/vendor/lodash.js', '/console/feature.ts', '/console/secrets.txt']) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 404, url);
    t.equal(res.json<{ code: string }>().code, 'HUB_ERR_NOT_FOUND');
  }
  const token = await th.login();
  const f = await app.inject({ method: 'GET', url: '/api/console/facility', headers: { authorization: `Bearer ${token}` } });
  t.match(f.json(), { site: { id: 'demo' }, rooms: [{ id: 'room-1', seats: 4 }], apis: { '/api/jammers': true, '/api/users': true } });
});
