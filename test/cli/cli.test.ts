import t from 'tap';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir, waitFor } from '../helpers/hub.js';
import { parseFacility, formatConfigError } from '../../config/load.js';
import { Store } from '../../hub/store/store.js';
import { EventLog } from '../../hub/store/events.js';
import { silentLogger } from '../../hub/log.js';
import { runCli, startCli, type RunningCli } from '../fixtures/cli.js';
import { connackCode } from '../fixtures/mqtt.js';

const ADMIN_PW = 'cli-admin-password';
const MQTT_DEVICES = ['door-1', 'fire-1', 'gate-1', 'gate-2', 'robot-1'];
const HOSTS = ['--http-host', '127.0.0.1', '--mqtt-host', '127.0.0.1', '--http-port', '0', '--mqtt-port', '0'];

interface Cleanup {
  teardown(fn: () => unknown): void;
}

function killOnTeardown(t: Cleanup, cli: RunningCli): void {
  t.teardown(() => cli.kill());
}

void t.test('config check: the demo facility is valid', async (t) => {
  const r = await runCli(['config', 'check', 'config/demo-facility.yaml']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /config\/demo-facility\.yaml: ok \(site demo, 4 rooms, 9 devices\)/);
  t.equal(r.stderr, '');
});

void t.test('config check: a file with several errors prints every one with file, path, found, expected', async (t) => {
  const tmp = tempDir('fh-cli-');
  t.teardown(tmp.cleanup);
  const file = join(tmp.dir, 'broken.yaml');
  const text = `version: 1
site: { id: t, colour: blue }
rooms:
  - { id: room-1, seats: eight }
  - { id: room-1, seats: 4 }
devices:
  - { id: door-1, kind: door, transport: { type: mqtt }, rooms: [room-9] }
  - { id: relay-1, kind: relay, transport: { type: mqtt } }
  - { id: relay-2, kind: relay, transport: { type: modbus-tcp, host: h, port: 502 }, options: { coils: 2, outputs: [{ coil: 5, id: o, role: jammer }] } }
`;
  writeFileSync(file, text);
  const expected = parseFacility(text, file);
  if (expected.ok) throw new Error('fixture should be invalid');
  t.ok(expected.errors.length >= 6, 'the fixture has several errors');
  const r = await runCli(['config', 'check', file]);
  t.not(r.code, 0, 'non-zero exit');
  t.equal(r.stdout, '', 'nothing claims success');
  t.match(r.stderr, new RegExp(`${expected.errors.length} errors`));
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('  '));
  t.equal(lines.length, expected.errors.length, 'one line per error');
  for (const e of expected.errors) {
    const line = `  ${formatConfigError(e)}`;
    t.ok(r.stderr.includes(line), `printed: ${line.trim()}`);
    t.match(line, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+: /\\S+: found .+, expected .+`));
  }
  for (const path of ['/site/colour', '/rooms/0/seats', '/rooms/1/id', '/devices/0/rooms/0', '/devices/1/transport/type', '/devices/2/options/outputs/0/coil']) {
    t.ok(lines.some((l) => l.includes(`: ${path}: found `)), `names ${path}`);
  }
  const missing = await runCli(['config', 'check', join(tmp.dir, 'nope.yaml')]);
  t.not(missing.code, 0);
  t.match(missing.stderr, /nope\.yaml: \/: found the file cannot be read \(ENOENT\), expected a readable YAML file/);
});

void t.test('start: ready, healthy, devices online; SIGTERM exits 0 and the audit log verifies', async (t) => {
  const tmp = tempDir('fh-cli-');
  t.teardown(tmp.cleanup);
  const cli = await startCli(['--data-dir', tmp.dir, ...HOSTS, '--simulators', MQTT_DEVICES.join(',')], { FH_ADMIN_PASSWORD: ADMIN_PW });
  killOnTeardown(t, cli);
  t.ok(cli.httpPort > 0 && cli.mqttPort > 0, 'real ports in the ready line');
  const base = `http://127.0.0.1:${cli.httpPort}`;
  const health = await fetch(`${base}/healthz`);
  t.equal(health.status, 200);
  const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PW }) });
  t.equal(login.status, 200, 'FH_ADMIN_PASSWORD is the admin password');
  const { token } = (await login.json()) as { token: string };
  t.notOk(cli.stderr().includes('created the user "admin"'), 'no generated password when one was given');
  let devices: { id: string; available: boolean; transport: string }[] = [];
  await waitFor(
    async () => {
      const res = await fetch(`${base}/api/devices`, { headers: { authorization: `Bearer ${token}` } });
      devices = (await res.json()) as typeof devices;
      return MQTT_DEVICES.every((id) => devices.find((d) => d.id === id)?.available === true);
    },
    10_000,
    'every MQTT device of the demo online',
  ).catch(() => undefined);
  t.same(
    devices.filter((d) => d.transport === 'mqtt' && d.available).map((d) => d.id).sort(),
    MQTT_DEVICES,
    'the simulated MQTT devices are online',
  );
  const ended = await cli.stop('SIGTERM');
  t.same(ended, { code: 0, signal: null }, 'SIGTERM: clean exit 0');
  t.notMatch(cli.stdout() + cli.stderr(), /"level":60|hub failed to start|stop step failed|could not log the stop/, 'no fatal error, every stop step succeeded');

  const audit = await runCli(['audit', 'verify', '--data-dir', tmp.dir]);
  t.equal(audit.code, 0, audit.stderr);
  t.match(audit.stdout, /^ok: \d+ records, chain intact, head [0-9a-f]{64}/);
  const db = new Database(join(tmp.dir, 'hub.sqlite'), { readonly: true });
  const types = (db.prepare('SELECT type FROM events ORDER BY seq').all() as { type: string }[]).map((r) => r.type);
  db.close();
  t.equal(types[0], 'user.created');
  t.ok(types.includes('hub.started'));
  t.equal(types.at(-1), 'hub.stopped', 'the stop is the last record');
});

void t.test('start: the first start without FH_ADMIN_PASSWORD prints a generated password once', async (t) => {
  const tmp = tempDir('fh-cli-');
  t.teardown(tmp.cleanup);
  const cli = await startCli(['--data-dir', tmp.dir, ...HOSTS, '--no-simulators']);
  killOnTeardown(t, cli);
  // Printed apart from the log lines, in its own box (hub/cli.ts adminPasswordNotice).
  const m = /created the user "admin"; its password, shown this once:\n\n {4}(\S+)\n/.exec(cli.stderr());
  t.ok(m, 'the generated password is printed');
  const login = await fetch(`http://127.0.0.1:${cli.httpPort}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: m?.[1] ?? '' }) });
  t.equal(login.status, 200, 'and it works');
  t.same(await cli.stop('SIGINT'), { code: 0, signal: null }, 'SIGINT: clean exit 0');
  const again = await startCli(['--data-dir', tmp.dir, ...HOSTS, '--no-simulators']);
  killOnTeardown(t, again);
  t.notMatch(again.stderr(), /created the user "admin"/, 'not printed on the next start');
  t.same(await again.stop(), { code: 0, signal: null });
});

void t.test('device token: printed once, works, and rotating revokes the old one (also while the hub runs)', async (t) => {
  const tmp = tempDir('fh-cli-');
  t.teardown(tmp.cleanup);
  const issue = async (id: string): Promise<string> => {
    const r = await runCli(['device', 'token', id, '--data-dir', tmp.dir]);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    t.equal(lines.length, 1, 'stdout is the token alone');
    t.match(lines[0], /^fhd_[A-Za-z0-9_-]{20,}$/);
    return lines[0]!;
  };
  const first = await issue('door-1');
  const second = await issue('door-1');
  t.not(first, second);
  const db = new Database(join(tmp.dir, 'hub.sqlite'), { readonly: true });
  const stored = db.prepare('SELECT hash FROM device_tokens WHERE device_id = ?').get('door-1') as { hash: string };
  db.close();
  t.notOk(stored.hash.includes(second.slice(4)), 'only a hash is stored');

  const cli = await startCli(['--data-dir', tmp.dir, ...HOSTS, '--no-simulators'], { FH_ADMIN_PASSWORD: ADMIN_PW });
  killOnTeardown(t, cli);
  const url = `mqtt://127.0.0.1:${cli.mqttPort}`;
  t.equal(await connackCode(url, { username: 'door-1', password: first, clientId: 'c1' }), 4, 'the token rotated before start is refused');
  t.equal(await connackCode(url, { username: 'door-1', password: second, clientId: 'c2' }), 0, 'the current token connects');

  const third = await issue('door-1'); // rotated while the hub runs on the same data dir
  t.equal(await connackCode(url, { username: 'door-1', password: second, clientId: 'c3' }), 4, 'the token rotated while running is refused');
  t.equal(await connackCode(url, { username: 'door-1', password: third, clientId: 'c4' }), 0, 'the new one connects');

  const unknown = await runCli(['device', 'token', 'no-such-device', '--data-dir', tmp.dir]);
  t.not(unknown.code, 0);
  t.equal(unknown.stdout, '');
  t.match(unknown.stderr, /no device "no-such-device"/);
  const modbus = await runCli(['device', 'token', 'relay-1', '--data-dir', tmp.dir]);
  t.not(modbus.code, 0);
  t.match(modbus.stderr, /only MQTT devices use tokens/);
  t.same(await cli.stop(), { code: 0, signal: null });
});

void t.test('audit verify: ok on an untouched log; names the first bad record after tampering', async (t) => {
  const tmp = tempDir('fh-cli-');
  t.teardown(tmp.cleanup);
  const pristine = join(tmp.dir, 'pristine');
  const store = new Store({ dataDir: pristine, log: silentLogger() });
  const events = new EventLog(store, () => 1_790_000_000_000);
  for (let i = 1; i <= 8; i++) await events.append({ type: 'test.event', actor: 'hub', deviceId: 'door-1', data: { i } });
  await store.close();

  const ok = await runCli(['audit', 'verify', '--data-dir', pristine]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /^ok: 8 records, chain intact/);

  const cols = 'ts, type, device_id, actor, sessions, data, prev_hash, hash';
  const cases: { name: string; sql: (db: Database.Database) => void; seq: number }[] = [
    { name: 'a data field changed', sql: (db) => db.prepare("UPDATE events SET data = json_set(data, '$.i', 100) WHERE seq = 5").run(), seq: 5 },
    { name: 'a middle record deleted', sql: (db) => db.prepare('DELETE FROM events WHERE seq = 4').run(), seq: 4 },
    { name: 'the last record deleted', sql: (db) => db.prepare('DELETE FROM events WHERE seq = 8').run(), seq: 8 },
    {
      name: "two records' contents swapped",
      sql: (db) => {
        const a = db.prepare(`SELECT ${cols} FROM events WHERE seq = 3`).get() as Record<string, unknown>;
        const b = db.prepare(`SELECT ${cols} FROM events WHERE seq = 6`).get() as Record<string, unknown>;
        const set = db.prepare('UPDATE events SET ts = @ts, type = @type, device_id = @device_id, actor = @actor, sessions = @sessions, data = @data, prev_hash = @prev_hash, hash = @hash WHERE seq = @seq');
        db.transaction(() => {
          set.run({ ...b, seq: 3 });
          set.run({ ...a, seq: 6 });
        })();
      },
      seq: 3,
    },
  ];
  for (const c of cases) {
    const dir = join(tmp.dir, c.name.replace(/\W+/g, '-'));
    cpSync(pristine, dir, { recursive: true });
    const db = new Database(join(dir, 'hub.sqlite'));
    c.sql(db);
    db.close();
    const r = await runCli(['audit', 'verify', '--data-dir', dir]);
    t.not(r.code, 0, `${c.name}: non-zero exit`);
    t.equal(r.stdout, '', `${c.name}: no "ok"`);
    t.match(r.stderr, new RegExp(`first bad record #${c.seq}\\b`), `${c.name}: names record #${c.seq}`);
  }
});
