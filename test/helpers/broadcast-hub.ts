/**
 * A hub with the broadcast feature over a real PA simulator: over TCP, or over a socat pty pair
 * driven by the real serialport binding. Time is a ManualClock shared by hub and simulator, so
 * message lengths, timeouts and call durations move only when a test says so.
 */
import type { Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { Hub } from '../../hub/hub.js';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import type { Logger } from '../../kernel/log.js';
import type { Role } from '../../hub/users.js';
import type { Session } from '../../hub/sessions/sessions.js';
import { createBroadcastFeature, type BroadcastFeature } from '../../hub/broadcast/feature.js';
import type { BroadcastDevice } from '../../devices/broadcast.js';
import { findSocat, startPaSimulator, type PaSimulator } from '../../simulators/pa-controller.js';
import { ADMIN_PASSWORD, facility, tempDir } from './hub.js';
import { waitFor } from './wait.js';

export type BroadcastTransport = 'tcp' | 'pty';

/** Message length in the simulator: every PLAY/TTS pass lasts this long (clock time). */
export const MESSAGE_MS = 10_000;
export const TIMEOUT_MS = 500;

export const USERS: { username: string; role: Role; displayName: string }[] = [
  { username: 'sup1', role: 'supervisor', displayName: '监督员一' },
  { username: 'sup2', role: 'supervisor', displayName: '监督员二' },
  { username: 'op1', role: 'operator', displayName: '运维员' },
  { username: 'view1', role: 'viewer', displayName: '观察员' },
];
export const USER_PASSWORD = 'broadcast-test-pw';

export interface BroadcastFacilityOptions {
  /** YAML lines placed under `broadcast:` (indented by the caller with 2 spaces). */
  broadcast?: string;
  /** The hub's logger (default: silent); pass captureLogs().log to read it back. */
  log?: Logger;
}

export function broadcastFacilityYaml(transport: string, opts: BroadcastFacilityOptions = {}): string {
  return `
version: 1
site: { id: demo, utcOffset: "+08:00" }
zones: [{ id: eval }]
rooms:
  - { id: room-1, zone: eval, seats: 4 }
  - { id: room-2, zone: eval, seats: 4 }
  - { id: room-3, zone: eval, seats: 4 }
  - { id: room-4, zone: eval, seats: 4 }
devices:
  - id: pa-1
    kind: broadcast
    transport: ${transport}
    zones: [eval]
    options:
      timeoutMs: ${TIMEOUT_MS}
      zones:
        - { zone: 1, room: room-1 }
        - { zone: 2, room: room-2 }
        - { zone: 3, room: room-3 }
        - { zone: 4, room: room-1, seat: 2 }
broadcast:
  messages:
    - { id: 1, text: 请保持安静，专家之间禁止交谈。 }
    - { id: 2, text: 请将手机等通讯工具关闭，交由工作人员统一保管。 }
    - { id: 11, text: 距离评标结束还有三十分钟，请合理安排时间。 }
    - { id: 20, text: 火警！请全体人员保持冷静，按疏散指示有序撤离。 }
    - { id: 99, text: 控制器没有录制这一条。 }
  controller: { pollSeconds: 0, missesBeforeUnavailable: 2, reconnectMinMs: 50, reconnectMaxMs: 400 }
${opts.broadcast ?? '  rateLimit: { max: 3, windowSeconds: 60 }\n  warningWaitMs: 0\n  emergency: { fireAlarmMessageId: 20, repeat: 2 }'}
`;
}

export interface BroadcastHub {
  hub: Hub;
  clock: ManualClock;
  sim: PaSimulator;
  feature: BroadcastFeature;
  device: BroadcastDevice;
  /** Bearer token per username (admin included). */
  tokens: Record<string, string>;
  /** POST/GET through inject with a user's token. */
  call(method: 'GET' | 'POST', url: string, user?: string, payload?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Moves the shared clock and lets the sockets deliver what it caused. */
  advance(ms: number): Promise<void>;
  session(code: string, rooms: string[], startInMs?: number, lengthMs?: number): Promise<Session>;
}

export async function startBroadcastHub(t: Test, transport: BroadcastTransport, opts: BroadcastFacilityOptions & { messages?: number } = {}): Promise<BroadcastHub> {
  if (transport === 'pty' && findSocat() === null) throw new Error('socat is required for the pty tests (apt-get install socat)');
  const clock = new ManualClock();
  const log = silentLogger();
  const sim = await startPaSimulator({ port: 0, zones: 4, pty: transport === 'pty', clock, log, messageDurationMs: MESSAGE_MS, chimeDurationMs: 1000, messages: opts.messages ?? 64 });
  t.teardown(() => sim.stop());
  const tr = transport === 'tcp' ? `{ type: tcp, host: 127.0.0.1, port: ${sim.port} }` : `{ type: serial, path: "${sim.ptyPath ?? ''}", baudRate: 19200 }`;
  const tmp = tempDir('fh-bc-');
  const hub = new Hub({ facility: facility(broadcastFacilityYaml(tr, opts)), dataDir: tmp.dir, httpPort: 0, mqttPort: 0, httpHost: '127.0.0.1', mqttHost: '127.0.0.1', log: opts.log ?? log, clock, adminPassword: ADMIN_PASSWORD });
  const feature = hub.addFeature(createBroadcastFeature(hub.services()));
  t.teardown(async () => {
    await hub.stop('test');
    tmp.cleanup();
  });
  await hub.start();
  for (const u of USERS) await hub.users.create(u.username, u.role, USER_PASSWORD, u.displayName);
  const tokens: Record<string, string> = {};
  const logins: [string, string][] = [['admin', ADMIN_PASSWORD], ...USERS.map((u): [string, string] => [u.username, USER_PASSWORD])];
  for (const [username, password] of logins) {
    const res = await hub.api().inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
    tokens[username] = res.json<{ token: string }>().token;
  }
  await waitFor(() => hub.availability.isAvailable('pa-1'), 8000, 'pa-1 available');
  const device = feature.devices()[0];
  if (!device) throw new Error('no broadcast device');
  return {
    hub,
    clock,
    sim,
    feature,
    device,
    tokens,
    async call(method, url, user = 'sup1', payload) {
      const token = tokens[user];
      const res = await hub.api().inject({ method, url, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}), ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}) });
      return { status: res.statusCode, body: res.json() };
    },
    async advance(ms) {
      clock.advance(ms);
      // Let the events the simulator sends because of it (DONE, PREEMPTED) reach the hub.
      await sleep(transport === 'pty' ? 60 : 25);
    },
    async session(code, rooms, startInMs = -60_000, lengthMs = 3 * 3600_000) {
      const start = clock.now() + startInMs;
      const { session } = await hub.sessions.create({ code, name: `项目 ${code}`, start, end: start + lengthMs, rooms, checkInOpensMinutes: 60 }, 'user:admin');
      return session;
    },
  };
}
