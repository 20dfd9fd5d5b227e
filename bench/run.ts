import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import type { BenchResult } from './lib.js';
import { SUITES, resultProblems } from './registry.js';

/**
 * `npm run bench`: every performance goal of the project, measured in one run on this
 * machine, each figure beside a baseline measured in the same run. `--only NAME,...`
 * runs a subset (eventlog, mqtt, power, broadcast, broker, fire). The suites, their
 * result ids and the figure keys each id must carry are declared in bench/registry.ts.
 */
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg >= 0 ? (process.argv[onlyArg + 1] ?? '').split(',') : null;
const unknown = (only ?? []).filter((n) => !SUITES.some((s) => s.name === n));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${SUITES.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const results: BenchResult[] = [];
const expectedIds: string[] = [];
console.log(`facility-hub benchmarks — ${new Date().toISOString()} — node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB`);
for (const { name, run, ids } of SUITES) {
  if (only && !only.includes(name)) continue;
  expectedIds.push(...ids);
  process.stdout.write(`\n[${name}] running…\n`);
  for (const r of await run()) {
    results.push(r);
    console.log(`\n${r.id}: ${r.name}`);
    for (const [k, v] of Object.entries(r.figures)) console.log(`  ${k.padEnd(42)} ${v}`);
    if (r.goal) console.log(`  goal: ${r.goal} — ${r.pass ? 'met' : 'NOT met'}`);
  }
}
const problems = resultProblems(results, expectedIds);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/latest.json', JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2));
const missed = results.filter((r) => r.pass === false).length;
console.log(`\n${results.length} result(s), ${missed} goal(s) not met. Written to bench/results/latest.json`);
if (problems.length > 0) {
  console.error(`\nbench results malformed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
