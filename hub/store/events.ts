import { createHash } from 'node:crypto';
import type { Store } from './store.js';

import type { Actor } from '../../kernel/actor.js';

export type { Actor };

export interface NewEvent {
  type: string;
  actor: Actor;
  deviceId?: string | null;
  /** Every evaluation session the change concerns (none, one, or all running ones). */
  sessionIds?: string[];
  data?: Record<string, unknown>;
  /** Defaults to the log's clock. */
  ts?: number;
}

export interface StoredEvent {
  seq: number;
  ts: number;
  type: string;
  actor: string;
  deviceId: string | null;
  sessionIds: string[];
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every depth, so a record hashes the same everywhere. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * The hashed text of a record: its fields in canonical (sorted) key order. Built directly
 * rather than through canonicalJson, since every appended event pays for it; the result is
 * the same text (a property test holds the two together). `dataJson` is canonicalJson(data).
 */
function recordBody(e: Omit<StoredEvent, 'hash' | 'prevHash' | 'data'>, dataJson: string): string {
  const s = JSON.stringify;
  return `{"actor":${s(e.actor)},"data":${dataJson},"deviceId":${s(e.deviceId)},"seq":${s(e.seq)},"sessionIds":${s(e.sessionIds)},"ts":${s(e.ts)},"type":${s(e.type)}}`;
}

function hashBody(prevHash: string, body: string): string {
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

export function eventHash(prevHash: string, e: Omit<StoredEvent, 'hash' | 'prevHash'>): string {
  return hashBody(prevHash, recordBody(e, canonicalJson(e.data)));
}

interface EventRow {
  seq: number;
  ts: number;
  type: string;
  actor: string;
  device_id: string | null;
  sessions: string;
  data: string;
  prev_hash: string;
  hash: string;
}

function fromRow(r: EventRow): StoredEvent {
  return {
    seq: r.seq,
    ts: r.ts,
    type: r.type,
    actor: r.actor,
    deviceId: r.device_id,
    sessionIds: JSON.parse(r.sessions) as string[],
    data: JSON.parse(r.data) as Record<string, unknown>,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export interface EventQuery {
  sessionId?: string;
  deviceId?: string;
  type?: string;
  /** Events with ts >= since (epoch ms). */
  since?: number;
  /** Events with seq > afterSeq, for paging. */
  afterSeq?: number;
  limit?: number;
  /** The last `limit` matching events rather than the first (returned oldest first all the same). */
  latest?: boolean;
}

/**
 * The append-only, hash-chained event log: each record carries the SHA-256 of the one
 * before it, and the head (last seq and hash) is kept in `meta` in the same transaction,
 * so a changed, removed, reordered or truncated record is found by `verify`.
 */
export class EventLog {
  private head: { seq: number; hash: string };
  private headDirty = false;
  private readonly insert;
  private readonly link;
  private readonly setHead;
  private readonly listeners: ((e: StoredEvent) => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {
    const db = store.db;
    this.insert = db.prepare(
      'INSERT INTO events (seq, ts, type, device_id, actor, sessions, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.link = db.prepare('INSERT INTO event_sessions (session_id, seq) VALUES (?, ?)');
    this.setHead = db.prepare("INSERT INTO meta (key, value) VALUES ('chain.head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    this.head = this.readHead();
    // A rolled-back savepoint may have consumed sequence numbers in memory.
    store.onRollback(() => {
      this.head = this.readHead();
      this.headDirty = true;
    });
    // The chain head is written once per transaction, in it, not once per record.
    store.onBeforeCommit(() => {
      if (!this.headDirty) return;
      if (this.head.seq > 0) this.setHead.run(`${this.head.seq}:${this.head.hash}`);
      this.headDirty = false;
    });
  }

  /** Appends inside the caller's transaction (call from within Store.write/writeNow). */
  appendInTx(e: NewEvent): StoredEvent {
    const ids = e.sessionIds ?? [];
    const base = {
      seq: this.head.seq + 1,
      ts: e.ts ?? this.now(),
      type: e.type,
      actor: e.actor,
      deviceId: e.deviceId ?? null,
      sessionIds: ids.length < 2 ? [...ids] : [...new Set(ids)].sort(),
      data: e.data ?? {},
    };
    // The data is made canonical once: the same text is hashed and stored.
    const dataJson = canonicalJson(base.data);
    const hash = hashBody(this.head.hash, recordBody(base, dataJson));
    const stored: StoredEvent = { ...base, prevHash: this.head.hash, hash };
    this.insert.run(stored.seq, stored.ts, stored.type, stored.deviceId, stored.actor, JSON.stringify(stored.sessionIds), dataJson, stored.prevHash, hash);
    for (const s of stored.sessionIds) this.link.run(s, stored.seq);
    this.head = { seq: stored.seq, hash };
    this.headDirty = true;
    if (this.listeners.length) {
      // Listeners hear about it only once it is committed, and never if it is rolled back.
      this.store.afterCommit(() => {
        for (const l of this.listeners) l(stored);
      });
    }
    return stored;
  }

  /** Appends in its own group-committed transaction; resolves once durable. */
  append(e: NewEvent): Promise<StoredEvent> {
    return this.store.write(() => this.appendInTx(e));
  }

  onAppended(listener: (e: StoredEvent) => void): void {
    this.listeners.push(listener);
  }

  count(): number {
    return this.head.seq;
  }

  query(q: EventQuery): StoredEvent[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    let from = 'events e';
    if (q.sessionId !== undefined) {
      from = 'event_sessions s JOIN events e ON e.seq = s.seq';
      where.push('s.session_id = ?');
      args.push(q.sessionId);
    }
    if (q.deviceId !== undefined) {
      where.push('e.device_id = ?');
      args.push(q.deviceId);
    }
    if (q.type !== undefined) {
      where.push('e.type = ?');
      args.push(q.type);
    }
    if (q.since !== undefined) {
      where.push('e.ts >= ?');
      args.push(q.since);
    }
    if (q.afterSeq !== undefined) {
      where.push('e.seq > ?');
      args.push(q.afterSeq);
    }
    args.push(Math.min(Math.max(q.limit ?? 500, 1), 5000));
    // The limit is bound, not spliced in, so each filter combination is one cached statement.
    const sql = `SELECT e.* FROM ${from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY e.seq${q.latest ? ' DESC' : ''} LIMIT ?`;
    const rows = this.store.stmt(sql).all(...args) as EventRow[];
    return (q.latest ? rows.reverse() : rows).map(fromRow);
  }

  private readHead(): { seq: number; hash: string } {
    const row = this.store.db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
    return row ?? { seq: 0, hash: GENESIS_HASH };
  }
}

export type VerifyResult =
  | { ok: true; records: number; head: string }
  | { ok: false; records: number; firstBad: { seq: number; reason: string } };

/** Walks the whole chain; names the first record that does not fit. */
export function verifyChain(store: Store): VerifyResult {
  const rows = store.db.prepare('SELECT * FROM events ORDER BY seq').iterate() as IterableIterator<EventRow>;
  const linksOf = store.stmt('SELECT session_id FROM event_sessions WHERE seq = ? ORDER BY session_id');
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let n = 0;
  for (const row of rows) {
    n++;
    if (row.seq !== expectedSeq) {
      return { ok: false, records: n, firstBad: { seq: expectedSeq, reason: `record ${expectedSeq} is missing (next present is ${row.seq})` } };
    }
    if (row.prev_hash !== prev) {
      return { ok: false, records: n, firstBad: { seq: row.seq, reason: 'its previous-hash does not match the record before it (a record was changed, removed or reordered)' } };
    }
    let e: StoredEvent;
    try {
      e = fromRow(row);
    } catch {
      return { ok: false, records: n, firstBad: { seq: row.seq, reason: 'its data is not valid JSON' } };
    }
    const hash = eventHash(prev, e);
    if (hash !== row.hash) {
      return { ok: false, records: n, firstBad: { seq: row.seq, reason: 'its content does not match its hash (the record was changed)' } };
    }
    const linked = (linksOf.all(row.seq) as { session_id: string }[]).map((r) => r.session_id);
    if (canonicalJson(linked) !== canonicalJson(e.sessionIds)) {
      return { ok: false, records: n, firstBad: { seq: row.seq, reason: 'its session links were changed' } };
    }
    prev = row.hash;
    expectedSeq++;
  }
  const head = store.db.prepare("SELECT value FROM meta WHERE key = 'chain.head'").get() as { value: string } | undefined;
  const last = n === 0 ? null : `${n}:${prev}`;
  if ((head?.value ?? null) !== last) {
    return {
      ok: false,
      records: n,
      firstBad: { seq: n + 1, reason: `the chain head says ${head?.value ?? 'nothing'} but the log ends at ${last ?? 'nothing'} (records were removed from the end)` },
    };
  }
  return { ok: true, records: n, head: prev };
}
