/**
 * A full hub (check-in, broadcast, power) with a real PA controller simulator over TCP and
 * one real MQTT gate: the rig of tests where a supervisor acts on experts the gate seated.
 */
import type { Test } from 'tap';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import type { CheckIn } from '../../hub/checkin/checkin.js';
import type { CheckInFeature } from '../../hub/checkin/feature.js';
import { startPaSimulator, type PaSimulator } from '../../simulators/pa-controller.js';
import { gateSimulator, type GateSimulator } from '../../simulators/gate.js';
import { facility, startTestHub, waitFor, type TestHub } from './hub.js';
import { T0 } from './checkin.js';

export { T0 };

export interface GatePaRig {
  clock: ManualClock;
  sim: PaSimulator;
  th: TestHub;
  checkin: CheckIn;
  gate: GateSimulator;
}

export interface GatePaFacility {
  rooms: { id: string; seats: number }[];
  /** The controller's zones: a room's speaker, or a seat's own (with `seat`). */
  zones: { zone: number; room: string; seat?: number }[];
  /** YAML lines under `broadcast:`, each indented by two spaces. */
  broadcast: string;
}

/** The facility of the rig: one zone `eval` with the rooms, `gate-1`, and `pa-1` on the simulator's port. */
export function gatePaFacilityYaml(f: GatePaFacility, paPort: number): string {
  const rooms = f.rooms.map((r) => `  - { id: ${r.id}, zone: eval, seats: ${r.seats} }`).join('\n');
  const zones = f.zones.map((z) => `        - { zone: ${z.zone}, room: ${z.room}${z.seat !== undefined ? `, seat: ${z.seat}` : ''} }`).join('\n');
  return `
version: 1
site: { id: demo, utcOffset: "+08:00" }
zones: [{ id: eval }]
rooms:
${rooms}
devices:
  - { id: gate-1, kind: gate, transport: { type: mqtt }, zones: [eval] }
  - id: pa-1
    kind: broadcast
    transport: { type: tcp, host: 127.0.0.1, port: ${paPort} }
    zones: [eval]
    options:
      zones:
${zones}
broadcast:
${f.broadcast}
`;
}

export async function startGatePaRig(t: Test, f: GatePaFacility): Promise<GatePaRig> {
  const clock = new ManualClock(T0);
  const sim = await startPaSimulator({ port: 0, zones: f.zones.length, clock, log: silentLogger(), messages: 8 });
  t.teardown(() => sim.stop());
  const th = await startTestHub({ full: true, clock, facility: facility(gatePaFacilityYaml(f, sim.port)) });
  t.teardown(() => th.stop());
  const { hub } = th;
  await waitFor(() => hub.availability.isAvailable('pa-1'), 8000, 'pa-1 available');
  const checkin = (hub.features.find((f) => f.name === 'checkin') as CheckInFeature).checkin();
  const gate = gateSimulator(hub.facility.devices.find((d) => d.id === 'gate-1')!, { url: th.mqttUrl, site: 'demo', token: hub.tokens.issue('gate-1'), clock, log: silentLogger(), reconnectMs: 0 });
  await gate.start();
  t.teardown(() => gate.stop());
  return { clock, sim, th, checkin, gate };
}
