import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AedesOptions, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { checkPublish, checkSubscribe, topicPrefix } from './acl.js';
import type { DeviceMessage, IngestOutcome } from '../../devices/seam.js';
import { systemClock, type Clock } from '../../kernel/clock.js';
import { StrictMqttStream } from './strict-stream.js';
import type { Violation } from './preparser.js';
import { ConnectionGuard, DEFAULT_GUARD, type GuardLimits } from './guard.js';
import type { ConnectThrottle } from './throttle.js';
import type { BrokerPort } from './port.js';
import type { BurstCompactor } from './compactor.js';

/** The highest QoS the hub grants (subscriptions, wills): its contract is QoS 1 throughout. */
export const MAX_QOS = 1;

export interface BrokerLimits extends GuardLimits {
  /** Largest payload the hub accepts from a device, in bytes (64 KiB: a full state with margin). */
  maxPayloadBytes: number;
  /**
   * Largest whole MQTT packet a client may send, in bytes (128 KiB), enforced by the
   * pre-parser when the fixed header is read, before any byte of the body is buffered. A
   * payload above maxPayloadBytes but within this is acknowledged and rejected by the hub
   * (the device is told nothing by MQTT 3.1.1 either way); a larger packet ends the connection.
   */
  maxPacketBytes: number;
  /**
   * Loopback peers (the hub's own simulators and local tools) are not throttled (true).
   * Device floods come from the network; tests of the throttles turn this off.
   */
  exemptLoopback: boolean;
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
  ...DEFAULT_GUARD,
  maxPayloadBytes: 64 * 1024,
  maxPacketBytes: 128 * 1024,
  exemptLoopback: true,
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
  /** Time for the per-address connection throttle; defaults to the system clock. */
  clock?: Clock;
  /** Integration accounts (hub/integrations): absent = no username but a device's is admitted. */
  integrations?: BrokerIntegrations;
  /** Runs a full GC once a burst of connections is over (compactor.ts); absent = never. */
  compactor?: BurstCompactor;
}

/**
 * What the broker asks about integration accounts (hub/integrations/accounts.ts): their
 * usernames (`integration.NAME`), tokens and topic patterns; and whom to tell of a refusal
 * (the hub writes it to the event log, once per connection and kind, as it is logged).
 */
export interface BrokerIntegrations {
  nameOf(username: string): string | null;
  check(name: string, token: string): string | null;
  mayPublish(name: string, topic: string): boolean;
  maySubscribe(name: string, filter: string): boolean;
  onRefused(name: string, what: 'publish' | 'subscribe', detail: { topic?: string; filter?: string; reason: string }): void;
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
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
export class EmbeddedBroker implements BrokerPort {
  readonly mode = 'embedded';
  readonly limits: BrokerLimits;
  private aedes: Aedes | null = null;
  private server: Server | null = null;
  private readonly deviceOf = new WeakMap<Client, string>();
  /** Live authenticated connections per device (a device may briefly have two while reconnecting). */
  private readonly clientsOf = new Map<string, Set<Client>>();
  /** The same for integration accounts, by account name; never reported as device links. */
  private readonly integrationOf = new WeakMap<Client, string>();
  private readonly integrationClients = new Map<string, Set<Client>>();
  /** Payloads the hub refused: not forwarded to any subscriber, never retained. */
  private readonly refusedPayloads = new WeakSet<Buffer>();
  /** Refusals already logged, per client and kind, so a misbehaving device logs once. */
  private readonly loggedRefusals = new Map<string, Set<string>>();
  private readonly connectVerdicts = new WeakMap<Client, AuthError>();
  /** The token version (stored hash) each live connection proved. */
  private readonly admittedUnder = new WeakMap<Client, string>();

  private readonly guard: ConnectionGuard;

  constructor(private readonly ctx: BrokerContext) {
    this.limits = { ...DEFAULT_LIMITS, ...ctx.limits };
    this.guard = new ConnectionGuard(this.limits, ctx.clock ?? systemClock);
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
      const integration = this.integrationOf.get(client);
      if (integration) {
        const set = this.integrationClients.get(integration);
        set?.delete(client);
        if (!set || set.size === 0) this.integrationClients.delete(integration);
      }
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
    const server = createServer({ noDelay: true }, (socket) => this.handle(socket));
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

  /**
   * Serves one connection: a plain socket of the listener above, or a TLS socket from
   * hub/tls.ts (MQTT over TLS). Both pass the flood guard and the strict pre-parser.
   */
  handle(socket: Socket): void {
    const aedes = this.aedes;
    if (!aedes) {
      socket.destroy();
      return;
    }
    this.ctx.compactor?.note();
    const address = socket.remoteAddress ?? '';
    if (this.throttled(address) && this.guard.admitConnection(address) === 'flood') {
      this.ctx.metrics.mqttRefused.inc({ what: 'flood' });
      if (this.guard.firstReport(address, 'flood')) this.ctx.log.warn({ address, perSecond: this.limits.connectPerSecond, burst: this.limits.connectBurst }, 'mqtt connection flood: closing new connections from this address until it slows down');
      socket.destroy();
      return;
    }
    // Every byte a client sends passes the strict pre-parser before aedes sees it.
    aedes.handle(new StrictMqttStream(socket, { maxPacketBytes: this.limits.maxPacketBytes, maxQos: MAX_QOS }, (v) => this.protocolViolation(address, v)));
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
  closeRevoked(current: ReadonlyMap<string, string>, currentIntegrations: ReadonlyMap<string, string> = new Map()): void {
    for (const [name, clients] of this.integrationClients) {
      const valid = currentIntegrations.get(name);
      const stale = [...clients].filter((c) => !c.closed && this.admittedUnder.get(c) !== valid);
      if (stale.length === 0) continue;
      this.ctx.log.warn({ integration: name, connections: stale.length }, 'integration token rotated or account disabled: closing its connections');
      this.ctx.metrics.mqttRefused.inc({ what: 'revoked' });
      for (const c of stale) c.close();
    }
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
    this.ctx.compactor?.stop();
    if (aedes) {
      for (const set of [...this.clientsOf.values(), ...this.integrationClients.values()]) for (const c of set) c.close();
      this.clientsOf.clear();
      this.integrationClients.clear();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private throttled(address: string): boolean {
    return !(this.limits.exemptLoopback && isLoopback(address));
  }

  private protocolViolation(address: string, v: Violation): void {
    // Logged once per address and kind of violation (digits dropped: "packet of N bytes").
    this.refuse('protocol', address || '(unknown)', { address, connack: v.connack }, v.reason, v.reason.replace(/[0-9]+/g, 'N'));
  }

  /** Counts a refusal and logs it once per client and kind; true when this one was logged. */
  private refuse(what: 'connect' | 'publish' | 'subscribe' | 'protocol', clientId: string, detail: Record<string, unknown>, reason: string, kind = reason): boolean {
    this.ctx.metrics.mqttRefused.inc({ what });
    let seen = this.loggedRefusals.get(clientId);
    if (!seen) {
      // Bounded: a client retrying with ever new ids must not grow this without limit.
      if (this.loggedRefusals.size >= 10_000) this.loggedRefusals.delete(this.loggedRefusals.keys().next().value as string);
      seen = new Set<string>();
    }
    const key = `${what}:${kind}`;
    // At most 64 kinds per client (an integration refused on ever new topics logs its first 64, then only counts).
    if (seen.has(key) || seen.size >= 64) return false;
    seen.add(key);
    this.loggedRefusals.set(clientId, seen);
    this.ctx.log.warn({ clientId, what, reason, ...detail }, `mqtt ${what} refused`);
    return true;
  }

  private preConnect(packet: { clientId?: string; clean?: boolean; username?: string; will?: { topic?: string; qos?: 0 | 1 | 2 } }): AuthError | null {
    const clientId = packet.clientId ?? '';
    // MQTT 3.1.1 [3.1.3-8]: an empty client id needs clean session; aedes does not check it.
    // (Ill-formed UTF-8, U+0000 and control characters never get here: the pre-parser
    // closes such connections, as [MQTT-1.5.3-1, -2] require.)
    if (clientId === '' && packet.clean === false) return this.connectRefusal(clientId, 'empty client id without clean session', 2);
    const will = packet.will;
    if (will) {
      const user = packet.username ?? '';
      if (will.topic !== `${topicPrefix(this.ctx.site, user)}status`) return this.connectRefusal(clientId, 'will topic is not the device status topic', 5);
      // MQTT 3.1.1 allows will QoS 2; the hub delivers everything at QoS 1, so the will is
      // downgraded to the QoS the hub grants rather than the client refused (aedes keeps
      // this very object as the will).
      if ((will.qos ?? 0) > MAX_QOS) will.qos = MAX_QOS;
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
    const address = client.conn instanceof StrictMqttStream ? client.conn.remoteAddress : ((client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown');
    // Refused before the token is checked: a wrong-token flood must not buy hash work.
    const throttled = this.ctx.connectThrottle?.refuse(address);
    if (throttled) {
      this.refuse('connect', client.id, { username: id, address }, 'throttled');
      return authError(3, throttled);
    }
    this.ctx.connectThrottle?.attempt(address);
    const integration = this.ctx.integrations?.nameOf(id) ?? null;
    if (integration !== null) return this.authenticateIntegration(client, integration, id, address, password);
    if (!id || !this.ctx.isDevice(id)) return this.loginFailed(client, id, 'unknown device');
    const admittedUnder = password === undefined ? null : await this.ctx.checkToken(id, password.toString('utf8'));
    if (admittedUnder === null) return this.loginFailed(client, id, 'wrong token');
    const peerRefusal = this.ctx.checkPeer?.(client.conn instanceof StrictMqttStream ? client.conn.socket : client.conn, id) ?? null;
    if (peerRefusal) {
      this.refuse('connect', client.id, { username: id }, peerRefusal);
      return authError(5, peerRefusal);
    }
    this.ctx.connectThrottle?.passed(address);
    const held = this.clientIdHeld(client, id);
    if (held) return held;
    this.deviceOf.set(client, id);
    this.admittedUnder.set(client, admittedUnder);
    const set = this.clientsOf.get(id) ?? new Set<Client>();
    set.add(client);
    this.clientsOf.set(id, set);
    return null;
  }

  /**
   * A client id held by another account's live connection is refused (code 2): otherwise
   * aedes would close that session, letting one device (or an integration) knock another offline.
   */
  private clientIdHeld(client: Client, username: string): AuthError | null {
    const holders = [...this.clientsOf, ...[...this.integrationClients].map(([n, c]) => [`integration:${n}`, c] as const)];
    for (const [other, clients] of holders) {
      if (other !== username && [...clients].some((c) => c.id === client.id && !c.closed)) {
        this.refuse('connect', client.id, { username, heldBy: other }, 'client id in use by another device');
        return authError(2, 'identifier rejected');
      }
    }
    return null;
  }

  /** An integration account's CONNECT (after the throttle): its token, then the client id. */
  private authenticateIntegration(client: Client, name: string, username: string, address: string, password: Buffer | undefined): AuthError | null {
    const admittedUnder = password === undefined ? null : (this.ctx.integrations?.check(name, password.toString('utf8')) ?? null);
    if (admittedUnder === null) return this.loginFailed(client, username, 'wrong token or unknown or disabled integration');
    this.ctx.connectThrottle?.passed(address);
    const held = this.clientIdHeld(client, `integration:${name}`);
    if (held) return held;
    this.integrationOf.set(client, name);
    this.admittedUnder.set(client, admittedUnder);
    const set = this.integrationClients.get(name) ?? new Set<Client>();
    set.add(client);
    this.integrationClients.set(name, set);
    return null;
  }

  private loginFailed(client: Client, username: string, reason: string): AuthError {
    this.refuse('connect', client.id, { username }, reason);
    return authError(4, 'bad user name or password');
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
    const integration = this.integrationOf.get(client);
    if (integration !== undefined) {
      // An integration's message is only forwarded (the hub ingests devices' messages alone).
      if (payload.length > this.limits.maxPayloadBytes) return drop(`too-large: ${payload.length} bytes > ${this.limits.maxPayloadBytes}`, 'rejected');
      if (this.ctx.integrations?.mayPublish(integration, packet.topic)) return;
      this.refusedPayloads.add(payload);
      packet.retain = false;
      const reason = 'outside the integration ACL';
      if (this.refuse('publish', client.id, { topic: packet.topic, integration }, reason, `${reason}:${packet.topic}`)) this.ctx.integrations?.onRefused(integration, 'publish', { topic: packet.topic, reason });
      return;
    }
    if (!deviceId) return drop('not authenticated', 'refused');
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
    const integration = this.integrationOf.get(client);
    if (integration !== undefined) {
      if (this.ctx.integrations?.maySubscribe(integration, sub.topic)) return { ...sub, qos: Math.min(sub.qos, MAX_QOS) as 0 | 1 };
      const reason = 'outside the integration ACL';
      if (this.refuse('subscribe', client.id, { filter: sub.topic, integration }, reason, `${reason}:${sub.topic}`)) this.ctx.integrations?.onRefused(integration, 'subscribe', { filter: sub.topic, reason });
      return null;
    }
    const deviceId = this.deviceOf.get(client);
    if (deviceId && checkSubscribe(this.ctx.site, deviceId, sub.topic)) {
      // The pre-parser already capped the request to MAX_QOS, so the SUBACK aedes writes
      // (the requested QoS) is the QoS granted here.
      return { ...sub, qos: Math.min(sub.qos, MAX_QOS) as 0 | 1 };
    }
    this.refuse('subscribe', client.id, { filter: sub.topic }, 'outside the device ACL');
    return null;
  }
}
