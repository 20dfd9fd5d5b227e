/**
 * The console's rig, for its browser tests and `npm run screenshots`: the full hub on the
 * system clock (the page's live feed and the UPS poll run in real time), with Chinese room
 * and device names, a real MQTT gate, the PA controller simulator over TCP, a UPS and the
 * jammer and load relay modules as Modbus TCP simulators, every listener on a free port.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { systemClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import { createHub } from '../../hub/compose.js';
import type { Hub } from '../../hub/hub.js';
import type { CheckIn } from '../../hub/checkin/checkin.js';
import type { CheckInFeature } from '../../hub/checkin/feature.js';
import type { HealthFeature } from '../../hub/health/feature.js';
import { startPaSimulator, type PaSimulator } from '../../simulators/pa-controller.js';
import { startUpsSimulator, type UpsSimulator } from '../../simulators/ups-modbus.js';
import { startRelaySimulator } from '../../simulators/relay-modbus.js';
import { gateSimulator, type GateSimulator } from '../../simulators/gate.js';
import { firePanelSimulator, type FirePanelSimulator } from '../../simulators/kinds.js';
import { ADMIN_PASSWORD, facility, tempDir, waitFor } from './hub.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The flags of /work/shared/facts.md for headless Chromium as root.
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export interface ConsoleRig {
  hub: Hub;
  base: string;
  pa: PaSimulator;
  ups: UpsSimulator;
  gate: GateSimulator;
  /** The fire panel over MQTT: `alarm()` / `clear()`. */
  fire: FirePanelSimulator;
  checkin: CheckIn;
  health: HealthFeature;
  stop(): Promise<void>;
}

function yaml(p: { pa: number; ups: number; jammers: number; loads: number }): string {
  return `
version: 1
site: { id: demo, name: 演示县公共资源交易中心, utcOffset: "+08:00" }
zones: [{ id: eval, name: 评标区 }]
rooms:
  - { id: room-1, name: 第一评标室, zone: eval, seats: 6 }
  - { id: room-2, name: 第二评标室, zone: eval, seats: 6 }
  - { id: room-3, name: 第三评标室, zone: eval, seats: 6 }
devices:
  - { id: gate-1, kind: gate, name: 评标区入口闸机一, transport: { type: mqtt }, zones: [eval] }
  - { id: door-1, kind: door, name: 评标区门禁, transport: { type: mqtt }, zones: [eval] }
  - { id: fire-1, kind: fire-panel, name: 消防报警主机, transport: { type: mqtt }, zones: [eval] }
  - id: pa-1
    kind: broadcast
    name: 广播主机
    transport: { type: tcp, host: 127.0.0.1, port: ${p.pa} }
    zones: [eval]
    options:
      zones:
        - { zone: 1, room: room-1 }
        - { zone: 2, room: room-2 }
        - { zone: 3, room: room-3 }
  - id: ups-1
    kind: ups
    name: 机房UPS
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${p.ups}, timeoutMs: 500 }
    options: { pollMs: 500 }
  - id: relay-1
    kind: relay
    name: 定向屏蔽器继电器模块
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${p.jammers}, timeoutMs: 500 }
    rooms: [room-1, room-2, room-3]
    options:
      coils: 4
      pollMs: 500
      outputs:
        - { coil: 0, id: jammer-room-1, name: 第一评标室屏蔽器, role: jammer, room: room-1 }
        - { coil: 1, id: jammer-room-2, name: 第二评标室屏蔽器, role: jammer, room: room-2 }
        - { coil: 2, id: jammer-room-3, name: 第三评标室屏蔽器, role: jammer, room: room-3 }
  - id: relay-2
    kind: relay
    name: 可卸载负荷继电器模块
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${p.loads}, timeoutMs: 500 }
    options:
      coils: 4
      pollMs: 500
      outputs:
        - { coil: 0, id: hall-display, name: 服务大厅公示大屏, role: sheddable, restoreOrder: 2 }
        - { coil: 1, id: lobby-lighting, name: 大堂照明, role: sheddable, restoreOrder: 1 }
        - { coil: 2, id: evaluation-terminals, name: 评标终端, role: critical }
broadcast:
  messages:
    - { id: 1, text: 请保持安静，专家之间禁止交谈。 }
    - { id: 2, text: 请勿使用手机等通讯工具。 }
  warningWaitMs: 0
`;
}

export async function startConsoleRig(): Promise<ConsoleRig> {
  const log = silentLogger();
  const clock = systemClock;
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const pa = await startPaSimulator({ port: 0, zones: 3, clock, log, messages: 8 });
    stops.push(() => pa.stop());
    const ups = await startUpsSimulator({ port: 0, clock, log });
    stops.push(() => ups.stop());
    const jammers = await startRelaySimulator({ port: 0, log, coils: 4, initial: [true, true, false, false] });
    stops.push(() => jammers.stop());
    const loads = await startRelaySimulator({ port: 0, log, coils: 4, initial: [true, true, true, false] });
    stops.push(() => loads.stop());
    const tmp = tempDir('fh-console-');
    stops.push(async () => tmp.cleanup());
    const hub = createHub({
      facility: facility(yaml({ pa: pa.port, ups: ups.port, jammers: jammers.port, loads: loads.port })),
      dataDir: tmp.dir,
      httpPort: 0,
      mqttPort: 0,
      httpHost: '127.0.0.1',
      mqttHost: '127.0.0.1',
      log,
      clock,
      adminPassword: ADMIN_PASSWORD,
      lines: { reconnect: { initialMs: 50, maxMs: 500 } },
    });
    await hub.start();
    stops.push(() => hub.stop('test'));
    await waitFor(() => hub.availability.isAvailable('pa-1') && hub.availability.isAvailable('ups-1') && hub.availability.isAvailable('relay-1'), 10_000, 'PA, UPS and jammer relay available');
    const checkin = (hub.features.find((f) => f.name === 'checkin') as CheckInFeature).checkin();
    const health = hub.features.find((f) => f.name === 'health') as HealthFeature;
    const gate = gateSimulator(hub.facility.devices.find((d) => d.id === 'gate-1')!, {
      url: `mqtt://127.0.0.1:${hub.mqttPort}`,
      site: 'demo',
      token: hub.tokens.issue('gate-1'),
      clock,
      log,
      reconnectMs: 0,
    });
    await gate.start();
    stops.push(() => gate.stop());
    const fire = firePanelSimulator(hub.facility.devices.find((d) => d.id === 'fire-1')!, {
      url: `mqtt://127.0.0.1:${hub.mqttPort}`,
      site: 'demo',
      token: hub.tokens.issue('fire-1'),
      clock,
      log,
      reconnectMs: 0,
    });
    await fire.start();
    stops.push(() => fire.stop());
    return { hub, base: `http://127.0.0.1:${hub.httpPort}`, pa, ups, gate, fire, checkin, health, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
