/**
 * Power tests: a facility whose UPS and relay modules point at real simulators on
 * ephemeral ports, and a hub with the power feature installed (hub-shutdown calls a
 * recorder instead of stopping the hub).
 */
import { ManualClock } from '../../kernel/clock.js';
import { Hub, type HubOptions } from '../../hub/hub.js';
import { silentLogger } from '../../hub/log.js';
import { createPowerFeature, type PowerFeature, type PowerOptions } from '../../hub/power/feature.js';
import type { LineOptions } from '../../hub/lines.js';
import { startUpsSimulator, type UpsSimLayout, type UpsSimulator } from '../../simulators/ups-modbus.js';
import type { Logger } from '../../kernel/log.js';
import { startRelaySimulator, type RelaySimulator } from '../../simulators/relay-modbus.js';
import { ADMIN_PASSWORD, facility, tempDir } from './hub.js';

export interface PowerRig {
  hub: Hub;
  power: PowerFeature;
  clock: ManualClock;
  ups: UpsSimulator;
  loads: RelaySimulator;
  jammers: RelaySimulator;
  shutdowns: string[];
  login(): Promise<string>;
  stop(): Promise<void>;
}

export interface PowerRigOptions {
  /** YAML appended as the facility's `power:` section body (indented two spaces). */
  power?: string;
  /** Extra devices (YAML list items, indented two spaces). */
  devices?: string;
  upsOptions?: string;
  clock?: ManualClock;
  powerOptions?: PowerOptions;
  /** The UPS simulator's register layout (default: the contract's map). */
  upsLayout?: UpsSimLayout;
  /** The hub's logger (default: silent); pass captureLogs().log to read it back. */
  log?: Logger;
  /**
   * Each Modbus line's answer timeout in real milliseconds. The default, 1000, leaves room for
   * a loaded CI machine (an answer there has taken over 200 ms, and a timeout in a test that
   * expects an answer is a false failure); tests that make a device fall silent pass 200 so
   * that its timeouts stay quick.
   */
  modbusTimeoutMs?: number;
}

export function powerFacilityYaml(ports: { ups: number; loads: number; jammers: number }, o: PowerRigOptions = {}): string {
  const timeoutMs = o.modbusTimeoutMs ?? 1000;
  return `
version: 1
site: { id: demo, utcOffset: "+08:00" }
zones: [{ id: eval }]
rooms:
  - { id: room-1, zone: eval, seats: 4 }
  - { id: room-2, zone: eval, seats: 4 }
devices:
  - id: ups-1
    kind: ups
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${ports.ups}, timeoutMs: ${timeoutMs} }
    options: { pollMs: 100, missesBeforeLost: 2${o.upsOptions ? `, ${o.upsOptions}` : ''} }
  - id: relay-1
    kind: relay
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${ports.jammers}, timeoutMs: ${timeoutMs} }
    rooms: [room-1, room-2]
    options:
      coils: 4
      pollMs: 100
      outputs:
        - { coil: 0, id: jammer-room-1, role: jammer, room: room-1 }
        - { coil: 1, id: jammer-room-2, role: jammer, room: room-2 }
  - id: relay-2
    kind: relay
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${ports.loads}, timeoutMs: ${timeoutMs} }
    options:
      coils: 8
      pollMs: 100
      outputs:
        - { coil: 0, id: hall-display, role: sheddable, restoreOrder: 3 }
        - { coil: 1, id: hvac-aux, role: sheddable, restoreOrder: 2 }
        - { coil: 2, id: lobby-lighting, role: sheddable, restoreOrder: 1 }
        - { coil: 3, id: supervision-wall, role: critical }
  - { id: host-1, kind: robot, transport: { type: mqtt } }
  - { id: host-2, kind: door, transport: { type: mqtt } }
${o.devices ?? ''}
power:
${o.power ?? '  mainsStableMs: 10000'}
`;
}

/** Real simulators, a hub on ephemeral ports with the power feature, a manual clock. */
export async function startPowerRig(o: PowerRigOptions = {}): Promise<PowerRig> {
  const clock = o.clock ?? new ManualClock();
  const log = silentLogger();
  const ups = await startUpsSimulator({ port: 0, clock, log, ...(o.upsLayout ? { layout: o.upsLayout } : {}) });
  const loads = await startRelaySimulator({ port: 0, log, initial: [true, true, true, true, false, false, false, false] });
  const jammers = await startRelaySimulator({ port: 0, log, coils: 4 });
  const tmp = tempDir('fh-power-');
  const shutdowns: string[] = [];
  let hub: Hub | null = null;
  let power: PowerFeature;
  try {
    const opts: HubOptions = {
      facility: facility(powerFacilityYaml({ ups: ups.port, loads: loads.port, jammers: jammers.port }, o)),
      dataDir: tmp.dir,
      httpPort: 0,
      mqttPort: 0,
      httpHost: '127.0.0.1',
      mqttHost: '127.0.0.1',
      log: o.log ?? log,
      clock,
      adminPassword: ADMIN_PASSWORD,
      lines: { reconnect: { initialMs: 20, maxMs: 100 } },
    };
    hub = new Hub(opts);
    power = hub.addFeature(createPowerFeature(hub.services(), { onShutdown: (reason) => void shutdowns.push(reason), ...o.powerOptions }));
    await hub.start();
  } catch (err) {
    // A facility the loader refuses fails before the hub exists: the simulators still stop.
    await hub?.stop('failed start');
    await Promise.all([ups.stop(), loads.stop(), jammers.stop()]);
    tmp.cleanup();
    throw err;
  }
  return {
    hub,
    power,
    clock,
    ups,
    loads,
    jammers,
    shutdowns,
    async login() {
      const res = await hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: ADMIN_PASSWORD } });
      return res.json<{ token: string }>().token;
    },
    async stop() {
      await hub.stop('test');
      await Promise.all([ups.stop(), loads.stop(), jammers.stop()]);
      tmp.cleanup();
    },
  };
}

/**
 * Real sockets with a manual clock: advance time in small steps (firing poll timers),
 * letting the sockets answer in between, until the condition holds.
 */
export async function advanceUntil(clock: ManualClock, cond: () => boolean, what: string, stepMs = 100, limitMs = 5000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    clock.advance(stepMs);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A hub with the power feature for any facility text (NUT, GPIO and RTU UPS tests). */
export async function startPowerHub(yaml: string, clock: ManualClock, options: PowerOptions & Pick<LineOptions, 'gpioInput'> & { log?: Logger } = {}): Promise<{ hub: Hub; power: PowerFeature; stop(): Promise<void> }> {
  const { gpioInput, log, ...powerOptions } = options;
  const tmp = tempDir('fh-power-');
  const hub = new Hub({
    facility: facility(yaml),
    dataDir: tmp.dir,
    httpPort: 0,
    mqttPort: 0,
    httpHost: '127.0.0.1',
    mqttHost: '127.0.0.1',
    log: log ?? silentLogger(),
    clock,
    adminPassword: ADMIN_PASSWORD,
    lines: { reconnect: { initialMs: 20, maxMs: 100 }, ...(gpioInput ? { gpioInput } : {}) },
  });
  const power = hub.addFeature(createPowerFeature(hub.services(), { onShutdown: null, ...powerOptions }));
  await hub.start();
  return {
    hub,
    power,
    async stop() {
      await hub.stop('test');
      tmp.cleanup();
    },
  };
}
