/**
 * Door tests: the full hub (createHub) on a manual clock over real MQTT, with the door
 * controller's simulator (simulators/door.ts) as door-1 and raw MQTT clients for the
 * other devices when a test needs them.
 */
import type { MqttClient } from 'mqtt';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger, createLogger } from '../../hub/log.js';
import type { Facility } from '../../config/schema.js';
import type { LineOptions } from '../../hub/lines.js';
import type { DoorFeature } from '../../hub/door/feature.js';
import type { HubEvents } from '../../hub/events.js';
import { doorSimulator, type DoorSimulator } from '../../simulators/door.js';
import { MQTT_ONLY_FACILITY, facility, startTestHub, waitFor, type TestHub } from './hub.js';

export const T0 = Date.UTC(2026, 10, 28, 1, 0, 0); // 09:00 +08:00
export const MIN = 60_000;
export const PASSAGE_MS = 5000;
export const HOLD_MS = 30_000;

export interface DoorRig {
  th: TestHub;
  clock: ManualClock;
  token: string;
  door: DoorSimulator;
  feature: DoorFeature;
  call(method: 'GET' | 'POST', url: string, payload?: unknown, token?: string): Promise<{ statusCode: number; json: () => ReturnType<typeof JSON.parse>; body: string }>;
  /** A session in check-in from now on (running), with room-1. */
  runningSession(code?: string): Promise<{ id: string }>;
  task(state: HubEvents['robot.task']['state'], opts?: { robotId?: string; taskId?: string; doorId?: string | null; sessionId?: string | null }): void;
  device(id: string): Promise<MqttClient>;
  doorAlarms(): { id: string; severity: string; oneShot: boolean }[];
  /** Lets MQTT messages cross (real sockets) and the feature finish what it started. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDoorRig(opts: { facility?: Facility; gpioInput?: LineOptions['gpioInput'] } = {}): Promise<DoorRig> {
  const clock = new ManualClock(T0);
  const log = process.env.DDEBUG ? createLogger({ level: process.env.DDEBUG }) : silentLogger();
  const th = await startTestHub({
    full: true,
    clock,
    log,
    facility: opts.facility ?? facility(MQTT_ONLY_FACILITY),
    ...(opts.gpioInput ? { extra: { lines: { gpioInput: opts.gpioInput } } } : {}),
  });
  const token = await th.login();
  const config = th.hub.facility.devices.find((d) => d.id === 'door-1')!;
  const door = doorSimulator(config, { url: th.mqttUrl, site: 'demo', token: th.hub.tokens.issue('door-1'), clock, log, reconnectMs: 0 }, { passageMs: PASSAGE_MS, holdOpenMs: HOLD_MS });
  await door.start();
  await waitFor(() => th.hub.availability.isAvailable('door-1') && th.hub.availability.get('door-1')?.state.locked === true, 3000, 'door-1 online with its state');
  const feature = th.hub.features.find((f) => f.name === 'door') as DoorFeature;
  const api = th.hub.api();
  const rig: DoorRig = {
    th,
    clock,
    token,
    door,
    feature,
    async call(method, url, payload, as = token) {
      const res = await api.inject({ method, url, headers: { authorization: `Bearer ${as}` }, ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
      return { statusCode: res.statusCode, json: () => res.json(), body: res.body };
    },
    async runningSession(code = 'D-1') {
      const res = await rig.call('POST', '/api/sessions', { code, name: code, start: new Date(clock.now() + 10 * MIN).toISOString(), end: new Date(clock.now() + 120 * MIN).toISOString(), rooms: ['room-1'], checkInOpensMinutes: 30 });
      if (res.statusCode !== 200 && res.statusCode !== 201) throw new Error(`session not created: ${res.statusCode} ${res.body}`);
      const s = res.json() as { id: string };
      await waitFor(() => th.hub.runningSessions().includes(s.id), 2000, 'session running');
      return s;
    },
    task(state, o = {}) {
      th.hub.bus.emit('robot.task', { robotId: o.robotId ?? 'robot-1', taskId: o.taskId ?? 'task-1', state, doorId: o.doorId === undefined ? 'door-1' : o.doorId, sessionId: o.sessionId ?? null });
    },
    device: (id) => th.connectDevice(id),
    doorAlarms: () => th.hub.alarms.list().filter((a) => a.source === 'door').map((a) => ({ id: a.id, severity: a.severity, oneShot: a.oneShot })),
    async settle() {
      await new Promise((r) => setTimeout(r, 30));
      await feature.idle();
    },
    async stop() {
      await door.stop().catch(() => undefined);
      await th.stop();
    },
  };
  return rig;
}
