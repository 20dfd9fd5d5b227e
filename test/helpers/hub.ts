import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { parseFacility, loadFacility, DEMO_FACILITY } from '../../config/load.js';
import type { Facility } from '../../config/schema.js';
import { Hub, type HubOptions } from '../../hub/hub.js';
import { createHub } from '../../hub/compose.js';
import type { Clock } from '../../kernel/clock.js';
import { silentLogger, type Logger } from '../../hub/log.js';

export const ADMIN_PASSWORD = 'test-admin-password';

export function tempDir(prefix = 'fh-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The demo facility, or a YAML text parsed as a facility (fails loudly when invalid). */
export function facility(yaml?: string): Facility {
  const r = yaml === undefined ? loadFacility(DEMO_FACILITY) : parseFacility(yaml, 'test.yaml');
  if (!r.ok) throw new Error(`test facility invalid: ${JSON.stringify(r.errors)}`);
  return r.facility;
}

/** A small facility with only MQTT devices (no Modbus/serial endpoints needed). */
export const MQTT_ONLY_FACILITY = `
version: 1
site: { id: demo }
zones: [{ id: eval }]
rooms:
  - { id: room-1, zone: eval, seats: 4 }
  - { id: room-2, zone: eval, seats: 4 }
  - { id: room-3, zone: eval, seats: 4 }
devices:
  - { id: gate-1, kind: gate, transport: { type: mqtt }, zones: [eval] }
  - { id: gate-2, kind: gate, transport: { type: mqtt }, zones: [eval] }
  - { id: door-1, kind: door, transport: { type: mqtt }, zones: [eval] }
  - { id: robot-1, kind: robot, transport: { type: mqtt }, rooms: [room-1, room-2] }
  - { id: fire-1, kind: fire-panel, transport: { type: mqtt }, zones: [eval] }
`;

export interface TestHub {
  hub: Hub;
  dataDir: string;
  mqttUrl: string;
  /** Logs in and returns a bearer token. */
  login(username?: string, password?: string): Promise<string>;
  /** Issues a token and connects a real MQTT client as that device. */
  connectDevice(deviceId: string, opts?: mqtt.IClientOptions): Promise<MqttClient>;
  stop(): Promise<void>;
}

export interface TestHubOptions {
  facility?: Facility;
  clock?: Clock;
  log?: Logger;
  dataDir?: string;
  /** Use createHub (all features) instead of the bare foundation Hub. */
  full?: boolean;
  extra?: Partial<HubOptions>;
  /** Called with the hub before it starts (to add a feature, as the CLI does). */
  beforeStart?: (hub: Hub) => void;
}

/** A hub on ephemeral ports with a fresh data dir (or a given one, for restarts). */
export async function startTestHub(opts: TestHubOptions = {}): Promise<TestHub> {
  const tmp = opts.dataDir ? null : tempDir();
  const dataDir = opts.dataDir ?? tmp!.dir;
  const hubOpts: HubOptions = {
    facility: opts.facility ?? facility(MQTT_ONLY_FACILITY),
    dataDir,
    httpPort: 0,
    mqttPort: 0,
    httpHost: '127.0.0.1',
    mqttHost: '127.0.0.1',
    log: opts.log ?? silentLogger(),
    adminPassword: ADMIN_PASSWORD,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...opts.extra,
  };
  const hub = opts.full ? createHub(hubOpts) : new Hub(hubOpts);
  opts.beforeStart?.(hub);
  await hub.start();
  const mqttUrl = `mqtt://127.0.0.1:${hub.mqttPort}`;
  const clients: MqttClient[] = [];
  return {
    hub,
    dataDir,
    mqttUrl,
    async login(username = 'admin', password = ADMIN_PASSWORD) {
      const res = await hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
      if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
      return res.json<{ token: string }>().token;
    },
    async connectDevice(deviceId, extra = {}) {
      const token = hub.tokens.issue(deviceId);
      const client = await mqtt.connectAsync(mqttUrl, { username: deviceId, password: token, clientId: `t-${deviceId}-${clients.length}`, reconnectPeriod: 0, protocolVersion: 4, ...extra });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const c of clients) await c.endAsync(true).catch(() => undefined);
      await hub.stop('test');
      tmp?.cleanup();
    },
  };
}

/** Resolves with the next message on a topic (subscribing first). */
export async function nextMessage(client: MqttClient, topic: string, timeoutMs = 5000): Promise<unknown> {
  await client.subscribeAsync(topic, { qos: 1 });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', on);
      reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', on);
      resolve(JSON.parse(payload.toString('utf8')));
    };
    client.on('message', on);
  });
}

export { waitFor } from './wait.js';
