import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { DEMO_FACILITY, loadFacility, parseFacility, type LoadResult } from '../../config/load.js';
import { runCli } from '../fixtures/cli.js';
import { tempDir } from '../helpers/hub.js';

/**
 * fast-check over the facility config: random mutations of the demo facility (keys
 * deleted or renamed, values of the wrong type, hostile unicode, whole sections replaced,
 * the YAML text cut or spliced) through the loader. Either the result is a valid facility,
 * or every error names the file, a path inside it, what was found and what was expected;
 * the loader never throws anything else.
 */

// A few CLI processes (about 4 s of CPU each: tsx compiles the sources) on a shared machine.
t.setTimeout(240_000);

const FILE = 'fuzz-facility.yaml';
const demoText = readFileSync(DEMO_FACILITY, 'utf8');
const demo = parse(demoText) as Record<string, unknown>;

type Path = (string | number)[];
/** Every path in the document (objects and arrays included, so a whole section can go). */
function paths(v: unknown, at: Path = []): Path[] {
  if (v === null || typeof v !== 'object') return [at];
  return [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, Array.isArray(v) ? Number(k) : k]))];
}
const ALL = paths(demo).filter((p) => p.length > 0);

function edit(v: unknown, path: Path, fn: (parent: Record<string | number, unknown>, key: string | number) => void): unknown {
  const copy = structuredClone(v) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) {
    const next = cur[k];
    // An earlier mutation took the path away: this one does nothing.
    if (next === null || typeof next !== 'object') return copy;
    cur = next as Record<string | number, unknown>;
  }
  fn(cur, path[path.length - 1]!);
  return copy;
}

const weird = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, 2 ** 53 + 1, 0.5, '', ' ', 'NaN', '\u0000', '\u202e', '𠮷', '评标室', 'a'.repeat(300), [], {}, [null], { x: 1 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.jsonValue({ maxDepth: 2 }),
);

type Mutation = (doc: unknown) => unknown;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom(...ALL).map((p): Mutation => (d) => edit(d, p, (o, k) => (Array.isArray(o) ? o.splice(Number(k), 1) : delete o[k]))),
  fc.tuple(fc.constantFrom(...ALL), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 })).map(([p, name]): Mutation => (d) =>
    edit(d, p, (o, k) => {
      if (Array.isArray(o)) return;
      o[name] = o[k];
      delete o[k];
    }),
  ),
  fc.tuple(fc.constantFrom(...ALL), weird).map(([p, w]): Mutation => (d) => edit(d, p, (o, k) => (o[k] = w))),
  // A device listed twice (duplicate ids), or a room a device names that does not exist.
  fc.nat().map((i): Mutation => (d) => edit(d, ['devices'], (o, k) => {
    const list = o[k];
    if (Array.isArray(list) && list.length) list.push(structuredClone(list[i % list.length]));
  })),
);

/** Valid, or every error located and worded; throws (with the offending error) otherwise. */
function wellFormed(r: LoadResult): boolean {
  if (r.ok) return true;
  if (r.errors.length === 0) throw new Error('invalid without an error');
  for (const e of r.errors) {
    const ok = e.file === FILE && typeof e.path === 'string' && typeof e.found === 'string' && e.found.length > 0 && typeof e.expected === 'string' && e.expected.length > 0;
    if (!ok) throw new Error(`an error that does not say file, path, found and expected: ${JSON.stringify(e)}`);
  }
  return true;
}

void t.test('mutated demo facilities: valid, or errors naming file, path, found and expected', async (t) => {
  let invalid = 0;
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
      const doc = ms.reduce((d, m) => m(d), demo as unknown);
      const r = parseFacility(stringify(doc), FILE);
      if (!r.ok) invalid++;
      return wellFormed(r);
    }),
    { numRuns: 400 },
  );
  t.ok(invalid > 100, `most mutations are refused (${invalid} of 400)`);
});

void t.test('cut, spliced and garbled YAML text: never a throw, always located errors', async (t) => {
  fc.assert(
    fc.property(fc.nat(), fc.nat(), fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('\t', ': :', '- [', '{', '&a *a', '!!binary x', '\ufeff', '<<: *x')), (at, cut, insert) => {
      const i = at % demoText.length;
      const text = demoText.slice(0, i) + insert + demoText.slice(i + (cut % 40));
      return wellFormed(parseFacility(text, FILE));
    }),
    { numRuns: 400 },
  );
  t.pass('400 garbled texts');
});

void t.test('config check (the CLI) on mutated files: exit 0, or non-zero with every error located', async (t) => {
  const tmp = tempDir('fh-fuzz-config-');
  t.teardown(tmp.cleanup);
  // A few through the real command (a process each), chosen by the same generator.
  const samples = fc.sample(fc.array(mutation, { minLength: 1, maxLength: 3 }), { numRuns: 3, seed: 14 });
  for (const [i, ms] of samples.entries()) {
    const file = join(tmp.dir, `m${i}.yaml`);
    writeFileSync(file, stringify(ms.reduce((d, m) => m(d), demo as unknown)));
    const expected = loadFacility(file);
    const r = await runCli(['config', 'check', file]);
    if (expected.ok) {
      t.equal(r.code, 0, `sample ${i}: valid, exit 0`);
    } else {
      t.not(r.code, 0, `sample ${i}: non-zero exit`);
      for (const e of expected.errors) t.ok(r.stderr.includes(`${e.path || '/'}: found ${e.found}, expected ${e.expected}`), `sample ${i}: names ${e.path}`);
      t.notMatch(r.stderr, /at .*\.ts:\d+|TypeError|RangeError|ReferenceError/, `sample ${i}: no stack trace`);
    }
  }
});
