/**
 * Device events stored per second, embedded broker against external broker mode (a local
 * Mosquitto), alternating rounds: one fire panel publishes EVENTS QoS 1 events without
 * waiting, timed until the last is in the event log. In external mode every message waits
 * for the commit of the one before it on the hub's one connection (docs/deploy.md §8).
 * Run: node --import tsx bench/external-broker.ts
 */
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFacility } from '../config/load.js';
import type { Facility } from '../config/schema.js';
import { Hub } from '../hub/hub.js';
import { silentLogger } from '../hub/log.js';
import { contractAcl, startMosquitto } from '../test/helpers/mosquitto.js';

const EVENTS = Number(process.env.FH_BENCH_EVENTS ?? 2000);
const ROUNDS = Number(process.env.FH_BENCH_ROUNDS ?? 3);
const YAML = 'version: 1\nsite: { id: demo }\nzones: [{ id: eval }]\nrooms: [{ id: room-1, zone: eval, seats: 4 }]\ndevices:\n  - { id: fire-1, kind: fire-panel, transport: { type: mqtt }, zones: [eval] }\n';

async function round(mode: 'embedded' | 'external', mqUrl: string): Promise<{ perSecond: number; lost: number }> {
  const parsed = parseFacility(YAML, 'bench.yaml');
  if (!parsed.ok) throw new Error('bench facility invalid');
  const facility: Facility = mode === 'external' ? { ...parsed.facility, mqtt: { ...parsed.facility.mqtt, external: { url: mqUrl, username: 'hub', clientId: `bench-${Date.now()}` } } } : parsed.facility;
  const dir = mkdtempSync(join(tmpdir(), 'fh-bench-ext-'));
  const hub = new Hub({ facility, dataDir: dir, httpPort: 0, mqttPort: 0, httpHost: '127.0.0.1', mqttHost: '127.0.0.1', log: silentLogger(), adminPassword: 'bench-admin', externalBroker: { password: 'hub-pw' } });
  await hub.start();
  try {
    const url = mode === 'external' ? mqUrl : `mqtt://127.0.0.1:${hub.mqttPort}`;
    const password = mode === 'external' ? 'fire-pw' : hub.tokens.issue('fire-1');
    const c = await mqtt.connectAsync(url, { username: 'fire-1', password, protocolVersion: 4, reconnectPeriod: 0 });
    const stored = (): number => hub.events.query({ type: 'device.event', limit: EVENTS + 10 }).length;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: EVENTS }, (_, i) => c.publishAsync('fh/demo/fire-1/event', JSON.stringify({ type: 'fault', code: String(i) }), { qos: 1 })));
    // Until all are stored, or nothing more arrives for 3 s (the broker dropped some: see lost).
    let last = 0;
    let lastChange = performance.now();
    let end = t0;
    while (stored() < EVENTS && performance.now() - lastChange < 3000) {
      const n = stored();
      if (n !== last) {
        last = n;
        lastChange = end = performance.now();
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const n = stored();
    if (n === EVENTS) end = performance.now();
    await c.endAsync();
    return { perSecond: n / ((end - t0) / 1000), lost: EVENTS - n };
  } finally {
    await hub.stop('bench');
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// FH_BENCH_MOSQ_QUEUE: Mosquitto's max_queued_messages (its default 1000 when unset).
const queue = process.env.FH_BENCH_MOSQ_QUEUE;
const mq = await startMosquitto({ users: { hub: 'hub-pw', 'fire-1': 'fire-pw' }, acl: contractAcl('demo'), extraConfig: queue ? [`max_queued_messages ${queue}`] : [] });
try {
  const got: Record<'embedded' | 'external', number[]> = { embedded: [], external: [] };
  const lost: Record<'embedded' | 'external', number> = { embedded: 0, external: 0 };
  for (let i = 0; i < ROUNDS; i++) {
    for (const mode of ['embedded', 'external'] as const) {
      const r = await round(mode, mq.url);
      got[mode].push(r.perSecond);
      lost[mode] += r.lost;
    }
  }
  const e = median(got.embedded);
  const x = median(got.external);
  console.log(JSON.stringify({ events: EVENTS, rounds: ROUNDS, mosquittoQueue: queue ?? 'default', embeddedPerSecond: Math.round(e), externalPerSecond: Math.round(x), externalOverEmbedded: Math.round((x / e) * 100) / 100, lost }));
} finally {
  await mq.cleanup();
}
