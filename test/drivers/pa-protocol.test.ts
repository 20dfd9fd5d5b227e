import t from 'tap';
import fc from 'fast-check';
import { deepStrictEqual } from 'node:assert/strict';
import {
  ETX,
  MAX_PAYLOAD_BYTES,
  PaEncodeError,
  STX,
  crc16,
  createDecoder,
  createPayloadDecoder,
  encode,
  encodePayload,
  frameBytes,
  isEvent,
  isRequest,
  isResponse,
  paCodec,
  parsePayload,
  type PaFrame,
} from '../../drivers/pa-protocol.js';

const samples: PaFrame[] = [
  { type: 'HELLO', seq: 1, versions: [1, 2] },
  { type: 'STATUS', seq: 2 },
  { type: 'PLAY', seq: 3, zones: [1, 2, 4], message: 12, priority: 2, repeat: 3 },
  { type: 'TTS', seq: 4, zones: [3], text: '请注意：评标区内禁止使用手机，违者将被记录。', priority: 2, repeat: 1 },
  { type: 'TTS', seq: 5, zones: [1], text: 'pipe | equals = percent % newline\n tab\t end', priority: 1, repeat: 2 },
  { type: 'CALL_START', seq: 6, zones: [1, 2], priority: 3 },
  { type: 'CALL_STOP', seq: 7, recordingId: 'R000042' },
  { type: 'CHIME', seq: 8, zones: [2], priority: 1 },
  { type: 'STOP', seq: 9, zones: 'all' },
  { type: 'STOP', seq: 10, zones: [2, 3] },
  { type: 'ACK', seq: 1, version: 1, zoneCount: 8, model: '模拟 PA-1' },
  {
    type: 'ACK',
    seq: 2,
    status: [
      { zone: 1, state: 'idle', priority: 0 },
      { zone: 2, state: 'playing', priority: 2 },
      { zone: 3, state: 'live', priority: 3 },
      { zone: 4, state: 'fault', priority: 0 },
    ],
  },
  { type: 'ACK', seq: 6, activityId: 17, recordingId: 'R000042' },
  { type: 'ACK', seq: 7, recordingId: 'R000042', durationMs: 12345 },
  { type: 'ACK', seq: 9, stopped: [] },
  { type: 'ACK', seq: 65535 },
  { type: 'NAK', seq: 3, code: 'BUSY', text: 'zone 2 busy', zones: [2] },
  { type: 'NAK', seq: 4, code: 'BAD_ZONE', zones: [9] },
  { type: 'NAK', seq: 5, code: 'BAD_MESSAGE' },
  { type: 'NAK', seq: 6, code: 'BAD_REQUEST', text: '缺少字段' },
  { type: 'NAK', seq: 7, code: 'FAULT', zones: [4] },
  { type: 'FAULT', seq: 0, zone: 4, text: '功放过热 (amplifier overheat)' },
  { type: 'FAULT_CLEARED', seq: 0, zone: 4 },
  { type: 'DONE', seq: 0, zones: [1, 2], what: 'play', activityId: 17, end: 'done' },
  { type: 'DONE', seq: 0, zones: [3], what: 'call', activityId: 18, end: 'stopped' },
  { type: 'PREEMPTED', seq: 0, zones: [2], what: 'tts', activityId: 17, by: 'call', byActivityId: 19, priority: 3 },
];

function decodeAll(chunks: Buffer[]): { frames: PaFrame[]; garbageBytes: number; badFrames: number } {
  const d = createDecoder();
  const out = { frames: [] as PaFrame[], garbageBytes: 0, badFrames: 0 };
  for (const c of chunks) {
    const r = d.push(c);
    out.frames.push(...r.frames);
    out.garbageBytes += r.garbageBytes;
    out.badFrames += r.badFrames;
  }
  return out;
}

void t.test('CRC-16/CCITT-FALSE check value', async (t) => {
  t.equal(crc16(Buffer.from('123456789', 'ascii')), 0x29b1);
});

void t.test('byte-level example from docs/pa-protocol.md', async (t) => {
  const bytes = encode({ type: 'PLAY', seq: 7, zones: [1, 3], message: 12, priority: 2, repeat: 1 });
  t.equal(bytes.toString('latin1'), '\x027|PLAY|zones=1,3|msg=12|prio=2|repeat=1*D13C\x03');
  t.equal(bytes[0], STX);
  t.equal(bytes[bytes.length - 1], ETX);
});

void t.test('every frame type round-trips, Chinese text included', async (t) => {
  for (const f of samples) {
    const r = decodeAll([encode(f)]);
    t.same(r.frames, [f], f.type);
    t.equal(r.garbageBytes, 0);
    t.equal(r.badFrames, 0);
  }
  t.same(paCodec.createDecoder().push(paCodec.encode(samples[0] as PaFrame)).frames, [samples[0]]);
});

void t.test('Chinese text travels as raw UTF-8, reserved characters escaped', async (t) => {
  const payload = encodePayload({ type: 'TTS', seq: 1, zones: [1], text: '请|=%安静', priority: 2, repeat: 1 });
  t.equal(payload, '1|TTS|zones=1|prio=2|repeat=1|text=请%7C%3D%25安静');
});

void t.test('frame classification', async (t) => {
  t.ok(isRequest({ type: 'STATUS', seq: 1 }));
  t.ok(isResponse({ type: 'ACK', seq: 1 }));
  t.ok(isEvent({ type: 'FAULT_CLEARED', seq: 0, zone: 1 }));
  t.notOk(isEvent({ type: 'ACK', seq: 1 }));
});

void t.test('resynchronises after garbage', async (t) => {
  const f: PaFrame = { type: 'STATUS', seq: 5 };
  const r = decodeAll([Buffer.concat([Buffer.from('noise\x03\xff\x00', 'latin1'), encode(f), Buffer.from('tail')])]);
  t.same(r.frames, [f]);
  t.equal(r.garbageBytes, 8 + 4);
  t.equal(r.badFrames, 0);
});

void t.test('a frame split across chunks, down to single bytes', async (t) => {
  const f = samples[3] as PaFrame;
  const bytes = encode(f);
  const chunks = [...bytes].map((b) => Buffer.from([b]));
  t.same(decodeAll(chunks).frames, [f]);
  t.same(decodeAll([bytes.subarray(0, 10), bytes.subarray(10)]).frames, [f]);
});

void t.test('a truncated frame is abandoned at the next STX', async (t) => {
  const a = encode({ type: 'STATUS', seq: 1 });
  const b: PaFrame = { type: 'CHIME', seq: 2, zones: [1], priority: 1 };
  const r = decodeAll([a.subarray(0, a.length - 3), encode(b)]);
  t.same(r.frames, [b]);
  t.equal(r.badFrames, 1);
});

void t.test('a bad checksum drops the frame and keeps the next one', async (t) => {
  const bad = Buffer.from(encode({ type: 'STATUS', seq: 1 }));
  bad[3] = 0x39; // seq digit changed, CRC now wrong
  const good: PaFrame = { type: 'STATUS', seq: 2 };
  const r = decodeAll([bad, encode(good)]);
  t.same(r.frames, [good]);
  t.equal(r.badFrames, 1);
});

void t.test('malformed trailers, control bytes, invalid UTF-8 and oversize frames are bad frames', async (t) => {
  const d = createPayloadDecoder();
  const wrap = (body: Buffer): Buffer => Buffer.concat([Buffer.from([STX]), body, Buffer.from([ETX])]);
  t.equal(d.push(wrap(Buffer.from('1|STATUS'))).badFrames, 1, 'no CRC');
  t.equal(d.push(wrap(Buffer.from('1|STATUS*12G4'))).badFrames, 1, 'non-hex CRC');
  const ctl = Buffer.from('1|STA\x01TUS');
  t.equal(d.push(wrap(Buffer.concat([ctl, Buffer.from(`*${crc16(ctl).toString(16).toUpperCase().padStart(4, '0')}`)]))).badFrames, 1, 'control byte');
  const notUtf8 = Buffer.from([0x31, 0x7c, 0xc3, 0x28]);
  t.equal(d.push(wrap(Buffer.concat([notUtf8, Buffer.from(`*${crc16(notUtf8).toString(16).toUpperCase().padStart(4, '0')}`)]))).badFrames, 1, 'bad UTF-8');
  const big = d.push(Buffer.concat([Buffer.from([STX]), Buffer.alloc(MAX_PAYLOAD_BYTES + 100, 0x41), Buffer.from([ETX])]));
  t.equal(big.badFrames, 1, 'oversize');
  t.same(d.push(encode({ type: 'STATUS', seq: 3 })).frames, ['3|STATUS'], 'recovers after all of that');
  t.throws(() => frameBytes('x'.repeat(MAX_PAYLOAD_BYTES + 1)), PaEncodeError);
});

void t.test('well-framed but invalid payloads: parse failures keep the seq for a NAK', async (t) => {
  const cases: [string, number | null][] = [
    ['7|PLAY|zones=1', 7],
    ['8|FOO', 8],
    ['9|PLAY|zones=1|msg=1|prio=0', 9],
    ['10|PLAY|zones=0|msg=1|prio=1', 10],
    ['11|PLAY|zones=1|msg=01|prio=1', 11],
    ['12|TTS|zones=1|prio=1|text=', 12],
    ['13|TTS|zones=1|prio=1|text=a%4', 13],
    ['14|TTS|zones=1|prio=1|text=a%E4', 14],
    ['15|STATUS|a=1|a=2', 15],
    ['16|STATUS|novalue', 16],
    ['17|NAK|code=NOPE', 17],
    ['18|ACK|status=1:sleeping:0', 18],
    ['19|CALL_STOP|rec=bad id', 19],
    ['0|PLAY|zones=1|msg=1|prio=1', 0],
    ['5|FAULT|zone=1|text=x', 5],
    ['x|STATUS', null],
    ['99999|STATUS', null],
    ['1', 1],
  ];
  for (const [payload, seq] of cases) {
    const r = parsePayload(payload);
    t.notOk(r.ok, payload);
    if (!r.ok) t.equal(r.seq, seq, payload);
  }
  // Versioning rule: unknown fields are ignored, so v1 can grow optional fields.
  t.same(parsePayload('4|STATUS|future=yes'), { ok: true, frame: { type: 'STATUS', seq: 4 } });
  // An unparsable frame counts as bad in the typed decoder.
  t.equal(createDecoder().push(frameBytes('8|FOO')).badFrames, 1);
});

void t.test('encode refuses frames outside the protocol limits', async (t) => {
  const bad: PaFrame[] = [
    { type: 'PLAY', seq: 1, zones: [], message: 1, priority: 1, repeat: 1 },
    { type: 'PLAY', seq: 1, zones: [1], message: 1, priority: 10, repeat: 1 },
    { type: 'PLAY', seq: 0, zones: [1], message: 1, priority: 1, repeat: 1 },
    { type: 'TTS', seq: 1, zones: [1], text: '', priority: 1, repeat: 1 },
    { type: 'TTS', seq: 1, zones: [1], text: 'lone \ud800 surrogate', priority: 1, repeat: 1 },
    { type: 'CALL_STOP', seq: 1, recordingId: 'no spaces' },
    { type: 'HELLO', seq: 1, versions: [] },
    { type: 'TTS', seq: 1, zones: [1], text: '长'.repeat(400), priority: 1, repeat: 1 },
  ];
  for (const f of bad) t.throws(() => encode(f), PaEncodeError, f.type);
  t.throws(() => encode({ type: 'FAULT_CLEARED', seq: 3 as 0, zone: 1 }), PaEncodeError, 'events carry seq 0');
});

// ---------------------------------------------------------------------------------------------
// Property tests

// fast-check builds records with a null prototype; decoded frames are plain objects.
const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

const seqArb = fc.integer({ min: 1, max: 65535 });
const zonesArb = fc.array(fc.integer({ min: 1, max: 999 }), { minLength: 1, maxLength: 8 });
const prioArb = fc.integer({ min: 1, max: 9 });
const textArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 60 });
const kindArb = fc.constantFrom('play' as const, 'tts' as const, 'chime' as const, 'call' as const);
const recArb = fc.stringMatching(/^[A-Za-z0-9-]{1,32}$/);
const idArb = fc.integer({ min: 1, max: 2 ** 31 - 1 });

const frameArb: fc.Arbitrary<PaFrame> = fc.oneof(
  fc.record({ type: fc.constant('HELLO' as const), seq: seqArb, versions: fc.array(fc.integer({ min: 1, max: 999 }), { minLength: 1, maxLength: 4 }) }),
  fc.record({ type: fc.constant('STATUS' as const), seq: seqArb }),
  fc.record({
    type: fc.constant('PLAY' as const),
    seq: seqArb,
    zones: zonesArb,
    message: fc.integer({ min: 1, max: 9999 }),
    priority: prioArb,
    repeat: fc.integer({ min: 1, max: 10 }),
  }),
  fc.record({ type: fc.constant('TTS' as const), seq: seqArb, zones: zonesArb, text: textArb, priority: prioArb, repeat: fc.integer({ min: 1, max: 10 }) }),
  fc.record({ type: fc.constant('CALL_START' as const), seq: seqArb, zones: zonesArb, priority: prioArb }),
  fc.record({ type: fc.constant('CALL_STOP' as const), seq: seqArb, recordingId: recArb }),
  fc.record({ type: fc.constant('CHIME' as const), seq: seqArb, zones: zonesArb, priority: prioArb }),
  fc.record({ type: fc.constant('STOP' as const), seq: seqArb, zones: fc.oneof(fc.constant('all' as const), zonesArb) }),
  fc.record(
    {
      type: fc.constant('ACK' as const),
      seq: seqArb,
      version: fc.integer({ min: 1, max: 999 }),
      zoneCount: fc.integer({ min: 0, max: 999 }),
      model: fc.string({ unit: 'binary', maxLength: 20 }),
      status: fc.array(
        fc.record({
          zone: fc.integer({ min: 1, max: 999 }),
          state: fc.constantFrom('idle' as const, 'playing' as const, 'live' as const, 'fault' as const),
          priority: fc.integer({ min: 0, max: 9 }),
        }),
        { maxLength: 6 },
      ),
      activityId: idArb,
      recordingId: recArb,
      durationMs: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      stopped: fc.array(fc.integer({ min: 1, max: 999 }), { maxLength: 6 }),
    },
    { requiredKeys: ['type', 'seq'] },
  ),
  fc.record(
    {
      type: fc.constant('NAK' as const),
      seq: seqArb,
      code: fc.constantFrom('BUSY' as const, 'BAD_ZONE' as const, 'BAD_MESSAGE' as const, 'BAD_REQUEST' as const, 'FAULT' as const),
      text: fc.string({ unit: 'binary', maxLength: 30 }),
      zones: zonesArb,
    },
    { requiredKeys: ['type', 'seq', 'code'] },
  ),
  fc.record({ type: fc.constant('FAULT' as const), seq: fc.constant(0 as const), zone: fc.integer({ min: 1, max: 999 }), text: fc.string({ unit: 'binary', maxLength: 30 }) }),
  fc.record({ type: fc.constant('FAULT_CLEARED' as const), seq: fc.constant(0 as const), zone: fc.integer({ min: 1, max: 999 }) }),
  fc.record({
    type: fc.constant('DONE' as const),
    seq: fc.constant(0 as const),
    zones: zonesArb,
    what: kindArb,
    activityId: idArb,
    end: fc.constantFrom('done' as const, 'stopped' as const, 'fault' as const),
  }),
  fc.record({
    type: fc.constant('PREEMPTED' as const),
    seq: fc.constant(0 as const),
    zones: zonesArb,
    what: kindArb,
    activityId: idArb,
    by: kindArb,
    byActivityId: idArb,
    priority: prioArb,
  }),
);

void t.test('property: random frames round-trip', async (t) => {
  fc.assert(
    fc.property(frameArb, (f) => {
      const r = decodeAll([encode(f)]);
      deepStrictEqual(r, { frames: [plain(f)], garbageBytes: 0, badFrames: 0 });
    }),
    { numRuns: 500 },
  );
  t.pass('500 random frames round-tripped');
});

void t.test('property: garbage between frames never loses a frame that starts after it', async (t) => {
  const garbageArb = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    // Garbage that looks like protocol: stray STX/ETX, digits, separators.
    fc.array(fc.constantFrom(STX, ETX, 0x7c, 0x2a, 0x31, 0x3d, 0x41), { maxLength: 20 }).map((a) => Uint8Array.from(a)),
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(garbageArb, frameArb), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
      (segments, cuts) => {
        const stream = Buffer.concat(segments.flatMap(([g, f]) => [Buffer.from(g), encode(f)]));
        const chunks: Buffer[] = [];
        let pos = 0;
        for (let i = 0; pos < stream.length; i++) {
          const n = cuts[i % cuts.length] ?? 1;
          chunks.push(stream.subarray(pos, pos + n));
          pos += n;
        }
        deepStrictEqual(decodeAll(chunks).frames, plain(segments.map(([, f]) => f)));
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 noisy streams decoded without losing a frame');
});
