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
const run = () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ op: 'checkpoint', log: r.log, checkpointed: r.checkpointed });
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
  }
});
`;

export class Checkpointer {
  private readonly worker: Worker;
  private failures = 0;
  private checkpoints = 0;

  constructor(file: string, log: Logger, intervalMs = 1000) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs } });
    // The hub's lifetime decides, not this timer.
    this.worker.unref();
    this.worker.on('message', (m: { op: string; error?: string }) => {
      if (m.op === 'checkpoint') this.checkpoints++;
      if (m.op === 'error') {
        // Logged once per streak; a busy database simply retries at the next tick.
        if (this.failures++ === 0) log.warn({ error: m.error }, 'background checkpoint failed');
      } else if (m.op === 'checkpoint') this.failures = 0;
    });
    this.worker.on('error', (err) => log.error({ err }, 'checkpoint worker failed'));
  }

  count(): number {
    return this.checkpoints;
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
