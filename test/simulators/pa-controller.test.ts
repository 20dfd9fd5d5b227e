import t, { type Test } from 'tap';
import net from 'node:net';
import { SerialPort } from 'serialport';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import type { Result } from '../../kernel/result.js';
import { SerialLink } from '../../drivers/serial-link.js';
import { PaClient, createDecoder, encode, frameBytes, paCodec, type PaAck, type PaEvent, type PaFrame } from '../../drivers/pa-protocol.js';
import { findSocat, startPaSimulator, type PaSimulator } from '../../simulators/pa-controller.js';
import { waitFor } from '../helpers/wait.js';

const log = silentLogger();

interface Rig {
  sim: PaSimulator;
  clock: ManualClock;
  client: PaClient;
  events: PaEvent[];
}

/** Simulator and client share a ManualClock: playback lengths move only when the test says so. */
async function rig(t: Test, zones = 4): Promise<Rig> {
  const clock = new ManualClock(Date.UTC(2026, 10, 28, 1, 0, 0));
  const sim = await startPaSimulator({ port: 0, zones, clock, log, messageDurationMs: 5000, chimeDurationMs: 1000, messages: 20 });
  t.teardown(() => sim.stop());
  const link = new SerialLink<PaFrame>({ config: { type: 'tcp', host: '127.0.0.1', port: sim.port }, codec: paCodec, clock, log });
  const client = new PaClient({ link, clock, log });
  t.teardown(async () => {
    client.close();
    await link.stop();
  });
  const events: PaEvent[] = [];
  client.onEvent((e) => events.push(e));
  link.start();
  await waitFor(() => link.isConnected(), 8000, 'client connected');
  return { sim, clock, client, events };
}

function code(r: Result<PaAck>): string | number | undefined {
  return r.ok ? 'ACK' : r.error.code;
}

/** A raw socket that collects decoded frames: for bytes no well-behaved client would send. */
async function rawClient(t: Test, port: number): Promise<{ sock: net.Socket; frames: PaFrame[] }> {
  const sock = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  t.teardown(() => {
    sock.destroy();
  });
  const frames: PaFrame[] = [];
  const decoder = createDecoder();
  sock.on('data', (c: Buffer) => frames.push(...decoder.push(c).frames));
  return { sock, frames };
}

void t.test('HELLO negotiates the version', async (t) => {
  const { client } = await rig(t, 6);
  const hello = await client.request({ type: 'HELLO', versions: [1, 2, 7] });
  t.same(hello.ok && { version: hello.value.version, zoneCount: hello.value.zoneCount }, { version: 1, zoneCount: 6 });
  const none = await client.request({ type: 'HELLO', versions: [2] });
  t.equal(code(none), 'BAD_REQUEST', 'no common version');
});

void t.test('priorities: higher preempts (PREEMPTED to the loser), equal or lower is BUSY', async (t) => {
  const { sim, clock, client, events } = await rig(t);
  const play = await client.request({ type: 'PLAY', zones: [1, 2], message: 5, priority: 1, repeat: 2 });
  t.ok(play.ok);
  const playId = play.ok ? play.value.activityId : undefined;
  t.same(sim.zoneState(1), { zone: 1, state: 'playing', priority: 1, activityId: playId, kind: 'play', fault: null });

  t.equal(code(await client.request({ type: 'CHIME', zones: [2], priority: 1 })), 'BUSY', 'equal priority refused');

  const warn = await client.request({ type: 'TTS', zones: [2], text: '请勿交头接耳', priority: 2, repeat: 1 });
  t.ok(warn.ok, 'higher priority accepted');
  const warnId = warn.ok ? warn.value.activityId : undefined;
  await waitFor(() => events.length >= 1, 8000, 'PREEMPTED');
  t.same(events[0], { type: 'PREEMPTED', seq: 0, zones: [2], what: 'play', activityId: playId, by: 'tts', byActivityId: warnId, priority: 2 });
  t.equal(sim.zoneState(1).kind, 'play', 'zone 1 keeps the announcement');
  t.equal(sim.zoneState(2).kind, 'tts');

  const lower = await client.request({ type: 'PLAY', zones: [3, 2], message: 1, priority: 1, repeat: 1 });
  t.equal(code(lower), 'BUSY');
  t.equal(lower.ok ? undefined : lower.error.message.includes('zone 2'), true, 'the NAK names the busy zone');
  t.equal(sim.zoneState(3).state, 'idle', 'all or nothing: zone 3 was not taken');

  const status = await client.request({ type: 'STATUS' });
  t.same(status.ok && status.value.status, [
    { zone: 1, state: 'playing', priority: 1 },
    { zone: 2, state: 'playing', priority: 2 },
    { zone: 3, state: 'idle', priority: 0 },
    { zone: 4, state: 'idle', priority: 0 },
  ]);

  clock.advance(5000); // the TTS (one pass) ends
  await waitFor(() => events.some((e) => e.type === 'DONE' && e.activityId === warnId), 8000, 'TTS DONE');
  clock.advance(5000); // the PLAY (two passes) ends on the zone it kept
  await waitFor(() => events.some((e) => e.type === 'DONE' && e.activityId === playId), 8000, 'PLAY DONE');
  t.same(
    events.find((e) => e.type === 'DONE' && e.activityId === playId),
    { type: 'DONE', seq: 0, zones: [1], what: 'play', activityId: playId, end: 'done' },
  );

  const played = sim.log();
  t.equal(played.length, 2);
  t.match(played[0], { kind: 'play', zones: [1, 2], message: 5, priority: 1, repeat: 2, outcome: 'done', preemptedZones: [2] });
  t.match(played[1], { kind: 'tts', zones: [2], text: '请勿交头接耳', priority: 2, outcome: 'done' });
  t.equal((played[0]?.endedAt ?? 0) - (played[0]?.startedAt ?? 0), 10_000, 'length on the simulated clock');
});

void t.test('an emergency fully preempting an activity ends it as preempted', async (t) => {
  const { sim, client, events } = await rig(t);
  const chime = await client.request({ type: 'CHIME', zones: [4], priority: 2 });
  const emergency = await client.request({ type: 'PLAY', zones: [1, 2, 3, 4], message: 20, priority: 3, repeat: 1 });
  t.ok(chime.ok && emergency.ok);
  await waitFor(() => events.length >= 1, 8000, 'PREEMPTED');
  t.match(events[0], { type: 'PREEMPTED', zones: [4], what: 'chime', by: 'play', priority: 3 });
  t.match(sim.log()[0], { kind: 'chime', outcome: 'preempted', preemptedZones: [4] });
});

void t.test('CALL_START assigns recording ids, CALL_STOP reports durations', async (t) => {
  const { sim, clock, client, events } = await rig(t);
  const a = await client.request({ type: 'CALL_START', zones: [1], priority: 2 });
  const b = await client.request({ type: 'CALL_START', zones: [2, 3], priority: 2 });
  const recA = a.ok ? a.value.recordingId : undefined;
  const recB = b.ok ? b.value.recordingId : undefined;
  t.ok(recA !== undefined && recB !== undefined && recA !== recB, 'distinct recording ids');
  t.equal(sim.zoneState(2).state, 'live');

  clock.advance(12_345);
  const stopA = await client.request({ type: 'CALL_STOP', recordingId: recA ?? '' });
  t.same(stopA.ok && { rec: stopA.value.recordingId, dur: stopA.value.durationMs }, { rec: recA, dur: 12_345 });
  await waitFor(() => events.some((e) => e.type === 'DONE'), 8000, 'DONE for the call');
  t.match(events[0], { type: 'DONE', what: 'call', zones: [1], end: 'done' });
  t.equal(sim.zoneState(1).state, 'idle');

  // An emergency takes the call's zones; the recording ends there and CALL_STOP still reports it.
  const emergency = await client.request({ type: 'PLAY', zones: [2, 3], message: 1, priority: 3, repeat: 1 });
  t.ok(emergency.ok);
  clock.advance(1000);
  const stopB = await client.request({ type: 'CALL_STOP', recordingId: recB ?? '' });
  t.same(stopB.ok && stopB.value.durationMs, 12_345);
  t.match(sim.log()[1], { kind: 'call', recordingId: recB, outcome: 'preempted' });
  t.match(sim.log()[0], { kind: 'call', recordingId: recA, outcome: 'done' });

  t.equal(code(await client.request({ type: 'CALL_STOP', recordingId: 'R999999' })), 'BAD_REQUEST', 'unknown recording');
});

void t.test('STOP, BAD_ZONE, BAD_MESSAGE', async (t) => {
  const { sim, client, events } = await rig(t);
  t.equal(code(await client.request({ type: 'PLAY', zones: [5], message: 1, priority: 1, repeat: 1 })), 'BAD_ZONE');
  t.equal(code(await client.request({ type: 'PLAY', zones: [1], message: 21, priority: 1, repeat: 1 })), 'BAD_MESSAGE');
  t.equal(code(await client.request({ type: 'STOP', zones: [9] })), 'BAD_ZONE');
  await client.request({ type: 'PLAY', zones: [1, 2], message: 1, priority: 1, repeat: 1 });
  await client.request({ type: 'CHIME', zones: [3], priority: 1 });
  const stop = await client.request({ type: 'STOP', zones: [2] });
  t.same(stop.ok && stop.value.stopped, [2]);
  t.equal(sim.zoneState(1).state, 'playing', 'other zones keep playing');
  const all = await client.request({ type: 'STOP', zones: 'all' });
  t.same(all.ok && all.value.stopped, [1, 3]);
  await waitFor(() => events.filter((e) => e.type === 'DONE').length === 3, 8000, 'DONE events');
  t.ok(events.every((e) => e.type === 'DONE' && e.end === 'stopped'));
  t.same(
    sim.log().map((e) => e.outcome),
    ['stopped', 'stopped'],
  );
});

void t.test('faults: FAULT event, requests refused, cleared', async (t) => {
  const { sim, client, events } = await rig(t);
  await client.request({ type: 'PLAY', zones: [2, 3], message: 1, priority: 1, repeat: 1 });
  sim.injectFault(3, 'amplifier 3 overheat');
  await waitFor(() => events.length >= 2, 8000, 'FAULT and DONE');
  t.same(events[0], { type: 'FAULT', seq: 0, zone: 3, text: 'amplifier 3 overheat' });
  t.match(events[1], { type: 'DONE', zones: [3], what: 'play', end: 'fault' });
  t.same(sim.zoneState(3), { zone: 3, state: 'fault', priority: 0, activityId: null, kind: null, fault: 'amplifier 3 overheat' });
  t.equal(sim.zoneState(2).state, 'playing');

  const r = await client.request({ type: 'TTS', zones: [3, 4], text: 'x', priority: 3, repeat: 1 });
  t.equal(code(r), 'FAULT');
  const st = await client.request({ type: 'STATUS' });
  t.same(st.ok && st.value.status?.[2], { zone: 3, state: 'fault', priority: 0 });

  sim.clearFault(3);
  sim.clearFault(3); // no second event
  await waitFor(() => events.some((e) => e.type === 'FAULT_CLEARED'), 8000, 'FAULT_CLEARED');
  t.equal((await client.request({ type: 'CHIME', zones: [3], priority: 1 })).ok, true);
  t.equal(events.filter((e) => e.type === 'FAULT_CLEARED').length, 1);
});

void t.test('events reach every client; garbage and invalid requests are tolerated', async (t) => {
  const { sim, events } = await rig(t);
  const raw = await rawClient(t, sim.port);
  await waitFor(() => sim.stats().clients === 2, 8000, 'two clients');

  const stx = Buffer.from([0x02]);
  raw.sock.write(Buffer.concat([Buffer.from('\xff\xfegarbage', 'latin1'), stx, Buffer.from('12|PLA')])); // noise, then a frame cut short
  raw.sock.write(frameBytes('7|PLAY|zones=1')); // well framed, invalid
  raw.sock.write(frameBytes('8|HELLO|ver=1').subarray(0, 6));
  raw.sock.write(frameBytes('8|HELLO|ver=1').subarray(6)); // split across writes
  const badCrc = Buffer.from(encode({ type: 'STATUS', seq: 9 }));
  badCrc[badCrc.length - 2] = 0x30;
  raw.sock.write(badCrc); // dropped: nobody can trust its seq
  raw.sock.write(encode({ type: 'ACK', seq: 10 })); // not a request
  raw.sock.write(encode({ type: 'STATUS', seq: 11 }));
  await waitFor(() => raw.frames.length >= 4, 8000, 'answers');
  t.match(raw.frames[0], { type: 'NAK', seq: 7, code: 'BAD_REQUEST' });
  t.match(raw.frames[1], { type: 'ACK', seq: 8, version: 1 });
  t.match(raw.frames[2], { type: 'NAK', seq: 10, code: 'BAD_REQUEST' });
  t.match(raw.frames[3], { type: 'ACK', seq: 11 });
  const st = sim.stats();
  t.ok(st.garbageBytes >= 9 && st.badFrames >= 2 && st.badRequests === 2, 'counted');

  sim.injectFault(1, 'line open');
  await waitFor(() => events.length === 1 && raw.frames.some((f) => f.type === 'FAULT'), 8000, 'event on both clients');
  t.pass('both clients saw the FAULT event');
});

void t.test('unresponsive: requests are read and dropped', async (t) => {
  const { sim } = await rig(t);
  const raw = await rawClient(t, sim.port);
  sim.setUnresponsive(true);
  raw.sock.write(encode({ type: 'STATUS', seq: 1 }));
  await waitFor(() => sim.stats().ignoredRequests === 1, 8000, 'request ignored');
  sim.setUnresponsive(false);
  raw.sock.write(encode({ type: 'STATUS', seq: 2 }));
  await waitFor(() => raw.frames.length === 1, 8000, 'answer');
  t.match(raw.frames[0], { type: 'ACK', seq: 2 });
});

void t.test('pty mode: the protocol on a socat pseudo-terminal', async (t) => {
  if (findSocat() === null) throw new Error('socat is required for the pty test (apt-get install socat)');
  const clock = new ManualClock(0);
  const sim = await startPaSimulator({ port: 0, zones: 2, pty: true, clock, log });
  t.teardown(() => sim.stop());
  t.type(sim.ptyPath, 'string');
  const port = new SerialPort({ path: sim.ptyPath ?? '', baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  t.teardown(() => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())));
  const frames: PaFrame[] = [];
  const decoder = createDecoder();
  port.on('data', (c: Buffer) => frames.push(...decoder.push(c).frames));
  port.write(Buffer.concat([Buffer.from('noise'), encode({ type: 'TTS', seq: 3, zones: [2], text: '开标结束', priority: 2, repeat: 1 })]));
  await waitFor(() => frames.length >= 1, 8000, 'answer over the pty');
  t.match(frames[0], { type: 'ACK', seq: 3 });
  sim.injectFault(1, 'x');
  await waitFor(() => frames.length >= 2, 8000, 'event over the pty');
  t.match(frames[1], { type: 'FAULT', zone: 1 });
  t.match(sim.log()[0], { kind: 'tts', text: '开标结束', zones: [2] });
});

void t.test('pty mode without socat on PATH rejects clearly', async (t) => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent-dir';
  t.teardown(() => {
    process.env.PATH = saved;
  });
  await t.rejects(startPaSimulator({ port: 0, zones: 1, pty: true, clock: new ManualClock(0), log }), /socat.*not on PATH/);
});

void t.test('a taken port rejects', async (t) => {
  const clock = new ManualClock(0);
  const sim = await startPaSimulator({ port: 0, zones: 1, clock, log });
  t.teardown(() => sim.stop());
  await t.rejects(startPaSimulator({ port: sim.port, zones: 1, clock, log }), { code: 'EADDRINUSE' });
  t.equal(sim.zoneState(7).state, 'fault', 'an unknown zone reads as fault');
});
