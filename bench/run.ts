import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import type { BenchResult } from './lib.js';
import { benchEventLog } from './eventlog.js';
import { benchMqtt } from './mqtt.js';

/**
 * `npm run bench`: every performance goal of the project, measured in one run on this
 * machine, each figure beside a baseline measured in the same run. `--only NAME,...`
 * runs a subset (eventlog, mqtt, power, broadcast).
 */
const suites: Record<string, () => Promise<BenchResult[]>> = {
  eventlog: benchEventLog,
  mqtt: benchMqtt,
};

async function optional(name: string, path: string, fn: string): Promise<void> {
  try {
    const mod = (await import(path)) as Record<string, () => Promise<BenchResult[]>>;
    const f = mod[fn];
    if (f) suites[name] = f;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
}

await optional('power', './power.js', 'benchPower');
await optional('broadcast', './broadcast.js', 'benchBroadcast');
await optional('fire', './fire.js', 'benchFire');

const onlyArg = process.argv.indexOf('--only');
const only = onlyArg >= 0 ? (process.argv[onlyArg + 1] ?? '').split(',') : null;
const results: BenchResult[] = [];
console.log(`facility-hub benchmarks — ${new Date().toISOString()} — node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB`);
for (const [name, run] of Object.entries(suites)) {
  if (only && !only.includes(name)) continue;
  process.stdout.write(`\n[${name}] running…\n`);
  for (const r of await run()) {
    results.push(r);
    console.log(`\n${r.name}`);
    for (const [k, v] of Object.entries(r.figures)) console.log(`  ${k.padEnd(42)} ${v}`);
    if (r.goal) console.log(`  goal: ${r.goal} — ${r.pass ? 'met' : 'NOT met'}`);
  }
}
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/latest.json', JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2));
const missed = results.filter((r) => r.pass === false).length;
console.log(`\n${results.length} result(s), ${missed} goal(s) not met. Written to bench/results/latest.json`);
