/**
 * fast-check over what the PA controller's side of the line sends: random bytes, truncated
 * and oversized frames, frames with a wrong checksum, frames with a right checksum and bad
 * fields, and well-formed frames nobody asked for (answers to no request, ends of
 * activities the hub never started). Written by the simulator's end of a real socat pty (and
 * of the TCP line) to the hub's PA link. The hub stays up, says so once (not per byte or per
 * chunk), changes nothing (no zone state, nothing recorded as played, no confirmation
 * invented for a request whose answer was mangled), and the next valid frame works: a real
 * warning still plays and is confirmed.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { ETX, STX, MAX_PAYLOAD_BYTES, encode, frameBytes, parsePayload, type PaFrame } from '../../drivers/pa-protocol.js';
import { captureLogs } from '../fixtures/logs.js';
import { MESSAGE_MS, TIMEOUT_MS, startBroadcastHub, type BroadcastHub, type BroadcastTransport } from '../helpers/broadcast-hub.js';
import { waitFor } from '../helpers/wait.js';

// A few seconds on an idle machine; much more on a loaded shared one (tap's default is 30 s).
t.setTimeout(240_000);

const unhandled: unknown[] = [];
process.on('unhandledRejection', (e) => unhandled.push(e));

const W = '/api/broadcast/warnings';
/** Warnings are rate-limited per target; the fuzz sends many on purpose. */
const BROADCAST = '  rateLimit: { max: 1000, windowSeconds: 60 }\n  warningWaitMs: 0\n  emergency: { fireAlarmMessageId: 20, repeat: 2 }';

const zones = fc.uniqueArray(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 });
const kind = fc.constantFrom('play', 'tts', 'chime', 'call' as const);
/** Activity ids around the ones the simulator hands out (from 1 up), so "future" ids come up. */
const activityId = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }));
const seq = fc.integer({ min: 1, max: 65535 });

/** Well-formed frames that must change nothing: no request is pending, no such activity runs. */
const unsolicited: fc.Arbitrary<PaFrame> = fc.oneof(
  fc.record({ type: fc.constant('ACK' as const), seq, activityId: fc.option(activityId, { nil: undefined }) }).map((f) => (f.activityId === undefined ? { type: f.type, seq: f.seq } : f)),
  fc.record({ type: fc.constant('NAK' as const), seq, code: fc.constantFrom('BUSY', 'BAD_ZONE', 'BAD_MESSAGE', 'BAD_REQUEST', 'FAULT' as const) }),
  fc.record({ type: fc.constant('DONE' as const), seq: fc.constant(0 as const), zones, what: kind, activityId, end: fc.constantFrom('done', 'stopped', 'fault' as const) }),
  fc.record({
    type: fc.constant('PREEMPTED' as const),
    seq: fc.constant(0 as const),
    zones,
    what: kind,
    activityId,
    by: kind,
    byActivityId: activityId,
    priority: fc.integer({ min: 1, max: 9 }),
  }),
);

const printable = fc.string({ unit: fc.constantFrom(...'0123456789|=%*,:-abcXYZ ACKNDOEFTUPLYRSMH请安静'.split('')), maxLength: 60 });

/** A payload with a right checksum that does not parse (kept only when parsePayload refuses it). */
const badFields = fc.oneof(
  printable,
  fc.tuple(unsolicited, fc.nat(), printable).map(([f, at, junk]) => {
    const p = encode(f).toString('utf8').slice(1, -6);
    const cut = at % (p.length + 1);
    return p.slice(0, cut) + junk + p.slice(cut);
  }),
  fc.tuple(fc.constantFrom('ACK', 'NAK', 'DONE', 'PREEMPTED', 'FAULT', 'FAULT_CLEARED'), printable).map(([verb, rest]) => `${verb === 'ACK' || verb === 'NAK' ? 1 : 0}|${verb}|${rest}`),
).filter((p) => Buffer.byteLength(p) <= MAX_PAYLOAD_BYTES && !parsePayload(p).ok);

function withBadCrc(frame: Buffer, flip: number): Buffer {
  const out = Buffer.from(frame);
  const at = out.length - 2 - (flip % 4);
  out[at] = out[at] === 0x30 ? 0x31 : 0x30;
  return out;
}

/** One piece of line noise. */
const piece: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.tuple(unsolicited, fc.nat()).map(([f, n]) => {
    const bytes = encode(f);
    return bytes.subarray(0, 1 + (n % (bytes.length - 2))); // cut before its ETX
  }),
  fc.tuple(unsolicited, fc.nat()).map(([f, n]) => withBadCrc(encode(f), n)),
  badFields.map((p) => frameBytes(p)),
  fc.integer({ min: MAX_PAYLOAD_BYTES + 1, max: 3 * MAX_PAYLOAD_BYTES }).map((n) => Buffer.concat([Buffer.from([STX]), Buffer.alloc(n, 0x41), Buffer.from('*0000'), Buffer.from([ETX])])),
  unsolicited.map((f) => encode(f)),
);
const noise = fc.array(piece, { minLength: 1, maxLength: 5 }).map((ps) => Buffer.concat(ps));

/** What the fuzz must not change: zone states and faults, the link, what the hub recorded. */
function visible(b: BroadcastHub): string {
  const s = b.device.snapshot();
  const n = (b.hub.store.db.prepare("SELECT COUNT(*) AS n FROM events WHERE type LIKE 'broadcast.%'").get() as { n: number }).n;
  return JSON.stringify({ zones: s.zones, faulted: s.faultedZones, link: s.link, available: b.device.isAvailable(), broadcastEvents: n });
}

async function inject(b: BroadcastHub, bytes: Buffer): Promise<void> {
  const target = b.device.link.stats().bytesIn + bytes.length;
  b.sim.injectRaw(bytes);
  await waitFor(() => b.device.link.stats().bytesIn >= target, 8000, 'the noise read by the hub');
}

/** A real warning on room 2: confirmed, played on the controller, and still playing on the hub's view. */
async function realWarning(t: Test, b: BroadcastHub, label: string): Promise<boolean> {
  const played = b.sim.log().length;
  const r = await b.call('POST', W, 'sup1', { room: 'room-2', messageId: 1, reason: label });
  const ok = r.status === 200 && r.body.confirmed === true && b.sim.log().length === played + 1 && b.sim.log()[played]?.outcome === 'active' && b.device.zone(2)?.state === 'playing';
  if (!ok) t.comment(`${label}: ${r.status} ${JSON.stringify(r.body)} zone 2 ${JSON.stringify(b.device.zone(2))}`);
  // Let it play out, so the next one starts on an idle zone.
  await b.advance(MESSAGE_MS);
  await waitFor(() => b.device.zone(2)?.state === 'idle', 8000, 'the warning played out');
  return ok;
}

for (const tr of ['pty', 'tcp'] as BroadcastTransport[]) {
  void t.test(`${tr}: line noise changes nothing, is logged once, and the next valid frame works`, async (t) => {
    const logs = captureLogs('info');
    const b = await startBroadcastHub(t, tr, { broadcast: BROADCAST, log: logs.log });
    t.ok(await realWarning(t, b, 'before the noise'), 'a warning works before');
    const base = visible(b);
    const stats0 = b.device.link.stats();
    const logLines0 = logs.records().length;
    let bytes = 0;
    await fc.assert(
      fc.asyncProperty(noise, async (n) => {
        bytes += n.length;
        await inject(b, n);
        return visible(b) === base && b.hub.isReady();
      }),
      { numRuns: tr === 'pty' ? 80 : 120 },
    );
    const stats = b.device.link.stats();
    t.ok(stats.garbageBytes + stats.badFrames > stats0.garbageBytes + stats0.badFrames, `noise counted (${stats.garbageBytes - stats0.garbageBytes} bytes, ${stats.badFrames - stats0.badFrames} bad frames of ${bytes} bytes)`);
    const lines = logs.records().slice(logLines0);
    t.equal(lines.filter((l) => l.msg === 'line noise: bytes discarded').length, 1, 'the noise is logged once at warn');
    t.ok(lines.length <= 3, `no log line per chunk (${lines.length}: ${[...new Set(lines.map((l) => l.msg))].join(' / ')})`);
    t.ok(await realWarning(t, b, 'after the noise'), 'a warning still plays and is confirmed');
    t.ok(await realWarning(t, b, 'and the next'), 'and the next one');
    t.same(b.hub.events.query({ type: 'broadcast.preempted' }), [], 'no warning recorded as preempted by a frame nobody sent');
    t.same(unhandled, [], 'no unhandled rejection');
  });
}

void t.test('pty: a mangled answer to a pending warning confirms nothing; the link works after', async (t) => {
  const b = await startBroadcastHub(t, 'pty', { broadcast: BROADCAST });
  const written: string[] = [];
  b.device.link.onBytesWritten((bytes) => written.push(bytes.toString('utf8')));
  t.ok(await realWarning(t, b, 'before'), 'a warning works before');
  let round = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('crc', 'cut', 'fields', 'wrong-seq'), fc.nat(), printable), { minLength: 1, maxLength: 4 }), async (mangles) => {
      round++;
      b.sim.setUnresponsive(true); // the controller reads the request; only the mangled answers reach the hub
      const sent = written.length;
      const pending = b.call('POST', W, 'sup1', { room: 'room-2', messageId: 1, reason: `mangled ${round}` });
      await waitFor(() => written.length > sent, 8000, 'the request on the line');
      const s = Number(/^(\d+)\|/.exec((written[sent] ?? '').slice(1))?.[1]); // after the STX
      const ack = encode({ type: 'ACK', seq: s, activityId: 1000 + round });
      const bytes = mangles.map(([how, n, junk]) => {
        if (how === 'crc') return withBadCrc(ack, n);
        if (how === 'cut') return ack.subarray(0, 1 + (n % (ack.length - 2)));
        if (how === 'wrong-seq') return encode({ type: 'ACK', seq: s === 65535 ? 1 : s + 1, activityId: 1000 + round });
        const p = `${s}|ACK|id=${junk}`;
        return parsePayload(p).ok || Buffer.byteLength(p) > MAX_PAYLOAD_BYTES ? withBadCrc(ack, n) : frameBytes(p);
      });
      await inject(b, Buffer.concat(bytes));
      b.clock.advance(TIMEOUT_MS);
      const r = await pending;
      b.sim.setUnresponsive(false);
      const rows = b.hub.events.query({ type: 'broadcast.warning' }).filter((e) => e.data.reason === `mangled ${round}`);
      const refused = r.status !== 200 && r.body.confirmed !== true && rows.length === 1 && rows[0]?.data.confirmed === false;
      if (!refused) t.comment(`round ${round}: ${r.status} ${JSON.stringify(r.body)} ${JSON.stringify(rows.map((e) => e.data))}`);
      return refused && (await realWarning(t, b, `after ${round}`));
    }),
    { numRuns: 12 },
  );
  t.ok(b.device.isAvailable(), 'the controller is available');
  t.same(unhandled, [], 'no unhandled rejection');
});

void t.test('tcp: a stray DONE or PREEMPTED for the id the controller gives next ends nothing', async (t) => {
  // Found by the fuzz above: ends of unknown activities were kept (up to 64) as "early
  // ends", and the next activity that got that id was ended the moment its ACK came in:
  // the warning looked played out (or preempted) while the controller was still playing it.
  const b = await startBroadcastHub(t, 'tcp', { broadcast: BROADCAST });
  t.ok(await realWarning(t, b, 'first'), 'a warning works');
  const next = (b.sim.log().at(-1)?.activityId ?? 0) + 1;
  await inject(
    b,
    Buffer.concat([
      encode({ type: 'PREEMPTED', seq: 0, zones: [2], what: 'play', activityId: next, by: 'tts', byActivityId: next + 5, priority: 3 }),
      encode({ type: 'DONE', seq: 0, zones: [2], what: 'play', activityId: next + 1, end: 'done' }),
    ]),
  );
  t.ok(await realWarning(t, b, 'second'), `the warning with activity ${next} is still playing on the hub's view`);
  t.equal(b.sim.log().at(-1)?.activityId, next, 'it got the id of the stray PREEMPTED');
  t.ok(await realWarning(t, b, 'third'), 'the next one, which got the id of the stray DONE, plays too');
  t.equal(b.sim.log().at(-1)?.activityId, next + 1);
  t.same(b.hub.events.query({ type: 'broadcast.preempted' }), [], 'nothing recorded as preempted');
});
