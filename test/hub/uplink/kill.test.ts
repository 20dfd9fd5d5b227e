import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MQTT_ONLY_FACILITY, tempDir, waitFor } from '../../helpers/hub.js';
import { startReceiver, startUpstream } from '../../helpers/mosquitto-upstream.js';
import { startCli, type RunningCli } from '../../fixtures/cli.js';

const PASSWORD = 'uplink-secret-pw-4711';

void t.test('kill -9 of the hub mid-stream: after the restart every seq 1..N arrives, every acknowledged session among them; the password is never logged', async (t) => {
  const upstream = await startUpstream();
  t.teardown(() => upstream.close());
  const rx = await startReceiver(upstream.url);
  t.teardown(() => rx.close());
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const config = join(tmp.dir, 'facility.yaml');
  const dataDir = join(tmp.dir, 'data');
  writeFileSync(config, `${MQTT_ONLY_FACILITY}\nuplink:\n  url: ${upstream.url}\n  username: centre\n  passwordEnv: FH_UPLINK_PASSWORD\n  reconnectMinMs: 50\n  reconnectMaxMs: 400\n`);
  // debug: every log line the uplink writes is looked at for the password.
  const env = { FH_ADMIN_PASSWORD: 'kill-test-admin', FH_UPLINK_PASSWORD: PASSWORD, FH_LOG_LEVEL: 'debug' };
  const args = ['--config', config, '--data-dir', dataDir, '--http-port', '0', '--mqtt-port', '0', '--no-simulators'];
  const logs: string[] = [];
  let hub: RunningCli = await startCli(args, env);
  t.teardown(() => hub.kill());

  const api = async (h: RunningCli, method: string, path: string, body?: unknown, token?: string): Promise<Response> =>
    fetch(`http://127.0.0.1:${h.httpPort}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const login = async (h: RunningCli): Promise<string> => ((await (await api(h, 'POST', '/api/auth/login', { username: 'admin', password: 'kill-test-admin' })).json()) as { token: string }).token;

  const token = await login(hub);
  const acknowledged = new Set<string>();
  let killed = false;
  const day = 86_400_000;
  const base = Date.now() + day;
  // Sessions are created as fast as the API answers; the hub is killed once part went up.
  const creating = (async () => {
    for (let i = 0; !killed && i < 2000; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, j) => {
          const n = i + j;
          const res = await api(hub, 'POST', '/api/sessions', { code: `K-${n}`, name: `k ${n}`, start: base + n * day, end: base + n * day + 3_600_000 }, token).catch(() => null);
          if (res && (res.status === 200 || res.status === 201)) acknowledged.add(((await res.json()) as { id: string }).id);
        }),
      );
    }
  })();
  await waitFor(() => rx.bySeq.size >= 150, 30_000, 'part of the stream upstream');
  killed = true;
  hub.child.kill('SIGKILL');
  await creating;
  logs.push(hub.stdout(), hub.stderr());
  t.ok(acknowledged.size >= 100, `${acknowledged.size} sessions acknowledged before the kill`);

  hub = await startCli(args, env);
  const token2 = await login(hub);
  let status = { backlog: -1, lastSeq: 0, state: '' };
  await waitFor(
    async () => {
      status = (await (await api(hub, 'GET', '/api/uplink', undefined, token2)).json()) as typeof status;
      return status.state === 'connected' && status.backlog === 0 && rx.bySeq.size >= status.lastSeq;
    },
    30_000,
    'the outbox to drain after the restart',
  );
  const seqs = [...rx.bySeq.keys()].sort((a, b) => a - b);
  t.same(seqs, Array.from({ length: status.lastSeq }, (_, i) => i + 1), `the set of seqs is exactly 1..${status.lastSeq}: none lost, none skipped`);
  const upSessions = new Set([...rx.bySeq.values()].filter((m) => m.type === 'session.created').flatMap((m) => m.body.sessionIds as string[]));
  t.same([...acknowledged].filter((id) => !upSessions.has(id)), [], 'every session the API acknowledged went up');
  const created = [...rx.bySeq.values()].filter((m) => m.type === 'session.created').length;
  t.equal(created, upSessions.size, 'each session.created once after dedupe');
  t.comment(`raw ${rx.all.length}, distinct ${rx.bySeq.size}, duplicates ${rx.duplicates()}`);
  await hub.stop();
  logs.push(hub.stdout(), hub.stderr());
  t.notOk(logs.join('\n').includes(PASSWORD), 'the uplink password is in no log line');
  t.match(logs.join('\n'), /"username":"centre"[^\n]*uplink starting|uplink starting[^\n]*"username":"centre"/, 'the uplink did log (its URL and user)');
});
