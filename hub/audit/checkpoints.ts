import type { Db, Store } from '../store/store.js';
import type { EventLog } from '../store/events.js';
import { checkpointText, signNote, type NoteSigner } from './note.js';

export interface StoredCheckpoint {
  size: number;
  /** Root hash, base64 (as in the note). */
  root: string;
  madeAt: number;
  reason: string;
  /** The whole signed note. */
  note: string;
}

interface Row {
  size: number;
  root: string;
  made_at: number;
  reason: string;
  note: string;
}

const fromRow = (r: Row): StoredCheckpoint => ({ size: r.size, root: r.root, madeAt: r.made_at, reason: r.reason, note: r.note });

export function listCheckpoints(db: Db): StoredCheckpoint[] {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'").get();
  if (!exists) return [];
  return (db.prepare('SELECT * FROM checkpoints ORDER BY size').all() as Row[]).map(fromRow);
}

/** The newest checkpoint covering at least `size` records, if any. */
export function latestCheckpoint(db: Db, atLeast = 0): StoredCheckpoint | null {
  const r = db.prepare('SELECT * FROM checkpoints WHERE size >= ? ORDER BY size DESC LIMIT 1').get(atLeast) as Row | undefined;
  return r ? fromRow(r) : null;
}

/**
 * Signs the log's current tree head in the write's own transaction, so the checkpoint
 * names exactly what is committed with it. One checkpoint per size: asking again at the
 * same size returns the one made before.
 */
export function makeCheckpoint(store: Store, events: EventLog, signer: NoteSigner, reason: string, now: number): Promise<StoredCheckpoint> {
  return store.write(() => {
    const head = events.treeHead();
    const existing = store.stmt('SELECT * FROM checkpoints WHERE size = ?').get(head.size) as Row | undefined;
    if (existing) return fromRow(existing);
    const root = head.root.toString('base64');
    const note = signNote(checkpointText({ origin: signer.name, size: head.size, root: head.root }), signer);
    store.stmt('INSERT INTO checkpoints (size, root, made_at, reason, note) VALUES (?, ?, ?, ?, ?)').run(head.size, root, now, reason, note);
    return { size: head.size, root, madeAt: now, reason, note };
  });
}
