/**
 * API validation errors (issue #11, item 13): every problem of a request at once, in words
 * a person reads (Chinese first, then English; not Ajv's "must match a schema in anyOf"),
 * and 415 for a missing or wrong content type. Over real HTTP (inject, and one real socket).
 */
import t from 'tap';
import { startTestHub } from '../helpers/hub.js';

interface Problem {
  field: string;
  message: string;
}

const AJV_JARGON = /must be equal to constant|must match a schema in anyOf|must NOT have|must have required property|must be equal to one of the allowed values/;

void t.test('every validation error of a body, query or route at once, in plain words', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const token = await th.login();
  const api = th.hub.api();
  const auth = { authorization: `Bearer ${token}` };

  const session = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { code: '', start: true, end: -5, rooms: [], colour: 'red' } });
  t.equal(session.statusCode, 400);
  const body = session.json<{ code: string; message: string; details: { field: string; problems: Problem[] } }>();
  t.equal(body.code, 'HUB_ERR_VALIDATION');
  t.same(
    body.details.problems.map((p) => p.field).sort(),
    ['body.code', 'body.colour', 'body.end', 'body.name', 'body.rooms', 'body.start'],
    'six problems, six fields',
  );
  const byField = new Map(body.details.problems.map((p) => [p.field, p.message]));
  t.match(byField.get('body.name'), /缺少此字段 \/ is required/);
  t.match(byField.get('body.code'), /不能为空 \/ must not be empty/);
  t.match(byField.get('body.colour'), /不是已知字段 \/ is not a known field/);
  t.match(byField.get('body.rooms'), /at least 1 item/);
  t.match(byField.get('body.start'), /^应为.*ISO-8601.* \/ must be an ISO-8601 time with an offset .* or epoch milliseconds$/, 'the time union in one sentence');
  t.match(byField.get('body.end'), /epoch milliseconds/);
  t.match(body.message, /^请求无效 \/ Invalid request: /, 'Chinese first');
  for (const f of byField.keys()) t.ok(body.message.includes(f), `the message names ${f}`);
  t.notMatch(session.body, AJV_JARGON, 'no validator jargon');

  const login = await api.inject({ method: 'POST', url: '/api/auth/login', payload: { username: '', password: 5 } });
  t.equal(login.statusCode, 400);
  t.same(
    login.json<{ details: { problems: Problem[] } }>().details.problems.map((p) => `${p.field}: ${p.message}`),
    ['body.username: 不能为空 / must not be empty', 'body.password: 应为文本 / must be text'],
  );

  const status = await api.inject({ method: 'GET', url: '/api/sessions?status=open', headers: auth });
  t.equal(status.statusCode, 400);
  t.match(status.json().message, /querystring\.status 应为以下之一 \/ must be one of: "scheduled", "check-in", "in-progress", "closed"/);
  t.notMatch(status.body, AJV_JARGON);

  const nested = await api.inject({ method: 'POST', url: '/api/devices/door-1/commands', headers: auth, payload: { cmd: 5, args: [], sessionId: 7 } });
  t.equal(nested.statusCode, 400);
  t.same(
    nested.json<{ details: { problems: Problem[] } }>().details.problems.map((p) => p.field).sort(),
    ['body.args', 'body.cmd', 'body.sessionId'],
  );

  const badJson = await api.inject({ method: 'POST', url: '/api/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"code": ' });
  t.equal(badJson.statusCode, 400);
  t.match(badJson.json(), { code: 'HUB_ERR_VALIDATION', message: /不是有效的 JSON \/ the body is not valid JSON/, details: { field: 'body' } });
});

void t.test('a missing or wrong content type is 415 and changes nothing', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const token = await th.login();
  const api = th.hub.api();
  const auth = { authorization: `Bearer ${token}` };
  const good = { code: 'CT-1', name: '类型', start: th.hub.clock.now() + 3_600_000, end: th.hub.clock.now() + 7_200_000 };

  const cases: { what: string; url: string; headers: Record<string, string>; payload?: string }[] = [
    { what: 'no content type, no body', url: '/api/sessions', headers: {} },
    { what: 'text/plain', url: '/api/sessions', headers: { 'content-type': 'text/plain' }, payload: JSON.stringify(good) },
    { what: 'a form', url: '/api/sessions', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'code=CT-1' },
    { what: 'CSV to a JSON route', url: '/api/sessions', headers: { 'content-type': 'text/csv' }, payload: 'code,name\nCT-1,x\n' },
    { what: 'XML', url: '/api/auth/login', headers: { 'content-type': 'application/xml' }, payload: '<login/>' },
  ];
  for (const c of cases) {
    const res = await api.inject({ method: 'POST', url: c.url, headers: { ...auth, ...c.headers }, ...(c.payload !== undefined ? { payload: c.payload } : {}) });
    t.equal(res.statusCode, 415, `${c.what}: 415`);
    t.match(res.json(), { code: 'HUB_ERR_UNSUPPORTED_MEDIA_TYPE', message: /^不支持的内容类型 \/ Unsupported content type .*application\/json/, details: { field: 'content-type' } }, c.what);
  }
  t.equal((await api.inject({ method: 'GET', url: '/api/sessions', headers: auth })).json().length, 0, 'nothing was created');

  const created = await api.inject({ method: 'POST', url: '/api/sessions', headers: { ...auth, 'content-type': 'application/json; charset=utf-8' }, payload: JSON.stringify(good) });
  t.equal(created.statusCode, 201, 'application/json with a charset is fine');
  const id = created.json<{ id: string }>().id;
  for (const headers of [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/vnd.ms-excel' }] as Record<string, string>[]) {
    const res = await api.inject({ method: 'POST', url: `/api/sessions/${id}/roster`, headers: { ...auth, ...headers }, payload: 'name,idNumber\n' });
    t.equal(res.statusCode, 415, `roster with ${headers['content-type'] ?? 'no content type'}: 415`);
    t.match(res.json().message, /application\/json or text\/csv/);
  }

  // Over a real socket too: what curl without -H sends.
  const res = await fetch(`http://127.0.0.1:${th.hub.httpPort}/api/sessions`, { method: 'POST', headers: auth, body: new Uint8Array(Buffer.from(JSON.stringify(good))) });
  t.equal(res.status, 415, 'a real request without a content type');
  t.match(await res.json(), { code: 'HUB_ERR_UNSUPPORTED_MEDIA_TYPE' });
});
