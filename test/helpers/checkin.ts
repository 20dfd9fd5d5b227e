import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import type { Facility } from '../../config/schema.js';
import type { GateSimulator} from '../../simulators/gate.js';
import { gateSimulator } from '../../simulators/gate.js';
import { demoPerson, type DemoPerson } from '../../simulators/demo-people.js';
import { startTestHub, type TestHub } from './hub.js';
import type { CheckInFeature } from '../../hub/checkin/feature.js';

export const T0 = Date.UTC(2026, 10, 28, 1, 0, 0); // 09:00 +08:00

export interface CheckinHarness {
  th: TestHub;
  clock: ManualClock;
  token: string;
  gate(id: string): Promise<GateSimulator>;
  createSession(body: Record<string, unknown>): Promise<{ id: string; status: string }>;
  roster(sessionId: string, people: DemoPerson[] | Record<string, unknown>[]): Promise<void>;
  feature(): CheckInFeature;
  stop(): Promise<void>;
}

/** A full hub (check-in wired) on a ManualClock at T0, with real MQTT gates on demand. */
export async function checkinHarness(opts: { facility?: Facility; dataDir?: string; clock?: ManualClock } = {}): Promise<CheckinHarness> {
  const clock = opts.clock ?? new ManualClock(T0);
  const th = await startTestHub({ full: true, clock, ...(opts.facility ? { facility: opts.facility } : {}), ...(opts.dataDir ? { dataDir: opts.dataDir } : {}) });
  const token = await th.login();
  const gates: GateSimulator[] = [];
  const api = th.hub.api();
  return {
    th,
    clock,
    token,
    async gate(id) {
      const sim = gateSimulator(th.hub.facility.devices.find((d) => d.id === id)!, {
        url: th.mqttUrl,
        site: th.hub.facility.site.id,
        token: th.hub.tokens.issue(id),
        clock,
        log: silentLogger(),
        reconnectMs: 0,
      });
      await sim.start();
      gates.push(sim);
      return sim;
    },
    async createSession(body) {
      const res = await api.inject({ method: 'POST', url: '/api/sessions', headers: { authorization: `Bearer ${token}` }, payload: body });
      if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`session not created: ${res.statusCode} ${res.body}`);
      return res.json();
    },
    async roster(sessionId, people) {
      const res = await api.inject({ method: 'POST', url: `/api/sessions/${sessionId}/roster`, headers: { authorization: `Bearer ${token}` }, payload: people });
      if (res.statusCode !== 200) throw new Error(`roster refused: ${res.statusCode} ${res.body}`);
    },
    feature() {
      return th.hub.features.find((f) => f.name === 'checkin') as CheckInFeature;
    },
    async stop() {
      for (const g of gates) await g.stop().catch(() => undefined);
      await th.stop();
    },
  };
}

export const iso = (ms: number): string => new Date(ms).toISOString();
export { demoPerson };
