import { readFileSync } from 'node:fs';
import { systemClock, type Clock, type TimerHandle } from '../kernel/clock.js';

/**
 * What every benchmark module returns; bench/run.ts prints and records it in
 * bench/results/latest.json. `id` is stable and `figures` keys are fixed (camelCase, unit
 * suffixed: `p99Ms`, `usPerDecision`, `hubMsgPerS`), so that outside tools can read them
 * (docs/benchmarks.md lists them).
 */
export interface BenchResult {
  id: string;
  name: string;
  figures: Record<string, number | string>;
  goal?: string;
  pass?: boolean;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** A p99 from fewer samples than this is the maximum under another name: refuse to print it. */
export const MIN_P99_SAMPLES = 100;

export function summary(samples: number[]): { p50: number; p99: number; max: number; n: number } {
  if (samples.length < MIN_P99_SAMPLES) throw new Error(`a p99 needs at least ${MIN_P99_SAMPLES} samples, got ${samples.length}`);
  const s = [...samples].sort((a, b) => a - b);
  return { p50: round(percentile(s, 50)), p99: round(percentile(s, 99)), max: round(s[s.length - 1] ?? NaN), n: s.length };
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function median(xs: number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

/**
 * CPU time of this process's main thread, in microseconds, from /proc (10 ms resolution):
 * process.cpuUsage() would add the worker threads the simulated devices run on.
 */
export function mainThreadCpuUs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
}

/** High-resolution milliseconds, for measuring (never used in the hub's logic). */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * Real time plus an offset the benchmark can move forward: timers run in real time, while
 * "now" can jump (e.g. past a passage timeout between rounds).
 */
export class OffsetClock implements Clock {
  private offset = 0;
  now(): number {
    return systemClock.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return systemClock.setTimeout(fn, ms);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    return systemClock.setInterval(fn, ms);
  }
  sleep(ms: number): Promise<void> {
    return systemClock.sleep(ms);
  }
}
