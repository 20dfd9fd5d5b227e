/**
 * Start-up and process life of the real CLI (a child process): a failed start exits, and
 * SIGTERM ends the process in any state (two hubs on one machine: two-hubs.test.ts). Timeouts are generous and never asserted: the tests assert
 * that the process ends, and how.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor } from '../helpers/hub.js';
import { HOSTS, holdPort, mqttOnlyConfig } from '../fixtures/cli-hub.js';
import { cleanSpawn, runCli } from '../fixtures/cli.js';

// Each child hub loads TypeScript through tsx and takes tens of seconds on a busy 2-core
// machine: a generous budget for the file, never an assertion on time.
t.setTimeout(400_000);

const ADMIN_PW = 'startup-admin-password';
const ENV = { FH_ADMIN_PASSWORD: ADMIN_PW };
void t.test('a start whose MQTT port is taken exits non-zero, naming the port', async (t) => {
  const tmp = tempDir('fh-startup-');
  t.teardown(tmp.cleanup);
  const taken = await holdPort(t);
  const r = await runCli(['start', '--data-dir', join(tmp.dir, 'data'), '--http-host', '127.0.0.1', '--mqtt-host', '127.0.0.1', '--http-port', '0', '--mqtt-port', String(taken), '--no-simulators', '--config', mqttOnlyConfig(tmp.dir)], ENV, 90_000);
  t.equal(r.signal, null, 'not killed: it ended by itself');
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stderr, new RegExp(`start failed: 127\\.0\\.0\\.1:${taken} is already in use \\(EADDRINUSE\\)`));
  t.notOk(r.stdout.includes('facility-hub ready'), 'never claimed ready');
  t.notOk(existsSync(join(tmp.dir, 'data', 'hub.lock')), 'the data dir lock is released');
});

void t.test('SIGTERM during start-up ends the process', async (t) => {
  const tmp = tempDir('fh-startup-');
  t.teardown(tmp.cleanup);
  const child = cleanSpawn(['start', '--data-dir', join(tmp.dir, 'data'), ...HOSTS, '--no-simulators', '--config', mqttOnlyConfig(tmp.dir)], { ...ENV, FH_LOG_LEVEL: 'debug' });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  // The first start-up step the hub logs: it is starting, not ready yet.
  await waitFor(() => out.includes('"step":"store"'), 90_000, 'the hub starting');
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const r = await ended;
  clearTimeout(killer);
  t.equal(r.signal, null, 'it ended by itself, not by SIGKILL');
  t.equal(r.code, 0, r.code === 0 ? 'a stop asked for is a clean exit' : `not a clean exit:\n${out}`);
  t.notOk(existsSync(join(tmp.dir, 'data', 'hub.lock')), 'the data dir lock is released');
});

