import { createHash, hash } from 'node:crypto';

/**
 * The Merkle tree of RFC 6962 §2.1 / RFC 9162 §2.1, with SHA-256:
 *   leaf hash  = SHA-256(0x00 || leaf bytes)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n.
 * The 0x00/0x01 prefixes keep a leaf from ever passing for an inner node (second
 * pre-image attacks). Pure functions: storage hands in a way to get a subtree's hash.
 */
export type Hash = Buffer;

const LEAF = Buffer.from([0x00]);
/** 0x01 || left || right, reused: every append hashes about one inner node. */
const NODE_INPUT = Buffer.alloc(65, 0x01);

// One-shot crypto.hash, not createHash: a Hash object costs more than hashing a record,
// and every appended event hashes its leaf and about one inner node (docs/benchmarks.md).
export function leafHash(leaf: string | Buffer): Hash {
  // U+0000 is the single byte 0x00 in UTF-8: the same bytes as 0x00 || leaf.
  return typeof leaf === 'string' ? hash('sha256', `\u0000${leaf}`, 'buffer') : hash('sha256', Buffer.concat([LEAF, leaf]), 'buffer');
}

export function nodeHash(left: Hash, right: Hash): Hash {
  if (left.length !== 32 || right.length !== 32) return createHash('sha256').update(NODE_INPUT.subarray(0, 1)).update(left).update(right).digest();
  left.copy(NODE_INPUT, 1);
  right.copy(NODE_INPUT, 33);
  return hash('sha256', NODE_INPUT, 'buffer');
}

/** MTH of the empty tree: SHA-256 of nothing (RFC 6962 §2.1). */
export const EMPTY_ROOT: Hash = createHash('sha256').digest();

/** The largest power of two strictly below n (n >= 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * MTH(D[start:end]) for a run of leaf hashes. `subtree` answers the hash of a range;
 * the algorithms below only ever ask for ranges the RFC's recursion produces, so a
 * store can serve perfect, aligned subtrees from its cache and split the rest.
 */
export type SubtreeHash = (start: number, end: number) => Hash;

/** Builds a SubtreeHash over leaf hashes held in memory (reference and verifier side). */
export function memoryTree(leaves: readonly Hash[]): SubtreeHash {
  const rec = (start: number, end: number): Hash => {
    const n = end - start;
    if (n === 0) return EMPTY_ROOT;
    if (n === 1) return leaves[start]!;
    const k = splitPoint(n);
    return nodeHash(rec(start, start + k), rec(start + k, end));
  };
  return rec;
}

/** PATH(m, D[n]) of RFC 6962 §2.1.1: the audit path of leaf m in the tree of size n. */
export function inclusionProof(m: number, n: number, subtree: SubtreeHash): Hash[] {
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 0 || m >= n) throw new Error(`inclusion proof: leaf index ${m} is not inside a tree of size ${n}`);
  const path: Hash[] = [];
  const rec = (index: number, start: number, end: number): void => {
    const size = end - start;
    if (size <= 1) return;
    const k = splitPoint(size);
    if (index < k) {
      rec(index, start, start + k);
      path.push(subtree(start + k, end));
    } else {
      rec(index - k, start + k, end);
      path.push(subtree(start, start + k));
    }
  };
  rec(m, 0, n);
  return path;
}

/** PROOF(m, D[n]) of RFC 6962 §2.1.2: that the tree of size m is a prefix of the tree of size n. */
export function consistencyProof(m: number, n: number, subtree: SubtreeHash): Hash[] {
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 0 || m > n) throw new Error(`consistency proof: sizes ${m} and ${n} must satisfy 0 <= m <= n`);
  if (m === 0 || m === n) return [];
  const proof: Hash[] = [];
  const rec = (first: number, start: number, end: number, whole: boolean): void => {
    const size = end - start;
    if (first === size) {
      if (!whole) proof.push(subtree(start, end));
      return;
    }
    const k = splitPoint(size);
    if (first <= k) {
      rec(first, start, start + k, whole);
      proof.push(subtree(start + k, end));
    } else {
      rec(first - k, start + k, end, false);
      proof.push(subtree(start, start + k));
    }
  };
  rec(m, 0, n, true);
  return proof;
}

/** The root a leaf hash and its audit path lead to (RFC 9162 §2.1.3.2), or null if the path does not fit. */
export function rootFromInclusion(index: number, size: number, leaf: Hash, path: readonly Hash[]): Hash | null {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

export function verifyInclusion(index: number, size: number, leaf: Hash, path: readonly Hash[], root: Hash): boolean {
  const r = rootFromInclusion(index, size, leaf, path);
  return r !== null && r.equals(root);
}

/** RFC 9162 §2.1.4.2: does `proof` show the tree (size1, root1) is a prefix of (size2, root2)? */
export function verifyConsistency(size1: number, size2: number, root1: Hash, root2: Hash, proof: readonly Hash[]): boolean {
  if (!Number.isInteger(size1) || !Number.isInteger(size2) || size1 < 0 || size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && root1.equals(root2);
  if (size1 === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  let path = [...proof];
  // A first tree that is a perfect subtree is its own starting node.
  if ((size1 & (size1 - 1)) === 0) path = [root1, ...path];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(root1) && sr.equals(root2);
}

/**
 * The right edge of a growing tree: for each bit set in the size, the root of that
 * perfect subtree. Appending is O(log n) and reports every subtree it completes (so a
 * store can keep them for proofs); the root of the current size is O(log n).
 */
export class Frontier {
  /** frontier[level] = root of the perfect subtree of 2^level leaves waiting for a right sibling. */
  private readonly levels: (Hash | null)[];

  constructor(
    private size_ = 0,
    levels: (Hash | null)[] = [],
  ) {
    this.levels = [...levels];
  }

  get size(): number {
    return this.size_;
  }

  /** Appends a leaf hash; calls `completed(level, index, hash)` for every inner subtree it closes. */
  append(leaf: Hash, completed?: (level: number, index: number, hash: Hash) => void): void {
    let h = leaf;
    let level = 0;
    let index = this.size_;
    while (index % 2 === 1) {
      h = nodeHash(this.levels[level]!, h);
      this.levels[level] = null;
      level++;
      index = Math.floor(index / 2);
      completed?.(level, index, h);
    }
    this.levels[level] = h;
    this.size_++;
  }

  root(): Hash {
    let acc: Hash | null = null;
    for (let level = 0; level < this.levels.length; level++) {
      const h = this.levels[level];
      if (!h) continue;
      acc = acc === null ? h : nodeHash(h, acc);
    }
    return acc ?? EMPTY_ROOT;
  }

  /** Rebuilds the frontier of `size` leaves from a subtree lookup (O(log n) lookups). */
  static of(size: number, subtree: SubtreeHash): Frontier {
    const levels: (Hash | null)[] = [];
    let start = 0;
    for (let level = Math.floor(Math.log2(Math.max(size, 1))) + 1; level >= 0; level--) {
      const width = 2 ** level;
      if (size & width) {
        levels[level] = subtree(start, start + width);
        start += width;
      }
    }
    return new Frontier(size, levels);
  }
}
