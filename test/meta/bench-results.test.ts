/**
 * The bench registry (bench/registry.ts) is what outside tools read through
 * bench/results/latest.json: every suite declares the result ids it produces, every id its
 * fixed figure keys, and docs/benchmarks.md documents them (issue 14, item 7). This checks
 * the declarations and the run's result check, never a timing. Importing the registry also
 * loads every suite: a suite that cannot load fails here as it fails the bench.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../fixtures/cli.js';
import { REQUIRED_FIGURES, SOAK_ID, SUITES, resultProblems } from '../../bench/registry.js';
import type { BenchResult } from '../../bench/lib.js';

/** The ids and keys issue 14 item 7 names: these may never disappear. */
const ISSUE_KEYS: Record<string, string[]> = {
  'checkin-burst': ['p50Ms', 'p99Ms'],
  'checkin-floor': ['p50Ms', 'p99Ms'],
  'checkin-spread': ['p50Ms', 'p99Ms'],
  'checkin-cpu': ['usPerDecision'],
  'broker-qos1': ['hubMsgPerS', 'aedesMsgPerS', 'mosquittoMsgPerS', 'hubCpuUsPerMsg', 'mosquittoCpuUsPerMsg'],
  'fire-jammers-off': ['p50Ms', 'p99Ms'],
};

const allSuiteIds = SUITES.flatMap((s) => [...s.ids, ...(s.optionalIds ?? [])]);

void t.test('every suite has a name, a run function and at least one result id', async (t) => {
  const names = SUITES.map((s) => s.name);
  t.same([...new Set(names)], names, 'suite names are unique');
  for (const s of SUITES) {
    t.match(s.name, /^[a-z][a-z0-9-]*$/, `${s.name}: a name for --only`);
    t.equal(typeof s.run, 'function', `${s.name}: loads and exports its run function`);
    t.ok(s.ids.length > 0, `${s.name}: declares the ids it produces`);
  }
  t.same([...new Set(allSuiteIds)], allSuiteIds, 'no id is produced by two suites');
});

void t.test('every result id has its figure keys declared, camelCase with a unit or a count', async (t) => {
  for (const id of [...allSuiteIds, SOAK_ID]) {
    t.match(id, /^[a-z][a-z0-9-]*$/, `${id}: a stable kebab-case id`);
    const keys = REQUIRED_FIGURES[id];
    t.ok(keys && keys.length > 0, `${id}: figure keys declared`);
    for (const k of keys ?? []) t.match(k, /^[a-z][A-Za-z0-9]*$/, `${id}.${k}: camelCase`);
  }
  const declared = Object.keys(REQUIRED_FIGURES).sort();
  t.same(declared, [...allSuiteIds, SOAK_ID].sort(), 'no key list for an id nothing produces');
});

void t.test('the ids and keys issue 14 fixed are declared', async (t) => {
  for (const [id, keys] of Object.entries(ISSUE_KEYS)) {
    t.ok(allSuiteIds.includes(id), `${id}: produced by a suite`);
    for (const k of keys) t.ok(REQUIRED_FIGURES[id]?.includes(k), `${id}.${k}: required`);
  }
});

void t.test('docs/benchmarks.md documents every id and every required key', async (t) => {
  const doc = readFileSync(join(ROOT, 'docs', 'benchmarks.md'), 'utf8');
  for (const [id, keys] of Object.entries(REQUIRED_FIGURES)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${id}\``) || l.includes(`| \`${id}\` |`));
    t.ok(row, `${id}: a row in the ids table`);
    for (const k of keys) t.ok(row?.includes(`\`${k}\``), `${id}.${k}: in its row`);
  }
});

void t.test('the run refuses malformed results', async (t) => {
  const good = (id: string): BenchResult => ({ id, name: id, figures: Object.fromEntries((REQUIRED_FIGURES[id] ?? []).map((k) => [k, 1])) });
  t.same(resultProblems([good('checkin-cpu'), good('broker-qos1')], ['checkin-cpu', 'broker-qos1']), [], 'well-formed results pass');
  const noKey = good('checkin-cpu');
  delete noKey.figures.usPerDecision;
  t.match(resultProblems([noKey], ['checkin-cpu']).join('\n'), /checkin-cpu: missing or non-numeric figure\(s\) usPerDecision/);
  const nan = good('fire-jammers-off');
  nan.figures.p99Ms = NaN;
  t.match(resultProblems([nan], ['fire-jammers-off']).join('\n'), /fire-jammers-off: missing or non-numeric figure\(s\) p99Ms/);
  const text = good('broker-qos1');
  text.figures.hubMsgPerS = 'fast';
  t.match(resultProblems([text], ['broker-qos1']).join('\n'), /hubMsgPerS/, 'a string is not a figure');
  t.match(resultProblems([good('made-up')], []).join('\n'), /made-up: not a declared result id/);
  t.match(resultProblems([good('checkin-cpu'), good('checkin-cpu')], ['checkin-cpu']).join('\n'), /duplicate result id\(s\): checkin-cpu/);
  t.match(resultProblems([good('checkin-burst')], ['checkin-burst', 'checkin-floor']).join('\n'), /not produced: checkin-floor/, 'a suite that silently drops a result fails');
});
