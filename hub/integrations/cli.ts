import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_FACILITY, formatConfigError, loadFacility } from '../../config/load.js';
import type { Facility } from '../../config/schema.js';
import { systemClock } from '../../kernel/clock.js';
import { formatTime } from '../../kernel/time.js';
import { cliActor, type Out } from '../cli-users.js';
import { HubError } from '../errors.js';
import { runningHub } from '../files.js';
import { silentLogger } from '../log.js';
import { EventLog } from '../store/events.js';
import { Store } from '../store/store.js';
import { exportMosquitto } from '../broker/export-mosquitto.js';
import { IntegrationAccounts } from './accounts.js';

export const INTEGRATION_USAGE = `  facility-hub integration add NAME --subscribe PATTERN [--subscribe …] [--publish PATTERN …]
                                 [--description TEXT] [--config FILE] [--data-dir DIR]
  facility-hub integration list | integration rotate NAME | integration disable NAME [--config FILE] [--data-dir DIR]
  facility-hub export mosquitto --out DIR [--config FILE] [--data-dir DIR] [--rotate-missing]`;

function loadConfig(file: string, io: Out): Facility | null {
  const r = loadFacility(file);
  if (r.ok) return r.facility;
  io.err(`${file}: ${r.errors.length} error(s):`);
  for (const e of r.errors) io.err(`  ${formatConfigError(e)}`);
  return null;
}

/**
 * `facility-hub integration …`. Changes are refused while a hub runs on the data dir (as
 * for users: the running hub holds the event log's head, a second writer would fork it);
 * use the API then, which also closes the account's live connections at once.
 */
export async function integrationCommand(sub: string | undefined, args: string[], io: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      'data-dir': { type: 'string', default: './data' },
      config: { type: 'string', default: DEMO_FACILITY },
      subscribe: { type: 'string', multiple: true },
      publish: { type: 'string', multiple: true },
      description: { type: 'string' },
    },
    allowPositionals: true,
  });
  const usage = (): number => {
    io.err(`usage:\n${INTEGRATION_USAGE}`);
    return 2;
  };
  const name = positionals[0];
  if (!sub || !['add', 'list', 'rotate', 'disable'].includes(sub)) return usage();
  if (sub !== 'list' && !name) return usage();
  const dataDir = resolve(values['data-dir']);
  if (sub !== 'add' && !existsSync(dataDir)) {
    io.err(`no data dir ${dataDir}: start the hub once, or give --data-dir`);
    return 1;
  }
  const pid = runningHub(dataDir);
  if (pid !== null && sub !== 'list') {
    io.err(`a hub is running on ${dataDir} (pid ${pid}): change integration accounts through the API (/api/integrations) while it runs, or stop it first`);
    return 1;
  }
  const facility = loadConfig(values.config, io);
  if (!facility) return 2;
  const store = new Store({ dataDir, log: silentLogger() });
  try {
    const events = new EventLog(store, () => systemClock.now());
    const accounts = new IntegrationAccounts({ store, clock: systemClock, events, site: facility.site.id, deviceIds: facility.devices.map((d) => d.id) });
    const { actor } = cliActor();
    const offset = facility.site.utcOffset;
    switch (sub) {
      case 'list':
        for (const a of accounts.list()) {
          io.out(`${a.name}\t${a.disabledAt === null ? 'enabled' : `disabled ${formatTime(a.disabledAt, offset)}`}\tsubscribe ${a.subscribe.join(',') || '-'}\tpublish ${a.publish.join(',') || '-'}\t${a.description}`);
        }
        return 0;
      case 'add': {
        const { account, token } = await accounts.add(
          { name: name!, subscribe: values.subscribe ?? [], publish: values.publish ?? [], ...(values.description !== undefined ? { description: values.description } : {}) },
          actor,
        );
        io.out(token);
        io.err(`Created the integration ${account.name}: MQTT username "${IntegrationAccounts.username(account.name)}", the token above as password (shown once, stored only as a hash).`);
        return 0;
      }
      case 'rotate': {
        const { account, token } = await accounts.rotate(name!, actor);
        io.out(token);
        io.err(`Rotated the token of the integration ${account.name}; it is shown once. The old one no longer connects.`);
        return 0;
      }
      default: {
        const account = await accounts.disable(name!, actor);
        io.out(`${account.name}: disabled`);
        return 0;
      }
    }
  } catch (err) {
    if (!(err instanceof HubError)) throw err;
    io.err(`integration ${sub}: ${err.message}`);
    return 1;
  } finally {
    await store.close();
  }
}

/** `facility-hub export mosquitto`: see hub/broker/export-mosquitto.ts and docs/deploy.md. */
export async function exportCommand(sub: string | undefined, args: string[], io: Out): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: 'string' },
      config: { type: 'string', default: DEMO_FACILITY },
      'data-dir': { type: 'string', default: './data' },
      'rotate-missing': { type: 'boolean', default: false },
    },
  });
  if (sub !== 'mosquitto' || !values.out) {
    io.err('usage: facility-hub export mosquitto --out DIR [--config FILE] [--data-dir DIR] [--rotate-missing]');
    return 2;
  }
  const dataDir = resolve(values['data-dir']);
  if (!existsSync(dataDir)) {
    io.err(`no data dir ${dataDir}: start the hub once, or give --data-dir`);
    return 1;
  }
  const facility = loadConfig(values.config, io);
  if (!facility) return 2;
  const store = new Store({ dataDir, log: silentLogger() });
  try {
    const r = exportMosquitto({ facility, store, events: new EventLog(store, () => systemClock.now()), clock: systemClock, dataDir, outDir: values.out, rotateMissing: values['rotate-missing'] });
    if (!r.ok) {
      io.err(`export mosquitto: the tokens of ${r.mustRotate.join(', ')} were issued before the hub kept Mosquitto hashes, so Mosquitto could not check them; nothing was written.`);
      io.err('Rotate them ("facility-hub device token ID", then configure each device), or run again with --rotate-missing (prints their new tokens once).');
      return 1;
    }
    // New device tokens, once, on stdout: "DEVICE_ID<TAB>TOKEN".
    for (const x of r.rotated) io.out(`${x.deviceId}\t${x.token}`);
    if (r.rotated.length > 0) io.err(`Rotated the tokens of ${r.rotated.map((x) => x.deviceId).join(', ')} (printed above, shown once): configure those devices with them.`);
    if (r.noToken.length > 0) io.err(`No token yet for ${r.noToken.join(', ')}: left out of the password file (issue one with "facility-hub device token ID" and export again).`);
    if (r.hubAccount.issued) io.err(`Issued the hub's own broker account "${r.hubAccount.username}"; its token is in ${r.hubAccount.tokenFile} (0600).`);
    io.err(`Wrote ${r.files.join(', ')} (0600): ${facility.devices.filter((d) => d.transport.type === 'mqtt').length} device(s), ${r.integrations} integration(s), the hub account.`);
    return 0;
  } finally {
    await store.close();
  }
}
