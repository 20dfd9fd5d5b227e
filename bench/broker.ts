import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Aedes } from 'aedes';
import { EmbeddedBroker } from '../hub/broker/broker.js';
import { Metrics } from '../hub/metrics.js';
import { silentLogger } from '../hub/log.js';
import { type BenchResult, median, round } from './lib.js';

/**
 * Broker throughput (issue #14 item 9): QoS 1, one publisher → one subscriber, 16-byte
 * payloads, the same generator process (bench/broker-load.ts) against
 * - the hub's embedded broker with all its hooks (strict pre-parser, token check, ACL,
 *   JSON parse, the device-message hook — here answering "accepted" without storing: the
 *   store has its own bench), publisher and subscriber admitted as devices;
 * - a bare aedes 1.2 with TCP_NODELAY and no hooks;
 * - Debian's Mosquitto, started by the bench on a free port and stopped after.
 * Alternating rounds, medians. CPU is the broker's alone: the in-process brokers are
 * measured with process.cpuUsage (the generator is another process), Mosquitto from
 * /proc/PID/stat.
 */

const MESSAGES = 50_000;
const ROUNDS = 5;
const WINDOW = 100;
const CLK_TCK = 100; // Linux USER_HZ: /proc/PID/stat counts CPU in 1/100 s

interface Running {
  url: string;
  /** Broker CPU so far, in microseconds. */
  cpuUs: () => number;
  stop: () => Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function processCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function startHubBroker(): Promise<Running> {
  const broker = new EmbeddedBroker({
    site: 'demo',
    log: silentLogger(),
    metrics: new Metrics(),
    // "hub" publishes under fh/demo/hub/ (its own prefix, allowed by the ACL) and "sub"
    // subscribes to fh/demo/hub/#, as a device may: both through every hook.
    isDevice: (id) => id === 'hub' || id === 'sub',
    checkToken: (_id, token) => Promise.resolve(token === 'bench' ? 'bench-hash' : null),
    onMessage: () => Promise.resolve({ accepted: true }),
    onConnect: () => undefined,
    onDisconnect: () => undefined,
  });
  const port = await broker.listen(0, '127.0.0.1');
  return { url: `mqtt://127.0.0.1:${port}`, cpuUs: processCpuUs, stop: () => broker.close() };
}

async function startBareAedes(): Promise<Running> {
  const aedes = await Aedes.createBroker({ concurrency: 1000 });
  const server: Server = createServer({ noDelay: true }, (s) => aedes.handle(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    cpuUs: processCpuUs,
    stop: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function waitForPort(port: number, child: ChildProcessWithoutNullStreams): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('mosquitto did not start listening');
}

async function startMosquitto(): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'fh-bench-mosq-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\nmax_queued_messages 100000\nmax_inflight_messages 0\n`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'pipe' });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new Error(`mosquitto cannot start (apt-get install -y mosquitto): ${e.message}`)));
  });
  await spawned;
  await waitForPort(port, child);
  const pid = child.pid!;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    cpuUs: () => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      // utime and stime are fields 14 and 15 of stat, i.e. 12 and 13 after "pid (comm) ".
      return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
    },
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Round {
  msgPerS: number;
  cpuUsPerMsg: number;
}

async function runLoad(b: Running): Promise<Round> {
  const gen = spawn(process.execPath, ['--import', 'tsx', new URL('./broker-load.ts', import.meta.url).pathname, b.url, String(MESSAGES), String(WINDOW)], { stdio: 'pipe' });
  let stderr = '';
  gen.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: gen.stdout });
  const next = (): Promise<string> =>
    new Promise((resolve, reject) => {
      lines.once('line', resolve);
      gen.once('exit', (code) => reject(new Error(`load generator exited (${code}): ${stderr}`)));
    });
  if ((await next()) !== 'ready') throw new Error(`load generator: ${stderr}`);
  const cpu0 = b.cpuUs();
  gen.stdin.write('go\n');
  const out = JSON.parse(await next()) as { received: number; ms: number; outOfOrder: number };
  const cpu1 = b.cpuUs();
  await new Promise((r) => gen.once('exit', r));
  if (out.received !== MESSAGES || out.outOfOrder !== 0) throw new Error(`broker lost or reordered messages: ${JSON.stringify(out)}`);
  return { msgPerS: (MESSAGES / out.ms) * 1000, cpuUsPerMsg: (cpu1 - cpu0) / MESSAGES };
}

export async function benchBroker(): Promise<BenchResult[]> {
  const kinds = { hub: startHubBroker, aedes: startBareAedes, mosquitto: startMosquitto } as const;
  const rounds: Record<keyof typeof kinds, Round[]> = { hub: [], aedes: [], mosquitto: [] };
  for (let r = 0; r < ROUNDS + 1; r++) {
    for (const [name, start] of Object.entries(kinds) as [keyof typeof kinds, () => Promise<Running>][]) {
      const b = await start();
      try {
        const got = await runLoad(b);
        if (r > 0) rounds[name].push(got); // round 0 warms up every broker
      } finally {
        await b.stop();
      }
    }
  }
  const m = (k: keyof typeof kinds, f: keyof Round): number => median(rounds[k].map((x) => x[f]));
  const hub = m('hub', 'msgPerS');
  const aedes = m('aedes', 'msgPerS');
  const mosq = m('mosquitto', 'msgPerS');
  const hubCpu = m('hub', 'cpuUsPerMsg');
  const aedesCpu = m('aedes', 'cpuUsPerMsg');
  const mosqCpu = m('mosquitto', 'cpuUsPerMsg');
  const pass = hub >= 0.9 * aedes && hub >= 0.8 * mosq && hubCpu <= 1.5 * mosqCpu;
  return [
    {
      id: 'broker-qos1',
      name: `broker throughput, QoS 1, 1 publisher → 1 subscriber, 16-byte payloads, ${MESSAGES} messages × ${ROUNDS} rounds (medians)`,
      figures: {
        hubMsgPerS: Math.round(hub),
        aedesMsgPerS: Math.round(aedes),
        mosquittoMsgPerS: Math.round(mosq),
        hubCpuUsPerMsg: round(hubCpu, 2),
        aedesCpuUsPerMsg: round(aedesCpu, 2),
        mosquittoCpuUsPerMsg: round(mosqCpu, 2),
        hubToAedes: round(hub / aedes, 2),
        hubToMosquitto: round(hub / mosq, 2),
        hubCpuToMosquitto: round(hubCpu / mosqCpu, 2),
        rounds: ROUNDS,
        messagesPerRound: MESSAGES,
      },
      goal: 'hub ≥ 0.9 × bare aedes and ≥ 0.8 × Mosquitto msg/s; hub CPU per message ≤ 1.5 × Mosquitto',
      pass,
    },
  ];
}
