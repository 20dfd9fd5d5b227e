import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { systemClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import { Store } from '../../hub/store/store.js';
import { DeviceTokens } from '../../hub/broker/tokens.js';
import { auditCommand } from '../../hub/audit/cli.js';
import { startUpsSimulator } from '../../simulators/ups-modbus.js';
import { startRelaySimulator } from '../../simulators/relay-modbus.js';
import { startPaSimulator } from '../../simulators/pa-controller.js';
import { demoPeople } from '../../simulators/demo-people.js';
import { startCli, type RunningCli } from '../fixtures/cli.js';
import { HOSTS } from '../fixtures/cli-hub.js';
import { tempDir } from '../helpers/hub.js';

/**
 * Crash safety (issue 14, item 2): the hub runs as a child process (the CLI, as in
 * production) on one data dir; the simulators (UPS, jammer and load relay modules over
 * Modbus TCP, the PA controller over TCP) and the load generator live in this process on
 * ports that stay the same across restarts. Each round starts the hub, checks what the
 * previous rounds left, drives a mixed load (check-ins at two gates, QoS 1 door events,
 * supervisor warnings, session creation/rosters/closes that switch jammer zones, mains
 * cuts and restores) and kill -9s the hub at a moment drawn from a seeded PRNG.
 *
 * After every restart: every granted check-in, every PUBACKed event and every answered
 * (2xx) API write is in the store, none twice; `audit verify` passes; the jammer coils
 * and the load coils, read on the simulators, come back to what the hub must want.
 * FH_KILL9_SEED replays a run; FH_KILL9_ROUNDS changes the count (default 20).
 */

const ROUNDS = Number(process.env.FH_KILL9_ROUNDS ?? 20);
const SEED = Number(process.env.FH_KILL9_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ADMIN_PASSWORD = 'kill9-admin-password';
const ROOMS = ['room-1', 'room-2', 'room-3', 'room-4'];
const SHEDDABLE = [0, 1, 2];

t.comment(`kill -9 seed ${SEED} (replay: FH_KILL9_SEED=${SEED})`);
// About 2 minutes on an idle 2-core machine (each start costs the CLI about 3.5 s of CPU,
// tsx compiling the sources); a loaded CI machine can take three times as long.
t.setTimeout(600_000);

/** mulberry32: a small seeded PRNG, so a failure can be replayed with its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const between = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const log = silentLogger();
const ups = await startUpsSimulator({ port: 0, clock: systemClock, log });
const jammers = await startRelaySimulator({ port: 0, log, coils: 4 });
const loads = await startRelaySimulator({ port: 0, log, coils: 4, initial: [true, true, true, true] });
const pa = await startPaSimulator({ port: 0, zones: 4, clock: systemClock, log, messageDurationMs: 40, chimeDurationMs: 20 });
t.teardown(() => Promise.all([ups.stop(), jammers.stop(), loads.stop(), pa.stop()]));
const tmp = tempDir('fh-kill9-');
t.teardown(() => tmp.cleanup());
const dataDir = join(tmp.dir, 'data');

const configFile = join(tmp.dir, 'facility.yaml');
writeFileSync(
  configFile,
  `version: 1
site: { id: demo, utcOffset: "+08:00" }
zones: [{ id: eval }]
rooms:
${ROOMS.map((r) => `  - { id: ${r}, zone: eval, seats: 8 }`).join('\n')}
devices:
  - { id: gate-1, kind: gate, transport: { type: mqtt }, zones: [eval] }
  - { id: gate-2, kind: gate, transport: { type: mqtt }, zones: [eval] }
  - { id: door-1, kind: door, transport: { type: mqtt }, zones: [eval] }
  - id: relay-1
    kind: relay
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${jammers.port}, timeoutMs: 500 }
    rooms: [${ROOMS.join(', ')}]
    options:
      coils: 4
      pollMs: 200
      outputs:
${ROOMS.map((r, i) => `        - { coil: ${i}, id: jammer-${r}, role: jammer, room: ${r} }`).join('\n')}
  - id: relay-2
    kind: relay
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${loads.port}, timeoutMs: 500 }
    options:
      coils: 4
      pollMs: 200
      outputs:
        - { coil: 0, id: hall-display, role: sheddable, restoreOrder: 3 }
        - { coil: 1, id: hvac-aux, role: sheddable, restoreOrder: 2 }
        - { coil: 2, id: lobby-lighting, role: sheddable, restoreOrder: 1 }
        - { coil: 3, id: supervision-wall, role: critical }
  - id: ups-1
    kind: ups
    transport: { type: modbus-tcp, host: 127.0.0.1, port: ${ups.port}, timeoutMs: 500 }
    options: { pollMs: 100, missesBeforeLost: 3 }
  - id: pa-1
    kind: broadcast
    transport: { type: tcp, host: 127.0.0.1, port: ${pa.port} }
    zones: [eval]
    options:
      zones:
${ROOMS.map((r, i) => `        - { zone: ${i + 1}, room: ${r} }`).join('\n')}
power:
  mainsStableMs: 200
  restore: { staggerMs: 20 }
  shutdown: { stopHub: false }
jammers:
  retryMs: 200
  reapplyMs: 1000
broadcast:
  messages:
    - { id: 1, text: 请保持安静，专家之间禁止交谈。 }
  rateLimit: { max: 1000, windowSeconds: 60 }
  warningWaitMs: 0
  controller: { pollSeconds: 0, missesBeforeUnavailable: 3, reconnectMinMs: 50, reconnectMaxMs: 400 }
`,
);

// Device tokens, issued before the first start the way `device token` does it.
const tokens: Record<string, string> = {};
{
  const store = new Store({ dataDir, log });
  const dt = new DeviceTokens(store, systemClock);
  for (const id of ['gate-1', 'gate-2', 'door-1']) tokens[id] = dt.issue(id);
  await store.close();
}

/** What the hub answered and must therefore have kept. */
const granted = new Set<string>(); // check-in request ids answered `grant`
const acked = new Set<string>(); // door event markers PUBACKed
const warned = new Set<string>(); // broadcast entry ids answered 2xx
const created = new Map<string, string>(); // session code → id, answered 2xx
const closed = new Set<string>(); // session ids whose close was answered 2xx
const rostered = new Set<string>(); // session ids whose roster was answered 2xx
let nextPerson = 0;

async function start(): Promise<RunningCli> {
  return startCli(['--config', configFile, '--data-dir', dataDir, ...HOSTS, '--no-simulators'], { FH_ADMIN_PASSWORD: ADMIN_PASSWORD }, 60_000);
}

function openDb(): Database.Database {
  return new Database(join(dataDir, 'hub.sqlite'), { readonly: true, fileMustExist: true });
}

interface SessionRow {
  id: string;
  code: string;
  start: number;
  end: number;
  rooms: string;
  closed_at: number | null;
}

/** The jammer coils the rule wants now (lead and lag 0, no interlock, no override). */
function wantedJammers(db: Database.Database, now: number): boolean[] {
  const rows = db.prepare('SELECT id, code, start, "end", rooms, closed_at FROM sessions').all() as SessionRow[];
  return ROOMS.map((room) =>
    rows.some((s) => {
      const rooms = JSON.parse(s.rooms) as string[];
      const ends = s.closed_at !== null ? Math.min(s.end, s.closed_at) : s.end;
      return rooms.includes(room) && s.start < ends && now >= s.start && now < ends;
    }),
  );
}

async function until(cond: () => boolean, what: () => string, limitMs = 15_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`seed ${SEED}: timed out waiting for ${what()}`);
    await sleep(50);
  }
}

/** Everything the hub answered before the kills is there exactly once, and the log verifies. */
async function checkDurable(t: Test, round: number): Promise<void> {
  const db = openDb();
  try {
    const missingGrants = [...granted].filter((r) => !db.prepare('SELECT 1 FROM checkins WHERE request_id = ?').get(r));
    t.same(missingGrants, [], `round ${round}: all ${granted.size} granted check-ins are stored (seed ${SEED})`);
    const eventCounts = new Map<string, number>();
    for (const row of db.prepare("SELECT json_extract(data, '$.detail') AS d FROM events WHERE type = 'device.event' AND device_id = 'door-1'").all() as { d: string | null }[]) {
      if (row.d) eventCounts.set(row.d, (eventCounts.get(row.d) ?? 0) + 1);
    }
    t.same([...acked].filter((e) => eventCounts.get(e) !== 1), [], `round ${round}: all ${acked.size} acknowledged events stored exactly once (seed ${SEED})`);
    t.same([...eventCounts].filter(([, n]) => n > 1), [], `round ${round}: no event stored twice`);
    const warnCounts = new Map<string, number>();
    for (const row of db.prepare("SELECT json_extract(data, '$.id') AS id FROM events WHERE type = 'broadcast.warning'").all() as { id: string | null }[]) {
      if (row.id) warnCounts.set(row.id, (warnCounts.get(row.id) ?? 0) + 1);
    }
    t.same([...warned].filter((w) => warnCounts.get(w) !== 1), [], `round ${round}: all ${warned.size} answered warnings logged exactly once (seed ${SEED})`);
    const sessions = new Map((db.prepare('SELECT id, code, start, "end", rooms, closed_at FROM sessions').all() as SessionRow[]).map((s) => [s.code, s]));
    t.same([...created].filter(([code, id]) => sessions.get(code)?.id !== id), [], `round ${round}: all ${created.size} created sessions stored (seed ${SEED})`);
    t.same([...closed].filter((id) => ![...sessions.values()].some((s) => s.id === id && s.closed_at !== null)), [], `round ${round}: all ${closed.size} answered closes stored`);
    t.same([...rostered].filter((id) => !db.prepare('SELECT 1 FROM roster WHERE session_id = ? LIMIT 1').get(id)), [], `round ${round}: all ${rostered.size} answered rosters stored`);
  } finally {
    db.close();
  }
}

/** `facility-hub audit verify` (its code, in this process): the hash chain, the Merkle tree, the checkpoints. */
async function checkAudit(t: Test, what: string): Promise<void> {
  const out: string[] = [];
  const code = await auditCommand('verify', ['--data-dir', dataDir], { out: (s) => out.push(s), err: (s) => out.push(s) });
  t.equal(code, 0, `${what}: audit verify passes${code === 0 ? '' : `: ${out.join('\n')}`} (seed ${SEED})`);
}

/** The coils, read on the simulators, come back to what the hub must want after a restart. */
async function checkOutputs(t: Test, round: number, mains: boolean): Promise<void> {
  const db = openDb();
  let wanted: boolean[];
  try {
    wanted = wantedJammers(db, Date.now());
  } finally {
    db.close();
  }
  await until(
    () => JSON.stringify(jammers.coils()) === JSON.stringify(wanted),
    () => `jammer coils ${JSON.stringify(jammers.coils())} to become ${JSON.stringify(wanted)} (round ${round})`,
  );
  t.pass(`round ${round}: jammer coils as the sessions want them ${JSON.stringify(wanted)}`);
  // Mains present: every sheddable load the hub shed is restored; mains cut: they are shed.
  await until(
    () => SHEDDABLE.every((c) => loads.coils()[c] === mains) && loads.coils()[3] === true,
    () => `load coils ${JSON.stringify(loads.coils())} with mains ${mains ? 'on' : 'off'} (round ${round})`,
  );
  t.pass(`round ${round}: load coils ${mains ? 'restored' : 'shed'} with mains ${mains ? 'on' : 'off'}`);
}

interface Load {
  stop(): Promise<void>;
}

/** The mixed load against one running hub; every loop stops quietly when the hub is gone. */
async function load(hub: RunningCli, round: number): Promise<Load> {
  const base = `http://127.0.0.1:${hub.httpPort}`;
  let running = true;
  const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${await login.text()}`);
  const token = ((await login.json()) as { token: string }).token;
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> | null }> => {
    const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
  const url = `mqtt://127.0.0.1:${hub.mqttPort}`;
  const clients: MqttClient[] = [];
  const device = async (id: string): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(url, { username: id, password: tokens[id]!, clientId: `k9-${id}-${round}`, reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5000 });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  const loops: Promise<unknown>[] = [];
  const loop = (fn: () => Promise<void>, pauseMs: () => number): void => {
    loops.push(
      (async () => {
        while (running) {
          try {
            await fn();
          } catch {
            // The hub was killed under this request: what it did not answer, it does not owe.
          }
          await sleep(pauseMs());
        }
      })(),
    );
  };

  // Sessions: close one that runs (its jammer zone goes off), then start a new one in free
  // rooms (its zones go on) with a roster the gates check in from.
  const openSessions = async (): Promise<{ id: string; rooms: string[] }[]> => {
    const r = await api('GET', '/api/sessions');
    const list = (r.json as unknown as { id: string; rooms: string[]; status: string }[] | null) ?? [];
    return list.filter((s) => s.status !== 'closed');
  };
  const people: { name: string; idNumber: string }[] = [];
  const sessionWork = async (): Promise<void> => {
    const open = await openSessions();
    const busy = new Set(open.flatMap((s) => s.rooms));
    const free = ROOMS.filter((r) => !busy.has(r));
    if (open.length > 0 && (free.length < 2 || rand() < 0.4)) {
      const victim = open[Math.floor(rand() * open.length)]!;
      const r = await api('POST', `/api/sessions/${victim.id}/close`);
      if (r.status >= 200 && r.status < 300) closed.add(victim.id);
      return;
    }
    // The seating rule puts one expert of a session per room: two rooms, two experts.
    const rooms = free.sort(() => rand() - 0.5).slice(0, 2);
    const code = `K9-${SEED}-${round}-${created.size}`;
    const now = Date.now();
    const r = await api('POST', '/api/sessions', { code, name: `crash ${code}`, start: new Date(now - 60_000).toISOString(), end: new Date(now + 3600_000).toISOString(), rooms, checkInOpensMinutes: 60 });
    if (r.status !== 200 && r.status !== 201) return;
    const id = (r.json as { id: string }).id;
    created.set(code, id);
    const roster = demoPeople(nextPerson, rooms.length);
    nextPerson += rooms.length;
    const rr = await api('POST', `/api/sessions/${id}/roster`, roster);
    if (rr.status >= 200 && rr.status < 300) {
      rostered.add(id);
      people.push(...roster);
    }
  };
  await sessionWork(); // at least one session a round, so the gates have someone to admit
  loop(sessionWork, () => between(150, 400));

  // Gates: each person presents once; a grant must survive the kill.
  for (const gateId of ['gate-1', 'gate-2']) {
    const gate = await device(gateId);
    await gate.subscribeAsync(`fh/demo/${gateId}/verify/result`, { qos: 1 });
    const waiting = new Map<string, (d: string) => void>();
    gate.on('message', (_topic, payload) => {
      const m = JSON.parse(payload.toString('utf8')) as { requestId: string; decision: string };
      waiting.get(m.requestId)?.(m.decision);
      waiting.delete(m.requestId);
    });
    let n = 0;
    loop(async () => {
      const person = people.shift();
      if (!person) return;
      const requestId = `k9-${round}-${gateId}-${n++}`;
      let timer: NodeJS.Timeout | undefined;
      const decision = new Promise<string>((resolve, reject) => {
        waiting.set(requestId, resolve);
        timer = setTimeout(() => reject(new Error('no answer')), 3000);
      });
      // A publish that fails (the hub is gone) leaves this promise unawaited: not an unhandled rejection.
      decision.catch(() => undefined).finally(() => clearTimeout(timer));
      await gate.publishAsync(`fh/demo/${gateId}/verify`, JSON.stringify({ requestId, idNumber: person.idNumber, name: person.name, faceScore: 0.95, liveness: true, ts: Date.now() }), { qos: 1 });
      if ((await decision) === 'grant') granted.add(requestId);
    }, () => between(5, 40));
  }

  // Device events at QoS 1: the PUBACK is the hub's promise.
  const door = await device('door-1');
  await door.publishAsync('fh/demo/door-1/status', JSON.stringify({ online: true }), { qos: 1, retain: true });
  let e = 0;
  loop(async () => {
    const marker = `k9-${SEED}-${round}-${e++}`;
    await door.publishAsync('fh/demo/door-1/event', JSON.stringify({ type: 'opened', by: 'card', detail: marker }), { qos: 1 });
    acked.add(marker);
  }, () => between(0, 10));

  // Supervisor warnings (admin may warn): answered 2xx only once played and logged.
  loop(async () => {
    const open = await openSessions();
    const room = open[0]?.rooms[0] ?? ROOMS[0]!;
    const r = await api('POST', '/api/broadcast/warnings', { room, messageId: 1, reason: `kill9 round ${round}` });
    if (r.status >= 200 && r.status < 300 && typeof r.json?.id === 'string') warned.add(r.json.id);
  }, () => between(50, 200));

  // Mains cut and restored at random: shedding and restoring run under the kills.
  loop(async () => ups.setMains(!ups.state().mains), () => between(150, 600));

  return {
    async stop() {
      running = false;
      for (const c of clients) c.end(true);
      await Promise.allSettled(loops);
    },
  };
}

void t.test(`kill -9 at random moments, ${ROUNDS} rounds`, async (t) => {
  let mains = true;
  ups.setMains(true);
  for (let round = 1; round <= ROUNDS + 1; round++) {
    const t0 = Date.now();
    const hub = await start();
    t.teardown(() => hub.kill());
    const t1 = Date.now();
    try {
      // Beside the running hub, as an auditor would run it.
      if (round > 1) await checkAudit(t, `round ${round - 1}, restarted`);
      if (round > 1) await checkDurable(t, round - 1);
      await checkOutputs(t, round - 1, mains);
      t.comment(`round ${round}: started in ${t1 - t0} ms, checked in ${Date.now() - t1} ms`);
    } catch (err) {
      t.comment(`the hub's log (warnings and errors) before the failure:\n${hub.stdout().slice(-4000)}`);
      hub.kill();
      throw err;
    }
    if (round > ROUNDS) {
      const stopped = await hub.stop('SIGTERM');
      t.equal(stopped.code, 0, 'the last hub stops cleanly');
      break;
    }
    const killAt = between(150, 1500);
    t.comment(`round ${round}: kill -9 after ${killAt} ms of load`);
    const l = await load(hub, round);
    await sleep(killAt);
    const ended = await hub.stop('SIGKILL');
    t.equal(ended.signal, 'SIGKILL', `round ${round}: killed`);
    await l.stop();
    // What the kill left on disk, before anything recovers it.
    await checkAudit(t, `round ${round}, killed`);
    // The next start sees the mains as they are then: restored in most rounds, left cut in some.
    mains = rand() < 0.7;
    ups.setMains(mains);
  }
  t.comment(`${granted.size} grants, ${acked.size} events, ${warned.size} warnings, ${created.size} sessions, ${closed.size} closes survived ${ROUNDS} kills`);
  t.ok(granted.size > 0 && acked.size > 0 && warned.size > 0 && closed.size > 0, 'every kind of write was answered at least once');
});
