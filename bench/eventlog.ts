import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../hub/store/store.js';
import { EventLog } from '../hub/store/events.js';
import { silentLogger } from '../hub/log.js';
import { type BenchResult, median, nowMs, round } from './lib.js';

/**
 * Event-log appends per second: synchronous=FULL with group commit (the hub's setting)
 * beside the same writes with synchronous=NORMAL, alternating rounds, same machine, same
 * run. 100 appends are issued per event-loop turn (as a burst of device messages would).
 */
async function rate(sync: 'FULL' | 'NORMAL', total: number, perTurn: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fh-bench-log-'));
  const store = new Store({ dataDir: dir, log: silentLogger(), synchronous: sync });
  const log = new EventLog(store, () => Date.now());
  try {
    const t0 = nowMs();
    for (let done = 0; done < total; done += perTurn) {
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < perTurn; i++) batch.push(log.append({ type: 'device.event', actor: 'device:bench', deviceId: 'bench', sessionIds: ['s-1'], data: { type: 'tick', n: done + i } }));
      await Promise.all(batch);
    }
    return total / ((nowMs() - t0) / 1000);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchEventLog(): Promise<BenchResult[]> {
  const rounds = 5;
  const total = 20_000;
  const full: number[] = [];
  const normal: number[] = [];
  const single: number[] = [];
  for (let r = 0; r < rounds; r++) {
    full.push(await rate('FULL', total, 100));
    normal.push(await rate('NORMAL', total, 100));
    single.push(await rate('FULL', 2_000, 1));
  }
  const f = median(full);
  const n = median(normal);
  const ratio = f / n;
  return [
    {
      id: 'eventlog-append',
      name: 'event log appends (group commit, 100 per turn)',
      figures: {
        fullRowsPerS: Math.round(f),
        normalRowsPerS: Math.round(n), // baseline: synchronous=NORMAL
        fullOneRowPerCommitRowsPerS: Math.round(median(single)),
        ratioFullToNormal: round(ratio, 2),
      },
      goal: 'ratio FULL/NORMAL >= 0.5',
      pass: ratio >= 0.5,
    },
  ];
}
