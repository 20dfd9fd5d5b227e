import type { BenchResult } from './lib.js';
// Every suite is imported statically: a suite that cannot load (a broken import, a
// renamed module) fails the whole run (and test/meta/bench-results.test.ts) instead of
// vanishing from the results.
import { benchEventLog } from './eventlog.js';
import { benchMqtt } from './mqtt.js';
import { benchPower } from './power.js';
import { benchBroadcast } from './broadcast.js';
import { benchBroker } from './broker.js';
import { benchFire } from './fire.js';

/** One bench suite: what `--only NAME` selects, and the result ids it must produce. */
export interface Suite {
  name: string;
  run: () => Promise<BenchResult[]>;
  /** Every result id the suite returns, in order (a missing or extra id fails the run). */
  ids: readonly string[];
  /** Ids produced only where a tool exists (the pty broadcast needs socat). */
  optionalIds?: readonly string[];
}

/** The suites of `npm run bench`, in the order they run. */
export const SUITES: readonly Suite[] = [
  { name: 'eventlog', run: benchEventLog, ids: ['eventlog-append'] },
  { name: 'mqtt', run: benchMqtt, ids: ['checkin-burst', 'checkin-floor', 'checkin-spread', 'checkin-cpu', 'command-roundtrip'] },
  { name: 'power', run: benchPower, ids: ['power-mains-shed', 'power-gpio-shed-inprocess'] },
  { name: 'broadcast', run: benchBroadcast, ids: ['broadcast-tcp'], optionalIds: ['broadcast-pty'] },
  { name: 'broker', run: benchBroker, ids: ['broker-qos1'] },
  { name: 'fire', run: benchFire, ids: ['fire-jammers-off'] },
];

/** `npm run bench:soak` (bench/soak.ts): its own script, its own file bench/results/soak.json. */
export const SOAK_ID = 'soak';

/**
 * The figure keys outside tools rely on, per result id (docs/benchmarks.md): every id of
 * every suite is listed, and a result lacking one of its keys (or with a non-numeric value)
 * fails the run.
 */
export const REQUIRED_FIGURES: Readonly<Record<string, readonly string[]>> = {
  'eventlog-append': ['fullRowsPerS', 'normalRowsPerS', 'ratioFullToNormal'],
  'checkin-burst': ['p50Ms', 'p99Ms', 'floorP99Ms', 'ratioP99ToFloor', 'samples'],
  'checkin-floor': ['p50Ms', 'p99Ms', 'samples'],
  'checkin-spread': ['p50Ms', 'p99Ms', 'samples'],
  'checkin-cpu': ['usPerDecision', 'decisions'],
  'command-roundtrip': ['p50Ms', 'p99Ms', 'echoP99Ms', 'samples'],
  'power-mains-shed': ['trials', 'p50Ms', 'maxMs'],
  'power-gpio-shed-inprocess': ['trials', 'p50Ms', 'p99Ms'],
  'broadcast-tcp': ['p50Ms', 'p99Ms'],
  'broadcast-pty': ['p50Ms', 'p99Ms'],
  'broker-qos1': ['hubMsgPerS', 'aedesMsgPerS', 'mosquittoMsgPerS', 'hubCpuUsPerMsg', 'mosquittoCpuUsPerMsg'],
  'fire-jammers-off': ['p50Ms', 'p99Ms', 'trials'],
  [SOAK_ID]: ['devices', 'minutes', 'rssMaxMb', 'rssSlopeMbPerMin', 'loopDelayP99Ms', 'loopDelayMaxMs', 'answersChecked', 'wrongAnswers'],
};

/**
 * What is wrong with a run's results: a result without its required figures, an id no
 * suite declares, a duplicate, a declared id missing from its suite's output. Empty when
 * the results are well-formed.
 */
export function resultProblems(results: readonly BenchResult[], expectedIds: readonly string[]): string[] {
  const problems: string[] = [];
  for (const r of results) {
    const keys = REQUIRED_FIGURES[r.id];
    if (!keys) {
      problems.push(`${r.id}: not a declared result id (bench/registry.ts REQUIRED_FIGURES)`);
      continue;
    }
    const missing = keys.filter((k) => typeof r.figures[k] !== 'number' || !Number.isFinite(r.figures[k]));
    if (missing.length > 0) problems.push(`${r.id}: missing or non-numeric figure(s) ${missing.join(', ')}`);
  }
  const ids = results.map((r) => r.id);
  const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dup.length > 0) problems.push(`duplicate result id(s): ${[...new Set(dup)].join(', ')}`);
  const absent = expectedIds.filter((id) => !ids.includes(id));
  if (absent.length > 0) problems.push(`result id(s) not produced: ${absent.join(', ')}`);
  return problems;
}
