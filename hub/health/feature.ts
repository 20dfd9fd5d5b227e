/**
 * The IT health index feature (docs/health.md): scores every subsystem once a minute, keeps
 * the samples 90 days in `health_index_samples`, serves `GET /api/health/index` and sets
 * `fh_health_index{subsystem}`; it also feeds the power and check-in figures of /metrics
 * (mains, battery, runtime per UPS; decisions by result).
 */
import { Type } from '@sinclair/typebox';
import type { Feature, HubServices } from '../services.js';
import type { RoutePlugin } from '../api/types.js';
import { STAFF } from '../api/types.js';
import { HubError } from '../errors.js';
import { formatTime, parseTime } from '../../kernel/time.js';
import type { TimerHandle } from '../../kernel/clock.js';
import { UpsDevice } from '../../devices/ups.js';
import type { DeviceKind } from '../../config/schema.js';
import { SUBSYSTEMS, overall, scoreSubsystem, type Subsystem, type SubsystemInput, type SubsystemScore } from './score.js';

export const SAMPLE_EVERY_MS = 60_000; // 1 minute
export const KEEP_MS = 90 * 24 * 60 * 60_000; // 90 days
/** A store write slower than this (ms) marks the store degraded. */
const SLOW_WRITE_MS = 1000;
const MAX_POINTS = 2000;

export type HealthDeps = Pick<HubServices, 'facility' | 'clock' | 'log' | 'bus' | 'store' | 'events' | 'availability' | 'devices' | 'alarms' | 'metrics'>;

export interface HealthSample {
  ts: number;
  overall: number | null;
  subsystems: SubsystemScore[];
}

export interface HealthFeature extends Feature {
  /** Scores now and stores the sample (the minute timer calls it; tests too). */
  sampleNow(): Promise<HealthSample>;
  last(): HealthSample | null;
}

/** Which subsystem a device belongs to; relay modules only when they switch jammers. */
function subsystemOf(kind: DeviceKind, jammerRelay: boolean): Subsystem | null {
  switch (kind) {
    case 'gate':
      return 'gates';
    case 'ups':
      return 'power';
    case 'broadcast':
      return 'pa';
    case 'robot':
      return 'robot';
    case 'relay':
      return jammerRelay ? 'jammers' : 'power';
    default:
      return null;
  }
}

export function createHealthFeature(deps: HealthDeps): HealthFeature {
  const log = deps.log.child({ module: 'health' });
  const m = deps.metrics;
  const OWNER = 'health';
  const jammerRelays = new Set(
    deps.facility.devices.filter((d) => d.kind === 'relay' && ((d.options as { outputs?: { role: string }[] }).outputs ?? []).some((o) => o.role === 'jammer')).map((d) => d.id),
  );
  const groupOf = new Map<string, Subsystem>();
  for (const d of deps.facility.devices) {
    const s = subsystemOf(d.kind, jammerRelays.has(d.id));
    if (s) groupOf.set(d.id, s);
  }

  // Requests and failures per subsystem since the last sample: device commands, and broker messages.
  const window = new Map<Subsystem, { requests: number; failures: number }>();
  const count = (s: Subsystem, failed: boolean): void => {
    const w = window.get(s) ?? { requests: 0, failures: 0 };
    w.requests++;
    if (failed) w.failures++;
    window.set(s, w);
  };
  let brokerBase = { accepted: 0, bad: 0 };
  const counterSum = async (c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> => (await c.get()).values.reduce((a, v) => a + v.value, 0);

  let timer: TimerHandle | null = null;
  let last: HealthSample | null = null;
  let lastWriteMs = 0;
  let storeOk = true;
  const insert = deps.store.db.prepare('INSERT OR REPLACE INTO health_index_samples (ts, subsystem, score, detail) VALUES (?, ?, ?, ?)');
  const prune = deps.store.db.prepare('DELETE FROM health_index_samples WHERE ts < ?');

  async function sampleNow(): Promise<HealthSample> {
    const now = deps.clock.now();
    const inputs = new Map<Subsystem, SubsystemInput>(SUBSYSTEMS.map((s) => [s, { devices: [], requests: 0, failures: 0, alarms: [] }]));
    for (const d of deps.availability.list()) {
      const s = groupOf.get(d.id);
      if (s) inputs.get(s)!.devices.push({ available: d.available, lastSeen: d.lastSeen });
    }
    for (const a of deps.alarms.list()) {
      const s = (a.deviceId ? groupOf.get(a.deviceId) : undefined) ?? (a.source === 'power' ? 'power' : a.source === 'broadcast' ? 'pa' : undefined);
      if (s) inputs.get(s)!.alarms.push({ severity: a.severity, acknowledged: a.acknowledged !== null });
    }
    for (const [s, w] of window) Object.assign(inputs.get(s)!, w);
    window.clear();
    // The broker: up while the hub runs; its error rate is rejected and refused over everything it saw.
    const accepted = await counterSum(m.mqttMessages);
    const bad = (await counterSum(m.mqttRejected)) + (await counterSum(m.mqttRefused));
    // Up unless the hub has lost its broker (external broker mode: the client's link).
    const brokerUp = (await m.brokerConnected.get()).values.every((v) => v.value > 0);
    Object.assign(inputs.get('broker')!, { up: brokerUp, requests: accepted - brokerBase.accepted + (bad - brokerBase.bad), failures: bad - brokerBase.bad });
    brokerBase = { accepted, bad };
    Object.assign(inputs.get('store')!, { up: storeOk, ...(lastWriteMs > SLOW_WRITE_MS ? { cap: 50 } : {}) });
    // Power: on battery is degraded however healthy the UPS is; a low battery more so.
    const ups = [...deps.devices.values()].flatMap((d) => {
      const r = d instanceof UpsDevice ? d.status().reading : null;
      return r ? [r] : [];
    });
    // The power view's chart of the last hours: the lowest charge and runtime across UPSes, sampled with the index.
    const charges = ups.map((r) => r.charge).filter((v): v is number => v !== null);
    const runtimes = ups.map((r) => r.runtime).filter((v): v is number => v !== null);
    const extra: [string, number | null][] = ups.length
      ? [
          ['ups.charge', charges.length ? Math.min(...charges) : null],
          ['ups.runtime-min', runtimes.length ? Math.round(Math.min(...runtimes) / 60) : null],
          ['ups.mains', ups.every((r) => r.mainsPresent) ? 1 : 0],
        ]
      : [];
    if (ups.some((r) => r.onBattery)) inputs.get('power')!.cap = ups.some((r) => r.onBattery && r.charge !== null && r.charge < 30) ? 30 : 60;

    const subsystems = SUBSYSTEMS.map((s) => scoreSubsystem(s, inputs.get(s)!, now));
    const sample: HealthSample = { ts: now, overall: overall(subsystems), subsystems };
    for (const s of subsystems) if (s.score !== null) m.healthIndex.set({ subsystem: s.subsystem }, s.score);
    if (sample.overall !== null) m.healthIndex.set({ subsystem: 'overall' }, sample.overall);
    const started = performance.now();
    try {
      await deps.store.write(() => {
        insert.run(now, 'overall', sample.overall, '{}');
        for (const [name, v] of extra) insert.run(now, name, v, '{}');
        for (const s of subsystems) insert.run(now, s.subsystem, s.score, JSON.stringify({ availability: s.availability, freshness: s.freshness, errorRate: s.errorRate, alarms: s.alarms }));
        prune.run(now - KEEP_MS);
      });
      storeOk = true;
    } catch (err) {
      storeOk = false;
      log.error({ err }, 'health sample not stored');
    }
    lastWriteMs = performance.now() - started;
    last = sample;
    return sample;
  }

  const routes: RoutePlugin = async (app, apiDeps) => {
    const offset = apiDeps.facility.site.utcOffset;
    const time = (v: string | undefined, field: string, fallback: number): number => {
      if (v === undefined) return fallback;
      const t = parseTime(/^\d+$/.test(v) ? Number(v) : v);
      if (t === null) throw new HubError('HUB_ERR_VALIDATION', [`querystring.${field} must be ISO-8601 with an offset or epoch milliseconds`], { field: `querystring.${field}` });
      return t;
    };
    app.get(
      '/api/health/index',
      {
        config: { roles: STAFF },
        schema: {
          tags: ['health'],
          summary: 'The IT health index: the latest scores and their history, averaged per step (docs/health.md)',
          querystring: Type.Object(
            {
              from: Type.Optional(Type.String({ description: 'ISO-8601 with offset or epoch ms; default 24 h before `to`' })),
              to: Type.Optional(Type.String({ description: 'default now' })),
              hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 2160, description: 'instead of from: this many hours before `to`' })),
              step: Type.Optional(Type.Integer({ minimum: 60, maximum: 7 * 86400, description: 'seconds per point; default so that about 300 points cover the range' })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const to = time(request.query.to, 'to', deps.clock.now());
        const from = time(request.query.from, 'from', to - (request.query.hours ?? 24) * 3600_000);
        if (from >= to) throw new HubError('HUB_ERR_VALIDATION', ['querystring.from must be before querystring.to'], { field: 'querystring.from' });
        const step = request.query.step ?? Math.max(60, Math.ceil((to - from) / 1000 / 300 / 60) * 60);
        if ((to - from) / 1000 / step > MAX_POINTS) throw new HubError('HUB_ERR_VALIDATION', [`querystring.step is too small for this range (at most ${MAX_POINTS} points)`], { field: 'querystring.step' });
        const rows = deps.store
          .stmt('SELECT subsystem, (ts / ?) * ? AS bucket, ROUND(AVG(score), 1) AS score FROM health_index_samples WHERE ts >= ? AND ts < ? GROUP BY subsystem, bucket ORDER BY bucket')
          .all(step * 1000, step * 1000, from, to) as { subsystem: string; bucket: number; score: number | null }[];
        const series: Record<string, [string, number | null][]> = {};
        for (const r of rows) (series[r.subsystem] ??= []).push([formatTime(r.bucket, offset), r.score]);
        return {
          from: formatTime(from, offset),
          to: formatTime(to, offset),
          step,
          current: last ? { at: formatTime(last.ts, offset), overall: last.overall, subsystems: last.subsystems } : null,
          series,
        };
      },
    );
  };

  return {
    name: 'health',
    routes,
    sampleNow,
    last: () => last,
    async start() {
      deps.bus.on(OWNER, 'command.finished', (e) => {
        const s = groupOf.get(e.deviceId);
        if (s) count(s, e.outcome !== 'acked');
      });
      deps.bus.on(OWNER, 'ups.status', (e) => {
        const r = e.status.reading;
        if (!r) return;
        m.mainsPresent.set({ device: e.deviceId }, r.mainsPresent ? 1 : 0);
        if (r.charge !== null) m.batteryCharge.set({ device: e.deviceId }, r.charge);
        if (r.runtime !== null) m.runtimeSeconds.set({ device: e.deviceId }, r.runtime);
        if (e.status.comm === 'lost') count('power', true);
      });
      deps.events.onAppended((e) => {
        if (e.type === 'checkin.granted') m.decisions.inc({ result: 'grant', reason: 'granted' });
        else if (e.type === 'checkin.denied') m.decisions.inc({ result: 'deny', reason: typeof e.data.reason === 'string' ? e.data.reason : 'unknown' });
      });
      await sampleNow();
      timer = deps.clock.setInterval(() => {
        sampleNow().catch((err: unknown) => log.error({ err }, 'health sample failed'));
      }, SAMPLE_EVERY_MS);
    },
    async stop() {
      timer?.cancel();
      timer = null;
      deps.bus.removeOwner(OWNER);
    },
  };
}
