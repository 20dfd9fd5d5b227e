import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { DEMO_FACILITY, formatConfigError, loadFacility } from '../config/load.js';
import type { Facility } from '../config/schema.js';
import { systemClock } from '../kernel/clock.js';
import { createLogger, silentLogger } from './log.js';
import { Store } from './store/store.js';
import { verifyChain } from './store/events.js';
import { DeviceTokens } from './broker/tokens.js';
import { createHub } from './compose.js';
import type { CheckInFeature } from './checkin/feature.js';
import { readSimulatorTokens } from '../simulators/tokens.js';
import { ensureSimulatorTokens } from './demo/tokens.js';
import { startSimulators, stopSimulators, simulatedDevices, withBoundPorts, withSimulatorPorts, type RunningSimulator } from '../simulators/run.js';
import { GateSimulator } from '../simulators/gate.js';
import { lockDataDir, type DataDirLock } from './data-lock.js';
import type { BroadcastFeature } from './broadcast/feature.js';
import { DemoDay, demoWarner } from './demo/day.js';

const USAGE = `facility-hub — on-site control hub of a bid-evaluation area

Usage:
  facility-hub start [--config FILE] [--data-dir DIR] [--http-port N] [--mqtt-port N]
                     [--simulators all|none|ID,ID...] [--no-simulators]
                     [--sim-port-base N] [--no-demo]
  facility-hub simulate [--config FILE] [--mqtt-url URL] [--only ID,ID...] [--data-dir DIR]
  facility-hub config check FILE
  facility-hub device token DEVICE_ID [--config FILE] [--data-dir DIR]
  facility-hub audit verify [--data-dir DIR]

Defaults: the demo facility, ./data, HTTP 8080, MQTT 1883, all simulators on.
Environment: FH_ADMIN_PASSWORD (first start: the admin password), FH_LOG_LEVEL.`;

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
      'http-host': { type: 'string', default: '0.0.0.0' },
      'mqtt-host': { type: 'string', default: '0.0.0.0' },
      simulators: { type: 'string', default: 'all' },
      'no-simulators': { type: 'boolean', default: false },
      'sim-port-base': { type: 'string' },
      'no-demo': { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  const loaded = loadOrReport(values.config, io);
  if (!loaded) return 2;
  const httpPort = port(values['http-port'], 8080, 'http-port');
  const mqttPort = port(values['mqtt-port'], 1883, 'mqtt-port');
  const simBasePort = values['sim-port-base'] === undefined ? null : port(values['sim-port-base'], 0, 'sim-port-base');
  const simulators = values['no-simulators'] ? 'none' : values.simulators;
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
  // Servers (Modbus, TCP) outlive the hub when stopping, so its lines do not report them lost.
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
    const simBase = { ...(only ? { only } : {}), clock: systemClock, log: log.child({ module: 'simulators' }), failFast: true };
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
      httpHost: values['http-host'],
      mqttHost: values['mqtt-host'],
      log,
      clock: systemClock,
      ...(process.env.FH_ADMIN_PASSWORD ? { adminPassword: process.env.FH_ADMIN_PASSWORD } : {}),
      onGeneratedAdminPassword: (pw) => io.err(`First start: created user "admin" with password ${pw} (shown once; set FH_ADMIN_PASSWORD to choose it).`),
      signal: abort.signal,
    });
    hub = created;
    await created.start();
    if (simulators !== 'none' && !abort.signal.aborted) {
      const devices = simulatedDevices(facility, only);
      const tokens = await ensureSimulatorTokens(created.dataDir, devices.filter((d) => d.transport.type === 'mqtt').map((d) => d.id), created.tokens);
      mqttSims = await startSimulators({ ...simBase, facility, mqttUrl: `mqtt://127.0.0.1:${created.mqttPort}`, tokens, which: 'mqtt' });
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
    await stopAll('start failed');
    signals.dispose();
    return 1;
  }
  const running = hub;
  io.out(`facility-hub ready: http://127.0.0.1:${running.httpPort}  mqtt://127.0.0.1:${running.mqttPort}  (Ctrl-C stops)`);
  // The hub may also stop itself (the power playbook's last stage): then the process ends too.
  const why = await Promise.race([signals.signalled, running.whenStopped.then(() => 'hub stopped itself')]);
  await stopAll(why);
  signals.dispose();
  return 0;
}

async function simulate(args: string[], io: Out): Promise<number> {
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

async function auditVerify(args: string[], io: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { 'data-dir': { type: 'string', default: './data' } } });
  const store = new Store({ dataDir: resolve(values['data-dir']), log: silentLogger() });
  try {
    const r = verifyChain(store);
    if (r.ok) {
      io.out(`ok: ${r.records} records, chain intact, head ${r.head}`);
      return 0;
    }
    io.err(`TAMPERED: first bad record #${r.firstBad.seq}: ${r.firstBad.reason}`);
    return 3;
  } finally {
    await store.close();
  }
}

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
      case 'audit':
        if (sub === 'verify') return await auditVerify(rest, io);
        break;
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
