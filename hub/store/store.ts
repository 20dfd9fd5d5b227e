import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../log.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export type Db = Database.Database;

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

  constructor(private readonly opts: StoreOptions) {
    mkdirSync(opts.dataDir, { recursive: true });
    this.file = join(opts.dataDir, 'hub.sqlite');
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    // better-sqlite3 builds SQLite with WAL defaulting to NORMAL, which can lose the last
    // commits on power loss (facts.md); acknowledged writes need FULL.
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    this.db.pragma('foreign_keys = ON');
    // The CLI (device token, audit verify) may write while the hub runs.
    this.db.pragma('busy_timeout = 5000');
    this.migrate(opts.migrations ?? MIGRATIONS);
    if (opts.onRollback) this.rollbackListeners.push(opts.onRollback);
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

  /** Commits what is queued and closes the file. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const committed: (() => void)[] = [];
    try {
      this.db.transaction(() => {
        for (const item of batch) {
          const callbacks: (() => void)[] = [];
          this.itemCallbacks = callbacks;
          try {
            outcomes.push({ ok: true, value: this.db.transaction(item.fn)() });
            committed.push(...callbacks);
          } catch (error) {
            outcomes.push({ ok: false, error });
            this.notifyRollback();
          } finally {
            this.itemCallbacks = null;
          }
        }
        for (const f of this.beforeCommit) f();
      })();
      this.commits++;
      for (const cb of committed) setImmediate(cb);
    } catch (error) {
      this.notifyRollback();
      this.opts.log.error({ err: error }, 'store commit failed');
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const o = outcomes[i];
      if (o?.ok) item.resolve(o.value);
      else item.reject(o?.error);
    });
  }

  private notifyRollback(): void {
    for (const l of this.rollbackListeners) l();
  }

  private migrate(migrations: Migration[]): void {
    const current = this.schemaVersion();
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
