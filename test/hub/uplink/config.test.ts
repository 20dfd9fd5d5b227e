import t from 'tap';
import { join } from 'node:path';
import { parseFacility } from '../../../config/load.js';
import { createHub } from '../../../hub/compose.js';
import { silentLogger } from '../../../hub/log.js';
import { Store } from '../../../hub/store/store.js';
import { EventLog } from '../../../hub/store/events.js';
import { Outbox } from '../../../hub/uplink/outbox.js';
import { facility, MQTT_ONLY_FACILITY, tempDir } from '../../helpers/hub.js';

const withUplink = (lines: string): string => `${MQTT_ONLY_FACILITY}\nuplink:\n${lines}\n`;

void t.test('the uplink key: optional, credentials never in the URL, defaults', async (t) => {
  const none = parseFacility(MQTT_ONLY_FACILITY, 'f.yaml');
  t.ok(none.ok && none.facility.uplink === undefined, 'no uplink unless configured');
  const ok = parseFacility(withUplink('  url: mqtts://county.example.cn:8883\n  username: centre\n  passwordEnv: FH_UPLINK_PASSWORD'), 'f.yaml');
  t.ok(ok.ok, 'a minimal uplink is valid');
  if (ok.ok) t.match(ok.facility.uplink, { backlogLimit: 100_000, window: 16, reconnectMinMs: 1000, reconnectMaxMs: 60_000 }, 'defaults');
  for (const url of ['mqtt://centre:secret@county.example.cn', 'http://county.example.cn', 'mqtt://']) {
    const r = parseFacility(withUplink(`  url: "${url}"`), 'f.yaml');
    t.ok(!r.ok && r.errors.some((e) => e.path === '/uplink/url'), `${url} refused, naming /uplink/url`);
  }
  const unknown = parseFacility(withUplink('  url: mqtt://h:1883\n  password: secret'), 'f.yaml');
  t.ok(!unknown.ok && unknown.errors.some((e) => e.path.startsWith('/uplink')), 'a password key in the config is refused');
  const cat = parseFacility(withUplink('  url: mqtt://h:1883\n  include: [sessions, names]'), 'f.yaml');
  t.ok(!cat.ok, 'an unknown category is refused');
});

void t.test('a password variable that is not set stops the start, naming the key', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  delete process.env.FH_UPLINK_TEST_UNSET;
  const hub = createHub({
    facility: facility(withUplink('  url: mqtt://127.0.0.1:1\n  passwordEnv: FH_UPLINK_TEST_UNSET')),
    dataDir: tmp.dir,
    httpPort: 0,
    mqttPort: 0,
    httpHost: '127.0.0.1',
    mqttHost: '127.0.0.1',
    log: silentLogger(),
    adminPassword: 'x-admin-password',
  });
  await t.rejects(hub.start(), /uplink\.passwordEnv: the environment variable FH_UPLINK_TEST_UNSET is not set/);
  await hub.stop('test');
});

void t.test('the outbox: `include` narrows the categories; pages are bounded; nothing is put in twice; rows go after their acknowledgement', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const store = new Store({ dataDir: join(tmp.dir, 'd'), log: silentLogger() });
  t.teardown(() => store.close());
  const events = new EventLog(store, () => 1_800_000_000_000);
  await events.append({ type: 'session.created', actor: 'user:a', sessionIds: ['s1'], data: { code: 'C', name: 'secret name' } });
  await events.append({ type: 'checkin.granted', actor: 'device:gate-1', data: { room: 'room-1', seat: 1 } });
  await events.append({ type: 'user.created', actor: 'hub', data: { username: 'a' } });
  const outbox = new Outbox(store, ['sessions'], () => 1, '+08:00');
  t.same(await outbox.fill(), { added: 1, more: false }, 'only the session event');
  t.same(await outbox.fill(), { added: 0, more: false }, 'nothing twice');
  const rows = outbox.page(0, 10);
  t.equal(rows.length, 1);
  t.match(JSON.parse(rows[0]!.payload), { kind: 'event', type: 'session.created', actor: 'user', time: '2027-01-15T16:00:00.000+08:00', data: { code: 'C' } });
  t.notOk(rows[0]!.payload.includes('secret name'));
  for (let i = 0; i < 1200; i++) void events.append({ type: 'session.status', actor: 'hub', data: { code: 'C', from: 'a', to: 'b' } });
  await events.append({ type: 'session.status', actor: 'hub', data: { code: 'C', from: 'a', to: 'b' } });
  const first = await outbox.fill();
  t.same(first, { added: 500, more: true }, 'one page of 500 records per transaction');
  let total = first.added;
  for (let r = first; r.more; ) total += (r = await outbox.fill()).added;
  t.equal(total, 1201);
  t.equal(outbox.backlog(), 1202);
  t.equal(outbox.page(0, 16).length, 16, 'read a window at a time');
  await outbox.acknowledged([1, 2, 3]);
  t.equal(outbox.backlog(), 1199, 'deleted after the acknowledgement');
  t.equal(outbox.page(0, 1)[0]!.seq, 4);
  t.equal(outbox.lastSeq(), 1202);
});
