import t from 'tap';
import Database from 'better-sqlite3';
import { Store } from '../../hub/store/store.js';
import { MIGRATIONS, type Migration } from '../../hub/store/migrations.js';
import { EventLog, verifyChain } from '../../hub/store/events.js';
import { silentLogger } from '../../hub/log.js';
import { tempDir } from '../helpers/hub.js';

/** What a tap test offers to clean up. */
interface Cleanup {
  teardown(fn: () => unknown): void;
}

function openStore(t: Cleanup, dir?: string, extra: Partial<ConstructorParameters<typeof Store>[0]> = {}): Store {
  let dataDir = dir;
  if (!dataDir) {
    const tmp = tempDir('fh-store-');
    t.teardown(tmp.cleanup);
    dataDir = tmp.dir;
  }
  const store = new Store({ dataDir, log: silentLogger(), ...extra });
  t.teardown(() => store.close());
  return store;
}

const LATEST = Math.max(...MIGRATIONS.map((m) => m.version));

void t.test('migrations set user_version; durable pragmas: WAL and synchronous=FULL', async (t) => {
  const store = openStore(t);
  t.equal(store.schemaVersion(), LATEST, 'user_version is the latest migration');
  t.equal(store.db.pragma('user_version', { simple: true }), LATEST);
  t.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(store.db.pragma('synchronous', { simple: true }), 2, 'FULL (2), not the WAL default NORMAL (1)');
  const tables = (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
  for (const name of ['meta', 'events', 'event_sessions', 'device_tokens', 'users', 'api_tokens', 'devices', 'commands']) t.ok(tables.includes(name), `table ${name}`);
});

void t.test('migrations run once and later ones apply on reopen', async (t) => {
  const tmp = tempDir('fh-store-');
  t.teardown(tmp.cleanup);
  const first: Migration[] = [{ version: 1, name: 'one', sql: 'CREATE TABLE a (x INTEGER);' }];
  const s1 = new Store({ dataDir: tmp.dir, log: silentLogger(), migrations: first });
  t.equal(s1.schemaVersion(), 1);
  s1.db.prepare('INSERT INTO a (x) VALUES (7)').run();
  await s1.close();
  // Reopening with the same list does not re-run version 1 (it would fail: table exists).
  const s2 = new Store({ dataDir: tmp.dir, log: silentLogger(), migrations: [...first, { version: 2, name: 'two', sql: 'CREATE TABLE b (y INTEGER);' }] });
  t.equal(s2.schemaVersion(), 2);
  t.same(s2.db.prepare('SELECT x FROM a').all(), [{ x: 7 }], 'data kept');
  t.equal((s2.db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'b'").get() as { n: number }).n, 1);
  await s2.close();
  // A failing migration is rolled back whole and leaves the version where it was.
  t.throws(() => new Store({ dataDir: tmp.dir, log: silentLogger(), migrations: [{ version: 3, name: 'bad', sql: 'CREATE TABLE c (z INTEGER); SELECT * FROM nope;' }] }));
  const s3 = new Store({ dataDir: tmp.dir, log: silentLogger(), migrations: [] });
  t.equal(s3.schemaVersion(), 2, 'still version 2');
  t.equal((s3.db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'c'").get() as { n: number }).n, 0, 'no half-applied migration');
  await s3.close();
});

void t.test('group commit: concurrent writes share commits, each resolves with its value once committed', async (t) => {
  const store = openStore(t);
  const events = new EventLog(store, () => 1_000);
  const before = store.commitCount();
  const n = 200;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => events.append({ type: 'test.burst', actor: 'hub', data: { i } })));
  const commits = store.commitCount() - before;
  t.ok(commits >= 1, 'committed');
  t.ok(commits < n, `fewer commits (${commits}) than appends (${n})`);
  t.same(
    results.map((r) => r.seq),
    Array.from({ length: n }, (_, i) => i + 1),
    'each append resolved with its own record, in order',
  );
  // Committed: another connection sees every row.
  const other = new Database(store.file, { readonly: true });
  t.equal((other.prepare("SELECT COUNT(*) AS n FROM events WHERE type = 'test.burst'").get() as { n: number }).n, n);
  other.close();
  t.match(verifyChain(store), { ok: true, records: n });
});

void t.test('a failing write in a batch does not undo its neighbours; the chain stays valid', async (t) => {
  const store = openStore(t);
  const events = new EventLog(store, () => 2_000);
  const a = events.append({ type: 'test.a', actor: 'hub' });
  const bad = store.write(() => {
    events.appendInTx({ type: 'test.doomed', actor: 'hub' });
    store.db.prepare("INSERT INTO meta (key, value) VALUES ('doomed', 'x')").run();
    throw new Error('boom');
  });
  const constraint = store.write(() => {
    events.appendInTx({ type: 'test.doomed-too', actor: 'hub' });
    // NOT NULL violation from SQLite itself.
    store.db.prepare('INSERT INTO meta (key, value) VALUES (?, NULL)').run('null-value');
  });
  const b = events.append({ type: 'test.b', actor: 'hub' });
  const c = store.write(() => store.db.prepare("INSERT INTO meta (key, value) VALUES ('kept', 'yes')").run().changes);
  const settled = await Promise.allSettled([a, bad, constraint, b, c]);
  t.same(
    settled.map((s) => s.status),
    ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled'],
  );
  t.match((settled[1] as PromiseRejectedResult).reason, { message: 'boom' }, 'the failing write rejects with its own error');
  t.equal(store.commitCount(), 1, 'one batch, one commit');
  const rows = store.db.prepare('SELECT seq, type FROM events ORDER BY seq').all();
  t.same(rows, [
    { seq: 1, type: 'test.a' },
    { seq: 2, type: 'test.b' },
  ], 'the neighbours are stored with contiguous sequence numbers');
  t.same(store.db.prepare("SELECT key FROM meta WHERE key IN ('doomed', 'null-value', 'kept') ORDER BY key").all(), [{ key: 'kept' }], "the failing writes' other rows are gone, the neighbour's kept");
  t.match(verifyChain(store), { ok: true, records: 2 });
  // The log continues from the right head afterwards.
  const d = await events.append({ type: 'test.d', actor: 'hub' });
  t.equal(d.seq, 3);
  t.match(verifyChain(store), { ok: true, records: 3 });
});

void t.test('writes after close are refused; close commits what is queued', async (t) => {
  const tmp = tempDir('fh-store-');
  t.teardown(tmp.cleanup);
  const store = new Store({ dataDir: tmp.dir, log: silentLogger() });
  const events = new EventLog(store, () => 3_000);
  const queued = events.append({ type: 'test.queued', actor: 'hub' });
  await store.close();
  t.equal((await queued).seq, 1, 'the queued write committed on close');
  await t.rejects(store.write(() => 1), { message: 'store is closed' });
  const reopened = new Store({ dataDir: tmp.dir, log: silentLogger() });
  t.match(verifyChain(reopened), { ok: true, records: 1 });
  await reopened.close();
});
