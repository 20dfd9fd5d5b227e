/**
 * Two hubs on one machine, with the real CLI (a child process): a simulator that cannot
 * bind stops the start, simulator ports move with --sim-port-base, the demo runs on a
 * copied config, and one data dir serves one hub. Timeouts are generous and never asserted: the tests assert
 * that the process ends, and how.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor } from '../helpers/hub.js';
import { HOSTS, holdPort, mqttOnlyConfig } from '../fixtures/cli-hub.js';
import { runCli, startCli, type RunningCli } from '../fixtures/cli.js';
import { DEMO_FACILITY } from '../../config/load.js';

// Each child hub loads TypeScript through tsx and takes tens of seconds on a busy 2-core
// machine: a generous budget for the file, never an assertion on time.
t.setTimeout(400_000);

const ADMIN_PW = 'startup-admin-password';
const ENV = { FH_ADMIN_PASSWORD: ADMIN_PW };
async function api(cli: RunningCli, path: string): Promise<unknown> {
  const base = `http://127.0.0.1:${cli.httpPort}`;
  const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PW }) });
  const { token } = (await login.json()) as { token: string };
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return res.json();
}

void t.test('a simulator that cannot bind stops the start with a clear error', async (t) => {
  const tmp = tempDir('fh-startup-');
  t.teardown(tmp.cleanup);
  const taken = await holdPort(t);
  // With --sim-port-base the first simulated server device (relay-1) gets that port.
  const r = await runCli(['start', '--data-dir', tmp.dir, ...HOSTS, '--sim-port-base', String(taken)], ENV, 90_000);
  t.equal(r.signal, null);
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, new RegExp(`the simulator of relay-1 cannot start on 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE.*another hub`));
  t.notOk(r.stdout.includes('facility-hub ready'), 'the hub never ran against what listens there');
});

void t.test('a copied demo config runs the demo on free simulator ports; one hub per data dir; stale locks are taken over', async (t) => {
  const tmp = tempDir('fh-startup-');
  t.teardown(tmp.cleanup);
  const config = join(tmp.dir, 'my-centre.yaml');
  copyFileSync(DEMO_FACILITY, config);
  const data = join(tmp.dir, 'data');
  const cli = await startCli(['--config', config, '--data-dir', data, ...HOSTS, '--sim-port-base', '0'], ENV, 90_000);
  t.teardown(() => cli.kill());
  t.equal(readFileSync(join(data, 'hub.lock'), 'utf8').trim(), String(cli.child.pid), 'the lock names the hub');
  let devices: { id: string; available: boolean }[] = [];
  await waitFor(
    async () => {
      devices = (await api(cli, '/api/devices')) as typeof devices;
      return devices.every((d) => d.available);
    },
    30_000,
    'every simulated device available',
  ).catch(() => undefined);
  t.same(devices.filter((d) => !d.available).map((d) => d.id), [], 'every device is served by this hub\'s own simulators');
  const sessions = (await api(cli, '/api/sessions')) as { code: string; status: string }[];
  t.ok(sessions.length >= 3, 'the demo seeded sessions from the copied config');

  const second = await runCli(['start', '--data-dir', data, ...HOSTS, '--no-simulators', '--config', mqttOnlyConfig(tmp.dir)], ENV, 90_000);
  t.equal(second.code, 1, 'a second hub on the same data dir is refused');
  t.match(second.stderr, new RegExp(`the data dir .* is in use by another facility-hub \\(pid ${cli.child.pid}`));
  t.same(await cli.stop('SIGTERM'), { code: 0, signal: null }, 'the first hub is unharmed and stops cleanly');
  t.notOk(existsSync(join(data, 'hub.lock')), 'and releases its lock');

  // A hub killed outright leaves its lock; its pid is gone, so the next start takes it over.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  writeFileSync(join(data, 'hub.lock'), `${dead}\n`);
  const next = await startCli(['--config', mqttOnlyConfig(tmp.dir), '--data-dir', data, ...HOSTS, '--no-simulators'], { ...ENV, FH_LOG_LEVEL: 'warn' }, 90_000);
  t.teardown(() => next.kill());
  t.match(next.stdout() + next.stderr(), /took over a stale data dir lock/);
  t.same(await next.stop('SIGTERM'), { code: 0, signal: null });
});
