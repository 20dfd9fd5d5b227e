/**
 * A strict MQTT 3.1.1 pre-parser that sits on the socket in front of aedes.
 *
 * aedes (through mqtt-packet) buffers a whole packet before any size check and accepts
 * much that MQTT 3.1.1 forbids (facts.md): ill-formed UTF-8 and U+0000 in strings,
 * wildcards in topic names, packet identifier 0, CONNECT flag violations, trailing bytes.
 * This module checks every packet a client sends, as bytes, before aedes sees it:
 *
 * - the size limit is enforced as soon as the Remaining Length is read, so a header that
 *   announces 256 MiB costs five bytes, not 256 MiB of buffer;
 * - a packet is handed on only once it is complete and valid, so at most one packet of at
 *   most `maxPacketBytes` is held per connection;
 * - a violation ends the connection, with a CONNACK only where the specification asks for
 *   one ([MQTT-3.1.2-2]: an unsupported protocol level gets return code 0x01).
 *
 * Pure: no sockets, no timers; `strict-stream.ts` wires it to a connection.
 * Spec clauses are cited as in the OASIS MQTT 3.1.1 standard.
 */

/** Why a connection is ended; `connack` is the return code to send first, if any. */
export interface Violation {
  reason: string;
  connack?: number;
}

export interface PreparserOptions {
  /** Largest whole packet (fixed header included) a client may send, in bytes. */
  maxPacketBytes: number;
  /** Highest QoS the hub grants a subscription; SUBSCRIBE requests are capped to it. */
  maxQos: 0 | 1 | 2;
}

export interface FeedResult {
  /** Complete, valid packets, in order, ready for aedes (slices of the input, not copies). */
  forward: Buffer[];
  /** Set when the connection must end; nothing after the offending packet is forwarded. */
  violation: Violation | null;
}

const CONNECT = 1;
const PUBLISH = 3;
const PUBACK = 4;
const PUBREC = 5;
const PUBREL = 6;
const PUBCOMP = 7;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;
const PINGREQ = 12;

const SERVER_ONLY: Record<number, string> = { 2: 'CONNACK', 9: 'SUBACK', 11: 'UNSUBACK', 13: 'PINGRESP' };

function bad(reason: string, connack?: number): Violation {
  return connack === undefined ? { reason } : { reason, connack };
}

/**
 * Checks a UTF-8 encoded string of MQTT 3.1.1 (1.5.3): well-formed (no overlong forms, no
 * surrogates U+D800..U+DFFF, nothing above U+10FFFF) [MQTT-1.5.3-1], no U+0000
 * [MQTT-1.5.3-2], and none of the code points a receiver MAY refuse: the control characters
 * U+0001..U+001F and U+007F..U+009F and the Unicode non-characters (as Mosquitto does).
 * Returns null when valid, or what is wrong.
 */
export function utf8Problem(b: Buffer, start: number, end: number): string | null {
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) {
      if (c === 0x00) return 'contains U+0000';
      if (c < 0x20 || c === 0x7f) return 'contains a control character';
      i++;
      continue;
    }
    let cp: number;
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) {
      cp = c & 0x1f;
      n = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      cp = c & 0x0f;
      n = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      cp = c & 0x07;
      n = 3;
      min = 0x10000;
    } else {
      return 'is not well-formed UTF-8';
    }
    if (i + n >= end) return 'is not well-formed UTF-8 (truncated sequence)';
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k]!;
      if ((cc & 0xc0) !== 0x80) return 'is not well-formed UTF-8';
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff) return 'is not well-formed UTF-8 (overlong or out of range)';
    if (cp >= 0xd800 && cp <= 0xdfff) return 'contains a surrogate code point';
    if (cp <= 0x9f) return 'contains a control character';
    if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return 'contains a Unicode non-character';
    i += n + 1;
  }
  return null;
}

/** A topic filter's wildcards: `+` fills a whole level, `#` is a whole last level [MQTT-4.7.1-2, -3]. */
export function filterProblem(b: Buffer, start: number, end: number): string | null {
  let levelStart = start;
  for (let i = start; i <= end; i++) {
    if (i < end && b[i] !== 0x2f) continue;
    // [levelStart, i) is one level
    for (let k = levelStart; k < i; k++) {
      const c = b[k];
      if (c === 0x2b && i - levelStart !== 1) return '"+" must occupy a whole level';
      if (c === 0x23) {
        if (i - levelStart !== 1) return '"#" must occupy a whole level';
        if (i !== end) return '"#" must be the last level';
      }
    }
    levelStart = i + 1;
  }
  return null;
}

/** Reads a length-prefixed field (2-byte big-endian length) at `at`; -1 when it overruns `end`. */
function fieldEnd(b: Buffer, at: number, end: number): number {
  if (at + 2 > end) return -1;
  const stop = at + 2 + b.readUInt16BE(at);
  return stop > end ? -1 : stop;
}

/** A UTF-8 string field: answers its end offset, or a violation naming the field. */
function stringField(b: Buffer, at: number, end: number, what: string): number | Violation {
  const stop = fieldEnd(b, at, end);
  if (stop < 0) return bad(`${what}: length runs past the packet (remaining length too short)`);
  const problem = utf8Problem(b, at + 2, stop);
  return problem ? bad(`${what} ${problem}`) : stop;
}

/** A topic name (PUBLISH, will): non-empty [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-2]. */
function topicNameField(b: Buffer, at: number, end: number, what: string): number | Violation {
  const stop = stringField(b, at, end, what);
  if (typeof stop !== 'number') return stop;
  if (stop === at + 2) return bad(`${what} is empty [MQTT-4.7.3-1]`);
  for (let i = at + 2; i < stop; i++) if (b[i] === 0x2b || b[i] === 0x23) return bad(`${what} contains a wildcard [MQTT-3.3.2-2]`);
  return stop;
}

function packetId(b: Buffer, at: number, end: number, what: string): number | Violation {
  if (at + 2 > end) return bad(`${what}: no packet identifier (remaining length too short)`);
  if (b.readUInt16BE(at) === 0) return bad(`${what} with packet identifier 0 [MQTT-2.3.1-1]`);
  return at + 2;
}

/** CONNECT: protocol name/level, flags [MQTT-3.1.2-3, -11, -13, -14, -15, -18, -20, -22], payload. */
function checkConnect(flags: number, b: Buffer, s: number, e: number): Violation | null {
  if (flags !== 0) return bad('CONNECT fixed header flags are reserved [MQTT-2.2.2-2]');
  const nameEnd = fieldEnd(b, s, e);
  if (nameEnd < 0) return bad('CONNECT: protocol name runs past the packet');
  const name = b.toString('latin1', s + 2, nameEnd);
  if (name !== 'MQTT' && name !== 'MQIsdp') return bad(`CONNECT: unknown protocol name [MQTT-3.1.2-1]`);
  if (nameEnd + 4 > e) return bad('CONNECT: variable header truncated');
  const level = b[nameEnd]!;
  // MQTT 3.1.1 is "MQTT" level 4, MQTT 3.1 is "MQIsdp" level 3 (aedes speaks both); any
  // other pair is a protocol level this broker does not support.
  if ((name === 'MQTT' && level !== 4) || (name === 'MQIsdp' && level !== 3)) return bad(`CONNECT: unsupported protocol level ${level} for "${name}" [MQTT-3.1.2-2]`, 0x01);
  const cf = b[nameEnd + 1]!;
  if (cf & 0x01) return bad('CONNECT: reserved connect flag set [MQTT-3.1.2-3]');
  const will = (cf & 0x04) !== 0;
  const willQos = (cf >> 3) & 0x03;
  const willRetain = (cf & 0x20) !== 0;
  const hasPassword = (cf & 0x40) !== 0;
  const hasUser = (cf & 0x80) !== 0;
  if (!will && willQos !== 0) return bad('CONNECT: will QoS set without the will flag [MQTT-3.1.2-13]');
  if (!will && willRetain) return bad('CONNECT: will retain set without the will flag [MQTT-3.1.2-15]');
  if (will && willQos === 3) return bad('CONNECT: will QoS 3 [MQTT-3.1.2-14]');
  if (hasPassword && !hasUser) return bad('CONNECT: password flag without user name flag [MQTT-3.1.2-22]');
  let at = nameEnd + 4;
  const id = stringField(b, at, e, 'CONNECT: client id');
  if (typeof id !== 'number') return id;
  at = id;
  if (will) {
    const topic = topicNameField(b, at, e, 'CONNECT: will topic');
    if (typeof topic !== 'number') return topic;
    const msg = fieldEnd(b, topic, e);
    if (msg < 0) return bad('CONNECT: will message runs past the packet');
    at = msg;
  }
  if (hasUser) {
    const user = stringField(b, at, e, 'CONNECT: user name');
    if (typeof user !== 'number') return user;
    at = user;
  }
  if (hasPassword) {
    const pw = fieldEnd(b, at, e);
    if (pw < 0) return bad('CONNECT: password runs past the packet');
    at = pw;
  }
  // Bytes left over are a field its flag says is absent [MQTT-3.1.2-11, -18, -20] or garbage.
  if (at !== e) return bad(`CONNECT: ${e - at} trailing byte(s) after the fields its flags announce [MQTT-3.1.2-11/-18/-20]`);
  return null;
}

function checkPublish(flags: number, b: Buffer, s: number, e: number): Violation | null {
  const qos = (flags >> 1) & 0x03;
  if (qos === 3) return bad('PUBLISH with QoS 3 [MQTT-3.3.1-4]');
  if (qos === 0 && flags & 0x08) return bad('PUBLISH QoS 0 with the DUP flag [MQTT-3.3.1-2]');
  const topic = topicNameField(b, s, e, 'PUBLISH topic name');
  if (typeof topic !== 'number') return topic;
  if (qos > 0) {
    const id = packetId(b, topic, e, 'PUBLISH');
    if (typeof id !== 'number') return id;
  }
  return null;
}

function checkAck(type: number, flags: number, b: Buffer, s: number, e: number): Violation | null {
  const name = ['', '', '', '', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP'][type]!;
  if (flags !== (type === PUBREL ? 0x02 : 0x00)) return bad(`${name} fixed header flags are reserved [MQTT-2.2.2-2]`);
  if (e - s !== 2) return bad(`${name} remaining length ${e - s}, must be 2`);
  const id = packetId(b, s, e, name);
  return typeof id === 'number' ? null : id;
}

/** SUBSCRIBE / UNSUBSCRIBE; SUBSCRIBE's requested QoS is capped to `maxQos` in place. */
function checkSubscribe(type: number, flags: number, b: Buffer, s: number, e: number, maxQos: number): Violation | null {
  const name = type === SUBSCRIBE ? 'SUBSCRIBE' : 'UNSUBSCRIBE';
  if (flags !== 0x02) return bad(`${name} fixed header flags are reserved [MQTT-3.8.1-1, MQTT-3.10.1-1]`);
  const id = packetId(b, s, e, name);
  if (typeof id !== 'number') return id;
  let at = id;
  if (at === e) return bad(`${name} without any topic filter [MQTT-3.8.3-3, MQTT-3.10.3-2]`);
  while (at < e) {
    const stop = stringField(b, at, e, `${name} topic filter`);
    if (typeof stop !== 'number') return stop;
    if (stop === at + 2) return bad(`${name} topic filter is empty [MQTT-4.7.3-1]`);
    const wild = filterProblem(b, at + 2, stop);
    if (wild) return bad(`${name} topic filter is invalid: ${wild}`);
    at = stop;
    if (type === SUBSCRIBE) {
      if (at >= e) return bad('SUBSCRIBE: topic filter without its requested QoS byte');
      const q = b[at]!;
      if (q & 0xfc || q === 3) return bad('SUBSCRIBE: requested QoS byte is malformed [MQTT-3.8.3-4]');
      // The hub grants at most maxQos; asking aedes for no more makes its SUBACK carry the
      // QoS actually granted (aedes echoes the requested QoS, facts.md) [MQTT-3.9.3-2].
      if (q > maxQos) b[at] = maxQos;
      at++;
    }
  }
  return null;
}

/**
 * The per-connection state machine: feed it the socket's chunks in order.
 * Holds at most one incomplete packet, never more than `maxPacketBytes`.
 */
export class MqttPreparser {
  /** Chunks of an incomplete packet, joined only once it is complete (no quadratic copying). */
  private held: Buffer[] = [];
  private heldLen = 0;
  /** Length of the held packet once its fixed header has been read, else 0. */
  private needed = 0;
  private connected = false;
  private failed = false;

  constructor(private readonly opts: PreparserOptions) {}

  /** Bytes held for an incomplete packet (for tests and metrics). */
  get heldBytes(): number {
    return this.heldLen;
  }

  feed(chunk: Buffer): FeedResult {
    if (this.failed) return { forward: [], violation: { reason: 'connection already failed' } };
    if (this.needed > 0 && this.heldLen + chunk.length < this.needed) {
      // A large packet trickling in: keep the pieces, copy once at the end.
      this.held.push(chunk);
      this.heldLen += chunk.length;
      return { forward: [], violation: null };
    }
    let buf = chunk;
    if (this.heldLen > 0) {
      this.held.push(chunk);
      buf = Buffer.concat(this.held, this.heldLen + chunk.length);
      this.held = [];
      this.heldLen = 0;
    }
    this.needed = 0;
    const forward: Buffer[] = [];
    const start = 0; // first byte of the run of valid packets not yet forwarded
    let at = 0;
    while (at < buf.length) {
      // The packet type is judged on its first byte: random bytes and a client that skips
      // CONNECT are cut off without waiting for a body they may never send.
      const tv = this.typeProblem(buf[at]!);
      if (tv) return this.fail(forward, buf, start, at, tv);
      if (at + 2 > buf.length) break;
      // Remaining Length: at most four bytes, 7 bits each (2.2.3).
      let rl = 0;
      let mul = 1;
      let i = at + 1;
      let complete = false;
      for (let n = 0; n < 4 && i < buf.length; n++, i++) {
        const d = buf[i]!;
        rl += (d & 0x7f) * mul;
        mul *= 128;
        if ((d & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete) {
        if (i - (at + 1) >= 4) return this.fail(forward, buf, start, at, bad('malformed Remaining Length (more than four bytes) [2.2.3]'));
        break; // the length field itself is still arriving
      }
      const total = i - at + rl;
      if (total > this.opts.maxPacketBytes) return this.fail(forward, buf, start, at, bad(`packet of ${total} bytes announced, limit ${this.opts.maxPacketBytes}`));
      if (i + rl > buf.length) {
        this.needed = total; // wait for the rest, already known to fit the limit
        break;
      }
      const v = this.check(buf[at]!, buf, i, i + rl);
      if (v) return this.fail(forward, buf, start, at, v);
      at = i + rl;
    }
    if (at > start) forward.push(buf.subarray(start, at));
    if (at < buf.length) {
      this.held = [buf.subarray(at)];
      this.heldLen = buf.length - at;
    }
    return { forward, violation: null };
  }

  private fail(forward: Buffer[], buf: Buffer, start: number, at: number, v: Violation): FeedResult {
    this.failed = true;
    this.held = [];
    this.heldLen = 0;
    if (at > start) forward.push(buf.subarray(start, at));
    return { forward, violation: v };
  }

  private typeProblem(first: number): Violation | null {
    const type = first >> 4;
    if (!this.connected) return type === CONNECT ? null : bad('the first packet is not CONNECT [MQTT-3.1.0-1]');
    if (type === CONNECT) return bad('a second CONNECT [MQTT-3.1.0-2]');
    const serverOnly = SERVER_ONLY[type];
    if (serverOnly) return bad(`${serverOnly} is sent by servers only`);
    if (type === 0 || type === 15) return bad(`reserved packet type ${type}`);
    return null;
  }

  /** A complete packet whose type `typeProblem` already accepted. */
  private check(first: number, b: Buffer, s: number, e: number): Violation | null {
    const type = first >> 4;
    const flags = first & 0x0f;
    switch (type) {
      case CONNECT: {
        const v = checkConnect(flags, b, s, e);
        if (!v) this.connected = true;
        return v;
      }
      case PUBLISH:
        return checkPublish(flags, b, s, e);
      case PUBACK:
      case PUBREC:
      case PUBREL:
      case PUBCOMP:
        return checkAck(type, flags, b, s, e);
      case SUBSCRIBE:
      case UNSUBSCRIBE:
        return checkSubscribe(type, flags, b, s, e, this.opts.maxQos);
      default: {
        // PINGREQ and DISCONNECT: no variable header, no payload.
        const name = type === PINGREQ ? 'PINGREQ' : 'DISCONNECT';
        if (flags !== 0) return bad(`${name} fixed header flags are reserved [MQTT-2.2.2-2]`);
        return e === s ? null : bad(`${name} remaining length ${e - s}, must be 0`);
      }
    }
  }
}
