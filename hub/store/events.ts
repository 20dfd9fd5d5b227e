import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Db, Store } from './store.js';
import { Frontier, leafHash, nodeHash, splitPoint, type Hash, type SubtreeHash } from '../audit/merkle.js';

import type { Actor } from '../../kernel/actor.js';
import { HubError } from '../errors.js';

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

/**
 * RFC 8785 (JCS) canonical JSON: keys sorted by UTF-16 code units at every depth,
 * undefined dropped, ECMAScript number form, no whitespace; so a record hashes the same
 * in any implementation. Throws on what JCS refuses (NaN, Infinity, lone surrogates).
 */
export function canonicalJson(value: unknown): string {
  const fast = canonicalFast(value, 0);
  return fast !== SLOW ? fast : (canonicalize(value) ?? 'null');
}

/** What the fast path leaves to the library (toJSON, functions, symbols, bigints, deep or cyclic values). */
const SLOW = Symbol('slow');
const MAX_FAST_DEPTH = 32;

/**
 * RFC 8785 for what the hub's records hold (plain objects, arrays, strings, finite numbers,
 * booleans, null), producing the library's very text, throwing where it throws (NaN,
 * ±Infinity, a lone surrogate in a string or a key). Every appended event pays for this:
 * the library builds a Set per call and scans strings in JS (a property test holds the two
 * together, test/hub/events.test.ts).
 */
function canonicalFast(v: unknown, depth: number): string | typeof SLOW {
  switch (typeof v) {
    case 'string': {
      // A lone surrogate always comes out as a \uXXXX escape: only then is the regex run.
      const j = JSON.stringify(v);
      if (j.includes('\\u') && LONE_SURROGATE_RE.test(v)) throw new Error('Lone surrogate is not allowed');
      return j;
    }
    case 'number':
      if (!Number.isFinite(v)) throw new Error(`${v} is not allowed`);
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      break;
    default:
      return SLOW;
  }
  if (v === null) return 'null';
  if (depth >= MAX_FAST_DEPTH || typeof (v as { toJSON?: unknown }).toJSON === 'function') return SLOW;
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      const item: unknown = v[i];
      const part = item === undefined ? 'null' : canonicalFast(item, depth + 1);
      if (part === SLOW) return SLOW;
      out += i === 0 ? part : `,${part}`;
    }
    return `${out}]`;
  }
  const obj = v as Record<string, unknown>;
  let out = '{';
  let first = true;
  for (const key of Object.keys(obj).sort()) {
    const item = obj[key];
    if (item === undefined) continue;
    const part = canonicalFast(item, depth + 1);
    if (part === SLOW) return SLOW;
    if (LONE_SURROGATE_RE.test(key)) throw new Error('Lone surrogate is not allowed');
    out += `${first ? '' : ','}${JSON.stringify(key)}:${part}`;
    first = false;
  }
  return `${out}}`;
}

/** In u-mode a surrogate pair is one code point: only a lone half matches. */
const LONE_SURROGATE_RE = /\p{Cs}/u;
const LONE_SURROGATE = '含有孤立的代理项（不是有效的 Unicode）/ contains a lone surrogate (not valid Unicode)';

/**
 * The first place in a value that canonical JSON cannot encode (a lone surrogate in a
 * string or a key, NaN, ±Infinity), as a path such as `body.rows[2].name`; null when
 * there is none. Bytes (a CSV upload) are not text and pass.
 */
export function unencodable(value: unknown, path: string): { path: string; what: string } | null {
  if (typeof value === 'string') return !LONE_SURROGATE_RE.test(value) ? null : { path, what: LONE_SURROGATE };
  if (typeof value === 'number') return Number.isFinite(value) ? null : { path, what: `不是有限数值 / is not a finite number (${value})` };
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return null;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const bad = unencodable(v, `${path}[${i}]`);
      if (bad) return bad;
    }
    return null;
  }
  for (const [k, v] of Object.entries(value)) {
    if (LONE_SURROGATE_RE.test(k)) return { path: `${path} (a key)`, what: LONE_SURROGATE };
    const bad = unencodable(v, `${path}.${k}`);
    if (bad) return bad;
  }
  return null;
}

/**
 * The hashed text of a record: its fields in canonical (sorted) key order. Built directly
 * rather than through canonicalJson, since every appended event pays for it; the result is
 * the same text (a property test holds the two together). `dataJson` is canonicalJson(data).
 * It is both what the per-record chain hashes and the Merkle tree's leaf (RFC 6962).
 */
export function recordBody(e: Omit<StoredEvent, 'hash' | 'prevHash' | 'data'>, dataJson: string): string {
  const s = JSON.stringify;
  return `{"actor":${s(e.actor)},"data":${dataJson},"deviceId":${s(e.deviceId)},"seq":${s(e.seq)},"sessionIds":${s(e.sessionIds)},"ts":${s(e.ts)},"type":${s(e.type)}}`;
}

function hashBody(prevHash: string, body: string): string {
  // One-shot: the same bytes as update(prevHash).update('\n').update(body), without a Hash object.
  return hash('sha256', `${prevHash}\n${body}`, 'hex');
}

export function eventHash(prevHash: string, e: Omit<StoredEvent, 'hash' | 'prevHash'>): string {
  return hashBody(prevHash, recordBody(e, canonicalJson(e.data)));
}

/** The record's Merkle leaf hash, SHA-256(0x00 || canonical JSON of the record). */
export function eventLeafHash(e: Omit<StoredEvent, 'hash' | 'prevHash'>): Hash {
  return leafHash(recordBody(e, canonicalJson(e.data)));
}

/**
 * Inner nodes below this level (subtrees of fewer than 16 leaves) are not stored: they are
 * recomputed from at most 8 leaf hashes when a proof needs them. Storing every level cost
 * one more row per appended event (about one inner node completes per append); from level
 * 4 up it is about one row per 8 events. Data dirs written before keep their low nodes.
 */
export const MIN_STORED_LEVEL = 4;

/**
 * The Merkle tree as stored: leaf hashes beside their records (`events.leaf_hash`), every
 * completed inner subtree of level >= MIN_STORED_LEVEL in `merkle_nodes` (index at that
 * level), so that any proof or root needs O(log n) lookups. A cache of what the records
 * determine: verification recomputes it all from the records and compares.
 */
export function storedTree(db: Db): SubtreeHash {
  const leafOf = db.prepare('SELECT leaf_hash FROM events WHERE seq = ?').pluck();
  const nodeOf = db.prepare('SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?').pluck();
  const rec = (start: number, end: number): Hash => {
    const n = end - start;
    if (n <= 0) throw new Error(`empty subtree [${start}, ${end})`);
    if ((n & (n - 1)) === 0 && start % n === 0 && (n === 1 || n >= 2 ** MIN_STORED_LEVEL)) {
      const level = Math.log2(n);
      const hex = (level === 0 ? leafOf.get(start + 1) : nodeOf.get(level, start / n)) as string | null | undefined;
      if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) throw new Error(`the tree node of records ${start + 1}..${end} is missing or damaged`);
      return Buffer.from(hex, 'hex');
    }
    const k = splitPoint(n);
    return nodeHash(rec(start, start + k), rec(start + k, end));
  };
  return rec;
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
  /** Null on records written before the Merkle tree existed (filled in at the next open). */
  leaf_hash?: string | null;
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
 * The append-only event log, twice bound: each record carries the SHA-256 of the one
 * before it (the head, last seq and hash, kept in `meta` in the same transaction), and
 * every record is a leaf of an RFC 6962 Merkle tree whose signed checkpoints
 * (hub/audit) let anyone holding an earlier one detect a rewrite, even a consistent one.
 */
export class EventLog {
  private head: { seq: number; hash: string };
  private headDirty = false;
  private frontier: Frontier;
  private readonly insert;
  private readonly link;
  private readonly setHead;
  private readonly insertNode;
  private readonly listeners: ((e: StoredEvent) => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {
    const db = store.db;
    this.insert = db.prepare(
      'INSERT INTO events (seq, ts, type, device_id, actor, sessions, data, prev_hash, hash, leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.link = db.prepare('INSERT INTO event_sessions (session_id, seq) VALUES (?, ?)');
    this.setHead = db.prepare("INSERT INTO meta (key, value) VALUES ('chain.head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    this.insertNode = db.prepare('INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)');
    this.head = this.readHead();
    this.backfillTree();
    this.frontier = Frontier.of(this.head.seq, storedTree(db));
    // A rolled-back savepoint may have consumed sequence numbers (and grown the tree) in memory.
    store.onRollback(() => {
      this.head = this.readHead();
      this.frontier = Frontier.of(this.head.seq, storedTree(db));
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
    let dataJson: string;
    try {
      dataJson = canonicalJson(base.data);
    } catch (err) {
      // What JCS refuses cannot be hashed the same everywhere: refused, with where it is,
      // as bad input (the write it belongs to rolls back), never an internal error.
      const bad = unencodable(base.data, 'data');
      throw new HubError('HUB_ERR_VALIDATION', [`${e.type} ${bad?.path ?? 'data'} ${bad?.what ?? (err instanceof Error ? err.message : String(err))}; 未记录 / nothing was stored`], { field: bad?.path ?? 'data' });
    }
    const body = recordBody(base, dataJson);
    const hash = hashBody(this.head.hash, body);
    const leaf = leafHash(body);
    const stored: StoredEvent = { ...base, prevHash: this.head.hash, hash };
    this.insert.run(stored.seq, stored.ts, stored.type, stored.deviceId, stored.actor, JSON.stringify(stored.sessionIds), dataJson, stored.prevHash, hash, leaf.toString('hex'));
    for (const s of stored.sessionIds) this.link.run(s, stored.seq);
    this.frontier.append(leaf, (level, idx, h) => {
      if (level >= MIN_STORED_LEVEL) this.insertNode.run(level, idx, h.toString('hex'));
    });
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

  /**
   * The Merkle tree head of what this log holds now: size and root. Inside a write it
   * includes that write's records; callers that sign it do so in the same transaction.
   */
  treeHead(): { size: number; root: Hash } {
    return { size: this.frontier.size, root: this.frontier.root() };
  }

  /** Subtree hashes of the stored tree (for inclusion and consistency proofs). */
  tree(): SubtreeHash {
    return storedTree(this.store.db);
  }

  /**
   * Records written before the Merkle tree existed (schema 2) get their leaf hashes and
   * inner nodes now, once, in one transaction, from the records themselves.
   */
  private backfillTree(): void {
    const db = this.store.db;
    const missing = db.prepare('SELECT COUNT(*) FROM events WHERE leaf_hash IS NULL').pluck().get() as number;
    if (missing === 0) return;
    db.transaction(() => {
      db.prepare('DELETE FROM merkle_nodes').run();
      const frontier = new Frontier();
      const setLeaf = db.prepare('UPDATE events SET leaf_hash = ? WHERE seq = ?');
      for (const row of db.prepare('SELECT * FROM events ORDER BY seq').all() as EventRow[]) {
        const leaf = eventLeafHash(fromRow(row));
        setLeaf.run(leaf.toString('hex'), row.seq);
        frontier.append(leaf, (level, idx, h) => {
          if (level >= MIN_STORED_LEVEL) this.insertNode.run(level, idx, h.toString('hex'));
        });
      }
    })();
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

export type LogVerification = VerifyResult & {
  /** The Merkle root recomputed from the records, at every size asked for that the log reaches. */
  roots: Map<number, Hash>;
  /** The Merkle tree recomputed from the records, at the size the walk reached. */
  tree: { size: number; root: Hash };
};

/** Walks the whole chain; names the first record that does not fit. */
export function verifyChain(source: { db: Db }): VerifyResult {
  const { roots: _roots, tree: _tree, ...r } = verifyLog(source.db);
  return r;
}

/**
 * Recomputes everything from the records: the chain (each record's hash and link), the
 * session links, the chain head in meta, and the Merkle tree (leaf hashes and stored
 * inner nodes, when present, must match), with its root at each size in `rootsAt`.
 */
export function verifyLog(db: Db, rootsAt: readonly number[] = []): LogVerification {
  const rows = db.prepare('SELECT * FROM events ORDER BY seq').iterate() as IterableIterator<EventRow>;
  const linksOf = db.prepare('SELECT session_id FROM event_sessions WHERE seq = ? ORDER BY session_id');
  const hasNodes = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'merkle_nodes'").get() !== undefined;
  const nodeOf = hasNodes ? db.prepare('SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?').pluck() : null;
  const wanted = new Set(rootsAt);
  const roots = new Map<number, Hash>();
  const frontier = new Frontier();
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let n = 0;
  const result = (v: VerifyResult): LogVerification => {
    if (v.ok === false) rows.return?.();
    return { ...v, roots, tree: { size: frontier.size, root: frontier.root() } };
  };
  if (wanted.has(0)) roots.set(0, frontier.root());
  for (const row of rows) {
    n++;
    const bad = (seq: number, reason: string): LogVerification => result({ ok: false, records: n, firstBad: { seq, reason } });
    if (row.seq !== expectedSeq) return bad(expectedSeq, `record ${expectedSeq} is missing (next present is ${row.seq})`);
    if (row.prev_hash !== prev) return bad(row.seq, 'its previous-hash does not match the record before it (a record was changed, removed or reordered)');
    let e: StoredEvent;
    let body: string;
    try {
      e = fromRow(row);
      body = recordBody(e, canonicalJson(e.data));
    } catch {
      return bad(row.seq, 'its data is not valid canonical JSON');
    }
    if (hashBody(prev, body) !== row.hash) return bad(row.seq, 'its content does not match its hash (the record was changed)');
    const linked = (linksOf.all(row.seq) as { session_id: string }[]).map((r) => r.session_id);
    if (canonicalJson(linked) !== canonicalJson(e.sessionIds)) return bad(row.seq, 'its session links were changed');
    const leaf = leafHash(body);
    if (row.leaf_hash != null && row.leaf_hash !== leaf.toString('hex')) return bad(row.seq, 'its stored Merkle leaf hash does not match the record');
    const damaged: string[] = [];
    frontier.append(leaf, (level, idx, h) => {
      const stored = nodeOf?.get(level, idx) as string | undefined;
      if (stored !== undefined && stored !== h.toString('hex')) damaged.push(`level ${level} index ${idx}`);
    });
    if (damaged.length) return bad(row.seq, `the stored Merkle tree node ${damaged[0]!} does not match the records`);
    if (wanted.has(frontier.size)) roots.set(frontier.size, frontier.root());
    prev = row.hash;
    expectedSeq++;
  }
  const head = db.prepare("SELECT value FROM meta WHERE key = 'chain.head'").get() as { value: string } | undefined;
  const last = n === 0 ? null : `${n}:${prev}`;
  if ((head?.value ?? null) !== last) {
    return result({
      ok: false,
      records: n,
      firstBad: { seq: n + 1, reason: `the chain head says ${head?.value ?? 'nothing'} but the log ends at ${last ?? 'nothing'} (records were removed from the end)` },
    });
  }
  return result({ ok: true, records: n, head: prev });
}
