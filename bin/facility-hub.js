#!/usr/bin/env node
// The package's bin. The sources are TypeScript run through tsx's loader, so a fresh
// clone runs without a separate build step that could drift from the sources.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../hub/cli.ts');
process.exitCode = await main(process.argv.slice(2));
