import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkinHarness, iso, T0 } from '../../helpers/checkin.js';
import { facility, MQTT_ONLY_FACILITY, waitFor } from '../../helpers/hub.js';
import { startReceiver, startUpstream } from '../../helpers/mosquitto-upstream.js';
import { badIdNumber, demoPeople, demoPerson } from '../../../simulators/demo-people.js';
import { maskIdNumber } from '../../../kernel/id-number.js';
import { maskName } from '../../../hub/log.js';
import { IdHasher } from '../../../hub/privacy.js';
import type { UplinkFeature } from '../../../hub/uplink/feature.js';
import { UPLINK_LEFT_OUT, UPLINK_WHITELIST, projectData } from '../../../hub/uplink/whitelist.js';
import { UPLINK_CATEGORIES } from '../../../config/schema.js';

const MIN = 60_000;
const ROOT = join(import.meta.dirname, '..', '..', '..');

/** Every dotted event name written in the hub's and the devices' source. */
function eventNamesInSource(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) {
        if (f !== 'web') walk(p);
      } else if (f.endsWith('.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/'((?:user|device|command|broadcast|power|ups|relay|alarm|session|checkin|jammer|hub|audit|fire)\.[a-z][a-z.-]*)'/g)) {
          if (!/\.(lock|sqlite|key|json|yaml)$/.test(m[1]!)) names.add(m[1]!);
        }
      }
    }
  };
  walk(join(ROOT, 'hub'));
  walk(join(ROOT, 'devices'));
  return names;
}

void t.test('every event name the hub writes is decided: whitelisted with its fields, or left out', async (t) => {
  const names = eventNamesInSource();
  t.ok(names.size > 40, `found ${names.size} names`);
  const undecided = [...names].filter((n) => !(n in UPLINK_WHITELIST) && !(n in UPLINK_LEFT_OUT));
  t.same(undecided, [], 'no event name is undecided (a new one must be added to the whitelist or the left-out list)');
  const both = Object.keys(UPLINK_WHITELIST).filter((n) => n in UPLINK_LEFT_OUT);
  t.same(both, [], 'none is both');
  // Person fields are in no whitelist.
  const personal = ['name', 'idNumber', 'idMasked', 'idHash', 'people', 'displayName', 'by', 'username', 'faceScore', 'liveness', 'requestId', 'text'];
  for (const [type, rule] of Object.entries(UPLINK_WHITELIST)) t.same(rule.fields.filter((f) => personal.includes(f)), [], `${type}: no person field`);
  const all = new Set(UPLINK_CATEGORIES);
  t.same(projectData('user.created', { username: 'x' }, all), null, 'a left-out type is not projected');
  t.same(projectData('checkin.granted', { idMasked: '4107**********123X', room: 'room-1', seat: 2, extra: 'x' }, all), { room: 'room-1', seat: 2 }, 'only whitelisted fields');
  t.same(projectData('checkin.granted', { room: 'room-1' }, new Set(['sessions'] as const)), null, 'a category left out by `include` is not projected');
});

void t.test('no personal data in any uplinked payload: sessions, rosters, check-ins, warnings, alarms', async (t) => {
  const upstream = await startUpstream();
  t.teardown(() => upstream.close());
  const rx = await startReceiver(upstream.url);
  t.teardown(() => rx.close());
  const fac = facility(`${MQTT_ONLY_FACILITY}
uplink:
  url: ${upstream.url}
  reconnectMinMs: 50
  reconnectMaxMs: 400
`);
  const h = await checkinHarness({ facility: fac });
  t.teardown(() => h.stop());
  const hub = h.th.hub;
  const people = demoPeople(0, 4);
  const stranger = demoPerson(77);
  const s = await h.createSession({ code: 'P-9', name: `评标 ${people[0]!.name}`, start: iso(T0 + 30 * MIN), end: iso(T0 + 180 * MIN) });
  await h.roster(s.id, people.map((p, i) => ({ ...p, role: i === 3 ? 'observer' : 'expert' })));
  const gate = await h.gate('gate-1');
  t.equal((await gate.present(people[2]!, { faceScore: 0.3 })).reason, 'face-mismatch');
  for (const p of people.slice(0, 3)) t.equal((await gate.present(p)).decision, 'grant', 'granted');
  t.equal((await gate.present(stranger)).reason, 'not-on-roster');
  t.equal((await gate.present({ name: people[3]!.name, idNumber: badIdNumber(3) })).reason, 'invalid-id');
  await gate.exit(people[0]!.idNumber);
  await waitFor(() => h.feature().checkin().checkins(s.id).some((c) => c.status === 'left'), 5000, 'exit recorded');

  // A user whose username is a person's name closes the session.
  await hub.users.create('wanglei', 'admin', 'wanglei-password-1', '王磊');
  const wl = await h.th.login('wanglei', 'wanglei-password-1');
  const closed = await hub.api().inject({ method: 'POST', url: `/api/sessions/${s.id}/close`, headers: { authorization: `Bearer ${wl}` }});
  t.equal(closed.statusCode, 200, 'closed');

  // Every whitelisted type once more, written as its writer might, with person fields beside
  // the whitelisted ones (a warning to a seat names its expert; an override names its admin).
  const p = people[2]!;
  const personal = { name: p.name, idNumber: p.idNumber, idMasked: maskIdNumber(p.idNumber), displayName: p.name, people: [maskIdNumber(p.idNumber)], by: 'wanglei', text: `${p.name}请安静`, requestId: `req-${p.idNumber}`, faceScore: 0.93, liveness: true };
  for (const type of Object.keys(UPLINK_WHITELIST)) {
    await hub.events.append({ type, actor: 'user:wanglei', deviceId: 'gate-1', sessionIds: [s.id], data: { ...personal, room: 'room-1', seat: 1, zone: 'z1', reason: type.startsWith('broadcast') || type.startsWith('session') ? `${p.name} 使用手机` : 'link-lost', id: 'x-1', source: 'test', severity: 'info', message: 'test alarm / 测试' } });
  }
  const up = hub.features.find((f) => f.name === 'uplink') as UplinkFeature;
  await up.settled();
  await waitFor(() => up.status().backlog === 0 && rx.bySeq.size >= up.status().lastSeq, 20_000, 'everything upstream');

  const hasher = IdHasher.fromDataDir(h.th.dataDir);
  const forbidden: string[] = ['wanglei', '王磊'];
  for (const person of [...people, stranger]) {
    forbidden.push(person.name, maskName(person.name), person.idNumber, maskIdNumber(person.idNumber), person.idNumber.slice(-4) + '"', hasher.hash(person.idNumber));
  }
  forbidden.push(badIdNumber(3), maskIdNumber(badIdNumber(3)));
  const messages = rx.all;
  t.ok(messages.length > 30, `${messages.length} messages scanned`);
  const leaks = messages.flatMap((m) => forbidden.filter((f) => m.raw.includes(f)).map((f) => `${m.type ?? m.kind}#${m.seq}: ${f}`));
  t.same(leaks, [], 'no name, masked name, ID number (clear, masked or hashed), username or free text in any payload');
  t.same(messages.filter((m) => /\d{3,}\*{3,}/.test(m.raw)).map((m) => m.seq), [], 'no masked ID pattern at all');
  t.same(messages.filter((m) => /faceScore|liveness|requestId|idMasked|displayName/.test(m.raw)).map((m) => m.seq), [], 'no person field names');

  // What the county does get.
  const byType = (type: string): Record<string, unknown>[] => [...rx.bySeq.values()].filter((m) => m.type === type && (m.body.eventSeq as number) < 1e9).map((m) => m.body);
  t.match(byType('session.created')[0], { sessionIds: [s.id], data: { code: 'P-9' } }, 'session created, with its code');
  t.notOk('name' in (byType('session.created')[0]!.data as object), 'not its name (free text)');
  t.match(byType('session.roster')[0], { data: { count: 4, experts: 3 } }, 'roster counts');
  const granted = byType('checkin.granted').filter((b) => b.actor === 'device:gate-1' && Object.keys(b.data as object).length === 2);
  t.ok(granted.length >= 3, 'grants with room and seat');
  t.match(granted[0], { data: { room: /^room-/, seat: Number } });
  t.ok(byType('checkin.denied').some((b) => (b.data as { reason: string }).reason === 'not-on-roster'), 'denials with their reason code');
  t.ok(byType('session.status').some((b) => (b.data as { to: string }).to === 'closed' && b.actor === 'user'), 'the close, its actor as a kind only');
  t.ok(byType('audit.session-sealed').length >= 1, 'the seal');
  t.ok([...rx.bySeq.values()].some((m) => m.kind === 'checkpoint'), 'checkpoints');
});
