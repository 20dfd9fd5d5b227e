import t from 'tap';
import { randomBytes, scryptSync } from 'node:crypto';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestHub, tempDir, ADMIN_PASSWORD, type TestHub } from '../helpers/hub.js';
import { ManualClock } from '../../kernel/clock.js';
import { captureLogs } from '../fixtures/logs.js';
import { connackCode } from '../fixtures/mqtt.js';
import { Store } from '../../hub/store/store.js';
import { silentLogger } from '../../hub/log.js';

async function login(th: TestHub, username: string, password: string, remoteAddress = '127.0.0.1') {
  const res = await th.hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username, password }, remoteAddress });
  return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: res.json<{ code?: string; message?: string; token?: string }>() };
}

void t.test('login throttling: 20 wrong passwords answer 429 with Retry-After, logged once; the right one after the wait works', async (t) => {
  const clock = new ManualClock();
  const logs = captureLogs('info');
  const th = await startTestHub({ clock, log: logs.log });
  t.teardown(() => th.stop());

  const statuses: number[] = [];
  let last: Awaited<ReturnType<typeof login>> | null = null;
  for (let i = 0; i < 20; i++) {
    last = await login(th, 'admin', `wrong-password-${i}`);
    statuses.push(last.status);
  }
  t.same(statuses, [...Array<number>(5).fill(401), ...Array<number>(15).fill(429)], 'five tries, then 429');
  t.equal(last!.body.code, 'HUB_ERR_RATE_LIMITED');
  t.match(last!.body.message, /^登录失败次数过多，请 2 秒后再试 \/ Too many failed logins: try again in 2 s$/, 'Chinese first, English second');
  t.equal(last!.retryAfter, '2', 'Retry-After in seconds');
  const during = await login(th, 'admin', ADMIN_PASSWORD);
  t.equal(during.status, 429, 'the right password is refused too while locked (no hash computed)');
  const throttled = logs.records().filter((r) => r.msg?.startsWith('login throttled'));
  t.equal(throttled.length, 1, 'one log line for the whole burst');
  t.notOk(logs.text().includes(ADMIN_PASSWORD), 'no password in the logs');

  // Escalation: after the wait one more wrong password is checked, then the lock doubles.
  clock.advance(2_000);
  t.equal((await login(th, 'admin', 'wrong-again')).status, 401);
  const doubled = await login(th, 'admin', ADMIN_PASSWORD);
  t.equal(doubled.status, 429);
  t.equal(doubled.retryAfter, '4', 'the lock doubled');
  t.equal(logs.records().filter((r) => r.msg?.startsWith('login throttled')).length, 2, 'a new burst, one more line');

  clock.advance(4_000);
  const ok = await login(th, 'admin', ADMIN_PASSWORD);
  t.equal(ok.status, 200, 'the 21st+ attempt, right and after the wait, works');
  t.match(ok.body.token, /^fht_/);
  t.equal((await login(th, 'admin', 'one-more-wrong')).status, 401, 'a success starts the name from zero');
});

void t.test('login throttling per address: many names from one address are locked together, other addresses are not', async (t) => {
  const clock = new ManualClock();
  const th = await startTestHub({ clock });
  t.teardown(() => th.stop());
  const statuses: number[] = [];
  for (let i = 0; i < 22; i++) statuses.push((await login(th, `guess-${i}`, 'password', '10.9.8.7')).status);
  t.same(statuses, [...Array<number>(20).fill(401), 429, 429], 'twenty failures per address, then 429');
  t.equal((await login(th, 'admin', ADMIN_PASSWORD, '10.9.8.7')).status, 429, 'locked for every name');
  t.equal((await login(th, 'admin', ADMIN_PASSWORD, '10.9.8.8')).status, 200, 'another address is not affected');
});

void t.test('MQTT CONNECT failures are throttled per address; the right token works after the wait', async (t) => {
  const clock = new ManualClock();
  const logs = captureLogs('info');
  const th = await startTestHub({ clock, log: logs.log });
  t.teardown(() => th.stop());
  const token = th.hub.tokens.issue('gate-1');
  const codes: number[] = [];
  for (let i = 0; i < 12; i++) codes.push(await connackCode(th.mqttUrl, { username: i % 2 ? 'gate-1' : 'no-such-device', password: `fhd_wrong_${i}`, clientId: `flood-${i}` }));
  t.same(codes, [...Array<number>(10).fill(4), 3, 3], 'ten refusals (4), then server unavailable (3) without a token check');
  t.equal(await connackCode(th.mqttUrl, { username: 'gate-1', password: token, clientId: 'gate-1-real' }), 3, 'the right token waits too');
  t.equal(logs.records().filter((r) => typeof r.msg === 'string' && r.msg.startsWith('mqtt connects from this address throttled')).length, 1, 'logged once per burst');
  clock.advance(1_000);
  t.equal(await connackCode(th.mqttUrl, { username: 'gate-1', password: token, clientId: 'gate-1-real' }), 0, 'accepted after the wait');
});

void t.test('device tokens are stored as SHA-256; an old scrypt row still works and is upgraded at the first connect', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const token = th.hub.tokens.issue('gate-1');
  const row = () => (th.hub.store.db.prepare('SELECT hash FROM device_tokens WHERE device_id = ?').get('gate-1') as { hash: string }).hash;
  t.match(row(), /^sha256\$[0-9a-f]{64}$/);
  t.ok(await th.hub.tokens.verify('gate-1', token));
  t.notOk(await th.hub.tokens.verify('gate-1', `${token}x`));

  // A row as the hub wrote it before: scrypt N=2^14.
  const legacyToken = `fhd_${randomBytes(32).toString('base64url')}`;
  const salt = randomBytes(16);
  const legacy = `scrypt$16384$8$1$${salt.toString('base64url')}$${scryptSync(legacyToken, salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64url')}`;
  th.hub.store.db.prepare('UPDATE device_tokens SET hash = ? WHERE device_id = ?').run(legacy, 'gate-1');
  t.notOk(await th.hub.tokens.verify('gate-1', 'fhd_wrong'), 'a wrong token against a scrypt row');
  t.equal(row(), legacy, 'unchanged by a wrong token');
  const client = await import('mqtt').then((m) => m.default.connectAsync(th.mqttUrl, { username: 'gate-1', password: legacyToken, clientId: 'legacy-gate', reconnectPeriod: 0, protocolVersion: 4 }));
  t.teardown(() => client.endAsync(true));
  t.match(row(), /^sha256\$[0-9a-f]{64}$/, 'upgraded at the connect');
  t.ok(await th.hub.tokens.verify('gate-1', legacyToken), 'the same token still works');
  // The upgrade is not a rotation: the revocation check keeps the connection open.
  th.hub.broker.closeRevoked(th.hub.tokens.current());
  t.ok(client.connected, 'still connected after the revocation check');
});

void t.test('data dir: created 0700 with files 0600; a world-readable dir or file is refused with the fix', async (t) => {
  const tmp = tempDir('fh-perm-');
  t.teardown(tmp.cleanup);
  const dataDir = join(tmp.dir, 'data');
  const th = await startTestHub({ dataDir });
  const mode = (p: string) => statSync(p).mode & 0o777;
  t.equal(mode(dataDir), 0o700, 'the dir is 0700');
  for (const f of ['hub.sqlite', 'hub.sqlite-wal', 'hub.sqlite-shm', 'hub.lock']) t.equal(mode(join(dataDir, f)), 0o600, `${f} is 0600`);
  await th.stop();
  t.equal(mode(join(dataDir, 'hub.sqlite')), 0o600, 'still 0600 after the close');

  chmodSync(dataDir, 0o755);
  t.throws(() => new Store({ dataDir, log: silentLogger() }), { message: new RegExp(`data dir ${dataDir} is open to every user of this machine \\(mode 0755\\).*Fix: chmod 700 ${dataDir}`) });
  chmodSync(dataDir, 0o700);
  chmodSync(join(dataDir, 'hub.sqlite'), 0o644);
  t.throws(() => new Store({ dataDir, log: silentLogger() }), { message: /files in data dir .* are readable by every user of this machine: hub.sqlite \(0644\)\. Fix: chmod 600 / });
  chmodSync(join(dataDir, 'hub.sqlite'), 0o600);
  const store = new Store({ dataDir, log: silentLogger() });
  await store.close();
  t.pass('opens once fixed');

  // A hub refuses to start on such a dir.
  const open = join(tmp.dir, 'open');
  mkdirSync(open, { mode: 0o777 });
  chmodSync(open, 0o777);
  writeFileSync(join(open, 'note'), 'x');
  await t.rejects(startTestHub({ dataDir: open }), /open to every user/);
});
