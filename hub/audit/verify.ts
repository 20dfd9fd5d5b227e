import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Db } from '../store/store.js';
import { storedTree, verifyLog } from '../store/events.js';
import { consistencyProof, verifyConsistency } from './merkle.js';
import { openCheckpoint, parseVerifier, type Checkpoint, type NoteVerifier } from './note.js';
import { listCheckpoints } from './checkpoints.js';
import { readAuditSigner } from './keys.js';

/**
 * Opens a data dir's database read-only, and only if it is there: a mistyped path is an
 * error, never a fresh empty log that "verifies".
 */
export function openExistingLog(dataDir: string): Db {
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) throw new Error(`${dataDir}: no such data dir (nothing was created)`);
  const file = join(dataDir, 'hub.sqlite');
  if (!existsSync(file)) throw new Error(`${file}: no event log in this data dir (nothing was created)`);
  return new Database(file, { readonly: true, fileMustExist: true });
}

/** A verifier key given as the key itself or as a file holding it. */
export function readVerifierArg(arg: string): NoteVerifier {
  const text = existsSync(arg) ? readFileSync(arg, 'utf8') : arg;
  return parseVerifier(text.trim());
}

/** The key to check against: the one given, else the data dir's own. */
export function verifierFor(dataDir: string, keyArg: string | undefined): NoteVerifier | null {
  if (keyArg) return readVerifierArg(keyArg);
  const signer = readAuditSigner(dataDir);
  return signer;
}

/** A checkpoint file: the signed note itself, or the JSON published on `fh/{site}/hub/checkpoint`. */
export function readCheckpointFile(file: string): string {
  const text = readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('{')) {
    const parsed = JSON.parse(text) as { note?: unknown };
    if (typeof parsed.note !== 'string') throw new Error(`${file}: a JSON checkpoint needs its signed "note"`);
    return parsed.note;
  }
  return text;
}

export type AuditReport = { ok: true; lines: string[] } | { ok: false; lines: string[]; problem: string };

/**
 * `audit verify`: the chain and the Merkle tree recomputed from the records; every stored
 * checkpoint's signature and root; and, given an earlier checkpoint kept elsewhere, that
 * the log today is an extension of it (RFC 9162 consistency proof), which is what a
 * consistent rewrite (change a record, recompute every hash after it) or a cut tail fails.
 */
export function auditLog(db: Db, verifier: NoteVerifier | null, external: string | null): AuditReport {
  // One read transaction, so every read sees one snapshot: beside a running hub the records,
  // the chain head and the checkpoints are otherwise read at different commits, and a head
  // read after the hub appended looks like records removed from the end (kill9.test.ts).
  if (!db.inTransaction) return db.transaction(() => auditLog(db, verifier, external))();
  const stored = listCheckpoints(db);
  let given: Checkpoint | null = null;
  if (external !== null) {
    if (!verifier) return { ok: false, lines: [], problem: 'no key to check the checkpoint with (pass --key, or use the data dir that holds the signing key)' };
    const c = openCheckpoint(external, verifier, verifier.name);
    if ('error' in c) return { ok: false, lines: [], problem: `the checkpoint given does not verify: ${c.error}` };
    given = c;
  }
  const sizes = [...stored.map((c) => c.size), ...(given ? [given.size] : [])];
  const r = verifyLog(db, sizes);
  if (!r.ok) return { ok: false, lines: [], problem: `first bad record #${r.firstBad.seq}: ${r.firstBad.reason}` };
  const lines = [`ok: ${r.records} records, chain intact, head ${r.head}`, `Merkle tree: size ${r.tree.size}, root ${r.tree.root.toString('base64')}`];

  if (stored.length && !verifier) return { ok: false, lines, problem: 'the log has signed checkpoints but no key was found to check them (pass --key)' };
  for (const c of stored) {
    const opened = openCheckpoint(c.note, verifier!, verifier!.name);
    if ('error' in opened) return { ok: false, lines, problem: `stored checkpoint at size ${c.size}: ${opened.error}` };
    if (opened.size !== c.size) return { ok: false, lines, problem: `stored checkpoint at size ${c.size}: its note says size ${opened.size}` };
    const root = r.roots.get(c.size);
    if (!root) return { ok: false, lines, problem: `stored checkpoint at size ${c.size}: the log holds only ${r.records} records (records were removed from the end)` };
    if (!root.equals(opened.root)) return { ok: false, lines, problem: `stored checkpoint at size ${c.size}: the first ${c.size} records no longer hash to its root (records were changed)` };
  }
  if (stored.length) lines.push(`${stored.length} signed checkpoint(s) verified, the latest at size ${stored[stored.length - 1]!.size}`);

  if (given) {
    if (given.size > r.records) {
      return { ok: false, lines, problem: `the checkpoint given covers ${given.size} records but the log holds ${r.records}: records were removed from the end (the log was truncated)` };
    }
    // The proof comes from the stored tree (what the log claims); verifyLog has just
    // checked every stored node against the records, and the proof is checked against
    // the checkpoint's root and the root recomputed from the records.
    let proofOk = false;
    try {
      const proof = consistencyProof(given.size, r.tree.size, storedTree(db));
      proofOk = verifyConsistency(given.size, r.tree.size, given.root, r.tree.root, proof);
    } catch {
      proofOk = false;
    }
    const prefixRoot = r.roots.get(given.size);
    if (!proofOk || !prefixRoot || !prefixRoot.equals(given.root)) {
      return {
        ok: false,
        lines,
        problem: `the log is not an extension of the checkpoint given (size ${given.size}, root ${given.root.toString('base64')}): its first ${given.size} records hash to ${prefixRoot?.toString('base64') ?? 'nothing'} (records were changed and the hashes after them recomputed)`,
      };
    }
    lines.push(`consistent with the checkpoint given (size ${given.size}): consistency proof of ${given.size} → ${r.tree.size} verified`);
  }
  return { ok: true, lines };
}
