/**
 * Jammer tests: the full hub (createHub) with a manual clock, its jammer relay module and
 * a load module as real relay simulators over Modbus TCP on free ports, MQTT devices for
 * the fire panel, the door and the robot. Restartable on the same data dir.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { ManualClock } from '../../kernel/clock.js';
import type { Hub } from '../../hub/hub.js';
import { createHub } from '../../hub/compose.js';
import { createLogger, silentLogger } from '../../hub/log.js';
import type { JammerFeature } from '../../hub/jammers/feature.js';
import type { LineOptions } from '../../hub/lines.js';
import { startRelaySimulator, type RelaySimulator } from '../../simulators/relay-modbus.js';
import { ADMIN_PASSWORD, facility, tempDir } from './hub.js';
import { advanceUntil } from './power-sims.js';

export { advanceUntil };

/** 2026-11-28 09:00 +08:00 */
export const T0 = Date.UTC(2026, 10, 28, 1, 0, 0);
export const MIN = 60_000;

export function jammerFacilityYaml(ports: { jammers: number; loads: number }, jammers = '', extra = ''): string {
  return `
version: 1
site: { id: demo, utcOffset: "+08:00" }
zones: [{ id: eval }]
rooms:
  - { id: room-1, zone: eval, seats: 4 }
  - { id: room-2, zone: eval, seats: 4 }
  - { id: room-3, zone: eval, seats: 4 }
devices:
  - id: relay-1
    kind: relay
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${ports.jammers}, timeoutMs: 1000 }
    rooms: [room-1, room-2, room-3]
    options:
      coils: 4
      pollMs: 200
      outputs:
        - { coil: 0, id: jammer-room-1, role: jammer, room: room-1 }
        - { coil: 1, id: jammer-room-2, role: jammer, room: room-2 }
        - { coil: 2, id: jammer-room-3, role: jammer, room: room-3 }
        - { coil: 3, id: spare, role: other }
  - id: relay-2
    kind: relay
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${ports.loads}, timeoutMs: 1000 }
    options:
      coils: 4
      pollMs: 200
      outputs:
        - { coil: 0, id: hall-display, role: sheddable }
        - { coil: 1, id: supervision-wall, role: critical }
  - { id: fire-1, kind: fire-panel, transport: { type: mqtt }, zones: [eval] }
  - { id: door-1, kind: door, transport: { type: mqtt }, zones: [eval] }
  - { id: gate-1, kind: gate, transport: { type: mqtt }, zones: [eval] }
${extra}
power:
  shutdown: { stopHub: false }
jammers:
  retryMs: 500
  reapplyMs: 5000
${jammers}
`;
}

export interface JammerRig {
  hub: Hub;
  jammers: JammerFeature;
  clock: ManualClock;
  sim: RelaySimulator;
  loads: RelaySimulator;
  dataDir: string;
  mqttUrl: string;
  login(): Promise<string>;
  call(method: 'GET' | 'POST' | 'DELETE', url: string, token: string, payload?: unknown): Promise<{ statusCode: number; json: () => ReturnType<typeof JSON.parse>; body: string; headers: Record<string, unknown> }>;
  device(id: string): Promise<MqttClient>;
  /** Coils of the jammer module (zones of room-1..room-3). */
  zones(): boolean[];
  /** Advances the manual clock in small steps until the condition holds. */
  until(cond: () => boolean, what: string): Promise<void>;
  /** Stops the hub only (the simulators and data dir stay, for a restart). */
  stopHub(): Promise<void>;
  /** A new hub on the same data dir, simulators and clock. */
  restart(): Promise<JammerRig>;
  stop(): Promise<void>;
}

export interface JammerRigOptions {
  jammers?: string;
  extra?: string;
  clock?: ManualClock;
  sim?: RelaySimulator;
  loads?: RelaySimulator;
  dataDir?: string;
  cleanup?: () => void;
  /** The inputs behind `gpio` devices (FakeDigitalInput), by device id. */
  gpioInput?: LineOptions['gpioInput'];
}

export async function startJammerRig(o: JammerRigOptions = {}): Promise<JammerRig> {
  const clock = o.clock ?? new ManualClock(T0);
  const log = process.env.JDEBUG ? createLogger({ level: process.env.JDEBUG }) : silentLogger();
  const sim = o.sim ?? (await startRelaySimulator({ port: 0, log, coils: 4 }));
  const loads = o.loads ?? (await startRelaySimulator({ port: 0, log, coils: 4 }));
  const tmp = o.dataDir ? null : tempDir('fh-jam-');
  const dataDir = o.dataDir ?? tmp!.dir;
  const cleanup = o.cleanup ?? tmp!.cleanup;
  const hub = createHub({
    facility: facility(jammerFacilityYaml({ jammers: sim.port, loads: loads.port }, o.jammers, o.extra)),
    dataDir,
    httpPort: 0,
    mqttPort: 0,
    httpHost: '127.0.0.1',
    mqttHost: '127.0.0.1',
    log,
    clock,
    adminPassword: ADMIN_PASSWORD,
    lines: { reconnect: { initialMs: 20, maxMs: 100 }, ...(o.gpioInput ? { gpioInput: o.gpioInput } : {}) },
  });
  await hub.start();
  const jammers = hub.features.find((f) => f.name === 'jammers') as JammerFeature;
  const mqttUrl = `mqtt://127.0.0.1:${hub.mqttPort}`;
  const clients: MqttClient[] = [];
  let hubStopped = false;
  const rig: JammerRig = {
    hub,
    jammers,
    clock,
    sim,
    loads,
    dataDir,
    mqttUrl,
    async login() {
      const res = await hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: ADMIN_PASSWORD } });
      return res.json<{ token: string }>().token;
    },
    async call(method, url, token, payload) {
      const res = await hub.api().inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
      return { statusCode: res.statusCode, json: () => res.json(), body: res.body, headers: res.headers };
    },
    async device(id) {
      const token = hub.tokens.issue(id);
      const c = await mqtt.connectAsync(mqttUrl, { username: id, password: token, clientId: `t-${id}-${clients.length}`, reconnectPeriod: 0, protocolVersion: 4 });
      clients.push(c);
      await c.publishAsync(`fh/demo/${id}/status`, JSON.stringify({ online: true }), { qos: 1, retain: true });
      return c;
    },
    zones: () => sim.coils().slice(0, 3),
    async until(cond, what) {
      await advanceUntil(clock, cond, what, 50, 10_000);
      // The write that moved the coil has finished (its read-back and record) before the test goes on.
      await jammers.idle();
    },
    async stopHub() {
      if (hubStopped) return;
      hubStopped = true;
      for (const c of clients) await c.endAsync(true).catch(() => undefined);
      await hub.stop('test');
    },
    async restart() {
      await rig.stopHub();
      return startJammerRig({ ...o, clock, sim, loads, dataDir, cleanup });
    },
    async stop() {
      await rig.stopHub();
      await Promise.all([sim.stop(), loads.stop()]);
      cleanup();
    },
  };
  return rig;
}

/** Creates a session through the API (admin token). */
export async function createSession(rig: JammerRig, token: string, s: { code: string; start: number; end: number; rooms: string[] }): Promise<{ id: string }> {
  const res = await rig.call('POST', '/api/sessions', token, { code: s.code, name: s.code, start: new Date(s.start).toISOString(), end: new Date(s.end).toISOString(), rooms: s.rooms, checkInOpensMinutes: 30 });
  if (res.statusCode !== 200 && res.statusCode !== 201) throw new Error(`session not created: ${res.statusCode} ${res.body}`);
  await rig.jammers.idle();
  return res.json() as { id: string };
}
