/**
 * The WAL starts over under steady writes (hub/store/store.ts, `restartWal`). The worker's
 * checkpoints run beside the writes, so without the store's help each one finished a few
 * frames short and the WAL never started over: the soak saw it reach 120 MB in 8 minutes.
 * Real files, the real checkpoint worker, writes one after another with no pause.
 */
import t from 'tap';
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Store } from '../../hub/store/store.js';
import { silentLogger } from '../../hub/log.js';
import { captureLogs } from '../fixtures/logs.js';
import { tempDir } from './../helpers/hub.js';

const FRAMES = 64;
const ROW = 'x'.repeat(1500);

function steadyStore(t: { teardown(fn: () => unknown): void }, log = silentLogger()): { store: Store; dir: string; walBytes: () => number } {
  const tmp = tempDir('fh-walrestart-');
  t.teardown(tmp.cleanup);
  const store = new Store({ dataDir: tmp.dir, log, backgroundCheckpoints: true, walSyncOffLoop: true, checkpointIntervalMs: 20, walRestartFrames: FRAMES });
  store.db.exec('CREATE TABLE w (n INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  return { store, dir: tmp.dir, walBytes: () => statSync(`${tmp.dir}/hub.sqlite-wal`).size };
}

/** Writes one row after another, never leaving the store idle, until `until` says stop. */
async function writeSteadily(store: Store, until: (n: number) => boolean, from = 0): Promise<number> {
  let n = from;
  while (!until(n)) {
    const k = n++;
    await store.write(() => store.stmt('INSERT INTO w (n, v) VALUES (?, ?)').run(k, ROW));
  }
  return n;
}

const rows = (dir: string): { count: number; ordered: boolean } => {
  const db = new Database(`${dir}/hub.sqlite`, { readonly: true });
  try {
    const ns = (db.prepare('SELECT n FROM w ORDER BY rowid').all() as { n: number }[]).map((r) => r.n);
    return { count: ns.length, ordered: ns.every((n, i) => n === i) };
  } finally {
    db.close();
  }
};

void t.test('steady writes: the WAL starts over and stays near its limit; every write is kept, in order', async (t) => {
  const { store, dir, walBytes } = steadyStore(t);
  const pageSize = Number(store.db.pragma('page_size', { simple: true }));
  const limit = FRAMES * (pageSize + 24); // a WAL frame is a 24-byte header and a page
  let largest = 0;
  // About 30 times the limit's worth of frames, written with no idle moment between them.
  const n = await writeSteadily(store, (i) => {
    if (i % 50 === 0) largest = Math.max(largest, walBytes());
    return i >= FRAMES * 30;
  });
  t.ok(store.walRestartCount() >= 3, `the WAL started over (${store.walRestartCount()} times)`);
  // Past the limit the WAL grows by what is written until the next timed checkpoint and the
  // one that catches up (slower on a loaded machine); without the restarts it holds every
  // frame written, over 30 times the limit.
  t.ok(largest < limit * 10, `the WAL stayed near its limit (largest ${largest} B, limit ${limit} B)`);
  await store.close();
  t.same(rows(dir), { count: n, ordered: true }, 'every acknowledged write is in the file, in order');
});

void t.test('a reader holding an old snapshot: writes go on, the WAL starts over once it lets go', async (t) => {
  const logs = captureLogs();
  const { store, dir, walBytes } = steadyStore(t, logs.log);
  const reader = new Database(`${dir}/hub.sqlite`, { readonly: true });
  t.teardown(() => reader.close());
  // An open read transaction (the CLI verifying the log) pins the frames after its snapshot.
  reader.exec('BEGIN');
  reader.prepare('SELECT COUNT(*) FROM w').get();
  let n = await writeSteadily(store, (i) => i >= FRAMES * 10);
  t.equal(store.walRestartCount(), 0, 'no restart while the reader holds its snapshot');
  t.ok(walBytes() > FRAMES * 4096, 'the WAL grew past its limit meanwhile');
  t.ok(logs.records().some((l) => /WAL could not start over/.test(l.msg ?? '')), 'logged');
  reader.exec('COMMIT');
  n = await writeSteadily(store, () => store.walRestartCount() >= 1, n);
  t.ok(store.walRestartCount() >= 1, 'started over once the reader let go');
  await store.close();
  t.same(rows(dir), { count: n, ordered: true }, 'nothing lost');
});

void t.test('close while writes are held: the queued writes are committed before the file closes', async (t) => {
  const { store, dir } = steadyStore(t);
  // Keep writing until a hold begins, then queue more and close at once.
  const n = await writeSteadily(store, () => store.writesHeld());
  t.ok(store.writesHeld(), 'writes are held');
  const queued = Array.from({ length: 20 }, (_, i) => store.write(() => store.stmt('INSERT INTO w (n, v) VALUES (?, ?)').run(n + i, ROW)));
  await store.close();
  await Promise.all(queued);
  t.same(rows(dir), { count: n + 20, ordered: true }, 'held writes committed, then closed');
});
