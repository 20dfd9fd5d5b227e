/**
 * FHPA/1: the control protocol between the hub and the call/broadcast (PA) controller, and
 * the client that speaks it over a SerialLink. Everything protocol-specific lives in this one
 * adapter, so a vendor's protocol can sit beside it later behind the same typed calls.
 * The wire format is specified in docs/pa-protocol.md; keep the two in step.
 *
 * Frame: STX payload '*' CRC ETX
 *   - STX 0x02 and ETX 0x03 never occur inside a frame (the payload has no control characters,
 *     and UTF-8 multi-byte sequences only use bytes >= 0x80), so a receiver resynchronises at the
 *     next STX after any garbage or truncated frame, with no escaping.
 *   - CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of the payload bytes, 4 uppercase hex.
 *   - payload is UTF-8: `seq|VERB|key=value|key=value...`; in values `%`, `|`, `=` and control
 *     characters are percent-encoded; everything else (Chinese text included) is sent as is.
 */
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import { fail, ok, type Result } from '../kernel/result.js';
import type { DecodeResult, FrameCodec, FrameDecoder, LinkState, SerialLink } from './serial-link.js';
import { RequestTracker } from './request-tracker.js';

export const PA_PROTOCOL_VERSION = 1;
export const PA_SUPPORTED_VERSIONS: readonly number[] = [1];

export const STX = 0x02;
export const ETX = 0x03;
/** Largest payload (bytes between STX and '*'): bounds memory on a noisy line; ~300 Chinese characters of TTS. */
export const MAX_PAYLOAD_BYTES = 1024;
export const MIN_PRIORITY = 1;
export const MAX_PRIORITY = 9;
export const MAX_REPEAT = 10;
export const MAX_ZONE = 999;
/** Requests use 1..MAX_SEQ; 0 marks an unsolicited event. */
export const MAX_SEQ = 65535;

/** Conventional priorities (higher wins); the controller enforces them, the hub picks them. */
export const PA_PRIORITY = { scheduled: 1, warning: 2, emergency: 3 } as const;

export type PaActivityKind = 'play' | 'tts' | 'chime' | 'call';
export type PaZoneState = 'idle' | 'playing' | 'live' | 'fault';
export type PaErrorCode = 'BUSY' | 'BAD_ZONE' | 'BAD_MESSAGE' | 'BAD_REQUEST' | 'FAULT';
export const PA_ERROR_CODES: readonly PaErrorCode[] = ['BUSY', 'BAD_ZONE', 'BAD_MESSAGE', 'BAD_REQUEST', 'FAULT'];

export interface PaZoneStatus {
  zone: number;
  state: PaZoneState;
  /** Priority of what the zone is doing; 0 when idle or faulted. */
  priority: number;
}

export type PaRequest =
  | { type: 'HELLO'; seq: number; versions: number[] }
  | { type: 'STATUS'; seq: number }
  | { type: 'PLAY'; seq: number; zones: number[]; message: number; priority: number; repeat: number }
  | { type: 'TTS'; seq: number; zones: number[]; text: string; priority: number; repeat: number }
  | { type: 'CALL_START'; seq: number; zones: number[]; priority: number }
  | { type: 'CALL_STOP'; seq: number; recordingId: string }
  | { type: 'CHIME'; seq: number; zones: number[]; priority: number }
  | { type: 'STOP'; seq: number; zones: number[] | 'all' };

export interface PaAck {
  type: 'ACK';
  seq: number;
  /** HELLO: the version the controller chose. */
  version?: number;
  /** HELLO: how many zones (numbered 1..zoneCount). */
  zoneCount?: number;
  /** HELLO: free-text model / firmware. */
  model?: string;
  /** STATUS: every zone. */
  status?: PaZoneStatus[];
  /** PLAY, TTS, CHIME, CALL_START: the activity id that later DONE/PREEMPTED events name. */
  activityId?: number;
  /** CALL_START, CALL_STOP. */
  recordingId?: string;
  /** CALL_STOP: length of the recording. */
  durationMs?: number;
  /** STOP: zones that had something to stop. */
  stopped?: number[];
}

export interface PaNak {
  type: 'NAK';
  seq: number;
  code: PaErrorCode;
  text?: string;
  /** BUSY, BAD_ZONE, FAULT: the zones that caused the refusal. */
  zones?: number[];
}

export type PaResponse = PaAck | PaNak;

export type PaEvent =
  | { type: 'FAULT'; seq: 0; zone: number; text: string }
  | { type: 'FAULT_CLEARED'; seq: 0; zone: number }
  | { type: 'DONE'; seq: 0; zones: number[]; what: PaActivityKind; activityId: number; end: 'done' | 'stopped' | 'fault' }
  | {
      type: 'PREEMPTED';
      seq: 0;
      zones: number[];
      what: PaActivityKind;
      activityId: number;
      by: PaActivityKind;
      byActivityId: number;
      priority: number;
    };

export type PaFrame = PaRequest | PaResponse | PaEvent;

/** A request without its sequence number: the client assigns it. */
export type PaCommand = PaRequest extends infer R ? (R extends unknown ? Omit<R, 'seq'> : never) : never;

const REQUEST_TYPES = new Set(['HELLO', 'STATUS', 'PLAY', 'TTS', 'CALL_START', 'CALL_STOP', 'CHIME', 'STOP']);
const EVENT_TYPES = new Set(['FAULT', 'FAULT_CLEARED', 'DONE', 'PREEMPTED']);
const ACTIVITY_KINDS: readonly PaActivityKind[] = ['play', 'tts', 'chime', 'call'];
const ZONE_STATES: readonly PaZoneState[] = ['idle', 'playing', 'live', 'fault'];
const RECORDING_ID = /^[A-Za-z0-9-]{1,32}$/;

export function isRequest(f: PaFrame): f is PaRequest {
  return REQUEST_TYPES.has(f.type);
}
export function isResponse(f: PaFrame): f is PaResponse {
  return f.type === 'ACK' || f.type === 'NAK';
}
export function isEvent(f: PaFrame): f is PaEvent {
  return f.seq === 0 && EVENT_TYPES.has(f.type);
}

// ---------------------------------------------------------------------------------------------
// Checksum

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    table[i] = c;
  }
  return table;
})();

/** CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final xor ("123456789" → 0x29B1). */
export function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ b) & 0xff] ?? 0);
  return crc;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Thrown by encode() for a frame that violates the protocol's limits; SerialLink maps it to 'invalid-argument'. */
export class PaEncodeError extends RangeError {
  override name = 'PaEncodeError';
}

function escapeValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/[%|=\x00-\x1f\x7f]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
}

function checkInt(name: string, v: number, min: number, max: number): string {
  if (!Number.isInteger(v) || v < min || v > max) throw new PaEncodeError(`${name} must be an integer ${min}..${max}, got ${v}`);
  return String(v);
}

function zonesValue(zones: number[]): string {
  if (zones.length === 0) throw new PaEncodeError('zones must not be empty');
  return zones.map((z) => checkInt('zone', z, 1, MAX_ZONE)).join(',');
}

function textValue(name: string, text: string): string {
  // A lone surrogate cannot be UTF-8 encoded: it would silently become U+FFFD on the wire.
  if (/\p{Cs}/u.test(text)) throw new PaEncodeError(`${name} is not well-formed Unicode`);
  return escapeValue(text);
}

function fieldsOf(f: PaFrame): [string, string | undefined][] {
  switch (f.type) {
    case 'HELLO':
      if (f.versions.length === 0) throw new PaEncodeError('versions must not be empty');
      return [['ver', f.versions.map((v) => checkInt('version', v, 1, 999)).join(',')]];
    case 'STATUS':
      return [];
    case 'PLAY':
      return [
        ['zones', zonesValue(f.zones)],
        ['msg', checkInt('message', f.message, 1, 9999)],
        ['prio', checkInt('priority', f.priority, MIN_PRIORITY, MAX_PRIORITY)],
        ['repeat', checkInt('repeat', f.repeat, 1, MAX_REPEAT)],
      ];
    case 'TTS':
      if (f.text.length === 0) throw new PaEncodeError('text must not be empty');
      return [
        ['zones', zonesValue(f.zones)],
        ['prio', checkInt('priority', f.priority, MIN_PRIORITY, MAX_PRIORITY)],
        ['repeat', checkInt('repeat', f.repeat, 1, MAX_REPEAT)],
        ['text', textValue('text', f.text)],
      ];
    case 'CALL_START':
    case 'CHIME':
      return [
        ['zones', zonesValue(f.zones)],
        ['prio', checkInt('priority', f.priority, MIN_PRIORITY, MAX_PRIORITY)],
      ];
    case 'CALL_STOP':
      if (!RECORDING_ID.test(f.recordingId)) throw new PaEncodeError('recordingId must match [A-Za-z0-9-]{1,32}');
      return [['rec', f.recordingId]];
    case 'STOP':
      return [['zones', f.zones === 'all' ? '*' : zonesValue(f.zones)]];
    case 'ACK':
      return [
        ['ver', f.version === undefined ? undefined : checkInt('version', f.version, 1, 999)],
        ['zonecount', f.zoneCount === undefined ? undefined : checkInt('zoneCount', f.zoneCount, 0, MAX_ZONE)],
        ['model', f.model === undefined ? undefined : textValue('model', f.model)],
        [
          'status',
          f.status?.map((s) => `${checkInt('zone', s.zone, 1, MAX_ZONE)}:${s.state}:${checkInt('priority', s.priority, 0, MAX_PRIORITY)}`).join(','),
        ],
        ['id', f.activityId === undefined ? undefined : checkInt('activityId', f.activityId, 1, 2 ** 31 - 1)],
        ['rec', f.recordingId],
        ['dur', f.durationMs === undefined ? undefined : checkInt('durationMs', f.durationMs, 0, 2 ** 31 - 1)],
        ['stopped', f.stopped === undefined ? undefined : f.stopped.map((z) => checkInt('zone', z, 1, MAX_ZONE)).join(',')],
      ];
    case 'NAK':
      return [
        ['code', f.code],
        ['zones', f.zones === undefined || f.zones.length === 0 ? undefined : zonesValue(f.zones)],
        ['text', f.text === undefined ? undefined : textValue('text', f.text)],
      ];
    case 'FAULT':
      return [
        ['zone', checkInt('zone', f.zone, 1, MAX_ZONE)],
        ['text', textValue('text', f.text)],
      ];
    case 'FAULT_CLEARED':
      return [['zone', checkInt('zone', f.zone, 1, MAX_ZONE)]];
    case 'DONE':
      return [
        ['zones', zonesValue(f.zones)],
        ['what', f.what],
        ['id', checkInt('activityId', f.activityId, 1, 2 ** 31 - 1)],
        ['end', f.end],
      ];
    case 'PREEMPTED':
      return [
        ['zones', zonesValue(f.zones)],
        ['what', f.what],
        ['id', checkInt('activityId', f.activityId, 1, 2 ** 31 - 1)],
        ['by', f.by],
        ['byid', checkInt('byActivityId', f.byActivityId, 1, 2 ** 31 - 1)],
        ['prio', checkInt('priority', f.priority, MIN_PRIORITY, MAX_PRIORITY)],
      ];
  }
}

/** The payload text of a frame (what the CRC covers). Throws PaEncodeError on out-of-range fields. */
export function encodePayload(f: PaFrame): string {
  const isEv = EVENT_TYPES.has(f.type) && !REQUEST_TYPES.has(f.type);
  if (isEv) {
    if (f.seq !== 0) throw new PaEncodeError('events carry seq 0');
  } else {
    checkInt('seq', f.seq, 1, MAX_SEQ);
  }
  const parts = [String(f.seq), f.type];
  for (const [k, v] of fieldsOf(f)) if (v !== undefined) parts.push(`${k}=${v}`);
  return parts.join('|');
}

/** Wraps a payload in STX … '*' CRC ETX. */
export function frameBytes(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  if (body.length > MAX_PAYLOAD_BYTES) throw new PaEncodeError(`payload is ${body.length} bytes, limit ${MAX_PAYLOAD_BYTES}`);
  const crc = crc16(body).toString(16).toUpperCase().padStart(4, '0');
  return Buffer.concat([Buffer.from([STX]), body, Buffer.from(`*${crc}`, 'ascii'), Buffer.from([ETX])]);
}

export function encode(f: PaFrame): Buffer {
  return frameBytes(encodePayload(f));
}

// ---------------------------------------------------------------------------------------------
// Decoding: framing layer (bytes → checked payload text)

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isHex(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46));
}

/** Checks one frame body (the bytes strictly between STX and ETX); the payload text, or null. */
function checkBody(body: Buffer): string | null {
  const n = body.length;
  if (n < 5 || body[n - 5] !== 0x2a /* '*' */) return null;
  for (let i = n - 4; i < n; i++) if (!isHex(body[i])) return null;
  const payload = body.subarray(0, n - 5);
  for (const b of payload) if (b < 0x20 || b === 0x7f) return null;
  if (crc16(payload) !== parseInt(body.toString('ascii', n - 4, n), 16)) return null;
  try {
    return utf8.decode(payload);
  } catch {
    return null;
  }
}

/**
 * Splits a byte stream into checked payloads. Resynchronisation rules: bytes outside STX…ETX
 * are garbage; an STX inside a frame abandons the partial frame (bad) and starts a new one; a
 * frame longer than the limit is abandoned (bad) and bytes are skipped until the next STX.
 */
export function createPayloadDecoder(): FrameDecoder<string> {
  const maxBody = MAX_PAYLOAD_BYTES + 5;
  const buf = Buffer.alloc(maxBody);
  let len = 0;
  let inFrame = false;
  let overflow = false;
  return {
    push(chunk: Buffer): DecodeResult<string> {
      const out: DecodeResult<string> = { frames: [], garbageBytes: 0, badFrames: 0 };
      for (const b of chunk) {
        if (b === STX) {
          if (inFrame && !overflow) out.badFrames++;
          inFrame = true;
          overflow = false;
          len = 0;
        } else if (!inFrame) {
          out.garbageBytes++;
        } else if (overflow) {
          if (b === ETX) inFrame = false;
          else out.garbageBytes++;
        } else if (b === ETX) {
          inFrame = false;
          const payload = checkBody(buf.subarray(0, len));
          if (payload === null) out.badFrames++;
          else out.frames.push(payload);
        } else if (len >= maxBody) {
          overflow = true;
          out.badFrames++;
        } else {
          buf[len++] = b;
        }
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Decoding: message layer (payload text → typed frame)

export type PaParseResult = { ok: true; frame: PaFrame } | { ok: false; seq: number | null; reason: string };

class ParseError extends Error {}

function unescapeValue(v: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(v)) throw new ParseError('bad percent escape');
  return v.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => {
    const code = parseInt(h, 16);
    // Only ASCII is ever escaped; anything else would be a second, ambiguous spelling.
    if (code >= 0x80) throw new ParseError('percent escape above 0x7F');
    return String.fromCharCode(code);
  });
}

class Fields {
  constructor(private readonly map: Map<string, string>) {}
  opt(k: string): string | undefined {
    return this.map.get(k);
  }
  req(k: string): string {
    const v = this.map.get(k);
    if (v === undefined) throw new ParseError(`missing field ${k}`);
    return v;
  }
  int(k: string, min: number, max: number): number {
    return parseIntStrict(k, this.req(k), min, max);
  }
  optInt(k: string, min: number, max: number): number | undefined {
    const v = this.map.get(k);
    return v === undefined ? undefined : parseIntStrict(k, v, min, max);
  }
  zones(k: string): number[] {
    return parseZoneList(k, this.req(k));
  }
  oneOf<T extends string>(k: string, allowed: readonly T[]): T {
    const v = this.req(k);
    const hit = allowed.find((a) => a === v);
    if (hit === undefined) throw new ParseError(`${k}: unknown value ${v}`);
    return hit;
  }
  text(k: string): string {
    const v = this.req(k);
    if (v.length === 0) throw new ParseError(`${k} is empty`);
    return v;
  }
}

function parseIntStrict(name: string, v: string, min: number, max: number): number {
  if (!/^(0|[1-9][0-9]{0,9})$/.test(v)) throw new ParseError(`${name}: not an integer: ${v}`);
  const n = Number(v);
  if (n < min || n > max) throw new ParseError(`${name}: ${n} outside ${min}..${max}`);
  return n;
}

function parseZoneList(name: string, v: string): number[] {
  if (v.length === 0) throw new ParseError(`${name} is empty`);
  return v.split(',').map((z) => parseIntStrict(name, z, 1, MAX_ZONE));
}

export function parsePayload(payload: string): PaParseResult {
  const parts = payload.split('|');
  const seqText = parts[0] ?? '';
  const seq = /^(0|[1-9][0-9]{0,4})$/.test(seqText) && Number(seqText) <= MAX_SEQ ? Number(seqText) : null;
  try {
    if (seq === null) throw new ParseError(`bad sequence number: ${seqText.slice(0, 10)}`);
    const verb = parts[1];
    if (verb === undefined || verb === '') throw new ParseError('missing verb');
    const map = new Map<string, string>();
    for (const p of parts.slice(2)) {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new ParseError(`bad field: ${p.slice(0, 20)}`);
      const key = p.slice(0, eq);
      if (map.has(key)) throw new ParseError(`duplicate field ${key}`);
      map.set(key, unescapeValue(p.slice(eq + 1)));
    }
    const frame = parseFrame(seq, verb, new Fields(map));
    return { ok: true, frame };
  } catch (err) {
    return { ok: false, seq, reason: err instanceof Error ? err.message : String(err) };
  }
}

function parseFrame(seq: number, verb: string, f: Fields): PaFrame {
  const isEvent = EVENT_TYPES.has(verb) && !REQUEST_TYPES.has(verb);
  if (isEvent && seq !== 0) throw new ParseError(`${verb} is an event and needs seq 0`);
  if (!isEvent && seq === 0) throw new ParseError('seq 0 is reserved for events');
  const prio = (): number => f.int('prio', MIN_PRIORITY, MAX_PRIORITY);
  switch (verb) {
    case 'HELLO':
      return { type: 'HELLO', seq, versions: f.req('ver').split(',').map((v) => parseIntStrict('ver', v, 1, 999)) };
    case 'STATUS':
      return { type: 'STATUS', seq };
    case 'PLAY':
      return {
        type: 'PLAY',
        seq,
        zones: f.zones('zones'),
        message: f.int('msg', 1, 9999),
        priority: prio(),
        repeat: f.optInt('repeat', 1, MAX_REPEAT) ?? 1,
      };
    case 'TTS':
      return { type: 'TTS', seq, zones: f.zones('zones'), text: f.text('text'), priority: prio(), repeat: f.optInt('repeat', 1, MAX_REPEAT) ?? 1 };
    case 'CALL_START':
      return { type: 'CALL_START', seq, zones: f.zones('zones'), priority: prio() };
    case 'CALL_STOP': {
      const rec = f.req('rec');
      if (!RECORDING_ID.test(rec)) throw new ParseError('bad recording id');
      return { type: 'CALL_STOP', seq, recordingId: rec };
    }
    case 'CHIME':
      return { type: 'CHIME', seq, zones: f.zones('zones'), priority: prio() };
    case 'STOP':
      return { type: 'STOP', seq, zones: f.req('zones') === '*' ? 'all' : f.zones('zones') };
    case 'ACK': {
      const ack: PaAck = { type: 'ACK', seq };
      const ver = f.optInt('ver', 1, 999);
      if (ver !== undefined) ack.version = ver;
      const zc = f.optInt('zonecount', 0, MAX_ZONE);
      if (zc !== undefined) ack.zoneCount = zc;
      const model = f.opt('model');
      if (model !== undefined) ack.model = model;
      const status = f.opt('status');
      if (status !== undefined) ack.status = status === '' ? [] : status.split(',').map(parseZoneStatus);
      const id = f.optInt('id', 1, 2 ** 31 - 1);
      if (id !== undefined) ack.activityId = id;
      const rec = f.opt('rec');
      if (rec !== undefined) {
        if (!RECORDING_ID.test(rec)) throw new ParseError('bad recording id');
        ack.recordingId = rec;
      }
      const dur = f.optInt('dur', 0, 2 ** 31 - 1);
      if (dur !== undefined) ack.durationMs = dur;
      const stopped = f.opt('stopped');
      if (stopped !== undefined) ack.stopped = stopped === '' ? [] : parseZoneList('stopped', stopped);
      return ack;
    }
    case 'NAK': {
      const nak: PaNak = { type: 'NAK', seq, code: f.oneOf('code', PA_ERROR_CODES) };
      const text = f.opt('text');
      if (text !== undefined) nak.text = text;
      if (f.opt('zones') !== undefined) nak.zones = f.zones('zones');
      return nak;
    }
    case 'FAULT':
      return { type: 'FAULT', seq: 0, zone: f.int('zone', 1, MAX_ZONE), text: f.req('text') };
    case 'FAULT_CLEARED':
      return { type: 'FAULT_CLEARED', seq: 0, zone: f.int('zone', 1, MAX_ZONE) };
    case 'DONE':
      return {
        type: 'DONE',
        seq: 0,
        zones: f.zones('zones'),
        what: f.oneOf('what', ACTIVITY_KINDS),
        activityId: f.int('id', 1, 2 ** 31 - 1),
        end: f.oneOf('end', ['done', 'stopped', 'fault'] as const),
      };
    case 'PREEMPTED':
      return {
        type: 'PREEMPTED',
        seq: 0,
        zones: f.zones('zones'),
        what: f.oneOf('what', ACTIVITY_KINDS),
        activityId: f.int('id', 1, 2 ** 31 - 1),
        by: f.oneOf('by', ACTIVITY_KINDS),
        byActivityId: f.int('byid', 1, 2 ** 31 - 1),
        priority: prio(),
      };
    default:
      throw new ParseError(`unknown verb ${verb.slice(0, 20)}`);
  }
}

function parseZoneStatus(s: string): PaZoneStatus {
  const [z, st, p, ...rest] = s.split(':');
  if (z === undefined || st === undefined || p === undefined || rest.length > 0) throw new ParseError(`bad zone status ${s}`);
  const state = ZONE_STATES.find((x) => x === st);
  if (state === undefined) throw new ParseError(`bad zone state ${st}`);
  return { zone: parseIntStrict('zone', z, 1, MAX_ZONE), state, priority: parseIntStrict('priority', p, 0, MAX_PRIORITY) };
}

/** Bytes → typed frames; a checked frame whose payload does not parse counts as a bad frame. */
export function createDecoder(): FrameDecoder<PaFrame> {
  const inner = createPayloadDecoder();
  return {
    push(chunk: Buffer): DecodeResult<PaFrame> {
      const r = inner.push(chunk);
      const out: DecodeResult<PaFrame> = { frames: [], garbageBytes: r.garbageBytes, badFrames: r.badFrames };
      for (const p of r.frames) {
        const parsed = parsePayload(p);
        if (parsed.ok) out.frames.push(parsed.frame);
        else out.badFrames++;
      }
      return out;
    },
  };
}

export const paCodec: FrameCodec<PaFrame> = { encode, createDecoder };

// ---------------------------------------------------------------------------------------------
// Client: sequence numbers, correlation, NAK → failure

export interface PaClientContext {
  link: SerialLink<PaFrame>;
  clock: Clock;
  log: Logger;
  /** Per-request answer timeout. Default 2000 ms: a controller answers in well under 100 ms. */
  requestTimeoutMs?: number;
}

/**
 * Speaks FHPA/1 over a link it does not own (the caller starts and stops the link). A NAK comes
 * back as failure kind 'rejected' with the NAK code (e.g. 'BUSY') as `code`.
 */
export class PaClient {
  private readonly link: SerialLink<PaFrame>;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly tracker: RequestTracker<PaAck>;
  private readonly eventListeners = new Set<(e: PaEvent) => void>();
  private readonly unsubscribe: (() => void)[] = [];
  private nextSeq = 1;

  constructor(ctx: PaClientContext) {
    this.link = ctx.link;
    this.log = ctx.log;
    this.timeoutMs = ctx.requestTimeoutMs ?? 2000;
    this.tracker = new RequestTracker<PaAck>({ clock: ctx.clock });
    this.unsubscribe.push(
      this.link.onFrame((f) => this.onFrame(f)),
      this.link.onStateChange((s: LinkState) => {
        if (s !== 'connected') this.tracker.failAll('disconnected', `PA link ${s}`);
      }),
    );
  }

  request(cmd: PaCommand, timeoutMs = this.timeoutMs): Promise<Result<PaAck>> {
    const seq = this.allocateSeq();
    const frame: PaRequest = { ...cmd, seq };
    return this.tracker.request(seq, () => this.link.send(frame), timeoutMs);
  }

  /** Negotiates the version; fails when the controller does not speak one we support. */
  async hello(): Promise<Result<{ version: number; zoneCount: number; model?: string }>> {
    const r = await this.request({ type: 'HELLO', versions: [...PA_SUPPORTED_VERSIONS] });
    if (!r.ok) return r;
    const { version, zoneCount, model } = r.value;
    if (version === undefined || !PA_SUPPORTED_VERSIONS.includes(version) || zoneCount === undefined) {
      return fail('protocol', `controller answered HELLO with version ${String(version)}, zones ${String(zoneCount)}`);
    }
    return ok(model === undefined ? { version, zoneCount } : { version, zoneCount, model });
  }

  onEvent(listener: (e: PaEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  pendingRequests(): number {
    return this.tracker.size();
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.tracker.failAll('disconnected', 'PA client closed');
  }

  private allocateSeq(): number {
    // Skip numbers still pending so a wrapped counter never aliases a slow request.
    for (let i = 0; i < MAX_SEQ; i++) {
      const seq = this.nextSeq;
      this.nextSeq = seq >= MAX_SEQ ? 1 : seq + 1;
      if (!this.tracker.isPending(seq)) return seq;
    }
    return this.nextSeq;
  }

  private onFrame(f: PaFrame): void {
    if (f.type === 'ACK') {
      if (!this.tracker.resolve(f.seq, f)) this.log.debug({ seq: f.seq }, 'PA: ACK for no pending request');
    } else if (f.type === 'NAK') {
      const msg = `PA controller refused: ${f.code}${f.text ? ` (${f.text})` : ''}`;
      if (!this.tracker.reject(f.seq, 'rejected', msg, f.code)) this.log.debug({ seq: f.seq }, 'PA: NAK for no pending request');
    } else if (isEvent(f)) {
      for (const l of this.eventListeners) {
        try {
          l(f);
        } catch (err) {
          this.log.error({ err, event: f.type }, 'PA event listener threw');
        }
      }
    } else {
      this.log.debug({ type: f.type }, 'PA: unexpected request frame from controller');
    }
  }
}
