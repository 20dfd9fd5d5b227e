/**
 * A full hub on a ManualClock (check-in, fire, robot wired by compose.ts) with the robot
 * simulator and the fire panel simulator as real MQTT clients of its broker. The robot's
 * legs are a few seconds of clock time, so a whole delivery is moved through by advancing
 * the clock; the door is played by the test (it calls `doorOpened` when the hub grants).
 */
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import type { RobotFeature } from '../../hub/robot/feature.js';
import type { RobotTask } from '../../hub/robot/tasks.js';
import { robotSimulator, type RobotSimulator, type RobotSimOptions } from '../../simulators/robot.js';
import { firePanelSimulator, type FirePanelSimulator } from '../../simulators/kinds.js';
import { checkinHarness, iso, T0, type CheckinHarness } from './checkin.js';
import { facility, MQTT_ONLY_FACILITY } from './hub.js';
import { advanceUntil } from './power-sims.js';
import type { Hub } from '../../hub/hub.js';
import type { HubEvents } from '../../hub/events.js';
import type { Response } from 'light-my-request';

export const MIN = 60_000;
export { T0, iso };

export const ROBOT_FACILITY = `${MQTT_ONLY_FACILITY}robot:
  meals:
    - { name: 午餐, cron: '30 11 * * *' }
`;

export const FAST: RobotSimOptions['timing'] = { departSeconds: 1, legSeconds: 2, passSeconds: 1, seatSeconds: 1, doorTimeoutSeconds: 5 };

export interface RobotRig {
  h: CheckinHarness;
  clock: ManualClock;
  token: string;
  robot: RobotFeature;
  sim: RobotSimulator;
  /** Doors the robot asked to pass, in order (the Node event 'at-door'). */
  doorRequests: string[];
  /** Every `robot.task` bus event, in order. */
  busEvents: HubEvents['robot.task'][];
  firePanel(): Promise<FirePanelSimulator>;
  /** A session in progress now (rooms 1 and 2), answered with its id. */
  session(code?: string): Promise<string>;
  /** Moves the clock in small steps until cond holds (the robot's legs run on it). */
  until(cond: () => boolean, what: string, stepMs?: number): Promise<void>;
  task(id: string): RobotTask;
  api(method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, token?: string): Promise<Response>;
  stop(): Promise<void>;
}

export async function robotRig(opts: { sim?: RobotSimOptions; startSim?: boolean } = {}): Promise<RobotRig> {
  const clock = new ManualClock(T0);
  const h = await checkinHarness({ facility: facility(ROBOT_FACILITY), clock });
  const hub = h.th.hub;
  const robot = hub.features.find((f) => f.name === 'robot') as RobotFeature;
  const busEvents: HubEvents['robot.task'][] = [];
  hub.bus.on('test', 'robot.task', (e) => void busEvents.push(e));
  const base = (id: string) => ({ url: h.th.mqttUrl, site: hub.facility.site.id, token: hub.tokens.issue(id), clock, log: silentLogger(), reconnectMs: 0 });
  const sim = robotSimulator(hub.facility.devices.find((d) => d.id === 'robot-1')!, base('robot-1'), { timing: FAST, ...opts.sim });
  const doorRequests: string[] = [];
  sim.on('at-door', (door) => doorRequests.push(door));
  if (opts.startSim !== false) {
    await sim.start();
    const until = Date.now() + 5000;
    while (!hub.availability.isAvailable('robot-1')) {
      if (Date.now() > until) throw new Error('robot-1 not available');
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const panels: FirePanelSimulator[] = [];
  let sessions = 0;
  const api = hub.api();
  return {
    h,
    clock,
    token: h.token,
    robot,
    sim,
    doorRequests,
    busEvents,
    async firePanel() {
      const p = firePanelSimulator(hub.facility.devices.find((d) => d.id === 'fire-1')!, base('fire-1'));
      await p.start();
      panels.push(p);
      return p;
    },
    async session(code) {
      sessions++;
      const s = await h.createSession({ code: code ?? `R-${sessions}`, name: '送餐测试', start: iso(clock.now() - 10 * MIN), end: iso(clock.now() + 300 * MIN), rooms: ['room-1', 'room-2'] });
      if (s.status !== 'in-progress') throw new Error(`session is ${s.status}`);
      return s.id;
    },
    until: (cond, what, stepMs = 200) => advanceUntil(clock, cond, what, stepMs, 8000),
    task(id) {
      const t = robot.get(id);
      if (!t) throw new Error(`no task ${id}`);
      return t;
    },
    async api(method, url, payload, token = h.token) {
      return api.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload !== undefined ? { payload: payload as object } : {}) });
    },
    async stop() {
      for (const p of panels) await p.stop().catch(() => undefined);
      await sim.stop().catch(() => undefined);
      await h.stop();
    },
  };
}

/** The robot steps in a session's log: [step, state after it, seat or null], in order. */
export function robotSteps(hub: Hub, sessionId: string): [unknown, unknown, unknown][] {
  return hub.events
    .query({ sessionId })
    .filter((e) => e.type === 'robot.task')
    .map((e) => [e.data.step, e.data.to, e.data.seat ?? null]);
}
