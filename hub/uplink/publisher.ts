import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import type { Outbox, OutboxRow } from './outbox.js';

export type UplinkState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

export interface PublisherOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** `{prefix}/event`, `{prefix}/checkpoint`. */
  topicPrefix: string;
  site: string;
  /** QoS 1 messages in flight at once. */
  window: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

export interface PublisherHooks {
  /** A row was acknowledged by the upstream broker (after its PUBACK, before its delete commits). */
  onAcked(seq: number): void;
  onState(state: UplinkState): void;
}

/**
 * The QoS 1 sender: an MQTT 5 session with `clean: false`, a fixed client id and a long
 * session expiry, so that the upstream broker and the client keep the unacknowledged
 * publishes across a reconnect (mqtt.js resends them from its store with their packet ids
 * and callbacks; the payload, and so the seq, is the same). Rows are read from the outbox
 * a window at a time, in seq order, and deleted only after their PUBACK. After a hub
 * restart the client's store is empty and every row left in the outbox is sent again with
 * its seq: the receiver may see a message twice, never miss one.
 */
export class Publisher {
  private client: MqttClient | null = null;
  private readonly inflight = new Set<number>();
  /** Rows below this seq were handed to the client in this process. */
  private nextSeq = 0;
  private attempts = 0;
  private state: UplinkState = 'stopped';
  private lastErrorText: string | null = null;
  private filling = false;
  /** A send failed during this fill: stop, and try again at the next connect or PUBACK. */
  private failed = false;

  constructor(
    private readonly opts: PublisherOptions,
    private readonly outbox: Outbox,
    private readonly log: Logger,
    private readonly hooks: PublisherHooks,
  ) {}

  start(): void {
    const o = this.opts;
    const options: IClientOptions = {
      protocolVersion: 5,
      clientId: o.clientId,
      clean: false,
      // Kept by the broker for a week of outage; the outbox keeps everything longer anyway.
      properties: { sessionExpiryInterval: 7 * 24 * 3600 },
      reconnectPeriod: o.reconnectMinMs,
      connectTimeout: 10_000, // 10 s
      keepalive: 30, // s
      resubscribe: false,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
      ...(o.cert ? { cert: o.cert } : {}),
      ...(o.key ? { key: o.key } : {}),
    };
    this.setState('connecting');
    const client = mqtt.connect(o.url, options);
    this.client = client;
    client.on('connect', () => {
      if (this.attempts > 0 || this.lastErrorText !== null) this.log.info({ url: o.url }, 'uplink connected');
      this.attempts = 0;
      client.options.reconnectPeriod = o.reconnectMinMs;
      this.setState('connected');
      this.fill();
    });
    client.on('close', () => {
      if (this.state === 'stopped') return;
      // Backoff: doubling from min to max; mqtt.js reads the period when it schedules the next try.
      this.attempts++;
      client.options.reconnectPeriod = Math.min(o.reconnectMaxMs, o.reconnectMinMs * 2 ** Math.min(this.attempts - 1, 20));
      if (this.state === 'connected') this.log.warn({ url: o.url, lastError: this.lastErrorText }, 'uplink disconnected');
      this.setState('disconnected');
    });
    client.on('error', (err) => {
      // The first failure of a streak at warn, the rest at debug (no log floods).
      const text = err.message;
      if (this.lastErrorText !== text) this.log.warn({ url: o.url, error: text }, 'uplink error');
      else this.log.debug({ url: o.url, error: text }, 'uplink error');
      this.lastErrorText = text;
    });
  }

  /** Sends what the window allows; call when the outbox grew or a PUBACK arrived. */
  fill(): void {
    const client = this.client;
    if (!client || this.state !== 'connected' || this.filling) return;
    this.filling = true;
    this.failed = false;
    try {
      while (this.inflight.size < this.opts.window && !this.failed) {
        const rows = this.outbox.page(this.nextSeq, this.opts.window - this.inflight.size);
        if (rows.length === 0) break;
        for (const row of rows) if (!this.failed) this.send(client, row);
      }
    } finally {
      this.filling = false;
    }
  }

  private send(client: MqttClient, row: OutboxRow): void {
    this.inflight.add(row.seq);
    this.nextSeq = row.seq + 1;
    const body = JSON.parse(row.payload) as Record<string, unknown>;
    const wire = JSON.stringify({ v: 1, site: this.opts.site, seq: row.seq, ...body });
    client.publish(`${this.opts.topicPrefix}/${row.topic}`, wire, { qos: 1 }, (err) => {
      this.inflight.delete(row.seq);
      if (err) {
        // Not acknowledged: send it again (same seq) once the client can.
        if (this.state !== 'stopped') this.lastErrorText = err.message;
        this.nextSeq = Math.min(this.nextSeq, row.seq);
        this.failed = true;
        return;
      }
      this.hooks.onAcked(row.seq);
      this.fill();
    });
  }

  connected(): boolean {
    return this.state === 'connected';
  }

  currentState(): UplinkState {
    return this.state;
  }

  lastError(): string | null {
    return this.lastErrorText;
  }

  inFlight(): number {
    return this.inflight.size;
  }

  async stop(): Promise<void> {
    this.setState('stopped');
    const client = this.client;
    this.client = null;
    // Forced: what is in flight stays in the outbox and is sent again at the next start.
    if (client) await client.endAsync(true).catch(() => undefined);
  }

  private setState(s: UplinkState): void {
    if (this.state === s) return;
    this.state = s;
    this.hooks.onState(s);
  }
}
