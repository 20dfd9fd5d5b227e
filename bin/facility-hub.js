#!/usr/bin/env node
// The package's bin. The sources are TypeScript run through tsx's loader, so a fresh
// clone runs without a separate build step that could drift from the sources.
import { setTimeout } from 'node:timers';
import { register } from 'tsx/esm/api';

/**
 * Once main() has answered, the process ends even if a handle is still open (a timer of a
 * library, a socket a failed start could not close): a failed start must exit, and a
 * finished stop must not leave a process that ignores the next SIGTERM. unref: when nothing
 * is left open the process ends at once and this never fires.
 */
const EXIT_GRACE_MS = 2_000;

register();
const { main } = await import('../hub/cli.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
