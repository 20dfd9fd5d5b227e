/**
 * `engines` says Node >= 20.19 (what sites and CI run): no locked package may demand more,
 * or `npm ci` warns EBADENGINE and the package may use APIs Node 20 lacks (issue 11, item 20).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../fixtures/cli.js';

interface Lock {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
}

const NODE = [20, 19, 0];

/** Whether one `>=X.Y.Z`-style comparator admits NODE; null for forms this check does not read. */
function admits(range: string): boolean | null {
  const alternatives = range.split('||').map((r) => r.trim());
  const verdicts = alternatives.map((alt) => {
    const m = /^>=?\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(alt);
    if (!m) return null;
    const want = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
    for (let i = 0; i < 3; i++) if ((NODE[i] ?? 0) !== (want[i] ?? 0)) return (NODE[i] ?? 0) > (want[i] ?? 0);
    return true;
  });
  if (verdicts.some((v) => v === true)) return true;
  return verdicts.every((v) => v === false) ? false : null;
}

void t.test('the comparator reader', async (t) => {
  t.equal(admits('>=22'), false);
  t.equal(admits('>= 18'), true);
  t.equal(admits('>=20.19.0'), true);
  t.equal(admits('>=20.20'), false);
  t.equal(admits('>=22 || >=18'), true);
  t.equal(admits('^18.17.0 || >=20.5.0'), true);
  t.equal(admits('^22'), null);
});

void t.test('every locked package admits Node 20.19', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  t.equal(pkg.engines.node, '>=20.19');
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock;
  const refused = Object.entries(lock.packages)
    .filter(([name, p]) => name !== '' && !Array.isArray(p.engines) && p.engines?.node !== undefined && admits(p.engines.node) === false)
    .map(([name, p]) => `${name.replace(/^.*node_modules\//, '')}@${p.version ?? '?'} wants node ${(p.engines as { node: string }).node}`);
  t.same(refused, [], 'no package wants a newer Node');
});
