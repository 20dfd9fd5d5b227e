import { prepareDataDir, touchPrivate } from '../files.js';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../log.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { Checkpointer } from './checkpointer.js';

export type Db = Database.Database;

/** The page cache of the hub's connection, KiB (SQLite: a negative cache_size is KiB). */
export const STORE_CACHE_KIB = 4096;

interface PendingWrite {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export interface StoreOptions {
  dataDir: string;
  log: Logger;
  migrations?: Migration[];
  /** `FULL` unless a benchmark asks otherwise: anything acknowledged must survive power loss. */
  synchronous?: 'FULL' | 'NORMAL';
  /** Called after a write function failed and its savepoint was rolled back. */
  onRollback?: () => void;
  /** Checkpoint the WAL from a worker thread instead of inside commits (the hub does). */
  backgroundCheckpoints?: boolean;
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

  constructor(private readonly opts: StoreOptions) {
    // 0700 dir, 0600 files; refuses a dir others can read (hub/files.ts).
    prepareDataDir(opts.dataDir);
    this.file = join(opts.dataDir, 'hub.sqlite');
    touchPrivate(this.file);
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    // better-sqlite3 builds SQLite with WAL defaulting to NORMAL, which can lose the last
    // commits on power loss (facts.md); acknowledged writes need FULL.
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
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
    if (opts.backgroundCheckpoints) {
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new Checkpointer(this.file, opts.log);
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

  /** Commits what is queued, folds the WAL into the database and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.checkpointer) await this.checkpointer.stop();
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.opts.log.warn({ err }, 'final checkpoint failed; the WAL is kept and replayed at the next open');
    }
    this.db.close();
  }

  private flush(): void {
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
    for (const cb of run.committed) setImmediate(cb);
    batch.forEach((item, i) => {
      const o = run.outcomes[i];
      if (o?.ok) item.resolve(o.value);
      else item.reject(o?.error);
    });
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
