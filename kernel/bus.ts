import type { Logger } from './log.js';

/**
 * A typed in-process event bus (style pattern 5). Every listener belongs to an owner;
 * a listener that throws or rejects is logged as `owner/event` and never reaches the
 * emitter, so one faulty feature cannot crash the hub. An owner's listeners go together.
 */
export type EventMap = Record<string, unknown>;

type Listener<P> = (payload: P) => void | Promise<void>;

interface Registration {
  owner: string;
  event: string;
  fn: Listener<never>;
}

export class Bus<E extends EventMap> {
  private readonly byEvent = new Map<keyof E, Registration[]>();
  private failures = 0;

  constructor(private readonly log: Logger) {}

  on<K extends keyof E & string>(owner: string, event: K, listener: Listener<E[K]>): () => void {
    const reg: Registration = { owner, event, fn: listener };
    const list = this.byEvent.get(event) ?? [];
    list.push(reg);
    this.byEvent.set(event, list);
    return () => this.remove((r) => r === reg);
  }

  emit<K extends keyof E & string>(event: K, payload: E[K]): void {
    const list = this.byEvent.get(event);
    if (!list) return;
    for (const reg of [...list]) {
      try {
        const out = (reg.fn as Listener<E[K]>)(payload);
        if (out instanceof Promise) out.catch((err: unknown) => this.report(reg, err));
      } catch (err) {
        this.report(reg, err);
      }
    }
  }

  removeOwner(owner: string): void {
    this.remove((r) => r.owner === owner);
  }

  listenerCount(event: keyof E): number {
    return this.byEvent.get(event)?.length ?? 0;
  }

  listenerFailures(): number {
    return this.failures;
  }

  private remove(match: (r: Registration) => boolean): void {
    for (const [event, list] of this.byEvent) {
      const kept = list.filter((r) => !match(r));
      if (kept.length) this.byEvent.set(event, kept);
      else this.byEvent.delete(event);
    }
  }

  private report(reg: Registration, err: unknown): void {
    this.failures++;
    this.log.error({ err, listener: `${reg.owner}/${reg.event}` }, 'bus listener failed');
  }
}
