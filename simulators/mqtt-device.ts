import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import { formatTime } from '../kernel/time.js';

export interface CommandReply {
  ok: boolean;
  error?: string;
  result?: Record<string, unknown>;
}

export type CommandHandler = (args: Record<string, unknown>) => Promise<CommandReply> | CommandReply;

export interface SimulatedDeviceOptions {
  url: string;
  site: string;
  deviceId: string;
  token: string;
  clock: Clock;
  log: Logger;
  utcOffset?: string;
  initialState?: Record<string, unknown>;
  commands?: Record<string, CommandHandler>;
  /** Extra topics of its own to subscribe to (a gate: verify/result). */
  extraSubscriptions?: string[];
  /** Reconnect delay, ms (mqtt.js reconnectPeriod). */
  reconnectMs?: number;
}

/**
 * The base every MQTT device simulator builds on: connects with its token and a will,
 * publishes status (retained), its full state (retained) and events, and executes
 * commands with acks, answering a repeated command id without executing it again, as the
 * contract asks of real devices.
 */
export class SimulatedMqttDevice {
  readonly deviceId: string;
  protected client: MqttClient | null = null;
  protected state: Record<string, unknown>;
  private readonly answered = new Map<string, CommandReply>();
  private readonly topicBase: string;
  private readonly messageListeners: ((subtopic: string, payload: unknown) => void)[] = [];
  readonly executed: { id: string; cmd: string; args: Record<string, unknown> }[] = [];

  constructor(protected readonly opts: SimulatedDeviceOptions) {
    this.deviceId = opts.deviceId;
    this.state = { ...(opts.initialState ?? {}) };
    this.topicBase = `fh/${opts.site}/${opts.deviceId}/`;
  }

  topic(sub: string): string {
    return this.topicBase + sub;
  }

  now(): string {
    return formatTime(this.opts.clock.now(), this.opts.utcOffset ?? '+08:00');
  }

  /** Resolves on the first successful connection; later drops reconnect by themselves. */
  start(): Promise<void> {
    const client = mqtt.connect(this.opts.url, {
      clientId: `sim-${this.opts.deviceId}`,
      username: this.opts.deviceId,
      password: this.opts.token,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: this.opts.reconnectMs ?? 1000,
      connectTimeout: 5000,
      will: { topic: this.topic('status'), payload: Buffer.from(JSON.stringify({ online: false })), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', () => {
      void this.announce();
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (err) => this.opts.log.debug({ deviceId: this.deviceId, err: err.message }, 'simulator mqtt error'));
    return new Promise((resolve, reject) => {
      const onConnect = (): void => {
        client.off('error', onError);
        resolve();
      };
      const onError = (err: Error): void => {
        // Wrong token: mqtt.js would retry forever; fail fast instead.
        if (/Bad username or password|Not authorized/i.test(err.message)) {
          client.off('connect', onConnect);
          client.end(true);
          reject(err);
        }
      };
      client.once('connect', onConnect);
      client.on('error', onError);
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    if (client.connected) {
      await client.publishAsync(this.topic('status'), JSON.stringify({ online: false, ts: this.now() }), { qos: 1, retain: true }).catch(() => undefined);
    }
    await client.endAsync();
  }

  /** Disconnects without the farewell, so the broker publishes the will (a device lost). */
  crash(): void {
    const client = this.client;
    this.client = null;
    client?.stream.destroy();
    client?.end(true);
  }

  onDeviceMessage(listener: (subtopic: string, payload: unknown) => void): void {
    this.messageListeners.push(listener);
  }

  currentState(): Record<string, unknown> {
    return { ...this.state };
  }

  async setState(patch: Record<string, unknown>): Promise<void> {
    this.state = { ...this.state, ...patch };
    await this.publish('state', this.state, true);
  }

  async event(type: string, fields: Record<string, unknown> = {}): Promise<void> {
    await this.publish('event', { type, ts: this.now(), ...fields });
  }

  async publish(sub: string, payload: unknown, retain = false): Promise<void> {
    const client = this.client;
    if (!client) throw new Error(`${this.deviceId} simulator is not running`);
    await client.publishAsync(this.topic(sub), JSON.stringify(payload), { qos: 1, retain });
  }

  private async announce(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      await client.subscribeAsync([this.topic('cmd'), ...(this.opts.extraSubscriptions ?? []).map((s) => this.topic(s))], { qos: 1 });
      await this.publish('status', { online: true, ts: this.now() }, true);
      await this.publish('state', this.state, true);
    } catch (err) {
      this.opts.log.debug({ deviceId: this.deviceId, err }, 'simulator announce failed');
    }
  }

  private onMessage(topic: string, raw: Buffer): void {
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      return;
    }
    const sub = topic.slice(this.topicBase.length);
    if (sub === 'cmd') void this.onCommand(payload);
    for (const l of this.messageListeners) l(sub, payload);
  }

  private async onCommand(payload: unknown): Promise<void> {
    const p = payload as { id?: unknown; cmd?: unknown; args?: unknown };
    if (typeof p.id !== 'string' || typeof p.cmd !== 'string') return;
    const earlier = this.answered.get(p.id);
    let reply: CommandReply;
    if (earlier) reply = earlier;
    else {
      const handler = this.opts.commands?.[p.cmd];
      const args = p.args !== null && typeof p.args === 'object' ? (p.args as Record<string, unknown>) : {};
      this.executed.push({ id: p.id, cmd: p.cmd, args });
      try {
        reply = handler ? await handler(args) : { ok: false, error: `unknown command ${p.cmd}` };
      } catch (err) {
        reply = { ok: false, error: String(err) };
      }
      this.answered.set(p.id, reply);
      if (this.answered.size > 1000) this.answered.delete(this.answered.keys().next().value as string);
    }
    await this.publish('cmd/ack', { id: p.id, ...reply }).catch(() => undefined);
  }
}
