/**
 * Fire alarm → every jammer zone verified off (`fire-jammers-off`): the full hub, the fire
 * panel as a real MQTT client, the jammer relay module as the relay simulator over Modbus
 * TCP; from the panel's publish until every zone's coil is off and read back (the jammer
 * feature's view: on = false, verified). ≥ 100 trials, the zones switched on again by a
 * running session between trials. Baseline in the same run: one verified coil write
 * (write + read-back through the relay device and the command ledger).
 */
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { systemClock } from '../kernel/clock.js';
import { silentLogger } from '../hub/log.js';
import { createHub } from '../hub/compose.js';
import { parseFacility } from '../config/load.js';
import type { RelayDevice } from '../devices/relay.js';
import type { JammerFeature } from '../hub/jammers/feature.js';
import { startRelaySimulator } from '../simulators/relay-modbus.js';
import { summary, type BenchResult } from './lib.js';

const TRIALS = 100;
const GOAL_P99_MS = 200;

function yaml(port: number): string {
  return `
version: 1
site: { id: bench }
rooms:
  - { id: room-1, seats: 4 }
  - { id: room-2, seats: 4 }
  - { id: room-3, seats: 4 }
  - { id: room-4, seats: 4 }
devices:
  - id: relay-1
    kind: relay
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${port} }
    options:
      coils: 8
      outputs:
        - { coil: 0, id: j1, role: jammer, room: room-1 }
        - { coil: 1, id: j2, role: jammer, room: room-2 }
        - { coil: 2, id: j3, role: jammer, room: room-3 }
        - { coil: 3, id: j4, role: jammer, room: room-4 }
        - { coil: 4, id: spare, role: other }
  - { id: fire-1, kind: fire-panel, transport: { type: mqtt } }
power:
  shutdown: { stopHub: false }
`;
}

async function until(cond: () => boolean, limitMs: number, what: string): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench: ${what} not reached`);
    await new Promise((r) => setImmediate(r));
  }
}

export async function benchFire(): Promise<BenchResult[]> {
  const log = silentLogger();
  const sim = await startRelaySimulator({ port: 0, log, coils: 8 });
  const f = parseFacility(yaml(sim.port), 'bench.yaml');
  if (!f.ok) throw new Error(JSON.stringify(f.errors));
  const dir = mkdtempSync(join(tmpdir(), 'fh-bench-fire-'));
  const hub = createHub({ facility: f.facility, dataDir: dir, httpPort: 0, mqttPort: 0, httpHost: '127.0.0.1', mqttHost: '127.0.0.1', log, clock: systemClock, adminPassword: 'bench-password' });
  try {
    await hub.start();
    const jammers = hub.features.find((x) => x.name === 'jammers') as JammerFeature;
    const relay = hub.devices.get('relay-1') as RelayDevice;
    const now = Date.now();
    await hub.sessions.create({ code: 'BENCH', name: 'bench', start: now - 60_000, end: now + 6 * 3_600_000, rooms: ['room-1', 'room-2', 'room-3', 'room-4'] }, 'hub');
    const panel = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`, { username: 'fire-1', password: hub.tokens.issue('fire-1'), clientId: 'bench-fire-1', reconnectPeriod: 0, protocolVersion: 4 });
    const zonesOn = () => sim.coils().slice(0, 4).every(Boolean);
    const allVerifiedOff = () => jammers.snapshot().zones.every((z) => z.on === false && z.verified);
    await until(zonesOn, 10_000, 'zones on');

    const fire: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      await jammers.idle();
      const t0 = performance.now();
      await panel.publishAsync('fh/bench/fire-1/event', JSON.stringify({ type: 'alarm' }), { qos: 1 });
      await until(allVerifiedOff, 5_000, 'zones verified off');
      fire.push(performance.now() - t0);
      if (sim.coils().slice(0, 4).some(Boolean)) throw new Error('a coil is still on');
      await panel.publishAsync('fh/bench/fire-1/event', JSON.stringify({ type: 'clear' }), { qos: 1 });
      await until(() => jammers.snapshot().interlock?.panelsInAlarm.length === 0, 5_000, 'panel clear');
      await jammers.releaseInterlock('bench trial', 'bench');
      await until(zonesOn, 5_000, 'zones on again');
    }

    const write: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const t0 = performance.now();
      const r = await relay.setOutput('spare', i % 2 === 0, 'automation:bench');
      write.push(performance.now() - t0);
      if (!r.ok) throw new Error(`baseline write failed: ${r.message}`);
    }
    await panel.endAsync(true);
    const a = summary(fire);
    const b = summary(write);
    return [
      {
        id: 'fire-jammers-off',
        name: 'fire alarm → all jammer zones verified off (baseline: one verified coil write)',
        figures: { p50Ms: a.p50, p99Ms: a.p99, maxMs: a.max, trials: a.n, zones: 4, baselineVerifiedWriteP50Ms: b.p50, baselineVerifiedWriteP99Ms: b.p99 },
        goal: `p99 ≤ ${GOAL_P99_MS} ms`,
        pass: a.p99 <= GOAL_P99_MS,
      },
    ];
  } finally {
    await hub.stop('bench');
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
