import t from 'tap';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { Store } from '../../hub/store/store.js';
import { silentLogger } from '../../hub/log.js';
import { tempDir } from './../helpers/hub.js';

type Done = (err: NodeJS.ErrnoException | null) => void;

/** A store whose off-loop WAL syncs are held until the test lets each one finish. */
function heldStore(t: { teardown(fn: () => unknown): void }): { store: Store; syncs: { fd: number; done: Done }[]; nowSyncs: number[]; dir: string } {
  const tmp = tempDir('fh-walsync-');
  t.teardown(tmp.cleanup);
  const syncs: { fd: number; done: Done }[] = [];
  const nowSyncs: number[] = [];
  const store = new Store({ dataDir: tmp.dir, log: silentLogger(), walSyncOffLoop: true, walSync: { later: (fd, done) => syncs.push({ fd, done }), now: (fd) => nowSyncs.push(fd) } });
  store.db.exec('CREATE TABLE w (k TEXT PRIMARY KEY)');
  return { store, syncs, nowSyncs, dir: tmp.dir };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Releases the held syncs one at a time until the promise settles (close waits on them). */
async function releaseUntil(syncs: { done: Done }[], p: Promise<unknown>): Promise<void> {
  let settled = false;
  void p.finally(() => (settled = true));
  while (!settled) {
    syncs.shift()?.done(null);
    await turn();
  }
}

void t.test('off the loop: the connection commits with NORMAL, and a write settles only after its WAL sync', async (t) => {
  const { store, syncs } = heldStore(t);
  t.equal(store.db.pragma('synchronous', { simple: true }), 1, 'COMMIT itself does not sync (NORMAL); the store does');
  let resolved = false;
  let after = false;
  const w = store.write(() => {
    store.stmt("INSERT INTO w (k) VALUES ('a')").run();
    store.afterCommit(() => (after = true));
    return 'a';
  });
  void w.then(() => (resolved = true));
  await turn();
  await turn();
  t.equal(syncs.length, 1, 'the commit asked for one sync');
  t.equal((store.db.prepare('SELECT COUNT(*) AS n FROM w').get() as { n: number }).n, 1, 'committed (visible)');
  t.notOk(resolved, 'not acknowledged before the sync returned');
  t.notOk(after, 'no after-commit listener heard of it before the sync');
  syncs.shift()!.done(null);
  t.equal(await w, 'a');
  await turn();
  t.ok(after, 'the listener runs once it is durable');
  await releaseUntil(syncs, store.close());
});

void t.test('commits made while a sync runs wait for the next one, which covers them all; order is kept', async (t) => {
  const { store, syncs } = heldStore(t);
  const order: string[] = [];
  const first = store.write(() => store.stmt("INSERT INTO w (k) VALUES ('1')").run()).then(() => order.push('1'));
  await turn();
  t.equal(syncs.length, 1, 'sync 1 under way');
  // Two more batches commit while sync 1 runs: they must not settle with it.
  const second = store.write(() => store.stmt("INSERT INTO w (k) VALUES ('2')").run()).then(() => order.push('2'));
  await turn();
  const third = store.write(() => store.stmt("INSERT INTO w (k) VALUES ('3')").run()).then(() => order.push('3'));
  await turn();
  t.equal(syncs.length, 1, 'no second sync while the first runs');
  syncs.shift()!.done(null);
  await first;
  await turn();
  t.same(order, ['1'], 'only the batch committed before sync 1 started settled');
  t.equal(syncs.length, 1, 'one sync for both later batches');
  syncs.shift()!.done(null);
  await Promise.all([second, third]);
  t.same(order, ['1', '2', '3'], 'settled in commit order');
  await releaseUntil(syncs, store.close());
});

void t.test('a failed sync acknowledges nothing it covered, and the store refuses writes from then on', async (t) => {
  const { store, syncs } = heldStore(t);
  let heard = false;
  const w = store.write(() => {
    store.stmt("INSERT INTO w (k) VALUES ('x')").run();
    store.afterCommit(() => (heard = true));
  });
  await turn();
  const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO', errno: -5 }) as NodeJS.ErrnoException;
  syncs.shift()!.done(eio);
  await t.rejects(w, /WAL sync failed: EIO/, 'the write is not acknowledged');
  await turn();
  t.notOk(heard, 'no listener heard of it');
  await t.rejects(store.write(() => 1), /WAL sync failed/, 'later writes are refused');
  await releaseUntil(syncs, store.close());
});

void t.test('close waits for the sync in flight before closing the file', async (t) => {
  const { store, syncs, dir } = heldStore(t);
  const w = store.write(() => store.stmt("INSERT INTO w (k) VALUES ('c')").run());
  await turn();
  let closed = false;
  const c = store.close().then(() => (closed = true));
  await turn();
  t.notOk(closed, 'close is waiting for the sync');
  syncs.shift()!.done(null);
  await w;
  await c;
  t.ok(closed);
  const db = new Database(`${dir}/hub.sqlite`, { readonly: true });
  t.same(db.prepare('SELECT k FROM w').all(), [{ k: 'c' }], 'the row is in the closed file');
  db.close();
});

void t.test('writeNow (start-up, CLI) syncs the WAL before it returns', async (t) => {
  const { store, syncs, nowSyncs } = heldStore(t);
  t.equal(store.writeNow(() => store.stmt("INSERT INTO w (k) VALUES ('n')").run().changes), 1);
  t.equal(nowSyncs.length, 1, 'one sync, made before writeNow returned');
  t.equal(syncs.length, 0, 'not left to the pool');
  await releaseUntil(syncs, store.close());
});

void t.test('with the real fdatasync: writes settle, and survive a reopen', async (t) => {
  const tmp = tempDir('fh-walsync-');
  t.teardown(tmp.cleanup);
  const store = new Store({ dataDir: tmp.dir, log: silentLogger(), walSyncOffLoop: true });
  store.db.exec('CREATE TABLE w (k TEXT PRIMARY KEY)');
  const values = await Promise.all([1, 2, 3].map((i) => store.write(() => store.stmt('INSERT INTO w (k) VALUES (?)').run(`g${i}`).changes)));
  t.same(values, [1, 1, 1]);
  await store.close();
  const again = new Store({ dataDir: tmp.dir, log: silentLogger(), walSyncOffLoop: true });
  t.same(again.db.prepare('SELECT k FROM w ORDER BY k').all(), [{ k: 'g1' }, { k: 'g2' }, { k: 'g3' }]);
  await again.close();
});

void t.test('a synchronous mode asked for beside walSyncOffLoop is refused before anything is created', async (t) => {
  const tmp = tempDir('fh-walsync-');
  t.teardown(tmp.cleanup);
  const dir = `${tmp.dir}/data`;
  t.throws(() => new Store({ dataDir: dir, log: silentLogger(), walSyncOffLoop: true, synchronous: 'FULL' }), /synchronous=FULL cannot be combined with walSyncOffLoop/);
  t.notOk(existsSync(dir), 'no data dir made');
});
