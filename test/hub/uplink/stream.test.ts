import t from 'tap';
import { startTestHub, waitFor } from '../../helpers/hub.js';
import { startLink, startReceiver, startUpstream } from '../../helpers/mosquitto-upstream.js';
import { appendPassages, assertComplete, drained, stream, uplinkFacility } from '../../helpers/uplink.js';

void t.test('events flow upstream in order, with seq numbers, and the checkpoints with them', async (t) => {
  const upstream = await startUpstream();
  t.teardown(() => upstream.close());
  const rx = await startReceiver(upstream.url);
  t.teardown(() => rx.close());
  const th = await startTestHub({ full: true, facility: uplinkFacility(upstream.url) });
  t.teardown(() => th.stop());

  await appendPassages(th, 100);
  const last = await drained(th, rx);
  assertComplete(t, rx, last, 'stream');
  // In order: one publisher, QoS 1, a bounded window: the broker delivers in the order sent.
  const firstCopies = rx.all.filter((m, i) => rx.all.findIndex((x) => x.seq === m.seq) === i).map((m) => m.seq);
  t.same(firstCopies, [...firstCopies].sort((a, b) => a - b), 'first copies arrive in seq order');
  const events = [...rx.bySeq.values()].filter((m) => m.kind === 'event');
  t.equal(events[0]?.type, 'hub.started', 'the first event is the hub start');
  t.equal(events.filter((m) => m.type === 'checkin.passed').length, 100, 'every passage went up');
  const eventSeqs = events.map((m) => m.body.eventSeq as number);
  t.same(eventSeqs, [...eventSeqs].sort((a, b) => a - b), 'event-log order is kept');
  const p = events.find((m) => m.type === 'checkin.passed')!;
  t.equal(p.topic, 'county/demo/event');
  t.same(Object.keys(p.body.data as object).sort(), ['room', 'seat'], 'only whitelisted fields (no requestId, no extra field)');
  t.equal(p.body.site, 'demo');
  t.equal(p.body.v, 1);
  const cps = [...rx.bySeq.values()].filter((m) => m.kind === 'checkpoint');
  t.ok(cps.length >= 1, 'the start checkpoint went up');
  t.equal(cps[0]!.topic, 'county/demo/checkpoint');
  t.match(cps[0]!.body.note, /^facility-hub\.local\/demo\/events\n\d+\n/, 'the signed note as the audit feature made it');

  // GET /api/uplink: admin and supervisor only.
  const token = await th.login();
  const res = await th.hub.api().inject({ method: 'GET', url: '/api/uplink', headers: { authorization: `Bearer ${token}` } });
  t.equal(res.statusCode, 200);
  const s = res.json<{ state: string; backlog: number; lastSentSeq: number; lastError: string | null; stateText: string }>();
  t.equal(s.state, 'connected');
  t.equal(s.backlog, 0);
  t.ok(s.lastSentSeq >= last, `last sent seq ${s.lastSentSeq} is the last acknowledged`);
  t.match(s.stateText, /^已连接/, 'Chinese first');
  await th.hub.users.create('viewer1', 'viewer', 'viewer-password-1');
  const vt = await th.login('viewer1', 'viewer-password-1');
  t.equal((await th.hub.api().inject({ method: 'GET', url: '/api/uplink', headers: { authorization: `Bearer ${vt}` } })).statusCode, 403, 'a viewer may not read it');

  const metrics = (await th.hub.api().inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })).body;
  t.match(metrics, /^fh_uplink_backlog 0$/m, 'backlog gauge on /metrics');
  t.match(metrics, /^fh_uplink_connected 1$/m, 'connected gauge');
  const sent = Number(/^fh_uplink_sent_total (\d+)$/m.exec(metrics)?.[1]);
  t.ok(sent >= last, `sent counter counts acknowledged messages (${sent})`);
});

void t.test('the upstream Mosquitto stops and restarts mid-stream (link cut first): zero lost, zero duplicated after dedupe', async (t) => {
  const upstream = await startUpstream();
  t.teardown(() => upstream.close());
  const link = await startLink(upstream.port);
  t.teardown(() => link.close());
  const rx = await startReceiver(upstream.url);
  t.teardown(() => rx.close());
  const th = await startTestHub({ full: true, facility: uplinkFacility(link.url) });
  t.teardown(() => th.stop());
  const N = 2000;
  const writing = stream(th, N);
  await waitFor(() => rx.bySeq.size >= 300, 20_000, 'part of the stream upstream');
  // The hub's connection goes first, so that nothing is in the broker's hands while it shuts down.
  await link.cut();
  await upstream.restart();
  await link.restore();
  await writing;
  const last = await drained(th, rx, 60_000);
  assertComplete(t, rx, last, 'after a broker restart');
  const passages = [...rx.bySeq.values()].filter((m) => m.type === 'checkin.passed');
  t.equal(passages.length, N, `all ${N} passages arrived, once each after dedupe`);
  t.equal(new Set(passages.map((m) => m.body.eventSeq as number)).size, N, 'each event once');
  t.comment(`raw messages ${rx.all.length}, raw duplicates (QoS 1 resends after the reconnect) ${rx.duplicates()}`);
  t.equal(rx.all.filter((m) => rx.bySeq.get(m.seq)!.raw !== m.raw).length, 0, 'a duplicate is byte-identical to the first copy: the seq makes it detectable');
});

