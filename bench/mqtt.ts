import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFacility } from '../config/load.js';
import { createHub } from '../hub/compose.js';
import { silentLogger } from '../hub/log.js';
import type { CheckInFeature } from '../hub/checkin/feature.js';
import { demoPeople } from '../simulators/demo-people.js';
import { type BenchResult, mainThreadCpuUs, nowMs, OffsetClock, round, summary } from './lib.js';

const DEVICES = 200;
const ROOMS = 25;
const SESSIONS = 8;
const ROUNDS = Number(process.env.FH_BENCH_MQTT_ROUNDS ?? 20);
const WARMUP_ROUNDS = 3;
/** The second check-in figure: the same 200 arrivals spread over this window, not at once. */
const SPREAD_MS = 200;

function facilityYaml(): string {
  const rooms = Array.from({ length: ROOMS }, (_, i) => `  - { id: room-${i + 1}, zone: eval, seats: ${SESSIONS} }`).join('\n');
  const gates = Array.from({ length: DEVICES }, (_, i) => `  - { id: gate-${i + 1}, kind: gate, transport: { type: mqtt }, zones: [eval] }`).join('\n');
  return `version: 1\nsite: { id: demo }\nzones: [{ id: eval }]\nrooms:\n${rooms}\ndevices:\n${gates}\n`;
}

/**
 * Through the embedded broker over TCP, 200 devices on a separate thread:
 * - the check-in decision round trip (verify → answer) for 200 gates in bursts, and
 * - the hub → device → ack command round trip through the command ledger,
 * each beside a plain echo responder on the same broker at the same rate (the hub's
 * verify handler swapped for one that answers at once, without deciding or storing),
 * in alternating rounds.
 */
export async function benchMqtt(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fh-bench-mqtt-'));
  const parsed = parseFacility(facilityYaml(), 'bench.yaml');
  if (!parsed.ok) throw new Error('bench facility invalid');
  const clock = new OffsetClock();
  const hub = createHub({ clock, facility: parsed.facility, dataDir: dir, httpPort: 0, mqttPort: 0, httpHost: '127.0.0.1', mqttHost: '127.0.0.1', log: silentLogger(), adminPassword: 'bench-password', commandDefaults: { timeoutMs: 10_000, retries: 0 } });
  await hub.start();
  // The worker is TypeScript too: a two-line bootstrap registers tsx's loader in it first
  // (a worker does not inherit the parent's --import loaders).
  const workerUrl = new URL('./mqtt-devices.worker.ts', import.meta.url).href;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const worker = new Worker(`import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(workerUrl)}); });`, { eval: true });
  const fromWorker = <T>(op: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const on = (m: { op: string; error?: string }): void => {
        if (m.op === 'error') reject(new Error(m.error));
        if (m.op !== op) return;
        worker.off('message', on);
        resolve(m as T);
      };
      worker.on('message', on);
    });
  try {
    const checkin = (hub.features.find((f) => f.name === 'checkin') as CheckInFeature).checkin();
    const now = Date.now();
    const people = demoPeople(0, DEVICES);
    for (let s = 0; s < SESSIONS; s++) {
      const { session } = await hub.sessions.create({ code: `B-${s}`, name: `bench ${s}`, start: now + 10 * 60_000, end: now + 240 * 60_000 }, 'automation:bench');
      const { entries } = checkin.validateRoster(people.slice(s * ROOMS, (s + 1) * ROOMS));
      await checkin.replaceRoster(session.id, entries, 'automation:bench');
    }
    const devices = Array.from({ length: DEVICES }, (_, i) => ({ id: `gate-${i + 1}`, token: hub.tokens.issue(`gate-${i + 1}`) }));
    const connected = fromWorker('connected');
    worker.postMessage({ op: 'connect', url: `mqtt://127.0.0.1:${hub.mqttPort}`, site: 'demo', devices });
    await connected;

    const decide = (m: Parameters<Parameters<typeof hub.ingest.register>[2]>[0]) => checkin.onVerify(m.deviceId, m.payload);
    const echo = async (m: Parameters<Parameters<typeof hub.ingest.register>[2]>[0]) => {
      const { requestId } = m.payload as { requestId: string };
      await hub.broker.publish(`fh/demo/${m.deviceId}/verify/result`, { requestId, decision: 'grant', reason: 'echo', message: '' }, { qos: 1 });
      return { accepted: true as const };
    };
    // The durability floor: each request stored as one row and answered after its group
    // commit, with no decision. It shows how much of the ratio the fsync'd commit alone
    // takes, and so how much is left for deciding.
    hub.store.db.exec('CREATE TABLE bench_floor (request_id TEXT PRIMARY KEY, gate_id TEXT NOT NULL, payload TEXT NOT NULL)');
    const floorRow = hub.store.db.prepare('INSERT INTO bench_floor (request_id, gate_id, payload) VALUES (?, ?, ?)');
    const floor = async (m: Parameters<Parameters<typeof hub.ingest.register>[2]>[0]) => {
      const { requestId } = m.payload as { requestId: string };
      await hub.store.write(() => floorRow.run(requestId, m.deviceId, JSON.stringify(m.payload)));
      await hub.broker.publish(`fh/demo/${m.deviceId}/verify/result`, { requestId, decision: 'grant', reason: 'stored', message: '' }, { qos: 1 });
      return { accepted: true as const };
    };
    let seq = 0;
    const passageMs = parsed.facility.policy.checkIn.passageTimeoutSeconds * 1000;
    /** What every simulated gate must be answered in a round: a wrong answer fails the bench. */
    type Expect = { decision: 'grant'; reason?: string; seated: boolean };
    const burst = async (expect: Expect, spreadMs = 0): Promise<number[]> => {
      // Each gate presents its own person. Between rounds the hub's clock moves past the
      // passage timeout and the sweep expires the last round's grants (nobody walked
      // through), so every decision is a first arrival: a seat drawn among the free ones.
      clock.advance(passageMs + 1000);
      await checkin.expireStaleGrants();
      const done = fromWorker<{ samples: number[] }>('burst-done');
      const requests = people.map((p, i) => ({ deviceId: `gate-${i + 1}`, requestId: `b${seq}-${i}`, idNumber: p.idNumber, name: p.name }));
      seq++;
      worker.postMessage({ op: 'burst', requests, spreadMs, expect });
      return (await done).samples;
    };
    const decisions: number[] = [];
    const echoes: number[] = [];
    const floors: number[] = [];
    const commands: number[] = [];
    const spreadDecisions: number[] = [];
    const spreadEchoes: number[] = [];
    const ECHO: Expect = { decision: 'grant', reason: 'echo', seated: false };
    const FLOOR: Expect = { decision: 'grant', reason: 'stored', seated: false };
    // Each gate presents a person of the roster, first arrival: granted with a room and seat.
    const DECIDED: Expect = { decision: 'grant', seated: true };
    let decideCpuUs = 0;
    let decided = 0;
    /** A decision round, with the hub thread's CPU time (the device thread excluded). */
    const decideBurst = async (spreadMs = 0): Promise<number[]> => {
      const c0 = mainThreadCpuUs();
      const out = await burst(DECIDED, spreadMs);
      decideCpuUs += mainThreadCpuUs() - c0;
      decided += out.length;
      return out;
    };
    // The command path's own baseline: the same cmd → cmd/ack exchange with the same
    // devices, through the same broker and ingest, but the ack resolved by a bare map
    // instead of the command ledger (no ledger row, no audit, no timeout bookkeeping).
    const ledgerAck = hub.commands.ack.bind(hub.commands);
    const echoWaiting = new Map<string, () => void>();
    const echoAck = (_deviceId: string, payload: unknown): { accepted: true } | { accepted: false; reason: string } => {
      const id = (payload as { id?: unknown } | null)?.id;
      const done = typeof id === 'string' ? echoWaiting.get(id) : undefined;
      if (!done) return { accepted: false, reason: 'unknown echo id' };
      echoWaiting.delete(id as string);
      done();
      return { accepted: true };
    };
    let echoSeq = 0;
    const commandEchoRound = async (): Promise<number[]> => {
      hub.commands.ack = echoAck;
      try {
        return await Promise.all(
          devices.map(async (d) => {
            const id = `echo-${echoSeq++}`;
            const t0 = nowMs();
            const acked = new Promise<void>((resolve) => echoWaiting.set(id, resolve));
            await hub.broker.publish(`fh/demo/${d.id}/cmd`, { id, cmd: 'open', args: {} }, { qos: 1 });
            await acked;
            return nowMs() - t0;
          }),
        );
      } finally {
        hub.commands.ack = ledgerAck;
      }
    };
    const commandRound = (): Promise<number[]> =>
      Promise.all(
        devices.map(async (d) => {
          const t0 = nowMs();
          const out = await hub.devices.get(d.id)!.execute({ cmd: 'open', args: {}, issuer: 'automation:bench' });
          if (!out.ok) throw new Error(`command failed: ${out.error ?? out.outcome}`);
          return nowMs() - t0;
        }),
      );
    // Warm-up, not measured: every path (echo, decision, command) runs a few times first,
    // so that both sides are measured in steady state rather than while still compiling.
    for (let w = 0; w < WARMUP_ROUNDS; w++) {
      hub.ingest.register('gate', 'verify', echo);
      await burst(ECHO);
      hub.ingest.register('gate', 'verify', decide);
      await burst(DECIDED);
      hub.ingest.register('gate', 'verify', floor);
      await burst(FLOOR);
      await commandRound();
      await commandEchoRound();
    }
    const commandEchoes: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      hub.ingest.register('gate', 'verify', echo);
      echoes.push(...(await burst(ECHO)));
      hub.ingest.register('gate', 'verify', decide);
      decisions.push(...(await decideBurst()));
      hub.ingest.register('gate', 'verify', floor);
      floors.push(...(await burst(FLOOR)));
      commands.push(...(await commandRound()));
      commandEchoes.push(...(await commandEchoRound()));
      hub.ingest.register('gate', 'verify', echo);
      spreadEchoes.push(...(await burst(ECHO, SPREAD_MS)));
      hub.ingest.register('gate', 'verify', decide);
      spreadDecisions.push(...(await decideBurst(SPREAD_MS)));
    }
    const e = summary(echoes);
    const d = summary(decisions);
    const c = summary(commands);
    const ce = summary(commandEchoes);
    const f = summary(floors);
    const se = summary(spreadEchoes);
    const sd = summary(spreadDecisions);
    const usPerDecision = decideCpuUs / decided;
    return [
      {
        id: 'checkin-burst',
        name: `check-in decision round trip, ${DEVICES} gates at once (ms)`,
        figures: { p50Ms: d.p50, p99Ms: d.p99, floorP99Ms: f.p99, echoP50Ms: e.p50, echoP99Ms: e.p99, ratioP99ToFloor: round(d.p99 / f.p99, 2), ratioP99ToEcho: round(d.p99 / e.p99, 2), samples: d.n },
        goal: 'p99 ≤ 1.5 × the durability floor p99 and ≤ 50 ms',
        pass: d.p99 <= 1.5 * f.p99 && d.p99 <= 50,
      },
      {
        id: 'checkin-floor',
        name: `durability floor: each request stored as one row and answered after its commit, no decision, ${DEVICES} gates at once (ms)`,
        figures: { p50Ms: f.p50, p99Ms: f.p99, echoP99Ms: e.p99, ratioP99ToEcho: round(f.p99 / e.p99, 2), samples: f.n },
      },
      {
        id: 'checkin-spread',
        name: `check-in decision round trip, ${DEVICES} gates, arrivals spread over ${SPREAD_MS} ms (ms)`,
        figures: { p50Ms: sd.p50, p99Ms: sd.p99, echoP50Ms: se.p50, echoP99Ms: se.p99, ratioP99ToEcho: round(sd.p99 / se.p99, 2), samples: sd.n },
        goal: 'p99 ≤ 5 ms',
        pass: sd.p99 <= 5,
      },
      {
        id: 'checkin-cpu',
        name: 'check-in: CPU time of the hub thread per decision (µs; /proc, 10 ms ticks, summed over every decision round)',
        figures: { usPerDecision: round(usPerDecision, 1), decisions: decided },
        goal: '≤ 25 µs per decision',
        pass: usPerDecision <= 25,
      },
      {
        id: 'command-roundtrip',
        name: `command round trip hub → device → ack via the ledger, ${DEVICES} devices at once (ms)`,
        figures: { p50Ms: c.p50, p99Ms: c.p99, echoP50Ms: ce.p50, echoP99Ms: ce.p99, ratioP99ToEcho: round(c.p99 / ce.p99, 2), samples: c.n },
      },
    ];
  } finally {
    const closed = fromWorker('closed');
    worker.postMessage({ op: 'close' });
    await closed.catch(() => undefined);
    await worker.terminate();
    await hub.stop('bench');
    rmSync(dir, { recursive: true, force: true });
  }
}
