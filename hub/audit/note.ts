import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/**
 * Signed notes (c2sp.org/signed-note) with Ed25519, and the checkpoints they carry
 * (c2sp.org/tlog-checkpoint). Keys are written the way Go's golang.org/x/mod/sumdb/note
 * writes them, so standard tooling reads them:
 *   verifier key  <name>+<key ID, 8 hex>+<base64(0x01 || 32-byte public key)>
 *   signer key    PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || 32-byte seed)>
 *   key ID        SHA-256(name || 0x0A || 0x01 || public key)[:4]
 *   signature     — <name> <base64(key ID || 64-byte Ed25519 signature)>
 */
const ED25519 = 0x01;
// DER wrappers of a raw Ed25519 key (RFC 8410): node:crypto imports keys as DER or JWK.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface NoteVerifier {
  name: string;
  keyId: Buffer;
  publicKey: Buffer;
  key: KeyObject;
}

export interface NoteSigner extends NoteVerifier {
  privateKey: KeyObject;
}

function checkName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name)) throw new Error(`key name "${name}": must be non-empty, without spaces or "+"`);
}

export function keyId(name: string, publicKey: Buffer): Buffer {
  return createHash('sha256').update(name).update(Buffer.from([0x0a, ED25519])).update(publicKey).digest().subarray(0, 4);
}

function fromSeed(name: string, seed: Buffer): NoteSigner {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = Buffer.from(spki.subarray(SPKI_PREFIX.length));
  return { name, keyId: keyId(name, publicKey), publicKey, key: createPublicKey(privateKey), privateKey };
}

export function generateSigner(name: string): NoteSigner {
  checkName(name);
  const { privateKey } = generateKeyPairSync('ed25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  return fromSeed(name, Buffer.from(pkcs8.subarray(PKCS8_PREFIX.length)));
}

export function encodeSigner(s: NoteSigner): string {
  const pkcs8 = s.privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = pkcs8.subarray(PKCS8_PREFIX.length);
  return `PRIVATE+KEY+${s.name}+${s.keyId.toString('hex')}+${Buffer.concat([Buffer.from([ED25519]), seed]).toString('base64')}`;
}

export function parseSigner(text: string): NoteSigner {
  // base64 may itself hold "+": the name and the ID are matched, the key is the rest.
  const m = /^PRIVATE\+KEY\+([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(text.trim());
  if (!m) throw new Error('signer key: expected PRIVATE+KEY+<name>+<id>+<key>');
  const [, name, id, b64] = m as unknown as [string, string, string, string];
  checkName(name);
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 33 || raw[0] !== ED25519) throw new Error('signer key: expected an Ed25519 key (type 0x01 and 32 bytes)');
  const s = fromSeed(name, raw.subarray(1));
  if (s.keyId.toString('hex') !== id) throw new Error(`signer key: its key ID ${id} does not match the key (${s.keyId.toString('hex')})`);
  return s;
}

export function encodeVerifier(v: NoteVerifier): string {
  return `${v.name}+${v.keyId.toString('hex')}+${Buffer.concat([Buffer.from([ED25519]), v.publicKey]).toString('base64')}`;
}

export function parseVerifier(text: string): NoteVerifier {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(text.trim());
  if (!m) throw new Error('verifier key: expected <name>+<key ID, 8 hex digits>+<base64 key>');
  const [, name, id, b64] = m as unknown as [string, string, string, string];
  checkName(name);
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 33 || raw[0] !== ED25519 || raw.toString('base64') !== b64) throw new Error('verifier key: expected base64 of 0x01 and a 32-byte Ed25519 public key');
  const publicKey = Buffer.from(raw.subarray(1));
  if (keyId(name, publicKey).toString('hex') !== id) throw new Error(`verifier key: the key ID ${id} does not match name and key`);
  return { name, keyId: Buffer.from(id, 'hex'), publicKey, key: createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' }) };
}

/** Signs `text` (must end with a newline) and returns the whole signed note. */
export function signNote(text: string, signer: NoteSigner): string {
  if (!text.endsWith('\n')) throw new Error('note text must end with a newline');
  const sig = sign(null, Buffer.from(text, 'utf8'), signer.privateKey);
  return `${text}\n\u2014 ${signer.name} ${Buffer.concat([signer.keyId, sig]).toString('base64')}\n`;
}

export type OpenedNote = { ok: true; text: string } | { ok: false; reason: string };

/**
 * Opens a signed note with one trusted key: the text, once a signature by that key (same
 * name and key ID) verifies. Signatures by other keys are ignored, as the spec requires.
 */
export function openNote(note: string, verifier: NoteVerifier): OpenedNote {
  if (note.length > 64 * 1024) return { ok: false, reason: 'the note is larger than 64 KiB' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) return { ok: false, reason: 'the note contains control characters' };
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) return { ok: false, reason: 'not a signed note (no blank line before the signatures)' };
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  let known = 0;
  for (const line of lines) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/.exec(line);
    if (!m) return { ok: false, reason: `malformed signature line "${line.slice(0, 80)}"` };
    const raw = Buffer.from(m[2]!, 'base64');
    // Base64's last character can carry unused bits: two spellings of one signature. Only the
    // canonical one is accepted, so that a changed byte of a note never leaves it valid.
    if (raw.toString('base64') !== m[2]) return { ok: false, reason: `the signature by ${m[1]} is not canonical base64 (the signature was changed)` };
    if (m[1] !== verifier.name || raw.length < 4 || !raw.subarray(0, 4).equals(verifier.keyId)) continue;
    known++;
    if (raw.length !== 68 || !verify(null, Buffer.from(text, 'utf8'), verifier.key, raw.subarray(4))) return { ok: false, reason: `the signature by ${verifier.name} does not verify (the note or the signature was changed)` };
  }
  if (known === 0) return { ok: false, reason: `the note is not signed by ${encodeVerifier(verifier)}` };
  return { ok: true, text };
}

/** A checkpoint's body (c2sp.org/tlog-checkpoint): origin, tree size, root hash. */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
}

export function checkpointText(c: Checkpoint): string {
  return `${c.origin}\n${c.size}\n${c.root.toString('base64')}\n`;
}

export function parseCheckpointText(text: string): Checkpoint | { error: string } {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') return { error: 'a checkpoint has at least three lines: origin, tree size, root hash' };
  const [origin, size, root] = lines as [string, string, string];
  if (!origin) return { error: 'the checkpoint origin is empty' };
  if (!/^(0|[1-9]\d{0,15})$/.test(size) || !Number.isSafeInteger(Number(size))) return { error: `the tree size "${size}" is not a decimal number without leading zeros` };
  const hash = Buffer.from(root, 'base64');
  if (hash.length !== 32 || hash.toString('base64') !== root) return { error: 'the root hash is not base64 of 32 bytes' };
  return { origin, size: Number(size), root: hash };
}

/** Opens a signed checkpoint with a trusted key and checks its origin. */
export function openCheckpoint(note: string, verifier: NoteVerifier, origin: string): Checkpoint | { error: string } {
  const opened = openNote(note, verifier);
  if (!opened.ok) return { error: opened.reason };
  const c = parseCheckpointText(opened.text);
  if ('error' in c) return c;
  if (c.origin !== origin) return { error: `the checkpoint is for "${c.origin}", not "${origin}"` };
  return c;
}
