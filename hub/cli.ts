import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEMO_FACILITY, formatConfigError, loadFacility } from '../config/load.js';
import type { Facility } from '../config/schema.js';
import { systemClock } from '../kernel/clock.js';
import { createLogger, silentLogger } from './log.js';
import { Store } from './store/store.js';
import { DeviceTokens } from './broker/tokens.js';
import { safeUrl } from './broker/external.js';
import { createHub } from './compose.js';
import type { CheckInFeature } from './checkin/feature.js';
import { readSimulatorTokens } from '../simulators/tokens.js';
import { ensureSimulatorTokens } from './demo/tokens.js';
import { SimulatorStartError, startSimulators, stopSimulators, simulatedDevices, withBoundPorts, withSimulatorPorts, type RunningSimulator } from '../simulators/run.js';
import { GateSimulator } from '../simulators/gate.js';
import { lockDataDir, type DataDirLock } from './data-lock.js';
import { leanMqttEncoder } from './memory.js';
import type { BroadcastFeature } from './broadcast/feature.js';
import { DemoDay, demoWarner } from './demo/day.js';
import { createDemoControlsFeature } from './demo/controls.js';
import { BackupError, backupDataDir, restoreBackup } from './backup.js';
import { AUDIT_USAGE, auditCommand } from './audit/cli.js';
import { GATE_USAGE, gateCommand } from './checkin/cli.js';
import mqtt from 'mqtt';
import { USER_USAGE, userCommand } from './cli-users.js';
import { INTEGRATION_USAGE, exportCommand, integrationCommand } from './integrations/cli.js';

/** Each command's help (`facility-hub CMD --help`); the overview lists them all. */
const HELP = {
  start: `Usage: facility-hub start [options]

Runs the hub: MQTT broker, HTTP API and console, device drivers, and (by default) the
demo's device simulators.

Options:
  --config FILE            facility config (default: the built-in demo facility)
  --data-dir DIR           event log, users, tokens (default: ./data)
  --http-port N            HTTP API and console port (default: 8080; 0 = any free port)
  --http-host ADDR         address the HTTP server binds (default: the config's http.host,
                           127.0.0.1 unless it says otherwise; 0.0.0.0 = every interface)
  --mqtt-port N            MQTT broker port (default: 1883; 0 = any free port)
  --mqtt-host ADDR         address the MQTT broker binds (default: the config's mqtt.host)
  --mqtt-url URL           external broker mode: connect to this broker (mqtt://host:port or
                           mqtts://host:port) instead of embedding one (config: mqtt.external)
  --mqtt-ca FILE           mqtts: the CA the broker's certificate is checked against
  --mqtt-cert FILE         mqtts: the hub's client certificate (with --mqtt-key)
  --mqtt-key FILE          mqtts: the key of --mqtt-cert
  --mqtt-username NAME     the hub's broker account (default: the config's, else "hub")
  --mqtt-password-file FILE  file holding the hub's broker password (else FH_MQTT_PASSWORD)
  --simulators all|none|ID,ID...
                           which device simulators to run (default: all; an ID must be a
                           device of the config)
  --no-simulators          the same as --simulators none
  --sim-port-base N        simulated Modbus/TCP devices on N, N+1, … (0 = free ports)
  --no-demo                run the simulators without the living demo day
  -h, --help               this help

Environment: FH_ADMIN_PASSWORD (first start of a data dir: the admin password, else one is
generated and shown once), FH_MQTT_PASSWORD (external broker mode: the hub's broker
password), FH_LOG_LEVEL (default info). Logs are pino JSON lines on stdout,
pretty-printed when stdout is a terminal. SIGINT (Ctrl-C) or SIGTERM stops the hub cleanly.`,
  simulate: `Usage: facility-hub simulate [--config FILE] [--mqtt-url URL] [--only ID,ID...] [--data-dir DIR]

Runs the facility's device simulators as a separate process, connecting to a running hub
the way real devices would (their tokens are read from DIR/simulator-tokens.json).

Options:
  --config FILE     facility config (default: the built-in demo facility)
  --mqtt-url URL    the hub's broker (default: mqtt://127.0.0.1:1883)
  --only ID,ID...   only these devices' simulators
  --data-dir DIR    where the hub keeps the simulator tokens (default: ./data)
  -h, --help        this help`,
  'config check': `Usage: facility-hub config check FILE

Validates a facility config; exits 0, or non-zero with every error found (file, line, path
inside it, what was found and what was expected). See docs/config.md.`,
  'device token': `Usage: facility-hub device token DEVICE_ID [--config FILE] [--data-dir DIR]

Issues (or rotates) the MQTT token of a device and prints it once; it is stored only as a
hash in the data dir. Configure the device with username DEVICE_ID and this password.`,
  integration: `Usage:
${INTEGRATION_USAGE.split('\n').slice(0, 3).join('\n')}

MQTT accounts of other systems on site: username integration.NAME, password the token that
add and rotate print once. A pattern is an MQTT filter (+, #); publish patterns may not reach
a device's or the hub's topics, subscribe patterns not a gate's verify messages. Changes are
refused while a hub runs on the data dir (use /api/integrations then). See docs/security.md.`,
  'export mosquitto': `Usage: facility-hub export mosquitto --out DIR [--config FILE] [--data-dir DIR] [--rotate-missing]

Writes Mosquitto's password file, ACL file and a mosquitto.conf snippet (0600) into DIR, so
that an external Mosquitto enforces the embedded broker's ACL. Exits 1, writing nothing, when
a device's token predates the Mosquitto hashes, unless --rotate-missing (rotates those and
prints "DEVICE_ID<TAB>TOKEN" once each). See docs/deploy.md.`,
  'audit verify': `Usage: facility-hub audit verify [--data-dir DIR]

Checks the event log's hash chain; exits non-zero naming the first bad record when anything
was changed or removed.`,
} as const;

const USAGE = `facility-hub — on-site control hub of a bid-evaluation area

Usage:
  facility-hub start [--config FILE] [--data-dir DIR] [--http-port N] [--http-host ADDR]
                     [--mqtt-port N] [--mqtt-host ADDR]
                     [--mqtt-url URL [--mqtt-ca FILE] [--mqtt-cert FILE --mqtt-key FILE]
                      [--mqtt-username NAME] [--mqtt-password-file FILE]]
                     [--simulators all|none|ID,ID...] [--no-simulators]
                     [--sim-port-base N] [--no-demo]
  facility-hub simulate [--config FILE] [--mqtt-url URL] [--only ID,ID...] [--data-dir DIR]
  facility-hub simulate fire alarm|clear [--device ID] [--config FILE] [--mqtt-url URL] [--data-dir DIR]
  facility-hub config check FILE
  facility-hub device token DEVICE_ID [--config FILE] [--data-dir DIR]
  facility-hub backup --out FILE [--data-dir DIR]
  facility-hub restore FILE --data-dir DIR
${AUDIT_USAGE}
${GATE_USAGE}
${USER_USAGE}
${INTEGRATION_USAGE}
  facility-hub COMMAND --help        help on one command

Defaults: the demo facility, ./data, HTTP 8080, MQTT 1883 (bound to the config's http.host
and mqtt.host, loopback unless it says otherwise), all simulators on.
Environment: FH_ADMIN_PASSWORD (first start: the admin password), FH_USER_PASSWORD, FH_LOG_LEVEL.`;

/** The help of the command argv names, when argv asks for it. */
function helpRequested(argv: string[]): string | null {
  if (!argv.some((a) => a === '--help' || a === '-h')) return null;
  const [cmd, sub] = argv;
  const key = cmd === 'config' || cmd === 'device' || cmd === 'audit' || cmd === 'export' ? `${cmd} ${sub ?? ''}` : (cmd ?? '');
  return key in HELP ? HELP[key as keyof typeof HELP] : null;
}

/** The box the generated admin password is shown in, on stderr, apart from the log lines. */
export function adminPasswordNotice(password: string): string {
  const lines = [
    '首次启动：已创建用户 "admin"，密码仅显示这一次：',
    'First start: created the user "admin"; its password, shown this once:',
    '',
    `    ${password}`,
    '',
    '设置 FH_ADMIN_PASSWORD 可自行指定 / set FH_ADMIN_PASSWORD to choose it.',
  ];
  const rule = '='.repeat(72);
  return ['', rule, ...lines, rule, ''].join('\n');
}

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

type StartValues = Partial<Record<'mqtt-url' | 'mqtt-ca' | 'mqtt-cert' | 'mqtt-key' | 'mqtt-username' | 'mqtt-password-file' | 'mqtt-port' | 'mqtt-host', string>>;

/**
 * External broker mode from the options (over the config's `mqtt.external`): the facility
 * with it, or the first problem, naming the option. File contents are read by the hub.
 */
export function externalBrokerOptions(values: StartValues, loaded: Facility): Facility {
  const url = values['mqtt-url'];
  const fileOpts = ['mqtt-ca', 'mqtt-cert', 'mqtt-key', 'mqtt-password-file'] as const;
  const given = ([...fileOpts, 'mqtt-username'] as const).filter((k) => values[k] !== undefined);
  const base = loaded.mqtt.external;
  if (url === undefined) {
    if (given.length && !base) throw new Error(`--${given[0]}: only used in external broker mode, expected --mqtt-url (or mqtt.external in the config)`);
    if (!base && !given.length) return loaded;
  } else {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`--mqtt-url: found "${url}", expected mqtt://host:port or mqtts://host:port`);
    }
    if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') throw new Error(`--mqtt-url: found "${u.protocol}//", expected mqtt:// or mqtts://`);
    if (!u.hostname) throw new Error(`--mqtt-url: found "${url}", expected a host (mqtt://host:port)`);
    if (u.username || u.password) throw new Error('--mqtt-url: credentials in the URL are not accepted; use --mqtt-username and FH_MQTT_PASSWORD or --mqtt-password-file');
    if (u.pathname !== '' && u.pathname !== '/') throw new Error(`--mqtt-url: found the path "${u.pathname}", expected mqtt://host:port`);
  }
  // With an external broker the hub listens on no MQTT port.
  for (const k of ['mqtt-port', 'mqtt-host'] as const) {
    if (values[k] !== undefined) throw new Error(`--${k}: not used in external broker mode (--mqtt-url): the hub embeds no broker`);
  }
  for (const k of fileOpts) {
    const f = values[k];
    if (f !== undefined && !existsSync(f)) throw new Error(`--${k}: ${f} does not exist`);
  }
  const finalUrl = url ?? base!.url;
  const tls = finalUrl.startsWith('mqtts:');
  for (const k of ['mqtt-ca', 'mqtt-cert', 'mqtt-key'] as const) {
    if (values[k] !== undefined && !tls) throw new Error(`--${k}: only used with an mqtts:// URL, found ${finalUrl}`);
  }
  const pick = (k: (typeof fileOpts)[number]): string | undefined => (values[k] === undefined ? undefined : resolve(values[k]));
  const external = {
    ...(base ?? { username: 'hub' }),
    url: finalUrl,
    ...(values['mqtt-username'] !== undefined ? { username: values['mqtt-username'] } : {}),
    ...(pick('mqtt-ca') ? { ca: pick('mqtt-ca')! } : {}),
    ...(pick('mqtt-cert') ? { cert: pick('mqtt-cert')! } : {}),
    ...(pick('mqtt-key') ? { key: pick('mqtt-key')! } : {}),
    ...(pick('mqtt-password-file') ? { passwordFile: pick('mqtt-password-file')! } : {}),
  };
  if ((external.cert === undefined) !== (external.key === undefined)) throw new Error(`--${external.cert === undefined ? 'mqtt-cert' : 'mqtt-key'}: missing, expected --mqtt-cert and --mqtt-key together`);
  return { ...loaded, mqtt: { ...loaded.mqtt, external } };
}

/** A second signal, or a stop that does not finish in this time, ends the process anyway (10 s budget). */
const STOP_DEADLINE_MS = 8_000;

/**
 * SIGTERM/SIGINT in any state: the first asks for a clean stop (aborting a start in
 * progress), a second one or a stop that hangs past STOP_DEADLINE_MS exits at once.
 * Returns a promise that resolves on the first signal and a function removing the handlers.
 */
function onStopSignals(log: { warn: (o: object, m: string) => void }, onFirst: (sig: string) => void): { signalled: Promise<string>; dispose: () => void } {
  let first: string | null = null;
  let resolveSignal!: (sig: string) => void;
  const signalled = new Promise<string>((r) => (resolveSignal = r));
  const handler = (sig: NodeJS.Signals): void => {
    if (first) {
      log.warn({ signal: sig }, 'second signal: exiting without finishing the stop');
      process.exit(130);
    }
    first = sig;
    // unref: a stop that finishes lets the process end before this fires.
    setTimeout(() => {
      log.warn({ signal: sig, deadlineMs: STOP_DEADLINE_MS }, 'the stop did not finish in time: exiting');
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    onFirst(sig);
    resolveSignal(sig);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return {
    signalled,
    dispose: () => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
    },
  };
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.code === 'EADDRINUSE') return `${e.address ?? ''}:${e.port ?? ''} is already in use (EADDRINUSE): another hub or program listens there; choose another port`;
  return err instanceof Error ? err.message : String(err);
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
      'mqtt-url': { type: 'string' },
      'mqtt-ca': { type: 'string' },
      'mqtt-cert': { type: 'string' },
      'mqtt-key': { type: 'string' },
      'mqtt-username': { type: 'string' },
      'mqtt-password-file': { type: 'string' },
      simulators: { type: 'string', default: 'all' },
      'no-simulators': { type: 'boolean', default: false },
      'sim-port-base': { type: 'string' },
      'no-demo': { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  const configured = loadOrReport(values.config, io);
  if (!configured) return 2;
  // Before the broker writes its first packet (docs/reliability.md, "Memory").
  leanMqttEncoder();
  let loaded: Facility;
  try {
    loaded = externalBrokerOptions(values, configured);
  } catch (err) {
    io.err(`facility-hub: ${errorText(err)}`);
    return 2;
  }
  const external = loaded.mqtt.external;
  const httpPort = port(values['http-port'], loaded.http.port ?? 8080, 'http-port');
  const mqttPort = port(values['mqtt-port'], loaded.mqtt.port ?? 1883, 'mqtt-port');
  const simBasePort = values['sim-port-base'] === undefined ? null : port(values['sim-port-base'], 0, 'sim-port-base');
  const simulators = values['no-simulators'] ? 'none' : values.simulators;
  if (simulators !== 'all' && simulators !== 'none') {
    const ids = new Set(loaded.devices.map((d) => d.id));
    const unknown = simulators.split(',').map((x) => x.trim()).filter((x) => x && !ids.has(x));
    if (unknown.length) {
      io.err(`--simulators: found ${unknown.map((x) => `"${x}"`).join(', ')}, expected all, none or ids of devices in ${values.config} (${[...ids].join(', ')})`);
      return 2;
    }
  }
  const only = simulators === 'all' || simulators === 'none' ? undefined : simulators.split(',').map((s) => s.trim()).filter(Boolean);
  const dataDir = resolve(values['data-dir']);
  const log = createLogger();
  let lock: DataDirLock;
  try {
    lock = lockDataDir(dataDir);
  } catch (err) {
    io.err(`facility-hub: ${errorText(err)}`);
    return 1;
  }
  if (lock.tookOverFrom !== null) log.warn({ pid: lock.tookOverFrom, file: lock.file }, 'took over a stale data dir lock (its hub is gone)');
  const abort = new AbortController();
  // A normal stop is quiet: the demo and the MQTT simulators (clients of the hub) go first,
  // then the hub, then the Modbus and serial simulators it polls; the other way round the
  // hub would log every line it polls as lost, at error, on each Ctrl-C.
  let serverSims: RunningSimulator[] = [];
  let mqttSims: RunningSimulator[] = [];
  let hub: ReturnType<typeof createHub> | null = null;
  let demoDay: DemoDay | null = null;
  let stopping: Promise<void> | null = null;
  const stopAll = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      await demoDay?.stop();
      await stopSimulators(mqttSims);
      await hub?.stop(reason);
      await stopSimulators(serverSims);
      lock.release();
    })());
  const signals = onStopSignals(log, () => abort.abort());
  try {
    let facility = simBasePort === null ? loaded : withSimulatorPorts(loaded, simBasePort, only);
    // The demo's robot runs 10× faster than a real one, so a meal run takes minutes, not a quarter hour.
    const simBase = { ...(only ? { only } : {}), clock: systemClock, log: log.child({ module: 'simulators' }), failFast: true, robotSpeed: 10 };
    // Modbus and serial simulators are servers the hub connects to: up before the hub, so
    // its first poll finds them (as real devices would already be there), and a simulator
    // that cannot bind its port stops the start (the hub must never drive another hub's).
    if (simulators !== 'none') {
      serverSims = await startSimulators({ ...simBase, facility, mqttUrl: '', tokens: {}, which: 'other' });
      facility = withBoundPorts(facility, serverSims);
    }
    if (abort.signal.aborted) throw new Error('stopped by a signal during start-up');
    const created = createHub({
      facility,
      dataDir,
      httpPort,
      mqttPort,
      ...(values['http-host'] ? { httpHost: values['http-host'] } : {}),
      ...(values['mqtt-host'] ? { mqttHost: values['mqtt-host'] } : {}),
      configDir: dirname(resolve(values.config)),
      log,
      clock: systemClock,
      ...(process.env.FH_ADMIN_PASSWORD ? { adminPassword: process.env.FH_ADMIN_PASSWORD } : {}),
      onGeneratedAdminPassword: (pw) => io.err(adminPasswordNotice(pw)),
      signal: abort.signal,
    });
    // The console's demo controls (the simulated fire panel) exist only beside our own simulators.
    if (simulators !== 'none') created.addFeature(createDemoControlsFeature(() => mqttSims));
    hub = created;
    await created.start();
    if (simulators !== 'none' && !abort.signal.aborted) {
      const devices = simulatedDevices(facility, only);
      const tokens = await ensureSimulatorTokens(created.dataDir, devices.filter((d) => d.transport.type === 'mqtt').map((d) => d.id), created.tokens);
      // External broker mode: the simulated devices connect to that broker, as real ones do
      // (their tokens must be in its password file: docs/deploy.md).
      const mqttUrl = external ? external.url : `mqtt://127.0.0.1:${created.mqttPort}`;
      mqttSims = await startSimulators({ ...simBase, facility, mqttUrl, tokens, which: 'mqtt' });
      log.info({ count: serverSims.length + mqttSims.length }, 'simulators running');
      // The living demo wherever gates are simulated (the built-in facility or a copy of it).
      const gates = mqttSims.map((s) => s.handle).filter((h): h is GateSimulator => h instanceof GateSimulator);
      const checkin = created.features.find((f): f is CheckInFeature => f.name === 'checkin');
      const broadcast = created.features.find((f): f is BroadcastFeature => f.name === 'broadcast');
      if (!values['no-demo'] && gates.length > 0 && checkin) {
        demoDay = new DemoDay({
          facility,
          sessions: created.sessions,
          checkin: checkin.checkin(),
          clock: systemClock,
          log: log.child({ module: 'demo' }),
          gates,
          ...(broadcast ? { warn: demoWarner(broadcast, facility) } : {}),
        });
        await demoDay.start();
      }
    }
    if (abort.signal.aborted) throw new Error('stopped by a signal during start-up');
  } catch (err) {
    if (abort.signal.aborted) {
      await stopAll('signal during start-up');
      signals.dispose();
      return 0;
    }
    log.fatal({ err }, 'hub failed to start');
    io.err(`facility-hub: start failed: ${errorText(err)}`);
    // The external broker does not know the simulators' tokens until they are in its password file.
    if (external && err instanceof SimulatorStartError && /not authori[sz]ed/i.test(errorText(err))) {
      io.err(`facility-hub: the broker refused a simulated device: add the simulator tokens (${join(dataDir, 'simulator-tokens.json')}, kept for the next start) to its password file (facility-hub export mosquitto), reload it and start again (docs/deploy.md §8).`);
    }
    await stopAll('start failed');
    signals.dispose();
    return 1;
  }
  const running = hub;
  const tlsPart = running.mqttTlsPort ? `  mqtts://${loaded.mqtt.tls?.host ?? '0.0.0.0'}:${running.mqttTlsPort}` : '';
  const mqttPart = external ? `client of ${safeUrl(external.url)}` : `mqtt://127.0.0.1:${running.mqttPort}${tlsPart}`;
  io.out(`facility-hub ready: ${loaded.http.tls ? 'https' : 'http'}://127.0.0.1:${running.httpPort}  ${mqttPart}  (Ctrl-C stops)`);
  // The hub may also stop itself (the power playbook's last stage): then the process ends too.
  const why = await Promise.race([signals.signalled, running.whenStopped.then(() => 'hub stopped itself')]);
  await stopAll(why);
  signals.dispose();
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
  const sims = await startSimulators({ facility, mqttUrl: values['mqtt-url'], tokens, ...(only ? { only } : {}), ...(demo ? { arrivalsMs: 6000, robotSpeed: 10 } : {}), clock: systemClock, log });
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
    await client.publishAsync(`fh/${facility.site.id}/${panel.id}/event`, JSON.stringify({ type: what, ts: Date.now(), detail: 'facility-hub simulate fire' }), { qos: 1 });
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
  const help = helpRequested(argv);
  if (help) {
    io.out(help);
    return 0;
  }
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
      // --- integration accounts and the Mosquitto export (hub/integrations/cli.ts) ---
      case 'integration':
        return await integrationCommand(sub, rest, io);
      case 'export':
        return await exportCommand(sub, rest, io);
      // --- end integration ---
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
