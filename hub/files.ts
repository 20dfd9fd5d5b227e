import { holderAlive, LOCK_FILE } from './data-lock.js';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The data dir holds rosters, names and key material: only its owner may enter it. */
export const DATA_DIR_MODE = 0o700;
/** Every file in it: only its owner may read it. */
export const DATA_FILE_MODE = 0o600;

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

/**
 * Creates the data dir 0700 when it does not exist; refuses (throws, with the command
 * that fixes it) when it exists and others may read or enter it, or when a file in it
 * is readable by others. Group access is allowed (a service group may need it); world
 * access never.
 */
export function prepareDataDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
    return;
  }
  if (!st.isDirectory()) throw new Error(`data dir ${dir} is not a directory`);
  if ((st.mode & 0o007) !== 0) {
    throw new Error(`data dir ${dir} is open to every user of this machine (mode ${octal(st.mode)}): it holds rosters and names. Fix: chmod 700 ${dir} && chmod 600 ${dir}/*`);
  }
  const loose = readdirSync(dir)
    .map((name) => ({ name, st: statSync(join(dir, name)) }))
    .filter((f) => f.st.isFile() && (f.st.mode & 0o007) !== 0);
  if (loose.length > 0) {
    const list = loose.map((f) => `${f.name} (${octal(f.st.mode)})`).join(', ');
    throw new Error(`files in data dir ${dir} are readable by every user of this machine: ${list}. Fix: chmod 600 ${loose.map((f) => join(dir, f.name)).join(' ')}`);
  }
}

/** Creates a file 0600 if it does not exist yet (SQLite then gives its -wal and -shm files the same mode). */
export function touchPrivate(file: string): void {
  closeSync(openSync(file, 'a', DATA_FILE_MODE));
}

/** The pid of a hub running on this data dir (the holder of its lock, data-lock.ts), or null. */
export function runningHub(dataDir: string): number | null {
  const file = join(dataDir, LOCK_FILE);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && holderAlive(pid) ? pid : null;
}

