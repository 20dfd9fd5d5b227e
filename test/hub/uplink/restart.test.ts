import t from 'tap';
import { startTestHub, tempDir, waitFor } from '../../helpers/hub.js';
import { startReceiver, startUpstream } from '../../helpers/mosquitto-upstream.js';
import { appendPassages, assertComplete, drained, stream, uplinkFacility, uplinkOf } from '../../helpers/uplink.js';
import { BACKLOG_ALARM } from '../../../hub/uplink/feature.js';

void t.test('the upstream Mosquitto is stopped under load (plain SIGTERM) and restarted: zero lost, duplicates only as resends', async (t) => {
  const upstream = await startUpstream();
  t.teardown(() => upstream.close());
  const rx = await startReceiver(upstream.url);
  t.teardown(() => rx.close());
  const th = await startTestHub({ full: true, facility: uplinkFacility(upstream.url) });
  t.teardown(() => th.stop());
  const N = 2000;
  const writing = stream(th, N);
  await waitFor(() => rx.bySeq.size >= 300, 20_000, 'part of the stream upstream');
  await upstream.stop();
  await new Promise((r) => setTimeout(r, 100));
  await upstream.start();
  await writing;
  const last = await drained(th, rx, 60_000);
  // With persistence it can write, Mosquitto keeps what it acknowledged across its own
  // SIGTERM; the hub resends what was in flight, which the receiver dedupes by seq.
  assertComplete(t, rx, last, 'across a SIGTERM of the upstream under load');
  t.comment(`raw duplicates (resends of unacknowledged publishes): ${rx.duplicates()}`);
  t.ok(rx.all.every((m) => m.raw === rx.bySeq.get(m.seq)?.raw), 'every duplicate is byte-identical to the first copy');
});

void t.test('a hub restart with a backlog resumes where it left off; the backlog limit raises and clears its alarm', async (t) => {
  const upstream = await startUpstream();
  t.teardown(() => upstream.close());
  const rx = await startReceiver(upstream.url);
  t.teardown(() => rx.close());
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const fac = uplinkFacility(upstream.url, '  backlogLimit: 40');

  let th = await startTestHub({ full: true, facility: fac, dataDir: tmp.dir });
  await appendPassages(th, 10);
  const before = await drained(th, rx);
  await upstream.stop();
  await waitFor(() => uplinkOf(th).status().state !== 'connected', 10_000, 'the uplink to notice');
  await appendPassages(th, 60, 20, 10);
  await uplinkOf(th).settled();
  const backlog = uplinkOf(th).status().backlog;
  t.ok(backlog >= 60, `backlog ${backlog} kept while the upstream is down`);
  await waitFor(() => th.hub.alarms.list().some((a) => a.id === BACKLOG_ALARM), 5000, 'the backlog alarm');
  const alarm = th.hub.alarms.list().find((a) => a.id === BACKLOG_ALARM)!;
  t.equal(alarm.severity, 'warning');
  t.match(alarm.message, /^上级平台上传积压/, 'Chinese first');
  const token = await th.login();
  const m1 = (await th.hub.api().inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })).body;
  t.match(m1, new RegExp(`^fh_uplink_backlog ${uplinkOf(th).status().backlog}$`, 'm'), 'the gauge shows the backlog');
  t.match(m1, /^fh_uplink_connected 0$/m);
  await th.stop();

  // Restart with the backlog on disk and the upstream still down: nothing lost, nothing re-queued.
  th = await startTestHub({ full: true, facility: fac, dataDir: tmp.dir });
  t.teardown(() => th.stop());
  await uplinkOf(th).settled();
  const after = uplinkOf(th).status();
  t.ok(after.backlog >= backlog, `the backlog survived the restart (${after.backlog})`);
  t.equal(after.state === 'connected', false);
  t.ok(after.lastSentSeq !== null && after.lastSentSeq >= before, `before any PUBACK of this run, last sent seq ${after.lastSentSeq} is what the last run had acknowledged (${before})`);
  // The alarm is raised again by the new run (conditions are re-raised after a restart).
  await waitFor(() => th.hub.alarms.list().some((a) => a.id === BACKLOG_ALARM), 5000, 'the backlog alarm after restart');

  await upstream.start();
  const last = await drained(th, rx, 30_000);
  t.ok(last > before, 'more was sent after the restart');
  assertComplete(t, rx, last, 'across a hub restart');
  t.equal([...rx.bySeq.values()].filter((m) => m.type === 'checkin.passed').length, 70, 'every passage once');
  await waitFor(() => !th.hub.alarms.list().some((a) => a.id === BACKLOG_ALARM), 5000, 'the alarm to clear');
  t.pass('the backlog alarm cleared once drained');
  const cleared = th.hub.events.query({ type: 'alarm.cleared', latest: true, limit: 5 }).filter((e) => e.data.id === BACKLOG_ALARM);
  t.equal(cleared.length, 1, 'cleared once, in the event log');
});
