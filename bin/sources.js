// What the production build (`npm run build`, scripts/build.js) compiles, and the fingerprint
// that tells the bin whether `dist/` was built from the sources next to it. Plain JavaScript:
// the bin reads it before any TypeScript loader exists.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Folders compiled into dist/: everything the CLI can load. */
export const SOURCE_DIRS = ['hub', 'devices', 'drivers', 'config', 'simulators', 'kernel'];
/** Files the sources read next to themselves at run time (not TypeScript): copied into dist/. */
export const ASSETS = ['hub/console/web', 'config/demo-facility.yaml'];
/** Where the build writes the fingerprint of the tree it compiled. */
export const FINGERPRINT_FILE = 'dist/SOURCES.sha256';

function walk(root, dir, out) {
  let entries;
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true });
  } catch {
    out.push(dir); // a single file (an asset), or missing (hashed as absent)
    return;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(root, p, out);
    else out.push(p);
  }
}

/**
 * sha256 over the path and content of every source (.ts) and asset file: content, not
 * mtimes, because `npm pack` rewrites mtimes and an installed package must still match.
 * About 1.3 MB of files: a few ms at each start.
 */
export function sourcesFingerprint(root) {
  const files = [];
  for (const d of SOURCE_DIRS) {
    const all = [];
    walk(root, d, all);
    files.push(...all.filter((f) => f.endsWith('.ts')));
  }
  for (const a of ASSETS) walk(root, a, files);
  const h = createHash('sha256');
  for (const f of files) {
    h.update(relative(root, join(root, f)) + '\0');
    try {
      h.update(readFileSync(join(root, f)));
    } catch {
      h.update('\0missing');
    }
    h.update('\0');
  }
  return h.digest('hex');
}

/** True when dist/ holds a build of exactly these sources. */
export function buildIsFresh(root) {
  try {
    return readFileSync(join(root, FINGERPRINT_FILE), 'utf8').trim() === sourcesFingerprint(root);
  } catch {
    return false;
  }
}
