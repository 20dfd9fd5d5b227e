import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import type { ExternalMqttConfig } from '../../config/schema.js';
import { DEVICE_PUBLISH_SUBTOPICS, type DeviceBus, type DeviceEventLog, type DeviceMessage, type IngestOutcome } from '../../devices/seam.js';
import { AlarmLatch } from '../../devices/alarm.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { checkPublish } from './acl.js';
import type { BrokerPort } from './port.js';

/** Where the external broker is and how the hub logs in (files already read). */
export interface ExternalBrokerSettings {
  url: string;
  clientId: string;
  username: string;
  /** The hub's broker password (FH_MQTT_PASSWORD or the password file); never logged. */
  password?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** First reconnect delay, doubled after each failure up to reconnectMaxMs (1 s → 30 s). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** CONNECT must be answered within this (10 s). */
  connectTimeoutMs?: number;
  /** How long start-up waits for the first CONNACK before it goes on degraded (5 s). */
  firstConnectMs?: number;
}

export interface ExternalBrokerContext {
  site: string;
  log: Logger;
  metrics: Metrics;
  bus: DeviceBus;
  events: DeviceEventLog;
  isDevice: (deviceId: string) => boolean;
  /** Called before the PUBACK to the broker: a QoS 1 message acknowledged has been handled. */
  onMessage: (m: DeviceMessage) => Promise<IngestOutcome>;
  /** A device's message came through the broker: its link (to the broker) is up. */
  onSeen: (deviceId: string) => void;
  /** Largest payload accepted from a device, in bytes (the embedded broker's limit). */
  maxPayloadBytes: number;
}

export const EXTERNAL_DEFAULTS = {
  reconnectMinMs: 1_000, // 1 s
  reconnectMaxMs: 30_000, // 30 s: a broker back after a restart is found within half a minute
  connectTimeoutMs: 10_000, // 10 s
  firstConnectMs: 5_000, // 5 s: start-up does not hang on a broker that is away
  keepaliveS: 30, // 30 s: a dead broker is noticed within 1.5 × this
} as const;

const LINK_ALARM = 'broker-link';

/** The URL without anything that could be a credential, for logs. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Reads the certificate and password files of `mqtt.external` (paths relative to the
 * config's directory) and checks what the schema cannot: TLS files only with mqtts://, a
 * certificate with its key. Errors name the field. With neither `passwordFile` nor
 * FH_MQTT_PASSWORD, the hub presents its own account (`hub.{site}`, the token that
 * `export mosquitto` issued into the data dir), so an exported Mosquitto admits it as is.
 */
export function loadExternalSettings(
  site: string,
  ext: ExternalMqttConfig,
  baseDir: string,
  env: { FH_MQTT_PASSWORD?: string | undefined },
  hubAccount: { username: string; token: string | null } | null = null,
): ExternalBrokerSettings {
  const field = (name: string): string => `mqtt.external.${name}`;
  let url: URL;
  try {
    url = new URL(ext.url);
  } catch {
    throw new Error(`${field('url')}: found "${ext.url}", expected mqtt://host:port or mqtts://host:port`);
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') throw new Error(`${field('url')}: found "${url.protocol}", expected mqtt: or mqtts:`);
  if (url.username || url.password) throw new Error(`${field('url')}: credentials in the URL are not accepted; use ${field('username')} and FH_MQTT_PASSWORD or ${field('passwordFile')}`);
  const tls = url.protocol === 'mqtts:';
  for (const f of ['ca', 'cert', 'key'] as const) {
    if (ext[f] !== undefined && !tls) throw new Error(`${field(f)}: given for ${safeUrl(ext.url)}, expected an mqtts:// URL (TLS files are only used with TLS)`);
  }
  if ((ext.cert === undefined) !== (ext.key === undefined)) throw new Error(`${field(ext.cert === undefined ? 'cert' : 'key')}: missing, expected a client certificate and its key together`);
  const read = (name: string, path: string): Buffer => {
    const full = isAbsolute(path) ? path : resolve(baseDir, path);
    try {
      return readFileSync(full);
    } catch (err) {
      throw new Error(`${field(name)}: cannot read ${full}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  let password: string | undefined;
  if (ext.passwordFile !== undefined) password = read('passwordFile', ext.passwordFile).toString('utf8').replace(/\r?\n$/, '');
  else if (env.FH_MQTT_PASSWORD) password = env.FH_MQTT_PASSWORD;
  const ownAccount = password === undefined && hubAccount?.token ? hubAccount : null;
  if (ownAccount?.token) password = ownAccount.token;
  return {
    url: ext.url,
    clientId: ext.clientId ?? `fh-hub-${site}`,
    username: ownAccount ? ownAccount.username : ext.username,
    ...(password !== undefined ? { password } : {}),
    ...(ext.ca !== undefined ? { ca: read('ca', ext.ca) } : {}),
    ...(ext.cert !== undefined ? { cert: read('cert', ext.cert) } : {}),
    ...(ext.key !== undefined ? { key: read('key', ext.key) } : {}),
  };
}

/**
 * External broker mode: the hub is one client of a Mosquitto or EMQX that the devices
 * connect to. The guarantees the embedded broker gives in its hooks move here and to the
 * broker (docs/deploy.md, "External broker"):
 * - durability before PUBACK: the hub's session is persistent (`clean: false`, a fixed
 *   client id), and each device message is acknowledged to the broker only after the
 *   Ingest has committed it (pipelineAcks holds mqtt.js' PUBACK back until then). A hub
 *   that dies before that leaves the message queued in its session at the broker.
 * - the ACL: the broker's (a device writes only under `fh/{site}/{its id}/`), so the device
 *   id of a message is the topic's segment.
 * - availability: from `status` messages and the devices' wills, which the broker publishes.
 */
export class ExternalBroker implements BrokerPort {
  readonly mode = 'external';
  private client: MqttClient | null = null;
  private connected = false;
  private everConnected = false;
  private closing = false;
  private delayMs: number;
  private readonly alarms: AlarmLatch;
  /** Refusals already logged, per device and reason (a misbehaving device logs once). */
  private readonly logged = new Set<string>();
  /** Devices whose last status (or will) the broker delivered said online. */
  private readonly online = new Set<string>();
  /** Messages wait here until the hub's features are started (resume()), unacknowledged. */
  private accepting!: () => void;
  private readonly acceptingNow = new Promise<void>((r) => (this.accepting = r));

  constructor(
    private readonly ctx: ExternalBrokerContext,
    private readonly settings: ExternalBrokerSettings,
  ) {
    this.delayMs = settings.reconnectMinMs ?? EXTERNAL_DEFAULTS.reconnectMinMs;
    this.alarms = new AlarmLatch({ source: 'broker', actor: 'hub', bus: ctx.bus, events: ctx.events, log: ctx.log, sessionIds: () => [] });
  }

  /** The hub's own retained liveness topic; its will sets it offline when the hub dies. */
  private get statusTopic(): string {
    return `fh/${this.ctx.site}/hub/status`;
  }

  isConnected(): boolean {
    return this.connected;
  }

  /**
   * Connects, and waits for the first CONNACK at most firstConnectMs: a broker that is away
   * at start-up degrades the hub (alarm, /healthz) instead of stopping it; the client keeps
   * trying with backoff.
   */
  async connect(): Promise<void> {
    const s = this.settings;
    const opts: IClientOptions = {
      clientId: s.clientId,
      clean: false, // persistent session: the broker queues QoS 1 for the hub while it is down
      protocolVersion: 4, // MQTT 3.1.1, the contract's protocol
      username: s.username,
      ...(s.password !== undefined ? { password: s.password } : {}),
      ...(s.ca ? { ca: s.ca } : {}),
      ...(s.cert ? { cert: s.cert } : {}),
      ...(s.key ? { key: s.key } : {}),
      rejectUnauthorized: true,
      keepalive: EXTERNAL_DEFAULTS.keepaliveS,
      connectTimeout: s.connectTimeoutMs ?? EXTERNAL_DEFAULTS.connectTimeoutMs,
      reconnectPeriod: this.delayMs,
      resubscribe: false, // subscribed on every CONNACK below, session present or not
      will: { topic: this.statusTopic, payload: Buffer.from(JSON.stringify({ online: false })), qos: 1, retain: true },
    };
    const client = mqtt.connect(s.url, opts);
    this.client = client;
    this.pipelineAcks(client);
    client.on('connect', () => this.onConnect());
    client.on('close', () => this.onClose());
    client.on('error', (err) => this.onError(err));
    await new Promise<void>((done) => {
      const timer = setTimeout(finish, s.firstConnectMs ?? EXTERNAL_DEFAULTS.firstConnectMs);
      function finish(): void {
        clearTimeout(timer);
        client.off('connect', finish);
        client.off('close', finish);
        done();
      }
      client.once('connect', finish);
      client.once('close', finish);
    });
  }

  /**
   * Durability before PUBACK without one commit per message: mqtt.js reads the next packet
   * only once a message's handler is done and its PUBACK sent, which would make every device
   * message of the site wait for the commit of the one before it (one fsync each, ~25× fewer
   * messages per second than the embedded broker's group commit: bench/external-broker.ts).
   * So the handler returns at once, and the PUBACK mqtt.js then sends is held back until the
   * message is committed, PUBACKs leaving in the order the messages came (MQTT-4.6.0-2).
   * Messages are handled concurrently as they arrive, as aedes hands them to the hub in
   * embedded mode, so that their commits share one group commit.
   * This relies on mqtt.js 5 sending the PUBACK through `_sendPacket` after `handleMessage`
   * (node_modules/mqtt/build/lib/handlers/publish.js); the redelivery test fails if it stops.
   */
  private pipelineAcks(client: MqttClient): void {
    type SendPacket = (packet: Packet, cb?: (err?: Error) => void, ...rest: unknown[]) => void;
    const internals = client as unknown as { _sendPacket: SendPacket };
    const send = internals._sendPacket.bind(client);
    const pending = new Map<number, Promise<void>>();
    let acks: Promise<void> = Promise.resolve();
    internals._sendPacket = (packet, cb, ...rest) => {
      const id = packet.cmd === 'puback' ? packet.messageId : undefined;
      const work = id === undefined ? undefined : pending.get(id);
      if (id === undefined || work === undefined) return send(packet, cb, ...rest);
      pending.delete(id);
      const stream = client.stream;
      acks = acks.then(
        () =>
          work.then(
            // A PUBACK belongs to its connection: after a reconnect the broker sends the message again.
            () => (client.stream === stream && !stream.destroyed ? send(packet) : undefined),
            (err: unknown) => {
              // Not committed: no PUBACK, and the connection is dropped so that the broker sends
              // this message (and those after it, unacknowledged) again on the next session.
              this.ctx.log.error({ err }, 'device message not stored: not acknowledged to the broker, reconnecting for redelivery');
              stream.destroy();
            },
          ),
      );
      cb?.(); // mqtt.js goes on to the next packet now
    };
    client.on('connect', () => pending.clear());
    client.handleMessage = (packet: Packet, done: (err?: Error) => void): void => {
      const pub = packet as IPublishPacket;
      const work = this.onPublish(pub);
      if (pub.qos === 1 && pub.messageId !== undefined) {
        // Handled here so that a failure before its turn in the PUBACK chain is no unhandled rejection.
        work.catch(() => undefined);
        pending.set(pub.messageId, work);
      } else work.catch((err: unknown) => this.ctx.log.error({ err, topic: pub.topic }, 'device message (QoS 0) not stored'));
      done();
    };
  }

  /** From now on, device messages reach the Ingest (the features that answer them are started). */
  resume(): void {
    this.accepting();
  }

  /**
   * Publishes as the hub. Resolves when mqtt.js has the message (sent, or queued while the
   * link is down), as the embedded publish resolves once aedes has it: waiting for the
   * broker's PUBACK would add a round trip to every gate answer and leave callers hanging
   * while the link is down. mqtt.js re-sends unacknowledged QoS 1 after a reconnect.
   */
  publish(topic: string, payload: unknown, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    const client = this.client;
    if (!client || this.closing) return Promise.reject(new Error('external broker client not started'));
    client.publish(topic, JSON.stringify(payload), { qos: opts.qos ?? 1, retain: opts.retain ?? false }, (err) => {
      if (err && !this.closing) this.ctx.log.warn({ topic, err: err.message }, 'publish to the external broker failed');
    });
    return Promise.resolve();
  }

  /** Token revocation is the broker's (its password file); nothing to close here. */
  closeRevoked(): void {}

  connectedDevices(): string[] {
    return [...this.online];
  }

  async close(): Promise<void> {
    const client = this.client;
    if (!client || this.closing) return;
    this.closing = true;
    // Said before the DISCONNECT: a clean disconnect does not fire the will.
    if (this.connected) client.publish(this.statusTopic, JSON.stringify({ online: false }), { qos: 1, retain: true });
    // A graceful end waits for in-flight messages; a broker that is away would hold it forever.
    await Promise.race([client.endAsync(false), new Promise((r) => setTimeout(r, 2_000).unref())]);
    if (!client.disconnected) await client.endAsync(true);
    this.connected = false;
    this.ctx.metrics.brokerConnected.set(0);
    this.client = null;
  }

  private onConnect(): void {
    const client = this.client;
    if (!client) return;
    const wasDown = this.everConnected;
    // TCP_NODELAY on the hub's side too: its PUBACKs and answers are small packets that
    // Nagle's algorithm would hold until the broker's delayed ACK (~40 ms each).
    (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    this.connected = true;
    this.everConnected = true;
    this.delayMs = this.settings.reconnectMinMs ?? EXTERNAL_DEFAULTS.reconnectMinMs;
    client.options.reconnectPeriod = this.delayMs;
    this.ctx.metrics.brokerConnected.set(1);
    if (wasDown) this.ctx.metrics.brokerReconnects.inc();
    this.ctx.log.info({ url: safeUrl(this.settings.url), clientId: this.settings.clientId }, wasDown ? 'external broker back' : 'connected to the external broker');
    void this.alarms.clear(LINK_ALARM, 'connected');
    // Only the subtopics devices publish: the hub's own cmd, verify/result and hub/# would
    // otherwise come back to it. QoS 1, so the broker queues them in the persistent session.
    const filters = Object.fromEntries(DEVICE_PUBLISH_SUBTOPICS.map((sub) => [`fh/${this.ctx.site}/+/${sub}`, { qos: 1 as const }]));
    client.subscribe(filters, (err, granted) => {
      const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
      if (err || refused.length) this.ctx.log.error({ err: err?.message, refused }, 'external broker refused the hub\'s subscriptions: check its ACL (the hub needs readwrite on fh/{site}/#)');
    });
    client.publish(this.statusTopic, JSON.stringify({ online: true }), { qos: 1, retain: true });
  }

  private onClose(): void {
    const wasConnected = this.connected;
    this.connected = false;
    this.ctx.metrics.brokerConnected.set(0);
    if (this.closing) return;
    // Backoff: each failed attempt doubles the wait before the next (mqtt.js reads it when it schedules one).
    if (!wasConnected) this.delayMs = Math.min(this.delayMs * 2, this.settings.reconnectMaxMs ?? EXTERNAL_DEFAULTS.reconnectMaxMs);
    if (this.client) this.client.options.reconnectPeriod = this.delayMs;
    // Devices are not marked offline here: they are connected to the broker, not to the
    // hub, and may well still be. The broker keeps their retained status and fires their
    // wills meanwhile; both reach the hub through its persistent session when it is back.
    void this.alarms.raise({
      id: LINK_ALARM,
      severity: 'critical',
      message: `与外部MQTT服务器的连接中断，正在重连 / Link to the external MQTT broker lost (${safeUrl(this.settings.url)}); reconnecting`,
      data: { url: safeUrl(this.settings.url) },
    });
  }

  private onError(err: Error): void {
    // CONNACK refusals (bad password, not authorised) and socket errors; the close follows.
    const key = `error:${err.message}`;
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.ctx.log.error({ url: safeUrl(this.settings.url), err: err.message }, 'external broker connection error');
  }

  private refuse(deviceId: string, topic: string, reason: string): void {
    this.ctx.metrics.mqttRefused.inc({ what: 'publish' });
    const key = `${deviceId}:${reason}`;
    if (this.logged.has(key) || this.logged.size > 10_000) return;
    this.logged.add(key);
    this.ctx.log.warn({ deviceId, topic, reason }, 'mqtt publish refused');
  }

  private reject(deviceId: string, topic: string, reason: string): void {
    this.ctx.metrics.mqttRejected.inc({ reason: reason.split(':')[0] ?? reason });
    this.ctx.log.warn({ deviceId, topic, reason }, 'device message rejected');
  }

  /** One message from the broker; resolving lets mqtt.js send the PUBACK. */
  private async onPublish(packet: IPublishPacket): Promise<void> {
    await this.acceptingNow;
    const topic = packet.topic;
    const prefix = `fh/${this.ctx.site}/`;
    if (!topic.startsWith(prefix)) return;
    const deviceId = topic.slice(prefix.length).split('/')[0] ?? '';
    if (deviceId === 'hub') return;
    // The broker's ACL vouches that only `deviceId` could publish here (docs/deploy.md).
    if (!this.ctx.isDevice(deviceId)) return this.refuse(deviceId, topic, 'unknown device');
    const acl = checkPublish(this.ctx.site, deviceId, topic);
    if (!acl.allow) return this.refuse(deviceId, topic, acl.reason);
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    this.ctx.onSeen(deviceId);
    if (payload.length > this.ctx.maxPayloadBytes) return this.reject(deviceId, topic, `too-large: ${payload.length} bytes > ${this.ctx.maxPayloadBytes}`);
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return this.reject(deviceId, topic, 'not-json: payload is not valid JSON');
    }
    const outcome = await this.ctx.onMessage({ deviceId, subtopic: acl.subtopic, topic, payload: body, qos: packet.qos === 0 ? 0 : 1, retain: packet.retain });
    if (!outcome.accepted) return this.reject(deviceId, topic, `bad-shape: ${outcome.reason}`);
    if (acl.subtopic === 'status') {
      if ((body as { online?: unknown }).online === true) this.online.add(deviceId);
      else this.online.delete(deviceId);
    }
    this.ctx.metrics.mqttMessages.inc({ subtopic: acl.subtopic });
  }
}
