import type { Store } from '../store/store.js';
import type { HeldSeat } from '../sessions/seating.js';

interface Pending extends HeldSeat {
  /** A grant nobody has walked through yet lapses after the passage timeout. */
  lapsesAt: number;
}

/**
 * The seats held right now (granted and not lapsed, inside, or left, of sessions not
 * closed), kept in memory. A first grant draws among the free seats; reading them from
 * the store on every grant scans every open check-in, which made a burst of 200 first
 * arrivals cost ~0.6 ms per decision.
 *
 * A seat someone walked through to (inside, then left: kept for their re-entry) stays held
 * until its session closes, so it is kept once per seat, however many re-entries used it:
 * what a decision scans is bounded by the seats, not by the check-ins of the day (the soak's
 * 28,000 check-ins over 30 minutes made a list of 28,000 entries, scanned at every grant).
 * Grants awaiting passage are kept by request, because they lapse or are superseded.
 *
 * Kept exact against the store: the decision paths update it in place inside their own
 * transaction; other changes (a session closing) and every rollback mark it stale, and it
 * is reloaded on its next use, inside whatever transaction is open, so it always sees
 * what that transaction sees.
 */
export class SeatBook {
  /** Seats held until their session closes, one entry per session, room and seat. */
  private kept: Map<string, HeldSeat> | null = null;
  /** Grants awaiting passage, by request id. */
  private pending = new Map<string, Pending>();

  constructor(
    private readonly store: Store,
    private readonly passageMs: number,
  ) {
    store.onRollback(() => this.invalidate());
  }

  invalidate(): void {
    this.kept = null;
  }

  /** Seats held at `now`: lapsed grants are free again even before the sweep expires them. */
  held(now: number): HeldSeat[] {
    const out = [...this.load().values()];
    for (const p of this.pending.values()) if (now <= p.lapsesAt) out.push(p);
    return out;
  }

  /** A grant (awaiting passage, `grantedAt`) or an offline pass (already inside, null) took a seat. */
  took(requestId: string, h: HeldSeat, grantedAt: number | null): void {
    const kept = this.load();
    if (grantedAt === null) keep(kept, h);
    else this.pending.set(requestId, { sessionId: h.sessionId, room: h.room, seat: h.seat, lapsesAt: grantedAt + this.passageMs });
  }

  /** Walked through the gate: the seat stays held, no longer lapsing, until the session closes. */
  passed(requestId: string): void {
    const kept = this.load();
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    keep(kept, p);
  }

  /**
   * A grant that expired or was superseded: its seat is free (a superseding grant takes it
   * again itself). Only grants awaiting passage are ever released; a seat walked through
   * to is held until the session closes.
   */
  released(requestId: string): void {
    this.load();
    this.pending.delete(requestId);
  }

  private load(): Map<string, HeldSeat> {
    if (this.kept) return this.kept;
    const { store } = this;
    const open = "FROM checkins c JOIN sessions s ON s.id = c.session_id WHERE s.status != 'closed' AND c.room IS NOT NULL";
    const walked = store.stmt(`SELECT DISTINCT c.session_id, c.room, c.seat ${open} AND c.status IN ('inside', 'left')`).all() as { session_id: string; room: string; seat: number }[];
    const granted = store.stmt(`SELECT c.request_id, c.session_id, c.room, c.seat, c.granted_at ${open} AND c.status = 'granted'`).all() as { request_id: string; session_id: string; room: string; seat: number; granted_at: number }[];
    const kept = new Map<string, HeldSeat>();
    for (const r of walked) keep(kept, { sessionId: r.session_id, room: r.room, seat: r.seat });
    this.pending = new Map(granted.map((r) => [r.request_id, { sessionId: r.session_id, room: r.room, seat: r.seat, lapsesAt: r.granted_at + this.passageMs }]));
    this.kept = kept;
    return kept;
  }
}

function keep(kept: Map<string, HeldSeat>, h: HeldSeat): void {
  const key = `${h.sessionId}\u0000${h.room}\u0000${h.seat}`;
  if (!kept.has(key)) kept.set(key, { sessionId: h.sessionId, room: h.room, seat: h.seat });
}
