import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Db } from '../store/store.js';
import { canonicalJson, recordBody, storedTree } from '../store/events.js';
import { inclusionProof, leafHash, verifyInclusion } from './merkle.js';
import { encodeVerifier, openCheckpoint, parseVerifier, type NoteVerifier } from './note.js';
import { SEAL_EVENT, sessionDigest } from './feature.js';
import type { StoredCheckpoint } from './checkpoints.js';

/**
 * A session's evidence pack: its records, each with its RFC 6962 inclusion proof in the
 * tree of a signed checkpoint, that checkpoint, and the log's public key. It is written
 * as RFC 8785 canonical JSON and read back only in that form, so any changed byte either
 * breaks the JSON, breaks the canonical form, or changes what the proofs cover.
 */
export const PACK_FORMAT = 'facility-hub-evidence-pack/1';

const Hex64 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Base64Hash = Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$' });
const PackEvent = Type.Object(
  {
    seq: Type.Integer({ minimum: 1 }),
    ts: Type.Integer(),
    type: Type.String(),
    actor: Type.String(),
    deviceId: Type.Union([Type.String(), Type.Null()]),
    sessionIds: Type.Array(Type.String()),
    data: Type.Record(Type.String(), Type.Unknown()),
    prevHash: Hex64,
    hash: Hex64,
    proof: Type.Array(Base64Hash, { maxItems: 64 }),
  },
  { additionalProperties: false },
);
const PackSchema = Type.Object(
  {
    format: Type.Literal(PACK_FORMAT),
    origin: Type.String(),
    sessionId: Type.String(),
    exportedAt: Type.Integer(),
    publicKey: Type.String(),
    checkpoint: Type.String(),
    events: Type.Array(PackEvent),
  },
  { additionalProperties: false },
);
export type EvidencePack = Static<typeof PackSchema>;
const checkPack = TypeCompiler.Compile(PackSchema);

interface Row {
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

/** Builds the pack of `sessionId` against a checkpoint covering all of its records. */
export function buildPack(db: Db, sessionId: string, checkpoint: StoredCheckpoint, verifier: NoteVerifier, now: number): EvidencePack {
  const rows = db.prepare('SELECT e.* FROM event_sessions s JOIN events e ON e.seq = s.seq WHERE s.session_id = ? ORDER BY e.seq').all(sessionId) as Row[];
  const last = rows[rows.length - 1]?.seq ?? 0;
  if (checkpoint.size < last) throw new Error(`the checkpoint (size ${checkpoint.size}) does not cover record ${last}`);
  const tree = storedTree(db);
  return {
    format: PACK_FORMAT,
    origin: verifier.name,
    sessionId,
    exportedAt: now,
    publicKey: encodeVerifier(verifier),
    checkpoint: checkpoint.note,
    events: rows.map((r) => ({
      seq: r.seq,
      ts: r.ts,
      type: r.type,
      actor: r.actor,
      deviceId: r.device_id,
      sessionIds: JSON.parse(r.sessions) as string[],
      data: JSON.parse(r.data) as Record<string, unknown>,
      prevHash: r.prev_hash,
      hash: r.hash,
      proof: inclusionProof(r.seq - 1, checkpoint.size, tree).map((h) => h.toString('base64')),
    })),
  };
}

export function encodePack(pack: EvidencePack): string {
  return `${canonicalJson(pack)}\n`;
}

export type PackVerdict = { ok: true; lines: string[]; warnings: string[] } | { ok: false; problem: string };

/**
 * Verifies a pack offline: canonical form and shape, the checkpoint's signature (with the
 * key given, else the pack's own and a warning), each record's chain hash and inclusion
 * proof, and, when the session was closed, its seal (count and digest of its records).
 */
export function verifyPack(text: string, trusted: NoteVerifier | null): PackVerdict {
  const fail = (problem: string): PackVerdict => ({ ok: false, problem });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return fail(`the pack is not JSON (${(e as Error).message})`);
  }
  let canonical: string;
  try {
    canonical = encodePack(parsed as EvidencePack);
  } catch (e) {
    return fail(`the pack is not canonical JSON (${(e as Error).message})`);
  }
  if (canonical !== text) return fail('the pack is not in its canonical form (RFC 8785): it was edited after export');
  if (!checkPack.Check(parsed)) {
    const e = checkPack.Errors(parsed).First();
    return fail(`the pack does not have the evidence-pack shape: ${e ? `${e.path || '/'} ${e.message}` : 'unknown'}`);
  }
  const pack = parsed;
  const warnings: string[] = [];
  let own: NoteVerifier;
  try {
    own = parseVerifier(pack.publicKey);
  } catch (e) {
    return fail(`the pack's public key: ${(e as Error).message}`);
  }
  if (trusted && encodeVerifier(trusted) !== encodeVerifier(own)) return fail(`the pack is signed by ${pack.publicKey}, not by the key you trust (${encodeVerifier(trusted)})`);
  if (!trusted) warnings.push(`checked with the key inside the pack (${pack.publicKey}); compare it with the key published by the centre, or pass --key`);
  const key = trusted ?? own;
  if (pack.origin !== key.name) return fail(`the pack's origin "${pack.origin}" is not the key's name "${key.name}"`);
  const cp = openCheckpoint(pack.checkpoint, key, key.name);
  if ('error' in cp) return fail(`the checkpoint: ${cp.error}`);

  let prev: { seq: number; hash: string } | null = null;
  let seal: { at: number; events: number; digest: string } | null = null;
  const leaves: Buffer[] = [];
  for (const [i, e] of pack.events.entries()) {
    const at = `event ${i + 1} (record #${e.seq})`;
    if (!e.sessionIds.includes(pack.sessionId)) return fail(`${at} does not belong to session ${pack.sessionId}`);
    if (prev && e.seq <= prev.seq) return fail(`${at} is out of order`);
    if (e.seq > cp.size) return fail(`${at} is beyond the checkpoint (size ${cp.size})`);
    const body = recordBody(e, canonicalJson(e.data));
    if (createHash('sha256').update(e.prevHash).update('\n').update(body).digest('hex') !== e.hash) return fail(`${at}: its content does not match its hash`);
    if (prev && e.seq === prev.seq + 1 && e.prevHash !== prev.hash) return fail(`${at}: it does not link to the record before it`);
    const leaf = leafHash(body);
    if (!verifyInclusion(e.seq - 1, cp.size, leaf, e.proof.map((p) => Buffer.from(p, 'base64')), cp.root)) return fail(`${at}: its inclusion proof does not lead to the checkpoint's root`);
    if (e.type === SEAL_EVENT && seal === null) {
      const d = e.data as { events?: unknown; digest?: unknown };
      if (typeof d.events !== 'number' || typeof d.digest !== 'string') return fail(`${at}: a seal without its count and digest`);
      seal = { at: i, events: d.events, digest: d.digest };
    }
    if (seal === null) leaves.push(leaf);
    prev = { seq: e.seq, hash: e.hash };
  }
  const lines = [`ok: ${pack.events.length} records of session ${pack.sessionId}, each included in the checkpoint of size ${cp.size} (root ${cp.root.toString('base64')}) signed by ${encodeVerifier(key)}`];
  if (seal) {
    if (seal.events !== leaves.length || seal.digest !== sessionDigest(leaves)) return fail(`the session's seal counts ${seal.events} records before it, the pack holds ${leaves.length} or other ones: records were left out`);
    lines.push(`complete: the session's seal covers exactly the ${seal.events} records before it`);
  } else warnings.push('the session has no seal in this pack (not closed yet): records could be missing from the pack without this check noticing');
  return { ok: true, lines, warnings };
}
