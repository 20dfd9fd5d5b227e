/**
 * Supervisor warning latency: from the HTTP call (POST /api/broadcast/warnings over a real
 * socket) to the PLAY frame's bytes on the PA line (SerialLink.onBytesWritten), and to the
 * answer, over 200 warnings against the real PA simulator, over TCP and over a socat pty
 * (serialport). Baseline in the same run, alternating with the warnings: a raw FHPA/1
 * STATUS request → ACK round trip over the same link without the API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Hub } from '../hub/hub.js';
import { systemClock } from '../kernel/clock.js';
import { silentLogger } from '../hub/log.js';
import { parseFacility } from '../config/load.js';
import { createBroadcastFeature } from '../hub/broadcast/feature.js';
import { findSocat, startPaSimulator, type PaSimulator } from '../simulators/pa-controller.js';
import { type BenchResult, nowMs, round, summary } from './lib.js';

const WARNINGS = 200;
const GOAL_P99_MS = 50;

function facilityYaml(transport: string): string {
  return `
version: 1
site: { id: bench }
rooms:
  - { id: room-1, seats: 8 }
  - { id: room-2, seats: 8 }
  - { id: room-3, seats: 8 }
  - { id: room-4, seats: 8 }
devices:
  - id: pa-1
    kind: broadcast
    transport: ${transport}
    options:
      zones: [{ zone: 1, room: room-1 }, { zone: 2, room: room-2 }, { zone: 3, room: room-3 }, { zone: 4, room: room-4 }]
broadcast:
  messages: [{ id: 1, text: 请保持安静，专家之间禁止交谈。 }]
  rateLimit: { max: 1000, windowSeconds: 1 }
  warningWaitMs: 2000
  controller: { pollSeconds: 0 }
`;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`bench: gave up waiting for ${what}`);
    await sleep(1);
  }
}

async function run(transport: 'tcp' | 'pty'): Promise<BenchResult> {
  const log = silentLogger();
  // Messages last 1 ms so each room is free again before the next warning (no waiting measured).
  const sim: PaSimulator = await startPaSimulator({ port: 0, zones: 4, pty: transport === 'pty', clock: systemClock, log, messageDurationMs: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'fh-bench-bc-'));
  const tr = transport === 'tcp' ? `{ type: tcp, host: 127.0.0.1, port: ${sim.port} }` : `{ type: serial, path: "${sim.ptyPath ?? ''}", baudRate: 115200 }`;
  const parsed = parseFacility(facilityYaml(tr), 'bench.yaml');
  if (!parsed.ok) throw new Error(`bench facility: ${JSON.stringify(parsed.errors)}`);
  const hub = new Hub({ facility: parsed.facility, dataDir: dir, httpPort: 0, mqttPort: 0, httpHost: '127.0.0.1', mqttHost: '127.0.0.1', log, clock: systemClock, adminPassword: 'bench' });
  const feature = hub.addFeature(createBroadcastFeature(hub.services()));
  try {
    await hub.start();
    await hub.users.create('sup', 'supervisor', 'bench-pw', '监督员');
    const base = `http://127.0.0.1:${hub.httpPort}`;
    const login = (await (await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'sup', password: 'bench-pw' }) })).json()) as { token: string };
    await until(() => hub.availability.isAvailable('pa-1'), 'pa-1 available');
    const device = feature.devices()[0]!;
    let playAt = 0;
    device.link.onBytesWritten((bytes) => {
      if (bytes.includes('|PLAY|')) playAt = nowMs();
    });
    const toBytes: number[] = [];
    const toAnswer: number[] = [];
    const rtt: number[] = [];
    for (let i = 0; i < WARNINGS + 10; i++) {
      const zone = (i % 4) + 1;
      await until(() => device.zone(zone)?.state === 'idle', `zone ${zone} idle`);
      // Baseline: the same link, no HTTP, no ledger, no policy.
      const b0 = nowMs();
      const st = await device.client.request({ type: 'STATUS' });
      const b1 = nowMs();
      if (!st.ok) throw new Error(`bench: STATUS failed: ${st.error.message}`);
      playAt = 0;
      const t0 = nowMs();
      const res = await fetch(`${base}/api/broadcast/warnings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${login.token}` },
        body: JSON.stringify({ room: `room-${zone}`, messageId: 1, reason: `bench ${i}` }),
      });
      const t2 = nowMs();
      const body = (await res.json()) as { confirmed?: boolean; message?: string };
      if (res.status !== 200 || body.confirmed !== true || playAt === 0) throw new Error(`bench: warning ${i} failed: ${res.status} ${JSON.stringify(body)}`);
      if (i < 10) continue; // warm-up
      rtt.push(b1 - b0);
      toBytes.push(playAt - t0);
      toAnswer.push(t2 - t0);
    }
    const bytes = summary(toBytes);
    const answer = summary(toAnswer);
    const base0 = summary(rtt);
    const played = sim.log().filter((e) => e.kind === 'play').length;
    return {
      id: `broadcast-${transport}`,
      name: `broadcast warning → command bytes on the line (${transport === 'tcp' ? 'TCP device server' : 'serial pty, serialport'})`,
      figures: {
        warnings: bytes.n,
        p50Ms: bytes.p50, // API request → command bytes on the line
        p99Ms: bytes.p99,
        maxMs: bytes.max,
        answerP50Ms: answer.p50, // API request → its answer (after the device's ACK)
        answerP99Ms: answer.p99,
        baselineP50Ms: base0.p50, // a raw FHPA/1 request → ACK on the same line
        baselineP99Ms: base0.p99,
        ratioP99ToBaseline: round(bytes.p99 / base0.p99, 2),
        played,
      },
      goal: `api→bytes p99 ≤ ${GOAL_P99_MS} ms`,
      pass: bytes.p99 <= GOAL_P99_MS,
    };
  } finally {
    await hub.stop('bench');
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchBroadcast(): Promise<BenchResult[]> {
  const out = [await run('tcp')];
  if (findSocat() !== null) out.push(await run('pty'));
  return out;
}
