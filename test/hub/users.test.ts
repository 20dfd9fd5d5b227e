import t from 'tap';
import { randomBytes, scryptSync } from 'node:crypto';
import { startTestHub, tempDir, ADMIN_PASSWORD, type TestHub } from '../helpers/hub.js';
import { main } from '../../hub/cli.js';
import { verifyPassword, hashPassword } from '../../hub/secrets.js';

interface Res {
  status: number;
  body: Record<string, unknown> & { code?: string; message?: string };
}

async function call(th: TestHub, method: 'GET' | 'POST' | 'PATCH', url: string, token: string | null, payload?: Record<string, unknown>): Promise<Res> {
  const res = await th.hub.api().inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload ? { payload } : {}) });
  return { status: res.statusCode, body: res.json() };
}

function userEvents(th: TestHub): { type: string; actor: string; data: Record<string, unknown> }[] {
  return (th.hub.store.db.prepare("SELECT type, actor, data FROM events WHERE type LIKE 'user.%' ORDER BY seq").all() as { type: string; actor: string; data: string }[]).map((r) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> }));
}

function storedHash(th: TestHub, username: string): string {
  return (th.hub.store.db.prepare('SELECT hash FROM users WHERE username = ?').get(username) as { hash: string }).hash;
}

/** A hash in the format the hub wrote before Argon2id (scrypt N=2^14, r=8, p=1). */
function legacyScrypt(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 16384, r: 8, p: 1 });
  return `scrypt$16384$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

void t.test('users API: admin adds, lists, changes; each change logged naming the admin', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const admin = await th.login();

  const added = await call(th, 'POST', '/api/users', admin, { username: 'li.jiandu', role: 'supervisor', password: 'supervisor-pass-1', displayName: '李监督' });
  t.equal(added.status, 201);
  t.match(added.body, { username: 'li.jiandu', role: 'supervisor', displayName: '李监督', disabled: false, createdAt: /T.*\+08:00$/ });
  t.notOk(JSON.stringify(added.body).includes('supervisor-pass-1'), 'the password is not echoed');
  const platform = await call(th, 'POST', '/api/users', admin, { username: 'platform', role: 'platform', password: 'platform-secret-1' });
  t.equal(platform.status, 201, 'the platform role exists');

  const dup = await call(th, 'POST', '/api/users', admin, { username: 'li.jiandu', role: 'viewer', password: 'another-pass-12' });
  t.equal(dup.status, 409);
  const short = await call(th, 'POST', '/api/users', admin, { username: 'shorty', role: 'viewer', password: 'short' });
  t.equal(short.status, 400);
  t.match(short.body.message, /password must have at least 12 characters/);
  t.match(short.body, { code: 'HUB_ERR_VALIDATION', details: { field: 'body.password' } }, 'the 400 names the field as the schema errors do');
  const badRole = await call(th, 'POST', '/api/users', admin, { username: 'x', role: 'root', password: 'long-enough-pass' });
  t.equal(badRole.status, 400);
  t.match(badRole.body.message, /body.role/);
  const badName = await call(th, 'POST', '/api/users', admin, { username: 'Bad Name', role: 'viewer', password: 'long-enough-pass' });
  t.equal(badName.status, 400);
  t.match(badName.body.message, /body.username/);
  t.equal(th.hub.users.list().length, 3, 'nothing was added by the bad requests');

  const list = await call(th, 'GET', '/api/users', admin);
  t.same((list.body as unknown as { username: string }[]).map((u) => u.username), ['admin', 'li.jiandu', 'platform']);

  const sup = await th.login('li.jiandu', 'supervisor-pass-1');
  t.equal((await call(th, 'GET', '/api/users', sup)).status, 403, 'only admins manage users');

  const promoted = await call(th, 'PATCH', '/api/users/li.jiandu', admin, { role: 'operator', displayName: '李运维' });
  t.equal(promoted.status, 200);
  t.match(promoted.body, { role: 'operator', displayName: '李运维' });
  t.match((await call(th, 'GET', '/api/auth/me', sup)).body, { role: 'operator' }, 'a role change holds at once for live tokens');
  t.equal((await call(th, 'PATCH', '/api/users/nobody', admin, { disabled: true })).status, 404);
  const empty = await call(th, 'PATCH', '/api/users/li.jiandu', admin, {});
  t.equal(empty.status, 400, 'an empty change is refused');

  // Disabling ends the tokens at once; re-enabling does not bring them back.
  const off = await call(th, 'PATCH', '/api/users/li.jiandu', admin, { disabled: true });
  t.equal(off.body.disabled, true);
  t.equal((await call(th, 'GET', '/api/auth/me', sup)).status, 401, 'the disabled user is out at once');
  const again = await th.hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'li.jiandu', password: 'supervisor-pass-1' } });
  t.equal(again.statusCode, 401, 'a disabled user cannot log in');
  await call(th, 'PATCH', '/api/users/li.jiandu', admin, { disabled: false });
  t.equal((await call(th, 'GET', '/api/auth/me', sup)).status, 401, 'the old token stays ended');

  // A new password ends the tokens too; the old password no longer works.
  const sup2 = await th.login('li.jiandu', 'supervisor-pass-1');
  const shortReset = await call(th, 'PATCH', '/api/users/li.jiandu', admin, { password: 'short' });
  t.match(shortReset, { status: 400, body: { code: 'HUB_ERR_VALIDATION', details: { field: 'body.password' } } }, 'a short new password: 400 naming the field');
  t.equal((await call(th, 'PATCH', '/api/users/li.jiandu', admin, { password: 'new-supervisor-pass' })).status, 200);
  t.equal((await call(th, 'GET', '/api/auth/me', sup2)).status, 401);
  t.ok(await th.login('li.jiandu', 'new-supervisor-pass'));

  // The last enabled admin can be neither demoted nor disabled.
  const lastDemote = await call(th, 'PATCH', '/api/users/admin', admin, { role: 'viewer' });
  t.equal(lastDemote.status, 409);
  t.match(lastDemote.body.message, /last enabled admin/);
  t.equal((await call(th, 'PATCH', '/api/users/admin', admin, { disabled: true })).status, 409);

  const events = userEvents(th);
  t.same(
    events.map((e) => `${e.type} ${e.actor} ${String(e.data.username)}`),
    [
      'user.created hub admin',
      'user.created user:admin li.jiandu',
      'user.created user:admin platform',
      'user.role-changed user:admin li.jiandu',
      'user.renamed user:admin li.jiandu',
      'user.disabled user:admin li.jiandu',
      'user.tokens-ended user:admin li.jiandu',
      'user.enabled user:admin li.jiandu',
      'user.password-changed user:admin li.jiandu',
      'user.tokens-ended user:admin li.jiandu',
    ],
    'every change is in the log, naming the admin who made it',
  );
  const logged = JSON.stringify(events);
  for (const pw of ['supervisor-pass-1', 'platform-secret-1', 'new-supervisor-pass']) t.notOk(logged.includes(pw), 'no password in the log');
});

void t.test('logout ends the token at once', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  const token = await th.login();
  const other = await th.login();
  t.equal((await th.hub.api().inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${token}` } })).statusCode, 204);
  t.equal((await call(th, 'GET', '/api/auth/me', token)).status, 401);
  t.equal((await call(th, 'GET', '/api/auth/me', other)).status, 200, 'only that token');
});

void t.test('passwords: Argon2id at OWASP parameters; a scrypt hash is upgraded at login; malformed hashes never verify', async (t) => {
  const th = await startTestHub();
  t.teardown(() => th.stop());
  t.match(storedHash(th, 'admin'), /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'Argon2id, m = 19 MiB, t = 2, p = 1');

  th.hub.store.db.prepare('INSERT INTO users (username, display_name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)').run('old', 'Old', 'viewer', legacyScrypt('old-password-1'), 0);
  const wrong = await th.hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'old', password: 'not-it' } });
  t.equal(wrong.statusCode, 401);
  t.match(storedHash(th, 'old'), /^scrypt\$/, 'a failed login changes nothing');
  t.ok(await th.login('old', 'old-password-1'), 'the scrypt hash still verifies');
  t.match(storedHash(th, 'old'), /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'and was replaced by Argon2id');
  t.ok(await th.login('old', 'old-password-1'), 'the upgraded hash verifies');

  // A weaker Argon2id hash is upgraded as well.
  const { hash } = await import('@node-rs/argon2');
  const weak = await hash('weak-params-pw', { algorithm: 2, memoryCost: 4096, timeCost: 1, parallelism: 1 });
  t.same(await verifyPassword('weak-params-pw', weak), { ok: true, upgrade: true });
  t.same(await verifyPassword('weak-params-pw', await hashPassword('weak-params-pw')), { ok: true, upgrade: false });

  const legacy = legacyScrypt('x-password-123');
  const parts = legacy.split('$');
  const argon = await hashPassword('x-password-123');
  const malformed = [
    '',
    'plain-text-password',
    parts.slice(0, 5).join('$') + '$', // an empty key part once verified every password
    parts.slice(0, 4).join('$') + '$$' + String(parts[5]), // empty salt
    `scrypt$16384$8$1$${String(parts[4])}$${String(parts[5]).slice(0, 10)}`, // short key
    `scrypt$1$8$1$${String(parts[4])}$${String(parts[5])}`, // N = 1
    `scrypt$16383$8$1$${String(parts[4])}$${String(parts[5])}`, // N not a power of two
    argon.slice(0, argon.lastIndexOf('$') + 1), // empty Argon2 hash
    argon.replace('$argon2id$', '$argon2i$'), // another variant
    argon.replace('m=19456', 'm=99999999'), // absurd memory
    argon.replace(/\$[^$]+$/, '$' + 'A'.repeat(43)), // a hash of nothing
    `${argon}extra`,
  ];
  for (const [i, m] of malformed.entries()) {
    t.same(await verifyPassword('x-password-123', m), { ok: false, upgrade: false }, `malformed #${i} never verifies`);
    // One user per hash: five failures for one name would lock it (a 429, not the check wanted here).
    th.hub.store.db.prepare('INSERT INTO users (username, display_name, role, hash, created_at) VALUES (?, ?, ?, ?, ?)').run(`m${i}`, 'M', 'viewer', m, 0);
    const res = await th.hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username: `m${i}`, password: 'x-password-123' } });
    t.equal(res.statusCode, 401, `malformed #${i}: login refused`);
  }
  t.same(await verifyPassword('x-password-123', legacy), { ok: true, upgrade: true }, 'the well-formed originals do verify');
  t.same(await verifyPassword('x-password-123', argon), { ok: true, upgrade: false });
});

void t.test('CLI: user add, list, role, passwd, disable; refused while a hub runs on the data dir', async (t) => {
  const tmp = tempDir('fh-users-');
  t.teardown(tmp.cleanup);
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
  const dataDir = tmp.dir;
  const prev = process.env.FH_USER_PASSWORD;
  t.teardown(() => {
    if (prev === undefined) delete process.env.FH_USER_PASSWORD;
    else process.env.FH_USER_PASSWORD = prev;
  });

  process.env.FH_USER_PASSWORD = 'cli-first-admin-pw';
  t.equal(await main(['user', 'add', 'boss', '--role', 'admin', '--display-name', '王主任', '--data-dir', dataDir], io), 0, err.join('\n'));
  process.env.FH_USER_PASSWORD = 'cli-viewer-password';
  t.equal(await main(['user', 'add', 'zhang', '--role', 'viewer', '--data-dir', dataDir], io), 0, err.join('\n'));
  t.equal(await main(['user', 'add', 'zhang', '--role', 'viewer', '--data-dir', dataDir], io), 1, 'a second add of the same name fails');
  t.match(err.at(-1), /already exists/);
  t.equal(await main(['user', 'add', 'wang', '--role', 'god', '--data-dir', dataDir], io), 1);
  t.match(err.at(-1), /role must be one of admin, supervisor, operator, platform, viewer/);
  process.env.FH_USER_PASSWORD = 'short';
  t.equal(await main(['user', 'add', 'wang', '--role', 'viewer', '--data-dir', dataDir], io), 1);
  t.match(err.at(-1), /at least 12 characters/);
  t.equal(await main(['user', 'add', 'wang', '--data-dir', dataDir], io), 2, '--role is required');

  t.equal(await main(['user', 'role', 'zhang', 'operator', '--data-dir', dataDir], io), 0, err.join('\n'));
  process.env.FH_USER_PASSWORD = 'cli-changed-password';
  t.equal(await main(['user', 'passwd', 'zhang', '--data-dir', dataDir], io), 0, err.join('\n'));
  out.length = 0;
  t.equal(await main(['user', 'list', '--data-dir', dataDir], io), 0);
  t.same(out, ['boss\tadmin\tenabled\t王主任', 'zhang\toperator\tenabled\tzhang']);
  t.equal(await main(['user', 'disable', 'boss', '--data-dir', dataDir], io), 1, 'the last admin cannot be disabled');

  // The hub on that data dir: no generated admin (users exist), the CLI's users log in.
  const th = await startTestHub({ dataDir });
  t.teardown(() => th.stop());
  t.ok(await th.login('boss', 'cli-first-admin-pw'));
  const zhang = await th.login('zhang', 'cli-changed-password');
  t.match((await call(th, 'GET', '/api/auth/me', zhang)).body, { role: 'operator' });
  t.equal(await main(['user', 'disable', 'zhang', '--data-dir', dataDir], io), 1, 'refused while the hub runs');
  t.match(err.at(-1), /a hub is running on .* \(pid \d+\): change users through the API/);
  const events = userEvents(th);
  t.same(
    events.map((e) => e.type),
    ['user.created', 'user.created', 'user.role-changed', 'user.password-changed'],
  );
  t.ok(events.every((e) => e.actor.startsWith('automation:cli-')), 'the CLI is logged with the OS user who ran it');
  await th.stop();
  t.equal(await main(['user', 'disable', 'zhang', '--data-dir', dataDir], io), 0, 'works again once the hub stopped');
  t.equal(ADMIN_PASSWORD.length > 0, true);
});
