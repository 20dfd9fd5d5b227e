import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_FACILITY, loadFacility } from '../../config/load.js';
import { systemClock } from '../../kernel/clock.js';
import { silentLogger } from '../log.js';
import { Store } from '../store/store.js';
import { EventLog } from '../store/events.js';
import { auditLog, openExistingLog, readCheckpointFile, readVerifierArg, verifierFor } from './verify.js';
import { buildPack, encodePack, verifyPack } from './pack.js';
import { latestCheckpoint, makeCheckpoint } from './checkpoints.js';
import { ensureAuditSigner, readAuditSigner } from './keys.js';
import { encodeVerifier, openCheckpoint } from './note.js';

type Out = { out: (s: string) => void; err: (s: string) => void };

export const AUDIT_USAGE = `  facility-hub audit verify [--data-dir DIR] [--checkpoint FILE] [--key PUBKEY|FILE]
  facility-hub audit key [--data-dir DIR] [--config FILE]
  facility-hub audit export --session ID --out FILE [--data-dir DIR]
  facility-hub audit verify-pack FILE [--key PUBKEY|FILE]`;

/** Exit codes: 0 ok, 2 usage or missing input, 3 the log or pack does not verify. */
async function verify(args: string[], io: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { 'data-dir': { type: 'string', default: './data' }, checkpoint: { type: 'string' }, key: { type: 'string' } } });
  const dataDir = resolve(values['data-dir']);
  const db = openExistingLog(dataDir);
  try {
    const verifier = verifierFor(dataDir, values.key);
    const external = values.checkpoint ? readCheckpointFile(values.checkpoint) : null;
    const r = auditLog(db, verifier, external);
    for (const l of r.lines) io.out(l);
    if (r.ok) return 0;
    io.err(`TAMPERED: ${r.problem}`);
    return 3;
  } finally {
    db.close();
  }
}

function key(args: string[], io: Out): number {
  const { values } = parseArgs({ args, options: { 'data-dir': { type: 'string', default: './data' }, config: { type: 'string', default: DEMO_FACILITY } } });
  const dataDir = resolve(values['data-dir']);
  if (!existsSync(dataDir)) throw new Error(`${dataDir}: no such data dir (nothing was created)`);
  let signer = readAuditSigner(dataDir);
  if (!signer) {
    const f = loadFacility(values.config);
    if (!f.ok) throw new Error(`${values.config}: not a valid facility file (run facility-hub config check)`);
    signer = ensureAuditSigner(dataDir, f.facility.site.id);
    io.err(`Created the audit signing key in ${dataDir} (mode 0600).`);
  }
  io.out(encodeVerifier(signer));
  return 0;
}

async function exportPack(args: string[], io: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { 'data-dir': { type: 'string', default: './data' }, session: { type: 'string' }, out: { type: 'string' } } });
  if (!values.session || !values.out) {
    io.err('usage: facility-hub audit export --session ID --out FILE [--data-dir DIR]');
    return 2;
  }
  const dataDir = resolve(values['data-dir']);
  openExistingLog(dataDir).close();
  const signer = readAuditSigner(dataDir);
  if (!signer) throw new Error(`${dataDir}: no audit signing key (the hub creates it at its first start)`);
  const store = new Store({ dataDir, log: silentLogger() });
  try {
    const known = store.db.prepare('SELECT 1 FROM sessions WHERE id = ?').get(values.session);
    if (!known) {
      io.err(`no session "${values.session}" in ${dataDir}`);
      return 2;
    }
    const last = (store.db.prepare('SELECT MAX(seq) FROM event_sessions WHERE session_id = ?').pluck().get(values.session) as number | null) ?? 0;
    // A checkpoint the hub signed (and published) is preferred; one is made now only
    // when the session's last records are newer than every checkpoint.
    let cp = latestCheckpoint(store.db, last);
    if (!cp) cp = await makeCheckpoint(store, new EventLog(store, () => systemClock.now()), signer, 'export', systemClock.now());
    if ('error' in openCheckpoint(cp.note, signer, signer.name)) throw new Error(`the stored checkpoint at size ${cp.size} does not verify: run facility-hub audit verify`);
    const pack = buildPack(store.db, values.session, cp, signer, systemClock.now());
    writeFileSync(values.out, encodePack(pack), { mode: 0o600 });
    io.out(`wrote ${values.out}: ${pack.events.length} records of session ${values.session}, checkpoint size ${cp.size}, key ${encodeVerifier(signer)}`);
    return 0;
  } finally {
    await store.close();
  }
}

function verifyPackFile(args: string[], io: Out): number {
  const { values, positionals } = parseArgs({ args, options: { key: { type: 'string' } }, allowPositionals: true });
  const file = positionals[0];
  if (!file) {
    io.err('usage: facility-hub audit verify-pack FILE [--key PUBKEY|FILE]');
    return 2;
  }
  const trusted = values.key ? readVerifierArg(values.key) : null;
  const r = verifyPack(readFileSync(file, 'utf8'), trusted);
  if (!r.ok) {
    io.err(`INVALID: ${r.problem}`);
    return 3;
  }
  for (const l of r.lines) io.out(l);
  for (const w of r.warnings) io.err(`warning: ${w}`);
  return 0;
}

/** `facility-hub audit ...`; null when `sub` is not an audit subcommand. */
export async function auditCommand(sub: string | undefined, args: string[], io: Out): Promise<number | null> {
  switch (sub) {
    case 'verify':
      return verify(args, io);
    case 'key':
      return key(args, io);
    case 'export':
      return exportPack(args, io);
    case 'verify-pack':
      return verifyPackFile(args, io);
    default:
      return null;
  }
}
