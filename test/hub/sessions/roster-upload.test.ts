/**
 * Roster uploads as the trading platform and an admin with Excel send them (issue #11,
 * items 7-9): uploads that give no rows, replacing a roster, GBK/GB18030 and UTF-8 CSV,
 * impossible birth dates. Over the hub's HTTP API (inject) with a real SQLite store.
 */
import t, { type Test } from 'tap';
import iconv from 'iconv-lite';
import { ManualClock } from '../../../kernel/clock.js';
import { checkCharFor } from '../../../kernel/id-number.js';
import { demoPeople } from '../../../simulators/demo-people.js';
import { captureLogs } from '../../fixtures/logs.js';
import { startTestHub } from '../../helpers/hub.js';
import { iso, T0 } from '../../helpers/checkin.js';

const MIN = 60_000;

async function setup(t: Test) {
  const logs = captureLogs('info');
  const clock = new ManualClock(T0);
  const th = await startTestHub({ full: true, clock, log: logs.log });
  t.teardown(() => th.stop());
  const token = await th.login();
  const api = th.hub.api();
  const auth = { authorization: `Bearer ${token}` };
  const created = await api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { code: 'RU-1', name: '名单', start: iso(T0 + 30 * MIN), end: iso(T0 + 120 * MIN) } });
  t.equal(created.statusCode, 201, created.body);
  const id = created.json<{ id: string }>().id;
  const url = `/api/sessions/${id}/roster`;
  const upload = (payload: string | Buffer | object, contentType = 'application/json', query = '') =>
    api.inject({ method: 'POST', url: url + query, headers: { ...auth, 'content-type': contentType }, payload: payload as string });
  const roster = async () => (await api.inject({ method: 'GET', url, headers: auth })).json<{ name: string; idMasked: string; role: string }[]>();
  return { th, api, auth, id, url, upload, roster, logs, clock };
}

/** A valid ID number with the given birth date (the check digit computed). */
function idBornOn(yyyymmdd: string, seq = '123'): string {
  const first17 = `410726${yyyymmdd}${seq}`;
  return first17 + checkCharFor(first17);
}

void t.test('an upload that parses to no rows is 400 with the reason and changes nothing', async (t) => {
  const s = await setup(t);
  const people = demoPeople(200, 2);
  const first = await s.upload(people);
  t.equal(first.statusCode, 200, first.body);
  t.equal((await s.roster()).length, 2);

  const cases: { what: string; payload: string | object; type: string; reason: RegExp }[] = [
    { what: 'JSON []', payload: [], type: 'application/json', reason: /no people|empty/ },
    { what: 'an empty CSV', payload: '', type: 'text/csv', reason: /empty/ },
    { what: 'blank lines only', payload: '\n\n', type: 'text/csv', reason: /no lines/ },
    { what: 'a header-only CSV', payload: 'name,idNumber,role\n', type: 'text/csv', reason: /header but no people/ },
    { what: 'a line without the header', payload: `${people[0]!.name},${people[0]!.idNumber},expert\n`, type: 'text/csv', reason: /no header/ },
    { what: 'another header', payload: 'Name;ID\nx;y\n', type: 'text/csv', reason: /header must be name,idNumber,role/ },
  ];
  for (const c of cases) {
    const res = await s.upload(c.payload, c.type, '?replace=true');
    t.equal(res.statusCode, 400, `${c.what}: 400`);
    t.equal(res.json().code, 'HUB_ERR_VALIDATION', `${c.what}: code`);
    t.match(res.json().message, c.reason, `${c.what}: the reason`);
    t.match(res.json().message, /nothing was changed/, `${c.what}: says nothing changed`);
    t.notOk(res.body.includes(people[0]!.idNumber), `${c.what}: no ID number echoed`);
    t.equal((await s.roster()).length, 2, `${c.what}: the roster is unchanged`);
  }
  t.equal(s.th.hub.events.query({ type: 'session.roster' }).length, 1, 'no roster event for a refused upload');
});

void t.test('replacing a non-empty roster must be asked for, and is logged with the count removed', async (t) => {
  const s = await setup(t);
  const people = demoPeople(210, 3);
  t.equal((await s.upload(people.slice(0, 2))).statusCode, 200);

  const implicit = await s.upload([people[2]]);
  t.equal(implicit.statusCode, 409, 'a second upload without replace=true');
  t.equal(implicit.json().code, 'HUB_ERR_CONFLICT');
  t.match(implicit.json().message, /already has a roster of 2.*replace=true/);
  t.same((await s.roster()).map((r) => r.name), [people[0]!.name, people[1]!.name], 'unchanged');
  const explicitNo = await s.upload([people[2]], 'application/json', '?replace=false');
  t.equal(explicitNo.statusCode, 409, 'replace=false is the same');
  t.equal((await s.upload([people[2]], 'application/json', '?replace=maybe')).statusCode, 400, 'replace must be a boolean');

  const replaced = await s.upload([people[2]], 'application/json', '?replace=true');
  t.equal(replaced.statusCode, 200, replaced.body);
  t.match(replaced.json(), { accepted: 1, removed: 2 });
  t.same((await s.roster()).map((r) => r.name), [people[2]!.name]);
  const events = s.th.hub.events.query({ type: 'session.roster' });
  t.same(
    events.map((e) => [e.data.count, e.data.removed]),
    [
      [2, 0],
      [1, 2],
    ],
    'the event log has each roster with the count it removed',
  );
  const line = s.logs.records().find((r) => r.msg === 'roster replaced');
  t.match(line, { sessionId: s.id, count: 1, removed: 2, actor: 'user:admin' }, 'the log says how many were removed and by whom');
});

void t.test('CSV in GBK/GB18030 (Excel on Chinese Windows) and UTF-8 with or without BOM reads the same names', async (t) => {
  const s = await setup(t);
  const people = demoPeople(220, 2);
  // A name outside GB2312 (GB18030 four-byte range, 𠀀 U+20000) checks the full GB18030 decoder.
  const names = [people[0]!.name, `${people[1]!.name}𠀀`];
  const csv = `name,idNumber,role\r\n${names[0]},${people[0]!.idNumber},expert\r\n${names[1]},${people[1]!.idNumber},leader\r\n`;
  const variants: { what: string; body: Buffer; type: string }[] = [
    { what: 'GB18030 without a charset', body: iconv.encode(csv, 'gb18030'), type: 'text/csv' },
    { what: 'GBK declared', body: iconv.encode(csv.replace('𠀀', ''), 'gbk'), type: 'text/csv; charset=GBK' },
    { what: 'UTF-8 with a BOM', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(csv, 'utf8')]), type: 'text/csv' },
    { what: 'UTF-8 without a BOM', body: Buffer.from(csv, 'utf8'), type: 'text/csv; charset=utf-8' },
  ];
  for (const v of variants) {
    const res = await s.upload(v.body, v.type, '?replace=true');
    t.equal(res.statusCode, 200, `${v.what}: ${res.body}`);
    const got = (await s.roster()).map((r) => r.name);
    t.same(got, v.what === 'GBK declared' ? [names[0], people[1]!.name] : names, `${v.what}: the names as written`);
  }
});

void t.test('CSV that decodes to neither UTF-8 nor GB18030 is refused with a clear error', async (t) => {
  const s = await setup(t);
  const people = demoPeople(230, 1);
  t.equal((await s.upload(people)).statusCode, 200);
  const gbk = iconv.encode(`name,idNumber\n${people[0]!.name},${people[0]!.idNumber}\n`, 'gbk');
  const cases: { what: string; body: Buffer; type: string; reason: RegExp }[] = [
    { what: 'bytes GB18030 does not define', body: Buffer.from([...Buffer.from('name,idNumber\n'), 0xff, 0xff, 0x2c, 0x31, 0x0a]), type: 'text/csv', reason: /neither UTF-8 nor GB18030/ },
    { what: 'GBK declared as UTF-8', body: gbk, type: 'text/csv; charset=utf-8', reason: /not valid UTF-8.*charset=utf-8/ },
    { what: 'a BOM then GBK', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), gbk]), type: 'text/csv', reason: /not valid UTF-8.*BOM/ },
    { what: 'UTF-16 (Excel "Unicode text")', body: iconv.encode('\uFEFFname,idNumber\n', 'utf16-le'), type: 'text/csv', reason: /UTF-16/ },
    { what: 'an unknown charset', body: Buffer.from('name,idNumber\n'), type: 'text/csv; charset=big5', reason: /unsupported charset big5/ },
    { what: 'a zip file (.xlsx) sent as CSV', body: Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00, 0x08, 0x00]), type: 'text/csv', reason: /control characters/ },
  ];
  for (const c of cases) {
    const res = await s.upload(c.body, c.type, '?replace=true');
    t.equal(res.statusCode, 400, `${c.what}: 400`);
    t.match(res.json().message, c.reason, `${c.what}: ${res.json().message}`);
    t.same((await s.roster()).map((r) => r.name), [people[0]!.name], `${c.what}: unchanged`);
  }
});

void t.test('ID numbers whose birth date is impossible or in the future are refused by row', async (t) => {
  const s = await setup(t);
  const ok = demoPeople(240, 1)[0]!;
  // T0 is 2026-11-28 09:00 +08:00.
  const rows = [
    ok,
    { name: '甲', idNumber: idBornOn('30000101') },
    { name: '乙', idNumber: idBornOn('20261129') },
    { name: '丙', idNumber: idBornOn('19990230') },
    { name: '丁', idNumber: idBornOn('20261128') },
  ];
  const res = await s.upload(rows);
  t.equal(res.statusCode, 400);
  const errors = res.json().details.rows as { row: number; field: string; message: string }[];
  t.same(
    errors.map((e) => [e.row, e.field]),
    [
      [2, 'idNumber'],
      [3, 'idNumber'],
      [4, 'idNumber'],
    ],
    'the year 3000, tomorrow and 30 February; born today is a real date',
  );
  t.match(errors[0]!.message, /birth date is in the future/);
  t.match(errors[1]!.message, /birth date is in the future/);
  t.match(errors[2]!.message, /not a real date/);
  t.match(res.json().message, /3 roster row error\(s\).*row 2 idNumber.*row 3 idNumber.*row 4 idNumber/, 'every row in the message');
  t.equal((await s.roster()).length, 0, 'nothing stored');
  // The day after, tomorrow's birth date has begun: it goes through (to a session of that day).
  s.clock.advance(24 * 60 * MIN);
  const auth = { authorization: `Bearer ${await s.th.login()}` }; // yesterday's token has expired
  const next = await s.api.inject({ method: 'POST', url: '/api/sessions', headers: auth, payload: { code: 'RU-2', name: '次日', start: iso(s.clock.now() + 30 * MIN), end: iso(s.clock.now() + 90 * MIN) } });
  t.equal(next.statusCode, 201, next.body);
  const later = await s.api.inject({ method: 'POST', url: `/api/sessions/${next.json<{ id: string }>().id}/roster`, headers: auth, payload: [ok, rows[2], rows[4]] });
  t.equal(later.statusCode, 200, later.body);
});
