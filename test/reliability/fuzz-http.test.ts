import t from 'tap';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { startTestHub } from '../helpers/hub.js';
import { demoPeople } from '../../simulators/demo-people.js';

/**
 * fast-check over every route of the HTTP API, read from the hub's own OpenAPI document
 * (`/docs/json`), so a route added later is fuzzed without touching this file: random JSON
 * bodies (lone surrogates, NaN-ish and huge numbers, deep nesting, wrong types, the route's
 * own field names with wrong values) and random query strings, as admin. Never a 5xx, no
 * unhandled rejection, and a rejected request (4xx) changes nothing: the tables the API
 * writes hash the same before and after, and the event log gains nothing but the record of
 * the refusal itself where the hub logs refusals (a refused login or command). Background
 * records the hub writes meanwhile (health samples, availability) are told apart by actor.
 */

const unhandled: unknown[] = [];
process.on('unhandledRejection', (e) => unhandled.push(e));

const th = await startTestHub({ full: true });
t.teardown(() => th.stop());
const api = th.hub.api();
let token = await th.login();
await th.hub.users.create('fuzz-user', 'operator', 'fuzz-user-password-1');
const auth = (): Record<string, string> => ({ authorization: `Bearer ${token}` });

// Something for the routes to act on: a session with a roster, a device that is connected.
const now = th.hub.clock.now();
const created = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth(), payload: { code: 'FUZZ-1', name: '模糊测试', start: new Date(now + 3600_000).toISOString(), end: new Date(now + 7200_000).toISOString(), rooms: ['room-1', 'room-2'] } });
const sessionId = created.json<{ id: string }>().id;
await api.inject({ method: 'POST', url: `/api/sessions/${sessionId}/roster`, headers: auth(), payload: demoPeople(0, 2) });
const door = await th.connectDevice('door-1');
// Locked and closed, as a door reports itself: the hub's own seal of the sealed area (a lock
// when a fuzzed session starts, docs/door.md) is then nothing to do, not a background write
// landing in the middle of another request's before/after digest.
await door.publishAsync('fh/demo/door-1/state', JSON.stringify({ locked: true, contact: 'closed' }), { qos: 1, retain: true });
await door.publishAsync('fh/demo/door-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });
// The door answers its commands, so a fuzzed command that passes is not a 504 after a wait.
await door.subscribeAsync('fh/demo/door-1/cmd', { qos: 1 });
door.on('message', (_topic, payload) => {
  const id = (JSON.parse(payload.toString('utf8')) as { id?: unknown }).id;
  void door.publishAsync('fh/demo/door-1/cmd/ack', JSON.stringify({ id, ok: true }), { qos: 1 }).catch(() => undefined);
});

interface Route {
  method: string;
  path: string;
  bodyKeys: string[];
  queryKeys: string[];
}

const doc = (await api.inject({ method: 'GET', url: '/docs/json' })).json<{
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> }; parameters?: { in: string; name: string }[] }>>;
}>();
// The live feed is a stream that stays open (its ticket route is fuzzed); everything else is.
const STREAMS = new Set(['/api/live', '/api/live/public']);
const routes: Route[] = Object.entries(doc.paths).flatMap(([path, methods]) =>
  STREAMS.has(path)
    ? []
    : Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        bodyKeys: Object.keys(op.requestBody?.content?.['application/json']?.schema?.properties ?? {}),
        queryKeys: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      })),
);

/** Values meant to break parsers and validators. */
const nasty = fc.oneof(
  fc.constantFrom('\ud800', 'a\udfffb', '\udc00\ud800', 'NaN', '-NaN', 'Infinity', '-Infinity', '1e309', '-0', '0x10', '', ' ', '\u0000', '\u202e', '𠮷', '名单', 'null', 'undefined', '__proto__', 'constructor'),
  fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, -(2 ** 63), 2 ** 64, 5e-324, -0, 0.1),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const deep = fc.integer({ min: 50, max: 400 }).map((n) => {
  let v: unknown = 'x';
  for (let i = 0; i < n; i++) v = i % 2 ? { a: v } : [v];
  return v;
});
const anyValue = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 3, arbitrary: nasty },
  { weight: 1, arbitrary: deep },
  { weight: 2, arbitrary: fc.array(nasty, { maxLength: 5 }) },
  { weight: 2, arbitrary: fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), nasty, { maxKeys: 5 }) },
);
/** The route's own fields with wrong or hostile values (reaches past the first type check). */
const nearMiss = (keys: string[]): fc.Arbitrary<unknown> =>
  keys.length === 0 ? anyValue : fc.record(Object.fromEntries(keys.map((k) => [k, fc.oneof(nasty, anyValue)])), { requiredKeys: [] });
const queryString = (keys: string[]): fc.Arbitrary<string> =>
  fc
    .array(fc.tuple(keys.length ? fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 6 })) : fc.string({ maxLength: 6 }), fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), nasty.map(String))), { maxLength: 4 })
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k.replace(/[\ud800-\udfff]/g, '?'))}=${encodeURIComponent(v.replace(/[\ud800-\udfff]/g, '?'))}`).join('&'));
/**
 * Requests that would be accepted, for the routes that write: the fuzz replaces one leaf
 * (or adds a lone surrogate to a string) so that the bad value gets past the first check.
 * A route missing here is still fuzzed with the generic bodies.
 */
const GOOD: Record<string, unknown> = {
  'POST /api/sessions': { code: 'G', name: '评标', start: new Date(now + 3600_000).toISOString(), end: new Date(now + 7200_000).toISOString(), rooms: ['room-3'], checkInOpensMinutes: 60 },
  'POST /api/sessions/{id}/roster': [{ name: '王建国', idNumber: demoPeople(5, 1)[0]!.idNumber, role: 'expert' }],
  'POST /api/users': { username: 'fz', role: 'viewer', password: 'a-long-enough-password', displayName: '模糊' },
  'PATCH /api/users/{username}': { displayName: '模糊', role: 'viewer' },
  'POST /api/devices/{id}/commands': { cmd: 'open', args: {} },
  'POST /api/broadcast/warnings': { room: 'room-1', messageId: 1, reason: '讲话' },
  'POST /api/broadcast/calls': { room: 'room-1', reason: '讲话' },
  'POST /api/jammers/{zone}/override': { mode: 'off', reason: '检修', minutes: 5 },
  'POST /api/auth/login': { username: 'fuzz-user', password: 'wrong-password' },
};
const leaves = (v: unknown, at: (string | number)[] = []): (string | number)[][] =>
  v !== null && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => leaves(x, [...at, Array.isArray(v) ? Number(k) : k])) : [at];
function replaced(v: unknown, path: (string | number)[], by: (old: unknown) => unknown): unknown {
  if (path.length === 0) return by(v);
  const [head, ...rest] = path;
  const copy = (Array.isArray(v) ? [...v] : { ...(v as Record<string, unknown>) }) as Record<string | number, unknown>;
  copy[head!] = replaced(copy[head!], rest, by);
  return copy;
}
const mutated = (good: unknown): fc.Arbitrary<unknown> =>
  fc.tuple(fc.nat(), fc.oneof(nasty, anyValue), fc.boolean()).map(([i, bad, surrogate]) => {
    const all = leaves(good);
    return replaced(good, all[i % all.length]!, (old) => (surrogate && typeof old === 'string' ? `${old}\ud800` : bad));
  });
const bodyFor = (r: Route): fc.Arbitrary<unknown> => {
  const good = GOOD[`${r.method} ${r.path}`];
  return good === undefined ? fc.oneof(anyValue, nearMiss(r.bodyKeys)) : fc.oneof(anyValue, nearMiss(r.bodyKeys), mutated(good), mutated(good));
};

/** Path parameters: things that exist (never the admin itself, so the fuzz keeps its login) and garbage. */
const param = fc.oneof(fc.constantFrom(sessionId, 'fuzz-user', 'door-1', 'gate-1', 'jammer-room-1', 'room-1', 'nope', '0', '-1', '%00', '..%2F..'), fc.string({ maxLength: 10 }).map(encodeURIComponent));

/** The tables the API writes, as one hash (the event log by count and last hash). */
function digest(): { hash: string; events: number } {
  const db = th.hub.store.db;
  const h = createHash('sha256');
  for (const table of ['sessions', 'roster', 'checkins', 'users', 'device_tokens', 'commands', 'allow_list']) {
    h.update(table);
    h.update(JSON.stringify(db.prepare(`SELECT * FROM ${table} ORDER BY 1`).all()));
  }
  // The chain head moves with every record, the hub's own background ones included.
  h.update(JSON.stringify(db.prepare("SELECT * FROM meta WHERE key <> 'chain.head' ORDER BY 1").all()));
  const events = (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  return { hash: h.digest('hex'), events };
}

/** Event types a refusal itself may leave (the security log of who was refused). */
const REFUSAL_RECORD = /(^|\.)(refused|failed|denied|rejected)$|^auth\./;

void t.test(`random bodies and query strings on all ${routes.length} routes`, async (t) => {
  t.ok(routes.length >= 30, `routes read from /docs/json (${routes.length})`);
  const statuses = new Map<number, number>();
  const seen = new Set<string>();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...routes).chain((r) => fc.tuple(fc.constant(r), bodyFor(r), queryString(r.queryKeys), param, fc.integer({ min: 0, max: 7 }).map((n) => n === 0))),
      async ([route, body, query, p, asText]) => {
        const url = route.path.replace(/\{[^}]+\}/g, p) + (query ? `?${query}` : '');
        const before = digest();
        const withBody = route.method !== 'GET' && route.method !== 'DELETE';
        // JSON.stringify writes a lone surrogate as an escape, which is valid JSON text.
        const res = await api.inject({ method: route.method as 'GET', url, headers: { ...auth(), ...(withBody ? { 'content-type': asText ? 'text/plain' : 'application/json' } : {}) }, ...(withBody ? { payload: JSON.stringify(body) ?? 'null' } : {}) });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        seen.add(`${route.method} ${route.path}`);
        // A device that is not there or does not answer is 503/504 by contract: what the
        // hub knows about hardware, not a failure of the hub. Anything else 5xx is a defect.
        const deviceAnswer = (res.statusCode === 503 || res.statusCode === 504) && /^HUB_ERR_DEVICE_/.test(res.json<{ code?: string }>().code ?? '');
        if (res.statusCode >= 500 && !deviceAnswer) throw new Error(`${route.method} ${url} answered ${res.statusCode}: ${res.body.slice(0, 300)} (body ${JSON.stringify(body)?.slice(0, 200)})`);
        if (res.statusCode >= 400) {
          const after = digest();
          if (after.hash !== before.hash) throw new Error(`${route.method} ${url} answered ${res.statusCode} but changed the stored state (body ${JSON.stringify(body)?.slice(0, 200)})`);
          // Records of the requester (actor user:…); the hub's background records (health
          // samples, availability) may land meanwhile and are not the request's doing.
          const added = th.hub.store.db.prepare("SELECT type FROM events WHERE seq > ? AND actor LIKE 'user:%'").all(before.events) as { type: string }[];
          const bad = added.filter((e) => !REFUSAL_RECORD.test(e.type));
          if (bad.length) throw new Error(`${route.method} ${url} answered ${res.statusCode} but logged ${bad.map((e) => e.type).join(', ')}`);
        }
        if (res.statusCode === 401) token = await th.login(); // a fuzzed logout: log in again
        return true;
      },
    ),
    { numRuns: Number(process.env.FH_FUZZ_HTTP_RUNS ?? 1500), ...(process.env.FH_PROPERTY_SEED ? { seed: Number(process.env.FH_PROPERTY_SEED) } : {}) },
  );
  t.comment(`statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(', ')}; ${seen.size} of ${routes.length} routes hit`);
  t.equal(seen.size, routes.length, 'every route was fuzzed');
  t.equal((await api.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'the hub still answers');
  t.same(unhandled, [], 'no unhandled rejection');
});
