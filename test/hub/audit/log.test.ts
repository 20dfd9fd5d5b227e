import t from 'tap';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { Store } from '../../../hub/store/store.js';
import { EventLog, eventHash, eventLeafHash, canonicalJson, recordBody, type StoredEvent } from '../../../hub/store/events.js';
import { silentLogger } from '../../../hub/log.js';
import { Frontier, inclusionProof, consistencyProof, memoryTree, leafHash } from '../../../hub/audit/merkle.js';
import { ensureAuditSigner, AUDIT_KEY_FILE, readAuditSigner } from '../../../hub/audit/keys.js';
import { makeCheckpoint, listCheckpoints } from '../../../hub/audit/checkpoints.js';
import { auditLog, openExistingLog } from '../../../hub/audit/verify.js';
import { checkpointText, encodeVerifier, openCheckpoint, parseVerifier, signNote, generateSigner, openNote, type NoteSigner } from '../../../hub/audit/note.js';
import { tempDir } from '../../helpers/hub.js';
import canonicalize from 'canonicalize';

interface Cleanup {
  teardown(fn: () => unknown): void;
}

function setup(t: Cleanup): { store: Store; events: EventLog; dir: string; signer: NoteSigner } {
  const tmp = tempDir('fh-audit-');
  const store = new Store({ dataDir: tmp.dir, log: silentLogger() });
  t.teardown(async () => {
    await store.close();
    tmp.cleanup();
  });
  return { store, events: new EventLog(store, () => 1_790_000_000_000), dir: tmp.dir, signer: ensureAuditSigner(tmp.dir, 'test') };
}

async function fill(events: EventLog, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) await events.append({ type: `test.e${i}`, actor: 'hub', sessionIds: i % 3 === 0 ? ['s-1'] : [], data: { i, text: `record ${i}` } });
}

/**
 * What an attacker with the data dir (and so the signing key) can do: rewrite records and
 * recompute every derived value (chain hashes, leaf hashes, inner nodes, the chain head),
 * then re-sign fresh checkpoints. Only a checkpoint kept elsewhere tells.
 */
function forgeEverything(store: Store, signer: NoteSigner): void {
  const db = store.db;
  db.transaction(() => {
    const rows = db.prepare('SELECT * FROM events ORDER BY seq').all() as { seq: number; ts: number; type: string; actor: string; device_id: string | null; sessions: string; data: string }[];
    let prev = '0'.repeat(64);
    const f = new Frontier();
    db.prepare('DELETE FROM merkle_nodes').run();
    const node = db.prepare('INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)');
    for (const r of rows) {
      const e = { seq: r.seq, ts: r.ts, type: r.type, actor: r.actor, deviceId: r.device_id, sessionIds: JSON.parse(r.sessions) as string[], data: JSON.parse(r.data) as Record<string, unknown> };
      const hash = eventHash(prev, e);
      const leaf = eventLeafHash(e);
      db.prepare('UPDATE events SET prev_hash = ?, hash = ?, leaf_hash = ? WHERE seq = ?').run(prev, hash, leaf.toString('hex'), r.seq);
      f.append(leaf, (level, idx, h) => node.run(level, idx, h.toString('hex')));
      prev = hash;
    }
    db.prepare("UPDATE meta SET value = ? WHERE key = 'chain.head'").run(`${rows.length}:${prev}`);
    db.prepare('DELETE FROM checkpoints').run();
    db.prepare("INSERT INTO checkpoints (size, root, made_at, reason, note) VALUES (?, ?, 0, 'forged', ?)").run(f.size, f.root().toString('base64'), signNote(checkpointText({ origin: signer.name, size: f.size, root: f.root() }), signer));
  })();
}

void t.test('the record body is RFC 8785 canonical JSON (canonicalize) of the record', async (t) => {
  fc.assert(
    fc.property(
      fc.record({ seq: fc.nat(), ts: fc.integer({ min: 0, max: 4_102_444_800_000 }), type: fc.string(), actor: fc.string(), deviceId: fc.option(fc.string(), { nil: null }), sessionIds: fc.array(fc.string()), data: fc.dictionary(fc.string(), fc.jsonValue()) }),
      (rec) => recordBody(rec, canonicalJson(rec.data)) === canonicalize(rec) && eventLeafHash(rec).equals(leafHash(canonicalize(rec)!)),
    ),
    { numRuns: 400, seed: 8785 },
  );
  t.pass('400 random records');
  t.equal(canonicalJson({ b: 1, a: [1e21, 0.1, -0], c: 'é\u2028' }), '{"a":[1e+21,0.1,0],"b":1,"c":"é\u2028"}', 'JCS number and string forms');
});

void t.test('the stored tree serves the same roots and proofs as the records recomputed', async (t) => {
  const { store, events } = setup(t);
  await fill(events, 1, 37);
  const rows = store.db.prepare('SELECT * FROM events ORDER BY seq').all() as { seq: number; ts: number; type: string; actor: string; device_id: string | null; sessions: string; data: string }[];
  const leaves = rows.map((r) => eventLeafHash({ seq: r.seq, ts: r.ts, type: r.type, actor: r.actor, deviceId: r.device_id, sessionIds: JSON.parse(r.sessions) as string[], data: JSON.parse(r.data) as Record<string, unknown> }));
  const mem = memoryTree(leaves);
  const stored = events.tree();
  t.same(events.treeHead(), { size: 37, root: mem(0, 37) });
  for (const n of [1, 2, 5, 16, 17, 37]) {
    for (const m of new Set([0, Math.floor(n / 2), n - 1])) {
      t.same(inclusionProof(m, n, stored), inclusionProof(m, n, mem), `inclusion ${m} in ${n}`);
      t.same(consistencyProof(m, n, stored), consistencyProof(m, n, mem), `consistency ${m} → ${n}`);
    }
  }
  // A rolled-back write grew the in-memory tree; the tree head follows the store again.
  await store.write(() => {
    events.appendInTx({ type: 'doomed', actor: 'hub' });
    throw new Error('rolled back');
  }).catch(() => undefined);
  await fill(events, 38, 38);
  const again = new EventLog(store, () => 1);
  t.same(events.treeHead(), again.treeHead(), 'the running log and a fresh open agree after a rollback');
  t.equal(events.treeHead().size, 38);
});

void t.test('records written before the tree existed get their leaves at the next open', async (t) => {
  const { store, events, signer } = setup(t);
  await fill(events, 1, 9);
  const before = events.treeHead();
  store.db.prepare('UPDATE events SET leaf_hash = NULL').run();
  store.db.prepare('DELETE FROM merkle_nodes').run();
  const reopened = new EventLog(store, () => 1);
  t.same(reopened.treeHead(), before);
  await makeCheckpoint(store, reopened, signer, 'test', 1);
  t.match(auditLog(store.db, signer, null), { ok: true });
});

void t.test('signing key: 0600 in the data dir, note verifier form, refused when readable by others', async (t) => {
  const { dir, signer } = setup(t);
  const file = join(dir, AUDIT_KEY_FILE);
  t.equal(statSync(file).mode & 0o777, 0o600);
  const vkey = encodeVerifier(signer);
  t.match(vkey, /^facility-hub\.local\/test\/events\+[0-9a-f]{8}\+[A-Za-z0-9+/]{43}[=]?[A-Za-z0-9+/=]*$/);
  t.same(parseVerifier(vkey).publicKey, signer.publicKey);
  t.same(readAuditSigner(dir)?.publicKey, signer.publicKey, 'the same key at the next read');
  const { chmodSync } = await import('node:fs');
  chmodSync(file, 0o644);
  t.throws(() => readAuditSigner(dir), /readable by others .*chmod 600/);
  chmodSync(file, 0o600);
  t.throws(() => parseVerifier(vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')), /does not match/);
});

void t.test('signed notes: a changed byte anywhere in the text or signature is refused', async (t) => {
  const signer = generateSigner('example.test/log');
  const note = signNote('example.test/log\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', signer);
  t.match(openNote(note, signer), { ok: true });
  t.match(note, /\n\n\u2014 example\.test\/log [A-Za-z0-9+/]+=*\n$/);
  for (let i = 0; i < note.length - 1; i++) {
    const c = note.charCodeAt(i);
    const changed = note.slice(0, i) + String.fromCharCode(c === 0x41 ? 0x42 : 0x41) + note.slice(i + 1);
    if (changed === note) continue;
    const r = openNote(changed, signer);
    if (r.ok) t.fail(`byte ${i} changed and the note still opens`);
  }
  t.pass('every one-character change refused');
  // The signature's last base64 character with its unused low bits flipped decodes to the same bytes.
  const sig = /([A-Za-z0-9+/]+)(=*)\n$/.exec(note)!;
  const last = sig[1]!.slice(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const unusedBits = sig[2]!.length === 2 ? 4 : sig[2]!.length === 1 ? 2 : 0;
  if (unusedBits > 0) {
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    const respelled = note.slice(0, sig.index + sig[1]!.length - 1) + twin + note.slice(sig.index + sig[1]!.length);
    t.same(Buffer.from(/ ([A-Za-z0-9+/]+=*)\n$/.exec(respelled)![1]!, 'base64'), Buffer.from(/ ([A-Za-z0-9+/]+=*)\n$/.exec(note)![1]!, 'base64'), 'the respelled signature decodes to the same bytes');
    t.match(openNote(respelled, signer), { ok: false, reason: /not canonical base64/ }, 'and is refused');
  } else t.fail('the signature base64 has padding (68 bytes), so it has unused bits');
  const other = generateSigner('example.test/log');
  t.match(openNote(note, other), { ok: false, reason: /not signed by/ }, 'another key of the same name: unknown, ignored, so no trusted signature');
});

void t.test('verify: stored checkpoints catch a naive edit and a naive cut', async (t) => {
  const { store, events, signer } = setup(t);
  await fill(events, 1, 12);
  await makeCheckpoint(store, events, signer, 'test', 1);
  t.match(auditLog(store.db, signer, null), { ok: true, lines: [/^ok: 12 records/, /Merkle tree: size 12/, /1 signed checkpoint/] });
  store.db.prepare("UPDATE events SET data = json_set(data, '$.i', 99) WHERE seq = 4").run();
  t.match(auditLog(store.db, signer, null), { ok: false, problem: /#4: its content does not match its hash/ });
});

void t.test('a forged consistent rewrite passes on its own, and is caught by a checkpoint taken before', async (t) => {
  const { store, events, signer } = setup(t);
  await fill(events, 1, 10);
  const earlier = await makeCheckpoint(store, events, signer, 'test', 1);
  await fill(events, 11, 20);
  t.match(auditLog(store.db, signer, earlier.note), { ok: true, lines: [/^ok/, /Merkle/, /checkpoint/, /consistent with the checkpoint given \(size 10\): consistency proof of 10 → 20 verified/] });

  store.db.prepare("UPDATE events SET data = json_set(data, '$.text', 'forged') WHERE seq = 3").run();
  forgeEverything(store, signer);
  t.match(auditLog(store.db, signer, null), { ok: true }, 'everything in the data dir agrees with itself (the attacker had the key)');
  const r = auditLog(store.db, signer, earlier.note);
  t.equal(r.ok, false, 'the earlier checkpoint exposes it');
  if (!r.ok) t.match(r.problem, /not an extension of the checkpoint given \(size 10/);
});

void t.test('a cut tail is caught by a checkpoint taken before, even with the chain head fixed up', async (t) => {
  const { store, events, signer } = setup(t);
  await fill(events, 1, 15);
  const earlier = await makeCheckpoint(store, events, signer, 'test', 1);
  store.db.prepare('DELETE FROM events WHERE seq > 11').run();
  store.db.prepare('DELETE FROM event_sessions WHERE seq > 11').run();
  forgeEverything(store, signer);
  t.match(auditLog(store.db, signer, null), { ok: true }, 'on its own the cut is invisible');
  t.match(auditLog(store.db, signer, earlier.note), { ok: false, problem: /covers 15 records but the log holds 11: records were removed from the end/ });
});

void t.test('a checkpoint given that is not signed by the trusted key is refused', async (t) => {
  const { store, events, signer } = setup(t);
  await fill(events, 1, 4);
  const mallory = generateSigner(signer.name);
  const fake = signNote(checkpointText({ origin: signer.name, size: 4, root: events.treeHead().root }), mallory);
  t.match(auditLog(store.db, signer, fake), { ok: false, problem: /does not verify: the note is not signed by/ });
  const cp = await makeCheckpoint(store, events, signer, 'test', 1);
  t.same(listCheckpoints(store.db).map((c) => c.size), [4]);
  const opened = openCheckpoint(cp.note, signer, signer.name);
  t.match(opened, { size: 4 });
  t.match(openCheckpoint(cp.note, signer, 'other/origin'), { error: /not "other\/origin"/ });
});

void t.test('openExistingLog refuses a missing data dir or log and creates nothing', async (t) => {
  const tmp = tempDir('fh-audit-');
  t.teardown(tmp.cleanup);
  const missing = join(tmp.dir, 'nope');
  t.throws(() => openExistingLog(missing), /no such data dir \(nothing was created\)/);
  t.throws(() => openExistingLog(tmp.dir), /no event log in this data dir/);
  const { existsSync, readdirSync } = await import('node:fs');
  t.notOk(existsSync(missing));
  t.same(readdirSync(tmp.dir), []);
});

export type { StoredEvent };
