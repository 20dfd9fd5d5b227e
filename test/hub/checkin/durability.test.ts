import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { tempDir } from '../../helpers/hub.js';
import { runCli, startCli } from '../../fixtures/cli.js';
import { demoPeople } from '../../../simulators/demo-people.js';

const ROOMS = 10;
const SESSIONS = 8;
const GATES = 4;

function facilityYaml(): string {
  const rooms = Array.from({ length: ROOMS }, (_, i) => `  - { id: room-${i + 1}, zone: eval, seats: ${SESSIONS} }`).join('\n');
  const gates = Array.from({ length: GATES }, (_, i) => `  - { id: gate-${i + 1}, kind: gate, transport: { type: mqtt }, zones: [eval] }`).join('\n');
  return `version: 1\nsite: { id: demo }\nzones: [{ id: eval }]\nrooms:\n${rooms}\ndevices:\n${gates}\n`;
}

void t.test('every granted check-in survives kill -9 during a burst', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const config = join(tmp.dir, 'facility.yaml');
  const dataDir = join(tmp.dir, 'data');
  writeFileSync(config, facilityYaml());
  const env = { FH_ADMIN_PASSWORD: 'durability-pass' };
  const tokens: string[] = [];
  for (let i = 0; i < GATES; i++) tokens.push((await runCli(['device', 'token', `gate-${i + 1}`, '--config', config, '--data-dir', dataDir])).stdout.trim());
  t.ok(tokens.every((x) => x.startsWith('fhd_')), 'tokens issued');

  const hub = await startCli(['--config', config, '--data-dir', dataDir, '--http-port', '0', '--mqtt-port', '0', '--no-simulators'], env);
  const base = `http://127.0.0.1:${hub.httpPort}`;
  const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'durability-pass' }) });
  const { token } = (await login.json()) as { token: string };
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const now = Date.now();
  const people = demoPeople(0, ROOMS * SESSIONS);
  const sessionIds: string[] = [];
  for (let s = 0; s < SESSIONS; s++) {
    const res = await fetch(`${base}/api/sessions`, { method: 'POST', headers: auth, body: JSON.stringify({ code: `K9-${s}`, name: `kill ${s}`, start: now + 10 * 60_000, end: now + 120 * 60_000 }) });
    const { id } = (await res.json()) as { id: string };
    sessionIds.push(id);
    const roster = await fetch(`${base}/api/sessions/${id}/roster`, { method: 'POST', headers: auth, body: JSON.stringify(people.slice(s * ROOMS, (s + 1) * ROOMS)) });
    t.equal(roster.status, 200, `roster of session ${s} accepted`);
  }

  // Gates fire verifies as fast as they can; the hub is killed after some grants arrived.
  const granted = new Set<string>();
  const clients = await Promise.all(
    tokens.map((tok, i) => mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`, { username: `gate-${i + 1}`, password: tok, clientId: `k9-${i}`, reconnectPeriod: 0 })),
  );
  let killed = false;
  const killAt = 30;
  const enough = new Promise<void>((resolve) => {
    clients.forEach((c, i) => {
      c.on('message', (_topic, payload) => {
        const r = JSON.parse(payload.toString()) as { requestId: string; decision: string };
        if (r.decision === 'grant') granted.add(r.requestId);
        if (!killed && granted.size >= killAt) {
          killed = true;
          hub.child.kill('SIGKILL');
          resolve();
        }
      });
      void c.subscribeAsync(`fh/demo/gate-${i + 1}/verify/result`, { qos: 1 });
    });
  });
  await new Promise((r) => setTimeout(r, 200));
  people.forEach((p, n) => {
    const c = clients[n % GATES]!;
    c.publish(`fh/demo/gate-${(n % GATES) + 1}/verify`, JSON.stringify({ requestId: `k9-${n}`, idNumber: p.idNumber, name: p.name, faceScore: 0.95, liveness: true }), { qos: 1 }, () => undefined);
  });
  await enough;
  await hub.stop('SIGKILL');
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  t.ok(granted.size >= killAt, `${granted.size} grants were answered before the kill`);

  const again = await startCli(['--config', config, '--data-dir', dataDir, '--http-port', '0', '--mqtt-port', '0', '--no-simulators'], env);
  t.teardown(async () => {
    await again.stop('SIGTERM');
  });
  const base2 = `http://127.0.0.1:${again.httpPort}`;
  const login2 = await fetch(`${base2}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'durability-pass' }) });
  const token2 = ((await login2.json()) as { token: string }).token;
  const stored = new Set<string>();
  for (const id of sessionIds) {
    const res = await fetch(`${base2}/api/sessions/${id}/checkins`, { headers: { authorization: `Bearer ${token2}` } });
    for (const c of (await res.json()) as { requestId: string }[]) stored.add(c.requestId);
  }
  const lost = [...granted].filter((r) => !stored.has(r));
  t.same(lost, [], 'no granted requestId was lost');
  const audit = await runCli(['audit', 'verify', '--data-dir', dataDir]);
  t.equal(audit.code, 0, `the log chain is intact after kill -9: ${audit.stdout}${audit.stderr}`);
});
