import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../kernel/clock.js';
import type { Store } from '../store/store.js';
import { DATA_FILE_MODE } from '../files.js';
import { newToken, sha256 } from '../secrets.js';
import { mosquittoHash } from './mosquitto-hash.js';

/**
 * The hub's own account on an external broker (Mosquitto): username `hub.{site}` (a `.` is
 * never in a device id or an integration name, and Mosquitto's password file cannot hold
 * a `:` in a user name), allowed everything under `fh/{site}/#` by the exported ACL.
 *
 * Unlike a device's, its token is a secret the hub itself must present at every start, so
 * its plaintext is kept in the data dir (`mqtt-hub-token`, 0600, like the audit signing
 * key); the store keeps its SHA-256 and its Mosquitto hash. The embedded broker does not
 * admit it: there the hub publishes in-process.
 */
export const HUB_ACCOUNT_FILE = 'mqtt-hub-token';
const ROW = 'hub';

export function hubAccountUsername(site: string): string {
  return `hub.${site}`;
}

export interface HubAccount {
  username: string;
  mosquittoHash: string;
  /** True when this call issued the token (none was there, or its file was gone). */
  issued: boolean;
}

/** The hub account, issued when the store or the data dir lacks it. */
export function ensureHubAccount(store: Store, clock: Clock, dataDir: string, site: string): HubAccount {
  const file = join(dataDir, HUB_ACCOUNT_FILE);
  const row = store.stmt('SELECT token_hash, mosquitto_hash FROM broker_accounts WHERE name = ?').get(ROW) as { token_hash: string; mosquitto_hash: string } | undefined;
  if (row && existsSync(file) && `sha256$${sha256(readFileSync(file, 'utf8').trim())}` === row.token_hash) {
    return { username: hubAccountUsername(site), mosquittoHash: row.mosquitto_hash, issued: false };
  }
  const token = newToken('fhh');
  const hash = mosquittoHash(token);
  // The file first: a token in the store that no file holds could never be presented.
  writeFileSync(file, `${token}\n`, { mode: DATA_FILE_MODE });
  store.writeNow(() => {
    store
      .stmt('INSERT INTO broker_accounts (name, token_hash, mosquitto_hash, issued_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash, mosquitto_hash = excluded.mosquitto_hash, issued_at = excluded.issued_at')
      .run(ROW, `sha256$${sha256(token)}`, hash, clock.now());
  });
  return { username: hubAccountUsername(site), mosquittoHash: hash, issued: true };
}

/** The hub account's token (what the hub presents to an external broker), or null when none was issued. */
export function readHubAccountToken(dataDir: string): string | null {
  const file = join(dataDir, HUB_ACCOUNT_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}
