import t from 'tap';
import { ManualClock } from '../../kernel/clock.js';
import type { SUBSYSTEMS } from '../../hub/health/score.js';
import { freshness, overall, scoreSubsystem, FRESH_MS, STALE_MS } from '../../hub/health/score.js';
import { KEEP_MS, SAMPLE_EVERY_MS, type HealthFeature } from '../../hub/health/feature.js';
import { startTestHub } from '../helpers/hub.js';

const NOW = Date.UTC(2026, 10, 28, 1, 0, 0);

void t.test('the score: availability, freshness, error rate and alarms, capped, 0..100', async (t) => {
  t.equal(freshness(NOW, NOW), 1);
  t.equal(freshness(NOW - FRESH_MS, NOW), 1);
  t.equal(freshness(NOW - STALE_MS, NOW), 0);
  t.equal(freshness(null, NOW), 0, 'never seen is not fresh');
  t.ok(Math.abs(freshness(NOW - (FRESH_MS + STALE_MS) / 2, NOW) - 0.5) < 1e-9, 'linear in between');

  const fresh = { available: true, lastSeen: NOW };
  const none = { requests: 0, failures: 0, alarms: [] };
  t.equal(scoreSubsystem('gates', { devices: [fresh, fresh], ...none }, NOW).score, 100);
  t.equal(scoreSubsystem('gates', { devices: [fresh, { available: false, lastSeen: NOW }], ...none }, NOW).score, 50, 'half the gates down');
  t.equal(scoreSubsystem('gates', { devices: [{ available: true, lastSeen: null }], ...none }, NOW).score, 50, 'up but never heard from');
  t.equal(scoreSubsystem('gates', { devices: [fresh], requests: 10, failures: 10, alarms: [] }, NOW).score, 50, 'every request failing halves it');
  t.equal(scoreSubsystem('pa', { devices: [fresh], requests: 0, failures: 0, alarms: [{ severity: 'critical', acknowledged: false }] }, NOW).score, 60);
  t.equal(scoreSubsystem('pa', { devices: [fresh], requests: 0, failures: 0, alarms: [{ severity: 'critical', acknowledged: true }] }, NOW).score, 80, 'acknowledged: half the points');
  t.equal(scoreSubsystem('pa', { devices: [fresh], requests: 0, failures: 0, alarms: Array(5).fill({ severity: 'warning', acknowledged: false }) }, NOW).score, 25);
  t.equal(scoreSubsystem('pa', { devices: [fresh], requests: 0, failures: 0, alarms: Array(5).fill({ severity: 'critical', acknowledged: false }) }, NOW).score, 0, 'never below 0');
  t.equal(scoreSubsystem('power', { devices: [fresh], ...none, cap: 60 }, NOW).score, 60, 'on battery caps it');
  t.same(scoreSubsystem('robot', { devices: [], ...none }, NOW), { subsystem: 'robot', score: null, availability: null, freshness: null, errorRate: 0, alarms: 0 }, 'nothing configured: not applicable');
  t.equal(scoreSubsystem('broker', { devices: [], ...none, up: true }, NOW).score, 100);
  t.equal(scoreSubsystem('store', { devices: [], ...none, up: false }, NOW).score, 0);

  const s = (subsystem: (typeof SUBSYSTEMS)[number], score: number | null) => ({ subsystem, score, availability: null, freshness: null, errorRate: 0, alarms: 0 });
  t.equal(overall([s('broker', 100), s('robot', 0)]), 80, 'weighted: broker 20, robot 5');
  t.equal(overall([s('broker', 100), s('robot', null)]), 100, 'not applicable is left out');
  t.equal(overall([s('robot', null)]), null);
});

void t.test('sampled every minute into SQLite, kept 90 days, served by /api/health/index and /metrics', async (t) => {
  const clock = new ManualClock(NOW);
  const th = await startTestHub({ full: true, clock });
  t.teardown(() => th.stop());
  const { hub } = th;
  const health = hub.features.find((f) => f.name === 'health') as HealthFeature;
  const first = health.last()!;
  t.equal(first.ts, NOW, 'a sample at start');
  const gates = first.subsystems.find((s) => s.subsystem === 'gates')!;
  t.equal(gates.score, 0, 'no gate connected yet');
  t.equal(first.subsystems.find((s) => s.subsystem === 'power')!.score, null, 'no UPS configured: not applicable');
  t.equal(first.subsystems.find((s) => s.subsystem === 'broker')!.score, 100);

  // Both gates connect and report: the gates' score rises.
  for (const id of ['gate-1', 'gate-2']) {
    const c = await th.connectDevice(id);
    await c.publishAsync(`fh/demo/${id}/status`, JSON.stringify({ online: true, ts: NOW }), { qos: 1, retain: true });
  }
  clock.advance(SAMPLE_EVERY_MS);
  await hub.store.write(() => undefined);
  await new Promise((r) => setTimeout(r, 50));
  const second = health.last()!;
  t.equal(second.ts, NOW + SAMPLE_EVERY_MS, 'the minute timer sampled again');
  t.equal(second.subsystems.find((s) => s.subsystem === 'gates')!.score, 100, 'both gates up and fresh');

  const rows = hub.store.db.prepare('SELECT COUNT(DISTINCT ts) AS n FROM health_index_samples').get() as { n: number };
  t.equal(rows.n, 2, 'two samples stored');
  // An old sample beyond 90 days is dropped at the next sample.
  hub.store.db.prepare("INSERT INTO health_index_samples (ts, subsystem, score, detail) VALUES (?, 'overall', 1, '{}')").run(NOW - KEEP_MS - 1);
  await health.sampleNow();
  t.equal((hub.store.db.prepare('SELECT COUNT(*) AS n FROM health_index_samples WHERE ts < ?').get(NOW) as { n: number }).n, 0, 'kept 90 days');

  const token = await th.login();
  const get = (q: string) => hub.api().inject({ method: 'GET', url: `/api/health/index${q}`, headers: { authorization: `Bearer ${token}` } });
  const res = await get(`?from=${NOW}&to=${NOW + 3 * SAMPLE_EVERY_MS}&step=60`);
  t.equal(res.statusCode, 200);
  const body = res.json<{ step: number; series: Record<string, [string, number | null][]>; current: { overall: number } }>();
  t.equal(body.step, 60);
  t.same(body.series.gates!.map((p) => p[1]), [0, 100], 'the gates, minute by minute');
  t.same(body.series.gates!.map((p) => p[0]), ['2026-11-28T09:00:00.000+08:00', '2026-11-28T09:01:00.000+08:00'], 'times in the site zone');
  t.equal(typeof body.current.overall, 'number');
  t.equal((await get('?from=yesterday')).json<{ details: { field: string } }>().details.field, 'querystring.from');
  t.equal((await get(`?from=${NOW}&to=${NOW}`)).statusCode, 400, 'from must be before to');
  t.equal((await get('?step=10')).statusCode, 400, 'at least a minute per point');
  t.equal((await get(`?from=0&to=${NOW}&step=60`)).statusCode, 400, 'too many points');
  t.equal((await hub.api().inject({ method: 'GET', url: '/api/health/index' })).statusCode, 401, 'login required');

  const metrics = (await hub.api().inject({ method: 'GET', url: '/metrics' })).body;
  t.match(metrics, /fh_health_index\{subsystem="gates"\} 100/);
  t.match(metrics, /fh_health_index\{subsystem="overall"\} \d+/);
  for (const name of ['fh_power_mains_present', 'fh_power_battery_charge_percent', 'fh_power_runtime_seconds', 'fh_checkin_decisions_total', 'fh_checkin_decision_seconds']) t.match(metrics, new RegExp(`# TYPE ${name} `), name);
});
