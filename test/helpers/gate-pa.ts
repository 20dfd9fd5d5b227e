/**
 * A full hub (check-in, broadcast, power) with a real PA controller simulator over TCP and
 * one real MQTT gate: the rig of tests where a supervisor acts on experts the gate seated.
 */
import type { Test } from 'tap';
import { ManualClock } from '../../hub/clock.js';
import { silentLogger } from '../../hub/log.js';
import type { CheckIn } from '../../hub/checkin/checkin.js';
import type { CheckInFeature } from '../../hub/checkin/feature.js';
import { startPaSimulator, type PaSimulator } from '../../simulators/pa-controller.js';
import { gateSimulator, type GateSimulator } from '../../simulators/gate.js';
import { facility, startTestHub, waitFor, type TestHub } from './hub.js';

export const T0 = Date.UTC(2026, 10, 28, 1, 0, 0); // 09:00 +08:00

export interface GatePaRig {
  clock: ManualClock;
  sim: PaSimulator;
  th: TestHub;
  checkin: CheckIn;
  gate: GateSimulator;
}

/**
 * `facilityYaml` gets the simulator's port; the facility must have `gate-1` and a
 * broadcast device `pa-1` on `{ type: tcp, host: 127.0.0.1, port }`.
 */
export async function startGatePaRig(t: Test, zones: number, facilityYaml: (paPort: number) => string): Promise<GatePaRig> {
  const clock = new ManualClock(T0);
  const sim = await startPaSimulator({ port: 0, zones, clock, log: silentLogger(), messages: 8 });
  t.teardown(() => sim.stop());
  const th = await startTestHub({ full: true, clock, facility: facility(facilityYaml(sim.port)) });
  t.teardown(() => th.stop());
  const { hub } = th;
  await waitFor(() => hub.availability.isAvailable('pa-1'), 8000, 'pa-1 available');
  const checkin = (hub.features.find((f) => f.name === 'checkin') as CheckInFeature).checkin();
  const gate = gateSimulator(hub.facility.devices.find((d) => d.id === 'gate-1')!, { url: th.mqttUrl, site: 'demo', token: hub.tokens.issue('gate-1'), clock, log: silentLogger(), reconnectMs: 0 });
  await gate.start();
  t.teardown(() => gate.stop());
  return { clock, sim, th, checkin, gate };
}
