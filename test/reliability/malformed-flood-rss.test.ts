import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import { Store } from '../../hub/store/store.js';
import { DeviceTokens } from '../../hub/broker/tokens.js';
import { startCli } from '../fixtures/cli.js';
import { HOSTS, mqttOnlyConfig } from '../fixtures/cli-hub.js';
import { RawSession, connectPacket, publishPacket } from '../fixtures/mqtt-raw.js';
import { metricValue } from '../fixtures/mqtt.js';
import { flood, floodGenerator } from '../fixtures/flood.js';
import { tempDir } from '../helpers/hub.js';

/**
 * Issue 14 item 4, measured where it matters: the hub as production runs it (the CLI in a
 * child process), its RSS read from /proc/PID/status, not the test process's. 100,000
 * malformed packets (FH_FLOOD_PACKETS shrinks it for local runs) at its broker port; it
 * must survive, keep serving, and within 60 s of the load be back within 10 % of its RSS
 * before it.
 */

const PACKETS = Number(process.env.FH_FLOOD_PACKETS ?? 100_000);
const TOLERANCE = 0.1; // the issue's "within 10 %"
const SETTLE_AFTER_MS = 60_000; // the issue's "60 s after the load"
const POLL_MS = 2_000;
// The flood itself is about 1 ms of CPU per connection on each side; on a shared machine
// the wall time varies far more than that.
t.setTimeout(900_000);

const tmp = tempDir('fh-flood-rss-');
t.teardown(() => tmp.cleanup());
// The data dir is the hub's own (it refuses files others can read); the config sits beside it.
const dataDir = join(tmp.dir, 'data');
const configFile = mqttOnlyConfig(tmp.dir);

// A real device's token, issued before the start the way `device token` does it.
let token: string;
{
  const store = new Store({ dataDir, log: silentLogger() });
  token = new DeviceTokens(store, systemClock).issue('gate-1');
  await store.close();
}

/** VmRSS of a process, in bytes (the kernel's own figure, not the process's opinion). */
function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}
const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

const hub = await startCli(['--config', configFile, '--data-dir', dataDir, ...HOSTS, '--no-simulators'], { FH_ADMIN_PASSWORD: 'flood-rss-admin-1' }, 120_000);
t.teardown(() => hub.kill());
const pid = hub.child.pid!;

void t.test(`${PACKETS} malformed packets: the hub's RSS 60 s after is within 10 % of before`, async (t) => {
  // Settle: start-up compiles the sources and warms SQLite; wait until two readings a poll
  // apart differ by less than 2 % (at most 30 s), then take the baseline.
  let prev = rssOf(pid);
  for (let waited = 0; waited < 30_000; waited += POLL_MS) {
    await sleep(POLL_MS);
    const now = rssOf(pid);
    const stable = Math.abs(now - prev) / prev < 0.02;
    prev = now;
    if (stable) break;
  }
  const before = prev;

  const malformed = floodGenerator({ seed: 14, deviceId: 'gate-1', token });
  const sent = await flood(hub.mqttPort, malformed, PACKETS);
  t.equal(sent, PACKETS, 'every packet sent');
  const peak = rssOf(pid);

  // Survived and still serving: HTTP over a real socket, a real device connects and publishes.
  const health = await fetch(`http://127.0.0.1:${hub.httpPort}/healthz`);
  t.equal(health.status, 200, '/healthz still 200');
  const s = await RawSession.open(hub.mqttPort);
  s.send(connectPacket({ clientId: 'after-flood', username: 'gate-1', password: token }));
  t.equal((await s.next(2))?.body[1], 0, 'a device still connects (CONNACK 0)');
  s.send(publishPacket('fh/demo/gate-1/state', '{"mode":"normal"}', { qos: 1, id: 1 }));
  t.equal((await s.next(4))?.type, 4, 'and its QoS 1 publish is acknowledged (PUBACK)');
  s.end();
  const metrics = await (await fetch(`http://127.0.0.1:${hub.httpPort}/metrics`)).text();
  t.comment(`${metricValue(metrics, 'fh_mqtt_refused_total', { what: 'protocol' })} connections refused by the pre-parser`);

  // Up to 60 s after the load, polling: stop early once within the tolerance.
  let after = rssOf(pid);
  let waited = 0;
  while (after > before * (1 + TOLERANCE) && waited < SETTLE_AFTER_MS) {
    await sleep(POLL_MS);
    waited += POLL_MS;
    after = rssOf(pid);
  }
  t.comment(`hub pid ${pid} VmRSS ${mib(before)} MiB before, ${mib(peak)} MiB right after ${PACKETS} packets, ${mib(after)} MiB ${waited / 1000} s later`);
  t.ok(after <= before * (1 + TOLERANCE), `RSS ${mib(after)} MiB within 10 % of ${mib(before)} MiB (≤ ${mib(before * (1 + TOLERANCE))} MiB)`);
  t.equal(hub.child.exitCode, null, 'the hub process is still running');
});

void t.test('SIGTERM still stops the hub cleanly', async (t) => {
  const end = await hub.stop('SIGTERM');
  t.equal(end.code, 0, 'exit code 0');
});
