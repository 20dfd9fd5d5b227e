import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSigner, generateSigner, parseSigner, type NoteSigner } from './note.js';

/** The file in the data dir that holds the log's Ed25519 signing key (mode 0600). */
export const AUDIT_KEY_FILE = 'audit-signing.key';

/** The log's origin line and key name: one per site, a schema-less URL as the spec recommends. */
export function auditOrigin(site: string): string {
  return `facility-hub.local/${site}/events`;
}

/** Reads the signing key, or null when the data dir has none yet. */
export function readAuditSigner(dataDir: string): NoteSigner | null {
  const file = join(dataDir, AUDIT_KEY_FILE);
  if (!existsSync(file)) return null;
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) throw new Error(`${file}: the audit signing key is readable by others (mode ${mode.toString(8)}); run chmod 600 ${file}`);
  try {
    return parseSigner(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/** The signing key of this data dir, created (0600, never overwritten) on first use. */
export function ensureAuditSigner(dataDir: string, site: string): NoteSigner {
  const existing = readAuditSigner(dataDir);
  if (existing) return existing;
  const signer = generateSigner(auditOrigin(site));
  const file = join(dataDir, AUDIT_KEY_FILE);
  // 'wx': two processes starting at once must not each write a key of their own.
  writeFileSync(file, `${encodeSigner(signer)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return signer;
}
