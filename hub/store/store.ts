import { prepareDataDir, touchPrivate } from '../files.js';
import { join } from 'node:path';
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from '../log.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { Checkpointer, type CheckpointReport } from './checkpointer.js';

export type Db = Database.Database;

/** The page cache of the hub's connection, KiB (SQLite: a negative cache_size is KiB). */
export const STORE_CACHE_KIB = 4096;

/** WAL frames (pages) past which the store makes the WAL start over: 16 MiB at 4 KiB pages. */
export const WAL_RESTART_FRAMES = 4096;
/** Timed checkpoints to let pass after the WAL could not start over (a reader held it). */
const RESTART_BACKOFF_REPORTS = 30;

interface PendingWrite {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export interface StoreOptions {
  dataDir: string;
  log: Logger;
  migrations?: Migration[];
  /**
   * `FULL` unless a benchmark asks otherwise: anything acknowledged must survive power loss.
   * Not with `walSyncOffLoop`, which sets the connection's mode itself.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** Called after a write function failed and its savepoint was rolled back. */
  onRollback?: () => void;
  /** Checkpoint the WAL from a worker thread instead of inside commits (the hub does). */
  backgroundCheckpoints?: boolean;
  /** How often the worker checkpoints, ms (default 1000). */
  checkpointIntervalMs?: number;
  /** WAL frames past which writes are held for one checkpoint so the WAL starts over (`restartWal`). */
  walRestartFrames?: number;
  /**
   * Sync the WAL on libuv's thread pool instead of inside COMMIT (the hub does): the same
   * durability for everything acknowledged (no write settles before its WAL frames are
   * fdatasync'd), without the event loop waiting for the disk. See `startSync`.
   */
  walSyncOffLoop?: boolean;
  /** The WAL syncs (fs.fdatasync and fdatasyncSync); a test holds them to see what waits. */
  walSync?: WalSync;
}

export interface WalSync {
  /** On the thread pool, for group commits. */
  later(fd: number, done: (err: NodeJS.ErrnoException | null) => void): void;
  /** At once, for `writeNow`. */
  now(fd: number): void;
}

const FDATASYNC: WalSync = { later: fdatasync, now: fdatasyncSync };

/** A committed batch waiting for the WAL sync that makes it durable. */
interface Unsynced {
  settle: () => void;
  fail: (err: unknown) => void;
}

/**
 * The hub's SQLite file. Writes go through `write(fn)`: calls made in the same turn of
 * the event loop share one transaction (group commit), each inside its own savepoint so
 * one failing write does not undo its neighbours; the promise settles only after the
 * commit reached the disk, which is what lets callers acknowledge afterwards.
 */
export class Store {
  readonly db: Db;
  readonly file: string;
  private queue: PendingWrite[] = [];
  private scheduled = false;
  private closed = false;
  private readonly rollbackListeners: (() => void)[] = [];
  private readonly beforeCommit: (() => void)[] = [];
  /** Callbacks of the write being run; kept only if its savepoint is released. */
  private itemCallbacks: (() => void)[] | null = null;
  private commits = 0;
  private checkpointer: Checkpointer | null = null;
  /** The `-wal` file, opened for fdatasync when the WAL is synced off the loop. */
  private walFd: number | null = null;
  private unsynced: Unsynced[] = [];
  private syncing = false;
  private syncIdle: (() => void)[] = [];
  /** A failed WAL sync: what the disk holds is no longer known, so nothing more is acknowledged. */
  private syncFailed: Error | null = null;
  private readonly walSync: WalSync;
  /** Set while writes are held for the checkpoint that lets the WAL start over. */
  private holding: Promise<void> | null = null;
  private flushHeld = false;
  private restartBackoff = 0;
  private walRestarts = 0;
  private readonly walRestartFrames: number;

  constructor(private readonly opts: StoreOptions) {
    // Off the loop the connection must run NORMAL (the store makes it FULL by its own sync):
    // a mode asked for beside it would be silently overridden.
    if (opts.walSyncOffLoop && opts.synchronous !== undefined) throw new Error(`store: synchronous=${opts.synchronous} cannot be combined with walSyncOffLoop (the store then runs NORMAL and syncs the WAL itself)`);
    // 0700 dir, 0600 files; refuses a dir others can read (hub/files.ts).
    prepareDataDir(opts.dataDir);
    this.file = join(opts.dataDir, 'hub.sqlite');
    this.walSync = opts.walSync ?? FDATASYNC;
    this.walRestartFrames = opts.walRestartFrames ?? WAL_RESTART_FRAMES;
    touchPrivate(this.file);
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    // better-sqlite3 builds SQLite with WAL defaulting to NORMAL, which can lose the last
    // commits on power loss (facts.md); acknowledged writes need FULL.
    // Off the loop, COMMIT writes the WAL frames without syncing them (NORMAL) and the
    // store syncs the WAL itself before anything of the commit is acknowledged: FULL is
    // NORMAL plus exactly that sync, done inside COMMIT on the loop's thread.
    this.db.pragma(`synchronous = ${opts.walSyncOffLoop ? 'NORMAL' : (opts.synchronous ?? 'FULL')}`);
    this.db.pragma('foreign_keys = ON');
    // The CLI (device token, audit verify) may write while the hub runs.
    this.db.pragma('busy_timeout = 5000');
    // The page cache is the connection's own memory and fills up to its limit as the file
    // grows: better-sqlite3 sets 16 MiB (SQLite's own default is 2 MiB), which the soak saw
    // as RSS rising for minutes. The hub's hot pages (rosters, check-ins, the log's tail) fit
    // in 4 MiB; a miss is a read from the OS page cache, not the disk (docs/reliability.md).
    this.db.pragma(`cache_size = -${STORE_CACHE_KIB}`);
    this.migrate(opts.migrations ?? MIGRATIONS);
    if (opts.onRollback) this.rollbackListeners.push(opts.onRollback);
    if (opts.walSyncOffLoop) {
      // The hub's own connection keeps the WAL open (and so the same file) until close.
      this.walFd = openSync(`${this.file}-wal`, 'r');
    }
    if (opts.backgroundCheckpoints) {
      this.db.pragma('wal_autocheckpoint = 0');
      // When the WAL starts over, its file is cut back to this size at the next commit.
      const pageSize = Number(this.db.pragma('page_size', { simple: true }));
      this.db.pragma(`journal_size_limit = ${this.walRestartFrames * pageSize}`);
      this.checkpointer = new Checkpointer(this.file, opts.log, opts.checkpointIntervalMs, (r) => this.onCheckpointReport(r));
    }
  }

  onRollback(listener: () => void): void {
    this.rollbackListeners.push(listener);
  }

  /**
   * Called from inside a write: runs fn once that write is committed, and never if it
   * is rolled back (so listeners only ever hear about what is on disk).
   */
  afterCommit(fn: () => void): void {
    if (this.itemCallbacks) this.itemCallbacks.push(fn);
    else setImmediate(fn);
  }

  private readonly statements = new Map<string, Database.Statement>();

  /**
   * A prepared statement, compiled once per SQL text and reused: preparing parses the
   * SQL, which on a hot path (a gate decision) costs more than running it.
   */
  stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /** Runs inside every transaction just before it commits (once per batch, not per write). */
  onBeforeCommit(fn: () => void): void {
    this.beforeCommit.push(fn);
  }

  schemaVersion(): number {
    return Number(this.db.pragma('user_version', { simple: true }));
  }

  /** Group-committed write; resolves with fn's result once durable. */
  write<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    if (this.syncFailed) return Promise.reject(this.syncFailed);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate (not a microtask) so that writes arriving in the same I/O phase,
        // e.g. many MQTT packets from one socket read, join the same commit.
        setImmediate(() => this.flush());
      }
    });
  }

  /** A synchronous transaction of its own, for start-up and CLI paths. */
  writeNow<T>(fn: () => T): T {
    const callbacks: (() => void)[] = [];
    this.itemCallbacks = callbacks;
    try {
      const out = this.db.transaction(() => {
        const value = fn();
        for (const f of this.beforeCommit) f();
        return value;
      })();
      if (this.walFd !== null) this.walSync.now(this.walFd);
      for (const cb of callbacks) setImmediate(cb);
      return out;
    } catch (err) {
      this.notifyRollback();
      throw err;
    } finally {
      this.itemCallbacks = null;
    }
  }

  commitCount(): number {
    return this.commits;
  }

  /** How often the WAL was made to start over (`restartWal`). */
  walRestartCount(): number {
    return this.walRestarts;
  }

  /** Whether writes are queued behind the checkpoint that lets the WAL start over. */
  writesHeld(): boolean {
    return this.holding !== null;
  }

  /**
   * The WAL only starts over (is written again from its first frame) when a write begins
   * after a checkpoint has copied every frame into the database. The worker's checkpoints
   * run beside the hub's writes, so under steady traffic (the soak: 500 devices) each one
   * finishes a few frames short, and the WAL grew without end: 120 MB in 8 minutes, each
   * byte of it read again at the next start. Past `walRestartFrames` the store holds its
   * writes for one checkpoint: queued writes wait (the loop does not), the checkpoint
   * copies the last second's frames and completes, and the next commit starts the WAL over.
   */
  private onCheckpointReport(r: CheckpointReport): void {
    if (this.closed || this.holding || r.log < this.walRestartFrames) return;
    if (this.restartBackoff > 0) {
      this.restartBackoff--;
      return;
    }
    this.holding = this.restartWal();
  }

  private async restartWal(): Promise<void> {
    const checkpointer = this.checkpointer;
    try {
      if (!checkpointer) return;
      const r = await checkpointer.checkpointNow();
      if (r.checkpointed >= r.log) this.walRestarts++;
      else {
        // Another connection (the CLI verifying the log) reads an older snapshot: try later.
        this.restartBackoff = RESTART_BACKOFF_REPORTS;
        this.opts.log.warn({ frames: r.log, checkpointed: r.checkpointed }, 'WAL could not start over (a reader holds it); retried later');
      }
    } catch (err) {
      this.restartBackoff = RESTART_BACKOFF_REPORTS;
      this.opts.log.warn({ err }, 'WAL restart checkpoint failed; retried later');
    } finally {
      this.holding = null;
      if (this.flushHeld) {
        this.flushHeld = false;
        this.flush();
      }
    }
  }

  /** Commits what is queued, folds the WAL into the database and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.holding) await this.holding;
    this.flush();
    this.closed = true;
    await this.synced();
    if (this.checkpointer) await this.checkpointer.stop();
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.opts.log.warn({ err }, 'final checkpoint failed; the WAL is kept and replayed at the next open');
    }
    this.db.close();
    if (this.walFd !== null) closeSync(this.walFd);
    this.walFd = null;
  }

  /** Resolves once every committed batch has been synced (or failed to be). */
  private synced(): Promise<void> {
    if (!this.syncing && this.unsynced.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.syncIdle.push(resolve));
  }

  /**
   * One fdatasync of the WAL on the thread pool settles every batch committed before it
   * started; batches committed while it runs wait for the next one (group commit across
   * the sync). Batches settle in commit order, and nothing is acknowledged (resolved, its
   * after-commit callbacks run) before its frames are on disk.
   */
  private startSync(): void {
    const fd = this.walFd;
    if (this.syncing || fd === null) return;
    if (this.unsynced.length === 0) {
      for (const f of this.syncIdle.splice(0)) f();
      return;
    }
    const group = this.unsynced;
    this.unsynced = [];
    this.syncing = true;
    this.walSync.later(fd, (err) => {
      this.syncing = false;
      if (err) {
        // As with a failed fsync inside COMMIT: not acknowledged. Unlike there, the rows
        // are already visible to this connection, and after a failed fsync the kernel may
        // have dropped the pages, so the store refuses every write from here on.
        if (!this.syncFailed) this.opts.log.error({ err }, 'WAL sync failed; the store takes no more writes');
        this.syncFailed = new Error(`WAL sync failed: ${err.message}`);
        for (const g of group) g.fail(this.syncFailed);
      } else {
        for (const g of group) g.settle();
      }
      this.startSync();
    });
  }

  private flush(): void {
    if (this.holding) {
      // Run once the checkpoint is done; `scheduled` stays set, so writes only queue.
      this.flushHeld = true;
      return;
    }
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    // Optimistic: the batch runs as one transaction without a savepoint per write (two
    // statements less per write on the hot path). If a write throws, the batch is rolled
    // back and replayed write by write, each in its own savepoint, so that one failing
    // write does not undo its neighbours. Writes must therefore only touch the database
    // (and state the rollback listeners restore) until they are committed.
    let run = this.runBatch(batch, false);
    if (run === 'replay') run = this.runBatch(batch, true);
    if (run === 'replay') return; // unreachable: the isolated run never asks for a replay
    if ('error' in run) {
      this.opts.log.error({ err: run.error }, 'store commit failed');
      for (const item of batch) item.reject(run.error);
      return;
    }
    this.commits++;
    const { committed, outcomes } = run;
    const settle = (): void => {
      for (const cb of committed) setImmediate(cb);
      batch.forEach((item, i) => {
        const o = outcomes[i];
        if (o?.ok) item.resolve(o.value);
        else item.reject(o?.error);
      });
    };
    if (this.walFd === null) settle();
    else {
      this.unsynced.push({ settle, fail: (err) => batch.forEach((item) => item.reject(err)) });
      this.startSync();
    }
  }

  private runBatch(
    batch: PendingWrite[],
    isolated: boolean,
  ): 'replay' | { error: unknown } | { outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[]; committed: (() => void)[] } {
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const committed: (() => void)[] = [];
    let failedOptimistically = false;
    try {
      this.db.transaction(() => {
        for (const item of batch) {
          const callbacks: (() => void)[] = [];
          this.itemCallbacks = callbacks;
          try {
            outcomes.push({ ok: true, value: isolated ? this.db.transaction(item.fn)() : item.fn() });
            committed.push(...callbacks);
          } catch (error) {
            if (!isolated) {
              failedOptimistically = true;
              throw error;
            }
            outcomes.push({ ok: false, error });
            this.notifyRollback();
          } finally {
            this.itemCallbacks = null;
          }
        }
        for (const f of this.beforeCommit) f();
      })();
    } catch (error) {
      this.notifyRollback();
      return failedOptimistically ? 'replay' : { error };
    }
    return { outcomes, committed };
  }

  private notifyRollback(): void {
    for (const l of this.rollbackListeners) l();
  }

  private migrate(migrations: Migration[]): void {
    const current = this.schemaVersion();
    // Applied in list order, each raising user_version: a version listed after a higher one
    // would be skipped on the next start of a data dir, or applied twice on a fresh one.
    migrations.forEach((m, i) => {
      const before = migrations[i - 1];
      if (before && m.version <= before.version) throw new Error(`migrations out of order: ${m.version} (${m.name}) is listed after ${before.version}`);
    });
    for (const m of migrations) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.pragma(`user_version = ${m.version}`);
      })();
      this.opts.log.info({ version: m.version, name: m.name }, 'store migrated');
    }
  }
}
