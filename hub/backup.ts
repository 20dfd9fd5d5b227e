import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '../kernel/clock.js';
import { silentLogger } from './log.js';
import { Store } from './store/store.js';
import { verifyChain } from './store/events.js';

/**
 * Backup and restore of a data dir as one file: a consistent copy of the SQLite database
 * (`VACUUM INTO`, one read transaction, so it is safe while the hub runs and never blocks
 * its writers in WAL mode) with the data dir's key files (the ID-hash key, signing keys,
 * simulator tokens…) carried in a table of the copy. A restore verifies the audit log of
 * the copy before it writes anything where the hub will look.
 */

const DB_FILE = 'hub.sqlite';
/** Files of the data dir a backup leaves out: the live database, its WAL and locks. */
const SKIP = (name: string): boolean => name === DB_FILE || name.startsWith(`${DB_FILE}-`) || name.endsWith('.lock') || name.endsWith('.tmp');
const FILES_TABLE = 'fh_backup_files';
const META_TABLE = 'fh_backup_meta';

export interface BackupResult {
  file: string;
  bytes: number;
  events: number;
  keyFiles: string[];
}

export class BackupError extends Error {}

/** Writes the backup of `dataDir` to `outFile` (refuses to overwrite). */
export function backupDataDir(dataDir: string, outFile: string, clock: Clock): BackupResult {
  const dir = resolve(dataDir);
  const db = join(dir, DB_FILE);
  if (!existsSync(db)) throw new BackupError(`${dir}: no hub data here (${DB_FILE} is missing)`);
  const out = resolve(outFile);
  if (existsSync(out)) throw new BackupError(`${out} exists: choose a new file name (a backup never overwrites)`);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  rmSync(tmp, { force: true });
  const src = new Database(db, { fileMustExist: true });
  try {
    src.pragma('busy_timeout = 5000');
    src.prepare('VACUUM INTO ?').run(tmp);
  } finally {
    src.close();
  }
  const copy = new Database(tmp);
  try {
    const keyFiles = readdirSync(dir).filter((n) => !SKIP(n) && statSync(join(dir, n)).isFile());
    copy.exec(`CREATE TABLE ${FILES_TABLE} (name TEXT PRIMARY KEY, mode INTEGER NOT NULL, content BLOB NOT NULL);
               CREATE TABLE ${META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL);`);
    const put = copy.prepare(`INSERT INTO ${FILES_TABLE} (name, mode, content) VALUES (?, ?, ?)`);
    const meta = copy.prepare(`INSERT INTO ${META_TABLE} (key, value) VALUES (?, ?)`);
    const events = (copy.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    copy.transaction(() => {
      for (const name of keyFiles) put.run(name, statSync(join(dir, name)).mode & 0o777, readFileSync(join(dir, name)));
      meta.run('format', 'facility-hub-backup/1');
      meta.run('createdAt', new Date(clock.now()).toISOString());
      meta.run('sourceDataDir', dir);
      meta.run('events', String(events));
    })();
    copy.close();
    // The backup holds rosters and keys: readable by its owner only.
    chmodSync(tmp, 0o600);
    renameSync(tmp, out);
    return { file: out, bytes: statSync(out).size, events, keyFiles };
  } catch (err) {
    if (copy.open) copy.close();
    rmSync(tmp, { force: true });
    throw err;
  }
}

export interface RestoreResult {
  dataDir: string;
  events: number;
  head: string;
  keyFiles: string[];
  createdAt: string;
}

/**
 * Restores `file` into `dataDir`, which must not hold hub data. The copy is checked (a
 * facility-hub backup, an audit log that verifies) in a scratch folder beside the target;
 * only then are the database and the key files moved into place (data dir 0700, files 0600).
 */
export async function restoreBackup(file: string, dataDir: string): Promise<RestoreResult> {
  const src = resolve(file);
  if (!existsSync(src)) throw new BackupError(`${src}: no such backup file`);
  const target = resolve(dataDir);
  if (existsSync(join(target, DB_FILE))) throw new BackupError(`${target} already holds hub data: restore into a new or empty directory`);
  if (existsSync(target) && readdirSync(target).length > 0) throw new BackupError(`${target} is not empty: restore into a new or empty directory`);
  const scratch = join(dirname(target), `.${basename(target)}.restoring-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(join(scratch, DB_FILE), readFileSync(src), { mode: 0o600 });
    const raw = openBackup(join(scratch, DB_FILE), src);
    const files = raw.prepare(`SELECT name, mode, content FROM ${FILES_TABLE} ORDER BY name`).all() as { name: string; mode: number; content: Buffer }[];
    const createdAt = (raw.prepare(`SELECT value FROM ${META_TABLE} WHERE key = 'createdAt'`).get() as { value: string } | undefined)?.value ?? '';
    raw.exec(`DROP TABLE ${FILES_TABLE}; DROP TABLE ${META_TABLE};`);
    raw.close();

    // Opening it as the hub does applies the migrations of this version; then the log must verify.
    const store = new Store({ dataDir: scratch, log: silentLogger() });
    let verified: ReturnType<typeof verifyChain>;
    try {
      verified = verifyChain(store);
    } finally {
      await store.close();
    }
    if (!verified.ok) throw new BackupError(`${src}: the audit log does not verify (record #${verified.firstBad.seq}: ${verified.firstBad.reason}); nothing was restored`);

    for (const f of files) {
      if (f.name !== basename(f.name) || SKIP(f.name)) throw new BackupError(`${src}: unexpected file name "${f.name}" in the backup`);
      writeFileSync(join(scratch, f.name), f.content, { mode: 0o600 });
      chmodSync(join(scratch, f.name), 0o600);
    }
    for (const n of readdirSync(scratch)) if (n.startsWith(`${DB_FILE}-`)) rmSync(join(scratch, n), { force: true });
    if (existsSync(target)) rmSync(target, { recursive: true });
    renameSync(scratch, target);
    chmodSync(target, 0o700);
    return { dataDir: target, events: verified.records, head: verified.head, keyFiles: files.map((f) => f.name), createdAt };
  } catch (err) {
    rmSync(scratch, { recursive: true, force: true });
    throw err;
  }
}

function openBackup(path: string, shownAs: string): Database.Database {
  let db: Database.Database | null = null;
  let format: string | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    format = (db.prepare(`SELECT value FROM ${META_TABLE} WHERE key = 'format'`).get() as { value: string } | undefined)?.value;
  } catch {
    db?.close();
    throw new BackupError(`${shownAs}: not a facility-hub backup (expected a SQLite file written by "facility-hub backup")`);
  }
  if (format !== 'facility-hub-backup/1') {
    db.close();
    throw new BackupError(`${shownAs}: found backup format "${format ?? 'none'}", expected facility-hub-backup/1`);
  }
  return db;
}
