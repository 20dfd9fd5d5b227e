import { formatTime } from '../../kernel/time.js';
import type { Store } from '../store/store.js';
import { actorKind, projectData, type UplinkCategory } from './whitelist.js';

/** Events read per outbox transaction: bounds memory and the length of one commit. */
const PAGE = 500;
const CURSOR_KEY = 'uplink.cursor';

export interface OutboxRow {
  seq: number;
  topic: 'event' | 'checkpoint';
  payload: string;
}

interface Cursor {
  /** The last event-log seq looked at (uplinked or not). */
  event: number;
  /** The size of the last checkpoint put in the outbox. */
  checkpoint: number;
}

interface EventRow {
  seq: number;
  ts: number;
  type: string;
  actor: string;
  device_id: string | null;
  sessions: string;
  data: string;
}

interface CheckpointRow {
  size: number;
  root: string;
  made_at: number;
  reason: string;
  note: string;
}

/**
 * The durable outbox of the uplink, derived from the event log by sequence number with a
 * persisted cursor. One transaction reads a page of events after the cursor, puts the
 * whitelisted ones (and the checkpoints those events reach) in `uplink_outbox` and moves the
 * cursor: under kill -9 either all of it is on disk or none, so an event is put in exactly
 * once, and what the log committed is never skipped (the log is the source; the cursor only
 * says how far it was copied). This rather than a row written inside every append: the
 * event log and its hot path (a gate decision) stay as they are.
 *
 * A row is deleted only after the upstream broker's PUBACK; its seq (AUTOINCREMENT, never
 * reused) is what the receiver deduplicates on.
 */
export class Outbox {
  private readonly include: ReadonlySet<UplinkCategory>;
  private pending = 0;

  constructor(
    private readonly store: Store,
    include: readonly UplinkCategory[],
    private readonly now: () => number,
    /** The site's offset: `time` beside each epoch-ms `ts`, as the events API does. */
    private readonly utcOffset: string,
  ) {
    this.include = new Set(include);
    this.pending = this.store.stmt('SELECT COUNT(*) FROM uplink_outbox').pluck().get() as number;
  }

  /** Rows waiting for a PUBACK (kept in step with commits, not counted per call). */
  backlog(): number {
    return this.pending;
  }

  /** The newest seq ever given (0 before the first). */
  lastSeq(): number {
    const r = this.store.stmt("SELECT seq FROM sqlite_sequence WHERE name = 'uplink_outbox'").pluck().get() as number | undefined;
    return r ?? 0;
  }

  /**
   * Copies one page of the log into the outbox. Resolves with how many rows it added and
   * whether more of the log is waiting (call again).
   */
  async fill(): Promise<{ added: number; more: boolean }> {
    const r = await this.store.write(() => this.fillInTx());
    this.pending += r.added;
    return r;
  }

  private fillInTx(): { added: number; more: boolean } {
    const cursor = this.readCursor();
    const events = this.store.stmt('SELECT seq, ts, type, actor, device_id, sessions, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?').all(cursor.event, PAGE) as EventRow[];
    const reach = events.length ? events[events.length - 1]!.seq : cursor.event;
    // A checkpoint of size S follows event S: one that names events not yet copied waits.
    const checkpoints = this.include.has('checkpoints')
      ? (this.store.stmt('SELECT size, root, made_at, reason, note FROM checkpoints WHERE size > ? AND size <= ? ORDER BY size').all(cursor.checkpoint, reach) as CheckpointRow[])
      : [];
    if (events.length === 0 && checkpoints.length === 0) return { added: 0, more: false };
    const insert = this.store.stmt('INSERT INTO uplink_outbox (topic, payload, created_at) VALUES (?, ?, ?)');
    const now = this.now();
    let added = 0;
    let c = 0;
    const putCheckpoints = (upTo: number): void => {
      while (c < checkpoints.length && checkpoints[c]!.size <= upTo) {
        const k = checkpoints[c++]!;
        insert.run('checkpoint', JSON.stringify({ kind: 'checkpoint', size: k.size, root: k.root, madeAt: k.made_at, time: formatTime(k.made_at, this.utcOffset), reason: k.reason, note: k.note }), now);
        added++;
      }
    };
    putCheckpoints(cursor.event);
    for (const e of events) {
      const data = projectData(e.type, JSON.parse(e.data) as Record<string, unknown>, this.include);
      if (data !== null) {
        const body = { kind: 'event', eventSeq: e.seq, ts: e.ts, time: formatTime(e.ts, this.utcOffset), type: e.type, actor: actorKind(e.actor), deviceId: e.device_id, sessionIds: JSON.parse(e.sessions) as string[], data };
        insert.run('event', JSON.stringify(body), now);
        added++;
      }
      putCheckpoints(e.seq);
    }
    const last = c > 0 ? checkpoints[c - 1]!.size : cursor.checkpoint;
    this.writeCursor({ event: reach, checkpoint: last });
    return { added, more: events.length === PAGE };
  }

  /** Up to `limit` rows from `fromSeq` on, oldest first (a page, never the whole outbox). */
  page(fromSeq: number, limit: number): OutboxRow[] {
    return this.store.stmt('SELECT seq, topic, payload FROM uplink_outbox WHERE seq >= ? ORDER BY seq LIMIT ?').all(fromSeq, limit) as OutboxRow[];
  }

  /** Deletes acknowledged rows; resolves once that is durable. */
  async acknowledged(seqs: readonly number[]): Promise<void> {
    if (seqs.length === 0) return;
    const del = this.store.stmt('DELETE FROM uplink_outbox WHERE seq = ?');
    const removed = await this.store.write(() => {
      let n = 0;
      for (const s of seqs) n += del.run(s).changes;
      return n;
    });
    this.pending -= removed;
  }

  private readCursor(): Cursor {
    const row = this.store.stmt('SELECT value FROM meta WHERE key = ?').get(CURSOR_KEY) as { value: string } | undefined;
    if (!row) return { event: 0, checkpoint: 0 };
    const c = JSON.parse(row.value) as Partial<Cursor>;
    return { event: c.event ?? 0, checkpoint: c.checkpoint ?? 0 };
  }

  private writeCursor(c: Cursor): void {
    this.store.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(CURSOR_KEY, JSON.stringify(c));
  }
}
