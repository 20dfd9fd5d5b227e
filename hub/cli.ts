import { parseArgs } from 'node:util';
import { dirname, resolve } from 'node:path';
import { DEMO_FACILITY, formatConfigError, loadFacility } from '../config/load.js';
import type { Facility } from '../config/schema.js';
import { systemClock } from '../kernel/clock.js';
import { createLogger, silentLogger } from './log.js';
import { Store } from './store/store.js';
import { DeviceTokens } from './broker/tokens.js';
import { createHub } from './compose.js';
import type { CheckInFeature } from './checkin/feature.js';
import { seedDemo } from './demo/seed.js';
import { readSimulatorTokens } from '../simulators/tokens.js';
import { ensureSimulatorTokens } from './demo/tokens.js';
import { startSimulators, stopSimulators, simulatedDevices } from '../simulators/run.js';
import { BackupError, backupDataDir, restoreBackup } from './backup.js';
import { AUDIT_USAGE, auditCommand } from './audit/cli.js';
import { GATE_USAGE, gateCommand } from './checkin/cli.js';
import mqtt from 'mqtt';
import { USER_USAGE, userCommand } from './cli-users.js';

const USAGE = `facility-hub — on-site control hub of a bid-evaluation area

Usage:
  facility-hub start [--config FILE] [--data-dir DIR] [--http-port N] [--mqtt-port N]
                     [--simulators all|none|ID,ID...] [--no-simulators]
  facility-hub simulate [--config FILE] [--mqtt-url URL] [--only ID,ID...] [--data-dir DIR]
  facility-hub simulate fire alarm|clear [--device ID] [--config FILE] [--mqtt-url URL] [--data-dir DIR]
  facility-hub config check FILE
  facility-hub device token DEVICE_ID [--config FILE] [--data-dir DIR]
  facility-hub backup --out FILE [--data-dir DIR]
  facility-hub restore FILE --data-dir DIR
${AUDIT_USAGE}
${GATE_USAGE}
${USER_USAGE}

Defaults: the demo facility, ./data, HTTP 8080, MQTT 1883 (bound to the config's http.host
and mqtt.host, loopback unless it says otherwise), all simulators on.
Environment: FH_ADMIN_PASSWORD (first start: the admin password), FH_USER_PASSWORD, FH_LOG_LEVEL.`;

type Out = { out: (s: string) => void; err: (s: string) => void };
const stdio: Out = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) };

function loadOrReport(file: string, io: Out): Facility | null {
  const r = loadFacility(file);
  if (r.ok) return r.facility;
  io.err(`${file}: ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}:`);
  for (const e of r.errors) io.err(`  ${formatConfigError(e)}`);
  return null;
}

function port(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name}: found "${value}", expected a port number 0..65535`);
  return n;
}

async function start(args: string[], io: Out): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', default: DEMO_FACILITY },
      'data-dir': { type: 'string', default: './data' },
      'http-port': { type: 'string' },
      'mqtt-port': { type: 'string' },
      'http-host': { type: 'string' },
      'mqtt-host': { type: 'string' },
      simulators: { type: 'string', default: 'all' },
      'no-simulators': { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  const facility = loadOrReport(values.config, io);
  if (!facility) return 2;
  const httpPort = port(values['http-port'], facility.http.port ?? 8080, 'http-port');
  const mqttPort = port(values['mqtt-port'], facility.mqtt.port ?? 1883, 'mqtt-port');
  const simulators = values['no-simulators'] ? 'none' : values.simulators;
  const log = createLogger();
  const abort = new AbortController();
  let stopping: Promise<void> | null = null;
  const hub = createHub({
    facility,
    dataDir: resolve(values['data-dir']),
    httpPort,
    mqttPort,
    ...(values['http-host'] ? { httpHost: values['http-host'] } : {}),
    ...(values['mqtt-host'] ? { mqttHost: values['mqtt-host'] } : {}),
    configDir: dirname(resolve(values.config)),
    log,
    clock: systemClock,
    ...(process.env.FH_ADMIN_PASSWORD ? { adminPassword: process.env.FH_ADMIN_PASSWORD } : {}),
    onGeneratedAdminPassword: (pw) => io.err(`First start: created user "admin" with password ${pw} (shown once; set FH_ADMIN_PASSWORD to choose it).`),
    signal: abort.signal,
  });
  const checkin = hub.features.find((f): f is CheckInFeature => f.name === 'checkin');
  let sims: Awaited<ReturnType<typeof startSimulators>> = [];
  const done = new Promise<void>((resolveDone) => {
    const onSignal = (sig: string): void => {
      if (stopping) return;
      abort.abort();
      stopping = (async () => {
        await stopSimulators(sims);
        await hub.stop(sig);
      })().finally(resolveDone);
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  const only = simulators === 'all' || simulators === 'none' ? undefined : simulators.split(',').map((s) => s.trim()).filter(Boolean);
  const simBase = { facility, ...(only ? { only } : {}), clock: systemClock, log: log.child({ module: 'simulators' }) };
  // Modbus and serial simulators are servers the hub connects to: up before the hub, so
  // its first poll finds them (as real devices would already be there).
  if (simulators !== 'none') sims = await startSimulators({ ...simBase, mqttUrl: '', tokens: {}, which: 'other' });
  try {
    await hub.start();
  } catch (err) {
    if (abort.signal.aborted) {
      await done;
      return 0;
    }
    log.fatal({ err }, 'hub failed to start');
    await hub.stop('start failed');
    await stopSimulators(sims);
    return 1;
  }
  if (simulators !== 'none' && !abort.signal.aborted) {
    const devices = simulatedDevices(facility, only);
    const tokens = await ensureSimulatorTokens(hub.dataDir, devices.filter((d) => d.transport.type === 'mqtt').map((d) => d.id), hub.tokens);
    const demo = resolve(values.config) === DEMO_FACILITY;
    if (demo && checkin) {
      const seeded = await seedDemo(hub, checkin.checkin());
      if (seeded) log.info({ sessions: seeded }, 'demo sessions and rosters seeded');
    }
    sims.push(...(await startSimulators({ ...simBase, mqttUrl: `mqtt://127.0.0.1:${hub.mqttPort}`, tokens, ...(demo ? { arrivalsMs: 6000 } : {}), which: 'mqtt' })));
    log.info({ count: sims.length }, 'simulators running');
  }
  const tlsPart = hub.mqttTlsPort ? `  mqtts://${facility.mqtt.tls?.host ?? '0.0.0.0'}:${hub.mqttTlsPort}` : '';
  io.out(`facility-hub ready: ${facility.http.tls ? 'https' : 'http'}://127.0.0.1:${hub.httpPort}  mqtt://127.0.0.1:${hub.mqttPort}${tlsPart}  (Ctrl-C stops)`);
  // The hub may also stop itself (the power playbook's last stage): then the process ends too.
  await Promise.race([done, hub.whenStopped]);
  if (!stopping) await stopSimulators(sims);
  await hub.stop('exit');
  return 0;
}

async function simulate(args: string[], io: Out): Promise<number> {
  if (args[0] === 'fire') return simulateFire(args.slice(1), io);
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', default: DEMO_FACILITY },
      'mqtt-url': { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      only: { type: 'string' },
      'data-dir': { type: 'string', default: './data' },
    },
  });
  const facility = loadOrReport(values.config, io);
  if (!facility) return 2;
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
  const tokens = readSimulatorTokens(resolve(values['data-dir']));
  const missing = simulatedDevices(facility, only).filter((d) => d.transport.type === 'mqtt' && !tokens[d.id]);
  if (missing.length) {
    io.err(`No token for ${missing.map((d) => d.id).join(', ')} in ${values['data-dir']}/simulator-tokens.json: run "facility-hub start" once with that data dir, or issue tokens with "facility-hub device token".`);
    return 2;
  }
  const log = createLogger();
  const demo = resolve(values.config) === DEMO_FACILITY;
  const sims = await startSimulators({ facility, mqttUrl: values['mqtt-url'], tokens, ...(only ? { only } : {}), ...(demo ? { arrivalsMs: 6000 } : {}), clock: systemClock, log });
  io.out(`${sims.length} simulator(s) running against ${values['mqtt-url']} (Ctrl-C stops)`);
  await new Promise<void>((r) => {
    process.once('SIGTERM', () => r());
    process.once('SIGINT', () => r());
  });
  await stopSimulators(sims);
  return 0;
}

// --- simulate fire: one event from the fire panel, as the panel (its simulator token), then disconnect ---
async function simulateFire(args: string[], io: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      device: { type: 'string' },
      config: { type: 'string', default: DEMO_FACILITY },
      'mqtt-url': { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      'data-dir': { type: 'string', default: './data' },
    },
  });
  const what = positionals[0];
  if (what !== 'alarm' && what !== 'clear') {
    io.err('usage: facility-hub simulate fire alarm|clear [--device ID] [--config FILE] [--mqtt-url URL] [--data-dir DIR]');
    return 2;
  }
  const facility = loadOrReport(values.config, io);
  if (!facility) return 2;
  const panels = facility.devices.filter((d) => d.kind === 'fire-panel');
  const panel = values.device ? panels.find((d) => d.id === values.device) : panels[0];
  if (!panel) {
    io.err(`No fire panel ${values.device ?? ''} in ${values.config} (fire panels: ${panels.map((d) => d.id).join(', ') || 'none'})`);
    return 2;
  }
  const token = readSimulatorTokens(resolve(values['data-dir']))[panel.id];
  if (!token) {
    io.err(`No token for ${panel.id} in ${values['data-dir']}/simulator-tokens.json: run "facility-hub start" once with that data dir.`);
    return 2;
  }
  const client = await mqtt.connectAsync(values['mqtt-url'], { username: panel.id, password: token, clientId: `cli-${panel.id}-${process.pid}`, reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5000 });
  try {
    await client.publishAsync(`fh/${facility.site.id}/${panel.id}/event`, JSON.stringify({ type: what, ts: Date.now(), source: 'cli' }), { qos: 1 });
  } finally {
    await client.endAsync();
  }
  io.out(`${panel.id}: fire ${what} sent to ${values['mqtt-url']}`);
  return 0;
}
// --- end simulate fire ---

function configCheck(args: string[], io: Out): number {
  const file = args[0];
  if (!file) {
    io.err('usage: facility-hub config check FILE');
    return 2;
  }
  const facility = loadOrReport(file, io);
  if (!facility) return 1;
  io.out(`${file}: ok (site ${facility.site.id}, ${facility.rooms.length} rooms, ${facility.devices.length} devices)`);
  return 0;
}

async function deviceToken(args: string[], io: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string', default: DEMO_FACILITY }, 'data-dir': { type: 'string', default: './data' } },
    allowPositionals: true,
  });
  const id = positionals[0];
  if (!id) {
    io.err('usage: facility-hub device token DEVICE_ID [--config FILE] [--data-dir DIR]');
    return 2;
  }
  const facility = loadOrReport(values.config, io);
  if (!facility) return 2;
  const device = facility.devices.find((d) => d.id === id);
  if (!device) {
    io.err(`${values.config}: no device "${id}" (devices: ${facility.devices.map((d) => d.id).join(', ')})`);
    return 1;
  }
  if (device.transport.type !== 'mqtt') {
    io.err(`${id} is a ${device.transport.type} device: only MQTT devices use tokens`);
    return 1;
  }
  const store = new Store({ dataDir: resolve(values['data-dir']), log: silentLogger() });
  try {
    const tokens = new DeviceTokens(store, systemClock);
    const rotated = tokens.has(id);
    const token = tokens.issue(id);
    io.out(token);
    io.err(`${rotated ? 'Rotated' : 'Issued'} the token of ${id}; it is shown once and stored only as a hash. Configure the device with username "${id}" and this password.`);
  } finally {
    await store.close();
  }
  return 0;
}

// --- backup and restore (hub/backup.ts) ---
function backup(args: string[], io: Out): number {
  const { values } = parseArgs({ args, options: { out: { type: 'string' }, 'data-dir': { type: 'string', default: './data' } } });
  if (!values.out) {
    io.err('usage: facility-hub backup --out FILE [--data-dir DIR]');
    return 2;
  }
  try {
    const r = backupDataDir(values['data-dir'], values.out, systemClock);
    io.out(`backup written: ${r.file} (${r.bytes} bytes, ${r.events} events, key files: ${r.keyFiles.join(', ') || 'none'})`);
    return 0;
  } catch (err) {
    if (!(err instanceof BackupError)) throw err;
    io.err(`backup failed: ${err.message}`);
    return 1;
  }
}

async function restore(args: string[], io: Out): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { 'data-dir': { type: 'string' } }, allowPositionals: true });
  const file = positionals[0];
  if (!file || !values['data-dir']) {
    io.err('usage: facility-hub restore FILE --data-dir DIR');
    return 2;
  }
  try {
    const r = await restoreBackup(file, values['data-dir']);
    io.out(`restored into ${r.dataDir}: backup of ${r.createdAt}, ${r.events} events, audit log verified (head ${r.head}), key files: ${r.keyFiles.join(', ') || 'none'}`);
    return 0;
  } catch (err) {
    if (!(err instanceof BackupError)) throw err;
    io.err(`restore refused: ${err.message}`);
    return 1;
  }
}
// --- end backup and restore ---

export async function main(argv: string[], io: Out = stdio): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  try {
    switch (cmd) {
      case 'start':
        return await start(argv.slice(1), io);
      case 'simulate':
        return await simulate(argv.slice(1), io);
      case 'config':
        if (sub === 'check') return configCheck(rest, io);
        break;
      case 'device':
        if (sub === 'token') return await deviceToken(rest, io);
        break;
      case 'user':
        return await userCommand(sub, rest, io);
      // --- audit (hub/audit/cli.ts) ---
      case 'audit': {
        const code = await auditCommand(sub, rest, io);
        if (code !== null) return code;
        break;
      }
      // --- end audit ---
      // --- gate allow-list keys (hub/checkin/cli.ts) ---
      case 'gate': {
        const code = await gateCommand(sub, rest, io);
        if (code !== null) return code;
        break;
      }
      // --- end gate ---
      case 'backup':
        return backup(argv.slice(1), io);
      case 'restore':
        return await restore(argv.slice(1), io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return cmd === undefined ? 2 : 0;
    }
  } catch (err) {
    io.err(`facility-hub: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  io.err(`facility-hub: unknown command "${argv.join(' ')}"\n\n${USAGE}`);
  return 2;
}
