// `npm run build` (also run by `npm install` through `prepare`, and by `npm pack`): compiles
// the TypeScript sources into dist/ with tsc, copies the assets the sources read at run time,
// and records the sources' fingerprint. bin/facility-hub.js runs dist/ only while that
// fingerprint matches the sources; otherwise it runs the sources through tsx, as before.
// Why a build at all: tsx in the hub's process costs about 40 MB of RSS (its esbuild worker
// thread, the transformed sources and their source maps kept in memory), a third of the
// soak's memory goal (docs/reliability.md, "Memory").
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ASSETS, FINGERPRINT_FILE, sourcesFingerprint } from '../bin/sources.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');
const tmp = join(root, `dist.tmp-${process.pid}`);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // An install without devDependencies: nothing to build with. The bin then runs the
  // sources through tsx, as it does whenever dist/ is missing or stale.
  console.error('build: typescript is not installed; dist/ not built (the bin runs the sources through tsx)');
  process.exit(0);
}

// Taken before compiling: a source changed during the build makes the fingerprint stale,
// never a stale build look fresh.
const fingerprint = sourcesFingerprint(root);
rmSync(tmp, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', tmp], { cwd: root, stdio: 'inherit' });
  for (const a of ASSETS) if (existsSync(join(root, a))) cpSync(join(root, a), join(tmp, a), { recursive: true });
  writeFileSync(join(tmp, 'SOURCES.sha256'), fingerprint + '\n');
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
} catch (err) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(`build failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
console.log(`build: dist/ compiled (${FINGERPRINT_FILE} ${fingerprint.slice(0, 12)})`);
