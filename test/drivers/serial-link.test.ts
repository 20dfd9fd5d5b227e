import t, { type Test } from 'tap';
import net from 'node:net';
import { pino } from 'pino';
import { ManualClock, systemClock, type Clock } from '../../kernel/clock.js';
import { silentLogger, type Logger } from '../../hub/log.js';
import { fail, ok, type Result } from '../../kernel/result.js';
import { SerialLink, type SerialLinkConfig } from '../../drivers/serial-link.js';
import { RequestTracker } from '../../drivers/request-tracker.js';
import { PaClient, encode, paCodec, type PaEvent, type PaFrame } from '../../drivers/pa-protocol.js';
import { findSocat, startPaSimulator, type PaSimulator } from '../../simulators/pa-controller.js';
import { waitFor } from '../helpers/wait.js';

const log = silentLogger();
// Short backoff keeps reconnect tests fast; nothing below asserts how long anything took.
const FAST = { connectTimeoutMs: 2000, reconnectMinMs: 20, reconnectMaxMs: 100 };

async function startSim(t: Test, opts: { pty?: boolean; port?: number; clock?: Clock } = {}): Promise<PaSimulator> {
  if (opts.pty && findSocat() === null) throw new Error('socat is required for the pty tests (apt-get install socat)');
  const sim = await startPaSimulator({ port: opts.port ?? 0, zones: 4, pty: opts.pty ?? false, clock: opts.clock ?? systemClock, log, messageDurationMs: 60_000 });
  t.teardown(() => sim.stop());
  return sim;
}

function makeClient(t: Test, config: SerialLinkConfig, opts: { log?: Logger; clock?: Clock } = {}): { link: SerialLink<PaFrame>; client: PaClient } {
  const clock = opts.clock ?? systemClock;
  const link = new SerialLink<PaFrame>({ config: { ...FAST, ...config }, codec: paCodec, clock, log: opts.log ?? log });
  const client = new PaClient({ link, clock, log, requestTimeoutMs: 3000 });
  t.teardown(async () => {
    client.close();
    await link.stop();
  });
  return { link, client };
}

async function connected(t: Test, config: SerialLinkConfig): Promise<{ link: SerialLink<PaFrame>; client: PaClient }> {
  const c = makeClient(t, config);
  c.link.start();
  await waitFor(() => c.link.isConnected(), 8000, 'link connected');
  return c;
}

const transports: { name: string; pty: boolean; config: (sim: PaSimulator) => SerialLinkConfig }[] = [
  { name: 'tcp', pty: false, config: (sim) => ({ type: 'tcp', host: '127.0.0.1', port: sim.port }) },
  { name: 'pty (socat + serialport)', pty: true, config: (sim) => ({ type: 'serial', path: sim.ptyPath ?? '', baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1 }) },
];

for (const tr of transports) {
  void t.test(`${tr.name}: request/response, unsolicited events, bytes on the line`, async (t) => {
    const sim = await startSim(t, { pty: tr.pty });
    const { link, client } = await connected(t, tr.config(sim));
    const written: Buffer[] = [];
    link.onBytesWritten((b) => written.push(b));
    const events: PaEvent[] = [];
    client.onEvent((e) => events.push(e));

    const hello = await client.hello();
    t.same(hello, ok({ version: 1, zoneCount: 4, model: 'FHPA-SIM 1.0' }));
    t.same(written[0], encode({ type: 'HELLO', seq: 1, versions: [1] }), 'the exact command bytes are reported');

    const tts = await client.request({ type: 'TTS', zones: [1, 2], text: '请保持安静，禁止交谈。', priority: 2, repeat: 1 });
    t.ok(tts.ok && tts.value.activityId !== undefined, 'TTS acknowledged with an activity id');
    const busy = await client.request({ type: 'PLAY', zones: [2], message: 1, priority: 1, repeat: 1 });
    t.same(busy.ok ? null : { kind: busy.error.kind, code: busy.error.code }, { kind: 'rejected', code: 'BUSY' });

    sim.injectFault(3, '扬声器线路开路');
    await waitFor(() => events.length > 0, 8000, 'FAULT event');
    t.same(events[0], { type: 'FAULT', seq: 0, zone: 3, text: '扬声器线路开路' });
    const st = link.stats();
    t.ok(st.framesOut >= 3 && st.framesIn >= 4 && st.bytesIn > 0 && st.bytesOut > 0);
    t.equal(st.garbageBytes, 0);
  });

  void t.test(`${tr.name}: an unresponsive controller times out, then recovers`, async (t) => {
    const sim = await startSim(t, { pty: tr.pty });
    const { client } = await connected(t, tr.config(sim));
    sim.setUnresponsive(true);
    const r = await client.request({ type: 'STATUS' }, 150);
    t.equal(r.ok ? 'ok' : r.error.kind, 'timeout');
    t.equal(client.pendingRequests(), 0);
    sim.setUnresponsive(false);
    const again = await client.request({ type: 'STATUS' });
    t.ok(again.ok && again.value.status?.length === 4, 'answers again');
    t.ok(sim.stats().ignoredRequests >= 1);
  });

  void t.test(`${tr.name}: resynchronises after garbage and a truncated frame`, async (t) => {
    const sim = await startSim(t, { pty: tr.pty });
    const { link, client } = await connected(t, tr.config(sim));
    // 5 garbage bytes, then a frame that never ends (STX "1|A"): the next STX must abandon it.
    sim.injectRaw(Buffer.from([0x6a, 0x75, 0x6e, 0x6b, 0xff, 0x02, 0x31, 0x7c, 0x41]));
    const r = await client.request({ type: 'STATUS' });
    t.ok(r.ok, 'the answer after the garbage arrives');
    t.equal(link.stats().garbageBytes, 5);
    t.equal(link.stats().badFrames, 1);
  });
}

void t.test('tcp: reconnects after the controller restarts on the same port; pending requests fail at once', async (t) => {
  const sim1 = await startSim(t);
  const port = sim1.port;
  const { link, client } = await connected(t, { type: 'tcp', host: '127.0.0.1', port });
  const states: string[] = [];
  link.onStateChange((s) => states.push(s));

  sim1.setUnresponsive(true);
  const pending = client.request({ type: 'STATUS' }, 60_000);
  await waitFor(() => client.pendingRequests() === 1, 8000, 'request pending');
  await sim1.stop();
  const dropped = await pending;
  t.equal(dropped.ok ? 'ok' : dropped.error.kind, 'disconnected', 'a lost line fails the pending request without waiting for its timeout');
  await waitFor(() => states.includes('waiting'), 8000, 'link noticed the loss');
  t.notOk(link.isConnected());
  const whileDown = await client.request({ type: 'STATUS' });
  t.equal(whileDown.ok ? 'ok' : whileDown.error.kind, 'disconnected');

  await startSim(t, { port });
  await waitFor(() => link.isConnected(), 8000, 'link reconnected');
  const r = await client.request({ type: 'STATUS' });
  t.ok(r.ok, 'works after the restart');
  t.equal(link.stats().reconnects, 1);
  t.equal(link.stats().connects, 2);
});

void t.test('logs the first failure of a streak at error, repeats at debug, recovery at info', async (t) => {
  const lines: { level: number; msg: string }[] = [];
  const captured = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as { level: number; msg: string }) });
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const addr = probe.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  const { link } = makeClient(t, { type: 'tcp', host: '127.0.0.1', port }, { log: captured });
  link.start();
  await waitFor(() => link.stats().connectFailures >= 3, 8000, 'three failed attempts');
  await startSim(t, { port });
  await waitFor(() => link.isConnected(), 8000, 'connected once the controller is up');

  const failures = lines.filter((l) => l.msg === 'connect failed');
  t.equal(failures.filter((l) => l.level === 50).length, 1, 'one error line for the outage');
  t.ok(failures.filter((l) => l.level === 20).length >= 2, 'repeats at debug');
  t.equal(lines.filter((l) => l.msg === 'link recovered' && l.level === 30).length, 1, 'recovery at info');
});

void t.test('send never throws: not connected, unencodable frame, missing serial device', async (t) => {
  const sim = await startSim(t);
  const { link } = await connected(t, { type: 'tcp', host: '127.0.0.1', port: sim.port });
  const bad = await link.send({ type: 'PLAY', seq: 1, zones: [], message: 1, priority: 1, repeat: 1 });
  t.equal(bad.ok ? 'ok' : bad.error.kind, 'invalid-argument');

  const { link: serial } = makeClient(t, { type: 'serial', path: '/nonexistent/ttyPA0' });
  const before = await serial.send({ type: 'STATUS', seq: 1 });
  t.equal(before.ok ? 'ok' : before.error.kind, 'disconnected');
  serial.start();
  await waitFor(() => serial.stats().connectFailures >= 1 && serial.currentState() === 'waiting', 8000, 'open failed');
  t.equal(serial.describe(), 'serial:/nonexistent/ttyPA0');
  await serial.stop();
  t.equal(serial.currentState(), 'stopped');
});

void t.test('a throwing listener does not break the link', async (t) => {
  const sim = await startSim(t);
  const { link, client } = await connected(t, { type: 'tcp', host: '127.0.0.1', port: sim.port });
  link.onFrame(() => {
    throw new Error('listener bug');
  });
  const r = await client.request({ type: 'STATUS' });
  t.ok(r.ok);
});

void t.test('RequestTracker', async (t) => {
  const clock = new ManualClock(0);
  const tracker = new RequestTracker<string>({ clock });
  const sent = (): Promise<Result<void>> => Promise.resolve(ok(undefined));

  const a = tracker.request(1, sent, 100);
  t.equal((await tracker.request(1, sent, 100)).ok, false, 'duplicate id refused');
  t.ok(tracker.resolve(1, 'one'));
  t.same(await a, ok('one'));
  t.notOk(tracker.resolve(1, 'late'), 'nothing waits any more');

  const b = tracker.request(2, sent, 100);
  clock.advance(99);
  t.ok(tracker.isPending(2));
  clock.advance(1);
  t.equal((await b).ok ? 'ok' : 'failed', 'failed');
  const bResult = await b;
  t.equal(bResult.ok ? '' : bResult.error.kind, 'timeout');

  const c = tracker.request(3, () => Promise.resolve(fail('disconnected', 'no line')), 100);
  const cResult = await c;
  t.equal(cResult.ok ? '' : cResult.error.kind, 'disconnected', "the send's own failure is returned");
  t.equal(clock.pendingTimers(), 0, 'its timer is cancelled');

  const d = tracker.request(4, () => Promise.reject(new Error('boom')), 100);
  const dResult = await d;
  t.equal(dResult.ok ? '' : dResult.error.message, 'boom');

  const e = tracker.request(5, sent, 100);
  const f = tracker.request(6, sent, 100);
  t.ok(tracker.reject(6, 'rejected', 'no', 'BUSY'));
  tracker.failAll();
  const [eResult, fResult] = await Promise.all([e, f]);
  t.same(eResult, fail('disconnected', 'link lost'));
  t.same(fResult, fail('rejected', 'no', 'BUSY'));
  t.equal(tracker.size(), 0);
});
