import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import type { BenchResult } from './lib.js';
// Every suite is imported statically: a suite that cannot load (a broken import, a
// renamed module) fails the whole run instead of vanishing from the results.
import { benchEventLog } from './eventlog.js';
import { benchMqtt } from './mqtt.js';
import { benchPower } from './power.js';
import { benchBroadcast } from './broadcast.js';
import { benchBroker } from './broker.js';
import { benchFire } from './fire.js';

/**
 * `npm run bench`: every performance goal of the project, measured in one run on this
 * machine, each figure beside a baseline measured in the same run. `--only NAME,...`
 * runs a subset (eventlog, mqtt, power, broadcast, broker, fire).
 */
const suites: Record<string, () => Promise<BenchResult[]>> = {
  eventlog: benchEventLog,
  mqtt: benchMqtt,
  power: benchPower,
  broadcast: benchBroadcast,
  broker: benchBroker,
  fire: benchFire,
};

/** The figure keys outside tools rely on, per result id (docs/benchmarks.md). */
export const REQUIRED_FIGURES: Record<string, string[]> = {
  'checkin-burst': ['p50Ms', 'p99Ms'],
  'checkin-floor': ['p50Ms', 'p99Ms'],
  'checkin-spread': ['p50Ms', 'p99Ms'],
  'checkin-cpu': ['usPerDecision'],
  'command-roundtrip': ['p50Ms', 'p99Ms', 'echoP99Ms'],
  'broker-qos1': ['hubMsgPerS', 'aedesMsgPerS', 'mosquittoMsgPerS', 'hubCpuUsPerMsg', 'mosquittoCpuUsPerMsg'],
  'fire-jammers-off': ['p50Ms', 'p99Ms'],
};

const onlyArg = process.argv.indexOf('--only');
const only = onlyArg >= 0 ? (process.argv[onlyArg + 1] ?? '').split(',') : null;
const unknown = (only ?? []).filter((n) => !(n in suites));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
const results: BenchResult[] = [];
const problems: string[] = [];
console.log(`facility-hub benchmarks — ${new Date().toISOString()} — node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB`);
for (const [name, run] of Object.entries(suites)) {
  if (only && !only.includes(name)) continue;
  process.stdout.write(`\n[${name}] running…\n`);
  for (const r of await run()) {
    results.push(r);
    console.log(`\n${r.id}: ${r.name}`);
    for (const [k, v] of Object.entries(r.figures)) console.log(`  ${k.padEnd(42)} ${v}`);
    if (r.goal) console.log(`  goal: ${r.goal} — ${r.pass ? 'met' : 'NOT met'}`);
    const missing = (REQUIRED_FIGURES[r.id] ?? []).filter((k) => typeof r.figures[k] !== 'number' || !Number.isFinite(r.figures[k]));
    if (missing.length > 0) problems.push(`${r.id}: missing or non-numeric figure(s) ${missing.join(', ')}`);
  }
}
const ids = results.map((r) => r.id);
const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
if (dup.length > 0) problems.push(`duplicate result id(s): ${dup.join(', ')}`);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/latest.json', JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2));
const missed = results.filter((r) => r.pass === false).length;
console.log(`\n${results.length} result(s), ${missed} goal(s) not met. Written to bench/results/latest.json`);
if (problems.length > 0) {
  console.error(`\nbench results malformed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
