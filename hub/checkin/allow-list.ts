import { createHmac, randomBytes, scrypt } from 'node:crypto';
import type { Store } from '../store/store.js';

/**
 * The offline allow-list's hashing (docs/security-audit.md, "Offline allow-list").
 *
 *   seed  = scrypt(ID number, salt "facility-hub allow-list v2:<site>", N=2^14, r=8, p=1, 32 bytes)
 *   entry = HMAC-SHA256(gate key, seed)
 *
 * The gate key (32 random bytes) is provisioned into the gate once, out of band (CLI),
 * and never published: the retained list holds only entries. A list stolen without its
 * gate's key is 256 bits of key away from any guess; a gate stolen with its key still
 * costs one scrypt (16 MiB of memory) per guess. The hub keeps the seed, never the clear
 * number, so a rotated key is applied to every rostered person without it.
 */
export const ALLOW_KDF = { alg: 'scrypt', N: 16384, r: 8, p: 1, keyLength: 32 } as const;

export function allowSalt(site: string): string {
  return `facility-hub allow-list v2:${site}`;
}

/** The slow seed of a (normalized) ID number, off the event loop (libuv pool). */
export function allowSeed(normalizedId: string, site: string): Promise<string> {
  return new Promise((resolve, reject) => {
    scrypt(normalizedId, allowSalt(site), ALLOW_KDF.keyLength, { N: ALLOW_KDF.N, r: ALLOW_KDF.r, p: ALLOW_KDF.p }, (err, key) => (err ? reject(err) : resolve(key.toString('hex'))));
  });
}

/** What the gate looks up: the seed keyed with its own key. */
export function allowEntry(gateKeyHex: string, seedHex: string): string {
  return createHmac('sha256', Buffer.from(gateKeyHex, 'hex')).update(Buffer.from(seedHex, 'hex')).digest('hex');
}

export interface GateKey {
  gateId: string;
  key: string;
  version: number;
  createdAt: number;
}

/**
 * Gate keys, kept in the hub's store (the data dir is the hub's secret store, 0700). A
 * key is issued once and shown once; issuing again rotates it: the gate's entries are
 * recomputed from the seeds in the same transaction, and the old key matches nothing.
 */
export class GateKeys {
  constructor(private readonly store: Store) {}

  get(gateId: string): GateKey | null {
    const r = this.store.stmt('SELECT gate_id, key, version, created_at FROM gate_keys WHERE gate_id = ?').get(gateId) as { gate_id: string; key: string; version: number; created_at: number } | undefined;
    return r ? { gateId: r.gate_id, key: r.key, version: r.version, createdAt: r.created_at } : null;
  }

  /** Every gate's key version, to notice a rotation made by another process (the CLI). */
  versions(): Map<string, number> {
    const rows = this.store.stmt('SELECT gate_id, version FROM gate_keys').all() as { gate_id: string; version: number }[];
    return new Map(rows.map((r) => [r.gate_id, r.version]));
  }

  /** Issues (or rotates) a gate's key and re-keys its entries; returns the new key. */
  issue(gateId: string, now: number): GateKey & { rotated: boolean } {
    const key = randomBytes(32).toString('hex');
    return this.store.writeNow(() => {
      const prev = this.get(gateId);
      const version = (prev?.version ?? 0) + 1;
      this.store.stmt('INSERT INTO gate_keys (gate_id, key, version, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (gate_id) DO UPDATE SET key = excluded.key, version = excluded.version, created_at = excluded.created_at').run(gateId, key, version, now);
      this.rekeyInTx(gateId, key);
      return { gateId, key, version, createdAt: now, rotated: prev !== null };
    });
  }

  /** Rebuilds a gate's entries from the rostered seeds (experts and leaders; observers never pass). */
  rekeyInTx(gateId: string, key: string): void {
    this.store.stmt('DELETE FROM allow_list WHERE gate_id = ?').run(gateId);
    const rows = this.store.stmt("SELECT session_id, id_hash, id_masked, allow_seed FROM roster WHERE allow_seed IS NOT NULL AND role != 'observer'").all() as { session_id: string; id_hash: string; id_masked: string; allow_seed: string }[];
    const ins = this.store.stmt('INSERT OR IGNORE INTO allow_list (gate_id, session_id, gate_hash, id_hash, id_masked) VALUES (?, ?, ?, ?, ?)');
    for (const r of rows) ins.run(gateId, r.session_id, allowEntry(key, r.allow_seed), r.id_hash, r.id_masked);
  }
}
