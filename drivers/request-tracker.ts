/**
 * Correlates requests with the responses that arrive later on a shared link, by an id the
 * protocol echoes (a sequence number, a transaction id). Generic so any line protocol can use it.
 * Time comes from the injected clock; a dropped link fails every pending request at once so no
 * caller waits out its full timeout for an answer that cannot come.
 */
import type { Clock, TimerHandle } from '../kernel/clock.js';
import { fail, ok, type DriverErrorKind, type Result } from '../kernel/result.js';

interface Pending<TResponse> {
  settle(r: Result<TResponse>): void;
  timer: TimerHandle | null;
}

export interface RequestTrackerContext {
  clock: Clock;
}

export class RequestTracker<TResponse, TId = number> {
  private readonly clock: Clock;
  private readonly pending = new Map<TId, Pending<TResponse>>();

  constructor(ctx: RequestTrackerContext) {
    this.clock = ctx.clock;
  }

  /**
   * Registers id, then calls send. Resolves with the response passed to resolve(id, ...), or a
   * failure: the send's own failure, 'timeout' after timeoutMs, or whatever failAll() says.
   * Never rejects.
   */
  request(id: TId, send: () => Promise<Result<void>>, timeoutMs: number): Promise<Result<TResponse>> {
    if (this.pending.has(id)) {
      return Promise.resolve(fail('invalid-argument', `request id ${String(id)} is already pending`));
    }
    return new Promise<Result<TResponse>>((resolve) => {
      const entry: Pending<TResponse> = {
        timer: null,
        settle: (r) => {
          if (this.pending.get(id) !== entry) return;
          this.pending.delete(id);
          entry.timer?.cancel();
          resolve(r);
        },
      };
      this.pending.set(id, entry);
      // The timer starts before the send so a send that hangs is bounded too.
      entry.timer = this.clock.setTimeout(
        () => entry.settle(fail('timeout', `no response to request ${String(id)} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      send().then(
        (r) => {
          if (!r.ok) entry.settle(r);
        },
        (err: unknown) => entry.settle(fail('disconnected', err instanceof Error ? err.message : String(err))),
      );
    });
  }

  /** Delivers a response; false when nothing waits for id (late answer after a timeout, a stray frame). */
  resolve(id: TId, response: TResponse): boolean {
    const entry = this.pending.get(id);
    if (!entry) return false;
    entry.settle(ok(response));
    return true;
  }

  /** Fails one pending request (e.g. the peer answered with a negative acknowledgement). */
  reject(id: TId, kind: DriverErrorKind, message: string, code?: number | string): boolean {
    const entry = this.pending.get(id);
    if (!entry) return false;
    entry.settle(fail(kind, message, code));
    return true;
  }

  failAll(kind: DriverErrorKind = 'disconnected', message = 'link lost'): void {
    for (const entry of [...this.pending.values()]) entry.settle(fail(kind, message));
  }

  isPending(id: TId): boolean {
    return this.pending.has(id);
  }

  size(): number {
    return this.pending.size;
  }
}
