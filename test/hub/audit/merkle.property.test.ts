import t from 'tap';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  EMPTY_ROOT,
  Frontier,
  consistencyProof,
  inclusionProof,
  leafHash,
  memoryTree,
  nodeHash,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from '../../../hub/audit/merkle.js';

/** MTH straight from RFC 6962 §2.1, written independently of the module under test. */
function referenceRoot(leaves: readonly Buffer[]): Buffer {
  const sha = (...parts: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest();
  const mth = (d: readonly Buffer[]): Buffer => {
    if (d.length === 0) return sha();
    if (d.length === 1) return sha(Buffer.from([0]), d[0]!);
    let k = 1;
    while (k << 1 < d.length) k <<= 1;
    return sha(Buffer.from([1]), mth(d.slice(0, k)), mth(d.slice(k)));
  };
  return mth(leaves);
}

const leavesArb = (min: number, max: number) => fc.array(fc.uint8Array({ minLength: 0, maxLength: 24 }), { minLength: min, maxLength: max }).map((a) => a.map((u) => Buffer.from(u)));
const flip = (h: Hash, bit: number): Hash => {
  const c = Buffer.from(h);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
};

void t.test('known answers: the empty tree, one leaf, the RFC 6962 prefixes', async (t) => {
  t.equal(EMPTY_ROOT.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  t.equal(leafHash('').toString('hex'), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', 'SHA-256(0x00)');
  const a = leafHash('a');
  const b = leafHash('b');
  t.same(nodeHash(a, b), createHash('sha256').update(Buffer.concat([Buffer.from([1]), a, b])).digest());
  t.same(memoryTree([a])(0, 1), a);
});

void t.test('the frontier root equals the reference MTH at every size', async (t) => {
  fc.assert(
    fc.property(leavesArb(0, 70), (raw) => {
      const f = new Frontier();
      const hashes = raw.map((l) => leafHash(l));
      if (!f.root().equals(referenceRoot([]))) return false;
      for (let i = 0; i < hashes.length; i++) {
        f.append(hashes[i]!);
        if (!f.root().equals(referenceRoot(raw.slice(0, i + 1)))) return false;
        if (!memoryTree(hashes)(0, i + 1).equals(f.root())) return false;
      }
      return true;
    }),
    { numRuns: 60, seed: 20261201 },
  );
  t.pass('frontier, memory tree and reference agree');
});

void t.test('the completed subtrees a frontier reports rebuild it (Frontier.of)', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300 }), (n) => {
      const hashes = Array.from({ length: n }, (_, i) => leafHash(`leaf ${i}`));
      const nodes = new Map<string, Hash>();
      const f = new Frontier();
      for (const h of hashes) f.append(h, (level, idx, hash) => nodes.set(`${level}/${idx}`, hash));
      const lookup = (start: number, end: number): Hash => {
        const width = end - start;
        if (width === 1) return hashes[start]!;
        const got = nodes.get(`${Math.log2(width)}/${start / width}`);
        if (!got) throw new Error(`missing ${start}..${end}`);
        return got;
      };
      const rebuilt = Frontier.of(n, lookup);
      return rebuilt.size === n && rebuilt.root().equals(f.root());
    }),
    { numRuns: 80, seed: 7 },
  );
  t.pass('O(log n) rebuild from stored nodes');
});

void t.test('inclusion proofs verify for every leaf, and fail for any other leaf or index, a cut or flipped proof', async (t) => {
  fc.assert(
    fc.property(leavesArb(1, 64), fc.nat(), fc.nat({ max: 255 }), (raw, pick, bit) => {
      const hashes = raw.map((l) => leafHash(l));
      const tree = memoryTree(hashes);
      const n = hashes.length;
      const root = referenceRoot(raw);
      const m = pick % n;
      const proof = inclusionProof(m, n, tree);
      if (!verifyInclusion(m, n, hashes[m]!, proof, root)) return false;
      // Another leaf's content at this index.
      if (verifyInclusion(m, n, leafHash(Buffer.concat([raw[m]!, Buffer.from('x')])), proof, root)) return false;
      // The same proof for another index (distinct leaves only: equal leaves may share paths).
      if (n > 1) {
        const other = (m + 1) % n;
        if (!hashes[other]!.equals(hashes[m]!) && verifyInclusion(other, n, hashes[m]!, proof, root)) return false;
      }
      if (proof.length > 0) {
        const bad = proof.map((p, i) => (i === bit % proof.length ? flip(p, bit) : p));
        if (verifyInclusion(m, n, hashes[m]!, bad, root)) return false;
        if (verifyInclusion(m, n, hashes[m]!, proof.slice(1), root)) return false;
      }
      return !verifyInclusion(m, n, hashes[m]!, [...proof, root], root) && !verifyInclusion(n, n, hashes[m]!, proof, root);
    }),
    { numRuns: 300, seed: 20261128 },
  );
  t.pass('300 random trees');
});

void t.test('consistency proofs verify for every prefix and fail for a changed leaf, a wrong size or a flipped bit', async (t) => {
  fc.assert(
    fc.property(leavesArb(1, 64), fc.nat(), fc.nat(), fc.nat({ max: 255 }), (raw, a, b, bit) => {
      const hashes = raw.map((l) => leafHash(l));
      const tree = memoryTree(hashes);
      const n = 1 + (b % hashes.length);
      const m = a % (n + 1);
      const rootM = referenceRoot(raw.slice(0, m));
      const rootN = referenceRoot(raw.slice(0, n));
      const proof = consistencyProof(m, n, tree);
      if (!verifyConsistency(m, n, rootM, rootN, proof)) return false;
      if (m === 0 || m === n) return true;
      // A rewrite of one of the first m leaves: the new tree is not an extension of the old.
      const i = a % m;
      const forged = [...hashes];
      forged[i] = leafHash(Buffer.concat([raw[i]!, Buffer.from('forged')]));
      const forgedTree = memoryTree(forged);
      const forgedProof = consistencyProof(m, n, forgedTree);
      if (verifyConsistency(m, n, rootM, forgedTree(0, n), forgedProof)) return false;
      if (verifyConsistency(m, n, rootM, rootN, proof.map((p, j) => (j === bit % proof.length ? flip(p, bit) : p)))) return false;
      if (verifyConsistency(m, n, flip(rootM, bit), rootN, proof)) return false;
      if (m + 1 < n && verifyConsistency(m + 1, n, rootM, rootN, proof)) return false;
      return !verifyConsistency(m, n, rootM, rootN, []);
    }),
    { numRuns: 300, seed: 62962 },
  );
  t.pass('300 random pairs of sizes');
});

void t.test('proof arguments out of range are refused', async (t) => {
  const tree = memoryTree([leafHash('a'), leafHash('b')]);
  t.throws(() => inclusionProof(2, 2, tree), /not inside a tree of size 2/);
  t.throws(() => consistencyProof(3, 2, tree), /0 <= m <= n/);
  t.notOk(verifyConsistency(3, 2, EMPTY_ROOT, EMPTY_ROOT, []));
  t.ok(verifyConsistency(0, 2, EMPTY_ROOT, tree(0, 2), []), 'the empty tree is a prefix of every tree');
  t.notOk(verifyInclusion(-1, 2, leafHash('a'), [], EMPTY_ROOT));
});
