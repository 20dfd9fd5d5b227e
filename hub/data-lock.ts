/**
 * One hub per data dir. Two hubs on one SQLite file would both migrate it, both append to
 * the hash chain and both drive the same devices; the second `start` is refused instead.
 *
 * The lock is a file `hub.lock` in the data dir holding the owner's pid, created with
 * O_EXCL (`wx`) so two starts racing cannot both win. A lock left by a process that is gone
 * (a crash, SIGKILL, a power cut) is stale and taken over. On Linux a live pid is also
 * checked against /proc/PID/cmdline: after a reboot the old pid may belong to an unrelated
 * program, which must not keep the hub from starting.
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'hub.lock';

export interface DataDirLock {
  file: string;
  /** The pid of a stale lock this one replaced, if any. */
  tookOverFrom: number | null;
  release(): void;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`the data dir ${dataDir} is in use by another facility-hub (pid ${pid}, lock file ${join(dataDir, LOCK_FILE)}): stop that hub first, or start this one with another --data-dir`);
    this.name = 'DataDirLockedError';
  }
}

/** Whether a process with this pid runs and looks like a facility-hub (node) process. */
export function holderAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to another user (still alive).
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /facility-hub|node/.test(cmdline);
  } catch {
    // No /proc (not Linux) or it vanished meanwhile: trust kill(0).
    return true;
  }
}

function readPid(file: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Takes the data dir's lock for this process, or throws DataDirLockedError. */
export function lockDataDir(dataDir: string, pid = process.pid): DataDirLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, LOCK_FILE);
  let tookOverFrom: number | null = null;
  // Two rounds: the second after removing a stale lock (another start may win that race).
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${pid}\n`, { flag: 'wx', mode: 0o600 });
      return {
        file,
        tookOverFrom,
        release: () => {
          // Only our own lock: a hub that took over a lock it thought stale keeps its own.
          if (readPid(file) === pid) unlinkSync(file);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readPid(file);
    if (holder !== null && holder !== pid && holderAlive(holder)) throw new DataDirLockedError(dataDir, holder);
    // Stale (dead pid), empty or unreadable: take it over.
    tookOverFrom = holder;
    try {
      unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const holder = readPid(file);
  throw new DataDirLockedError(dataDir, holder ?? 0);
}
