/**
 * bin/sources.js: the bin runs dist/ only while it was built from exactly the sources beside
 * it (a stale build must never run), and a packed install, whose mtimes npm rewrites, still
 * matches (content, not mtimes).
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FINGERPRINT_FILE, buildIsFresh, sourcesFingerprint } from '../../bin/sources.js';

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'fh-build-fp-'));
  for (const d of ['hub/console/web', 'devices', 'drivers', 'config', 'simulators', 'kernel', 'dist']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'hub/cli.ts'), 'export const a = 1;\n');
  writeFileSync(join(root, 'kernel/clock.ts'), 'export const b = 2;\n');
  writeFileSync(join(root, 'hub/console/web/index.html'), '<p>控制台</p>\n');
  writeFileSync(join(root, 'config/demo-facility.yaml'), 'version: 1\n');
  writeFileSync(join(root, FINGERPRINT_FILE), sourcesFingerprint(root) + '\n');
  return root;
}

void t.test('a build of these sources is fresh; any change to a source or an asset makes it stale', async (t) => {
  const root = tree();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  t.equal(buildIsFresh(root), true, 'just built');
  utimesSync(join(root, 'hub/cli.ts'), new Date(499_162_000_000), new Date(499_162_000_000));
  t.equal(buildIsFresh(root), true, 'mtimes alone (npm pack rewrites them) change nothing');
  writeFileSync(join(root, 'hub/cli.ts'), 'export const a = 2;\n');
  t.equal(buildIsFresh(root), false, 'an edited source');
  writeFileSync(join(root, 'hub/cli.ts'), 'export const a = 1;\n');
  t.equal(buildIsFresh(root), true, 'back as built');
  writeFileSync(join(root, 'drivers/new.ts'), 'export {};\n');
  t.equal(buildIsFresh(root), false, 'an added source');
  rmSync(join(root, 'drivers/new.ts'));
  writeFileSync(join(root, 'hub/console/web/index.html'), '<p>改了</p>\n');
  t.equal(buildIsFresh(root), false, 'a changed asset (copied into dist/)');
});

void t.test('no build, or no fingerprint, is never fresh', async (t) => {
  const root = tree();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  rmSync(join(root, FINGERPRINT_FILE));
  t.equal(buildIsFresh(root), false);
  rmSync(join(root, 'dist'), { recursive: true });
  t.equal(buildIsFresh(root), false);
});
