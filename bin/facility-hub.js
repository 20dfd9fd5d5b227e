#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=2
// The package's bin. It runs the compiled tree in dist/ (`npm run build`, made by `npm install`
// and `npm pack`) when that was built from exactly the sources beside it, and otherwise the
// TypeScript sources through tsx's loader, so an edited clone never runs a stale build. The
// compiled start is what production runs: tsx costs about 40 MB of RSS (docs/reliability.md).
import { setTimeout } from 'node:timers';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIsFresh } from './sources.js';

/**
 * Once main() has answered, the process ends even if a handle is still open (a timer of a
 * library, a socket a failed start could not close): a failed start must exit, and a
 * finished stop must not leave a process that ignores the next SIGTERM. unref: when nothing
 * is left open the process ends at once and this never fires.
 */
const EXIT_GRACE_MS = 2_000;

const entry = buildIsFresh(join(dirname(fileURLToPath(import.meta.url)), '..')) ? '../dist/hub/cli.js' : await viaTsx();
const { main } = await import(entry);
const code = await main(process.argv.slice(2));
process.exitCode = code;
setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();

/** The sources, through tsx (registered only when needed: it is not free). */
async function viaTsx() {
  const { register } = await import('tsx/esm/api');
  register();
  return '../hub/cli.ts';
}
