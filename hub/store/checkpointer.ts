import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';

/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside whichever
 * commit crosses the threshold, copying pages and fsyncing the database file while the
 * hub's loop waits (tens of ms: a gate burst would stall behind it). Here a worker thread
 * with its own connection runs PASSIVE checkpoints on a timer; PASSIVE never blocks the
 * writer, and the hub's connection turns automatic checkpoints off.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
const checkpoint = () => {
  const [r] = db.pragma('wal_checkpoint(PASSIVE)');
  return { log: r.log, checkpointed: r.checkpointed };
};
const run = () => {
  try {
    parentPort.postMessage({ op: 'checkpoint', ...checkpoint() });
  } catch (e) {
    parentPort.postMessage({ op: 'error', error: String(e && e.message || e) });
  }
};
const timer = setInterval(run, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    db.close();
    parentPort.postMessage({ op: 'stopped' });
  } else if (m && m.op === 'now') {
    try {
      parentPort.postMessage({ op: 'now', id: m.id, ...checkpoint() });
    } catch (e) {
      parentPort.postMessage({ op: 'now', id: m.id, error: String(e && e.message || e) });
    }
  }
});
`;

/** What one PASSIVE checkpoint found: the WAL's frames, and how many of them are in the database file. */
export interface CheckpointReport {
  log: number;
  checkpointed: number;
}

interface WorkerMessage {
  op: string;
  id?: number;
  log?: number;
  checkpointed?: number;
  error?: string;
}

export class Checkpointer {
  private readonly worker: Worker;
  private failures = 0;
  private checkpoints = 0;
  private nextId = 0;
  private readonly asked = new Map<number, { resolve: (r: CheckpointReport) => void; reject: (e: Error) => void }>();

  /** `onReport` hears each timed checkpoint's result (the store decides from it when the WAL must start over). */
  constructor(file: string, log: Logger, intervalMs = 1000, onReport?: (r: CheckpointReport) => void) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs } });
    // The hub's lifetime decides, not this timer.
    this.worker.unref();
    this.worker.on('message', (m: WorkerMessage) => {
      if (m.op === 'now') {
        const a = this.asked.get(m.id ?? -1);
        this.asked.delete(m.id ?? -1);
        if (m.error !== undefined) a?.reject(new Error(m.error));
        else a?.resolve(reportOf(m));
      } else if (m.op === 'error') {
        // Logged once per streak; a busy database simply retries at the next tick.
        if (this.failures++ === 0) log.warn({ error: m.error }, 'background checkpoint failed');
      } else if (m.op === 'checkpoint') {
        this.checkpoints++;
        this.failures = 0;
        onReport?.(reportOf(m));
      }
    });
    this.worker.on('error', (err) => {
      log.error({ err }, 'checkpoint worker failed');
      this.failAsked(err);
    });
    // A checkpoint asked of a worker that is gone (crashed or stopped) is never answered: the
    // store must not hold its writes for it.
    this.worker.on('exit', () => this.failAsked(new Error('checkpoint worker exited')));
  }

  private failAsked(err: Error): void {
    for (const a of this.asked.values()) a.reject(err);
    this.asked.clear();
  }

  count(): number {
    return this.checkpoints;
  }

  /** One PASSIVE checkpoint now, between the timed ones. */
  checkpointNow(): Promise<CheckpointReport> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.asked.set(id, { resolve, reject });
      this.worker.postMessage({ op: 'now', id });
    });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = (): void => resolve();
      this.worker.once('exit', done);
      this.worker.on('message', (m: { op: string }) => {
        if (m.op === 'stopped') void this.worker.terminate().then(done, done);
      });
      this.worker.postMessage('stop');
    });
  }
}

const reportOf = (m: WorkerMessage): CheckpointReport => ({ log: m.log ?? 0, checkpointed: m.checkpointed ?? 0 });
