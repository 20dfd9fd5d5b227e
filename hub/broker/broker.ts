import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesOptions, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { checkPublish, checkSubscribe, hasForbiddenChars, topicPrefix } from './acl.js';
import type { DeviceMessage, IngestOutcome } from '../../devices/seam.js';
import type { ConnectThrottle } from './throttle.js';

/** A message a device published, parsed as JSON, before the hub decided on it. */
export interface BrokerLimits {
  /** Largest payload the hub accepts from a device, in bytes (64 KiB: a full state with margin). */
  maxPayloadBytes: number;
  /** QoS 1 messages queued per client before aedes drops the slow client (aedes default 42). */
  queueLimit: number;
  /** A socket must send CONNECT within this many ms (10 s; aedes default 30 s). */
  connectTimeoutMs: number;
  /** A client that does not drain its socket for this long is dropped (10 s; frees aedes' concurrency slots). */
  drainTimeoutMs: number;
  /** Longest client id accepted (the device ids of the config are at most 64 characters). */
  maxClientIdLength: number;
  /** Topic depth limit; the contract needs 5 levels. */
  maxTopicLevels: number;
}

export const DEFAULT_LIMITS: BrokerLimits = {
  maxPayloadBytes: 64 * 1024,
  queueLimit: 200,
  connectTimeoutMs: 10_000,
  drainTimeoutMs: 10_000,
  maxClientIdLength: 128,
  maxTopicLevels: 8,
};

export interface BrokerContext {
  site: string;
  log: Logger;
  metrics: Metrics;
  /** Is this username a configured device? */
  isDevice: (deviceId: string) => boolean;
  /** Checks a device's token; answers the stored hash it matched (the token's version), or null. */
  checkToken: (deviceId: string, token: string) => Promise<string | null>;
  /** Called before the PUBACK: a QoS 1 message acknowledged to the device has been handled. */
  onMessage: (m: DeviceMessage) => Promise<IngestOutcome>;
  onConnect: (deviceId: string) => void;
  onDisconnect: (deviceId: string) => void;
  limits?: Partial<BrokerLimits>;
  /** Failed CONNECTs per address (throttle.ts); absent = none. */
  connectThrottle?: ConnectThrottle;
  /** Checks the connection itself for a device (a TLS client certificate's name, hub/tls.ts): a reason to refuse, or null. */
  checkPeer?: (conn: unknown, deviceId: string) => string | null;
}

type AuthError = Error & { returnCode: number };
function authError(code: number, message: string): AuthError {
  return Object.assign(new Error(message), { returnCode: code });
}

/**
 * The embedded MQTT 3.1.1 broker (aedes), hardened explicitly (style pattern 7): every
 * connect is authenticated against the device's token, every publish and subscribe is
 * checked against the contract's ACL, and device messages reach the hub inside
 * `authorizePublish`, i.e. before aedes sends the PUBACK.
 */
export class EmbeddedBroker {
  readonly limits: BrokerLimits;
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  private readonly deviceOf = new WeakMap<Client, string>();
  /** Live authenticated connections per device (a device may briefly have two while reconnecting). */
  private readonly clientsOf = new Map<string, Set<Client>>();
  /** Payloads the hub refused: not forwarded to any subscriber, never retained. */
  private readonly refusedPayloads = new WeakSet<Buffer>();
  /** Refusals already logged, per client and kind, so a misbehaving device logs once. */
  private readonly loggedRefusals = new Map<string, Set<string>>();
  private readonly connectVerdicts = new WeakMap<Client, AuthError>();
  /** The token version (stored hash) each live connection proved. */
  private readonly admittedUnder = new WeakMap<Client, string>();

  constructor(private readonly ctx: BrokerContext) {
    this.limits = { ...DEFAULT_LIMITS, ...ctx.limits };
  }

  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    const opts: AedesOptions = {
      concurrency: 1000, // deliveries in flight: a burst of answers to 200+ gates must not queue behind 100
      queueLimit: this.limits.queueLimit,
      connectTimeout: this.limits.connectTimeoutMs,
      drainTimeout: this.limits.drainTimeoutMs,
      maxClientsIdLength: this.limits.maxClientIdLength,
      maxTopicLevels: this.limits.maxTopicLevels,
      heartbeatInterval: 60_000, // 1 minute (aedes' $SYS heartbeat)
      // aedes drops the socket on a preConnect error without a CONNACK, so the verdict is
      // kept here and returned from authenticate, which answers with the return code.
      preConnect: (client, packet, cb) => {
        const refusal = this.preConnect(packet);
        if (refusal) this.connectVerdicts.set(client, refusal);
        cb(null, true);
      },
      authenticate: (client, username, password, cb) => {
        this.authenticate(client, username, password).then(
          (err) => (err ? cb(err, false) : cb(null, true)),
          (e: unknown) => cb(authError(3, String(e)), false),
        );
      },
      authorizePublish: (client, packet, cb) => {
        this.authorizePublish(client, packet).then(
          () => cb(null),
          (e: unknown) => cb(e instanceof Error ? e : new Error(String(e))),
        );
      },
      authorizeSubscribe: (client, sub, cb) => cb(null, this.authorizeSubscribe(client, sub)),
      authorizeForward: (_client, packet) => (this.refusedPayloads.has(packet.payload as Buffer) ? null : packet),
    };
    const aedes = await Aedes.createBroker(opts);
    this.aedes = aedes;
    aedes.on('client', (client: Client) => {
      const id = this.deviceOf.get(client);
      if (id) this.ctx.onConnect(id);
    });
    aedes.on('clientDisconnect', (client: Client) => {
      const id = this.deviceOf.get(client);
      this.loggedRefusals.delete(client.id);
      if (!id) return;
      const set = this.clientsOf.get(id);
      set?.delete(client);
      if (!set || set.size === 0) {
        this.clientsOf.delete(id);
        this.ctx.onDisconnect(id);
      }
    });
    aedes.on('clientError', (client: Client, err: Error) => {
      this.ctx.log.debug({ clientId: client.id, err: err.message }, 'mqtt client error');
    });
    aedes.on('connectionError', (_client: Client, err: Error) => {
      this.ctx.log.debug({ err: err.message }, 'mqtt connection error');
    });
    // TCP_NODELAY on the broker's sockets: without it a QoS 1 round trip waits ~40 ms on
    // Nagle plus the peer's delayed ACK (facts.md).
    const server = createServer({ noDelay: true }, (socket) => aedes.handle(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : port;
  }

  /** Serves one more connection, e.g. a TLS socket from hub/tls.ts (MQTT over TLS). */
  handle(stream: Duplex): void {
    if (this.aedes) this.aedes.handle(stream);
    else stream.destroy();
  }

  /** Publishes from the hub itself (in-process, not through a socket). */
  publish(topic: string, payload: unknown, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new Error('broker not started'));
    return new Promise((resolve, reject) => {
      aedes.publish(
        {
          cmd: 'publish',
          topic,
          payload: Buffer.from(JSON.stringify(payload)),
          qos: opts.qos ?? 1,
          retain: opts.retain ?? false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  /**
   * Closes every connection admitted under a token that is no longer the device's current
   * one (rotated with `device token`, possibly by another process, or removed): a leaked
   * token stops working for sessions already open, not only for new ones.
   */
  closeRevoked(current: ReadonlyMap<string, string>): void {
    for (const [deviceId, clients] of this.clientsOf) {
      const valid = current.get(deviceId);
      const stale = [...clients].filter((c) => !c.closed && this.admittedUnder.get(c) !== valid);
      if (stale.length === 0) continue;
      this.ctx.log.warn({ deviceId, connections: stale.length }, 'device token rotated or revoked: closing its connections; the device must reconnect with its new token');
      this.ctx.metrics.mqttRefused.inc({ what: 'revoked' });
      for (const c of stale) c.close();
    }
  }

  connectedDevices(): string[] {
    return [...this.clientsOf.keys()];
  }

  async close(): Promise<void> {
    const server = this.server;
    const aedes = this.aedes;
    this.server = null;
    this.aedes = null;
    if (aedes) {
      for (const set of this.clientsOf.values()) for (const c of set) c.close();
      this.clientsOf.clear();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private refuse(what: 'connect' | 'publish' | 'subscribe', clientId: string, detail: Record<string, unknown>, reason: string): void {
    this.ctx.metrics.mqttRefused.inc({ what });
    let seen = this.loggedRefusals.get(clientId);
    if (!seen) {
      // Bounded: a client retrying with ever new ids must not grow this without limit.
      if (this.loggedRefusals.size >= 10_000) this.loggedRefusals.delete(this.loggedRefusals.keys().next().value as string);
      seen = new Set<string>();
    }
    const key = `${what}:${reason}`;
    if (seen.has(key)) return;
    seen.add(key);
    this.loggedRefusals.set(clientId, seen);
    this.ctx.log.warn({ clientId, what, reason, ...detail }, `mqtt ${what} refused`);
  }

  private preConnect(packet: { clientId?: string; clean?: boolean; username?: string; will?: { topic?: string; qos?: number } }): AuthError | null {
    const clientId = packet.clientId ?? '';
    // MQTT 3.1.1 [3.1.3-8]: an empty client id needs clean session; aedes does not check it.
    if (clientId === '' && packet.clean === false) return this.connectRefusal(clientId, 'empty client id without clean session', 2);
    if (hasForbiddenChars(clientId)) return this.connectRefusal(clientId, 'control characters in client id', 2);
    const will = packet.will;
    if (will) {
      const user = packet.username ?? '';
      if (will.topic !== `${topicPrefix(this.ctx.site, user)}status`) return this.connectRefusal(clientId, 'will topic is not the device status topic', 5);
      if ((will.qos ?? 0) > 1) return this.connectRefusal(clientId, 'will QoS above 1', 5);
    }
    return null;
  }

  private connectRefusal(clientId: string, reason: string, code: number): AuthError {
    this.refuse('connect', clientId || '(empty)', {}, reason);
    return authError(code, reason);
  }

  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthError | null> {
    const verdict = this.connectVerdicts.get(client);
    if (verdict) return verdict;
    const id = username ?? '';
    const address = (client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown';
    const throttled = this.ctx.connectThrottle?.refuse(address);
    if (throttled) {
      this.refuse('connect', client.id, { username: id, address }, 'throttled');
      return authError(3, throttled);
    }
    this.ctx.connectThrottle?.attempt(address);
    if (!id || hasForbiddenChars(id) || !this.ctx.isDevice(id)) {
      this.refuse('connect', client.id, { username: id }, 'unknown device');
      return authError(4, 'bad user name or password');
    }
    const admittedUnder = password === undefined ? null : await this.ctx.checkToken(id, password.toString('utf8'));
    if (admittedUnder === null) {
      this.refuse('connect', client.id, { username: id }, 'wrong token');
      return authError(4, 'bad user name or password');
    }
    const peerRefusal = this.ctx.checkPeer?.(client.conn, id) ?? null;
    if (peerRefusal) {
      this.refuse('connect', client.id, { username: id }, peerRefusal);
      return authError(5, peerRefusal);
    }
    this.ctx.connectThrottle?.passed(address);
    // A client id held by another device's live connection is refused (code 2): otherwise
    // aedes would close that device's session, letting one device knock another offline.
    for (const [other, clients] of this.clientsOf) {
      if (other !== id && [...clients].some((c) => c.id === client.id && !c.closed)) {
        this.refuse('connect', client.id, { username: id, heldBy: other }, 'client id in use by another device');
        return authError(2, 'identifier rejected');
      }
    }
    this.deviceOf.set(client, id);
    this.admittedUnder.set(client, admittedUnder);
    const set = this.clientsOf.get(id) ?? new Set<Client>();
    set.add(client);
    this.clientsOf.set(id, set);
    return null;
  }

  private async authorizePublish(client: Client | null, packet: PublishPacket): Promise<void> {
    if (client === null) {
      // A will published after a restart by aedes itself (its persistence is in memory, so
      // this does not happen in practice); only trust it when it is a status topic.
      return;
    }
    const deviceId = this.deviceOf.get(client);
    const payload = packet.payload as Buffer;
    const drop = (reason: string, counter: 'refused' | 'rejected'): void => {
      // Acknowledged but neither forwarded nor retained, as Mosquitto does for ACL denials
      // under MQTT 3.1.1 (which has no negative PUBACK).
      this.refusedPayloads.add(payload);
      packet.retain = false;
      if (counter === 'refused') this.refuse('publish', client.id, { topic: packet.topic }, reason);
      else {
        this.ctx.metrics.mqttRejected.inc({ reason: reason.split(':')[0] ?? reason });
        this.ctx.log.warn({ deviceId, topic: packet.topic, reason }, 'device message rejected');
      }
    };
    if (!deviceId) return drop('not authenticated', 'refused');
    if (hasForbiddenChars(packet.topic)) return drop('control characters in topic', 'refused');
    const acl = checkPublish(this.ctx.site, deviceId, packet.topic);
    if (!acl.allow) return drop(acl.reason, 'refused');
    if (payload.length > this.limits.maxPayloadBytes) return drop(`too-large: ${payload.length} bytes > ${this.limits.maxPayloadBytes}`, 'rejected');
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return drop('not-json: payload is not valid JSON', 'rejected');
    }
    const outcome = await this.ctx.onMessage({
      deviceId,
      subtopic: acl.subtopic,
      topic: packet.topic,
      payload: body,
      qos: packet.qos,
      retain: packet.retain,
    });
    if (!outcome.accepted) return drop(`bad-shape: ${outcome.reason}`, 'rejected');
    this.ctx.metrics.mqttMessages.inc({ subtopic: acl.subtopic });
  }

  private authorizeSubscribe(client: Client, sub: Subscription): Subscription | null {
    const deviceId = this.deviceOf.get(client);
    if (deviceId && !hasForbiddenChars(sub.topic) && checkSubscribe(this.ctx.site, deviceId, sub.topic)) {
      return sub.qos > 1 ? { ...sub, qos: 1 } : sub;
    }
    this.refuse('subscribe', client.id, { filter: sub.topic }, 'outside the device ACL');
    return null;
  }
}
