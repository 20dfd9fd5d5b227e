import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { Logger } from '../log.js';

/**
 * Gives the heap back after a burst of connections (issue 14 item 4).
 *
 * Measured (docs/reliability.md, "Memory"): 20,000 malformed connections left the hub's JS
 * heap at 97 MiB used / 128 MiB reserved against 41 / 69 before, and nothing retained: a heap
 * snapshot (which collects first) found 42 MiB used. V8 collects the old generation only when it
 * allocates more, and an idle hub allocates almost nothing, so without a nudge the garbage of
 * a flood (and the RSS it holds) stays for good. After a burst of at least `minConnections`
 * connections followed by `quietMs` without a new one, one full GC runs; a steady trickle of
 * reconnecting devices never reaches the threshold between two quiet spells often enough to
 * matter (one GC of a ~45 MiB heap is some tens of ms).
 */
export interface CompactorOptions {
  clock: Clock;
  /** The full collection; null = unavailable (then note() only counts). */
  gc: (() => void) | null;
  log?: Logger;
  /** Connections since the last collection that make a burst (200). */
  minConnections?: number;
  /** Time without a new connection that ends the burst, in ms (5 s). */
  quietMs?: number;
}

/**
 * 200 connections: the soak's 500 devices connecting (docs/reliability.md, "Memory") left the
 * heap at 37 MiB used in 62 MiB reserved for good, below the old threshold of 1000. A site's
 * devices reconnecting after a hub restart or a network cut are such a burst too: one
 * collection then, never one per connection.
 */
export const COMPACTOR_DEFAULTS = { minConnections: 200, quietMs: 5_000 } as const;

export class BurstCompactor {
  private connections = 0;
  private lastAt = 0;
  private timer: TimerHandle | null = null;
  private readonly minConnections: number;
  private readonly quietMs: number;
  /** Collections run so far (for metrics and tests). */
  runs = 0;

  constructor(private readonly opts: CompactorOptions) {
    this.minConnections = opts.minConnections ?? COMPACTOR_DEFAULTS.minConnections;
    this.quietMs = opts.quietMs ?? COMPACTOR_DEFAULTS.quietMs;
  }

  /** A new connection arrived (called for every socket, before anything is parsed). */
  note(): void {
    this.connections++;
    this.lastAt = this.opts.clock.now();
    // One timer at a time, not one per connection: a flood of 1000/s must not churn timers.
    if (this.connections >= this.minConnections && !this.timer && this.opts.gc) this.arm(this.quietMs);
  }

  private arm(ms: number): void {
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = null;
      const quietFor = this.opts.clock.now() - this.lastAt;
      if (quietFor < this.quietMs) {
        this.arm(this.quietMs - quietFor);
        return;
      }
      const burst = this.connections;
      this.connections = 0;
      this.runs++;
      this.opts.gc?.();
      this.opts.log?.debug({ connections: burst }, 'connection burst over: heap compacted');
    }, ms);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }
}

/**
 * V8's full collection without starting node with --expose-gc: the flag is set at run time
 * and `gc` taken from a fresh context, where V8 installs it. Null if this V8 refuses.
 */
export function exposeGc(): (() => void) | null {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    if (typeof gc !== 'function') return null;
    const collect = gc as () => void;
    // A plain full GC frees the garbage but keeps the fragmented old-space pages (measured:
    // heap used 100 → 43 MiB, reserved 121 → 117 MiB, RSS unchanged); compacting this one
    // collection moves the survivors together so the empty pages go back to the system.
    return () => {
      setFlagsFromString('--compact-on-every-full-gc');
      try {
        collect();
      } finally {
        setFlagsFromString('--no-compact-on-every-full-gc');
      }
    };
  } catch {
    return null;
  }
}
