import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Facility } from '../../config/schema.js';
import { DEVICE_PUBLISH_SUBTOPICS } from '../../devices/seam.js';
import type { Clock } from '../../kernel/clock.js';
import type { Store } from '../store/store.js';
import type { EventLog } from '../store/events.js';
import { DATA_DIR_MODE, DATA_FILE_MODE } from '../files.js';
import { IntegrationAccounts } from '../integrations/accounts.js';
import { isMosquittoHash } from './mosquitto-hash.js';
import { DeviceTokens } from './tokens.js';
import { ensureHubAccount, HUB_ACCOUNT_FILE } from './hub-account.js';

/** One account of the exported files: its username, Mosquitto hash and ACL lines. */
export interface MosquittoAccount {
  username: string;
  /** Null when the account has no usable hash: its ACL is written, it gets no password line. */
  hash: string | null;
  read: string[];
  write: string[];
  readwrite: string[];
  comment: string;
}

/** The ACL of one device, the contract's (acl.ts) in Mosquitto's terms. */
export function deviceAccount(site: string, deviceId: string, hash: string | null): MosquittoAccount {
  const own = `fh/${site}/${deviceId}/`;
  return {
    username: deviceId,
    hash,
    write: DEVICE_PUBLISH_SUBTOPICS.map((t) => `${own}${t}`),
    read: [`${own}cmd`, `${own}verify/result`, `${own}allow-list`, `fh/${site}/hub/#`],
    readwrite: [],
    comment: `device ${deviceId}`,
  };
}

/** Mosquitto's password file (`user:$7$…` lines) and ACL file (`user` blocks of `topic` lines). */
export function mosquittoFiles(accounts: readonly MosquittoAccount[]): { passwd: string; acl: string } {
  const passwd = accounts.filter((a) => a.hash !== null).map((a) => `${a.username}:${a.hash}\n`).join('');
  const blocks = accounts.map((a) =>
    [
      `# ${a.comment}`,
      `user ${a.username}`,
      ...a.readwrite.map((t) => `topic readwrite ${t}`),
      ...a.write.map((t) => `topic write ${t}`),
      ...a.read.map((t) => `topic read ${t}`),
    ].join('\n'),
  );
  // Anything before the first `user` line would apply to every user, anonymous ones too: nothing is.
  const acl = `# facility-hub export mosquitto: deny by default, each account only what is listed.\n\n${blocks.join('\n\n')}\n`;
  return { passwd, acl };
}

export function mosquittoConf(outDir: string, port: number, site: string): string {
  return [
    `# facility-hub export mosquitto (site ${site}): include from mosquitto.conf, or use as it is.`,
    '# Re-run the export after a token is issued or rotated, or an integration account changes,',
    '# then reload Mosquitto (SIGHUP re-reads the password and ACL files).',
    'per_listener_settings false',
    `listener ${port}`,
    'allow_anonymous false',
    `password_file ${join(outDir, 'passwd')}`,
    `acl_file ${join(outDir, 'acl')}`,
    '# Messages and subscriptions survive a restart (the hub relies on QoS 1 not being lost).',
    'persistence true',
    'persistence_location /var/lib/mosquitto/',
    '',
  ].join('\n');
}

export interface ExportOptions {
  facility: Facility;
  store: Store;
  events: EventLog;
  clock: Clock;
  dataDir: string;
  outDir: string;
  /** Rotate the tokens of devices that have no Mosquitto hash yet (their new tokens are answered). */
  rotateMissing: boolean;
}

export type ExportResult =
  | { ok: true; files: string[]; rotated: { deviceId: string; token: string }[]; noToken: string[]; hubAccount: { username: string; issued: boolean; tokenFile: string }; integrations: number }
  | { ok: false; mustRotate: string[] };

/**
 * Writes `passwd`, `acl` and `mosquitto.conf` (0600, the folder 0700) for an external
 * Mosquitto enforcing the embedded broker's ACL. Refuses (writes nothing) when a device's
 * token predates the Mosquitto hashes, unless `rotateMissing`. A device without any token
 * is left out of the password file (it cannot connect to either broker).
 */
export function exportMosquitto(o: ExportOptions): ExportResult {
  const site = o.facility.site.id;
  const tokens = new DeviceTokens(o.store, o.clock);
  const mqttDevices = o.facility.devices.filter((d) => d.transport.type === 'mqtt').map((d) => d.id);
  let hashes = tokens.mosquittoHashes();
  const mustRotate = mqttDevices.filter((id) => hashes.has(id) && !isMosquittoHash(hashes.get(id) ?? ''));
  if (mustRotate.length > 0 && !o.rotateMissing) return { ok: false, mustRotate };
  const rotated = mustRotate.map((deviceId) => ({ deviceId, token: tokens.issue(deviceId) }));
  if (rotated.length > 0) hashes = tokens.mosquittoHashes();
  const hub = ensureHubAccount(o.store, o.clock, o.dataDir, site);
  const integrations = new IntegrationAccounts({ store: o.store, clock: o.clock, events: o.events, site, deviceIds: o.facility.devices.map((d) => d.id) }).forExport();
  const accounts: MosquittoAccount[] = [
    { username: hub.username, hash: hub.mosquittoHash, read: [], write: [], readwrite: [`fh/${site}/#`], comment: 'the hub itself' },
    ...mqttDevices.map((id) => deviceAccount(site, id, hashes.get(id) ?? null)),
    ...integrations.map((i) => ({ username: IntegrationAccounts.username(i.name), hash: i.mosquittoHash, read: i.subscribe, write: i.publish, readwrite: [], comment: `integration ${i.name}` })),
  ];
  const out = resolve(o.outDir);
  mkdirSync(out, { recursive: true, mode: DATA_DIR_MODE });
  const { passwd, acl } = mosquittoFiles(accounts);
  const files = [
    ['passwd', passwd],
    ['acl', acl],
    ['mosquitto.conf', mosquittoConf(out, o.facility.mqtt.port ?? 1883, site)],
  ] as const;
  for (const [name, text] of files) {
    const file = join(out, name);
    writeFileSync(file, text, { mode: DATA_FILE_MODE });
    chmodSync(file, DATA_FILE_MODE); // an existing file keeps its mode under writeFileSync
  }
  return {
    ok: true,
    files: files.map(([n]) => join(out, n)),
    rotated,
    noToken: mqttDevices.filter((id) => !hashes.has(id)),
    hubAccount: { username: hub.username, issued: hub.issued, tokenFile: join(o.dataDir, HUB_ACCOUNT_FILE) },
    integrations: integrations.length,
  };
}
