#!/usr/bin/env node
// The package's bin. The sources are TypeScript run through tsx's loader, so a fresh
// clone runs without a separate build step that could drift from the sources.
import { register } from 'tsx/esm/api';

// A caller that already loads TypeScript says so (the test runner, whose own loader's source
// maps its coverage report reads: tsx's are not understood there and would count every line).
if (process.env.FH_TS_LOADER !== 'external') register();
const { main } = await import('../hub/cli.ts');
process.exitCode = await main(process.argv.slice(2));
